// SPDX-License-Identifier: Apache-2.0
// GET /metrics: the Prometheus text exposition rendered from the API's JSON documents. Known
// answers (units converted, nulls left out, labels split and escaped), the format's own rules
// checked line by line (each family's HELP and TYPE once, before its samples, which are
// together; no series twice), hostile rows (label values with quotes, backslashes and line
// feeds; names with characters a metric name cannot hold; wrong JSON types), and, when it is
// installed (tools/setup installs it), `promtool check metrics` on the result.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "controlplane/api/prometheus.h"

namespace traboule::cp {
namespace {

using json = nlohmann::json;

MetricsInput lab_input() {
  MetricsInput in;
  in.daemon = {{"role", "edge"},
               {"uptime_s", 42},
               {"workers", 2},
               {"flows",
                {{"active", 3},
                 {"capacity", 131072},
                 {"created", 10},
                 {"expired", 7},
                 {"memory_bytes", 1048576}}}};
  json fiber_path = {{"name", "fiber/hub"},
                     {"state", "up"},
                     {"rtt_us",
                      {{"min", 800.0},
                       {"avg", 1200.5},
                       {"max", 4000.0},
                       {"p50", 1100.0},
                       {"p90", 1500.0},
                       {"p99", nullptr}}},
                     {"jitter_us", {{"rtt", 250.0}, {"forward", nullptr}, {"backward", nullptr}}},
                     {"window", {{"loss_ratio", 0.02}}},
                     {"data_loss", {{"forward", 0.0}, {"backward", nullptr}}},
                     {"totals", {{"sent", 100}, {"received", 98}, {"lost", 2}, {"late", 0}}}};
  json lte_path = {{"name", "4g/hub"}, {"state", "down"}, {"rtt_us", {{"avg", nullptr}}}};
  in.uplinks = json::array({{{"name", "fiber"},
                             {"link_up", true},
                             {"gateway_resolved", true},
                             {"tx_packets", 5},
                             {"tx_bytes", 700},
                             {"rx_packets", 6},
                             {"rx_bytes", 800},
                             {"up_bps", 100000000},
                             {"down_bps", 300000000},
                             {"paths", json::array({fiber_path})}},
                            {{"name", "4g"},
                             {"link_up", false},
                             {"gateway_resolved", false},
                             {"tx_packets", 0},
                             {"tx_bytes", 0},
                             {"rx_packets", 0},
                             {"rx_bytes", 0},
                             {"paths", json::array({lte_path})}}});
  in.counters = {{"worker0.loops", 1000},
                 {"worker0.busy_loops", 10},
                 {"worker1.loops", 900},
                 {"decap.passive.fiber.lost", 4},
                 {"decap.passive.fiber.jitter_us", 310},
                 {"route.rule.voice", 12},
                 {"flow.active", 3},
                 {"workers.spawned", 1},  // not a worker index: an ordinary stage
                 {"qos.fiber.class0.depth", 5},
                 {"qos.fiber.class0.dequeued", 90},
                 {"flow.wan_opened", 6},
                 {"firewall.denied.wan_lan", 41},
                 {"firewall.related_icmp", 2},
                 {"port.lan.rx_bytes", 64000},
                 {"port.lan.tx_packets", 70},
                 {"port.fiber.rx_missed", 3},
                 {"port.nodot", 1}};
  in.drops = {{"total", 9}, {"counters", {{"flow.table_full", 2}, {"parse.bad_ipv4", 7}}}};
  in.api = {{"requests", 5}, {"unauthorized", 1}, {"connections_open", 2}};
  in.apps = json::array(
      {{{"id", 12},
        {"name", "zoom"},
        {"category", "video"},
        {"active_flows", 2},
        {"uplinks",
         {{"fiber",
           {{"bytes_out", 1000}, {"bytes_in", 9000}, {"packets_out", 10}, {"packets_in", 20}}},
          {"4g", {{"bytes_out", 5}, {"bytes_in", 6}, {"packets_out", 1}, {"packets_in", 1}}}}}},
       {{"id", "bad"}, {"name", "no id"}, {"active_flows", 1}},
       {{"id", 0}, {"name", "unknown"}, {"active_flows", 0}, {"uplinks", "not an object"}}});
  return in;
}

// name{labels} → value, with the family (TYPE) each sample belongs to; fails the test on any
// line the format does not allow.
struct Parsed {
  std::map<std::string, std::string> samples;  // "name{labels}" → value text
  std::map<std::string, std::string> types;    // family → type
};

Parsed parse(const std::string& text) {
  Parsed p;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the exposition ends with a line feed";
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$)");
  static const std::regex kType(
      R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex kSample(
      R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$)re");
  std::set<std::string> helped, closed;
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      const std::string f = m[1];
      EXPECT_TRUE(helped.insert(f).second) << "HELP twice for " << f;
      if (!current.empty() && current != f) closed.insert(current);
      EXPECT_EQ(closed.count(f), 0u) << f << ": samples not together";
      current = f;
    } else if (std::regex_match(line, m, kType)) {
      EXPECT_EQ(m[1], current) << "TYPE after its HELP";
      EXPECT_TRUE(p.types.emplace(m[1], m[2]).second) << "TYPE twice for " << m[1];
    } else if (std::regex_match(line, m, kSample)) {
      EXPECT_EQ(m[1], current) << "a sample outside its family: " << line;
      const std::string series = line.substr(0, line.rfind(' '));
      EXPECT_TRUE(p.samples.emplace(series, line.substr(line.rfind(' ') + 1)).second)
          << "series twice: " << series;
    } else {
      ADD_FAILURE() << "not a valid exposition line: [" << line << "]";
    }
  }
  return p;
}

TEST(Prometheus, KnownAnswersInBaseUnits) {
  const Parsed p = parse(render_prometheus(lab_input()));
  struct Row {
    const char* series;
    const char* value;  // nullptr: must be absent
  } rows[] = {
      {"traboule_uptime_seconds", "42"},
      {"traboule_workers", "2"},
      {"traboule_flows_active", "3"},
      {"traboule_flows_created_total", "10"},
      {"traboule_flow_table_memory_bytes", "1048576"},
      {R"(traboule_uplink_link_up{uplink="fiber"})", "1"},
      {R"(traboule_uplink_link_up{uplink="4g"})", "0"},
      {R"(traboule_uplink_transmit_bytes_total{uplink="fiber"})", "700"},
      {R"(traboule_uplink_receive_packets_total{uplink="fiber"})", "6"},
      {R"(traboule_uplink_bandwidth_bytes_per_second{uplink="fiber",direction="down"})",
       "37500000"},
      {R"(traboule_uplink_bandwidth_bytes_per_second{uplink="4g",direction="up"})", nullptr},
      {R"(traboule_path_up{uplink="fiber",path="fiber/hub"})", "1"},
      {R"(traboule_path_up{uplink="4g",path="4g/hub"})", "0"},
      {R"(traboule_path_rtt_seconds{uplink="fiber",path="fiber/hub",stat="avg"})", "0.0012005"},
      {R"(traboule_path_rtt_seconds{uplink="fiber",path="fiber/hub",stat="p99"})", nullptr},
      {R"(traboule_path_rtt_seconds{uplink="4g",path="4g/hub",stat="avg"})", nullptr},
      {R"(traboule_path_jitter_seconds{uplink="fiber",path="fiber/hub",direction="rtt"})",
       "0.00025"},
      {R"(traboule_path_loss_ratio{uplink="fiber",path="fiber/hub"})", "0.02"},
      {R"(traboule_path_traffic_loss_ratio{uplink="fiber",path="fiber/hub",direction="forward"})",
       "0"},
      {R"(traboule_path_probes_lost_total{uplink="fiber",path="fiber/hub"})", "2"},
      {R"(traboule_worker_loops_total{worker="1"})", "900"},
      {R"(traboule_port_bytes_total{port="lan",direction="rx"})", "64000"},
      {R"(traboule_port_packets_total{port="lan",direction="tx"})", "70"},
      {R"(traboule_port_errors_total{port="fiber",kind="rx_missed"})", "3"},
      {R"(traboule_stage_events_total{stage="port",counter="lan.rx_bytes"})", nullptr},
      {R"(traboule_worker_busy_loops_total{worker="0"})", "10"},
      {R"(traboule_stage_events_total{stage="decap",counter="passive.fiber.lost"})", "4"},
      {R"(traboule_stage_events_total{stage="decap",counter="passive.fiber.jitter_us"})", nullptr},
      {R"(traboule_stage_level{stage="decap",name="passive.fiber.jitter_us"})", "310"},
      {R"(traboule_stage_level{stage="flow",name="active"})", "3"},
      {R"(traboule_stage_events_total{stage="workers",counter="spawned"})", "1"},
      {R"(traboule_stage_level{stage="qos",name="fiber.class0.depth"})", "5"},
      {R"(traboule_stage_events_total{stage="qos",counter="fiber.class0.dequeued"})", "90"},
      {R"(traboule_drops_total{stage="parse",reason="bad_ipv4"})", "7"},
      {R"(traboule_stage_level{stage="flow",name="wan_opened"})", "6"},
      {R"(traboule_firewall_denied_total{from="wan",to="lan"})", "41"},
      {R"(traboule_firewall_decisions_total{verdict="related_icmp"})", "2"},
      {R"(traboule_stage_events_total{stage="firewall",counter="related_icmp"})", nullptr},
      {"traboule_api_unauthorized_total", "1"},
      {"traboule_api_connections_open", "2"},
      {R"(traboule_app_active_flows{app="zoom",id="12"})", "2"},
      {R"(traboule_app_receive_bytes_total{app="zoom",id="12",uplink="fiber"})", "9000"},
      {R"(traboule_app_transmit_packets_total{app="zoom",id="12",uplink="4g"})", "1"},
      {R"(traboule_app_active_flows{app="no id",id="bad"})", nullptr},
      {R"(traboule_app_active_flows{app="unknown",id="0"})", "0"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.series);
    auto it = p.samples.find(r.series);
    if (r.value == nullptr) {
      EXPECT_EQ(it, p.samples.end()) << "present: " << it->second;
    } else {
      ASSERT_NE(it, p.samples.end());
      EXPECT_DOUBLE_EQ(std::stod(it->second), std::stod(r.value)) << it->second;
    }
  }
  // Values are written as the shortest text that reads back the same (no 0.00120050000000001).
  EXPECT_EQ(
      p.samples.at(R"(traboule_path_rtt_seconds{uplink="fiber",path="fiber/hub",stat="avg"})"),
      "0.0012005");
  for (const auto& [family, type] : p.types) {
    const bool total = family.size() > 6 && family.compare(family.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(total, type == "counter") << family << " is a " << type;
  }
}

TEST(Prometheus, HostileInputsStayValid) {
  struct Row {
    const char* name;
    MetricsInput in;
  };
  MetricsInput quotes = lab_input();
  quotes.uplinks[0]["name"] = "fi\"ber\\x\ny";
  quotes.uplinks[0]["paths"][0]["name"] = "a\"b";
  MetricsInput types = lab_input();
  types.daemon = json::array({1, 2});
  types.uplinks = {{"not", "an array"}};
  types.counters = json::array();
  types.drops = {{"counters", "x"}};
  types.api = nullptr;
  MetricsInput values = lab_input();
  values.uplinks[0]["tx_bytes"] = "700";  // a string: no sample
  values.uplinks[0]["paths"][0]["rtt_us"]["avg"] = -1.5;
  values.counters["worker.x"] = 1;  // "worker" with no index: an ordinary stage
  values.counters["nodot"] = 3;
  values.counters["weird-stage.a b"] = 4;
  MetricsInput dup = lab_input();
  dup.uplinks.push_back(dup.uplinks[0]);  // the same uplink twice: one series each
  MetricsInput empty;
  const Row rows[] = {{"quotes, backslashes and line feeds in labels", quotes},
                      {"wrong JSON types everywhere", types},
                      {"odd values and names", values},
                      {"an uplink listed twice", dup},
                      {"nothing at all", empty}};
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    const std::string text = render_prometheus(r.in);
    if (text.empty()) continue;  // nothing to say is a valid (empty) exposition
    const Parsed p = parse(text);
    (void)p;
  }
  const std::string q = render_prometheus(quotes);
  EXPECT_NE(q.find(R"(uplink="fi\"ber\\x\ny")"), std::string::npos) << q;
}

// promtool, when installed: the reference parser and linter (rc 0 clean, 3 lint, 1 parse).
TEST(Prometheus, PromtoolCheckMetricsIsClean) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool not installed (tools/setup installs the prometheus package)";
  char path[] = "/tmp/tb-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  for (const MetricsInput& in : {lab_input(), MetricsInput{}}) {
    {
      std::ofstream f(path);
      f << render_prometheus(in);
    }
    const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = ::pclose(p);
    EXPECT_EQ(rc, 0) << out;
  }
  ::unlink(path);
}

}  // namespace
}  // namespace traboule::cp

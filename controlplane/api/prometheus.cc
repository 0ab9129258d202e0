// SPDX-License-Identifier: Apache-2.0
#include "controlplane/api/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

namespace traboule::cp {
namespace {

using json = nlohmann::json;
using Labels = std::vector<std::pair<std::string, std::string>>;

// Label values: backslash, double quote and line feed escaped (the format's three).
std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// Metric and label names: [a-zA-Z_][a-zA-Z0-9_]*; anything else becomes '_'.
std::string sanitize_name(std::string_view v) {
  std::string out;
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (c >= '0' && c <= '9' && !out.empty());
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[40];  // the shortest text that reads back as the same double
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

class Exposition {
 public:
  // Declares a family (once; later calls with the same name add to it).
  void family(const std::string& name, const char* type, const char* help) {
    if (index_.count(name)) return;
    index_[name] = families_.size();
    families_.push_back({name, type, help, {}});
  }
  void sample(const std::string& name, const Labels& labels, double value) {
    auto it = index_.find(name);
    if (it == index_.end()) return;  // a family must be declared first
    std::string line = name;
    if (!labels.empty()) {
      line += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i) line += ',';
        line += labels[i].first + "=\"" + escape_label(labels[i].second) + '"';
      }
      line += '}';
    }
    // One series once: a duplicate (two uplinks of the same name, say) keeps the first.
    if (!seen_.insert(line).second) return;
    families_[it->second].samples.push_back(line + ' ' + format_value(value));
  }
  // A JSON number (or boolean) as a sample; null, absent or anything else: no sample.
  void sample(const std::string& name, const Labels& labels, const json& v, double scale = 1.0) {
    if (v.is_boolean())
      sample(name, labels, v.get<bool>() ? 1.0 : 0.0);
    else if (v.is_number())
      sample(name, labels, v.get<double>() * scale);
  }
  std::string text() const {
    std::string out;
    for (const Family& f : families_) {
      if (f.samples.empty()) continue;
      out += "# HELP " + f.name + ' ' + f.help + '\n';
      out += "# TYPE " + f.name + ' ' + f.type + '\n';
      for (const std::string& s : f.samples) out += s + '\n';
    }
    return out;
  }

 private:
  struct Family {
    std::string name;
    const char* type;
    const char* help;
    std::vector<std::string> samples;
  };
  std::vector<Family> families_;
  std::map<std::string, size_t> index_;
  std::set<std::string> seen_;
};

const json& at(const json& j, const char* key) {
  static const json null_json;
  if (!j.is_object()) return null_json;
  auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

std::string text_of(const json& j) {
  return j.is_string() ? j.get<std::string>() : std::string();
}

void daemon_metrics(Exposition& e, const json& d) {
  e.family("traboule_uptime_seconds", "gauge", "Seconds since the daemon started.");
  e.sample("traboule_uptime_seconds", {}, at(d, "uptime_s"));
  e.family("traboule_workers", "gauge", "Data-plane worker threads.");
  e.sample("traboule_workers", {}, at(d, "workers"));
  const json& f = at(d, "flows");
  e.family("traboule_flows_active", "gauge", "Flows in the flow tables.");
  e.sample("traboule_flows_active", {}, at(f, "active"));
  e.family("traboule_flows_capacity", "gauge", "Flow table capacity, all workers.");
  e.sample("traboule_flows_capacity", {}, at(f, "capacity"));
  e.family("traboule_flows_created_total", "counter", "Flows created since start.");
  e.sample("traboule_flows_created_total", {}, at(f, "created"));
  e.family("traboule_flows_expired_total", "counter", "Flows removed as idle since start.");
  e.sample("traboule_flows_expired_total", {}, at(f, "expired"));
  e.family("traboule_flow_table_memory_bytes", "gauge", "Memory held by the flow tables.");
  e.sample("traboule_flow_table_memory_bytes", {}, at(f, "memory_bytes"));
}

void path_metrics(Exposition& e, const std::string& uplink, const json& p) {
  const Labels l = {{"uplink", uplink}, {"path", text_of(at(p, "name"))}};
  e.family("traboule_path_up", "gauge", "1 when the path's STAMP probes say up, 0 otherwise.");
  if (at(p, "state").is_string())
    e.sample("traboule_path_up", l, at(p, "state") == "up" ? 1.0 : 0.0);
  e.family("traboule_path_rtt_seconds", "gauge",
           "Round-trip time over the probe window (stat: min, avg, max, p50, p90, p99).");
  const json& rtt = at(p, "rtt_us");
  for (const char* stat : {"min", "avg", "max", "p50", "p90", "p99"}) {
    Labels ls = l;
    ls.emplace_back("stat", stat);
    e.sample("traboule_path_rtt_seconds", ls, at(rtt, stat), 1e-6);
  }
  e.family("traboule_path_jitter_seconds", "gauge",
           "RFC 3550 jitter (direction: rtt, forward, backward).");
  const json& jit = at(p, "jitter_us");
  for (const char* dir : {"rtt", "forward", "backward"}) {
    Labels ls = l;
    ls.emplace_back("direction", dir);
    e.sample("traboule_path_jitter_seconds", ls, at(jit, dir), 1e-6);
  }
  e.family("traboule_path_loss_ratio", "gauge", "Probe loss over the window (0 to 1).");
  e.sample("traboule_path_loss_ratio", l, at(at(p, "window"), "loss_ratio"));
  e.family("traboule_path_traffic_loss_ratio", "gauge",
           "The overlay traffic's own loss, RFC 8972 direct measurement (direction).");
  const json& dl = at(p, "data_loss");
  for (const char* dir : {"forward", "backward"}) {
    Labels ls = l;
    ls.emplace_back("direction", dir);
    e.sample("traboule_path_traffic_loss_ratio", ls, at(dl, dir));
  }
  e.family("traboule_path_class_traffic_loss_ratio", "gauge",
           "One SLA class's own overlay traffic loss, per-class direct measurement (direction).");
  const json& classes = at(dl, "classes");
  if (classes.is_array())
    for (const json& c : classes) {
      const std::string cls = text_of(at(c, "sla_class"));
      if (cls.empty()) continue;
      for (const char* dir : {"forward", "backward"}) {
        Labels ls = l;
        ls.emplace_back("sla_class", cls);
        ls.emplace_back("direction", dir);
        e.sample("traboule_path_class_traffic_loss_ratio", ls, at(c, dir));
      }
    }
  const json& t = at(p, "totals");
  static const std::pair<const char*, const char*> kTotals[] = {
      {"sent", "traboule_path_probes_sent_total"},
      {"received", "traboule_path_probes_received_total"},
      {"lost", "traboule_path_probes_lost_total"},
      {"late", "traboule_path_probes_late_total"}};
  for (const auto& [key, name] : kTotals) {
    e.family(name, "counter", "STAMP probes since the path was configured.");
    e.sample(name, l, at(t, key));
  }
}

void uplink_metrics(Exposition& e, const json& uplinks) {
  if (!uplinks.is_array()) return;
  for (const json& u : uplinks) {
    const std::string name = text_of(at(u, "name"));
    if (name.empty()) continue;
    const Labels l = {{"uplink", name}};
    e.family("traboule_uplink_link_up", "gauge", "1 when the uplink's port has link.");
    e.sample("traboule_uplink_link_up", l, at(u, "link_up"));
    e.family("traboule_uplink_gateway_resolved", "gauge",
             "1 when the uplink's gateway has a resolved link-layer address.");
    e.sample("traboule_uplink_gateway_resolved", l, at(u, "gateway_resolved"));
    static const std::pair<const char*, const char*> kCounts[] = {
        {"tx_packets", "traboule_uplink_transmit_packets_total"},
        {"tx_bytes", "traboule_uplink_transmit_bytes_total"},
        {"rx_packets", "traboule_uplink_receive_packets_total"},
        {"rx_bytes", "traboule_uplink_receive_bytes_total"}};
    for (const auto& [key, metric] : kCounts) {
      e.family(metric, "counter", "Packets or bytes forwarded through the uplink since start.");
      e.sample(metric, l, at(u, key));
    }
    e.family("traboule_uplink_bandwidth_bytes_per_second", "gauge",
             "The uplink's bandwidth in the policy, in bytes/s (direction: up, down).");
    e.sample("traboule_uplink_bandwidth_bytes_per_second", {{"uplink", name}, {"direction", "up"}},
             at(u, "up_bps"), 1.0 / 8);
    e.sample("traboule_uplink_bandwidth_bytes_per_second",
             {{"uplink", name}, {"direction", "down"}}, at(u, "down_bps"), 1.0 / 8);
    const json& paths = at(u, "paths");
    if (paths.is_array())
      for (const json& p : paths) path_metrics(e, name, p);
  }
}

// "stage.rest" → {"stage", "rest"}; a name without a dot is its own stage.
std::pair<std::string, std::string> split_stage(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) return {name, ""};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The entries of GET /counters that are levels, not counts (the stages' collect() names them
// so): they go into a gauge family, where a fall is not read as a counter reset.
bool is_level(const std::string& name) {
  return ends_with(name, "active") || ends_with(name, ".depth") || ends_with(name, "_bps") ||
         ends_with(name, "_us") || ends_with(name, "known_names") ||
         name == "wan_opened";  // flow.wan_opened: flows opened from the WAN, now
}

void counter_metrics(Exposition& e, const json& counters) {
  if (!counters.is_object()) return;
  e.family("traboule_worker_loops_total", "counter", "Poll loops of a data-plane worker.");
  e.family("traboule_worker_busy_loops_total", "counter",
           "Poll loops that found packets: busy / loops is the real load of a polling worker.");
  e.family("traboule_worker_rx_packets_total", "counter", "Packets a worker received.");
  e.family("traboule_worker_sleeps_total", "counter", "Idle back-off sleeps of a worker.");
  e.family("traboule_stage_events_total", "counter",
           "A data-plane stage's own counters (GET /counters), by stage and counter name.");
  e.family("traboule_stage_level", "gauge",
           "A data-plane stage's figures that go up and down (GET /counters: queue depths, "
           "rates in bit/s, times in us, entries active), summed over workers.");
  e.family("traboule_firewall_denied_total", "counter",
           "Packets that would have opened a flow, refused by the firewall, by zone pair "
           "(docs/firewall.md).");
  e.family("traboule_firewall_decisions_total", "counter",
           "The firewall's decisions on packets that would open a flow, by verdict; also "
           "reject answers and revoked flows (docs/firewall.md).");
  e.family("traboule_port_packets_total", "counter",
           "Frames a data-plane port received (rx) or sent (tx), its driver's count.");
  e.family("traboule_port_bytes_total", "counter",
           "Bytes of the frames (no FCS) a data-plane port received or sent, its driver's count.");
  e.family("traboule_port_errors_total", "counter",
           "A port's receive misses (queue full), receive and transmit errors and receives "
           "without a buffer, by kind.");
  for (const auto& [name, v] : counters.items()) {
    auto [stage, rest] = split_stage(name);
    if (stage == "port") {  // port.<name>.<rx|tx>_<what>
      const auto dot = rest.rfind('.');
      const std::string port = rest.substr(0, dot), what = rest.substr(dot + 1);
      const std::string dir = what.substr(0, 2);
      if (what.size() > 3 && what.compare(3, std::string::npos, "packets") == 0)
        e.sample("traboule_port_packets_total", {{"port", port}, {"direction", dir}}, v);
      else if (what.size() > 3 && what.compare(3, std::string::npos, "bytes") == 0)
        e.sample("traboule_port_bytes_total", {{"port", port}, {"direction", dir}}, v);
      else
        e.sample("traboule_port_errors_total", {{"port", port}, {"kind", what}}, v);
      continue;
    }
    if (stage == "firewall") {
      if (rest.rfind("denied.", 0) == 0) {
        const std::string pair = rest.substr(7);
        const auto us = pair.find('_');
        e.sample("traboule_firewall_denied_total",
                 {{"from", pair.substr(0, us)},
                  {"to", us == std::string::npos ? std::string() : pair.substr(us + 1)}},
                 v);
      } else {
        e.sample("traboule_firewall_decisions_total", {{"verdict", rest}}, v);
      }
      continue;
    }
    if (stage.size() > 6 && stage.rfind("worker", 0) == 0 &&
        stage.find_first_not_of("0123456789", 6) == std::string::npos) {
      const std::string metric = "traboule_worker_" + sanitize_name(rest) + "_total";
      e.sample(metric, {{"worker", stage.substr(6)}}, v);
      continue;
    }
    if (is_level(rest))
      e.sample("traboule_stage_level", {{"stage", stage}, {"name", rest}}, v);
    else
      e.sample("traboule_stage_events_total", {{"stage", stage}, {"counter", rest}}, v);
  }
}

void drop_metrics(Exposition& e, const json& drops) {
  e.family("traboule_drops_total", "counter",
           "Packets dropped, by stage and named reason (GET /drops).");
  const json& c = at(drops, "counters");
  if (!c.is_object()) return;
  for (const auto& [name, v] : c.items()) {
    auto [stage, reason] = split_stage(name);
    e.sample("traboule_drops_total", {{"stage", stage}, {"reason", reason}}, v);
  }
}

void api_metrics(Exposition& e, const json& api) {
  if (!api.is_object()) return;
  for (const auto& [key, v] : api.items()) {
    if (key == "connections_open") {
      e.family("traboule_api_connections_open", "gauge", "API connections open now.");
      e.sample("traboule_api_connections_open", {}, v);
      continue;
    }
    const std::string metric = "traboule_api_" + sanitize_name(key) + "_total";
    e.family(metric, "counter", "The API's own counter of that name (docs/api.md, Limits).");
    e.sample(metric, {}, v);
  }
}

// Per application (GET /apps/top): its flows now and its traffic per uplink, both directions.
void app_metrics(Exposition& e, const json& apps) {
  if (!apps.is_array()) return;
  e.family("traboule_app_active_flows", "gauge", "Flows of the application now.");
  static const std::pair<const char*, const char*> kCounts[] = {
      {"bytes_out", "traboule_app_transmit_bytes_total"},
      {"bytes_in", "traboule_app_receive_bytes_total"},
      {"packets_out", "traboule_app_transmit_packets_total"},
      {"packets_in", "traboule_app_receive_packets_total"}};
  for (const auto& [key, metric] : kCounts)
    e.family(metric, "counter",
             "The application's traffic through an uplink since start (out: towards it).");
  for (const json& a : apps) {
    const std::string name = text_of(at(a, "name"));
    const json& id = at(a, "id");
    if (name.empty() || !id.is_number_integer() || id.get<int64_t>() < 0) continue;
    const std::string ids = std::to_string(id.get<int64_t>());
    e.sample("traboule_app_active_flows", {{"app", name}, {"id", ids}}, at(a, "active_flows"));
    const json& per = at(a, "uplinks");
    if (!per.is_object()) continue;
    for (const auto& [uplink, t] : per.items())
      for (const auto& [key, metric] : kCounts)
        e.sample(metric, {{"app", name}, {"id", ids}, {"uplink", uplink}}, at(t, key));
  }
}

}  // namespace

std::string render_prometheus(const MetricsInput& in) {
  Exposition e;
  daemon_metrics(e, in.daemon);
  uplink_metrics(e, in.uplinks);
  counter_metrics(e, in.counters);
  drop_metrics(e, in.drops);
  api_metrics(e, in.api);
  app_metrics(e, in.apps);
  return e.text();
}

}  // namespace traboule::cp

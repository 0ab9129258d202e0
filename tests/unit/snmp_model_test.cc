// SPDX-License-Identifier: Apache-2.0
// traboule-snmp's pure half (controlplane/snmp/model.h): API JSON → SNMP rows, journal records →
// notifications, value scaling. Table-driven, hostile rows included: nothing the API can send
// may crash the subagent or produce a row that cannot be indexed.
#include <gtest/gtest.h>

#include <limits>

#include "controlplane/snmp/model.h"

namespace traboule::snmp {
namespace {

using nlohmann::json;

// --- value scaling.
struct ScaleCase {
  const char* what;
  json in;
  std::optional<uint32_t> us, ppm, milli;
};

TEST(SnmpScale, Table) {
  const ScaleCase cases[] = {
      {"zero", 0, 0, 0, 0},
      {"fraction rounds", 4652.672, 4653, std::nullopt, std::nullopt},
      {"ratio", 0.0123, 0, 12300, 12},
      {"one", 1, 1, 1'000'000, 1000},
      {"percent", 99.85, 100, std::nullopt, 99850},
      {"hundred", 100, 100, std::nullopt, 100000},
      {"null", nullptr, std::nullopt, std::nullopt, std::nullopt},
      {"negative", -1, std::nullopt, std::nullopt, std::nullopt},
      {"string", "12", std::nullopt, std::nullopt, std::nullopt},
      {"bool", true, std::nullopt, std::nullopt, std::nullopt},
      {"huge saturates", 1e300, 4294967295u, std::nullopt, std::nullopt},
      {"object", json::object(), std::nullopt, std::nullopt, std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(us_u32(&c.in), c.us) << c.what;
    EXPECT_EQ(ratio_ppm(&c.in), c.ppm) << c.what;
    EXPECT_EQ(percent_milli(&c.in), c.milli) << c.what;
  }
  EXPECT_EQ(us_u32(nullptr), std::nullopt);
}

TEST(SnmpScale, CountersAndSpeeds) {
  const json big = std::numeric_limits<uint64_t>::max(), neg = -5, flt = 12.9, inf = 1e30;
  EXPECT_EQ(as_u64(&big), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(as_u64(&neg), std::nullopt);
  EXPECT_EQ(as_u64(&flt), 12u);
  EXPECT_EQ(as_u64(&inf), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(bps_to_mbps(500'000'000), 500u);
  EXPECT_EQ(bps_to_mbps(8'400'000), 8u);
  EXPECT_EQ(bps_to_mbps(std::numeric_limits<uint64_t>::max()), 4294967295u);
  EXPECT_EQ(bps_gauge(10'000'000'000ull), 4294967295u);
  EXPECT_EQ(bps_gauge(50'000'000), 50'000'000u);
}

TEST(SnmpScale, CleanText) {
  EXPECT_EQ(clean_text("fiber\n\x01ok"), "fiber??ok");
  EXPECT_EQ(clean_text("µs é"), "µs é");                       // UTF-8 kept
  EXPECT_EQ(clean_text("a\xff\xfe"), "a??");                   // not UTF-8
  EXPECT_EQ(clean_text("ab\xc3\xa9", 3), "ab");                // never half a character
  EXPECT_EQ(clean_text(std::string(1000, 'x')).size(), 255u);  // SnmpAdminString
}

// --- GET /uplinks.
json good_uplinks() {
  return json::parse(R"({"uplinks": [
    {"name": "fiber", "port": 1, "kind": "fiber", "role": "primary", "link_up": true,
     "gateway_resolved": true, "down_bps": 500000000, "rx_bytes": 1, "tx_bytes": 2,
     "port_rx_bytes": 196, "port_tx_bytes": 398, "port_rx_packets": 2, "port_tx_packets": 3,
     "paths": [
       {"name": "fiber/hub", "state": "up", "rtt_us": {"avg": 4652.67, "p99": 8320.93},
        "jitter_us": {"rtt": 463.3}, "window": {"loss_ratio": 0.0},
        "totals": {"sent": 91, "received": 91}},
       {"name": "fiber/inet-web", "target": "icmp 198.51.100.10", "state": "down",
        "rtt_us": {"avg": null}, "jitter_us": {"rtt": null}, "window": {"loss_ratio": 1.0}}]},
    {"name": "4g", "port": 3, "kind": "4g", "role": "backup", "link_up": true,
     "gateway_resolved": false, "paths": []}]})");
}

TEST(SnmpUplinks, MapsRowsAndPaths) {
  Problems problems;
  const auto v = map_uplinks(good_uplinks(), problems);
  ASSERT_TRUE(v);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(v->ifs.size(), 2u);
  const IfRow& f = v->ifs[0];
  EXPECT_EQ(f.if_index, 1001);
  EXPECT_EQ(f.name, "fiber");
  EXPECT_EQ(f.alias, "fiber primary");
  EXPECT_EQ(f.oper, OperStatus::kUp);
  EXPECT_EQ(f.in_octets, 196u);
  EXPECT_EQ(f.out_octets, 398u);
  EXPECT_EQ(f.out_pkts, 3u);
  EXPECT_EQ(f.speed_bps, 500'000'000u);
  EXPECT_EQ(v->ifs[1].in_octets, std::nullopt);  // not reported: noSuchInstance, not 0
  EXPECT_EQ(v->uplinks[0].state, UplinkState::kUsable);
  EXPECT_EQ(v->uplinks[0].hub, PathState::kUp);
  EXPECT_EQ(v->uplinks[1].state, UplinkState::kWaiting);
  EXPECT_EQ(v->uplinks[1].role, UplinkRole::kBackup);
  EXPECT_EQ(v->uplinks[1].hub, PathState::kUnknown);
  ASSERT_EQ(v->paths.size(), 2u);
  EXPECT_EQ(v->paths[0].uplink_index, 1001);
  EXPECT_EQ(v->paths[0].target, "hub");
  EXPECT_EQ(v->paths[0].rtt_us, 4653u);
  EXPECT_EQ(v->paths[0].rtt_p99_us, 8321u);
  EXPECT_EQ(v->paths[0].jitter_us, 463u);
  EXPECT_EQ(v->paths[0].loss_ppm, 0u);
  EXPECT_EQ(v->paths[0].sent, 91u);
  EXPECT_EQ(v->paths[1].state, PathState::kDown);
  EXPECT_EQ(v->paths[1].rtt_us, std::nullopt);
  EXPECT_EQ(v->paths[1].loss_ppm, 1'000'000u);
}

struct HostileCase {
  const char* what;
  const char* doc;
  bool mapped;  // false: the document is refused as a whole (last good one kept)
  size_t uplinks, paths, problems;
};

TEST(SnmpUplinks, HostileDocuments) {
  const HostileCase cases[] = {
      {"not an object", R"([1,2])", false, 0, 0, 0},
      {"uplinks not an array", R"({"uplinks": {}})", false, 0, 0, 0},
      {"error body", R"({"error": {"code": "unauthorized"}})", false, 0, 0, 0},
      {"empty", R"({"uplinks": []})", true, 0, 0, 0},
      {"row not an object", R"({"uplinks": [3, "x", null]})", true, 0, 0, 3},
      {"no port", R"({"uplinks": [{"name": "a"}]})", true, 0, 0, 1},
      {"port too big", R"({"uplinks": [{"name": "a", "port": 70000}]})", true, 0, 0, 1},
      {"negative port", R"({"uplinks": [{"name": "a", "port": -1}]})", true, 0, 0, 1},
      {"name with space", R"({"uplinks": [{"name": "a b", "port": 1}]})", true, 0, 0, 1},
      {"empty name", R"({"uplinks": [{"name": "", "port": 1}]})", true, 0, 0, 1},
      {"duplicate port", R"({"uplinks": [{"name": "a", "port": 1}, {"name": "b", "port": 1}]})",
       true, 1, 0, 1},
      {"duplicate name", R"({"uplinks": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]})",
       true, 1, 0, 1},
      {"wrong types everywhere",
       R"({"uplinks": [{"name": "a", "port": 1, "link_up": "yes", "port_rx_bytes": "1",
           "down_bps": -4, "role": 7, "paths": "none"}]})",
       true, 1, 0, 0},
      {"path of another uplink",
       R"({"uplinks": [{"name": "a", "port": 1, "paths": [{"name": "b/hub"}]}]})", true, 1, 0, 1},
      {"path without target",
       R"({"uplinks": [{"name": "a", "port": 1, "paths": [{"name": "a/"}, {"name": 5}, 7]}]})",
       true, 1, 0, 3},
      {"duplicate path",
       R"({"uplinks": [{"name": "a", "port": 1, "paths": [{"name": "a/h"}, {"name": "a/h"}]}]})",
       true, 1, 1, 0},
      {"hostile figures",
       R"({"uplinks": [{"name": "a", "port": 1, "paths": [{"name": "a/h", "state": 3,
           "rtt_us": {"avg": -3}, "window": {"loss_ratio": 7}, "totals": []}]}]})",
       true, 1, 1, 0},
  };
  for (const auto& c : cases) {
    Problems problems;
    const auto v = map_uplinks(json::parse(c.doc), problems);
    ASSERT_EQ(v.has_value(), c.mapped) << c.what;
    if (!v) continue;
    EXPECT_EQ(v->uplinks.size(), c.uplinks) << c.what;
    EXPECT_EQ(v->ifs.size(), c.uplinks) << c.what;
    EXPECT_EQ(v->paths.size(), c.paths) << c.what;
    EXPECT_EQ(problems.size(), c.problems) << c.what;
    for (const PathRow& p : v->paths) {
      EXPECT_EQ(p.state, PathState::kUnknown) << c.what;
      EXPECT_EQ(p.rtt_us, std::nullopt) << c.what;
      EXPECT_EQ(p.loss_ppm, std::nullopt) << c.what;
    }
  }
}

TEST(SnmpUplinks, LongNamesAreRefusedNotCut) {
  json doc = {{"uplinks", {{{"name", std::string(65, 'a')}, {"port", 1}}}}};
  Problems problems;
  auto v = map_uplinks(doc, problems);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->uplinks.empty());
  EXPECT_EQ(problems.size(), 1u);
  EXPECT_LE(problems[0].size(), 200u);  // the offending row is quoted, shortened
}

// --- GET /paths (SLA), GET /report/availability, GET /counters.
TEST(SnmpSla, ClassesPerUplink) {
  const auto doc = json::parse(R"({"uplinks": [
    {"uplink": "fiber", "classes": {"realtime": {"ok": true, "reason": ""},
                                    "business": {"ok": false, "reason": "jitter 10.08 ms > 10 ms"}}},
    {"uplink": "ghost", "classes": {"realtime": {"ok": true}}},
    {"uplink": "fiber", "classes": {"bad name": {"ok": true}, "x": {"ok": "yes"}}},
    {"uplink": "fiber", "classes": []}, 5]})");
  Problems problems;
  const auto rows = map_sla(doc, {{"fiber", 1001}}, problems);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].sla_class, "business");  // nlohmann orders object keys
  EXPECT_FALSE((*rows)[0].met);
  EXPECT_EQ((*rows)[0].reason, "jitter 10.08 ms > 10 ms");
  EXPECT_TRUE((*rows)[1].met);
  EXPECT_EQ(problems.size(), 5u);
  EXPECT_FALSE(map_sla(json::parse("{}"), {}, problems));
}

TEST(SnmpAvailability, Subjects) {
  const auto doc = json::parse(R"({"month": "2026-12", "target_percent": 99.85, "subjects": [
    {"kind": "site", "name": "hub", "observed_s": 37.853, "unavailable_s": 30.6, "outages": 1,
     "longest_outage_s": 30.6, "availability_percent": 19.16, "meets_target": false,
     "business_hours": {"availability_percent": 100.0}},
    {"kind": "path", "name": "fiber/hub", "observed_s": 1e12},
    {"kind": "planet", "name": "mars"}, {"kind": "site", "name": "hub"}, {"kind": "uplink"}]})");
  Problems problems;
  const auto v = map_availability(doc, problems);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->month, "2026-12");
  EXPECT_EQ(v->target_milli, 99850u);
  ASSERT_EQ(v->rows.size(), 2u);
  EXPECT_EQ(v->rows[0].unavailable_s, 31u);
  EXPECT_EQ(v->rows[0].percent_milli, 19160u);
  EXPECT_EQ(v->rows[0].business_percent_milli, 100000u);
  EXPECT_FALSE(v->rows[0].meets_target);
  EXPECT_EQ(v->rows[1].kind, AvailKind::kPath);
  EXPECT_EQ(v->rows[1].observed_s, 4294967295u);
  EXPECT_EQ(v->rows[1].percent_milli, std::nullopt);
  EXPECT_EQ(problems.size(), 3u);
  EXPECT_FALSE(map_availability(json::parse(R"({"subjects": 1})"), problems));
}

TEST(SnmpCounters, PortCountersAndWorkers) {
  const auto doc = json::parse(R"({"prefix": "", "counters": {
    "port.lan.rx_bytes": 5000, "port.lan.rx_packets": 50, "port.lan.tx_bytes": 7000,
    "port.lan.tx_packets": 70, "port.lan.rx_missed": 3, "port.lan.rx_nombuf": 4,
    "port.lan.rx_errors": 1, "port.lan.tx_errors": 2, "port.fiber.rx_bytes": -9,
    "port..rx_bytes": 1, "port.a b.rx_bytes": 1, "port.": 1, "tx.port0.sent": 3,
    "worker0.loops": 466745, "worker0.busy_loops": 433, "worker0.sleeps": 26283,
    "worker0.rx_packets": 465, "worker1.loops": -4, "workerx.loops": 1, "worker": 2}})");
  Problems problems;
  const auto v = map_counters(doc, problems);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->ports.size(), 2u);
  const PortCounters& lan = v->ports.at("lan");
  EXPECT_EQ(lan.in_octets, 5000u);
  EXPECT_EQ(lan.out_pkts, 70u);
  EXPECT_EQ(lan.in_discards, 7u) << "missed + no buffer";
  EXPECT_EQ(lan.in_errors, 1u);
  EXPECT_EQ(lan.out_errors, 2u);
  EXPECT_EQ(v->ports.at("fiber").in_octets, std::nullopt) << "-9 is not a counter";
  ASSERT_EQ(v->workers.size(), 2u);
  EXPECT_EQ(v->workers[0].index, 1);
  EXPECT_EQ(v->workers[0].busy_loops, 433u);
  EXPECT_EQ(v->workers[1].loops, std::nullopt);  // -4 is not a counter
  EXPECT_EQ(problems.size(), 5u);                // 3 bad port names, 2 bad worker ids
  EXPECT_FALSE(map_counters(json::parse(R"({"counters": []})"), problems));

  IfRow row;
  row.name = "lan";
  apply_port_counters(row, v->ports);
  EXPECT_EQ(row.in_octets, 5000u);
  EXPECT_EQ(row.in_discards, 7u);
  IfRow other;
  other.name = "vdsl";
  other.in_octets = 12;
  apply_port_counters(other, v->ports);
  EXPECT_EQ(other.in_octets, 12u) << "a port without counters keeps what it had";
}

TEST(SnmpStatus, LanPortsFromStatus) {
  struct Row {
    const char* what;
    const char* doc;
    bool mapped;
    size_t rows, problems;
  };
  const Row rows[] = {
      {"the lab's", R"({"daemon": {"ports": [{"name": "lan", "port": 0, "lan": true,
        "link_up": true}, {"name": "fiber", "port": 1, "lan": false, "link_up": true}]}})",
       true, 1, 0},
      {"no daemon", R"({"api": {}})", false, 0, 0},
      {"ports not an array", R"({"daemon": {"ports": {}}})", false, 0, 0},
      {"lan as text", R"({"daemon": {"ports": [{"name": "lan", "port": 0, "lan": "yes"}]}})", true,
       0, 0},
      {"no port", R"({"daemon": {"ports": [{"name": "lan", "lan": true}]}})", true, 0, 1},
      {"port too big", R"({"daemon": {"ports": [{"name": "l", "port": 65536, "lan": true}]}})",
       true, 0, 1},
      {"name with control bytes",
       R"({"daemon": {"ports": [{"name": "l\u0001", "port": 0, "lan": true}]}})", true, 0, 1},
      {"rows not objects", R"({"daemon": {"ports": [1, null, "x"]}})", true, 0, 0},
  };
  for (const Row& r : rows) {
    Problems problems;
    const auto v = map_lan_ports(json::parse(r.doc), problems);
    ASSERT_EQ(v.has_value(), r.mapped) << r.what;
    if (!v) continue;
    EXPECT_EQ(v->size(), r.rows) << r.what;
    EXPECT_EQ(problems.size(), r.problems) << r.what;
  }
  Problems problems;
  const auto lab = map_lan_ports(json::parse(rows[0].doc), problems);
  ASSERT_TRUE(lab && lab->size() == 1);
  EXPECT_EQ((*lab)[0].if_index, 1000);
  EXPECT_EQ((*lab)[0].name, "lan");
  EXPECT_EQ((*lab)[0].oper, OperStatus::kUp);
}

// --- journal records → notifications.
json ev(uint64_t seq, const char* kind, const char* subject, const char* state,
        const char* incident, uint64_t time_ms = 1'796'620'346'000) {
  return {{"seq", seq},          {"time_ms", time_ms + seq}, {"source", "links"},
          {"kind", kind},        {"subject", subject},       {"state", state},
          {"severity", "error"}, {"incident", incident},     {"text", "t"}};
}
json events(std::initializer_list<json> list) {
  json a = json::array();
  for (const json& e : list) a.push_back(e);
  return {{"events", a}};
}

PathRow path(const char* name, PathState s) {
  PathRow p;
  p.name = name;
  const auto parts = split_path_name(name);
  p.uplink = parts->first;
  p.target = parts->second;
  p.uplink_index = 1001;
  p.state = s;
  return p;
}

TEST(SnmpTraps, FirstAnswerIsHistoryThenEachRecordOnce) {
  TrapDecider d;
  Problems problems;
  auto first = d.on_events(
      events({ev(1, "daemon", "trabouled", "start", ""), ev(2, "uplink", "fiber", "down", "P1")}),
      {}, problems);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->empty());  // history is not replayed at start
  EXPECT_EQ(d.last_seq(), 2u);
  EXPECT_EQ(d.since_s(), 1'796'620'345u);
  // The same records again (the `since` overlap) and new ones: only the new ones.
  const std::map<std::string, PathRow> paths = {{"fiber/hub", path("fiber/hub", PathState::kUp)}};
  auto next = d.on_events(
      events({ev(2, "uplink", "fiber", "down", "P1"), ev(4, "path", "fiber/hub", "up", ""),
              ev(3, "uplink", "fiber", "up", ""), ev(5, "sla", "realtime@4g", "violated", "P2"),
              ev(6, "site", "hub", "down", "P0")}),
      paths, problems);
  ASSERT_TRUE(next);
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ((*next)[0].kind, TrapKind::kIncidentCleared);  // seq 3 first: sorted by seq
  EXPECT_EQ((*next)[0].incident, "P1");                    // what it clears, learnt from history
  EXPECT_EQ((*next)[1].kind, TrapKind::kPathUp);
  EXPECT_EQ((*next)[1].path.uplink_index, 1001);
  EXPECT_EQ((*next)[1].path.state, PathState::kUp);
  EXPECT_EQ((*next)[2].kind, TrapKind::kIncident);
  EXPECT_EQ((*next)[2].incident, "P0");
  EXPECT_TRUE(problems.empty());
}

TEST(SnmpTraps, JournalAndSnapshotNotifyAPathChangeOnce) {
  TrapDecider d;
  Problems problems;
  d.on_events(events({}), {}, problems);
  EXPECT_TRUE(d.on_paths({path("fiber/hub", PathState::kUp)}).empty());  // first sight
  // The snapshot sees it first: one pathDown; the journal's record of it is then not repeated.
  auto s = d.on_paths({path("fiber/hub", PathState::kDown)});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].kind, TrapKind::kPathDown);
  EXPECT_EQ(s[0].seq, 0u);
  auto j = d.on_events(events({ev(7, "path", "fiber/hub", "down", "")}), {}, problems);
  EXPECT_TRUE(j->empty());
  // The journal first: pathUp from it, and the snapshot then has nothing to add.
  j = d.on_events(events({ev(8, "path", "fiber/hub", "up", "")}), {}, problems);
  ASSERT_EQ(j->size(), 1u);
  EXPECT_EQ((*j)[0].seq, 8u);
  EXPECT_EQ((*j)[0].path.target, "hub");
  EXPECT_EQ((*j)[0].path.uplink_index, 0);  // not in the snapshot: index unknown
  EXPECT_TRUE(d.on_paths({path("fiber/hub", PathState::kUp)}).empty());
  // A flap shorter than a poll: both records notified, in order.
  j = d.on_events(
      events({ev(9, "path", "fiber/hub", "down", ""), ev(10, "path", "fiber/hub", "up", "")}), {},
      problems);
  ASSERT_EQ(j->size(), 2u);
  EXPECT_EQ((*j)[0].kind, TrapKind::kPathDown);
  EXPECT_EQ((*j)[1].kind, TrapKind::kPathUp);
  EXPECT_TRUE(d.on_paths({path("fiber/hub", PathState::kUnknown)}).empty());
}

TEST(SnmpTraps, HostileRecordsAndJournalReset) {
  TrapDecider d;
  Problems problems;
  EXPECT_FALSE(d.on_events(json::parse("[]"), {}, problems));
  EXPECT_FALSE(d.on_events(json::parse(R"({"events": 5})"), {}, problems));
  d.on_events(events({ev(100, "daemon", "trabouled", "start", "")}), {}, problems);
  const json bad[] = {json(5),
                      json::object(),
                      json{{"seq", -1}, {"kind", "site"}, {"subject", "x"}},
                      json{{"seq", "7"}, {"kind", "site"}, {"subject", "x"}},
                      json{{"seq", 101.5}, {"kind", "site"}, {"subject", "x"}},
                      json{{"seq", 102}, {"kind", 1}, {"subject", "x"}}};
  for (const json& b : bad) {
    Problems p;
    auto out = d.on_events(events({b}), {}, p);
    ASSERT_TRUE(out);
    EXPECT_TRUE(out->empty());
    EXPECT_EQ(p.size(), 1u) << b.dump();
  }
  // Strings are cleaned; unknown incident classes and paths without a slash trap nothing.
  json odd = ev(103, "site", "hub\x01", "down", "P0");
  odd["text"] = std::string(600, 'x');
  auto out = d.on_events(
      events({odd, ev(104, "path", "nopath", "down", ""), ev(105, "uplink", "x", "down", "P9")}),
      {}, problems);
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].subject, "hub?");
  EXPECT_EQ((*out)[0].text.size(), 255u);
  EXPECT_EQ((*out)[1].kind, TrapKind::kPathDown);
  EXPECT_EQ((*out)[1].path.target, "");
  // The journal started again (state dir replaced): its records count as new.
  problems.clear();
  out = d.on_events(events({ev(1, "uplink", "fiber", "down", "P1")}), {}, problems);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ(d.last_seq(), 1u);
  EXPECT_EQ(problems.size(), 1u);
}

TEST(SnmpLog, RateLimit) {
  RateLimit r(60);
  uint64_t held = 99;
  EXPECT_TRUE(r.allow(0, held));
  EXPECT_EQ(held, 0u);
  EXPECT_FALSE(r.allow(1, held));
  EXPECT_FALSE(r.allow(59, held));
  EXPECT_TRUE(r.allow(60.5, held));
  EXPECT_EQ(held, 2u);
  EXPECT_TRUE(r.allow(10, held));  // the clock went back: not stuck for ever
}

}  // namespace
}  // namespace traboule::snmp

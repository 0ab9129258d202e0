// SPDX-License-Identifier: Apache-2.0
// The policy language: examples are valid, every case of policies/invalid/ gives exactly its
// errors, each semantic check refuses its hostile rows naming the field, compiled snapshots
// carry the right indexes/masks/ports/prefixes, hashes ignore key order and whitespace.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "controlplane/policy/app_catalog.h"
#include "controlplane/policy/policy.h"

namespace traboule::cp {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kPolicies = fs::path(TRABOULE_SOURCE_DIR) / "policies";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Examples and invalid cases are checked against the uplinks they declare: a policy is written
// for one box, and its uplinks section names that box's uplinks.
SiteFacts facts_of(const json& doc) {
  SiteFacts s;
  if (doc.is_object() && doc.contains("uplinks") && doc["uplinks"].is_array())
    for (auto& u : doc["uplinks"])
      if (u.is_object() && u.contains("name") && u["name"].is_string())
        s.uplink_names.push_back(u["name"].get<std::string>());
  if (doc.is_object() && doc.contains("role") && doc["role"].is_string())
    s.role = doc["role"].get<std::string>();
  return s;
}

std::string line_of(const PolicyError& e) {
  return e.pointer + "\t" + e.value + "\t" + e.message;
}

// ---------------------------------------------------------------- examples and invalid cases

TEST(PolicyExamples, EveryExampleIsValidAndCompiles) {
  auto files = files_in(kPolicies / "examples", ".json");
  ASSERT_GE(files.size(), 5u);
  for (auto& f : files) {
    SCOPED_TRACE(f.filename().string());
    json doc;
    std::vector<PolicyError> errors;
    ASSERT_TRUE(parse_policy_text(read_text(f), doc, errors)) << to_json(errors).dump(2);
    SiteFacts site = facts_of(doc);
    auto compiled = compile_policy(doc, site, 7, errors);
    ASSERT_NE(compiled, nullptr) << to_json(errors).dump(2);
    EXPECT_TRUE(errors.empty());
    const auto& snap = *compiled->snapshot;
    EXPECT_EQ(snap.version, 7u);
    EXPECT_EQ(snap.hash, compiled->hash);
    EXPECT_EQ(snap.uplinks.size(), site.uplink_names.size());
    for (size_t i = 0; i < snap.uplinks.size(); ++i)
      EXPECT_EQ(snap.uplinks[i].name, site.uplink_names[i]);
    ASSERT_EQ(snap.rules.size(), doc["rules"].size());
    for (auto& r : snap.rules) {
      for (uint8_t u : r.action.uplinks) EXPECT_LT(u, snap.uplinks.size()) << r.name;
      if (r.action.egress != dp::Egress::kDrop) {
        EXPECT_FALSE(r.action.uplinks.empty()) << r.name;
      }
      EXPECT_TRUE(r.action.qos_class == dp::kNoClass ||
                  r.action.qos_class < snap.qos_classes.size());
      EXPECT_TRUE(r.action.sla_class == dp::kNoClass ||
                  r.action.sla_class < snap.sla_classes.size());
    }
    const auto& last = snap.rules.back().match;
    EXPECT_TRUE(last.src.empty() && last.dst.empty() && last.apps.empty() &&
                last.categories.empty() && last.proto == 0 && last.dscp_mask == 0 && last.vlan < 0)
        << "the last rule is the default";
  }
}

// The town hall's firewall compiles to what the data plane reads: segments for the source
// check, the forward on fiber's index, the rules in order and the flood limits it sets.
TEST(PolicyExamples, TownHallFirewallCompiles) {
  json doc;
  std::vector<PolicyError> errors;
  ASSERT_TRUE(parse_policy_text(read_text(kPolicies / "examples" / "town-hall.json"), doc, errors));
  SiteFacts site = facts_of(doc);
  auto compiled = compile_policy(doc, site, 1, errors);
  ASSERT_NE(compiled, nullptr) << to_json(errors).dump(2);
  const dp::FirewallPolicy& fw = compiled->snapshot->firewall;
  EXPECT_EQ(fw.lan_source, dp::SourceCheck::kStrict);
  ASSERT_EQ(fw.segments.size(), 3u);
  EXPECT_EQ(fw.segments[0].name, "services");
  EXPECT_EQ(fw.segments[0].vlan, 100);
  ASSERT_EQ(fw.forwards.size(), 1u);
  EXPECT_EQ(fw.forwards[0].uplink, 0u);
  EXPECT_EQ(fw.forwards[0].proto, 6u);
  EXPECT_EQ(fw.forwards[0].port, 443u);
  EXPECT_EQ(fw.forwards[0].to.str(), "10.30.0.20");
  ASSERT_EQ(fw.rules.size(), 2u);
  EXPECT_EQ(fw.rules[0].from, dp::Zone::kOverlay);
  EXPECT_EQ(fw.rules[0].to_segment, 0);
  EXPECT_EQ(fw.rules[1].action, dp::FwAction::kDeny);
  EXPECT_EQ(fw.rules[1].to_segment, 1);
  EXPECT_EQ(fw.flood.new_per_destination, 200u);
  EXPECT_EQ(fw.flood.new_per_source, 100u) << "the default where the policy is silent";
  EXPECT_EQ(fw.flood.wan_share_percent, 25u);
}

// Each policies/invalid/NAME.json comes with NAME.errors: the exact errors, one per line,
// "pointer<TAB>value<TAB>message". An optional NAME.site ({"uplinks": [...], "role": ...})
// replaces the box facts derived from the policy's own uplinks. TRABOULE_BLESS=1 rewrites the
// .errors files from the current output (review the diff before committing).
TEST(PolicyInvalid, EveryCaseGivesExactlyItsErrors) {
  auto files = files_in(kPolicies / "invalid", ".json");
  EXPECT_GE(files.size(), 25u);
  const bool bless = std::getenv("TRABOULE_BLESS") != nullptr;
  for (auto& f : files) {
    SCOPED_TRACE(f.filename().string());
    json doc;
    std::vector<PolicyError> errors;
    if (parse_policy_text(read_text(f), doc, errors)) {
      SiteFacts site = facts_of(doc);
      fs::path site_file = fs::path(f).replace_extension(".site");
      if (fs::exists(site_file)) {
        json s = json::parse(read_text(site_file));
        site.uplink_names = s.at("uplinks").get<std::vector<std::string>>();
        site.role = s.value("role", "edge");
      }
      errors = validate_policy(doc, site);
      std::vector<PolicyError> again;
      EXPECT_EQ(compile_policy(doc, site, 1, again), nullptr);
      EXPECT_EQ(again, errors) << "compile reports what validate reports";
    }
    std::vector<std::string> got;
    for (auto& e : errors) got.push_back(line_of(e));
    fs::path expected_file = fs::path(f).replace_extension(".errors");
    if (bless) {
      std::ofstream out(expected_file);
      for (auto& l : got) out << l << "\n";
      continue;
    }
    ASSERT_TRUE(fs::exists(expected_file)) << "missing " << expected_file;
    std::vector<std::string> want;
    std::istringstream in(read_text(expected_file));
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) want.push_back(l);
    EXPECT_FALSE(want.empty()) << "an invalid case expects at least one error";
    EXPECT_EQ(got, want);
  }
}

// ---------------------------------------------------------------- hostile rows, one per check

json base() {
  return json::parse(R"({
    "version": 1,
    "uplinks": [
      {"name": "fiber", "kind": "fiber", "up_kbps": 100000, "down_kbps": 500000, "cost": 10},
      {"name": "vdsl", "kind": "vdsl", "cost": 5},
      {"name": "lte", "kind": "4g", "role": "backup", "cost": 50, "monthly_cap_mb": 1000, "breakout": false}
    ],
    "peers": [{"name": "hub", "endpoints": ["203.0.113.1", "2001:db8::1"], "port": 4500}],
    "segments": [{"name": "staff", "vlan": 10, "prefixes": ["10.1.0.0/16"]}],
    "sla_classes": [{"name": "realtime", "max_latency_ms": 50, "max_jitter_ms": 10, "max_loss_percent": 1}],
    "qos_classes": [{"name": "voice", "priority": 0, "dscp": "ef", "critical": true, "max_rate_kbps": 2000},
                    {"name": "bulk", "priority": 3, "weight": 2, "min_rate_kbps": 100}],
    "applications": [{"name": "erp", "category": "business", "prefixes": ["192.0.2.0/24"],
                      "ports": [443, "8000-8099"], "proto": "tcp", "domains": ["*.erp.example.org"]}],
    "rules": [
      {"name": "voice", "match": {"applications": ["sip", "rtp"]},
       "action": {"egress": "overlay", "strategy": "duplicate", "uplinks": ["fiber", "vdsl"],
                  "qos_class": "voice", "sla_class": "realtime", "fallback": "best-available"}},
      {"name": "erp", "match": {"applications": ["erp"], "segment": "staff"},
       "action": {"egress": "overlay", "uplinks": ["fiber", "vdsl", "lte"]}},
      {"name": "web", "match": {"proto": "tcp", "dst_ports": [80, 443], "dst_prefixes": ["0.0.0.0/0"]},
       "action": {"egress": "breakout", "strategy": "load-balance", "uplinks": ["fiber", "vdsl"],
                  "weights": [3, 1], "qos_class": "bulk"}},
      {"name": "marked", "match": {"dscp": ["ef", "af41", 0], "vlan": 20},
       "action": {"egress": "overlay", "strategy": "lowest-cost", "uplinks": ["fiber", "lte", "vdsl"]}},
      {"name": "default", "action": {"egress": "overlay"}}
    ],
    "probes": {"interval_ms": 50},
    "breakout_targets": [{"name": "web", "method": "http-head", "host": "www.example.org"}]
  })");
}

SiteFacts base_site() {
  return SiteFacts{{"fiber", "vdsl", "lte"}, "edge"};
}

TEST(PolicyValidate, BaseDocumentIsValid) {
  auto errors = validate_policy(base(), base_site());
  EXPECT_TRUE(errors.empty()) << to_json(errors).dump(2);
}

struct HostileRow {
  const char* what;
  std::function<void(json&, SiteFacts&)> change;
  const char* pointer;  // of the one error expected
  const char* message;  // a substring of its message
};

void set(json& j, const char* ptr, json v) {
  j[json::json_pointer(ptr)] = std::move(v);
}
void erase(json& j, const char* ptr) {
  json::json_pointer p(ptr);
  j[p.parent_pointer()].erase(p.back());
}

TEST(PolicyValidate, EachSemanticCheckRefusesItsHostileRow) {
  using S = SiteFacts;
  std::vector<HostileRow> rows = {
      // references
      {"unknown uplink", [](json& j, S&) { set(j, "/rules/1/action/uplinks/0", "fibre"); },
       "/rules/1/action/uplinks/0", "is not an uplink of this policy (did you mean \"fiber\"?)"},
      {"unknown qos class", [](json& j, S&) { set(j, "/rules/0/action/qos_class", "vocie"); },
       "/rules/0/action/qos_class", "is not a QoS class"},
      {"unknown sla class", [](json& j, S&) { set(j, "/rules/0/action/sla_class", "gold"); },
       "/rules/0/action/sla_class", "is not an SLA class (known: realtime)"},
      {"unknown application", [](json& j, S&) { set(j, "/rules/0/match/applications/1", "rtsp"); },
       "/rules/0/match/applications/1", "is not a built-in or custom application"},
      {"unknown category",
       [](json& j, S&) {
         set(j, "/rules/3/match", {{"categories", {"video"}}});
       },
       "/rules/3/match/categories/0", "is not a category"},
      {"unknown segment", [](json& j, S&) { set(j, "/rules/1/match/segment", "pupils"); },
       "/rules/1/match/segment", "is not a segment (known: staff)"},
      // names
      {"duplicate uplink",
       [](json& j, S&) {
         j["uplinks"].push_back({{"name", "vdsl"}, {"kind", "adsl"}});
       },
       "/uplinks/3/name", "is already the name of uplink 1"},
      {"duplicate rule", [](json& j, S&) { set(j, "/rules/2/name", "voice"); }, "/rules/2/name",
       "is already the name of rule 0"},
      {"duplicate sla class",
       [](json& j, S&) {
         j["sla_classes"].push_back({{"name", "realtime"}, {"max_loss_percent", 2}});
       },
       "/sla_classes/1/name", "is already the name of SLA class 0"},
      {"duplicate qos class",
       [](json& j, S&) {
         j["qos_classes"].push_back({{"name", "voice"}, {"priority", 1}});
       },
       "/qos_classes/2/name", "is already the name of QoS class 0"},
      {"duplicate segment",
       [](json& j, S&) {
         j["segments"].push_back({{"name", "staff"}, {"vlan", 11}});
       },
       "/segments/1/name", "is already the name of segment 0"},
      {"duplicate peer",
       [](json& j, S&) {
         j["peers"].push_back({{"name", "hub"}, {"endpoints", {"198.51.100.1"}}, {"port", 1}});
       },
       "/peers/1/name", "is already the name of peer 0"},
      {"custom app named like a built-in",
       [](json& j, S&) {
         set(j, "/applications/0/name", "zoom");
         set(j, "/rules/1/match/applications/0", "webex");
       },
       "/applications/0/name", "is a built-in application"},
      {"custom app in an unknown category",
       [](json& j, S&) { set(j, "/applications/0/category", "buisness"); },
       "/applications/0/category", "is not a category (did you mean \"business\"?)"},
      {"custom app recognised by nothing",
       [](json& j, S&) {
         for (auto* k : {"prefixes", "ports", "proto", "domains"}) j["applications"][0].erase(k);
       },
       "/applications/0", "needs domains, prefixes or ports"},
      {"custom app ports with icmp", [](json& j, S&) { set(j, "/applications/0/proto", "icmp"); },
       "/applications/0/ports", "needs proto tcp or udp"},
      {"domain under a wildcard",
       [](json& j, S&) { j["applications"][0]["domains"].push_back("a.erp.example.org"); },
       "/applications/0/domains/1", "is already covered by \"*.erp.example.org\""},
      // prefixes and ports
      {"prefix with host bits",
       [](json& j, S&) { set(j, "/rules/2/match/dst_prefixes/0", "10.0.0.1/8"); },
       "/rules/2/match/dst_prefixes/0", "has host bits set (did you mean \"10.0.0.0/8\"?)"},
      {"prefix out of range",
       [](json& j, S&) { set(j, "/rules/2/match/dst_prefixes/0", "300.0.0.0/8"); },
       "/rules/2/match/dst_prefixes/0", "is not an IPv4 or IPv6 prefix"},
      {"prefix length out of range",
       [](json& j, S&) { set(j, "/segments/0/prefixes/0", "10.1.0.0/40"); },
       "/segments/0/prefixes/0", "is not an IPv4 or IPv6 prefix"},
      {"prefix inside another",
       [](json& j, S&) { j["applications"][0]["prefixes"].push_back("192.0.2.128/25"); },
       "/applications/0/prefixes/1", "lies inside \"192.0.2.0/24\""},
      {"port range reversed", [](json& j, S&) { set(j, "/rules/2/match/dst_ports/1", "443-80"); },
       "/rules/2/match/dst_ports/1", "is a range whose start is above its end"},
      {"port above 65535", [](json& j, S&) { set(j, "/applications/0/ports/1", "8000-65536"); },
       "/applications/0/ports/1", "must be a port 0-65535"},
      {"ports overlap", [](json& j, S&) { j["applications"][0]["ports"].push_back(8050); },
       "/applications/0/ports/2", "overlaps 8000-8099"},
      {"ports without proto", [](json& j, S&) { erase(j, "/rules/2/match/proto"); },
       "/rules/2/match/dst_ports", "needs \"proto\": \"tcp\" or \"udp\""},
      {"ports with gre", [](json& j, S&) { set(j, "/rules/2/match/proto", "gre"); },
       "/rules/2/match/dst_ports", "needs \"proto\": \"tcp\" or \"udp\""},
      {"dscp twice by name and number",
       [](json& j, S&) { j["rules"][3]["match"]["dscp"].push_back(46); }, "/rules/3/match/dscp/3",
       "is listed twice (DSCP 46)"},
      {"families cannot meet",
       [](json& j, S&) { set(j, "/rules/2/match/src_prefixes", {"2001:db8::/32"}); },
       "/rules/2/match", "matches no packet"},
      {"icmp towards IPv6",
       [](json& j, S&) {
         set(j, "/rules/3/match", {{"proto", "icmp"}, {"dst_prefixes", {"2001:db8::/32"}}});
       },
       "/rules/3/match/proto", "use icmpv6"},
      {"application outside listed categories",
       [](json& j, S&) {
         set(j, "/rules/0/match",
             {{"applications", {"sip", "youtube"}}, {"categories", {"streaming"}}});
       },
       "/rules/0/match/applications/0", "is in no category listed in categories"},
      {"suite member after its suite",
       [](json& j, S&) {
         set(j, "/rules/3/match", {{"applications", {"google-workspace", "gmail"}}});
       },
       "/rules/3/match/applications/1", "is part of \"google-workspace\""},
      // rules order
      {"shadowed by a category",
       [](json& j, S&) {
         j["rules"].insert(j["rules"].begin(), json{{"name", "voip"},
                                                    {"match", {{"categories", {"voip"}}}},
                                                    {"action", {{"egress", "overlay"}}}});
       },
       "/rules/1/match", "can never match: rule 0 (\"voip\")"},
      {"shadowed by a port range union",
       [](json& j, S&) {
         j["rules"].insert(j["rules"].begin(),
                           json{{"name", "low"},
                                {"match", {{"proto", "tcp"}, {"dst_ports", {"0-99", "100-1023"}}}},
                                {"action", {{"egress", "overlay"}}}});
       },
       "/rules/3/match", "can never match: rule 0 (\"low\")"},
      {"shadowed by the same match",
       [](json& j, S&) {
         j["rules"].insert(j["rules"].begin() + 3, j["rules"][2]);
         set(j, "/rules/3/name", "web2");
       },
       "/rules/3/match", "can never match: rule 2 (\"web\")"},
      {"shadowed by a wider DSCP set",
       [](json& j, S&) {
         j["rules"].insert(j["rules"].begin() + 3, json{{"name", "marked-all"},
                                                        {"match", {{"dscp", {0, 34, 46, 8}}}},
                                                        {"action", {{"egress", "overlay"}}}});
       },
       "/rules/4/match", "can never match: rule 3 (\"marked-all\")"},
      {"default rule not last", [](json& j, S&) { erase(j, "/rules/3/match"); }, "/rules/3",
       "is a default rule (no match) before the last rule"},
      {"default rule missing",
       [](json& j, S&) {
         set(j, "/rules/4/match", {{"vlan", 30}});
       },
       "/rules/4/match", "the last rule must be the default rule"},
      // strategies
      {"weights do not match the uplinks",
       [](json& j, S&) { j["rules"][2]["action"]["weights"].push_back(1); },
       "/rules/2/action/weights", "has 3 weights for 2 uplinks"},
      {"weights sum to zero",
       [](json& j, S&) {
         set(j, "/rules/2/action/weights", {0, 0});
       },
       "/rules/2/action/weights", "sum to 0"},
      {"weights on priority", [](json& j, S&) { set(j, "/rules/2/action/strategy", "priority"); },
       "/rules/2/action/weights", "applies only to strategy load-balance"},
      {"weights without an uplink list", [](json& j, S&) { erase(j, "/rules/2/action/uplinks"); },
       "/rules/2/action/weights", "needs an explicit uplinks list"},
      {"duplicate on one uplink", [](json& j, S&) { set(j, "/rules/0/action/uplinks", {"fiber"}); },
       "/rules/0/action/uplinks", "duplicate needs at least 2 uplinks"},
      {"duplicate to the internet",
       [](json& j, S&) {
         set(j, "/rules/0/action/egress", "breakout");
         set(j, "/rules/0/action/uplinks", {"fiber", "vdsl"});
       },
       "/rules/0/action/strategy", "duplicate needs egress overlay"},
      {"duplicate without a hub", [](json& j, S&) { erase(j, "/peers"); },
       "/rules/0/action/strategy", "the policy has no peers"},
      {"best-quality over one uplink",
       [](json& j, S&) {
         set(j, "/rules/1/action",
             {{"egress", "overlay"}, {"strategy", "best-quality"}, {"uplinks", {"vdsl"}}});
       },
       "/rules/1/action/uplinks", "best-quality chooses among uplinks"},
      {"uplink listed twice", [](json& j, S&) { set(j, "/rules/1/action/uplinks/1", "fiber"); },
       "/rules/1/action/uplinks/1", "is listed twice"},
      {"backup before a primary",
       [](json& j, S&) {
         set(j, "/rules/1/action/uplinks", {"lte", "fiber"});
       },
       "/rules/1/action/uplinks", "puts backup uplink \"lte\" before primary uplink \"fiber\""},
      {"breakout on an uplink that may not",
       [](json& j, S&) {
         set(j, "/rules/2/action", {{"egress", "breakout"}, {"uplinks", {"fiber", "lte"}}});
       },
       "/rules/2/action/uplinks/1", "does not allow breakout"},
      {"breakout with no uplink allowing it",
       [](json& j, S&) {
         for (auto& u : j["uplinks"]) u["breakout"] = false;
         erase(j, "/breakout_targets");
         set(j, "/rules/2/action", {{"egress", "breakout"}});
       },
       "/rules/2/action/egress", "no uplink of the policy allows breakout"},
      {"drop with an uplink list", [](json& j, S&) { set(j, "/rules/1/action/egress", "drop"); },
       "/rules/1/action/uplinks", "has no effect when egress is drop"},
      {"fallback without sla class", [](json& j, S&) { erase(j, "/rules/0/action/sla_class"); },
       "/rules/0/action/fallback", "has no effect without sla_class"},
      // classes
      {"SLA class without bounds",
       [](json& j, S&) {
         set(j, "/sla_classes/0", {{"name", "realtime"}});
       },
       "/sla_classes/0", "sets no bound"},
      {"SLA latency beyond the probe timeout",
       [](json& j, S&) { set(j, "/sla_classes/0/max_latency_ms", 600); },
       "/sla_classes/0/max_latency_ms", "longer than probes.timeout_ms (1000 ms)"},
      {"SLA loss finer than a ppm",
       [](json& j, S&) { set(j, "/sla_classes/0/max_loss_percent", 0.12345678); },
       "/sla_classes/0/max_loss_percent", "has more precision than 0.0001 %"},
      {"QoS guarantee above the cap",
       [](json& j, S&) { set(j, "/qos_classes/0/min_rate_kbps", 5000); },
       "/qos_classes/0/min_rate_kbps", "is above max_rate_kbps (2000)"},
      {"probe window shorter than down_after",
       [](json& j, S&) {
         set(j, "/probes/window", 10);
         set(j, "/probes/down_after", 11);
       },
       "/probes/window", "is shorter than down_after (11)"},
      // segments
      {"segment with vlan in the rule too", [](json& j, S&) { set(j, "/rules/1/match/vlan", 10); },
       "/rules/1/match/vlan", "cannot be given with segment"},
      {"source outside the segment",
       [](json& j, S&) { set(j, "/rules/1/match/src_prefixes", {"10.2.0.0/24"}); },
       "/rules/1/match/src_prefixes/0", "lies outside segment \"staff\"'s prefixes"},
      {"segment holding nothing",
       [](json& j, S&) {
         j["segments"].push_back({{"name", "void"}});
       },
       "/segments/1", "needs a vlan, prefixes or both"},
      {"two segments on one vlan",
       [](json& j, S&) {
         j["segments"].push_back({{"name", "guests"}, {"vlan", 10}});
       },
       "/segments/1/vlan", "is already the VLAN of segment \"staff\""},
      {"segments overlapping",
       [](json& j, S&) {
         j["segments"].push_back({{"name", "guests"}, {"prefixes", {"10.1.8.0/24"}}});
       },
       "/segments/1/prefixes/0", "a host would belong to two segments"},
      // the box
      {"uplink the box does not have",
       [](json&, S& s) {
         s.uplink_names = {"fiber", "vdsl", "lte", "sat"};
       },
       "/uplinks", "does not describe uplink \"sat\" of this box"},
      {"policy uplink unknown to the box",
       [](json&, S& s) {
         s.uplink_names = {"fiber", "vdsl"};
       },
       "/uplinks/2/name", "the box has no uplink of this name (its uplinks: fiber, vdsl)"},
      {"every uplink a backup",
       [](json& j, S&) {
         for (auto& u : j["uplinks"]) u["role"] = "backup";
         set(j, "/rules/1/action/uplinks", {"fiber", "lte", "vdsl"});
       },
       "/uplinks", "has no primary uplink"},
      {"policy for a hub on an edge", [](json& j, S&) { set(j, "/role", "hub"); }, "/role",
       "this box is an edge and the policy is for a hub"},
      {"hub listing peers",
       [](json& j, S& s) {
         set(j, "/role", "hub");
         s.role = "hub";
       },
       "/peers", "a hub does not list peers"},
      // addresses
      {"hub endpoint on loopback", [](json& j, S&) { set(j, "/peers/0/endpoints/1", "::1"); },
       "/peers/0/endpoints/1", "cannot be a hub's address: loopback"},
      {"hub endpoint twice", [](json& j, S&) { set(j, "/peers/0/endpoints/1", "203.0.113.1"); },
       "/peers/0/endpoints/1", "is already an endpoint"},
      {"breakout target link-local",
       [](json& j, S&) { set(j, "/breakout_targets/0/host", "169.254.1.1"); },
       "/breakout_targets/0/host", "is not an internet address: link-local"},
      {"breakout target single label",
       [](json& j, S&) { set(j, "/breakout_targets/0/host", "router"); },
       "/breakout_targets/0/host", "must be a fully qualified host name"},
      {"breakout target tcp without port",
       [](json& j, S&) { set(j, "/breakout_targets/0/method", "tcp"); }, "/breakout_targets/0/port",
       "is required for method tcp"},
      {"breakout target icmp with port",
       [](json& j, S&) {
         set(j, "/breakout_targets/0/method", "icmp");
         set(j, "/breakout_targets/0/port", 80);
       },
       "/breakout_targets/0/port", "has no meaning for method icmp"},
  };
  for (auto& r : rows) {
    json doc = base();
    SiteFacts site = base_site();
    r.change(doc, site);
    auto errors = validate_policy(doc, site);
    ASSERT_EQ(errors.size(), 1u) << r.what << "\n" << to_json(errors).dump(2);
    EXPECT_EQ(errors[0].pointer, r.pointer) << r.what;
    EXPECT_NE(errors[0].message.find(r.message), std::string::npos)
        << r.what << "\n  got:      " << errors[0].message << "\n  expected: " << r.message;
    std::vector<PolicyError> again;
    EXPECT_EQ(compile_policy(doc, site, 1, again), nullptr) << r.what;
  }
}

// Documents that are wrong everywhere: every layer must survive them.
TEST(PolicyValidate, BrokenDocumentsNeverCrashAndAlwaysExplain) {
  std::vector<json> docs = {
      nullptr,
      1,
      "policy",
      json::array(),
      json::object(),
      {{"version", 1}, {"uplinks", 5}, {"rules", "all"}},
      {{"version", 1}, {"uplinks", {1, "fiber", nullptr}}, {"rules", {nullptr, 3, json::array()}}},
      {{"version", 1},
       {"uplinks", {{{"name", 7}}}},
       {"rules", {{{"name", "r"}, {"match", 3}, {"action", {{"egress", 4}, {"uplinks", {1}}}}}}}},
      {{"version", 1},
       {"uplinks", {{{"name", "f"}, {"kind", "fiber"}}}},
       {"sla_classes", {{{"name", std::string(100000, 'a')}}}},
       {"rules", {{{"name", std::string(200000, 'b')}, {"action", {{"egress", "overlay"}}}}}}},
  };
  json deep = 1;
  for (int i = 0; i < 200; ++i) deep = json::array({deep});
  docs.push_back({{"version", 1}, {"rules", deep}});
  for (auto& d : docs) {
    SCOPED_TRACE(d.dump().substr(0, 100));
    auto errors = validate_policy(d, base_site());
    ASSERT_FALSE(errors.empty());
    for (auto& e : errors) {
      EXPECT_FALSE(e.message.empty());
      EXPECT_LE(e.value.size(), 84u) << "values are shortened";
    }
    EXPECT_NO_THROW(to_json(errors).dump());
  }
  auto long_name = validate_policy(docs.back().is_null() ? json() : docs[8], base_site());
  bool said = false;
  for (auto& e : long_name)
    said =
        said || (e.pointer == "/rules/0/name" && e.message == "must be at most 32 characters long");
  EXPECT_TRUE(said) << to_json(long_name).dump(2);
}

TEST(PolicyValidate, ErrorsAreCappedWithACount) {
  json doc = base();
  for (int i = 0; i < 300; ++i)
    doc["rules"].insert(doc["rules"].begin(),
                        json{{"name", "r" + std::to_string(i)}, {"action", {{"egress", "warp"}}}});
  auto errors = validate_policy(doc, base_site());
  ASSERT_EQ(errors.size(), 201u);
  EXPECT_EQ(errors.back().pointer, "");
  EXPECT_NE(errors.back().message.find("more errors not shown"), std::string::npos);
}

TEST(PolicyValidate, ErrorTextForms) {
  PolicyError e{"/rules/2/action/uplinks/0", "\"fibre\"", "unknown uplink"};
  EXPECT_EQ(to_string(e), "/rules/2/action/uplinks/0: \"fibre\": unknown uplink");
  EXPECT_EQ(to_string(PolicyError{"", "", "not valid JSON"}), "/: not valid JSON");
  EXPECT_EQ(to_string(PolicyError{"/rules", "", "is required"}), "/rules: is required");
  json j = to_json({e});
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["pointer"], e.pointer);
  EXPECT_EQ(j[0]["value"], e.value);
  EXPECT_EQ(j[0]["message"], e.message);
}

// ---------------------------------------------------------------- parsing

TEST(PolicyParse, SyntaxErrorsGiveTheByteOffset) {
  struct Row {
    std::string text;
    std::string expect;
  };
  std::vector<Row> rows = {
      {"",
       "not valid JSON at byte 1 (line 1, column 1): syntax error while parsing value - unexpected "
       "end of input"},
      {"{\"version\": tru}", "not valid JSON at byte 16 (line 1, column 16)"},
      {"{\"version\": 1,\n \"rules\": [}", "at byte 27 (line 2, column 12)"},
      {"{} x", "at byte 4 (line 1, column 4)"},
      {"{\"name\": \"\xff\"}", "invalid string: ill-formed UTF-8 byte"},
      {"{\"version\": 1, \"cost\": 1" + std::string(400, '0') + "}",
       "not valid JSON at byte 24: number 1000000000"},
  };
  for (auto& r : rows) {
    json doc = 5;
    std::vector<PolicyError> errors;
    EXPECT_FALSE(parse_policy_text(r.text, doc, errors)) << r.text;
    ASSERT_EQ(errors.size(), 1u) << r.text;
    EXPECT_EQ(errors[0].pointer, "");
    EXPECT_NE(errors[0].message.find(r.expect), std::string::npos) << errors[0].message;
    EXPECT_TRUE(doc.is_null());
    EXPECT_NO_THROW(to_json(errors).dump()) << "messages stay valid UTF-8";
  }
}

TEST(PolicyParse, DuplicateKeysAreRefusedWithTheirPointer) {
  json doc;
  std::vector<PolicyError> errors;
  EXPECT_FALSE(parse_policy_text(
      R"({"rules": [{"name": "a"}, {"name": "b", "action": {"egress": "drop", "egress": "overlay"}}],
          "x": {"y": 1, "y": 2}, "rules": []})",
      doc, errors));
  std::vector<std::string> got;
  for (auto& e : errors) got.push_back(e.pointer);
  EXPECT_EQ(got, (std::vector<std::string>{"/rules/1/action/egress", "/x/y", "/rules"}));
}

TEST(PolicyParse, NestingIsBoundedBeforeParsing) {
  json doc;
  std::vector<PolicyError> errors;
  std::string ok_text = std::string(32, '[') + std::string(32, ']');
  EXPECT_TRUE(parse_policy_text(ok_text, doc, errors));
  std::string deep =
      "{\"a\": \"[[[[\", \"b\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_FALSE(parse_policy_text(deep, doc, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("nested deeper than 32 levels at byte 51"), std::string::npos)
      << errors[0].message << " (brackets inside strings do not count)";
}

// ---------------------------------------------------------------- compiling

TEST(PolicyCompile, IndexesFollowTheBoxNotThePolicyOrder) {
  SiteFacts site{{"lte", "fiber", "vdsl"}, "edge"};  // the box lists its uplinks differently
  std::vector<PolicyError> errors;
  auto c = compile_policy(base(), site, 42, errors);
  ASSERT_NE(c, nullptr) << to_json(errors).dump(2);
  const auto& s = *c->snapshot;
  EXPECT_EQ(s.version, 42u);
  ASSERT_EQ(s.uplinks.size(), 3u);
  EXPECT_EQ(s.uplinks[0].name, "lte");
  EXPECT_EQ(s.uplinks[0].kind, "4g");
  EXPECT_EQ(s.uplinks[0].role, dp::UplinkRole::kBackup);
  EXPECT_EQ(s.uplinks[0].monthly_cap_bytes, 1'000'000'000u);
  EXPECT_TRUE(s.uplinks[0].metered) << "a cap makes an uplink metered";
  EXPECT_FALSE(s.uplinks[0].breakout);
  EXPECT_EQ(s.uplinks[1].name, "fiber");
  EXPECT_EQ(s.uplinks[1].up_bps, 100'000'000u);
  EXPECT_EQ(s.uplinks[1].down_bps, 500'000'000u);
  EXPECT_EQ(s.uplinks[1].cost, 10u);
  EXPECT_TRUE(s.uplinks[1].breakout);
  EXPECT_FALSE(s.uplinks[1].metered);
  EXPECT_EQ(s.uplinks[2].up_bps, 0u) << "absent bandwidth: unknown";

  ASSERT_EQ(s.rules.size(), 5u);
  const auto& voice = s.rules[0];
  EXPECT_EQ(voice.name, "voice");
  EXPECT_EQ(voice.match.apps, (std::vector<uint16_t>{find_app("sip")->id, find_app("rtp")->id}));
  EXPECT_EQ(voice.action.strategy, dp::PathStrategy::kDuplicate);
  EXPECT_EQ(voice.action.egress, dp::Egress::kOverlay);
  EXPECT_EQ(voice.action.uplinks, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(voice.action.qos_class, 0);
  EXPECT_EQ(voice.action.sla_class, 0);
  EXPECT_EQ(voice.action.fallback, dp::SlaFallback::kBestAvailable);

  const auto& erp = s.rules[1];
  EXPECT_EQ(erp.match.apps, (std::vector<uint16_t>{first_custom_app_id()}));
  EXPECT_EQ(erp.match.vlan, 10) << "the segment's VLAN";
  ASSERT_EQ(erp.match.src.size(), 1u);
  EXPECT_EQ(erp.match.src[0].str(), "10.1.0.0/16") << "the segment's prefixes";
  EXPECT_EQ(erp.action.uplinks, (std::vector<uint8_t>{1, 2, 0}));
  EXPECT_EQ(erp.action.qos_class, dp::kNoClass);
  EXPECT_EQ(erp.action.sla_class, dp::kNoClass);

  const auto& web = s.rules[2];
  EXPECT_EQ(web.match.proto, 6);
  ASSERT_EQ(web.match.dst_ports.size(), 2u);
  EXPECT_EQ(web.match.dst_ports[0].lo, 80);
  EXPECT_EQ(web.match.dst_ports[0].hi, 80);
  EXPECT_EQ(web.match.dst_ports[1].lo, 443);
  ASSERT_EQ(web.match.dst.size(), 1u);
  EXPECT_TRUE(web.match.dst[0].v4);
  EXPECT_EQ(web.match.dst[0].len, 96);
  EXPECT_EQ(web.action.egress, dp::Egress::kBreakout);
  EXPECT_EQ(web.action.strategy, dp::PathStrategy::kLoadBalance);
  EXPECT_EQ(web.action.uplinks, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(web.action.weights, (std::vector<uint16_t>{3, 1}));
  EXPECT_EQ(web.action.qos_class, 1);

  const auto& marked = s.rules[3];
  EXPECT_EQ(marked.match.dscp_mask, (uint64_t{1} << 46) | (uint64_t{1} << 34) | uint64_t{1});
  EXPECT_EQ(marked.match.vlan, 20);
  EXPECT_EQ(marked.action.strategy, dp::PathStrategy::kLowestCost);
  EXPECT_EQ(marked.action.uplinks, (std::vector<uint8_t>{2, 1, 0}))
      << "cheapest primary (vdsl 5, fiber 10) first, the backup last";

  const auto& dflt = s.rules[4];
  EXPECT_EQ(dflt.action.uplinks, (std::vector<uint8_t>{1, 2, 0}))
      << "no list: primaries in policy order, then backups";
  EXPECT_EQ(dflt.action.strategy, dp::PathStrategy::kPriority);

  ASSERT_EQ(s.sla_classes.size(), 1u);
  EXPECT_EQ(s.sla_classes[0].max_latency_us, 50'000u);
  EXPECT_EQ(s.sla_classes[0].max_jitter_us, 10'000u);
  EXPECT_EQ(s.sla_classes[0].max_loss_ppm, 10'000u);
  ASSERT_EQ(s.qos_classes.size(), 2u);
  EXPECT_EQ(s.qos_classes[0].dscp, 46);
  EXPECT_TRUE(s.qos_classes[0].critical);
  EXPECT_EQ(s.qos_classes[0].max_rate_bps, 2'000'000u);
  EXPECT_EQ(s.qos_classes[1].dscp, -1) << "absent: keep the packet's DSCP";
  EXPECT_EQ(s.qos_classes[1].priority, 3);
  EXPECT_EQ(s.qos_classes[1].weight, 2);
  EXPECT_EQ(s.qos_classes[1].min_rate_bps, 100'000u);

  ASSERT_EQ(s.apps.size(), builtin_apps().size() + 2) << "unknown, built-ins, the custom one";
  for (size_t i = 0; i < s.apps.size(); ++i) EXPECT_EQ(s.apps[i].id, i) << "indexed by id";
  EXPECT_TRUE(s.apps[0].name.empty());
  const dp::AppDef& custom = s.apps.back();
  EXPECT_TRUE(custom.custom);
  EXPECT_EQ(custom.name, "erp");
  EXPECT_EQ(custom.id, first_custom_app_id());
  EXPECT_EQ(custom.category_id, find_category("business")->id);
  EXPECT_EQ(custom.proto, 6);
  ASSERT_EQ(custom.ports.size(), 2u);
  EXPECT_EQ(custom.ports[1].lo, 8000);
  EXPECT_EQ(custom.ports[1].hi, 8099);
  ASSERT_EQ(custom.prefixes.size(), 1u);
  EXPECT_EQ(custom.prefixes[0].str(), "192.0.2.0/24");
  EXPECT_EQ(custom.domains, (std::vector<std::string>{"*.erp.example.org"}));

  EXPECT_EQ(c->probes.interval_ms, 50u);
  EXPECT_EQ(c->probes.port, 862);
  EXPECT_EQ(c->probes.timeout_ms, 1000u);
  EXPECT_EQ(c->probes.down_after, 5) << "default: 5 x 50 ms + 5 ms < 300 ms";
  EXPECT_EQ(c->probes.up_after, 5);
  EXPECT_EQ(c->probes.window, 200u);
  EXPECT_EQ(c->probes.metered_interval_ms, 1000u);
  ASSERT_EQ(c->peers.size(), 1u);
  ASSERT_EQ(c->peers[0].endpoints.size(), 2u);
  EXPECT_EQ(c->peers[0].endpoints[1].str(), "2001:db8::1");
  EXPECT_EQ(c->peers[0].port, 4500);
  ASSERT_EQ(c->breakout_targets.size(), 1u);
  EXPECT_EQ(c->breakout_targets[0].port, 80) << "http-head defaults to port 80";
  EXPECT_EQ(c->source, base());
}

TEST(PolicyCompile, SnapshotMatchesPacketsAsTheRulesSay) {
  std::vector<PolicyError> errors;
  auto c = compile_policy(base(), base_site(), 1, errors);
  ASSERT_NE(c, nullptr) << to_json(errors).dump(2);
  const auto& s = *c->snapshot;
  auto packet = [](const char* src, const char* dst, uint8_t proto, uint16_t dport, uint8_t dscp,
                   int vlan) {
    dp::PacketMeta m;
    m.src = *dp::IpAddr::parse(src);
    m.dst = *dp::IpAddr::parse(dst);
    m.l4_proto = proto;
    m.dst_port = dport;
    m.src_port = 40000;
    m.flags = dp::meta_flag::kHasL4;
    m.dscp = dscp;
    if (vlan >= 0) {
      m.vlan_count = 1;
      m.vlan_outer = static_cast<uint16_t>(vlan);
    }
    return m;
  };
  const uint16_t sip = find_app("sip")->id, erp = first_custom_app_id();
  struct Row {
    const char* what;
    dp::PacketMeta m;
    uint16_t app, category;
    uint16_t rule;
  };
  const uint16_t voip = find_category("voip")->id, business = find_category("business")->id;
  std::vector<Row> rows = {
      {"SIP recognised", packet("10.9.0.1", "198.51.100.7", 17, 5060, 0, -1), sip, voip, 0},
      {"ERP from staff", packet("10.1.2.3", "192.0.2.10", 6, 443, 0, 10), erp, business, 1},
      {"ERP from elsewhere: web", packet("10.9.2.3", "192.0.2.10", 6, 443, 0, -1), erp, business,
       2},
      {"HTTPS to the internet", packet("10.9.0.1", "8.8.8.8", 6, 443, 0, -1), 0, 0, 2},
      {"HTTPS over IPv6: not 0.0.0.0/0", packet("2001:db8::5", "2001:db8:1::1", 6, 443, 0, -1), 0,
       0, 4},
      {"EF on VLAN 20", packet("10.9.0.1", "8.8.8.8", 17, 4000, 46, 20), 0, 0, 3},
      {"EF on VLAN 21", packet("10.9.0.1", "8.8.8.8", 17, 4000, 46, 21), 0, 0, 4},
      {"anything else", packet("10.9.0.1", "8.8.4.4", 17, 53, 0, -1), 0, 0, 4},
  };
  for (auto& r : rows) EXPECT_EQ(s.match(r.m, r.app, r.category), r.rule) << r.what;
}

TEST(PolicyCompile, SuitesExpandToTheirMembers) {
  json doc = base();
  doc["rules"].insert(doc["rules"].begin(), json{{"name", "m365"},
                                                 {"match", {{"applications", {"microsoft365"}}}},
                                                 {"action", {{"egress", "breakout"}}}});
  std::vector<PolicyError> errors;
  auto c = compile_policy(doc, base_site(), 1, errors);
  ASSERT_NE(c, nullptr) << to_json(errors).dump(2);
  std::vector<uint16_t> want;
  for (auto* n : {"microsoft365", "outlook", "sharepoint", "onedrive", "teams"})
    want.push_back(find_app(n)->id);
  EXPECT_EQ(c->snapshot->rules[0].match.apps, want);
  EXPECT_EQ(c->snapshot->rules[0].action.uplinks, (std::vector<uint8_t>{0, 1}))
      << "breakout without a list: the primaries that allow it";
}

TEST(PolicyCompile, DefaultPolicyForwardsEverythingOnEveryBox) {
  for (SiteFacts site : {SiteFacts{{"fiber"}, "edge"}, SiteFacts{{"fiber", "vdsl", "lte"}, "edge"},
                         SiteFacts{{"transit-a", "transit-b"}, "hub"}}) {
    json doc = default_policy(site);
    std::vector<PolicyError> errors;
    auto c = compile_policy(doc, site, 0, errors);
    ASSERT_NE(c, nullptr) << to_json(errors).dump(2);
    const auto& s = *c->snapshot;
    ASSERT_EQ(s.rules.size(), 1u);
    EXPECT_EQ(s.rules[0].action.egress, dp::Egress::kOverlay);
    EXPECT_EQ(s.rules[0].action.strategy, dp::PathStrategy::kPriority);
    std::vector<uint8_t> all;
    for (size_t i = 0; i < site.uplink_names.size(); ++i) all.push_back(static_cast<uint8_t>(i));
    EXPECT_EQ(s.rules[0].action.uplinks, all) << "config order";
    for (auto& u : s.uplinks) EXPECT_EQ(u.role, dp::UplinkRole::kPrimary);
  }
  std::vector<PolicyError> errors;
  EXPECT_EQ(compile_policy(default_policy(SiteFacts{}), SiteFacts{}, 0, errors), nullptr);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].pointer, "/uplinks") << "a box without uplinks cannot forward";
}

// ---------------------------------------------------------------- hashing and diffs

TEST(PolicyHash, StableAcrossKeyOrderAndWhitespace) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char* a = R"({"version": 1, "rules": [{"name": "default", "action": {"egress": "overlay"}}],
                      "uplinks": [{"name": "fiber", "kind": "fiber"}]})";
  const char* b =
      "{\n  \"uplinks\" : [ { \"kind\":\"fiber\", \"name\":\"fiber\" } ],\n"
      "  \"rules\":[{\"action\":{\"egress\":\"overlay\"},\"name\":\"default\"}],\"version\":1}";
  json da, db;
  std::vector<PolicyError> errors;
  ASSERT_TRUE(parse_policy_text(a, da, errors));
  ASSERT_TRUE(parse_policy_text(b, db, errors));
  EXPECT_EQ(canonical_text(da), canonical_text(db));
  EXPECT_EQ(
      canonical_text(da),
      R"({"rules":[{"action":{"egress":"overlay"},"name":"default"}],"uplinks":[{"kind":"fiber","name":"fiber"}],"version":1})");
  SiteFacts site{{"fiber"}, "edge"};
  auto ca = compile_policy(da, site, 1, errors);
  auto cb = compile_policy(db, site, 2, errors);
  ASSERT_TRUE(ca && cb);
  EXPECT_EQ(ca->hash, cb->hash);
  EXPECT_EQ(ca->hash, sha256_hex(canonical_text(da)));
  EXPECT_EQ(ca->snapshot->hash, ca->hash);
  json dc = da;
  dc["rules"][0]["action"]["egress"] = "breakout";
  EXPECT_NE(sha256_hex(canonical_text(dc)), ca->hash);
  json reordered = da;
  reordered["uplinks"].push_back({{"name", "lte"}, {"kind", "4g"}});
  json swapped = reordered;
  std::swap(swapped["uplinks"][0], swapped["uplinks"][1]);
  EXPECT_NE(canonical_text(reordered), canonical_text(swapped)) << "array order is meaning";
}

TEST(PolicyDiff, PatchTurnsOneVersionIntoTheOther) {
  json from = base();
  json to = base();
  to["rules"][2]["action"]["weights"] = {1, 1};
  to["rules"].erase(3);
  to["name"] = "v2";
  json patch = policy_diff(from, to);
  ASSERT_TRUE(patch.is_array());
  EXPECT_EQ(from.patch(patch), to);
  bool saw_weight = false;
  for (auto& op : patch) saw_weight = saw_weight || op["path"] == "/rules/2/action/weights/0";
  EXPECT_TRUE(saw_weight) << patch.dump();
  EXPECT_EQ(policy_diff(from, from), json::array());
}

// ---------------------------------------------------------------- the catalog

TEST(PolicyCatalog, NamesAndIdsAreUniqueAndWellFormed) {
  std::set<uint16_t> ids;
  std::set<std::string> names;
  auto well_formed = [](std::string_view n) {
    if (n.empty() || n.front() == '-' || n.back() == '-' || n.size() > 32) return false;
    for (size_t i = 0; i < n.size(); ++i) {
      char c = n[i];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
      if (c == '-' && n[i - 1] == '-') return false;
    }
    return true;
  };
  for (auto& c : builtin_categories()) {
    EXPECT_TRUE(ids.insert(c.id).second) << c.name;
    EXPECT_TRUE(well_formed(c.name)) << c.name;
    EXPECT_EQ(find_category(c.name), &c);
  }
  ids.clear();
  uint16_t expect_id = 1;
  for (auto& a : builtin_apps()) {
    EXPECT_EQ(a.id, expect_id++) << a.name << ": ids are 1..N in order, without gaps";
    EXPECT_TRUE(ids.insert(a.id).second) << a.name;
    EXPECT_TRUE(names.insert(std::string(a.name)).second) << a.name;
    EXPECT_TRUE(well_formed(a.name)) << a.name;
    EXPECT_LT(a.id, first_custom_app_id());
    EXPECT_NE(a.id, dp::kAppUnknown);
    EXPECT_NE(find_category(a.category), nullptr) << a.name;
    if (!a.suite.empty()) {
      EXPECT_NE(find_app(a.suite), nullptr) << a.name;
    }
  }
  for (auto* required :
       {"teams",  "microsoft365", "outlook",        "sharepoint",   "onedrive", "google-workspace",
        "gmail",  "google-meet",  "google-drive",   "zoom",         "webex",    "sip",
        "rtp",    "dns",          "http",           "https",        "quic",     "ssh",
        "rdp",    "smb",          "windows-update", "apple-update", "backup",   "youtube",
        "netflix"})
    EXPECT_NE(find_app(required), nullptr) << required;
  EXPECT_EQ(find_app("Teams"), nullptr);
}

TEST(PolicyCatalog, DocsListEveryApplicationAndCategory) {
  std::string doc = read_text(fs::path(TRABOULE_SOURCE_DIR) / "docs" / "policy.md");
  for (auto& a : builtin_apps())
    EXPECT_NE(doc.find("`" + std::string(a.name) + "`"), std::string::npos) << a.name;
  for (auto& c : builtin_categories())
    EXPECT_NE(doc.find("`" + std::string(c.name) + "`"), std::string::npos) << c.name;
}

}  // namespace
}  // namespace traboule::cp

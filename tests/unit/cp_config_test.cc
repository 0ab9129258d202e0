// SPDX-License-Identifier: Apache-2.0
// Config loading: a valid file loads with the right values, and every bad field is rejected
// with one error naming its JSON pointer and the bad value.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "controlplane/agent/bootstrap.h"
#include "controlplane/config/config.h"

namespace traboule::cp {
namespace {

using json = nlohmann::json;

json valid() {
  return json::parse(R"({
    "eal": ["--no-huge"],
    "lan": {"device": "net_ring0", "mac": "02:00:00:00:00:01", "ipv4": "192.168.1.1/24"},
    "uplinks": [
      {"name": "fiber", "device": "net_ring1", "ipv4": "100.64.0.2/30",
       "gateway4": "100.64.0.1"},
      {"name": "lte", "device": "0000:03:00.0", "ipv6": "2001:db8::2/64",
       "gateway6": "2001:db8::1"}
    ],
    "state_dir": "/var/lib/traboule-test",
    "api": {"listen": "127.0.0.1", "port": 8443, "cert": "/etc/traboule/api.pem",
            "key": "/etc/traboule/api.key",
            "tokens": [{"name": "noc", "role": "operator",
                        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
                       {"name": "mairie", "role": "viewer",
                        "sha256": "60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752"}]}
  })");
}

TEST(ConfigLoad, ValidFileLoads) {
  AgentConfig c = parse_config(valid().dump());
  EXPECT_EQ(c.role, Role::kEdge);
  ASSERT_EQ(c.uplinks.size(), 2u);
  EXPECT_EQ(c.uplinks[0].gateway4->str(), "100.64.0.1");
  EXPECT_EQ(c.uplinks[0].port.ipv4->plen, 30);
  EXPECT_EQ(c.state_dir, "/var/lib/traboule-test");
  EXPECT_FALSE(c.policy_file.has_value());
  ASSERT_TRUE(c.api.enabled);
  ASSERT_EQ(c.api.tokens.size(), 2u);
  EXPECT_EQ(c.api.tokens[0].role, "operator");
  EXPECT_EQ(c.api.tokens[1].name, "mairie");
  ASSERT_EQ(c.lan.prefixes.size(), 1u);
  EXPECT_EQ(c.lan.prefixes[0].str(), "192.168.1.0/24");
}

TEST(ConfigLoad, EalArgumentsCarryDevicesMemoryAndLcores) {
  AgentConfig c = parse_config(valid().dump());
  auto a = eal_arguments(c, {0, 1});
  auto has = [&](const std::string& x, const std::string& y) {
    for (size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == x && a[i + 1] == y) return true;
    return false;
  };
  EXPECT_TRUE(has("--vdev", "net_ring0"));
  EXPECT_TRUE(has("--vdev", "net_ring1"));
  EXPECT_TRUE(has("-a", "0000:03:00.0"));
  EXPECT_TRUE(has("--lcores", "0@(0,1)"));
  json pinned = valid();
  pinned["eal"] = json::array({"--no-huge", "-l0-1"});
  auto p = eal_arguments(parse_config(pinned.dump()), {0, 1});
  EXPECT_EQ(std::find(p.begin(), p.end(), "--lcores"), p.end()) << "an attached -l counts as -l";
  EXPECT_NE(std::find(a.begin(), a.end(), "-m"), a.end()) << "--no-huge gets a memory size";

  // AF_PACKET devices get a bigger ring and one queue pair per worker unless they say otherwise.
  json j = valid();
  j["lan"]["device"] = "net_af_packet0,iface=veth0";
  j["uplinks"][0]["device"] = "net_af_packet1,iface=veth1,framecnt=1024,qpairs=2";
  j["dataplane"] = {{"workers", 2}};
  auto b = eal_arguments(parse_config(j.dump()), {0, 1});
  EXPECT_NE(std::find(b.begin(), b.end(), "net_af_packet0,iface=veth0,framecnt=4096,qpairs=2"),
            b.end());
  EXPECT_NE(std::find(b.begin(), b.end(), "net_af_packet1,iface=veth1,framecnt=1024,qpairs=2"),
            b.end());
}

struct BadRow {
  const char* what;
  const char* pointer;  // JSON pointer of the change (json_pointer syntax)
  json value;           // the new value; null with remove=true deletes the field
  const char* expect;   // expected substring of the error
  bool remove = false;
};

TEST(ConfigLoad, RejectsBadFieldsNamingThem) {
  std::vector<BadRow> rows = {
      {"unknown top field", "/uplink", json::array(), "/uplink: unknown field"},
      {"typo in uplink", "/uplinks/0/gatway4", "1.2.3.4", "/uplinks/0/gatway4: unknown field"},
      {"missing device", "/uplinks/0/device", nullptr, "/uplinks/0/device: is required", true},
      {"empty device", "/uplinks/0/device", "", "/uplinks/0/device: must be a non-empty string"},
      {"device with space", "/uplinks/0/device", "net_ring1 x",
       "/uplinks/0/device: must not contain spaces"},
      {"duplicate device", "/uplinks/0/device", "net_ring0", "/uplinks/0/device: is already used"},
      {"same vdev name, other args", "/lan/device", "net_ring1,nodeaction=x",
       "/uplinks/0/device: is already used"},
      {"bad ipv4", "/uplinks/0/ipv4", "100.64.0.300/30",
       "/uplinks/0/ipv4: must be an IPv4 address"},
      {"ipv4 without length", "/uplinks/0/ipv4", "100.64.0.2",
       "/uplinks/0/ipv4: must be an IPv4 address with prefix"},
      {"ipv6 in ipv4", "/uplinks/0/ipv4", "2001:db8::1/64", "/uplinks/0/ipv4: must be an IPv4"},
      {"bad gateway", "/uplinks/0/gateway4", "gateway",
       "/uplinks/0/gateway4: must be an IPv4 address (got \"gateway\")"},
      {"missing gateway", "/uplinks/0/gateway4", nullptr,
       "/uplinks/0/gateway4: is required when ipv4 is set", true},
      {"gateway6 without ipv6", "/uplinks/0/gateway6", "2001:db8::1",
       "/uplinks/0/ipv6: is required when gateway6"},
      {"duplicate name", "/uplinks/1/name", "fiber", "/uplinks/1/name: is used by another uplink"},
      {"reserved name", "/uplinks/0/name", "lan", "/uplinks/0/name: \"lan\" is reserved"},
      {"name with dot", "/uplinks/0/name", "fiber.1",
       "/uplinks/0/name: must be 1-32 letters, digits"},
      {"bad mac", "/lan/mac", "02:00:00:00:00", "/lan/mac: must be a MAC address"},
      {"lan without address", "/lan/ipv4", nullptr, "/lan/ipv4: an address is required", true},
      {"no uplinks", "/uplinks", json::array(),
       "/uplinks: must be an array of 1 to 4 uplinks (got 0 uplinks)"},
      {"uplinks not array", "/uplinks", "fiber", "/uplinks: must be an array"},
      {"workers zero", "/dataplane", json{{"workers", 0}},
       "/dataplane/workers: must be an integer in [1, 16]"},
      {"bad poll", "/dataplane", json{{"poll", "spin"}},
       "/dataplane/poll: must be one of adaptive, busy"},
      {"tiny flow table", "/flows", json{{"capacity", 10}},
       "/flows/capacity: must be an integer in [1024"},
      {"bad timeout", "/flows", json{{"timeouts", {{"udp", 0}}}},
       "/flows/timeouts/udp: must be an integer in [1"},
      {"behaviour in the config", "/uplinks/0/cost", 10, "/uplinks/0/cost: unknown field"},
      {"rules in the config", "/rules", json::array(), "/rules: unknown field"},
      {"empty state dir", "/state_dir", "", "/state_dir: must be a non-empty string"},
      {"policy not a string", "/policy", 3, "/policy: must be a non-empty string (got 3)"},
      {"api bad listen", "/api/listen", "localhost",
       "/api/listen: must be an IPv4 or IPv6 address (got \"localhost\")"},
      {"api port too big", "/api/port", 70000, "/api/port: must be an integer in [0, 65535]"},
      {"api without cert", "/api/cert", nullptr, "/api/cert: is required", true},
      {"api no tokens", "/api/tokens", json::array(), "/api/tokens: must be a non-empty array"},
      {"api token bad role", "/api/tokens/0/role", "admin",
       "/api/tokens/0/role: must be one of viewer, operator (got \"admin\")"},
      {"api token short hash", "/api/tokens/0/sha256", "abc",
       "/api/tokens/0/sha256: must be the 64 hex digits"},
      {"api token plain secret", "/api/tokens/0/sha256",
       "secret-token-secret-token-secret-token-secret-token-secret-tokenx",
       "/api/tokens/0/sha256: must be the 64 hex digits"},
      {"api duplicate token name", "/api/tokens/1/name", "noc",
       "/api/tokens/1/name: is used by another token"},
      {"api unknown field", "/api/password", "x", "/api/password: unknown field"},
      {"api zero rate", "/api/rate_per_s", 0, "/api/rate_per_s: must be an integer in [1"},
      {"api web view as text", "/api/web_view", "yes", "/api/web_view: must be true or false"},
      {"af_packet qpairs vs workers", "/lan/device", "net_af_packet0,iface=x,qpairs=2",
       "/lan/device: qpairs must equal dataplane.workers (1)"},
      {"eal vdev", "/eal", json::array({"--vdev", "net_null0"}), "/eal/0: devices come from"},
      {"eal vdev attached", "/eal", json::array({"--vdev=net_tap0"}), "/eal/0: devices come from"},
      {"eal allow attached", "/eal", json::array({"-a0000:01:00.0"}), "/eal/0: devices come from"},
      {"eal in-memory", "/eal", json::array({"--in-memory"}), "/eal/0: --in-memory is refused"},
      {"eal not strings", "/eal", json::array({1}), "/eal/0: must be a string"},
      {"bad role", "/role", "spoke", "/role: must be one of edge, hub (got \"spoke\")"},
      {"operations unknown field", "/operations", json{{"tz", "UTC"}},
       "/operations/tz: unknown field"},
      {"unknown time zone", "/operations", json{{"timezone", "Mars/Olympus"}},
       "/operations/timezone: must be a time zone"},
      {"time zone escaping the zone dir", "/operations", json{{"timezone", "../../etc/passwd"}},
       "/operations/timezone: must be a time zone"},
      {"absolute time zone path", "/operations", json{{"timezone", "/etc/localtime"}},
       "/operations/timezone: must be a time zone"},
      {"business days", "/operations", json{{"business_hours", {{"days", "weekdays"}}}},
       "/operations/business_hours/days: must list days"},
      {"business start", "/operations", json{{"business_hours", {{"start", "8h"}}}},
       "/operations/business_hours/start: must be HH:MM"},
      {"business end before start", "/operations",
       json{{"business_hours", {{"start", "18:00"}, {"end", "08:00"}}}},
       "/operations/business_hours/end: must be after start"},
      {"target 0", "/operations", json{{"availability_target_percent", 0}},
       "/operations/availability_target_percent: must be a number in (0, 100]"},
      {"target over 100", "/operations", json{{"availability_target_percent", 100.5}},
       "/operations/availability_target_percent: must be a number"},
      {"target as text", "/operations", json{{"availability_target_percent", "99.85"}},
       "/operations/availability_target_percent: must be a number"},
      {"incident class P3", "/operations", json{{"incident_classes", {{"site_down", "P3"}}}},
       "/operations/incident_classes/site_down: must be \"P0\""},
      {"syslog not an array", "/operations", json{{"syslog", "10.0.0.1"}},
       "/operations/syslog: must be an array of at most 8"},
      {"syslog host name", "/operations", json{{"syslog", {{{"host", "logs.example"}}}}},
       "/operations/syslog/0/host: must be an IPv4 or IPv6 address"},
      {"syslog port 0", "/operations", json{{"syslog", {{{"host", "10.0.0.1"}, {"port", 0}}}}},
       "/operations/syslog/0/port: must be an integer in [1, 65535]"},
      {"syslog transport tls", "/operations",
       json{{"syslog", {{{"host", "10.0.0.1"}, {"transport", "tls"}}}}},
       "/operations/syslog/0/transport: must be one of udp, tcp"},
      {"syslog unknown field", "/operations",
       json{{"syslog", {{{"host", "10.0.0.1"}, {"proto", "udp"}}}}},
       "/operations/syslog/0/proto: unknown field"},
      {"syslog facility kern", "/operations", json{{"syslog_facility", "kern"}},
       "/operations/syslog_facility: must be local0 to local7"},
      {"incident class unknown event", "/operations", json{{"incident_classes", {{"fire", "P0"}}}},
       "/operations/incident_classes/fire: unknown"},
      {"ipfix without collectors", "/ipfix", json::object(), "/ipfix/collectors: is required"},
      {"ipfix no collector", "/ipfix", json{{"collectors", json::array()}},
       "/ipfix/collectors: must be an array of 1 to 4"},
      {"ipfix five collectors", "/ipfix",
       json{{"collectors", json::array({{{"host", "10.0.0.1"}},
                                        {{"host", "10.0.0.2"}},
                                        {{"host", "10.0.0.3"}},
                                        {{"host", "10.0.0.4"}},
                                        {{"host", "10.0.0.5"}}})}},
       "/ipfix/collectors: must be an array of 1 to 4"},
      {"ipfix collector by name", "/ipfix", json{{"collectors", {{{"host", "nfc.example"}}}}},
       "/ipfix/collectors/0/host: must be an IPv4 or IPv6 address"},
      {"ipfix port 0", "/ipfix", json{{"collectors", {{{"host", "10.0.0.1"}, {"port", 0}}}}},
       "/ipfix/collectors/0/port: must be an integer in [1, 65535]"},
      {"ipfix active timeout 0", "/ipfix",
       json{{"collectors", {{{"host", "10.0.0.1"}}}}, {"active_timeout_s", 0}},
       "/ipfix/active_timeout_s: must be an integer in [1, 3600]"},
      {"ipfix unknown field", "/ipfix",
       json{{"collectors", {{{"host", "10.0.0.1"}}}}, {"sampling", 100}},
       "/ipfix/sampling: unknown field"},
  };
  for (auto& r : rows) {
    json j = valid();
    json::json_pointer ptr(r.pointer);
    if (r.remove)
      j[ptr.parent_pointer()].erase(ptr.back());
    else
      j[ptr] = r.value;
    try {
      parse_config(j.dump());
      ADD_FAILURE() << r.what << ": accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(r.expect), std::string::npos)
          << r.what << "\n  got:      " << e.what() << "\n  expected: " << r.expect;
    }
  }
}

TEST(ConfigLoad, WebViewSwitch) {
  json j = valid();
  EXPECT_TRUE(parse_config(j.dump()).api.web_view) << "on by default";
  j["api"]["web_view"] = false;
  EXPECT_FALSE(parse_config(j.dump()).api.web_view);
}

TEST(ConfigLoad, IpfixSection) {
  json j = valid();
  EXPECT_TRUE(parse_config(j.dump()).ipfix.collectors.empty()) << "no section: no export";
  j["ipfix"] = {{"collectors", {{{"host", "2001:db8::9"}}, {{"host", "10.0.0.9"}, {"port", 9995}}}},
                {"active_timeout_s", 30},
                {"template_refresh_s", 5},
                {"observation_domain_id", 4000000000u}};
  const AgentConfig c = parse_config(j.dump());
  ASSERT_EQ(c.ipfix.collectors.size(), 2u);
  EXPECT_EQ(c.ipfix.collectors[0].host.str(), "2001:db8::9");
  EXPECT_EQ(c.ipfix.collectors[0].port, 4739) << "the IANA port by default";
  EXPECT_EQ(c.ipfix.collectors[1].port, 9995);
  EXPECT_EQ(c.ipfix.active_timeout_s, 30u);
  EXPECT_EQ(c.ipfix.template_refresh_s, 5u);
  EXPECT_EQ(c.ipfix.domain_id, 4000000000u);
}

TEST(ConfigLoad, OperationsSection) {
  json j = valid();
  AgentConfig c = parse_config(j.dump());
  EXPECT_EQ(c.operations.timezone, "");
  EXPECT_EQ(c.operations.business.days, 0x3e);
  EXPECT_EQ(c.operations.incidents.site_down, "P0");
  EXPECT_DOUBLE_EQ(c.operations.availability_target_percent, 99.85);
  j["operations"] = {
      {"timezone", "Europe/Paris"},
      {"business_hours", {{"days", "mon-sat"}, {"start", "07:30"}, {"end", "19:00"}}},
      {"availability_target_percent", 99.9},
      {"incident_classes",
       {{"backup_down", "none"}, {"sla_degraded", "P1"}, {"firewall_flood", "P1"}}}};
  c = parse_config(j.dump());
  EXPECT_EQ(c.operations.timezone, "Europe/Paris");
  EXPECT_EQ(c.operations.business.days, 0x7e);
  EXPECT_EQ(c.operations.business.start_min, 450);
  EXPECT_EQ(c.operations.business.end_min, 1140);
  EXPECT_DOUBLE_EQ(c.operations.availability_target_percent, 99.9);
  EXPECT_EQ(c.operations.incidents.backup_down, "") << "none: journaled without a class";
  EXPECT_EQ(c.operations.incidents.sla_degraded, "P1");
  EXPECT_EQ(c.operations.incidents.firewall_flood, "P1");
  EXPECT_EQ(c.operations.incidents.primary_down, "P1") << "the others keep their default";
  EXPECT_TRUE(c.operations.syslog.empty());
  j["operations"]["syslog"] = {{{"host", "2001:db8::10"}, {"transport", "tcp"}},
                               {{"host", "192.0.2.10"}, {"port", 5514}}};
  j["operations"]["syslog_facility"] = "local3";
  c = parse_config(j.dump());
  ASSERT_EQ(c.operations.syslog.size(), 2u);
  EXPECT_EQ(c.operations.syslog[0].port, 514);
  EXPECT_TRUE(c.operations.syslog[0].tcp);
  EXPECT_EQ(c.operations.syslog[1].port, 5514);
  EXPECT_FALSE(c.operations.syslog[1].tcp);
  EXPECT_EQ(c.operations.syslog_facility, 19);
}

TEST(ConfigLoad, RejectsUplinkNamesThatReadAlike) {
  json j = valid();
  j["uplinks"][0]["name"] = "dsl-1";
  j["uplinks"][1]["name"] = "dsl_1";
  try {
    parse_config(j.dump());
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/uplinks/1/name: is too close to uplink \"dsl-1\""),
              std::string::npos)
        << e.what();
  }
}

TEST(ConfigLoad, RejectsBrokenJson) {
  for (const char* text : {"", "{", "[]", "{\"lan\": }", "null", "\"x\""}) {
    EXPECT_THROW(parse_config(text), ConfigError) << text;
  }
  try {
    parse_config("{");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
}

TEST(ConfigLoad, ShippedExamplesLoad) {
  for (const char* f : {"/config/examples/edge-lab.json"}) {
    EXPECT_NO_THROW(load_config_file(std::string(TRABOULE_SOURCE_DIR) + f)) << f;
  }
}

// --- kernel twins, punt rates, management allow list (docs/kernel.md) ------------------------

// One edit of valid(): set `pointer` to `value`, or delete it with remove.
struct Edit {
  const char* pointer;
  json value;
  bool remove = false;
};

json edited(const std::vector<Edit>& edits) {
  json j = valid();
  for (const Edit& e : edits) {
    json::json_pointer ptr(e.pointer);
    if (e.remove)
      j[ptr.parent_pointer()].erase(ptr.back());
    else
      j[ptr] = e.value;
  }
  return j;
}

struct KernelGoodRow {
  const char* what;
  std::vector<Edit> edits;
  std::function<void(const AgentConfig&)> check;
};

TEST(ConfigKernel, AcceptsKernelAndManagementSections) {
  using Rates = std::array<uint32_t, dp::kPuntClasses>;
  const Rates defaults = dp::PuntRates{}.pps;
  const std::vector<KernelGoodRow> rows = {
      {"no kernel section: no twins, default rates, default route, allow list unset",
       {},
       [&](const AgentConfig& c) {
         EXPECT_FALSE(c.kernel.twins);
         EXPECT_TRUE(c.kernel.default_route);
         EXPECT_EQ(c.kernel.rates.pps, defaults);
         EXPECT_EQ(c.lan.port.twin, "");
         EXPECT_EQ(c.uplinks[0].port.twin, "");
         EXPECT_FALSE(c.management.allow_set);
         EXPECT_TRUE(c.management.allow.empty());
       }},
      {"empty kernel object: the defaults",
       {{"/kernel", json::object()}},
       [&](const AgentConfig& c) {
         EXPECT_FALSE(c.kernel.twins);
         EXPECT_TRUE(c.kernel.default_route);
         EXPECT_EQ(c.kernel.rates.pps, defaults);
       }},
      {"twins: each port's twin is named after the port",
       {{"/kernel", {{"twins", true}}}},
       [](const AgentConfig& c) {
         EXPECT_TRUE(c.kernel.twins);
         EXPECT_EQ(c.lan.port.twin, "lan");
         EXPECT_EQ(c.uplinks[0].port.twin, "fiber");
         EXPECT_EQ(c.uplinks[1].port.twin, "lte");
       }},
      {"twins with explicit names on some ports",
       {{"/kernel", {{"twins", true}}}, {"/lan/twin", "tw-lan"}, {"/uplinks/1/twin", "wan_1.100"}},
       [](const AgentConfig& c) {
         EXPECT_EQ(c.lan.port.twin, "tw-lan");
         EXPECT_EQ(c.uplinks[0].port.twin, "fiber");
         EXPECT_EQ(c.uplinks[1].port.twin, "wan_1.100");
       }},
      {"a twin named like another port's default is fine when that port has its own",
       {{"/kernel", {{"twins", true}}}, {"/uplinks/0/twin", "lte"}, {"/uplinks/1/twin", "fiber"}},
       [](const AgentConfig& c) {
         EXPECT_EQ(c.uplinks[0].port.twin, "lte");
         EXPECT_EQ(c.uplinks[1].port.twin, "fiber");
       }},
      {"twin name of 15 characters (IFNAMSIZ - 1)",
       {{"/kernel", {{"twins", true}}}, {"/lan/twin", "abcdefghijklmno"}},
       [](const AgentConfig& c) { EXPECT_EQ(c.lan.port.twin, "abcdefghijklmno"); }},
      {"twins off: names are kept, not defaulted, and duplicates are not checked",
       {{"/lan/twin", "same"}, {"/uplinks/0/twin", "same"}},
       [](const AgentConfig& c) {
         EXPECT_FALSE(c.kernel.twins);
         EXPECT_EQ(c.lan.port.twin, "same");
         EXPECT_EQ(c.uplinks[0].port.twin, "same");
         EXPECT_EQ(c.uplinks[1].port.twin, "");
       }},
      {"default_route off",
       {{"/kernel", {{"twins", true}, {"default_route", false}}}},
       [](const AgentConfig& c) { EXPECT_FALSE(c.kernel.default_route); }},
      {"punt_pps: the given classes change, the others keep their default",
       {{"/kernel", {{"punt_pps", {{"management", 16}, {"box", 1000000}, {"arp_nd", 1}}}}}},
       [&](const AgentConfig& c) {
         Rates want = defaults;
         want[static_cast<unsigned>(dp::PuntClass::kManagement)] = 16;
         want[static_cast<unsigned>(dp::PuntClass::kBox)] = 1000000;
         want[static_cast<unsigned>(dp::PuntClass::kArpNd)] = 1;
         EXPECT_EQ(c.kernel.rates.pps, want);
       }},
      {"punt_pps: every class",
       {{"/kernel",
         {{"punt_pps",
           {{"arp_nd", 10},
            {"dhcp", 20},
            {"routing", 30},
            {"icmp", 40},
            {"management", 50},
            {"box", 60}}}}}},
       [](const AgentConfig& c) {
         EXPECT_EQ(c.kernel.rates.pps, (Rates{10, 20, 30, 40, 50, 60}));
       }},
      {"punt_pps: empty object",
       {{"/kernel", {{"punt_pps", json::object()}}}},
       [&](const AgentConfig& c) { EXPECT_EQ(c.kernel.rates.pps, defaults); }},
      {"management.allow: IPv4, IPv6 and a bare address",
       {{"/management", {{"allow", {"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}}}}},
       [](const AgentConfig& c) {
         EXPECT_TRUE(c.management.allow_set);
         ASSERT_EQ(c.management.allow.size(), 3u);
         EXPECT_EQ(c.management.allow[0].str(), "10.0.0.0/8");
         EXPECT_EQ(c.management.allow[1].str(), "2001:db8::/32");
         EXPECT_EQ(c.management.allow[2].str(), "192.0.2.7/32");
       }},
      {"management.allow: host bits are cleared",
       {{"/management", {{"allow", {"10.1.2.3/8"}}}}},
       [](const AgentConfig& c) {
         ASSERT_EQ(c.management.allow.size(), 1u);
         EXPECT_EQ(c.management.allow[0].str(), "10.0.0.0/8");
       }},
      {"management.allow empty: set, and nobody",
       {{"/management", {{"allow", json::array()}}}},
       [](const AgentConfig& c) {
         EXPECT_TRUE(c.management.allow_set);
         EXPECT_TRUE(c.management.allow.empty());
       }},
      {"management without allow: unset",
       {{"/management", json::object()}},
       [](const AgentConfig& c) { EXPECT_FALSE(c.management.allow_set); }},
      {"uplink on VLAN 832, the other untagged",
       {{"/uplinks/0/vlan", 832}},
       [](const AgentConfig& c) {
         EXPECT_EQ(c.uplinks[0].port.vlan, 832);
         EXPECT_EQ(c.uplinks[1].port.vlan, 0);
         EXPECT_EQ(c.lan.port.vlan, 0);
       }},
      {"VLAN ids 1 and 4094 (the ends of the range)",
       {{"/uplinks/0/vlan", 1}, {"/uplinks/1/vlan", 4094}},
       [](const AgentConfig& c) {
         EXPECT_EQ(c.uplinks[0].port.vlan, 1);
         EXPECT_EQ(c.uplinks[1].port.vlan, 4094);
       }},
  };
  for (const KernelGoodRow& r : rows) {
    SCOPED_TRACE(r.what);
    try {
      r.check(parse_config(edited(r.edits).dump()));
    } catch (const ConfigError& e) {
      ADD_FAILURE() << "refused: " << e.what();
    }
  }
}

struct KernelBadRow {
  const char* what;
  std::vector<Edit> edits;
  const char* pointer;  // ConfigError::pointer(), exactly
  const char* expect;   // substring of the message
};

std::vector<KernelBadRow> kernel_bad_rows() {
  const json twins = {{"twins", true}};
  auto pps = [](json v) { return json{{"punt_pps", v}}; };
  auto allow = [](json v) { return json{{"allow", v}}; };
  return {
      // kernel
      {"kernel not an object", {{"/kernel", "yes"}}, "/kernel", "must be an object"},
      {"kernel as an array", {{"/kernel", json::array()}}, "/kernel", "must be an object"},
      {"twins as a string",
       {{"/kernel", {{"twins", "true"}}}},
       "/kernel/twins",
       "must be true or false"},
      {"twins as a number",
       {{"/kernel", {{"twins", 1}}}},
       "/kernel/twins",
       "must be true or false"},
      {"default_route null",
       {{"/kernel", {{"default_route", nullptr}}}},
       "/kernel/default_route",
       "must be true or false"},
      {"unknown kernel field", {{"/kernel", {{"twin", true}}}}, "/kernel/twin", "unknown field"},
      {"punt_pps as an array",
       {{"/kernel", pps(json::array({16}))}},
       "/kernel/punt_pps",
       "must be an object"},
      {"punt_pps as a number", {{"/kernel", pps(100)}}, "/kernel/punt_pps", "must be an object"},
      {"unknown punt class",
       {{"/kernel", pps({{"bgp", 10}})}},
       "/kernel/punt_pps/bgp",
       "unknown punt class"},
      {"punt class in the wrong case",
       {{"/kernel", pps({{"Management", 10}})}},
       "/kernel/punt_pps/Management",
       "unknown punt class"},
      {"empty punt class name",
       {{"/kernel", pps({{"", 10}})}},
       "/kernel/punt_pps/",
       "unknown punt class"},
      {"punt class with a slash (pointer escaped)",
       {{"/kernel", pps({{"a/b~c", 10}})}},
       "/kernel/punt_pps/a~1b~0c",
       "unknown punt class"},
      {"unknown class next to good ones",
       {{"/kernel", pps({{"box", 10}, {"ssh", 10}})}},
       "/kernel/punt_pps/ssh",
       "unknown punt class"},
      {"pps 0",
       {{"/kernel", pps({{"box", 0}})}},
       "/kernel/punt_pps/box",
       "must be an integer in [1, 1000000] (got 0)"},
      {"pps 1000001",
       {{"/kernel", pps({{"icmp", 1000001}})}},
       "/kernel/punt_pps/icmp",
       "must be an integer in [1, 1000000]"},
      {"pps negative",
       {{"/kernel", pps({{"dhcp", -5}})}},
       "/kernel/punt_pps/dhcp",
       "must be an integer in [1, 1000000]"},
      {"pps 2^32 + 16 (would wrap to 16 in a uint32)",
       {{"/kernel", pps({{"routing", 4294967312ull}})}},
       "/kernel/punt_pps/routing",
       "must be an integer in [1, 1000000]"},
      {"pps as a float",
       {{"/kernel", pps({{"arp_nd", 16.5}})}},
       "/kernel/punt_pps/arp_nd",
       "must be an integer"},
      {"pps as a string",
       {{"/kernel", pps({{"management", "100"}})}},
       "/kernel/punt_pps/management",
       "must be an integer"},
      {"pps null",
       {{"/kernel", pps({{"box", nullptr}})}},
       "/kernel/punt_pps/box",
       "must be an integer"},
      // uplinks[].vlan
      {"vlan 0 (a priority tag, not a VLAN)",
       {{"/uplinks/0/vlan", 0}},
       "/uplinks/0/vlan",
       "must be an integer in [1, 4094] (got 0)"},
      {"vlan 4095 (reserved)",
       {{"/uplinks/1/vlan", 4095}},
       "/uplinks/1/vlan",
       "must be an integer in [1, 4094]"},
      {"vlan 65536 + 832 (would wrap to 832 in a uint16)",
       {{"/uplinks/0/vlan", 66368}},
       "/uplinks/0/vlan",
       "must be an integer in [1, 4094]"},
      {"vlan negative", {{"/uplinks/0/vlan", -832}}, "/uplinks/0/vlan", "must be an integer"},
      {"vlan as a string", {{"/uplinks/0/vlan", "832"}}, "/uplinks/0/vlan", "must be an integer"},
      {"vlan on the LAN port (LAN VLANs are segments)",
       {{"/lan/vlan", 20}},
       "/lan/vlan",
       "unknown field"},
      // management
      {"management not an object",
       {{"/management", "10.0.0.0/8"}},
       "/management",
       "must be an object"},
      {"unknown management field",
       {{"/management", {{"deny", json::array()}}}},
       "/management/deny",
       "unknown field"},
      {"allow not an array",
       {{"/management", allow("10.0.0.0/8")}},
       "/management/allow",
       "must be an array of prefixes"},
      {"allow as an object",
       {{"/management", allow(json::object())}},
       "/management/allow",
       "must be an array of prefixes"},
      {"allow: a number",
       {{"/management", allow({42})}},
       "/management/allow/0",
       "must be a prefix string"},
      {"allow: null",
       {{"/management", allow({nullptr})}},
       "/management/allow/0",
       "must be a prefix string"},
      {"allow: a name",
       {{"/management", allow({"lan"})}},
       "/management/allow/0",
       "is not an IPv4 or IPv6 prefix"},
      {"allow: the second of two is bad",
       {{"/management", allow({"10.0.0.0/8", "10.0.0.0/33"})}},
       "/management/allow/1",
       "is not an IPv4 or IPv6 prefix"},
      {"allow: IPv6 /129",
       {{"/management", allow({"2001:db8::/129"})}},
       "/management/allow/0",
       "is not an IPv4 or IPv6 prefix"},
      {"allow: negative length",
       {{"/management", allow({"10.0.0.0/-1"})}},
       "/management/allow/0",
       "is not an IPv4 or IPv6 prefix"},
      {"allow: empty string",
       {{"/management", allow({""})}},
       "/management/allow/0",
       "is not an IPv4 or IPv6 prefix"},
      {"allow: trailing space",
       {{"/management", allow({"10.0.0.0/8 "})}},
       "/management/allow/0",
       "is not an IPv4 or IPv6 prefix"},
      {"allow: IPv4-mapped IPv6",
       {{"/management", allow({"::ffff:10.0.0.0/104"})}},
       "/management/allow/0",
       "is not an IPv4 or IPv6 prefix"},
      {"allow: octet 256",
       {{"/management", allow({"10.0.256.0/24"})}},
       "/management/allow/0",
       "is not an IPv4 or IPv6 prefix"},
      // twin names
      {"twin on an unknown port field",
       {{"/uplinks/0/twins", "x"}},
       "/uplinks/0/twins",
       "unknown field"},
      {"empty twin name", {{"/lan/twin", ""}}, "/lan/twin", "must be a non-empty string"},
      {"twin name as a number",
       {{"/uplinks/0/twin", 7}},
       "/uplinks/0/twin",
       "must be a non-empty string"},
      {"twin name of 16 characters",
       {{"/lan/twin", "abcdefghijklmnop"}},
       "/lan/twin",
       "must be an interface name"},
      {"very long twin name",
       {{"/uplinks/1/twin", std::string(300, 'a')}},
       "/uplinks/1/twin",
       "must be an interface name"},
      {"twin name with a space",
       {{"/uplinks/0/twin", "my twin"}},
       "/uplinks/0/twin",
       "must be an interface name"},
      {"twin name with a slash",
       {{"/uplinks/1/twin", "a/b"}},
       "/uplinks/1/twin",
       "must be an interface name"},
      {"twin name with a colon (alias syntax)",
       {{"/lan/twin", "lan:0"}},
       "/lan/twin",
       "must be an interface name"},
      {"twin name with a tab", {{"/lan/twin", "lan\t"}}, "/lan/twin", "must be an interface name"},
      {"twin name with a newline",
       {{"/lan/twin", "lan\nx"}},
       "/lan/twin",
       "must be an interface name"},
      {"twin name with a NUL",
       {{"/lan/twin", std::string("la\0n", 4)}},
       "/lan/twin",
       "must be an interface name"},
      {"twin name not ASCII",
       {{"/lan/twin", "r\xc3\xa9seau"}},
       "/lan/twin",
       "must be an interface name"},
      {"bad twin name even with twins off",
       {{"/lan/twin", "a b"}},
       "/lan/twin",
       "must be an interface name"},
      // duplicate twin names (twins on)
      {"two uplinks with the same twin name",
       {{"/kernel", twins}, {"/uplinks/0/twin", "wan"}, {"/uplinks/1/twin", "wan"}},
       "/uplinks/1/twin",
       "is the twin name of another port (got \"wan\")"},
      {"an uplink's twin named like the other uplink's default",
       {{"/kernel", twins}, {"/uplinks/1/twin", "fiber"}},
       "/uplinks/1/twin",
       "is the twin name of another port"},
      {"an uplink's twin named like the LAN's default",
       {{"/kernel", twins}, {"/uplinks/0/twin", "lan"}},
       "/uplinks/0/twin",
       "is the twin name of another port (got \"lan\")"},
      {"the LAN's twin named like an uplink's default: the uplink is named",
       {{"/kernel", twins}, {"/lan/twin", "fiber"}},
       "/uplinks/0/twin",
       "is the twin name of another port (got \"fiber\")"},
      {"the LAN and an uplink with the same explicit twin name",
       {{"/kernel", twins}, {"/lan/twin", "tw0"}, {"/uplinks/1/twin", "tw0"}},
       "/uplinks/1/twin",
       "is the twin name of another port"},
  };
}

TEST(ConfigKernel, RejectsBadKernelAndManagementFieldsNamingThem) {
  for (const KernelBadRow& r : kernel_bad_rows()) {
    try {
      parse_config(edited(r.edits).dump());
      ADD_FAILURE() << r.what << ": accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.pointer(), r.pointer) << r.what << "\n  message: " << e.what();
      EXPECT_NE(std::string(e.what()).find(r.expect), std::string::npos)
          << r.what << "\n  got:      " << e.what() << "\n  expected: " << r.expect;
    }
  }
}

// Bugs fixed: names the config accepted for a twin but the kernel refuses (Linux
// dev_valid_name(): at most IFNAMSIZ - 1 = 15 bytes, not "." or ".."): an uplink's name of up to
// 32 characters taken as its default twin name, and explicit "." / "..".
TEST(ConfigKernelFix, RefusesTwinNamesTheKernelCannotCreate) {
  struct Row {
    const char* what;
    std::vector<Edit> edits;
    std::vector<std::string> pointers;  // any of these (a defaulted name has no "twin" field)
  };
  const std::vector<Row> rows = {
      {"uplink name of 16 characters as the default twin name",
       {{"/kernel", {{"twins", true}}},
        {"/uplinks/0/name", "fiber_primary_1"},
        {"/uplinks/1/name", "backup_lte_link2"}},
       {"/uplinks/1/twin", "/uplinks/1/name"}},
      {"twin name \".\"", {{"/lan/twin", "."}}, {"/lan/twin"}},
      {"twin name \"..\"", {{"/uplinks/0/twin", ".."}}, {"/uplinks/0/twin"}},
  };
  for (const Row& r : rows) {
    try {
      parse_config(edited(r.edits).dump());
      ADD_FAILURE() << r.what << ": accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::find(r.pointers.begin(), r.pointers.end(), e.pointer()), r.pointers.end())
          << r.what << "\n  message: " << e.what();
    }
  }
}

}  // namespace
}  // namespace traboule::cp

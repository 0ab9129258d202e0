// SPDX-License-Identifier: Apache-2.0
// First-packet recognition (names stage) in the daemon's pipeline: a DNS answer for a SaaS name
// crossing the box, then a SYN to the returned address, which the route stage already sends
// where the policy wants that application (breakout through NAT here). Plus custom
// applications by prefix/port, TLS SNI, and hostile DNS, all table-driven.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/tables/flow_table.h"
#include "dataplane/tables/nat_table.h"
#include "tests/testing/app_messages.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/nat_worker.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/pipeline_counters.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using testing::Bytes;
using testing::Frame;
using testing::PacketBuilder;
namespace tcpf = traboule::testing::tcpf;

constexpr uint16_t kTeams = 1;
constexpr uint16_t kBackup = 2;  // a custom application: 10.20.0.0/16, TCP 873

uint64_t counter(const Pipeline& p, const std::string& name) {
  return testing::counter_value(p, name).value_or(0);
}

// Apps: unknown, teams (built in, with domains), backup (custom). Rules: teams → breakout,
// backup → drop, the rest → overlay (native here: the test site has no overlay).
std::shared_ptr<PolicySnapshot> names_policy(const Site& site) {
  auto p = testing::TestSite::default_policy(site, {0});
  p->apps.resize(3);
  p->apps[0] = {.name = "unknown", .id = 0};
  p->apps[kTeams] = {.name = "teams", .category = "collaboration", .id = kTeams};
  p->apps[kBackup] = {.name = "backup",
                      .category = "backup",
                      .id = kBackup,
                      .custom = true,
                      .prefixes = {*IpPrefix::parse("10.20.0.0/16")},
                      .ports = {{873, 873}},
                      .proto = IPPROTO_TCP};
  CompiledRule teams;
  teams.name = "teams";
  teams.match.apps = {kTeams};
  teams.action.egress = Egress::kBreakout;
  teams.action.uplinks = {0};
  CompiledRule backup;
  backup.name = "backup";
  backup.match.apps = {kBackup};
  backup.action.egress = Egress::kDrop;
  p->rules.insert(p->rules.begin(), {teams, backup});
  std::string why;
  auto m = DomainMatcher::build(
      {{"teams.microsoft.com", kTeams}, {"*.teams.microsoft.com", kTeams}}, &why);
  EXPECT_TRUE(m) << why;
  p->domains = std::make_shared<const DomainMatcher>(std::move(*m));
  return p;
}

struct Rig {
  testing::TestSite ts;
  FlowTable flows{4096, FlowTimeouts{}, 0};
  std::unique_ptr<NatTable> nat;
  std::unique_ptr<Pipeline> pipe;

  explicit Rig(const char* tag) : ts(tag) {
    ts.set_policy(names_policy(ts.site));
    nat = testing::breakout_nat_table();
    WorkerDeps d = testing::nat_worker_deps(ts, flows, *nat);
    d.names_cache = 256;
    pipe = make_worker_pipeline(std::move(d));
  }
  void send(const Frame& f, bool from_lan) {
    rte_mbuf* m = testing::to_mbuf(testing::test_pool(), f, from_lan ? ts.lan_port : ts.up_port);
    mark_rx_one(m, from_lan);
    pipe->run(pipe->node_index("parse"), &m, 1, ts.ctx());
    ts.drain_lan();
    ts.drain_uplink();
  }
  void mark_rx_one(rte_mbuf* m, bool from_lan) {
    meta(m) = PacketMeta{};
    meta(m).in_port = from_lan ? ts.lan_port : ts.up_port;
    meta(m).flags = from_lan ? meta_flag::kFromLan : 0;
  }
  uint64_t c(const std::string& name) const { return counter(*pipe, name); }
};

Frame syn_from_lan(const char* dst, uint16_t sport, uint16_t dport = 443) {
  return PacketBuilder()
      .eth(testing::kSiteLanMac, testing::kSiteHostMac)
      .ipv4("192.168.10.10", dst)
      .tcp(sport, dport, tcpf::kSyn)
      .build();
}
Frame dns_answer_from_wan(const std::string& name, const Bytes& addr, uint16_t to_port) {
  return PacketBuilder()
      .eth(testing::kSiteUplinkMac, testing::kSiteGatewayMac)
      .ipv4("9.9.9.9", "192.168.10.10")
      .udp(53, to_port)
      .payload(testing::dns_message(name, true, addr, 300))
      .build();
}

TEST(NamesStage, DnsAnswerThenSynTakesTheBreakoutPathOnItsFirstPacket) {
  Rig r("names1");
  // Before any answer: an address nobody named goes by the default rule (overlay → native).
  r.send(syn_from_lan("52.112.0.20", 40000), true);
  EXPECT_EQ(r.c("route.out.uplink"), 1u);
  EXPECT_EQ(r.c("route.out.breakout"), 0u);
  // The LAN host asks the resolver (the answer belongs to that flow: the firewall lets no
  // unsolicited datagram in)...
  r.send(PacketBuilder()
             .eth(testing::kSiteLanMac, testing::kSiteHostMac)
             .ipv4("192.168.10.10", "9.9.9.9")
             .udp(51000, 53)
             .payload(testing::dns_message("eu.teams.microsoft.com", false, {}, 0))
             .build(),
         true);
  EXPECT_EQ(r.c("route.out.uplink"), 2u);
  // ...and the resolver's answer for a Teams name crosses the box towards the LAN host.
  r.send(dns_answer_from_wan("eu.teams.microsoft.com", {52, 112, 0, 30}, 51000), false);
  EXPECT_EQ(r.c("route.out.lan"), 1u) << "the answer itself is forwarded";
  // The very first packet (SYN) of a connection to the answered address: breakout, NATed.
  r.send(syn_from_lan("52.112.0.30", 40001), true);
  EXPECT_EQ(r.c("route.out.breakout"), 1u);
  EXPECT_EQ(r.c("nat_out.out.next"), 1u);
  // Other addresses still follow the default rule.
  r.send(syn_from_lan("52.112.0.31", 40002), true);
  EXPECT_EQ(r.c("route.out.uplink"), 3u);
  EXPECT_EQ(r.c("route.out.breakout"), 1u);
}

TEST(NamesStage, TableOfFirstPackets) {
  struct Row {
    const char* what;
    std::vector<std::pair<Frame, bool>> before;  // packets sent first (frame, from LAN)
    Frame probe;                                 // the packet whose fate is checked
    const char* counter;                         // must grow by one
  };
  const Bytes addr{52, 112, 0, 40};
  const std::vector<Row> rows = {
      {"custom application by prefix and port: dropped by its rule",
       {},
       syn_from_lan("10.20.3.4", 41000, 873),
       "route.policy_drop"},
      {"same prefix, another port: not the custom application",
       {},
       syn_from_lan("10.20.3.4", 41001, 22),
       "route.out.uplink"},
      {"answer for a name no application has: nothing learnt",
       {{dns_answer_from_wan("www.example.org", addr, 52000), false}},
       syn_from_lan("52.112.0.40", 41002),
       "route.out.uplink"},
      {"answer with a compression loop: counted, nothing learnt",
       {{PacketBuilder()
             .eth(testing::kSiteUplinkMac, testing::kSiteGatewayMac)
             .ipv4("9.9.9.9", "192.168.10.10")
             .udp(53, 52001)
             .payload(Bytes{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1})
             .build(),
         false}},
       syn_from_lan("52.112.0.41", 41003),
       "route.out.uplink"},
      {"truncated DNS (header only)",
       {{PacketBuilder()
             .eth(testing::kSiteUplinkMac, testing::kSiteGatewayMac)
             .ipv4("9.9.9.9", "192.168.10.10")
             .udp(53, 52002)
             .payload(Bytes{0x12, 0x34, 0x81})
             .build(),
         false}},
       syn_from_lan("52.112.0.42", 41004),
       "route.out.uplink"},
      {"IPv6 answer (AAAA) then an IPv4 SYN to another address: no match",
       {{dns_answer_from_wan("teams.microsoft.com",
                             Bytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                             52003),
         false}},
       syn_from_lan("52.112.0.43", 41005),
       "route.out.uplink"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    Rig r("names2");
    for (const auto& [f, lan] : row.before) r.send(f, lan);
    const uint64_t before = r.c(row.counter);
    r.send(row.probe, true);
    EXPECT_EQ(r.c(row.counter), before + 1);
  }
}

TEST(NamesStage, TlsServerNameRedecidesTheFlow) {
  Rig r("names3");
  // An address nobody named: the handshake follows the default rule...
  r.send(syn_from_lan("52.113.0.50", 42000), true);
  EXPECT_EQ(r.c("route.out.uplink"), 1u);
  // ... and the ClientHello names Teams: the flow is decided again, on this packet.
  r.send(PacketBuilder()
             .eth(testing::kSiteLanMac, testing::kSiteHostMac)
             .ipv4("192.168.10.10", "52.113.0.50")
             .tcp(42000, 443, tcpf::kAck | tcpf::kPsh)
             .payload(testing::tls_record(testing::client_hello("teams.microsoft.com")))
             .build(),
         true);
  EXPECT_EQ(r.c("route.out.breakout"), 1u);
}

}  // namespace
}  // namespace traboule::dp

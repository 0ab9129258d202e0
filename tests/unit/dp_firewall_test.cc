// SPDX-License-Identifier: Apache-2.0
// The stateful firewall in the flow stage: zone defaults, flows opened from inside, ICMP errors
// related to a known flow, the source checks, the policy's inbound rules and the WAN flood
// limits, table-driven with hostile rows.
#include <gtest/gtest.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>

#include "dataplane/model/firewall_policy.h"
#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/stages/flow.h"
#include "dataplane/stages/parse.h"
#include "dataplane/tables/flow_table.h"
#include "dataplane/tables/nat_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/nat_worker.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using testing::Frame;
using testing::PacketBuilder;
namespace tcpf = testing::tcpf;

constexpr const char* kGw = testing::kSiteGatewayMac;
constexpr const char* kUpMac = testing::kSiteUplinkMac;
constexpr const char* kLanMac = testing::kSiteLanMac;
constexpr const char* kHostMac = testing::kSiteHostMac;

enum class From { kLan, kWan, kOverlay, kWanNat };

rte_mbuf* parsed(const testing::TestSite& ts, const Frame& f, From from) {
  const uint16_t port = from == From::kLan ? ts.lan_port : ts.up_port;
  rte_mbuf* m = testing::to_mbuf(testing::test_pool(), f, port);
  meta(m).in_port = port;
  meta(m).flags = from == From::kLan ? meta_flag::kFromLan : 0;
  ParseStage parse;
  testing::StageHarness h(parse);
  rte_mbuf* keep = nullptr;
  // Parse in place through the harness: it must come out on an edge, not as a drop.
  auto v = h.run({m});
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].where.rfind("edge:", 0), 0u) << v[0].where;
  keep = v[0].pkt;
  // The harness frees what it holds: hand back a copy of the parsed packet with its meta.
  rte_mbuf* c = rte_pktmbuf_copy(keep, testing::test_pool(), 0, UINT32_MAX);
  EXPECT_NE(c, nullptr);
  meta(c) = meta(keep);
  if (from == From::kOverlay) meta(c).flags |= meta_flag::kFromOverlay;
  if (from == From::kWanNat) meta(c).flags |= meta_flag::kNatIn;
  return c;
}

Frame wan_tcp(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags) {
  return PacketBuilder().eth(kUpMac, kGw).ipv4(src, dst).tcp(sport, dport, flags).build();
}
Frame lan_tcp(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags) {
  return PacketBuilder().eth(kLanMac, kHostMac).ipv4(src, dst).tcp(sport, dport, flags).build();
}

// An ICMPv4 error from `router` to `to` quoting the first 28 bytes of `quoted` (an IPv4 frame).
Frame icmp_error(const char* router, const char* to, uint8_t type, const Frame& quoted,
                 size_t quote_len = 28) {
  std::vector<uint8_t> q(quoted.bytes.begin() + 14,
                         quoted.bytes.begin() + 14 + std::min(quote_len, quoted.bytes.size() - 14));
  return PacketBuilder().eth(kUpMac, kGw).ipv4(router, to).icmp(type, 0).payload(q).build();
}

std::string ip4(const std::vector<uint8_t>& f, size_t off) {
  return std::to_string(f[off]) + "." + std::to_string(f[off + 1]) + "." +
         std::to_string(f[off + 2]) + "." + std::to_string(f[off + 3]);
}
uint16_t port_at(const std::vector<uint8_t>& f, size_t off) {
  return static_cast<uint16_t>((f[off] << 8) | f[off + 1]);
}
// The IPv4 header and TCP/UDP checksums equal a full recompute.
bool checksums_ok(std::vector<uint8_t> f) {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.data() + 14);
  const uint16_t ip_sum = ip->hdr_checksum;
  ip->hdr_checksum = 0;
  if (rte_ipv4_cksum(ip) != ip_sum) return false;
  ip->hdr_checksum = ip_sum;
  uint8_t* l4 = f.data() + 14 + 20;
  const size_t off = ip->next_proto_id == IPPROTO_TCP ? 16 : 6;
  uint16_t l4_sum;
  std::memcpy(&l4_sum, l4 + off, 2);
  std::memset(l4 + off, 0, 2);
  return rte_ipv4_udptcp_cksum(ip, l4) == l4_sum;
}

struct Fixture {
  testing::TestSite ts{"fw"};
  FlowTable flows{1024, FlowTimeouts{}, 0};
  FlowStage stage;
  explicit Fixture(FirewallDeps extra = {})
      : stage(flows, [&] {
          extra.site = &ts.site;
          return extra;
        }()) {}
  std::string run(const Frame& f, From from, uint32_t* flow = nullptr, uint8_t* dir = nullptr,
                  std::vector<uint8_t>* bytes = nullptr, PacketMeta* md = nullptr) {
    testing::StageHarness h(stage, &ts.view);
    auto v = h.run({parsed(ts, f, from)});
    if (v.empty()) return "none";
    if (v[0].pkt != nullptr) {
      if (flow) *flow = meta(v[0].pkt).flow_id;
      if (dir) *dir = meta(v[0].pkt).flow_dir;
      if (bytes) {
        const auto* b = rte_pktmbuf_mtod(v[0].pkt, const uint8_t*);
        bytes->assign(b, b + rte_pktmbuf_data_len(v[0].pkt));
      }
      if (md) *md = meta(v[0].pkt);
    }
    return v[0].where;
  }
  uint64_t counter(const std::string& name) const {
    std::vector<CounterValue> c;
    stage.collect_extra(c);
    for (auto& x : c)
      if (x.name == name) return x.value;
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }
};

struct Row {
  const char* what;
  Frame frame;
  From from;
  const char* expect;
  const char* counter;  // the firewall counter that must have moved (or nullptr)
};

TEST(Firewall, ZoneDefaultsForPacketsThatWouldOpenAFlow) {
  const Frame probe_out = lan_tcp("192.168.10.10", "203.0.113.10", 40000, 443, tcpf::kSyn);
  const std::vector<Row> rows = {
      {"LAN host opens a connection out", probe_out, From::kLan, "edge:next",
       "firewall.allowed_default"},
      {"internet SYN to a LAN host",
       wan_tcp("198.51.100.7", "192.168.10.11", 443, 50000, tcpf::kSyn), From::kWan,
       "drop:firewall", "firewall.denied.wan_lan"},
      {"internet ACK to a LAN host (no flow: not let in as mid-stream)",
       wan_tcp("198.51.100.7", "192.168.10.11", 443, 50001, tcpf::kAck), From::kWan,
       "drop:firewall", "firewall.denied.wan_lan"},
      {"internet UDP to a LAN host",
       PacketBuilder().eth(kUpMac, kGw).ipv4("198.51.100.7", "192.168.10.11").udp(53, 5353).build(),
       From::kWan, "drop:firewall", "firewall.denied.wan_lan"},
      {"internet ping to a LAN host",
       PacketBuilder()
           .eth(kUpMac, kGw)
           .ipv4("198.51.100.7", "192.168.10.11")
           .icmp(8, 0, 7, 1)
           .build(),
       From::kWan, "drop:firewall", "firewall.denied.wan_lan"},
      {"internet IPv6 to a LAN host",
       PacketBuilder().eth(kUpMac, kGw).ipv6("2001:db8::7", "fd00:10::11").udp(1, 2).build(),
       From::kWan, "drop:firewall", "firewall.denied.wan_lan"},
      {"transit: internet to a non-LAN address",
       wan_tcp("198.51.100.7", "10.1.2.3", 1, 2, tcpf::kSyn), From::kWan, "drop:firewall",
       "firewall.denied.wan_overlay"},
      {"WAN packet claiming a LAN source",
       wan_tcp("192.168.10.20", "192.168.10.11", 1, 2, tcpf::kSyn), From::kWan,
       "drop:spoofed_source", "firewall.spoofed_wan_source"},
      {"LAN packet from outside the LAN prefixes",
       lan_tcp("10.9.9.9", "203.0.113.10", 1, 2, tcpf::kSyn), From::kLan, "drop:spoofed_source",
       "firewall.spoofed_lan_source"},
      {"the datacenter (overlay) opens a connection to a LAN host",
       PacketBuilder()
           .eth(kUpMac, kGw)
           .ipv4("10.0.0.5", "192.168.10.11")
           .tcp(5000, 22, tcpf::kSyn)
           .build(),
       From::kOverlay, "edge:next", "firewall.allowed_default"},
      {"de-NATed by a mapping a LAN host opened",
       wan_tcp("203.0.113.99", "192.168.10.10", 443, 40001, tcpf::kSyn | tcpf::kAck), From::kWanNat,
       "edge:next", "firewall.allowed_nat_mapping"},
  };
  Fixture f;
  for (const Row& r : rows) {
    const uint64_t before = r.counter ? f.counter(r.counter) : 0;
    EXPECT_EQ(f.run(r.frame, r.from), r.expect) << r.what;
    if (r.counter) {
      EXPECT_EQ(f.counter(r.counter), before + 1) << r.what;
    }
  }
  // Denied packets take no flow entry: only the three allowed rows made flows (the de-NATed
  // one counts as opened from the WAN).
  EXPECT_EQ(f.flows.size(), 3u);
  EXPECT_EQ(f.flows.wan_opened(), 1u);
}

TEST(Firewall, RepliesToAFlowOpenedFromInsideGoThrough) {
  Fixture f;
  uint32_t id = kNoFlow, id2 = kNoFlow;
  uint8_t dir = 9;
  ASSERT_EQ(
      f.run(lan_tcp("192.168.10.10", "203.0.113.10", 40000, 443, tcpf::kSyn), From::kLan, &id),
      "edge:next");
  ASSERT_EQ(f.run(wan_tcp("203.0.113.10", "192.168.10.10", 443, 40000, tcpf::kSyn | tcpf::kAck),
                  From::kWan, &id2, &dir),
            "edge:next");
  EXPECT_EQ(id, id2);
  EXPECT_EQ(dir, 1);
  // Another port of the same server is another flow: denied.
  EXPECT_EQ(f.run(wan_tcp("203.0.113.10", "192.168.10.10", 443, 40002, tcpf::kAck), From::kWan),
            "drop:firewall");
}

TEST(Firewall, IcmpErrorsAboutAKnownFlowAreRelated) {
  Fixture f;
  const Frame udp_out = PacketBuilder()
                            .eth(kLanMac, kHostMac)
                            .ipv4("192.168.10.10", "203.0.113.10", testing::Ipv4Opts{.ttl = 1})
                            .udp(33434, 33435)
                            .payload(12)
                            .build();
  uint32_t id = kNoFlow, rel = kNoFlow;
  uint8_t dir = 9;
  ASSERT_EQ(f.run(udp_out, From::kLan, &id), "edge:next");
  const Frame other = PacketBuilder()
                          .eth(kLanMac, kHostMac)
                          .ipv4("192.168.10.10", "203.0.113.10")
                          .udp(33434, 40000)
                          .payload(12)
                          .build();
  struct ErrRow {
    const char* what;
    Frame frame;
    const char* expect;
  };
  const std::vector<ErrRow> rows = {
      {"time exceeded about the traceroute probe",
       icmp_error("100.64.9.1", "192.168.10.10", 11, udp_out), "edge:next"},
      {"port unreachable about it", icmp_error("203.0.113.10", "192.168.10.10", 3, udp_out),
       "edge:next"},
      {"time exceeded about a flow nobody opened",
       icmp_error("100.64.9.1", "192.168.10.10", 11, other), "drop:firewall"},
      {"quote cut before the ports", icmp_error("100.64.9.1", "192.168.10.10", 11, udp_out, 22),
       "drop:firewall"},
      {"quote shorter than an IP header",
       icmp_error("100.64.9.1", "192.168.10.10", 11, udp_out, 12), "drop:firewall"},
      {"not an error (a redirect, type 5)", icmp_error("100.64.9.1", "192.168.10.10", 5, udp_out),
       "drop:firewall"},
  };
  for (const auto& r : rows) {
    rel = kNoFlow;
    dir = 9;
    EXPECT_EQ(f.run(r.frame, From::kWan, &rel, &dir), r.expect) << r.what;
    if (std::string(r.expect) == "edge:next") {
      EXPECT_EQ(rel, id) << r.what;
      EXPECT_EQ(dir, 1) << r.what;
    }
  }
  EXPECT_EQ(f.counter("firewall.related_icmp"), 2u);
  EXPECT_EQ(f.flows.size(), 1u) << "related errors use the flow they quote";
}

TEST(Firewall, AWanSynCannotReuseAClosedInsideFlow) {
  Fixture f;
  ASSERT_EQ(f.run(lan_tcp("192.168.10.10", "203.0.113.10", 40000, 443, tcpf::kSyn), From::kLan),
            "edge:next");
  ASSERT_EQ(f.run(wan_tcp("203.0.113.10", "192.168.10.10", 443, 40000, tcpf::kRst), From::kWan),
            "edge:next");
  // The remote now "opens" a connection to the host's old port: it is a new inbound flow.
  EXPECT_EQ(f.run(wan_tcp("203.0.113.10", "192.168.10.10", 443, 40000, tcpf::kSyn), From::kWan),
            "drop:firewall");
  EXPECT_EQ(f.counter("firewall.syn_reuse_denied"), 1u);
  // The LAN host may reuse it.
  EXPECT_EQ(f.run(lan_tcp("192.168.10.10", "203.0.113.10", 40000, 443, tcpf::kSyn), From::kLan),
            "edge:next");
}

std::shared_ptr<PolicySnapshot> with_rules(const testing::TestSite& ts, std::vector<FwRule> rules) {
  auto p = std::make_shared<PolicySnapshot>(*ts.policy);
  p->firewall.rules = std::move(rules);
  return p;
}

TEST(Firewall, InboundRulesDecideInOrderAndCountHits) {
  Fixture f;
  FwRule deny_bad;
  deny_bad.name = "no-bad-net";
  deny_bad.src = {*IpPrefix::parse("198.51.100.128/25")};
  deny_bad.action = FwAction::kDeny;
  FwRule ssh;
  ssh.name = "ssh-to-server";
  ssh.dst = {*IpPrefix::parse("192.168.10.11/32")};
  ssh.proto = 6;
  ssh.dst_ports = {{22, 22}};
  ssh.log = true;
  FwRule dc;
  dc.name = "dc-only-web";
  dc.from = Zone::kOverlay;
  dc.proto = 6;
  dc.dst_ports = {{80, 80}};
  FwRule dc_rest;
  dc_rest.name = "dc-nothing-else";
  dc_rest.from = Zone::kOverlay;
  dc_rest.action = FwAction::kDeny;
  f.ts.set_policy(with_rules(f.ts, {deny_bad, ssh, dc, dc_rest}));
  const std::vector<Row> rows = {
      {"ssh from the internet to the server",
       wan_tcp("198.51.100.7", "192.168.10.11", 50000, 22, tcpf::kSyn), From::kWan, "edge:next",
       "firewall.allowed_rule"},
      {"ssh from the denied half",
       wan_tcp("198.51.100.200", "192.168.10.11", 50000, 22, tcpf::kSyn), From::kWan,
       "drop:firewall", "firewall.denied_rule"},
      {"ssh to another host", wan_tcp("198.51.100.7", "192.168.10.12", 50000, 22, tcpf::kSyn),
       From::kWan, "drop:firewall", "firewall.denied_default"},
      {"another port on the server",
       wan_tcp("198.51.100.7", "192.168.10.11", 50000, 23, tcpf::kSyn), From::kWan, "drop:firewall",
       "firewall.denied_default"},
      {"udp 22 (the rule says tcp)",
       PacketBuilder().eth(kUpMac, kGw).ipv4("198.51.100.7", "192.168.10.11").udp(5, 22).build(),
       From::kWan, "drop:firewall", "firewall.denied_default"},
      {"a later fragment has no ports: not matched by a port rule",
       PacketBuilder()
           .eth(kUpMac, kGw)
           .ipv4("198.51.100.7", "192.168.10.11", testing::Ipv4Opts{.frag_offset = 100})
           .payload(16)
           .build(),
       From::kWan, "drop:firewall", "firewall.denied_default"},
      {"datacenter web",
       PacketBuilder()
           .eth(kUpMac, kGw)
           .ipv4("10.0.0.5", "192.168.10.11")
           .tcp(5000, 80, tcpf::kSyn)
           .build(),
       From::kOverlay, "edge:next", "firewall.allowed_rule"},
      {"datacenter ssh, restricted by policy",
       PacketBuilder()
           .eth(kUpMac, kGw)
           .ipv4("10.0.0.5", "192.168.10.11")
           .tcp(5000, 22, tcpf::kSyn)
           .build(),
       From::kOverlay, "drop:firewall", "firewall.denied.overlay_lan"},
  };
  for (const Row& r : rows) {
    const uint64_t before = f.counter(r.counter);
    EXPECT_EQ(f.run(r.frame, r.from), r.expect) << r.what;
    EXPECT_EQ(f.counter(r.counter), before + 1) << r.what;
  }
  EXPECT_EQ(f.ts.policy->total_fw_hits(0), 1u);
  EXPECT_EQ(f.ts.policy->total_fw_hits(1), 1u);
  EXPECT_EQ(f.ts.policy->total_fw_hits(2), 1u);
  EXPECT_EQ(f.ts.policy->total_fw_hits(3), 1u);
  EXPECT_EQ(f.flows.wan_opened(), 1u);
  // Denials and logged allows reach the log; the allowed ssh flow is logged (log: true).
  std::vector<FwEvent> evs;
  uint64_t lost = 0;
  f.stage.fw_events().read(0, evs, lost);
  bool ssh_logged = false;
  for (const auto& e : evs) ssh_logged |= e.rule == 1 && e.verdict == FlowStage::kAllowedRule;
  EXPECT_TRUE(ssh_logged);
  EXPECT_EQ(lost, 0u);
}

TEST(Firewall, APolicyChangeRevokesWhatItNoLongerAllows) {
  Fixture f;
  FwRule ssh;
  ssh.name = "ssh";
  ssh.proto = 6;
  ssh.dst_ports = {{22, 22}};
  FwRule web = ssh;
  web.name = "web";
  web.dst_ports = {{80, 80}};
  f.ts.set_policy(with_rules(f.ts, {ssh, web}));
  uint32_t ssh_id = kNoFlow, web_id = kNoFlow, nat_id = kNoFlow;
  ASSERT_EQ(
      f.run(wan_tcp("198.51.100.7", "192.168.10.11", 50000, 22, tcpf::kSyn), From::kWan, &ssh_id),
      "edge:next");
  ASSERT_EQ(
      f.run(wan_tcp("198.51.100.7", "192.168.10.11", 50001, 80, tcpf::kSyn), From::kWan, &web_id),
      "edge:next");
  ASSERT_EQ(f.run(wan_tcp("203.0.113.99", "192.168.10.10", 443, 40001, tcpf::kSyn | tcpf::kAck),
                  From::kWanNat, &nat_id),
            "edge:next");
  // The operator removes the ssh rule: within a sweep of the table, that flow is revoked
  // (dropped both ways by the route stage); the web flow and the NAT mapping's flow stay.
  f.ts.set_policy(with_rules(f.ts, {web}));
  testing::StageHarness h(f.stage, &f.ts.view);
  for (uint32_t t = 0; t <= f.flows.capacity() / FlowStage::kSweepScan; ++t) h.idle(rte_rdtsc());
  EXPECT_EQ(f.flows.entry(ssh_id).uplink, kUplinkPolicyDrop);
  EXPECT_NE(f.flows.entry(web_id).uplink, kUplinkPolicyDrop);
  EXPECT_NE(f.flows.entry(nat_id).uplink, kUplinkPolicyDrop);
  EXPECT_EQ(f.counter("firewall.revoked"), 1u);
}

TEST(Firewall, WanFloodsKeepToTheirShareAndRate) {
  Fixture f;
  FwRule web;
  web.name = "web";
  web.proto = 6;
  web.dst_ports = {{8080, 8080}};
  auto p = with_rules(f.ts, {web});
  p->firewall.flood.wan_share_percent = 25;  // 256 of 1024
  p->firewall.flood.new_per_source = 100;    // bursts of 200
  f.ts.set_policy(p);
  // One source: its burst, then the rate limit.
  unsigned ok = 0;
  for (uint16_t i = 0; i < 400; ++i)
    ok += f.run(wan_tcp("198.51.100.7", "192.168.10.11", static_cast<uint16_t>(1000 + i), 8080,
                        tcpf::kSyn),
                From::kWan) == "edge:next";
  EXPECT_GE(ok, 200u);
  EXPECT_LT(ok, 260u) << "a source is held to its rate";
  EXPECT_GT(f.counter("firewall.flood_source_rate"), 0u);
  // Many sources (a SYN flood with random sources): the WAN's share of the table, no more.
  for (unsigned i = 0; i < 600; ++i) {
    const std::string src = "203.0." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
    const std::string s2 =
        "100." + std::to_string(64 + i % 50) + "." + std::to_string(i / 50) + ".9";
    f.run(wan_tcp(s2.c_str(), "192.168.10.11", 2000, 8080, tcpf::kSyn), From::kWan);
    (void)src;
  }
  EXPECT_EQ(f.flows.wan_opened(), 256u);
  EXPECT_GT(f.counter("firewall.flood_table_share"), 0u);
  // The LAN still opens flows.
  EXPECT_EQ(f.run(lan_tcp("192.168.10.10", "203.0.113.10", 40000, 443, tcpf::kSyn), From::kLan),
            "edge:next");
}

TEST(Firewall, AFloodAtOneServiceKeepsToItsRateAndLeavesTheOthers) {
  Fixture f;
  FwRule web;
  web.name = "web";
  web.proto = 6;
  web.dst_ports = {{8080, 8081}};
  auto p = with_rules(f.ts, {web});
  p->firewall.flood.wan_share_percent = 100;
  p->firewall.flood.new_per_destination = 50;  // bursts of 100
  f.ts.set_policy(p);
  unsigned ok = 0;
  for (unsigned i = 0; i < 300; ++i) {
    const std::string src =
        "100." + std::to_string(64 + i % 50) + "." + std::to_string(i / 50) + ".9";
    ok += f.run(wan_tcp(src.c_str(), "192.168.10.11", 2000, 8080, tcpf::kSyn), From::kWan) ==
          "edge:next";
  }
  EXPECT_GE(ok, 100u);
  EXPECT_LT(ok, 110u) << "random sources at one service are held to its rate";
  EXPECT_GT(f.counter("firewall.flood_destination_rate"), 0u);
  // Another service (port) and another host keep their own budget.
  EXPECT_EQ(f.run(wan_tcp("198.51.100.7", "192.168.10.11", 2001, 8081, tcpf::kSyn), From::kWan),
            "edge:next");
  EXPECT_EQ(f.run(wan_tcp("198.51.100.7", "192.168.10.12", 2002, 8080, tcpf::kSyn), From::kWan),
            "edge:next");
}

TEST(Firewall, RejectRulesAnswerWithRstOrUnreachable) {
  Fixture f;
  FwRule telnet;
  telnet.name = "no-telnet";
  telnet.proto = 6;
  telnet.dst_ports = {{23, 23}};
  telnet.action = FwAction::kReject;
  FwRule rest;
  rest.name = "reject-rest";
  rest.dst = {*IpPrefix::parse("192.168.10.0/24"), *IpPrefix::parse("fd00:10::/64")};
  rest.action = FwAction::kReject;
  FwRule dc_telnet = telnet;
  dc_telnet.name = "no-telnet-from-dc";
  dc_telnet.from = Zone::kOverlay;
  f.ts.set_policy(with_rules(f.ts, {telnet, rest, dc_telnet}));
  std::vector<uint8_t> b;
  PacketMeta md;
  // A SYN: RST+ACK acknowledging it, addresses, ports and MACs swapped, back out the uplink.
  ASSERT_EQ(f.run(wan_tcp("198.51.100.7", "192.168.10.11", 50000, 23, tcpf::kSyn), From::kWan,
                  nullptr, nullptr, &b, &md),
            "edge:reject");
  ASSERT_EQ(b.size(), 14u + 20 + 20);
  EXPECT_EQ(ip4(b, 14 + 12), "192.168.10.11");
  EXPECT_EQ(ip4(b, 14 + 16), "198.51.100.7");
  EXPECT_EQ(port_at(b, 34), 23);
  EXPECT_EQ(port_at(b, 36), 50000);
  EXPECT_EQ(b[34 + 13], 0x14) << "RST+ACK";
  EXPECT_EQ((uint32_t{b[42]} << 24 | uint32_t{b[43]} << 16 | uint32_t{b[44]} << 8 | b[45]), 2u)
      << "acknowledges the SYN (seq 1 + 1)";
  EXPECT_TRUE(checksums_ok(b));
  EXPECT_EQ(md.out_port, f.ts.up_port);
  EXPECT_EQ(std::memcmp(b.data(), testing::mac(kGw).addr_bytes, 6), 0) << "to the gateway";
  // UDP: ICMP destination unreachable, administratively prohibited, quoting the datagram.
  ASSERT_EQ(f.run(PacketBuilder()
                      .eth(kUpMac, kGw)
                      .ipv4("198.51.100.7", "192.168.10.11")
                      .udp(5, 161)
                      .payload(30)
                      .build(),
                  From::kWan, nullptr, nullptr, &b, &md),
            "edge:reject");
  ASSERT_EQ(b.size(), 14u + 20 + 8 + 28);
  EXPECT_EQ(b[23], 1) << "ICMP";
  EXPECT_EQ(b[34], 3);
  EXPECT_EQ(b[35], 13);
  EXPECT_EQ(ip4(b, 42 + 12), "198.51.100.7") << "the quoted packet";
  EXPECT_EQ(port_at(b, 42 + 22), 161);
  EXPECT_EQ(rte_raw_cksum(b.data() + 34, b.size() - 34), 0xffff) << "ICMP checksum";
  // IPv6: ICMPv6 type 1 code 1.
  ASSERT_EQ(
      f.run(PacketBuilder().eth(kUpMac, kGw).ipv6("2001:db8::7", "fd00:10::11").udp(5, 161).build(),
            From::kWan, nullptr, nullptr, &b, &md),
      "edge:reject");
  EXPECT_EQ(b[14 + 6], 58);
  EXPECT_EQ(b[54], 1);
  EXPECT_EQ(b[55], 1);
  // Never answered: a RST, an ICMP error, a fragment.
  const std::vector<Row> silent = {
      {"a RST", wan_tcp("198.51.100.7", "192.168.10.11", 50000, 23, tcpf::kRst), From::kWan,
       "drop:firewall", nullptr},
      {"an ICMP error",
       icmp_error("198.51.100.7", "192.168.10.11", 3,
                  wan_tcp("192.168.10.11", "198.51.100.9", 1, 2, tcpf::kAck)),
       From::kWan, "drop:firewall", nullptr},
      {"a later fragment",
       PacketBuilder()
           .eth(kUpMac, kGw)
           .ipv4("198.51.100.7", "192.168.10.11", testing::Ipv4Opts{.frag_offset = 10})
           .payload(16)
           .build(),
       From::kWan, "drop:firewall", nullptr},
      {"from the overlay (behind a tunnel)",
       PacketBuilder()
           .eth(kUpMac, kGw)
           .ipv4("10.0.0.5", "192.168.10.11")
           .tcp(5000, 23, tcpf::kSyn)
           .build(),
       From::kOverlay, "drop:firewall", nullptr},
  };
  for (const Row& r : silent) EXPECT_EQ(f.run(r.frame, r.from), r.expect) << r.what;
  // A flood of rejected packets gets at most the burst of answers.
  unsigned answered = 0;
  for (uint16_t i = 0; i < 400; ++i)
    answered += f.run(wan_tcp("198.51.100.7", "192.168.10.11", static_cast<uint16_t>(3000 + i), 23,
                              tcpf::kSyn),
                      From::kWan) == "edge:reject";
  EXPECT_LE(answered, 2 * FlowStage::kRejectsPerSecond);
  EXPECT_GT(f.counter("firewall.rejects_rate_limited"), 0u);
}

struct SourceRow {
  const char* what;
  const char* src;
  int32_t vid;
  SourceCheck check;
  bool ok;
};

TEST(Firewall, LanSourceCheckPerSegment) {
  FirewallPolicy fw;
  fw.segments = {{"staff", 100, {*IpPrefix::parse("10.30.0.0/22")}},
                 {"wifi", 200, {*IpPrefix::parse("10.30.64.0/20")}},
                 {"cameras", 300, {}},
                 {"printers", -1, {*IpPrefix::parse("10.40.0.0/24")}}};
  const std::vector<IpPrefix> site = {*IpPrefix::parse("192.168.10.0/24"),
                                      *IpPrefix::parse("fd00:10::/64")};
  const std::vector<SourceRow> rows = {
      {"staff host on the staff VLAN", "10.30.1.5", 100, SourceCheck::kStrict, true},
      {"staff address from the wifi VLAN", "10.30.1.5", 200, SourceCheck::kStrict, false},
      {"wifi address from the staff VLAN", "10.30.64.9", 100, SourceCheck::kStrict, false},
      {"staff address untagged", "10.30.1.5", -1, SourceCheck::kStrict, false},
      {"site LAN address on the staff VLAN (staff has its own prefixes)", "192.168.10.5", 100,
       SourceCheck::kStrict, false},
      {"IPv6 site address on the staff VLAN (staff has only IPv4 prefixes)", "fd00:10::5", 100,
       SourceCheck::kStrict, true},
      {"camera VLAN without prefixes: site LAN address", "192.168.10.7", 300, SourceCheck::kStrict,
       true},
      {"camera VLAN: staff address", "10.30.1.5", 300, SourceCheck::kStrict, false},
      {"untagged site host", "192.168.10.5", -1, SourceCheck::kStrict, true},
      {"prefix-only segment from any VLAN", "10.40.0.5", 300, SourceCheck::kStrict, true},
      {"outside everything", "8.8.8.8", -1, SourceCheck::kStrict, false},
      {"loose: another segment's address", "10.30.1.5", 200, SourceCheck::kLoose, true},
      {"loose: outside everything", "8.8.8.8", 100, SourceCheck::kLoose, false},
      {"off: anything", "8.8.8.8", 100, SourceCheck::kOff, true},
  };
  for (const auto& r : rows) {
    fw.lan_source = r.check;
    const IpAddr a = *IpAddr::parse(r.src);
    EXPECT_EQ(fw.lan_source_ok(a, a.is_v4(), r.vid, site), r.ok) << r.what;
  }
}

// The whole worker pipeline with NAT: what a port forward does to real frames both ways.
struct ForwardRig {
  testing::TestSite ts{"fwd"};
  FlowTable flows{4096, FlowTimeouts{}, 0};
  std::unique_ptr<NatTable> nat;
  std::unique_ptr<Pipeline> pipe;
  ForwardRig() {
    auto p = std::make_shared<PolicySnapshot>(*ts.policy);
    PortForward web;
    web.name = "web";
    web.uplink = 0;
    web.proto = 6;
    web.port = 8080;
    web.to = *IpAddr::parse("192.168.10.11");
    web.to_port = 80;
    PortForward dns;
    dns.name = "dns-partners";
    dns.uplink = 0;
    dns.proto = 17;
    dns.port = 5353;
    dns.to = *IpAddr::parse("192.168.10.12");
    dns.to_port = 53;
    dns.src = {*IpPrefix::parse("203.0.113.0/24")};
    p->firewall.forwards = {web, dns};
    ts.set_policy(p);
    ts.site.lan->neighbors->learn(*IpAddr::parse("192.168.10.11"),
                                  testing::mac("02:00:00:00:0a:11"), rte_rdtsc());
    ts.site.lan->neighbors->learn(*IpAddr::parse("192.168.10.12"),
                                  testing::mac("02:00:00:00:0a:12"), rte_rdtsc());
    nat = testing::breakout_nat_table();
    WorkerDeps d = testing::nat_worker_deps(ts, flows, *nat);
    pipe = make_worker_pipeline(std::move(d));
  }
  // Sends one frame; returns the frames that left on `out_port` (copied bytes).
  std::vector<std::vector<uint8_t>> send(const Frame& f, bool from_lan, uint16_t out_port) {
    rte_mbuf* m = testing::to_mbuf(testing::test_pool(), f, from_lan ? ts.lan_port : ts.up_port);
    mark_rx(&m, 1, from_lan ? ts.lan_port : ts.up_port, from_lan);
    pipe->run(pipe->node_index("parse"), &m, 1, ts.ctx());
    std::vector<std::vector<uint8_t>> out;
    rte_mbuf* got[32];
    const uint16_t n = rte_eth_rx_burst(out_port, 0, got, 32);
    for (uint16_t i = 0; i < n; ++i) {
      const auto* b = rte_pktmbuf_mtod(got[i], const uint8_t*);
      out.emplace_back(b, b + rte_pktmbuf_data_len(got[i]));
      rte_pktmbuf_free(got[i]);
    }
    ts.drain_lan();
    ts.drain_uplink();
    return out;
  }
  uint64_t c(const std::string& name) const {
    std::vector<CounterValue> cs;
    pipe->collect(cs);
    for (auto& x : cs)
      if (x.name == name) return x.value;
    return 0;
  }
};

TEST(PortForward, OpensOnePortToOneHostAndAnswersFromThePublicPort) {
  ForwardRig r;
  // In: the uplink's address, port 8080 → the LAN host's port 80.
  auto in =
      r.send(wan_tcp("198.51.100.7", "100.64.1.2", 50000, 8080, tcpf::kSyn), false, r.ts.lan_port);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(ip4(in[0], 14 + 12), "198.51.100.7");
  EXPECT_EQ(ip4(in[0], 14 + 16), "192.168.10.11");
  EXPECT_EQ(port_at(in[0], 14 + 20), 50000);
  EXPECT_EQ(port_at(in[0], 14 + 22), 80);
  EXPECT_TRUE(checksums_ok(in[0]));
  EXPECT_EQ(r.c("firewall.allowed_port_forward"), 1u);
  EXPECT_EQ(r.c("nat_in.port_forwarded"), 1u);
  // Out: the host's answer leaves from the uplink's address and the public port.
  auto out = r.send(PacketBuilder()
                        .eth(kLanMac, "02:00:00:00:0a:11")
                        .ipv4("192.168.10.11", "198.51.100.7")
                        .tcp(80, 50000, tcpf::kSyn | tcpf::kAck)
                        .build(),
                    true, r.ts.up_port);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(ip4(out[0], 14 + 12), "100.64.1.2");
  EXPECT_EQ(port_at(out[0], 14 + 20), 8080);
  EXPECT_EQ(ip4(out[0], 14 + 16), "198.51.100.7");
  EXPECT_EQ(port_at(out[0], 14 + 22), 50000);
  EXPECT_TRUE(checksums_ok(out[0]));
  // The rest of the data flows through the same flow.
  EXPECT_EQ(
      r.send(wan_tcp("198.51.100.7", "100.64.1.2", 50000, 8080, tcpf::kAck), false, r.ts.lan_port)
          .size(),
      1u);
  EXPECT_EQ(r.ts.policy->total_fwd_hits(0), 1u);

  struct FwdRow {
    const char* what;
    Frame frame;
    const char* counter;
  };
  const std::vector<FwdRow> rows = {
      {"another public port: the box's, not forwarded",
       wan_tcp("198.51.100.7", "100.64.1.2", 50001, 8081, tcpf::kSyn), "local.local_unhandled"},
      {"the forwarded port over UDP: not forwarded",
       PacketBuilder().eth(kUpMac, kGw).ipv4("198.51.100.7", "100.64.1.2").udp(5, 8080).build(),
       "local.local_unhandled"},
      {"the LAN host itself, routed: still denied",
       wan_tcp("198.51.100.7", "192.168.10.11", 50002, 80, tcpf::kSyn), "firewall.denied.wan_lan"},
      {"a forward limited to partners, from elsewhere",
       PacketBuilder().eth(kUpMac, kGw).ipv4("198.51.100.7", "100.64.1.2").udp(5, 5353).build(),
       "nat_in.forward_source_denied"},
  };
  for (const auto& row : rows) {
    const uint64_t before = r.c(row.counter);
    EXPECT_TRUE(r.send(row.frame, false, r.ts.lan_port).empty()) << row.what;
    EXPECT_EQ(r.c(row.counter), before + 1) << row.what;
  }
  // The forward goes away: its connection is revoked (both directions dropped).
  auto p2 = std::make_shared<PolicySnapshot>(*r.ts.policy);
  p2->firewall.forwards.erase(p2->firewall.forwards.begin());
  r.ts.set_policy(p2);
  for (uint32_t t = 0; t <= r.flows.capacity() / FlowStage::kSweepScan; ++t)
    r.pipe->idle(r.ts.ctx());
  EXPECT_TRUE(
      r.send(wan_tcp("198.51.100.7", "100.64.1.2", 50000, 8080, tcpf::kAck), false, r.ts.lan_port)
          .empty());
  EXPECT_TRUE(r.send(PacketBuilder()
                         .eth(kLanMac, "02:00:00:00:0a:11")
                         .ipv4("192.168.10.11", "198.51.100.7")
                         .tcp(80, 50000, tcpf::kAck)
                         .build(),
                     true, r.ts.up_port)
                  .empty());
  EXPECT_EQ(r.c("firewall.revoked"), 1u);
  // From a partner: forwarded to the other host's port 53 (a forward still in the policy).
  auto dns = r.send(
      PacketBuilder().eth(kUpMac, kGw).ipv4("203.0.113.5", "100.64.1.2").udp(33000, 5353).build(),
      false, r.ts.lan_port);
  ASSERT_EQ(dns.size(), 1u);
  EXPECT_EQ(ip4(dns[0], 14 + 16), "192.168.10.12");
  EXPECT_EQ(port_at(dns[0], 14 + 22), 53);
}

}  // namespace
}  // namespace traboule::dp

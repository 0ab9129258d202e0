// SPDX-License-Identifier: Apache-2.0
// Route, forward and tx stages from tables: which uplink or LAN, which drop, and what the
// frame looks like after the L2 rewrite and TTL decrement, hostile rows included.
#include <gtest/gtest.h>
#include <rte_ip.h>

#include "dataplane/stages/forward.h"
#include "dataplane/stages/parse.h"
#include "dataplane/stages/route.h"
#include "dataplane/stages/tx.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/parse_frame.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using testing::Frame;
using testing::Ipv4Opts;
using testing::PacketBuilder;

constexpr uint16_t kLan = 0, kFiber = 1, kLte = 2, kUnknownPort = 9;
constexpr const char* kLanMac = "02:00:00:00:0a:01";
constexpr const char* kFiberMac = "02:00:00:00:0b:01";
constexpr const char* kLteMac = "02:00:00:00:0c:01";
constexpr const char* kHost = "02:00:00:00:0a:10";
constexpr const char* kFiberGw = "02:00:00:00:0b:fe";

// LAN + fiber (v4 and v6 gateways, resolved) + lte (v4 only, gateway resolved). Port ids are
// labels here: route and forward never touch a port.
struct Sites {
  Site site;
  std::shared_ptr<PolicySnapshot> policy;
  WorkerView view;
  void set_policy(std::shared_ptr<PolicySnapshot> p) {
    policy = std::move(p);
    policy->prepare_hits();
    view.policy = policy.get();
    ++view.policy_gen;
  }
  Sites() {
    auto mk = [&](const char* name, uint16_t port, bool lan, const char* mac, uint8_t uplink) {
      auto i = std::make_unique<Interface>();
      i->name = name;
      i->port_id = port;
      i->is_lan = lan;
      i->mac = testing::mac(mac);
      i->uplink = uplink;
      i->neighbors = std::make_unique<NeighborTable>(64);
      i->link_up = true;
      site.by_port[port] = i.get();
      return i;
    };
    auto lan = mk("lan", kLan, true, kLanMac, kNoUplink);
    lan->v4 = IfAddr{*IpAddr::parse("192.168.10.1"), 24};
    lan->neighbors->learn(*IpAddr::parse("192.168.10.20"), testing::mac("02:00:00:00:0a:20"), 1);
    auto fiber = mk("fiber", kFiber, false, kFiberMac, 0);
    fiber->gw4 = *IpAddr::parse("100.64.1.1");
    fiber->gw6 = *IpAddr::parse("fd00:64:1::1");
    fiber->neighbors->set_static(*fiber->gw4, testing::mac(kFiberGw));
    fiber->neighbors->set_static(*fiber->gw6, testing::mac(kFiberGw));
    auto lte = mk("lte", kLte, false, kLteMac, 1);
    lte->gw4 = *IpAddr::parse("100.64.2.1");
    lte->neighbors->set_static(*lte->gw4, testing::mac("02:00:00:00:0c:fe"));
    site.lan = lan.get();
    site.uplinks = {fiber.get(), lte.get()};
    site.lan_prefixes = {*IpPrefix::parse("192.168.10.0/24"), *IpPrefix::parse("fd00:10::/64")};
    policy = std::make_shared<PolicySnapshot>();
    policy->uplinks = {{.name = "fiber"}, {.name = "lte"}};
    auto rule = [&](const char* name, std::vector<uint8_t> ups) -> CompiledRule& {
      CompiledRule r;
      r.name = name;
      r.action.uplinks = std::move(ups);
      policy->rules.push_back(r);
      return policy->rules.back();
    };
    auto& voice = rule("voice", {1, 0});
    voice.match.proto = 17;
    voice.match.dst_ports = {{5060, 5061}};
    rule("ef", {1}).match.dscp_mask = uint64_t{1} << 46;
    rule("dc", {0}).match.dst = {*IpPrefix::parse("10.0.0.0/8")};
    auto& blocked = rule("blocked", {});
    blocked.match.dst = {*IpPrefix::parse("198.51.100.0/24")};
    blocked.action.egress = Egress::kDrop;
    rule("default", {0, 1});
    set_policy(policy);
    site.ifaces.push_back(std::move(lan));
    site.ifaces.push_back(std::move(fiber));
    site.ifaces.push_back(std::move(lte));
  }
};

rte_mbuf* parsed(const Frame& f, uint16_t port) {
  return testing::parsed_frame(f, port, port == kLan);
}

struct RouteRow {
  const char* what;
  Frame frame;
  uint16_t port;
  std::string expect;
  uint8_t uplink = kNoUplink;
};

TEST(RouteTable, PicksUplinkOrDrops) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 0);
  auto lan = [] { return PacketBuilder().eth(kLanMac, kHost); };
  auto wan = [] { return PacketBuilder().eth(kFiberMac, kFiberGw); };
  std::vector<RouteRow> rows;
  rows.push_back({"default rule → fiber",
                  lan().ipv4("192.168.10.10", "203.0.113.1").tcp(40000, 443).build(), kLan,
                  "edge:uplink", 0});
  rows.push_back({"voice port → lte first",
                  lan().ipv4("192.168.10.10", "203.0.113.1").udp(5000, 5061).build(), kLan,
                  "edge:uplink", 1});
  rows.push_back({"voice port but tcp → default",
                  lan().ipv4("192.168.10.10", "203.0.113.1").tcp(5000, 5060).build(), kLan,
                  "edge:uplink", 0});
  rows.push_back(
      {"dscp EF → lte",
       lan().ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.tos = 46 << 2}).udp(1, 2).build(), kLan,
       "edge:uplink", 1});
  rows.push_back({"dst prefix 10/8 → fiber",
                  lan().ipv4("192.168.10.10", "10.1.2.3", Ipv4Opts{.tos = 0}).udp(1, 2).build(),
                  kLan, "edge:uplink", 0});
  rows.push_back({"IPv6 voice: lte has no v6 gateway → fiber",
                  lan().ipv6("fd00:10::10", "2001:db8::1").udp(5000, 5060).build(), kLan,
                  "edge:uplink", 0});
  rows.push_back(
      {"fragment (no ports) skips the voice rule",
       lan().ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.mf = true}).udp(5000, 5060).build(),
       kLan, "edge:uplink", 0});
  rows.push_back({"policy egress drop",
                  lan().ipv4("192.168.10.10", "198.51.100.7").tcp(40000, 443).build(), kLan,
                  "drop:policy_drop"});
  rows.push_back({"WAN reply to a dropped destination still reaches the LAN",
                  wan().ipv4("198.51.100.7", "192.168.10.10").tcp(443, 40000).build(), kFiber,
                  "edge:lan"});
  rows.push_back({"not our MAC (promiscuous)",
                  PacketBuilder()
                      .eth("02:00:00:00:0a:99", kHost)
                      .ipv4("192.168.10.10", "203.0.113.1")
                      .udp(1, 2)
                      .build(),
                  kLan, "drop:not_our_mac"});
  rows.push_back({"broadcast MAC",
                  PacketBuilder()
                      .eth("ff:ff:ff:ff:ff:ff", kHost)
                      .ipv4("192.168.10.10", "203.0.113.1")
                      .udp(1, 2)
                      .build(),
                  kLan, "drop:not_our_mac"});
  rows.push_back({"LAN to LAN", lan().ipv4("192.168.10.10", "192.168.10.11").udp(1, 2).build(),
                  kLan, "drop:lan_to_lan"});
  rows.push_back({"WAN to a LAN host",
                  wan().ipv4("203.0.113.1", "192.168.10.10").udp(443, 40000).build(), kFiber,
                  "edge:lan"});
  rows.push_back({"WAN to a LAN host, IPv6",
                  wan().ipv6("2001:db8::1", "fd00:10::10").udp(443, 40000).build(), kFiber,
                  "edge:lan"});
  rows.push_back({"WAN to elsewhere", wan().ipv4("203.0.113.1", "198.51.100.1").udp(1, 2).build(),
                  kFiber, "drop:no_route"});
  rows.push_back({"link-local destination",
                  lan().ipv4("192.168.10.10", "169.254.1.1").udp(1, 2).build(), kLan,
                  "drop:not_routable"});
  rows.push_back({"link-local source, IPv6",
                  lan().ipv6("fe80::10", "2001:db8::1").udp(1, 2).build(), kLan,
                  "drop:not_routable"});
  rows.push_back({"unknown ingress port",
                  lan().ipv4("192.168.10.10", "203.0.113.1").udp(1, 2).build(), kUnknownPort,
                  "drop:unknown_port"});

  for (auto& r : rows) {
    rte_mbuf* m = parsed(r.frame, r.port == kUnknownPort ? kLan : r.port);
    meta(m).in_port = r.port;
    testing::StageHarness h(route, &s.view);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u) << r.what;
    EXPECT_EQ(v[0].where, r.expect) << r.what;
    if (r.uplink != kNoUplink && v[0].pkt != nullptr) {
      EXPECT_EQ(meta(v[0].pkt).uplink, r.uplink) << r.what;
      EXPECT_EQ(meta(v[0].pkt).out_port, s.site.uplinks[r.uplink]->port_id) << r.what;
    }
    if (r.expect == "edge:lan") {
      EXPECT_EQ(meta(v[0].pkt).out_port, kLan) << r.what;
    }
  }
}

// An edge's overlay packets leave in the family of the hub endpoint encap picks for the uplink,
// so whether an uplink can carry an overlay flow depends on that family's gateway, not on the
// inner packet's (a bug: IPv6 flows to the overlay over an IPv4-only uplink were no_uplink).
TEST(RouteOverlay, TheUnderlaysFamilyDecidesNotTheInnerOne) {
  struct Row {
    const char* what;
    std::vector<const char*> endpoints;  // the hub's, in order
    bool inner_v6;
    std::string expect;
  };
  const std::vector<Row> rows = {
      {"IPv6 flow, IPv4 hub, lte has only IPv4: overlay over lte",
       {"203.0.113.50"},
       true,
       "edge:overlay"},
      {"IPv4 flow, IPv4 hub: overlay over lte", {"203.0.113.50"}, false, "edge:overlay"},
      {"IPv4 flow, IPv6-only hub: lte has no IPv6 to reach it",
       {"2001:db8:ff::50"},
       false,
       "drop:no_uplink"},
      {"IPv6 flow, hub v6 then v4: lte reaches the v4 one",
       {"2001:db8:ff::50", "203.0.113.50"},
       true,
       "edge:overlay"},
      {"hostile: the hub has no endpoint at all", {}, true, "drop:no_uplink"},
  };
  for (const Row& r : rows) {
    Sites s;
    s.site.uplinks[1]->v4 = IfAddr{*IpAddr::parse("100.64.2.2"), 24};  // lte: IPv4 only
    auto p = std::make_shared<PolicySnapshot>(*s.policy);
    OverlayPeerDp hub{.name = "hub", .port = 4500};
    for (const char* e : r.endpoints) hub.endpoints.push_back(*IpAddr::parse(e));
    p->peers = {hub};
    CompiledRule only;
    only.name = "dc-over-lte";
    only.action.egress = Egress::kOverlay;
    only.action.uplinks = {1};
    p->rules = {only};
    s.set_policy(p);
    FlowTable flows(1024, FlowTimeouts{}, 0);
    RouteStage route(s.site, flows, 0, OverlayConfig{.port = 4500, .site_id = 7});
    auto b = PacketBuilder().eth(kLanMac, kHost);
    Frame f = r.inner_v6 ? b.ipv6("fd00:10::10", "2001:db8::1").udp(1, 2).build()
                         : b.ipv4("192.168.10.10", "10.1.2.3").udp(1, 2).build();
    rte_mbuf* m = parsed(f, kLan);
    testing::StageHarness h(route, &s.view);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u) << r.what;
    EXPECT_EQ(v[0].where, r.expect) << r.what;
    if (r.expect == "edge:overlay") {
      EXPECT_EQ(meta(v[0].pkt).uplink, 1) << r.what;
    }
  }
}

TEST(RouteTable, FlowsStickAndMoveWhenTheirUplinkGoesDown) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 0);
  Frame f = PacketBuilder()
                .eth(kLanMac, kHost)
                .ipv4("192.168.10.10", "203.0.113.1")
                .udp(5000, 5060)
                .build();
  FlowKey key;
  auto run = [&] {
    rte_mbuf* m = parsed(f, kLan);
    make_flow_key(meta(m), key);
    FlowRequest req{key, flow_hash(key) | 1u, 0, true};
    uint32_t id;
    flows.lookup_or_create(&req, 1, 1, &id);
    meta(m).flow_id = id;
    testing::StageHarness h(route, &s.view);
    auto v = h.run({m});
    return v[0].where == "edge:uplink" ? meta(v[0].pkt).uplink : kNoUplink;
  };
  EXPECT_EQ(run(), 1);  // voice → lte
  s.site.uplinks[1]->link_up = false;
  EXPECT_EQ(run(), 0) << "lte down: the flow moves to fiber";
  s.site.uplinks[1]->link_up = true;
  EXPECT_EQ(run(), 0) << "lte back: the flow stays where it is (no flapping, no reordering)";
  s.site.uplinks[0]->link_up = false;
  s.site.uplinks[1]->link_up = false;
  EXPECT_EQ(run(), kNoUplink) << "nothing up: drop:no_uplink";
}

TEST(RouteTable, RepliesLeaveByTheUplinkAWanFlowCameInOn) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 0);
  auto with_flow = [&](rte_mbuf* m) {
    FlowRequest req;
    flow_request(meta(m), req);
    uint32_t id;
    flows.lookup_or_create(&req, 1, 1, &id);
    meta(m).flow_id = id;
    return m;
  };
  // A connection opened from the internet arrives on lte (uplink 1)...
  Frame in = PacketBuilder()
                 .eth(kLteMac, "02:00:00:00:0c:fe")
                 .ipv4("198.51.100.9", "192.168.10.10")
                 .tcp(50000, 22, testing::tcpf::kSyn)
                 .build();
  testing::StageHarness h1(route, &s.view);
  EXPECT_EQ(h1.run({with_flow(parsed(in, kLte))})[0].where, "edge:lan");
  // ...so the LAN host's reply goes back on lte, although the default rule prefers fiber.
  Frame reply = PacketBuilder()
                    .eth(kLanMac, kHost)
                    .ipv4("192.168.10.10", "198.51.100.9")
                    .tcp(22, 50000, testing::tcpf::kSyn | testing::tcpf::kAck)
                    .build();
  testing::StageHarness h2(route, &s.view);
  auto v = h2.run({with_flow(parsed(reply, kLan))});
  ASSERT_EQ(v[0].where, "edge:uplink");
  EXPECT_EQ(meta(v[0].pkt).uplink, 1);
}

TEST(RouteTable, NewFlowsSkipAnUplinkWhoseGatewayDoesNotAnswer) {
  Sites s;
  s.site.uplinks[0]->neighbors = std::make_unique<NeighborTable>(64);  // fiber's gateway unknown
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 0);
  testing::StageHarness h(route, &s.view);
  auto v = h.run({parsed(
      PacketBuilder().eth(kLanMac, kHost).ipv4("192.168.10.10", "203.0.113.1").tcp(1, 443).build(),
      kLan)});
  ASSERT_EQ(v[0].where, "edge:uplink");
  EXPECT_EQ(meta(v[0].pkt).uplink, 1) << "default prefers fiber, but fiber cannot deliver";
}

// One UDP flow from the LAN host through `route`, with a flow entry kept across calls.
struct FlowRunner {
  Sites& s;
  FlowTable& flows;
  RouteStage& route;
  std::string where;
  uint8_t run(const Frame& f) {
    rte_mbuf* m = parsed(f, kLan);
    FlowRequest req;
    flow_request(meta(m), req);
    uint32_t id;
    flows.lookup_or_create(&req, 1, 1, &id);
    meta(m).flow_id = id;
    testing::StageHarness h(route, &s.view);
    auto v = h.run({m});
    where = v[0].where;
    return where == "edge:uplink" ? meta(v[0].pkt).uplink : kNoUplink;
  }
};

TEST(RoutePolicy, ANewPolicyReevaluatesExistingFlowsOnTheirNextPacket) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 0);
  FlowRunner fr{s, flows, route, {}};
  Frame web = PacketBuilder()
                  .eth(kLanMac, kHost)
                  .ipv4("192.168.10.10", "203.0.113.1")
                  .tcp(40000, 443)
                  .build();
  EXPECT_EQ(fr.run(web), 0) << "default rule: fiber first";
  // New policy: the default rule prefers lte. The flow's uplink (fiber) is still allowed by the
  // new rule: it stays (stickiness survives a policy change).
  auto p2 = std::make_shared<PolicySnapshot>(*s.policy);
  p2->rules.back().action.uplinks = {1, 0};
  s.set_policy(p2);
  EXPECT_EQ(fr.run(web), 0) << "still allowed: sticky";
  // Next policy: fiber no longer allowed for the default rule → the flow moves on its next packet.
  auto p3 = std::make_shared<PolicySnapshot>(*s.policy);
  p3->rules.back().action.uplinks = {1};
  s.set_policy(p3);
  EXPECT_EQ(fr.run(web), 1) << "fiber not allowed any more: moved to lte";
  // Then a policy that drops this destination: the established flow is cut on its next packet.
  auto p4 = std::make_shared<PolicySnapshot>(*s.policy);
  CompiledRule block;
  block.name = "block-web";
  block.match.dst_ports = {{443, 443}};
  block.match.proto = 6;
  block.action.egress = Egress::kDrop;
  p4->rules.insert(p4->rules.begin(), block);
  s.set_policy(p4);
  EXPECT_EQ(fr.run(web), kNoUplink);
  EXPECT_EQ(fr.where, "drop:policy_drop");
  EXPECT_EQ(fr.run(web), kNoUplink);
  EXPECT_EQ(fr.where, "drop:policy_drop") << "cached: later packets are dropped too";
  EXPECT_EQ(s.policy->total_hits(0).packets, 2u);
  // Back to a permissive policy: the flow flows again.
  s.set_policy(std::make_shared<PolicySnapshot>(*p3));
  EXPECT_EQ(fr.run(web), 1);
}

TEST(RoutePolicy, BackupUplinksCarryTrafficOnlyWhenNoPrimaryCan) {
  Sites s;
  auto p = std::make_shared<PolicySnapshot>(*s.policy);
  p->uplinks[0].role = UplinkRole::kBackup;  // fiber as backup, although listed first
  s.set_policy(p);
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 0);
  FlowRunner fr{s, flows, route, {}};
  Frame web = PacketBuilder()
                  .eth(kLanMac, kHost)
                  .ipv4("192.168.10.10", "203.0.113.1")
                  .tcp(40000, 443)
                  .build();
  EXPECT_EQ(fr.run(web), 1) << "lte is the only primary";
  s.site.uplinks[1]->link_up = false;
  EXPECT_EQ(fr.run(web), 0) << "no primary left: the backup";
  s.site.uplinks[0]->link_up = false;
  EXPECT_EQ(fr.run(web), kNoUplink);
  EXPECT_EQ(fr.where, "drop:no_uplink");
}

TEST(RoutePolicy, UplinksMeasuredDownAreAvoidedUnlessNothingElseIsLeft) {
  Sites s;
  LinkSnapshot links;
  s.view.links = &links;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 0);
  FlowRunner fr{s, flows, route, {}};
  Frame web = PacketBuilder()
                  .eth(kLanMac, kHost)
                  .ipv4("192.168.10.10", "203.0.113.1")
                  .tcp(40000, 443)
                  .build();
  EXPECT_EQ(fr.run(web), 0) << "fiber first";
  links.uplinks[0].state = LinkHealth::kDown;  // the probes say fiber is down
  EXPECT_EQ(fr.run(web), 1) << "the established flow leaves fiber at once";
  links.uplinks[0].state = LinkHealth::kUp;
  EXPECT_EQ(fr.run(web), 1) << "and stays on lte when fiber comes back (no flapping)";
  links.uplinks[0].state = LinkHealth::kDown;
  links.uplinks[1].state = LinkHealth::kDown;
  EXPECT_EQ(fr.run(web), 1) << "everything measured down: best available rather than nothing";
  links.uplinks[1].state = LinkHealth::kUnknown;
  EXPECT_EQ(fr.run(web), 1) << "unknown counts as usable";
}

TEST(RoutePolicy, RuleHitsCountFlowsPacketsAndBytesPerRule) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  RouteStage route(s.site, flows, 3);  // worker 3: its own counter row
  FlowRunner fr{s, flows, route, {}};
  Frame voice = PacketBuilder()
                    .eth(kLanMac, kHost)
                    .ipv4("192.168.10.10", "203.0.113.1")
                    .udp(5000, 5060)
                    .build();
  for (int i = 0; i < 3; ++i) fr.run(voice);
  RuleHits h = s.policy->total_hits(0);
  EXPECT_EQ(h.flows, 1u);
  EXPECT_EQ(h.packets, 3u);
  EXPECT_EQ(h.bytes, 3u * (voice.bytes.size() - voice.l3_off));
  EXPECT_EQ(s.policy->total_hits(4).packets, 0u) << "default rule untouched";
}

TEST(RoutePolicy, NoPolicyOrEmptyPolicyDropsByName) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  WorkerView empty;
  RouteStage route(s.site, flows, 0);
  testing::StageHarness h(route, &empty);
  auto v = h.run({parsed(
      PacketBuilder().eth(kLanMac, kHost).ipv4("192.168.10.10", "203.0.113.1").tcp(1, 443).build(),
      kLan)});
  EXPECT_EQ(v[0].where, "drop:no_policy");
}

struct FwdRow {
  const char* what;
  Frame frame;
  uint16_t in_port;
  uint16_t out_port;
  std::string expect;
  const char* dst_mac = nullptr;  // expected after rewrite
  uint8_t ttl = 0;                // expected after decrement
};

TEST(ForwardTable, RewritesL2AndTtlOrDrops) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  ForwardStage fwd(s.site, flows);
  auto lan = [] { return PacketBuilder().eth(kLanMac, kHost); };
  std::vector<FwdRow> rows;
  rows.push_back({"v4 to fiber",
                  lan().ipv4("192.168.10.10", "203.0.113.1").udp(1, 2).payload(10).build(), kLan,
                  kFiber, "edge:egress", kFiberGw, 63});
  rows.push_back(
      {"TTL 255",
       lan().ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.ttl = 255}).udp(1, 2).build(), kLan,
       kFiber, "edge:egress", kFiberGw, 254});
  rows.push_back({"TTL 2 is the last hop we give",
                  lan().ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.ttl = 2}).udp(1, 2).build(),
                  kLan, kFiber, "edge:egress", kFiberGw, 1});
  rows.push_back({"TTL 1",
                  lan().ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.ttl = 1}).udp(1, 2).build(),
                  kLan, kFiber, "drop:ttl_exceeded"});
  rows.push_back({"TTL 0",
                  lan().ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.ttl = 0}).udp(1, 2).build(),
                  kLan, kFiber, "drop:ttl_exceeded"});
  rows.push_back({"v6 to fiber",
                  lan().ipv6("fd00:10::10", "2001:db8::1", {.hop_limit = 9}).udp(1, 2).build(),
                  kLan, kFiber, "edge:egress", kFiberGw, 8});
  rows.push_back({"v6 hop limit 1",
                  lan().ipv6("fd00:10::10", "2001:db8::1", {.hop_limit = 1}).udp(1, 2).build(),
                  kLan, kFiber, "drop:ttl_exceeded"});
  rows.push_back({"v6 to lte: no v6 gateway",
                  lan().ipv6("fd00:10::10", "2001:db8::1").udp(1, 2).build(), kLan, kLte,
                  "drop:no_gateway"});
  rows.push_back(
      {"QinQ tags removed",
       lan().vlan(100, 0x88a8).vlan(200).ipv4("192.168.10.10", "203.0.113.1").udp(1, 2).build(),
       kLan, kFiber, "edge:egress", kFiberGw, 63});
  rows.push_back({"to a known LAN host",
                  PacketBuilder()
                      .eth(kFiberMac, kFiberGw)
                      .ipv4("203.0.113.1", "192.168.10.20")
                      .udp(2, 1)
                      .build(),
                  kFiber, kLan, "edge:egress", "02:00:00:00:0a:20", 63});
  rows.push_back({"to an unknown LAN host",
                  PacketBuilder()
                      .eth(kFiberMac, kFiberGw)
                      .ipv4("203.0.113.1", "192.168.10.30")
                      .udp(2, 1)
                      .build(),
                  kFiber, kLan, "drop:neighbor_unresolved"});
  rows.push_back({"egress port unknown",
                  lan().ipv4("192.168.10.10", "203.0.113.1").udp(1, 2).build(), kLan, kUnknownPort,
                  "drop:bad_egress"});
  for (auto& r : rows) {
    rte_mbuf* m = parsed(r.frame, r.in_port);
    meta(m).out_port = r.out_port;
    const uint32_t len_before = rte_pktmbuf_pkt_len(m);
    const uint16_t l2_before = meta(m).l2_len;
    testing::StageHarness h(fwd);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u) << r.what;
    EXPECT_EQ(v[0].where, r.expect) << r.what;
    if (r.expect != "edge:egress") continue;
    auto bytes = testing::from_mbuf(v[0].pkt);
    EXPECT_EQ(bytes.size(), len_before - (l2_before - 14)) << r.what << ": VLAN tags removed";
    rte_ether_addr dst, src;
    std::memcpy(&dst, bytes.data(), 6);
    std::memcpy(&src, bytes.data() + 6, 6);
    const rte_ether_addr want = testing::mac(r.dst_mac);
    EXPECT_TRUE(rte_is_same_ether_addr(&dst, &want)) << r.what;
    EXPECT_TRUE(rte_is_same_ether_addr(&src, &s.site.iface(r.out_port)->mac)) << r.what;
    if (meta(v[0].pkt).l3 == L3Kind::kIpv4) {
      EXPECT_EQ(bytes[12], 0x08);
      EXPECT_EQ(bytes[14 + 8], r.ttl) << r.what;
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(bytes.data() + 14);
      const uint16_t got = ip->hdr_checksum;
      ip->hdr_checksum = 0;
      EXPECT_EQ(got, rte_ipv4_cksum(ip)) << r.what << ": header checksum still valid";
    } else {
      EXPECT_EQ(bytes[14 + 7], r.ttl) << r.what;
    }
  }
  // The unknown LAN host is now being resolved (the resolver will ARP for it).
  rte_ether_addr unused;
  EXPECT_FALSE(s.site.lan->neighbors->lookup(*IpAddr::parse("192.168.10.30"), &unused));
  bool wanted = false;
  for (auto& n : s.site.lan->neighbors->dump())
    wanted |= n.ip == *IpAddr::parse("192.168.10.30") && n.state == NeighState::kIncomplete;
  EXPECT_TRUE(wanted);
}

TEST(ForwardTable, IncrementalChecksumMatchesAFullRecompute) {
  Sites s;
  FlowTable flows(1024, FlowTimeouts{}, 0);
  ForwardStage fwd(s.site, flows);
  for (unsigned ttl = 2; ttl <= 255; ttl += 3)
    for (uint16_t id : {0, 1, 0x1234, 0xfffe, 0xffff}) {
      Frame f = PacketBuilder()
                    .eth(kLanMac, kHost)
                    .ipv4("192.168.10.10", "203.0.113.1",
                          Ipv4Opts{.ttl = static_cast<uint8_t>(ttl), .id = id})
                    .udp(1, 2)
                    .build();
      rte_mbuf* m = parsed(f, kLan);
      meta(m).out_port = kFiber;
      testing::StageHarness h(fwd);
      auto v = h.run({m});
      ASSERT_EQ(v[0].where, "edge:egress");
      auto bytes = testing::from_mbuf(v[0].pkt);
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(bytes.data() + 14);
      uint16_t got = ip->hdr_checksum;
      ip->hdr_checksum = 0;
      EXPECT_EQ(got, rte_ipv4_cksum(ip)) << "ttl " << ttl << " id " << id;
    }
}

TEST(TxStage, SendsOnReadyPortsAndNamesTheRest) {
  testing::TestSite ts("tx");
  std::array<bool, kMaxPorts> ready{};
  ready[ts.lan_port] = ready[ts.up_port] = true;
  TxStage tx(0, ready);
  testing::StageHarness h(tx);
  std::vector<rte_mbuf*> pkts;
  for (uint16_t port :
       {ts.lan_port, ts.up_port, ts.up_port, uint16_t{kMaxPorts + 3}, kNoPort, uint16_t{20}}) {
    rte_mbuf* m = testing::to_mbuf(
        testing::test_pool(), PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build());
    meta(m).out_port = port;
    pkts.push_back(m);
  }
  auto v = h.run(pkts);
  EXPECT_EQ(h.drop_count("bad_port"), 3u);
  EXPECT_EQ(ts.drain_lan(), 1u);
  EXPECT_EQ(ts.drain_uplink(), 2u);
  EXPECT_THROW(TxStage(7, ready), std::invalid_argument) << "a queue the ports do not have";
}

}  // namespace
}  // namespace traboule::dp

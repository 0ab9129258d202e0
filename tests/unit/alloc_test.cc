// SPDX-License-Identifier: Apache-2.0
// The per-packet path must not allocate: this binary replaces malloc and friends with counting
// wrappers, runs the full worker pipeline (every stage, new and existing flows, replies, drops,
// timers) on traffic, and fails if anything allocated while a burst was being processed.
#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/edge_pipeline.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/test_site.h"

// --- counting allocator ---------------------------------------------------------------------
// Only the test thread counts, only while a burst runs.
namespace {
thread_local bool t_counting = false;
std::atomic<uint64_t> g_allocations{0};
inline void note() {
  if (t_counting) g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

void* malloc(size_t n) {
  note();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t s) {
  note();
  return __libc_calloc(n, s);
}
void* realloc(void* p, size_t n) {
  note();
  return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
  note();
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  note();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  note();
  *out = __libc_memalign(a, n);
  return *out != nullptr ? 0 : ENOMEM;
}
}

namespace traboule::dp {
namespace {

using testing::Frame;
using testing::Ipv4Opts;
using testing::PacketBuilder;
namespace tcpf = testing::tcpf;

using testing::kSiteGatewayMac;
using testing::kSiteHostMac;
using testing::kSiteLanMac;
using testing::kSiteUplinkMac;
constexpr const char* kLanMac = kSiteLanMac;
constexpr const char* kUpMac = kSiteUplinkMac;
constexpr const char* kHostMac = kSiteHostMac;
constexpr const char* kGwMac = kSiteGatewayMac;

// Traffic that walks every stage and most of their edges and drops.
std::vector<Frame> lan_frames(unsigned round) {
  std::vector<Frame> v;
  const uint16_t port = static_cast<uint16_t>(1024 + round % 512);  // new flows each round
  v.push_back(PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(port, 53)
                  .payload(20)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .tcp(port, 443, tcpf::kSyn)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(5000, 5060)
                  .payload(100)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .vlan(10)
                  .ipv4("192.168.10.10", "203.0.113.11")
                  .udp(5000, 5060)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .ipv6("fd00:10::10", "2001:db8::1")
                  .udp(port, 443)
                  .build());
  v.push_back(PacketBuilder()
                  .eth("ff:ff:ff:ff:ff:ff", kHostMac)
                  .arp(1, kHostMac, "192.168.10.10", "00:00:00:00:00:00", "192.168.10.1")
                  .build());
  v.push_back(PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .ipv4("192.168.10.10", "192.168.10.1")
                  .icmp(8, 0, 1, static_cast<uint16_t>(round))
                  .build());
  v.push_back(PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .ipv4("192.168.10.10", "203.0.113.10", Ipv4Opts{.ttl = 1})
                  .udp(1, 2)
                  .build());
  v.push_back(PacketBuilder()
                  .eth("02:00:00:00:0a:99", kHostMac)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(1, 2)
                  .build());
  Frame bad = PacketBuilder()
                  .eth(kLanMac, kHostMac)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(1, 2)
                  .build();
  bad.truncate(bad.l3_off + 10);
  v.push_back(bad);
  return v;
}

std::vector<Frame> wan_frames(unsigned round) {
  std::vector<Frame> v;
  const uint16_t port = static_cast<uint16_t>(1024 + round % 512);
  v.push_back(PacketBuilder()
                  .eth(kUpMac, kGwMac)
                  .ipv4("203.0.113.10", "192.168.10.10")
                  .udp(53, port)
                  .payload(60)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(kUpMac, kGwMac)
                  .ipv4("198.51.100.1", "192.168.10.77")
                  .udp(1, 2)
                  .build());  // unknown host, let in by the test's inbound rule
  v.push_back(PacketBuilder()
                  .eth(kUpMac, kGwMac)
                  .ipv4("198.51.100.1", "192.168.10.10")
                  .tcp(static_cast<uint16_t>(2000 + round % 512), 22, testing::tcpf::kSyn)
                  .build());  // unsolicited: denied by the firewall (and logged)
  v.push_back(PacketBuilder()
                  .eth(kUpMac, kGwMac)
                  .ipv4("198.51.100.1", "10.0.0.1")
                  .udp(1, 2)
                  .build());  // no route
  v.push_back(PacketBuilder()
                  .eth(kUpMac, kGwMac)
                  .ipv4("100.64.1.1", "100.64.1.2")
                  .udp(45000, 862)
                  .payload(44, 0)
                  .build());  // a STAMP test packet: reflected by the probe stage
  return v;
}

// One round with allocations counted: the bursts into the pipeline at parse, then its timers,
// at `now`; what it sent is freed after counting stops. Returns how many packets went in.
uint64_t counted_round(Pipeline& pipeline, uint16_t parse, testing::TestSite& fx,
                       std::vector<rte_mbuf*>& lan, std::vector<rte_mbuf*>& wan, uint64_t now) {
  t_counting = true;
  mark_rx(lan.data(), static_cast<uint16_t>(lan.size()), fx.lan_port, true);
  pipeline.run(parse, lan.data(), static_cast<uint16_t>(lan.size()), fx.ctx(now));
  mark_rx(wan.data(), static_cast<uint16_t>(wan.size()), fx.up_port, false);
  pipeline.run(parse, wan.data(), static_cast<uint16_t>(wan.size()), fx.ctx(now));
  pipeline.idle(fx.ctx(now));
  t_counting = false;
  fx.drain_lan();
  fx.drain_uplink();
  return lan.size() + wan.size();
}

// The value of the counter named `n`, 0 when there is none.
uint64_t counter(const std::vector<CounterValue>& cs, const std::string& n) {
  for (auto& c : cs)
    if (c.name == n) return c.value;
  return 0;
}

TEST(Alloc, PerPacketPathDoesNotAllocate) {
  testing::TestSite fx("alloc");
  fx.site.flows.timeouts.udp = 1;  // flows expire during the run: expiry is on the path too
  FlowTable flows(fx.site.flows.capacity, fx.site.flows.timeouts, 0);
  std::array<bool, kMaxPorts> ready{};
  ready[fx.lan_port] = ready[fx.up_port] = true;
  // With the probe stage as the daemon wires it on worker 0: reflector, sessions, both rings.
  SharedTscClock clock;
  clock.store(TscClock::anchor(rte_rdtsc(), 1'700'000'000'000'000'000ull, rte_get_tsc_hz()));
  StampSessionTable sessions(40000);
  rte_ring* results = make_stamp_result_ring("alloc_stamp_res", 1024, 0);
  rte_ring* requests = make_stamp_request_ring("alloc_stamp_req", 256, 0);
  ASSERT_NE(results, nullptr);
  ASSERT_NE(requests, nullptr);
  struct RingGuard {
    rte_ring* a;
    rte_ring* b;
    ~RingGuard() {
      rte_ring_free(a);
      rte_ring_free(b);
    }
  } ring_guard{results, requests};
  {
    // Inbound UDP to the LAN is allowed (so WAN-opened flows reach the neighbour lookups); the
    // rest from the WAN is denied by the firewall's defaults.
    auto p = std::make_shared<PolicySnapshot>(*fx.policy);
    FwRule udp;
    udp.name = "udp-in";
    udp.proto = 17;
    udp.log = true;
    p->firewall.rules.push_back(udp);
    fx.set_policy(p);
  }
  WorkerDeps deps{0, &fx.site, &flows, testing::test_pool(), {nullptr}, ready};
  deps.probe = {&clock, &sessions, results, requests, testing::test_pool()};
  auto pipeline = make_worker_pipeline(std::move(deps));
  const uint16_t parse = pipeline->node_index("parse");
  ASSERT_NE(pipeline->find<ProbeStage>("probe"), nullptr);

  const uint64_t hz = rte_get_tsc_hz();
  uint64_t fake_now = rte_rdtsc();
  uint64_t processed = 0;
  for (unsigned round = 0; round < 3000; ++round) {
    // Build the burst outside the counted region (the builder uses std::vector).
    std::vector<rte_mbuf*> lan, wan;
    for (auto& f : lan_frames(round))
      lan.push_back(testing::to_mbuf(testing::test_pool(), f, fx.lan_port));
    for (auto& f : wan_frames(round))
      wan.push_back(testing::to_mbuf(testing::test_pool(), f, fx.up_port));
    fake_now += hz / 100;  // 10 ms per round: timers fire, flows age out
    processed += counted_round(*pipeline, parse, fx, lan, wan, fake_now);
  }
  EXPECT_EQ(g_allocations.load(), 0u)
      << "allocations on the per-packet path over " << processed << " packets";

  // The run really exercised the stages: check a few counters moved.
  std::vector<CounterValue> cs;
  pipeline->collect(cs);
  auto get = [&](const std::string& n) { return counter(cs, n); };
  EXPECT_GT(get("forward.out.egress"), 3000u);
  EXPECT_GT(get("local.out.tx"), 3000u);
  EXPECT_GT(get("forward.ttl_exceeded"), 0u);
  EXPECT_GT(get("flow.firewall"), 0u);
  EXPECT_GT(get("firewall.allowed_rule"), 0u);
  EXPECT_EQ(get("probe.out.reply"), 3000u) << "every STAMP test packet reflected";
  EXPECT_GT(get("forward.neighbor_unresolved") + get("forward.gateway_unresolved"), 0u);
  EXPECT_GT(flows.expired(), 0u);

  // Sanity check of the counter itself: an allocation while counting is seen.
  t_counting = true;
  void* p = std::malloc(16);
  t_counting = false;
  std::free(p);
  EXPECT_EQ(g_allocations.load(), 1u);
}

// The pipeline as the daemon runs it on an edge: overlay (decap, encap), breakout NAT (nat_in,
// nat_out), names, recognition (nDPI), QoS with classes, with a policy change every 500 rounds
// whose QoS plan is offered the way the data plane does (built off the worker): taking it, and
// moving the backlog into it, must not allocate either.
TEST(Alloc, ProductionPipelineDoesNotAllocate) {
  g_allocations = 0;
  testing::TestSite fx("aprod");
  fx.site.flows.timeouts.udp = 1;
  FlowTable flows(fx.site.flows.capacity, fx.site.flows.timeouts, 0);
  auto make_policy = [&](uint64_t up_bps) {
    auto p = testing::EdgePipeline::policy(*fx.policy, up_bps, "10.10.0.0/16");
    FwRule udp;
    udp.name = "udp-in";
    udp.proto = 17;
    p->firewall.rules.push_back(udp);
    return p;
  };
  fx.set_policy(make_policy(10'000'000));
  testing::EdgePipeline edge;
  auto pipeline = edge.make(fx, flows);
  for (const char* st : {"decap", "nat_in", "names", "classify", "encap", "nat_out", "qos"})
    ASSERT_NO_THROW(pipeline->node_index(st)) << st;
  const uint64_t hz = rte_get_tsc_hz();
  const uint16_t parse = pipeline->node_index("parse");
  uint64_t fake_now = rte_rdtsc();
  uint64_t processed = 0;
  for (unsigned round = 0; round < 2000; ++round) {
    if (round % 500 == 250) {  // a policy change: another shaped rate, the same classes
      fx.set_policy(make_policy(round % 1000 == 250 ? 2'000'000 : 10'000'000));
      testing::EdgePipeline::offer_plan(*pipeline, fx);
    }
    std::vector<rte_mbuf*> lan, wan;
    const auto port = static_cast<uint16_t>(1000 + round % 300);
    for (const char* dst : {"10.10.0.10", "198.51.100.10", "203.0.113.5"})
      lan.push_back(testing::to_mbuf(testing::test_pool(),
                                     PacketBuilder()
                                         .eth(kLanMac, kHostMac)
                                         .ipv4("192.168.10.10", dst)
                                         .udp(port, 443)
                                         .payload(300)
                                         .build(),
                                     fx.lan_port));
    lan.push_back(testing::to_mbuf(testing::test_pool(),
                                   PacketBuilder()
                                       .eth(kLanMac, kHostMac)
                                       .ipv4("192.168.10.10", "198.51.100.10")
                                       .tcp(port, 443, testing::tcpf::kSyn)
                                       .build(),
                                   fx.lan_port));
    // Answers to the NAT's first mappings, and hostile datagrams at the overlay port.
    wan.push_back(testing::to_mbuf(testing::test_pool(),
                                   PacketBuilder()
                                       .eth(kUpMac, kGwMac)
                                       .ipv4("198.51.100.10", "100.64.1.2")
                                       .udp(443, static_cast<uint16_t>(50000 + round % 64))
                                       .payload(200)
                                       .build(),
                                   fx.up_port));
    wan.push_back(testing::to_mbuf(testing::test_pool(),
                                   PacketBuilder()
                                       .eth(kUpMac, kGwMac)
                                       .ipv4("198.51.100.66", "100.64.1.2")
                                       .udp(4500, 4500)
                                       .payload(64, static_cast<uint8_t>(round))
                                       .build(),
                                   fx.up_port));
    fake_now += hz / 100;
    processed += counted_round(*pipeline, parse, fx, lan, wan, fake_now);
  }
  EXPECT_EQ(g_allocations.load(), 0u)
      << "allocations on the production pipeline over " << processed << " packets";
  std::vector<CounterValue> cs;
  pipeline->collect(cs);
  auto get = [&](const std::string& n) { return counter(cs, n); };
  EXPECT_GT(get("encap.out.next"), 1000u) << "overlay traffic encapsulated";
  EXPECT_GT(get("nat_out.out.next"), 1000u) << "breakout traffic translated";
  EXPECT_GT(get("qos.out.tx"), 1000u) << "scheduled by QoS";
  EXPECT_EQ(get("qos.plans_late"), 0u);
}

}  // namespace
}  // namespace traboule::dp

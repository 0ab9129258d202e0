// The per-packet path must not allocate: this binary replaces malloc and friends with counting
// wrappers, runs the full worker pipeline (every stage, new and existing flows, replies, drops,
// timers) on traffic, and fails if anything allocated while a burst was being processed.
#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "dataplane/core/flow_table.h"
#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/worker.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"

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

constexpr const char* kLanMac = "02:00:00:00:0a:01";
constexpr const char* kUpMac = "02:00:00:00:0b:01";
constexpr const char* kHostMac = "02:00:00:00:0a:10";
constexpr const char* kGwMac = "02:00:00:00:0b:fe";

struct Fixture {
  Site site;
  rte_ring* lan_ring = nullptr;
  rte_ring* up_ring = nullptr;
  uint16_t lan_port = 0, up_port = 0;

  Fixture() {
    lan_ring = rte_ring_create("alloc_lan", 4096, 0, 0);
    up_ring = rte_ring_create("alloc_up", 4096, 0, 0);
    lan_port = static_cast<uint16_t>(rte_eth_from_ring(lan_ring));
    up_port = static_cast<uint16_t>(rte_eth_from_ring(up_ring));
    for (uint16_t p : {lan_port, up_port}) {
      rte_eth_conf conf{};
      rte_eth_dev_configure(p, 1, 1, &conf);
      rte_eth_rx_queue_setup(p, 0, 512, 0, nullptr, testing::test_pool());
      rte_eth_tx_queue_setup(p, 0, 512, 0, nullptr);
      rte_eth_dev_start(p);
    }
    auto lan = std::make_unique<Interface>();
    lan->name = "lan";
    lan->is_lan = true;
    lan->port_id = lan_port;
    lan->mac = testing::mac(kLanMac);
    lan->v4 = IfAddr{*IpAddr::parse("192.168.10.1"), 24};
    lan->v6 = IfAddr{*IpAddr::parse("fd00:10::1"), 64};
    lan->v6_link_local = link_local_from_mac(lan->mac);
    lan->neighbors = std::make_unique<NeighborTable>(256);
    lan->link_up = true;
    auto up = std::make_unique<Interface>();
    up->name = "fiber";
    up->uplink = 0;
    up->port_id = up_port;
    up->mac = testing::mac(kUpMac);
    up->v4 = IfAddr{*IpAddr::parse("100.64.1.2"), 24};
    up->gw4 = *IpAddr::parse("100.64.1.1");
    up->v6 = IfAddr{*IpAddr::parse("fd00:64:1::2"), 64};
    up->gw6 = *IpAddr::parse("fd00:64:1::1");
    up->v6_link_local = link_local_from_mac(up->mac);
    up->neighbors = std::make_unique<NeighborTable>(256);
    up->neighbors->set_static(*up->gw4, testing::mac(kGwMac));
    up->neighbors->want(*up->gw6);  // unresolved: the resolver sends NS, packets are dropped
    up->link_up = true;
    site.by_port[lan_port] = lan.get();
    site.by_port[up_port] = up.get();
    site.lan = lan.get();
    site.uplinks.push_back(up.get());
    site.lan_prefixes = {*IpPrefix::parse("192.168.10.0/24"), *IpPrefix::parse("fd00:10::/64")};
    Rule def;
    def.name = "default";
    def.uplinks = {0};
    site.rules.rules.push_back(def);
    site.ifaces.push_back(std::move(lan));
    site.ifaces.push_back(std::move(up));
    site.flows.capacity = 4096;
    site.flows.timeouts.udp = 1;  // flows expire during the run: expiry is on the path too
  }
  ~Fixture() {
    for (uint16_t p : {lan_port, up_port}) {
      rte_eth_dev_stop(p);
      rte_eth_dev_close(p);
    }
    for (rte_ring* r : {lan_ring, up_ring}) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(r);
    }
  }
  void drain() {
    for (rte_ring* r : {lan_ring, up_ring}) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
  }
};

// Traffic that walks every stage and most of their edges and drops.
std::vector<Frame> lan_frames(unsigned round) {
  std::vector<Frame> v;
  const uint16_t port = static_cast<uint16_t>(1024 + round % 512);  // new flows each round
  v.push_back(PacketBuilder().eth(kLanMac, kHostMac).ipv4("192.168.10.10", "203.0.113.10").udp(port, 53).payload(20).build());
  v.push_back(PacketBuilder().eth(kLanMac, kHostMac).ipv4("192.168.10.10", "203.0.113.10").tcp(port, 443, tcpf::kSyn).build());
  v.push_back(PacketBuilder().eth(kLanMac, kHostMac).ipv4("192.168.10.10", "203.0.113.10").udp(5000, 5060).payload(100).build());
  v.push_back(PacketBuilder().eth(kLanMac, kHostMac).vlan(10).ipv4("192.168.10.10", "203.0.113.11").udp(5000, 5060).build());
  v.push_back(PacketBuilder().eth(kLanMac, kHostMac).ipv6("fd00:10::10", "2001:db8::1").udp(port, 443).build());
  v.push_back(PacketBuilder().eth("ff:ff:ff:ff:ff:ff", kHostMac).arp(1, kHostMac, "192.168.10.10", "00:00:00:00:00:00", "192.168.10.1").build());
  v.push_back(PacketBuilder().eth(kLanMac, kHostMac).ipv4("192.168.10.10", "192.168.10.1").icmp(8, 0, 1, static_cast<uint16_t>(round)).build());
  v.push_back(PacketBuilder().eth(kLanMac, kHostMac).ipv4("192.168.10.10", "203.0.113.10", Ipv4Opts{.ttl = 1}).udp(1, 2).build());
  v.push_back(PacketBuilder().eth("02:00:00:00:0a:99", kHostMac).ipv4("192.168.10.10", "203.0.113.10").udp(1, 2).build());
  Frame bad = PacketBuilder().eth(kLanMac, kHostMac).ipv4("192.168.10.10", "203.0.113.10").udp(1, 2).build();
  bad.truncate(bad.l3_off + 10);
  v.push_back(bad);
  return v;
}

std::vector<Frame> wan_frames(unsigned round) {
  std::vector<Frame> v;
  const uint16_t port = static_cast<uint16_t>(1024 + round % 512);
  v.push_back(PacketBuilder().eth(kUpMac, kGwMac).ipv4("203.0.113.10", "192.168.10.10").udp(53, port).payload(60).build());
  v.push_back(PacketBuilder().eth(kUpMac, kGwMac).ipv4("198.51.100.1", "192.168.10.77").udp(1, 2).build());  // unknown host
  v.push_back(PacketBuilder().eth(kUpMac, kGwMac).ipv4("198.51.100.1", "10.0.0.1").udp(1, 2).build());      // no route
  return v;
}

TEST(Alloc, PerPacketPathDoesNotAllocate) {
  Fixture fx;
  FlowTable flows(fx.site.flows.capacity, fx.site.flows.timeouts, 0);
  std::array<bool, kMaxPorts> ready{};
  ready[fx.lan_port] = ready[fx.up_port] = true;
  auto pipeline = make_worker_pipeline({0, &fx.site, &flows, testing::test_pool(), {nullptr}, ready});
  const uint16_t parse = pipeline->node_index("parse");

  const uint64_t hz = rte_get_tsc_hz();
  uint64_t fake_now = rte_rdtsc();
  uint64_t processed = 0;
  for (unsigned round = 0; round < 3000; ++round) {
    // Build the burst outside the counted region (the builder uses std::vector).
    std::vector<rte_mbuf*> lan, wan;
    for (auto& f : lan_frames(round)) lan.push_back(testing::to_mbuf(testing::test_pool(), f, fx.lan_port));
    for (auto& f : wan_frames(round)) wan.push_back(testing::to_mbuf(testing::test_pool(), f, fx.up_port));
    fake_now += hz / 100;  // 10 ms per round: timers fire, flows age out
    t_counting = true;
    mark_rx(lan.data(), static_cast<uint16_t>(lan.size()), fx.lan_port, true);
    pipeline->run(parse, lan.data(), static_cast<uint16_t>(lan.size()));
    mark_rx(wan.data(), static_cast<uint16_t>(wan.size()), fx.up_port, false);
    pipeline->run(parse, wan.data(), static_cast<uint16_t>(wan.size()));
    pipeline->idle(fake_now);
    t_counting = false;
    processed += lan.size() + wan.size();
    fx.drain();
  }
  EXPECT_EQ(g_allocations.load(), 0u) << "allocations on the per-packet path over " << processed << " packets";

  // The run really exercised the stages: check a few counters moved.
  std::vector<CounterValue> cs;
  pipeline->collect(cs);
  auto get = [&](const std::string& n) {
    for (auto& c : cs)
      if (c.name == n) return c.value;
    return uint64_t{0};
  };
  EXPECT_GT(get("forward.out.tx"), 3000u);
  EXPECT_GT(get("local.out.tx"), 3000u);
  EXPECT_GT(get("forward.ttl_exceeded"), 0u);
  EXPECT_GT(get("route.no_route"), 0u);
  EXPECT_GT(get("forward.neighbor_unresolved") + get("forward.gateway_unresolved"), 0u);
  EXPECT_GT(flows.expired(), 0u);

  // Sanity check of the counter itself: an allocation while counting is seen.
  t_counting = true;
  void* p = std::malloc(16);
  t_counting = false;
  std::free(p);
  EXPECT_EQ(g_allocations.load(), 1u);
}

}  // namespace
}  // namespace traboule::dp

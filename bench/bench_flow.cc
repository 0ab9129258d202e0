// SPDX-License-Identifier: Apache-2.0
// FlowStage on existing flows: 1 k, 100 k and 1 M flows in the table, packets in random order
// over the flows (both directions), bursts of 32, firewall off (the bare table) and on (the
// daemon's flow stage: zone defaults, source checks). And new flows per second: from the LAN
// (created) with the firewall off and on, and from the WAN (denied by the firewall, or created
// with it off). Only process() is timed: the 32 mbufs are reused and their PacketMeta is
// rewritten for the next flows outside the timed region.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_lcore.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "dataplane/stages/flow.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"

namespace traboule::dp {
namespace {

constexpr uint16_t kBurst = 32;

// The packet of flow i in direction dir, as the parse stage leaves its meta.
void fill_meta(PacketMeta& m, uint32_t i, uint8_t dir) {
  const IpAddr host = IpAddr::v4(0x0a000000u | (i >> 2));  // 10.x.y.z, four flows per host
  const IpAddr server = IpAddr::v4(0xc6336401u);           // 198.51.100.1
  const uint16_t port = static_cast<uint16_t>(40000 + (i & 3));
  m.l3 = L3Kind::kIpv4;
  m.l4_proto = IPPROTO_UDP;
  m.flags = meta_flag::kHasL4 | (dir == 0 ? meta_flag::kFromLan : 0);
  m.src = dir == 0 ? host : server;
  m.dst = dir == 0 ? server : host;
  m.src_port = dir == 0 ? port : 443;
  m.dst_port = dir == 0 ? 443 : port;
  m.flow_hash = 0;
  m.flow_id = kNoFlow;
}

// One populated table per flow count, kept across the benchmark's repeated calls.
struct Fixture {
  uint32_t flows = 0;
  std::unique_ptr<FlowTable> table;
  std::vector<uint32_t> order;  // flow << 1 | direction, a random walk over every flow

  // Never destroyed: the table's DPDK memory must not be freed after EAL cleanup at exit.
  static Fixture& get(uint32_t flows) {
    static Fixture& f = *new Fixture;
    if (f.flows != flows) {
      f.table.reset();  // free the previous one first: the test EAL has 512 MB
      f.flows = flows;
      // 25 % headroom, as a table in service would have.
      const uint32_t cap = std::max(FlowTable::kMinCapacity, flows + flows / 4);
      f.table = std::make_unique<FlowTable>(cap, FlowTimeouts{}, static_cast<int>(rte_socket_id()));
      const uint64_t now = rte_rdtsc();
      FlowRequest reqs[FlowTable::kLookupMax];
      uint32_t ids[FlowTable::kLookupMax];
      PacketMeta m;
      for (uint32_t base = 0; base < flows; base += FlowTable::kLookupMax) {
        const auto n =
            static_cast<uint16_t>(std::min<uint32_t>(FlowTable::kLookupMax, flows - base));
        for (uint16_t j = 0; j < n; ++j) {
          fill_meta(m, base + j, 0);
          flow_request(m, reqs[j]);
        }
        f.table->lookup_or_create(reqs, n, now, ids);
      }
      if (f.table->size() != flows)
        std::fprintf(stderr, "bench_flow: populated %u of %u\n", f.table->size(), flows);
      f.order.resize(flows);
      std::iota(f.order.begin(), f.order.end(), 0u);
      std::mt19937 rng(42);
      std::shuffle(f.order.begin(), f.order.end(), rng);
      for (auto& o : f.order) o = o << 1 | (rng() & 1);
    }
    return f;
  }
};

// The site the firewall reads: the fixture's LAN hosts are 10.0.0.0/8; an empty policy
// (zone defaults only).
struct FwSite {
  Site site;
  std::shared_ptr<PolicySnapshot> policy = std::make_shared<PolicySnapshot>();
  WorkerView view;
  FwSite() {
    site.lan_prefixes = {*IpPrefix::parse("10.0.0.0/8")};
    policy->prepare_hits();
    view.policy = policy.get();
    view.policy_gen = 1;
  }
  FirewallDeps deps() const {
    FirewallDeps d;
    d.site = &site;
    return d;
  }
};

std::unique_ptr<FlowStage> make_stage(FlowTable& table, bool firewall, const FwSite& fw) {
  return firewall ? std::make_unique<FlowStage>(table, fw.deps())
                  : std::make_unique<FlowStage>(table);
}

// The flow stage's output (its one edge and its drops) and a burst of one UDP frame from a LAN
// host; each run rewrites the packets' metadata.
struct FlowBurst {
  Burst next, drops;
  Burst* edges[1] = {&next};
  uint64_t edge_counts[1] = {0}, drop_counts[FlowStage::kDrops.size()] = {}, overflow = 0;
  Output out;
  rte_mbuf* pkts[kBurst];
  FlowBurst() {
    out.wire(0, edges, edge_counts, &drops, drop_counts, &overflow, nullptr);
    const auto frame = testing::PacketBuilder()
                           .eth("02:00:00:00:00:fe", "02:00:00:00:00:01")
                           .ipv4("10.0.0.1", "198.51.100.1")
                           .udp(40000, 443)
                           .payload(64)
                           .build();
    for (auto& p : pkts) p = testing::to_mbuf(testing::test_pool(), frame);
  }
  FlowBurst(const FlowBurst&) = delete;
  FlowBurst& operator=(const FlowBurst&) = delete;
};

void BM_FlowLookupExisting(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  const bool firewall = state.range(1) != 0;
  Fixture& fx = Fixture::get(flows);
  static const FwSite fw;
  auto stage_ptr = make_stage(*fx.table, firewall, fw);
  FlowStage& stage = *stage_ptr;

  FlowBurst b;

  const double hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0;
  std::vector<uint32_t> burst_cycles;  // the median resists preemption on a shared box
  burst_cycles.reserve(1 << 20);
  size_t pos = 0;
  for (auto _ : state) {
    for (auto* p : b.pkts) {
      const uint32_t o = fx.order[pos];
      fill_meta(meta(p), o >> 1, static_cast<uint8_t>(o & 1));
      if (++pos == fx.order.size()) pos = 0;
    }
    const uint64_t t0 = rte_rdtsc();
    stage.process(b.pkts, kBurst, BurstContext{.now_tsc = t0, .view = &fw.view}, b.out);
    const uint64_t dt = rte_rdtsc() - t0;
    cycles += dt;
    packets += kBurst;
    if (burst_cycles.size() < burst_cycles.capacity())
      burst_cycles.push_back(static_cast<uint32_t>(std::min<uint64_t>(dt, UINT32_MAX)));
    state.SetIterationTime(static_cast<double>(dt) / hz);
    if (b.next.n != kBurst) {
      state.SkipWithError("a packet did not reach the next edge");
      break;
    }
    b.next.n = 0;
  }
  rte_pktmbuf_free_bulk(b.pkts, kBurst);
  rte_pktmbuf_free_bulk(b.drops.pkts, b.drops.n);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["cycles_per_pkt"] = packets ? static_cast<double>(cycles) / packets : 0;
  if (!burst_cycles.empty()) {
    auto mid = burst_cycles.begin() + static_cast<ptrdiff_t>(burst_cycles.size() / 2);
    std::nth_element(burst_cycles.begin(), mid, burst_cycles.end());
    state.counters["cycles_per_pkt_p50"] = static_cast<double>(*mid) / kBurst;
  }
  state.counters["flows"] = fx.table->size();
  state.counters["bytes_per_flow_slot"] =
      static_cast<double>(fx.table->memory_bytes()) / fx.table->capacity();
  state.counters["table_MiB"] = static_cast<double>(fx.table->memory_bytes()) / (1 << 20);
}
BENCHMARK(BM_FlowLookupExisting)
    ->ArgsProduct({{1000, 100000, 1000000}, {0, 1}})
    ->ArgNames({"flows", "firewall"})
    ->UseManualTime();

// Every packet would open a new flow: from the LAN (created; the firewall checks the source),
// or from the WAN towards a LAN host (with the firewall: denied, no entry taken).
void BM_FlowNew(benchmark::State& state) {
  const bool firewall = state.range(0) != 0;
  const bool from_wan = state.range(1) != 0;
  static const FwSite fw;
  constexpr uint32_t kCap = 1u << 18;  // beside the 1 M-flow fixture in the test EAL's 512 MB
  auto table = std::make_unique<FlowTable>(kCap, FlowTimeouts{}, static_cast<int>(rte_socket_id()));
  auto stage = make_stage(*table, firewall, fw);
  FlowBurst b;
  const double hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0;
  uint32_t i = 0;
  for (auto _ : state) {
    if (table->size() > kCap / 2) {  // refill from empty, outside the timed region
      stage.reset();
      table.reset();
      table = std::make_unique<FlowTable>(kCap, FlowTimeouts{}, static_cast<int>(rte_socket_id()));
      stage = make_stage(*table, firewall, fw);
    }
    for (auto* p : b.pkts) fill_meta(meta(p), i++ & 0x3fffffff, from_wan ? 1 : 0);
    const uint64_t t0 = rte_rdtsc();
    stage->process(b.pkts, kBurst, BurstContext{.now_tsc = t0, .view = &fw.view}, b.out);
    const uint64_t dt = rte_rdtsc() - t0;
    cycles += dt;
    packets += kBurst;
    state.SetIterationTime(static_cast<double>(dt) / hz);
    // Dropped packets are handed back (the stage only hands them over): reuse them.
    b.next.n = 0;
    b.drops.n = 0;
  }
  rte_pktmbuf_free_bulk(b.pkts, kBurst);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["cycles_per_pkt"] = packets ? static_cast<double>(cycles) / packets : 0;
  state.counters["created"] = static_cast<double>(table->created());
}
BENCHMARK(BM_FlowNew)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"firewall", "from_wan"})
    ->UseManualTime();

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Route, forward, dispatch and tx stage costs on parsed IPv4/UDP and TCP frames from a LAN host,
// timed around process() only (cycles_per_pkt: the median burst, robust to preemption).
// Forward rewrites the frame (TTL, MACs), so frames are restored between bursts, untimed.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_ring.h>

#include <algorithm>
#include <vector>

#include "bench/bench_sink.h"
#include "dataplane/stages/dispatch.h"
#include "dataplane/stages/forward.h"
#include "dataplane/stages/parse.h"
#include "dataplane/stages/route.h"
#include "dataplane/stages/tx.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/test_site.h"

namespace {

using namespace traboule;
using traboule::testing::PacketBuilder;

constexpr uint16_t kBurst = 32;

using traboule::bench::Sink;

// kBurst parsed frames from the LAN host to distinct servers, half UDP, half TCP.
std::vector<rte_mbuf*> lan_burst(uint16_t lan_port) {
  std::vector<rte_mbuf*> v;
  dp::ParseStage parse;
  Sink s;
  for (uint16_t i = 0; i < kBurst; ++i) {
    PacketBuilder b;
    b.eth(testing::kSiteLanMac, testing::kSiteHostMac)
        .ipv4("192.168.10.10", "203.0.113." + std::to_string(i + 1));
    if (i % 2)
      b.tcp(static_cast<uint16_t>(40000 + i), 443, testing::tcpf::kAck).payload(6);
    else
      b.udp(static_cast<uint16_t>(40000 + i), 443).payload(18);
    rte_mbuf* m = testing::to_mbuf(testing::test_pool(), b.build(), lan_port);
    dp::meta(m).flags = dp::meta_flag::kFromLan;
    v.push_back(m);
  }
  parse.process(v.data(), kBurst, dp::BurstContext{}, s.out);
  return v;
}

using traboule::bench::timed;

void BM_RouteCachedFlow(benchmark::State& state) {
  testing::TestSite ts("brc");
  dp::FlowTable flows(4096, ts.site.flows.timeouts, 0);
  dp::RouteStage route(ts.site, flows, 0);
  auto pkts = lan_burst(ts.lan_port);
  // Give every packet a flow whose uplink is already chosen: the steady state.
  for (auto* m : pkts) {
    dp::FlowRequest r;
    dp::flow_request(dp::meta(m), r);
    uint32_t id;
    flows.lookup_or_create(&r, 1, 1, &id);
    flows.entry(id).uplink = 0;
    flows.entry(id).policy_gen = ts.view.policy_gen;
    dp::meta(m).flow_id = id;
  }
  timed(
      state, pkts, route, [] {}, &ts.view);
}
BENCHMARK(BM_RouteCachedFlow)->UseManualTime();

void BM_RouteRuleLookup(benchmark::State& state) {
  testing::TestSite ts("brl");
  // Ten rules that do not match before the default: the first packet of a flow pays this.
  auto p = std::make_shared<dp::PolicySnapshot>(*ts.policy);
  for (int i = 0; i < 10; ++i) {
    dp::CompiledRule r;
    r.name = "r" + std::to_string(i);
    r.match.dst = {*dp::IpPrefix::parse("10." + std::to_string(i) + ".0.0/16")};
    r.action.uplinks = {0};
    p->rules.insert(p->rules.begin(), r);
  }
  ts.set_policy(p);
  dp::FlowTable flows(4096, ts.site.flows.timeouts, 0);
  dp::RouteStage route(ts.site, flows, 0);
  auto pkts = lan_burst(ts.lan_port);
  timed(
      state, pkts, route, [] {}, &ts.view);
}
BENCHMARK(BM_RouteRuleLookup)->UseManualTime();

void BM_Forward(benchmark::State& state) {
  testing::TestSite ts("bfw");
  dp::FlowTable flows(4096, ts.site.flows.timeouts, 0);
  dp::ForwardStage fwd(ts.site, flows);
  auto pkts = lan_burst(ts.lan_port);
  std::vector<std::vector<uint8_t>> saved;
  for (auto* m : pkts) {
    dp::meta(m).out_port = ts.up_port;
    saved.push_back(testing::from_mbuf(m));
  }
  timed(state, pkts, fwd, [&] {  // undo the TTL decrement and L2 rewrite
    for (size_t i = 0; i < pkts.size(); ++i)
      std::memcpy(rte_pktmbuf_mtod(pkts[i], void*), saved[i].data(), saved[i].size());
  });
}
BENCHMARK(BM_Forward)->UseManualTime();

void BM_DispatchTwoWorkers(benchmark::State& state) {
  rte_ring* r = rte_ring_create("bdisp", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  dp::DispatchStage d(0, {nullptr, r});
  testing::TestSite ts("bdi");
  auto pkts = lan_burst(ts.lan_port);
  std::vector<rte_mbuf*> back(pkts.size());
  timed(state, pkts, d, [&] {  // take back what went to the other worker's ring
    unsigned n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(back.data()), kBurst, nullptr);
    (void)n;
  });
  rte_ring_free(r);
}
BENCHMARK(BM_DispatchTwoWorkers)->UseManualTime();

}  // namespace

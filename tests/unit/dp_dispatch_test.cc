// SPDX-License-Identifier: Apache-2.0
// Flow pinning across workers: whatever worker receives a packet, both directions of a flow
// end in the flow table of the one worker its symmetric hash names; hand-off rings that are
// full give a named drop. Two pipelines run on this thread, as two workers would.
#include <gtest/gtest.h>
#include <rte_ring.h>

#include <set>

#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/stages/dispatch.h"
#include "dataplane/tables/flow_key.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/pipeline_counters.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using testing::PacketBuilder;
using testing::TestSite;

uint64_t counter(const Pipeline& p, const std::string& name) {
  return testing::counter_value(p, name).value_or(0);
}

TEST(Dispatch, BothDirectionsMeetOnTheOwningWorker) {
  TestSite ts("dispatch2");
  rte_ring* r01 = rte_ring_create("dt_r01", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* r10 = rte_ring_create("dt_r10", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  ASSERT_TRUE(r01 && r10);
  FlowTable t0(4096, ts.site.flows.timeouts, 0), t1(4096, ts.site.flows.timeouts, 0);
  std::array<bool, kMaxPorts> ready{};
  ready[ts.lan_port] = ready[ts.up_port] = true;
  auto p0 = make_worker_pipeline({0, &ts.site, &t0, testing::test_pool(), {nullptr, r01}, ready});
  auto p1 = make_worker_pipeline({1, &ts.site, &t1, testing::test_pool(), {r10, nullptr}, ready});
  Pipeline* pipes[2] = {p0.get(), p1.get()};
  rte_ring* inbound[2] = {r10, r01};
  auto ctx_of = [&](unsigned w) {
    BurstContext c = ts.ctx();
    c.worker = static_cast<uint16_t>(w);
    return c;
  };

  auto deliver = [&](unsigned w, std::vector<testing::Frame> frames, uint16_t port, bool from_lan) {
    for (size_t off = 0; off < frames.size(); off += kBurstMax) {
      std::vector<rte_mbuf*> b;
      for (size_t i = off; i < std::min(frames.size(), off + kBurstMax); ++i)
        b.push_back(testing::to_mbuf(testing::test_pool(), frames[i], port));
      mark_rx(b.data(), static_cast<uint16_t>(b.size()), port, from_lan);
      pipes[w]->run(pipes[w]->node_index("parse"), b.data(), static_cast<uint16_t>(b.size()),
                    ctx_of(w));
    }
    // Each worker drains what the other handed it, entering at the flow stage.
    for (unsigned x = 0; x < 2; ++x) {
      rte_mbuf* m[kBurstMax];
      unsigned n;
      while ((n = rte_ring_dequeue_burst(inbound[x], reinterpret_cast<void**>(m), kBurstMax,
                                         nullptr)) != 0)
        pipes[x]->run(pipes[x]->node_index("flow"), m, static_cast<uint16_t>(n), ctx_of(x));
    }
  };

  constexpr unsigned kFlows = 200;
  std::vector<testing::Frame> out, back;
  for (unsigned f = 0; f < kFlows; ++f) {
    auto sport = static_cast<uint16_t>(20000 + f);
    out.push_back(PacketBuilder()
                      .eth(testing::kSiteLanMac, testing::kSiteHostMac)
                      .ipv4("192.168.10.10", "203.0.113.10")
                      .udp(sport, 443)
                      .build());
    back.push_back(PacketBuilder()
                       .eth(testing::kSiteUplinkMac, testing::kSiteGatewayMac)
                       .ipv4("203.0.113.10", "192.168.10.10")
                       .udp(443, sport)
                       .build());
  }
  // Requests arrive on worker 0 (the LAN port's poller), replies on worker 1 (the uplink's).
  deliver(0, out, ts.lan_port, true);
  deliver(1, back, ts.up_port, false);

  EXPECT_EQ(t0.size() + t1.size(), kFlows) << "one entry per flow, never one per direction";
  EXPECT_GT(t0.size(), kFlows / 4) << "the hash spreads flows over both workers";
  EXPECT_GT(t1.size(), kFlows / 4);
  for (FlowTable* t : {&t0, &t1}) {
    unsigned owner = t == &t0 ? 0 : 1;
    t->for_each([&](const FlowView& v) {
      EXPECT_EQ(DispatchStage::worker_of(flow_hash(v.key) | 1u, 2), owner);
      EXPECT_EQ(v.entry.packets[0], 1u);
      EXPECT_EQ(v.entry.packets[1], 1u) << "the reply found the request's flow";
    });
  }
  EXPECT_EQ(ts.drain_uplink(), kFlows);
  EXPECT_EQ(ts.drain_lan(), kFlows);
  EXPECT_GT(counter(*p0, "dispatch.to_worker1"), 0u);
  EXPECT_GT(counter(*p1, "dispatch.to_worker0"), 0u);
  p0.reset();
  p1.reset();
  rte_ring_free(r01);
  rte_ring_free(r10);
}

TEST(Dispatch, FullRingIsANamedDrop) {
  rte_ring* tiny = rte_ring_create("dt_tiny", 4, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);  // holds 3
  ASSERT_NE(tiny, nullptr);
  DispatchStage d(0, {nullptr, tiny});
  testing::StageHarness h(d);
  std::vector<rte_mbuf*> pkts;
  unsigned to_other = 0;
  for (uint16_t f = 0; f < 64; ++f) {
    rte_mbuf* m =
        testing::to_mbuf(testing::test_pool(),
                         PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").udp(f, 80).build());
    PacketMeta& md = meta(m);
    md.src = *IpAddr::parse("10.0.0.1");
    md.dst = *IpAddr::parse("10.0.0.2");
    md.src_port = f;
    md.dst_port = 80;
    md.l4_proto = 17;
    FlowKey k;
    make_flow_key(md, k);
    to_other += DispatchStage::worker_of(flow_hash(k) | 1u, 2) == 1;
    pkts.push_back(m);
  }
  auto v = h.run(pkts);
  unsigned local = 0, full = 0, handed = 0;
  for (auto& x : v) {
    local += x.where == "edge:own";
    full += x.where == "drop:ring_full";
    handed += x.where == "lost";  // handed to the ring: no longer the harness' business
  }
  ASSERT_GT(to_other, 3u);
  EXPECT_EQ(local, 64 - to_other);
  EXPECT_EQ(handed, 3u);
  EXPECT_EQ(full, to_other - 3);
  void* m;
  while (rte_ring_dequeue(tiny, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  rte_ring_free(tiny);
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The qos stage: what leaves by an uplink goes through that uplink's scheduler (classes from the
// policy, shaped to up_kbps); everything else passes. Table rows per packet kind, then the
// behaviours over time (priority under a backlog, queue limits, a policy change).
#include <gtest/gtest.h>
#include <rte_cycles.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/proto/overlay_header.h"
#include "dataplane/stages/qos.h"
#include "dataplane/tables/overlay_sites.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using testing::PacketBuilder;

// The stages' clock in these tests: set by the test, never the real TSC, so nothing depends on
// how fast the machine runs them.
uint64_t g_tsc = 1'000'000'000;
uint64_t fake_tsc() noexcept {
  return g_tsc;
}

// Classes: voice (0, priority 0), bulk (1, priority 1); rules 0 voice, 1 bulk, 2 unclassified.
std::shared_ptr<PolicySnapshot> qos_policy(const Site& site, uint64_t up_bps) {
  auto p = testing::TestSite::default_policy(site, {0});
  p->uplinks[0].up_bps = up_bps;
  p->qos_classes = {{.name = "voice", .priority = 0, .weight = 1},
                    {.name = "bulk", .priority = 1, .weight = 1}};
  CompiledRule voice = p->rules[0], bulk = p->rules[0];
  voice.name = "voice";
  voice.action.qos_class = 0;
  bulk.name = "bulk";
  bulk.action.qos_class = 1;
  p->rules.insert(p->rules.begin(), {voice, bulk});
  return p;
}

uint64_t fake_ns() {
  return static_cast<uint64_t>(static_cast<double>(g_tsc) * 1e9 /
                               static_cast<double>(rte_get_tsc_hz()));
}

// What the data plane does around a publication: the stage gets the policy's plan, built off
// the worker, for the generation the worker is about to see.
void offer(QosStage& stage, const testing::TestSite& ts) {
  stage.offer(QosStage::plan(ts.view.policy, ts.view.policy_gen, ts.site, 1, fake_ns()));
}

rte_mbuf* packet(const testing::TestSite& ts, bool to_uplink, bool from_lan, uint16_t rule,
                 size_t payload = 1000) {
  rte_mbuf* m = testing::to_mbuf(testing::test_pool(),
                                 PacketBuilder()
                                     .eth(testing::kSiteLanMac, testing::kSiteHostMac)
                                     .ipv4("192.168.10.10", "203.0.113.1")
                                     .udp(5000, 6000)
                                     .payload(payload)
                                     .build(),
                                 ts.lan_port);
  PacketMeta& md = meta(m);
  md = PacketMeta{};
  md.out_port = to_uplink ? ts.up_port : ts.lan_port;
  md.flags = from_lan ? meta_flag::kFromLan : 0;
  md.rule = rule;
  return m;
}

TEST(QosStage, TableOfPacketKinds) {
  struct Row {
    const char* what;
    bool classes;  // the policy has QoS classes
    bool to_uplink, from_lan;
    uint16_t rule;
    const char* want;
  };
  const std::vector<Row> rows = {
      {"no QoS classes: straight on", false, true, true, 0, "edge:tx"},
      {"to the LAN: straight on", true, false, false, 0, "edge:tx"},
      {"the box's own packet to an uplink: straight on", true, true, false, 0, "edge:tx"},
      {"voice, empty queues, credit left: out at once", true, true, true, 0, "edge:tx"},
      {"unclassified rule: the last class, out at once", true, true, true, 2, "edge:tx"},
      {"rule index beyond the policy (hostile meta): unclassified", true, true, true, 999,
       "edge:tx"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    testing::TestSite ts("qos1");
    auto p = qos_policy(ts.site, 10'000'000);
    if (!r.classes) p->qos_classes.clear();
    ts.set_policy(p);
    QosStage stage(ts.site);
    offer(stage, ts);
    testing::StageHarness h(stage, &ts.view, fake_tsc);
    auto v = h.run({packet(ts, r.to_uplink, r.from_lan, r.rule)});
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].where, r.want);
  }
}

TEST(QosStage, VoiceOvertakesABulkBacklogAndTheRateIsKept) {
  testing::TestSite ts("qos2");
  ts.set_policy(qos_policy(ts.site, 800'000));  // 100 kB/s: a 1042-byte frame every ~10 ms
  QosStage stage(ts.site);
  offer(stage, ts);
  testing::StageHarness h(stage, &ts.view, fake_tsc);
  std::vector<rte_mbuf*> bulk;
  for (int i = 0; i < 20; ++i) bulk.push_back(packet(ts, true, true, 1));
  auto v = h.run(bulk);
  size_t out = 0, held = 0, full = 0;
  for (auto& x : v) {
    out += x.where == "edge:tx";
    held += x.where == "lost";  // queued: no verdict yet
    full += x.where == "drop:queue_full";
  }
  EXPECT_GE(out, 1u) << "the port burst lets the first frames go";
  EXPECT_LE(out, 4u) << "the rest waits for the shaper";
  EXPECT_EQ(out + held + full, 20u);
  EXPECT_GT(held, 8u);
  // A voice packet now: it leaves before every bulk frame still queued.
  rte_mbuf* voice = packet(ts, true, true, 0, 160);
  h.run({voice});
  std::vector<rte_mbuf*> order;
  const uint64_t hz = rte_get_tsc_hz();
  uint64_t t = g_tsc;
  int steps = 0;
  for (; steps < 400 && order.size() < held + 1; ++steps) {
    t += hz / 1000;  // 1 ms timer ticks
    g_tsc = t;
    for (auto& x : h.idle(t))
      if (x.where == "edge:tx") order.push_back(x.pkt);
  }
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.front(), voice) << "strict priority: voice first";
  EXPECT_EQ(order.size(), held + 1) << "everything queued is released";
  // ~10 ms per 1042-byte frame at 800 kbit/s: the backlog cannot leave faster than the rate
  // (the port bucket's burst lets at most ~3 frames go early).
  EXPECT_GE(steps, static_cast<int>((held - 3) * 10));
}

TEST(QosStage, FullQueuesDropByNameAndAPolicyChangeReleasesTheBacklog) {
  testing::TestSite ts("qos3");
  ts.set_policy(qos_policy(ts.site, 8'000));  // 1 kB/s: nothing more leaves during the test
  QosStage stage(ts.site);
  offer(stage, ts);
  testing::StageHarness h(stage, &ts.view, fake_tsc);
  std::vector<rte_mbuf*> flood;
  for (int i = 0; i < 100; ++i) flood.push_back(packet(ts, true, true, 1));
  auto v = h.run(flood);
  size_t tx = 0, full = 0, held = 0;
  for (auto& x : v) {
    tx += x.where == "edge:tx";
    full += x.where == "drop:queue_full";
    held += x.where == "lost";  // still queued: no verdict yet
  }
  EXPECT_GT(full, 0u) << "16 kB per class at least: 100 kB cannot all queue";
  EXPECT_GT(held, 0u);
  EXPECT_EQ(tx + full + held, 100u);
  EXPECT_EQ(h.drop_count("queue_full"), full);
  // A new policy without classes: new packets pass at once, the backlog keeps leaving at the
  // old plan's rate until it is empty; nothing is lost.
  auto p = qos_policy(ts.site, 8'000);
  p->qos_classes.clear();
  ts.set_policy(p);
  offer(stage, ts);
  auto now = h.run({packet(ts, true, true, 1)});
  ASSERT_FALSE(now.empty());
  EXPECT_EQ(now[0].where, "edge:tx") << "QoS is off: straight through";
  size_t released = 0;
  for (size_t i = 1; i < now.size(); ++i) released += now[i].where == "edge:tx";
  for (int step = 0; step < 400 && released < held; ++step) {
    g_tsc += rte_get_tsc_hz();  // a second: another kB leaves
    for (auto& x : h.idle(g_tsc)) released += x.where == "edge:tx";
  }
  EXPECT_EQ(released, held);
  EXPECT_EQ(h.drop_count("queue_full"), full) << "no backlog dropped by the change";
  EXPECT_EQ(stage.plans_late(), 0u);
}

// A change between two QoS policies with a backlog larger than a burst: the backlog moves into
// the new plan's queues (none of it emitted at once, so no pipeline overflow), class by class,
// and leaves at the new rate.
TEST(QosStage, APolicyChangeMovesTheBacklogIntoTheNewQueues) {
  testing::TestSite ts("qos5");
  ts.set_policy(qos_policy(ts.site, 8'000));  // 1 kB/s
  QosStage stage(ts.site);
  offer(stage, ts);
  testing::StageHarness h(stage, &ts.view, fake_tsc);
  size_t held = 0;
  for (int round = 0; round < 4; ++round) {  // 4 × 40 small packets per class: 320 queued
    std::vector<rte_mbuf*> burst;
    for (int i = 0; i < 20; ++i) {
      burst.push_back(packet(ts, true, true, 0, 100));
      burst.push_back(packet(ts, true, true, 1, 100));
    }
    for (auto& x : h.run(burst)) held += x.where == "lost";
  }
  ASSERT_GT(held, size_t{kBurstMax}) << "a backlog larger than one burst";
  // The same classes, a faster uplink: nothing is emitted by the change itself.
  ts.set_policy(qos_policy(ts.site, 100'000'000));
  offer(stage, ts);
  auto v = h.run({});
  EXPECT_LE(v.size(), size_t{kBurstMax}) << "the change released no flood";
  EXPECT_EQ(h.drop_count("queue_full"), 0u);
  size_t released = 0;
  for (auto& x : v) released += x.where == "edge:tx";
  for (int step = 0; step < 100 && released < held; ++step) {
    g_tsc += rte_get_tsc_hz() / 100;  // 10 ms at 100 Mbit/s: room for everything
    for (auto& x : h.idle(g_tsc)) released += x.where == "edge:tx";
  }
  EXPECT_EQ(released, held) << "the whole backlog left under the new plan";
  EXPECT_EQ(stage.plans_late(), 0u);
}

// The worker sees a policy whose plan was not offered: the old plan stays (no allocation on the
// worker), counted; the plan offered later is taken.
TEST(QosStage, APolicyWithoutItsPlanKeepsTheOldOneUntilItComes) {
  testing::TestSite ts("qos6");
  ts.set_policy(qos_policy(ts.site, 8'000));
  QosStage stage(ts.site);
  offer(stage, ts);
  testing::StageHarness h(stage, &ts.view, fake_tsc);
  std::vector<rte_mbuf*> backlog;
  for (int i = 0; i < 10; ++i) backlog.push_back(packet(ts, true, true, 1));
  auto v = h.run(backlog);  // 1 kB/s: most of them wait
  auto p = qos_policy(ts.site, 8'000);
  p->qos_classes.clear();
  ts.set_policy(p);
  v = h.run({packet(ts, true, true, 1)});
  EXPECT_EQ(stage.plans_late(), 1u);
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v[0].where, "edge:tx") << "still scheduled by the old plan";
  // A plan for an older generation is not taken either.
  stage.offer(QosStage::plan(p.get(), static_cast<uint16_t>(ts.view.policy_gen - 1), ts.site, 1,
                             fake_ns()));
  h.run({});
  EXPECT_EQ(stage.plans_late(), 1u) << "counted once per policy";
  offer(stage, ts);
  v = h.run({packet(ts, true, true, 1)});
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0].where, "edge:tx") << "the new plan is taken: QoS off";
}

// Two workers share an uplink's shaped rate (QosShared): one flow, pinned to one worker, gets
// the whole rate when the other worker is idle (it used to get half), and both together never
// get more than the rate.
TEST(QosStage, WorkersShareTheUplinksRateInsteadOfSplittingIt) {
  testing::TestSite ts("qos7");
  ts.set_policy(qos_policy(ts.site, 8'000'000));  // 1 MB/s
  QosShared shared;
  QosStage a(ts.site), b(ts.site);
  for (QosStage* st : {&a, &b}) {
    st->share(&shared);
    st->offer(QosStage::plan(ts.view.policy, ts.view.policy_gen, ts.site, 2, fake_ns()));
  }
  testing::StageHarness ha(a, &ts.view, fake_tsc), hb(b, &ts.view, fake_tsc);
  // Bytes released over `ms` simulated milliseconds, feeding 1042-byte frames to the stages in
  // `feed` at 2 MB/s each (twice the rate: queues stay full).
  auto run = [&](std::vector<testing::StageHarness*> feed, int ms) {
    uint64_t bytes = 0;
    const uint64_t step = rte_get_tsc_hz() / 1000;
    for (int t = 0; t < ms; ++t) {
      g_tsc += step;
      for (testing::StageHarness* h : {&ha, &hb}) {
        std::vector<rte_mbuf*> in;
        if (std::find(feed.begin(), feed.end(), h) != feed.end())
          for (int i = 0; i < 2; ++i) in.push_back(packet(ts, true, true, 1));
        for (auto& v : in.empty() ? h->idle(g_tsc) : h->run(in))
          if (v.where == "edge:tx" && v.pkt != nullptr) bytes += rte_pktmbuf_pkt_len(v.pkt);
      }
    }
    return bytes;
  };
  run({&ha}, 200);  // settle: queues full, the bucket at its steady state
  const uint64_t alone = run({&ha}, 1000);
  EXPECT_GT(alone, 900'000u) << "one worker alone gets the whole 1 MB/s, not half of it";
  EXPECT_LT(alone, 1'100'000u);
  run({&ha, &hb}, 200);
  const uint64_t both = run({&ha, &hb}, 1000);
  EXPECT_GT(both, 900'000u);
  EXPECT_LT(both, 1'100'000u) << "two workers together stay within the uplink's rate";
}

}  // namespace
}  // namespace traboule::dp

namespace traboule::dp {
namespace {

// Overlay packets it drops are our own loss, not the path's: said to the site table (direct
// measurement subtracts them), per path and class tag; other packets it drops are not.
TEST(QosStage, DroppedOverlayPacketsAreCountedAsOurOwnDrops) {
  testing::TestSite ts("qos5");
  ts.set_policy(qos_policy(ts.site, 8'000));  // 1 kB/s: the queue fills at once
  QosStage stage(ts.site);
  offer(stage, ts);
  OverlaySites sites;
  stage.count_own_drops(&sites);
  testing::StageHarness h(stage, &ts.view, fake_tsc);
  // The box's own LAN traffic fills the queue: its drops are nobody's overlay loss.
  std::vector<rte_mbuf*> flood;
  for (int i = 0; i < 100; ++i) flood.push_back(packet(ts, true, true, 1));
  h.run(flood);
  const uint64_t before = h.drop_count("queue_full");
  ASSERT_GT(before, 0u);
  for (const auto& d : sites.path(0, 0).dropped_cls) EXPECT_EQ(d.load(), 0u);
  // Then 50 packets we encapsulated (edge path 0, class tag 3) meet the full queue.
  std::vector<rte_mbuf*> ours;
  for (int i = 0; i < 50; ++i) {
    rte_mbuf* m = packet(ts, true, true, 1);
    PacketMeta& md = meta(m);
    md.flags |= meta_flag::kOverlayOut;
    md.overlay_site = 0;
    md.overlay_path = 0;
    md.overlay_cls = 3;
    ours.push_back(m);
  }
  h.run(ours);
  const uint64_t dropped = h.drop_count("queue_full") - before;
  EXPECT_EQ(dropped, 50u) << "nothing leaves at 1 kB/s while the clock stands";
  EXPECT_EQ(sites.path(0, 0).dropped_cls[3].load(), dropped);
  EXPECT_EQ(sites.tx_packets(0, 0, 3), uint32_t(0) - uint32_t(dropped))
      << "modular: encap's count (none here) less our drops";
}

TEST(QosStage, IngressPolicingDropsWhatArrivesAboveTheClassRate) {
  struct Row {
    const char* what;
    uint64_t ingress_bps;  // on the bulk class
    uint16_t rule;
    size_t want_passed;  // of 10 frames of ~1042 bytes arriving at once
  };
  const std::vector<Row> rows = {
      {"bulk policed at 80 kbit/s: the 3028-byte burst lets 2 through", 80'000, 1, 2},
      {"another class (voice) is not policed", 80'000, 0, 10},
      {"no ingress rate: nothing policed", 0, 1, 10},
      {"rule beyond the policy (hostile meta): not policed", 80'000, 999, 10},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    testing::TestSite ts("qos4");
    auto p = qos_policy(ts.site, 10'000'000);
    p->qos_classes[1].ingress_max_bps = r.ingress_bps;
    ts.set_policy(p);
    QosStage stage(ts.site);
    offer(stage, ts);
    testing::StageHarness h(stage, &ts.view, fake_tsc);
    std::vector<rte_mbuf*> in;
    for (int i = 0; i < 10; ++i) {
      rte_mbuf* m = packet(ts, false, false, r.rule);
      meta(m).in_port = ts.up_port;  // arrived from the uplink, to the LAN
      in.push_back(m);
    }
    size_t passed = 0, policed = 0;
    for (auto& v : h.run(in)) {
      passed += v.where == "edge:tx";
      policed += v.where == "drop:ingress_policed";
    }
    EXPECT_EQ(passed, r.want_passed);
    EXPECT_EQ(passed + policed, 10u);
  }
}

}  // namespace
}  // namespace traboule::dp

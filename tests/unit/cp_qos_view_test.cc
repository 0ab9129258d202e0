// SPDX-License-Identifier: Apache-2.0
// GET /qos (qos_view): every class field the policy has, `enforced` true exactly where the qos
// stage is in the pipeline and shapes the uplink, and the stage's per-class, per-uplink figures.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "controlplane/agent/daemon_state.h"

namespace traboule::cp {
namespace {

using nlohmann::json;

dp::PolicySnapshot policy(size_t classes) {
  dp::PolicySnapshot p;
  p.uplinks.resize(2);
  p.uplinks[0].name = "fiber";
  p.uplinks[0].up_bps = 50'000'000;
  p.uplinks[1].name = "lte";  // no up_kbps: not shaped
  for (size_t c = 0; c < classes; ++c) {
    dp::QosClass q;
    q.name = "c" + std::to_string(c);
    q.priority = static_cast<uint8_t>(c == 0 ? 0 : 2);
    q.weight = static_cast<uint16_t>(10 + c);
    q.min_rate_bps = 1000 * c;
    q.max_rate_bps = c == 0 ? 400'000 : 0;
    q.ingress_max_bps = c == 1 ? 2'000'000 : 0;
    q.dscp = c == 0 ? 46 : -1;
    q.critical = c == 0;
    p.qos_classes.push_back(q);
  }
  return p;
}

const std::vector<std::string> kUplinks{"fiber", "lte"};

// What Dataplane::counters() gives with the qos stage in the pipeline.
std::vector<dp::CounterValue> stage_counters() {
  return {{"forward.out.egress", 10},
          {"qos.out.tx", 9},
          {"qos.queue_full", 1},
          {"qos.fiber.class0.depth", 3},
          {"qos.fiber.class0.enqueued", 100},
          {"qos.fiber.class0.dequeued", 97},
          {"qos.fiber.class0.dequeued_bytes", 20000},
          {"qos.fiber.class0.dropped", 2},
          {"qos.fiber.class0.rate_bps", 160000},
          {"qos.fiber.class0.queue_p50_us", 100},
          {"qos.fiber.class0.queue_p99_us", 900},
          {"qos.fiber.class0.queue_max_us", 1234},
          {"qos.fiber.class2.enqueued", 5},
          {"qos.lte.class1.enqueued", 7}};
}

const json& uplink(const json& cls, const std::string& name) {
  for (const json& u : cls.at("uplinks"))
    if (u.at("uplink") == name) return u;
  throw std::out_of_range(name);
}

TEST(QosView, NoPolicyNoClasses) {
  EXPECT_EQ(qos_view(nullptr, kUplinks, 1, stage_counters()), json::array());
  const dp::PolicySnapshot p = policy(0);
  EXPECT_EQ(qos_view(&p, kUplinks, 1, stage_counters()), json::array());
}

TEST(QosView, EveryPolicyFieldAndTheStageFigures) {
  const dp::PolicySnapshot p = policy(2);
  const json v = qos_view(&p, kUplinks, 1, stage_counters());
  ASSERT_EQ(v.size(), 3u);  // c0, c1, (unclassified)
  const json& c0 = v[0];
  EXPECT_EQ(c0["name"], "c0");
  EXPECT_EQ(c0["priority"], 0);
  EXPECT_EQ(c0["weight"], 10);
  EXPECT_EQ(c0["min_rate_bps"], 0);
  EXPECT_EQ(c0["max_rate_bps"], 400000);
  EXPECT_EQ(c0["ingress_max_bps"], 0);
  EXPECT_EQ(c0["dscp"], 46);
  EXPECT_EQ(c0["critical"], true);
  EXPECT_EQ(c0["queue"], 0);
  EXPECT_EQ(c0["enforced"], true);
  EXPECT_EQ(c0["ingress_policed"], false);
  ASSERT_EQ(c0["uplinks"].size(), 2u);
  const json& f = uplink(c0, "fiber");
  EXPECT_EQ(f["enforced"], true);
  EXPECT_EQ(f["depth"], 3);
  EXPECT_EQ(f["enqueued"], 100);
  EXPECT_EQ(f["dequeued"], 97);
  EXPECT_EQ(f["dequeued_bytes"], 20000);
  EXPECT_EQ(f["dropped"], 2);
  EXPECT_EQ(f["rate_bps"], 160000);
  EXPECT_EQ(f["queue_p50_us"], 100);
  EXPECT_EQ(f["queue_p99_us"], 900);
  EXPECT_EQ(f["queue_max_us"], 1234);
  // lte has no up_kbps: the stage does not shape it.
  const json& l = uplink(c0, "lte");
  EXPECT_EQ(l["enforced"], false);
  EXPECT_EQ(l["enqueued"], 0);

  const json& c1 = v[1];
  EXPECT_EQ(c1["ingress_max_bps"], 2000000);
  EXPECT_EQ(c1["ingress_policed"], true);
  EXPECT_EQ(c1["queue"], 1);
  EXPECT_EQ(uplink(c1, "lte")["enqueued"], 7);
  EXPECT_EQ(uplink(c1, "fiber")["enqueued"], 0);  // not queued there yet

  const json& un = v[2];
  EXPECT_EQ(un["name"], "(unclassified)");
  EXPECT_EQ(un["queue"], 2);
  EXPECT_EQ(un["priority"], 2);  // the lowest level in use
  EXPECT_EQ(un["enforced"], true);
  EXPECT_EQ(uplink(un, "fiber")["enqueued"], 5);
}

TEST(QosView, NotEnforcedWithoutTheStage) {
  const dp::PolicySnapshot p = policy(2);
  std::vector<dp::CounterValue> counters{{"forward.out.egress", 10}};
  const json v = qos_view(&p, kUplinks, 1, counters);
  ASSERT_EQ(v.size(), 2u);  // no unclassified queue either
  for (const json& c : v) {
    EXPECT_EQ(c["enforced"], false) << c.dump();
    EXPECT_EQ(c["ingress_policed"], false) << c.dump();
    for (const json& u : c["uplinks"]) EXPECT_EQ(u["enforced"], false) << c.dump();
  }
}

TEST(QosView, ClassesBeyondTheSeventhShareTheUnclassifiedQueue) {
  const dp::PolicySnapshot p = policy(9);
  const json v = qos_view(&p, kUplinks, 1, stage_counters());
  ASSERT_EQ(v.size(), 10u);
  for (size_t c = 0; c < 7; ++c) {
    EXPECT_EQ(v[c]["queue"], c);
    EXPECT_EQ(v[c]["enforced"], true) << c;
  }
  for (size_t c = 7; c < 9; ++c) {
    EXPECT_EQ(v[c]["queue"], 7);
    EXPECT_EQ(v[c]["enforced"], false) << c;
  }
  EXPECT_EQ(v[9]["name"], "(unclassified)");
  EXPECT_EQ(v[9]["queue"], 7);
}

TEST(QosView, AnUplinkRateBelowOneBitPerWorkerIsNotShaped) {
  dp::PolicySnapshot p = policy(1);
  p.uplinks[0].up_bps = 3;
  const json v = qos_view(&p, kUplinks, 4, stage_counters());
  EXPECT_EQ(uplink(v[0], "fiber")["enforced"], false);
  EXPECT_EQ(v[0]["enforced"], false);
}

}  // namespace
}  // namespace traboule::cp

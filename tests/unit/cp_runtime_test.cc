// SPDX-License-Identifier: Apache-2.0
// GET /runtime's document: per stage figures from the pipelines' profiles, the workers' loads,
// what a received packet costs in all; nothing divided by zero before the first packet.
#include <gtest/gtest.h>

#include "controlplane/telemetry/runtime_view.h"

namespace traboule::cp {
namespace {

TEST(RuntimeView, FiguresPerStageAndInAll) {
  using P = dp::Pipeline::StageProfile;
  // parse: 100 packets in 4 calls, 32 timed at 640 cycles; tx: 90 packets, 30 timed at 900.
  const std::vector<P> stages = {
      {"parse", 640, 32, 4, 100, 1}, {"tx", 900, 30, 4, 90, 1}, {"idle", 0, 0, 0, 0, 0}};
  const std::vector<dp::WorkerStats> workers = {{1000, 250, 100, 3}};
  const auto j = runtime_json(stages, workers, 2'000'000'000);
  ASSERT_EQ(j["stages"].size(), 3u);
  const auto& parse = j["stages"][0];
  EXPECT_EQ(parse["name"], "parse");
  EXPECT_EQ(parse["calls"], 4);
  EXPECT_EQ(parse["packets"], 100);
  EXPECT_DOUBLE_EQ(parse["packets_per_call"].get<double>(), 25.0);
  EXPECT_DOUBLE_EQ(parse["cycles_per_packet"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(parse["ns_per_packet"].get<double>(), 10.0);
  EXPECT_EQ(parse["timed_cycles"], 640);
  const auto& idle = j["stages"][2];
  EXPECT_TRUE(idle["cycles_per_packet"].is_null()) << "never timed: unknown, not 0";
  EXPECT_EQ(idle["packets_per_call"], 0.0);
  // In all: (20 x 100 + 30 x 90) / 100 received.
  EXPECT_DOUBLE_EQ(j["cycles_per_rx_packet"].get<double>(), 47.0);
  EXPECT_DOUBLE_EQ(j["workers"][0]["busy_percent"].get<double>(), 25.0);
  EXPECT_EQ(j["sample_every"], dp::Pipeline::kSampleEvery);

  const auto none = runtime_json({}, {{0, 0, 0, 0}}, 0);
  EXPECT_TRUE(none["cycles_per_rx_packet"].is_null());
  EXPECT_EQ(none["workers"][0]["busy_percent"], 0.0);
}

}  // namespace
}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// Pipeline wiring and dispatch: edges, drops with named counters, topological order, and the
// errors a wrong wiring table must produce.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <stdexcept>

#include "dataplane/graph/pipeline.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/pipeline_counters.h"

namespace traboule::dp {
namespace {

using traboule::testing::PacketBuilder;
using traboule::testing::test_pool;
using traboule::testing::to_mbuf;

// Sends even-length packets to "even", odd to "odd", and drops empty ones.
class SplitStage final : public Stage {
 public:
  std::string_view name() const noexcept override { return "split"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
               Output& out) noexcept override {
    last = ctx;
    for (uint16_t i = 0; i < n; ++i) {
      uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);
      if (len == 0)
        out.drop_index(0, pkts[i]);
      else
        out.to_index(len % 2, pkts[i]);
    }
  }
  static constexpr std::array<std::string_view, 2> kEdges{"even", "odd"};
  static constexpr std::array<std::string_view, 1> kDrops{"empty"};
  BurstContext last;  // what the last process() call was given
};

// Counts and frees what reaches it.
class SinkStage final : public Stage {
 public:
  explicit SinkStage(std::string name) : name_(std::move(name)) {}
  std::string_view name() const noexcept override { return name_; }
  std::span<const std::string_view> edge_names() const noexcept override { return {}; }
  std::span<const std::string_view> drop_names() const noexcept override { return {}; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output&) noexcept override {
    last = ctx;
    seen += n;
    rte_pktmbuf_free_bulk(pkts, n);
  }
  uint64_t seen = 0;
  BurstContext last;
  std::string name_;
};

std::vector<NodeSpec> table() {
  std::vector<NodeSpec> t;
  t.push_back({std::make_unique<SinkStage>("evens"), {}});
  t.push_back({std::make_unique<SplitStage>(), {{"even", "evens"}, {"odd", "odds"}}});
  t.push_back({std::make_unique<SinkStage>("odds"), {}});
  return t;
}

uint64_t counter(const Pipeline& p, const std::string& name) {
  return testing::counter_value(p, name).value_or(UINT64_MAX);
}

TEST(Pipeline, RoutesEdgesAndCountsDrops) {
  Pipeline p(table());
  unsigned before = traboule::testing::pool_in_use();
  std::vector<rte_mbuf*> pkts;
  for (size_t len : {60, 61, 0, 62, 63, 64}) {
    testing::Frame f;
    f.bytes.assign(len, 0);
    pkts.push_back(to_mbuf(test_pool(), f));
  }
  p.run(p.node_index("split"), pkts.data(), static_cast<uint16_t>(pkts.size()), BurstContext{});
  EXPECT_EQ(p.find<SinkStage>("evens")->seen, 3u);
  EXPECT_EQ(p.find<SinkStage>("odds")->seen, 2u);
  EXPECT_EQ(counter(p, "split.empty"), 1u);
  EXPECT_EQ(counter(p, "split.out.even"), 3u);
  EXPECT_EQ(counter(p, "split.out.odd"), 2u);
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "every packet freed exactly once";
}

// One context per burst: every stage the burst reaches sees the very context the worker made
// (its time, its worker, its view), bursts with different contexts one after the other.
TEST(Pipeline, EveryStageSeesTheBurstsContext) {
  Pipeline p(table());
  WorkerView view_a, view_b;
  const BurstContext rows[] = {
      {.now_tsc = 1000, .view = &view_a, .worker = 0},
      {.now_tsc = 123456789012345, .view = &view_b, .worker = 3},
      {.now_tsc = 0, .view = nullptr, .worker = 65535},  // hostile: no view, no time
  };
  for (const BurstContext& c : rows) {
    std::vector<rte_mbuf*> pkts;
    for (size_t len : {60, 61}) {
      testing::Frame f;
      f.bytes.assign(len, 0);
      pkts.push_back(to_mbuf(test_pool(), f));
    }
    p.run(p.node_index("split"), pkts.data(), static_cast<uint16_t>(pkts.size()), c);
    for (const BurstContext& seen :
         {p.find<SplitStage>("split")->last, p.find<SinkStage>("evens")->last,
          p.find<SinkStage>("odds")->last}) {
      EXPECT_EQ(seen.now_tsc, c.now_tsc);
      EXPECT_EQ(seen.view, c.view);
      EXPECT_EQ(seen.worker, c.worker);
    }
  }
  // Without a view the accessors say "nothing published" rather than crash.
  EXPECT_EQ(rows[2].policy(), nullptr);
  EXPECT_EQ(rows[2].links(), nullptr);
  EXPECT_EQ(rows[2].policy_gen(), 0);
}

// `show runtime`: calls and packets counted on every burst, cycles timed on one in
// kSampleEvery (every burst with profiling on); an idle stage has no call.
TEST(Pipeline, RuntimeCountsEveryCallAndTimesASample) {
  struct Row {
    const char* what;
    bool profiling;
    uint32_t bursts;
    uint64_t timed_calls;  // of the split stage
  };
  const Row rows[] = {
      {"default: one burst in 16 timed (the first)", false, 40, 3},
      {"profiling: every burst", true, 40, 40},
      {"one burst", false, 1, 1},
  };
  for (const Row& r : rows) {
    Pipeline p(table());
    p.set_profiling(r.profiling);
    for (uint32_t b = 0; b < r.bursts; ++b) {
      std::vector<rte_mbuf*> pkts;
      for (size_t len : {60, 62, 64, 66, 61}) {  // 4 even, 1 odd
        testing::Frame f;
        f.bytes.assign(len, 0);
        pkts.push_back(to_mbuf(test_pool(), f));
      }
      p.run(p.node_index("split"), pkts.data(), static_cast<uint16_t>(pkts.size()), BurstContext{});
    }
    std::map<std::string, Pipeline::StageProfile> by;
    for (const auto& s : p.profile()) by[s.name] = s;
    const auto& split = by.at("split");
    EXPECT_EQ(split.calls, r.bursts) << r.what;
    EXPECT_EQ(split.vectors, 5u * r.bursts) << r.what;
    EXPECT_EQ(split.timed_calls, r.timed_calls) << r.what;
    EXPECT_EQ(split.packets, 5u * r.timed_calls) << r.what;
    EXPECT_GT(split.cycles, 0u) << r.what;
    EXPECT_EQ(by.at("evens").vectors, 4u * r.bursts) << r.what;
    EXPECT_EQ(by.at("odds").calls, r.bursts) << r.what;
    p.idle(BurstContext{});  // nothing queued: no stage is called
    EXPECT_EQ(p.profile()[0].calls + p.profile()[1].calls + p.profile()[2].calls, 3u * r.bursts)
        << r.what;
  }
}

TEST(Pipeline, RejectsBadWiring) {
  struct Row {
    const char* what;
    std::vector<std::pair<std::string, std::string>> edges;
    const char* expect;
  };
  std::vector<Row> rows = {
      {"unwired edge", {{"even", "evens"}}, "edge 'split.odd' is not wired"},
      {"unknown edge",
       {{"even", "evens"}, {"odd", "odds"}, {"blue", "odds"}},
       "has no edge 'blue'"},
      {"unknown node", {{"even", "evens"}, {"odd", "nowhere"}}, "unknown node 'nowhere'"},
      {"self loop", {{"even", "split"}, {"odd", "odds"}}, "loops"},
  };
  for (auto& r : rows) {
    std::vector<NodeSpec> t;
    t.push_back({std::make_unique<SinkStage>("evens"), {}});
    t.push_back({std::make_unique<SplitStage>(), r.edges});
    t.push_back({std::make_unique<SinkStage>("odds"), {}});
    try {
      Pipeline p(std::move(t));
      ADD_FAILURE() << r.what << ": accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(r.expect), std::string::npos)
          << r.what << ": " << e.what();
    }
  }
  // An edge named like a node must lead to it: split.even to a node "even" is fine, split.even
  // to "odds" while a node "even" exists is refused (the counter would read as the place).
  auto named = [](const char* even_to) {
    std::vector<NodeSpec> t;
    t.push_back({std::make_unique<SinkStage>("even"), {}});
    t.push_back({std::make_unique<SplitStage>(), {{"even", even_to}, {"odd", "odds"}}});
    t.push_back({std::make_unique<SinkStage>("odds"), {}});
    return t;
  };
  EXPECT_NO_THROW(Pipeline p(named("even")));
  try {
    Pipeline p(named("odds"));
    ADD_FAILURE() << "an edge named like another node: accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("named like node 'even' but goes to 'odds'"),
              std::string::npos)
        << e.what();
  }
  std::vector<NodeSpec> dup;
  dup.push_back({std::make_unique<SinkStage>("x"), {}});
  dup.push_back({std::make_unique<SinkStage>("x"), {}});
  EXPECT_THROW(Pipeline p(std::move(dup)), std::invalid_argument);
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// A pipeline of stages wired once from a table, then frozen. One instance per worker lcore,
// so stage state (flow table, counters) is per worker and needs no locks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/graph/trace.h"

namespace traboule::dp {

struct NodeSpec {
  std::unique_ptr<Stage> stage;  // the node is named after the stage
  // Each of the stage's edges (by edge name) to the next node (by stage name). Every edge
  // must be wired; a stage with no edges (tx) is a sink.
  std::vector<std::pair<std::string, std::string>> edges;
};

class Pipeline {
 public:
  // Throws std::invalid_argument naming the node and edge when the table is wrong (unknown or
  // unwired edge, unknown node, duplicate name, cycle, an edge named like a node it does not
  // lead to). Start-up only.
  explicit Pipeline(std::vector<NodeSpec> nodes);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Runs n packets (n <= kBurstMax) entering at node `entry`, to completion; every stage sees
  // the same `ctx`.
  void run(uint16_t entry, rte_mbuf** pkts, uint16_t n, const BurstContext& ctx) noexcept;
  // Gives every stage its timer slot and runs what they emitted.
  void idle(const BurstContext& ctx) noexcept;

  uint16_t node_index(std::string_view name) const;  // throws std::out_of_range
  size_t size() const noexcept { return nodes_.size(); }
  Stage& stage(size_t i) noexcept { return *nodes_[i].stage; }
  template <class T>
  T* find(std::string_view name) noexcept {
    for (auto& n : nodes_)
      if (n.stage->name() == name) return dynamic_cast<T*>(n.stage.get());
    return nullptr;
  }
  template <class T>
  const T* find(std::string_view name) const noexcept {
    for (auto& n : nodes_)
      if (n.stage->name() == name) return dynamic_cast<const T*>(n.stage.get());
    return nullptr;
  }

  // "<stage>.<drop>" and "<stage>.out.<edge>" counters, plus "pipeline.overflow".
  void collect(std::vector<CounterValue>& out) const;
  // Sum of every drop counter (and overflow): packets that did not reach a sink or a port.
  uint64_t total_drops() const;
  // Only the drop counters ("<stage>.<reason>"), zeros included.
  void collect_drops(std::vector<CounterValue>& out) const;
  Trace& trace() noexcept { return trace_; }

  // Per-stage runtime, like VPP's `show runtime` (docs/dataplane.md "Runtime"): every stage's
  // calls and packets are counted always; its cycles are measured on one burst in
  // kSampleEvery (two rdtsc per stage then), or on every burst with profiling on (benchmarks).
  static constexpr uint32_t kSampleEvery = 16;
  struct StageProfile {
    std::string name;
    uint64_t cycles = 0;   // in the timed calls
    uint64_t packets = 0;  // in the timed calls
    uint64_t calls = 0;    // process() calls with packets, all of them
    uint64_t vectors = 0;  // packets handed to process(), all of them
    uint64_t timed_calls = 0;
  };
  void set_profiling(bool on) noexcept { sample_mask_ = on ? 0 : kSampleEvery - 1; }
  std::vector<StageProfile> profile() const;
  std::string stage_name(uint16_t stage_id) const {
    return std::string(nodes_[stage_id].stage->name());
  }

 private:
  struct Node {
    std::unique_ptr<Stage> stage;
    Burst input;
    Burst* next[kMaxEdges] = {};
    std::vector<uint64_t> edge_counts;
    std::vector<uint64_t> drop_counts;
    Output out;
    uint64_t prof_cycles = 0;
    uint64_t prof_packets = 0;
    uint64_t prof_calls = 0;
    uint64_t calls = 0;
    uint64_t vectors = 0;
  };
  void drain(size_t from, const BurstContext& ctx) noexcept;

  std::vector<Node> nodes_;  // in topological order
  Burst drops_;
  uint64_t overflow_ = 0;
  uint32_t sample_mask_ = kSampleEvery - 1;  // a drain is timed when (drains_ & mask) == 0
  uint32_t drains_ = 0;
  Trace trace_;
};

}  // namespace traboule::dp

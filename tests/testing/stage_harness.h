// SPDX-License-Identifier: Apache-2.0
// Runs one stage on a burst outside a pipeline and captures what it did with each packet:
// which edge, or which drop reason. Stage tests compare that against their table.
#pragma once

#include <rte_mbuf.h>

#include <string>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/graph/trace.h"

namespace traboule::testing {

struct Verdict {
  std::string where;        // "edge:<name>" or "drop:<reason>"
  rte_mbuf* pkt = nullptr;  // still owned by the harness for edges (freed by it); null for drops
};

class StageHarness {
 public:
  // The context of each run(): `view` is what the stage reads of the control plane (for stages
  // that read snapshots); the time is `clock()` (a test's own clock), else rte_rdtsc().
  using Clock = uint64_t (*)() noexcept;
  explicit StageHarness(dp::Stage& stage, const dp::WorkerView* view = nullptr,
                        Clock clock = nullptr);
  ~StageHarness();

  // Processes the packets; returns one verdict per input packet, in input order for packets
  // that kept their identity, followed by packets the stage emitted on its own.
  std::vector<Verdict> run(std::vector<rte_mbuf*> pkts);
  std::vector<Verdict> idle(uint64_t now_tsc);
  dp::BurstContext& context() { return ctx_; }
  uint64_t drop_count(const std::string& reason) const;
  uint64_t edge_count(const std::string& edge) const;

 private:
  std::vector<Verdict> collect(const std::vector<rte_mbuf*>& inputs);

  dp::Stage& stage_;
  std::vector<dp::Burst> edge_bufs_;
  std::vector<dp::Burst*> edge_ptrs_;
  std::vector<uint64_t> edge_counts_;
  std::vector<uint64_t> drop_counts_;
  dp::Burst drops_;
  uint64_t overflow_ = 0;
  dp::Trace trace_;
  dp::Output out_;
  std::vector<rte_mbuf*> held_;
  dp::BurstContext ctx_;
  Clock clock_;
};

}  // namespace traboule::testing

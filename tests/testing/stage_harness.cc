// SPDX-License-Identifier: Apache-2.0
#include "tests/testing/stage_harness.h"

#include <rte_cycles.h>

#include <algorithm>

namespace traboule::testing {

StageHarness::StageHarness(dp::Stage& stage, const dp::WorkerView* view, Clock clock)
    : stage_(stage),
      edge_bufs_(stage.edge_names().size()),
      edge_counts_(stage.edge_names().size(), 0),
      drop_counts_(stage.drop_names().size(), 0),
      clock_(clock) {
  ctx_.view = view;
  for (auto& b : edge_bufs_) edge_ptrs_.push_back(&b);
  out_.wire(0, edge_ptrs_.data(), edge_counts_.data(), &drops_, drop_counts_.data(), &overflow_,
            &trace_);
}

StageHarness::~StageHarness() {
  for (auto* m : held_) rte_pktmbuf_free(m);
}

std::vector<Verdict> StageHarness::collect(const std::vector<rte_mbuf*>& inputs) {
  std::vector<Verdict> out(inputs.size());
  std::vector<Verdict> extra;
  auto place = [&](rte_mbuf* m, std::string where, bool keep) {
    auto it = std::find(inputs.begin(), inputs.end(), m);
    Verdict v{std::move(where), keep ? m : nullptr};
    if (it != inputs.end() && out[it - inputs.begin()].where.empty())
      out[it - inputs.begin()] = v;
    else
      extra.push_back(v);
  };
  auto edges = stage_.edge_names();
  for (size_t e = 0; e < edge_bufs_.size(); ++e) {
    for (uint16_t i = 0; i < edge_bufs_[e].n; ++i) {
      place(edge_bufs_[e].pkts[i], "edge:" + std::string(edges[e]), true);
      held_.push_back(edge_bufs_[e].pkts[i]);
    }
    edge_bufs_[e].n = 0;
  }
  // Drops: the reason is the counter that moved; attribute per packet through the trace.
  auto drops = stage_.drop_names();
  auto recs = trace_.snapshot();
  for (uint16_t i = 0; i < drops_.n; ++i) {
    rte_mbuf* m = drops_.pkts[i];
    std::string reason = "?";
    for (auto it = recs.rbegin(); it != recs.rend(); ++it)
      if (it->is_drop && it->trace_id == dp::meta(m).trace_id) {
        reason = std::string(drops[it->code]);
        break;
      }
    place(m, "drop:" + reason, false);
  }
  rte_pktmbuf_free_bulk(drops_.pkts, drops_.n);
  drops_.n = 0;
  out.insert(out.end(), extra.begin(), extra.end());
  for (auto& v : out)
    if (v.where.empty()) v.where = "lost";
  return out;
}

std::vector<Verdict> StageHarness::run(std::vector<rte_mbuf*> pkts) {
  // Tag every packet for the trace so drops can be attributed to their reason.
  static uint16_t next_id = 1;
  for (auto* m : pkts) {
    dp::meta(m).flags |= dp::meta_flag::kTrace;
    dp::meta(m).trace_id = next_id++;
  }
  std::vector<rte_mbuf*> copy = pkts;
  for (size_t off = 0; off < copy.size(); off += dp::kBurstMax) {
    uint16_t n = static_cast<uint16_t>(std::min<size_t>(dp::kBurstMax, copy.size() - off));
    ctx_.now_tsc = clock_ != nullptr ? clock_() : rte_rdtsc();
    stage_.process(copy.data() + off, n, ctx_, out_);
  }
  return collect(pkts);
}

std::vector<Verdict> StageHarness::idle(uint64_t now_tsc) {
  ctx_.now_tsc = now_tsc;
  stage_.on_idle(ctx_, out_);
  return collect({});
}

uint64_t StageHarness::drop_count(const std::string& reason) const {
  auto d = stage_.drop_names();
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i] == reason) return drop_counts_[i];
  return UINT64_MAX;
}
uint64_t StageHarness::edge_count(const std::string& edge) const {
  auto d = stage_.edge_names();
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i] == edge) return edge_counts_[i];
  return UINT64_MAX;
}

}  // namespace traboule::testing

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/graph/trace.h"

#include <rte_cycles.h>

#include "dataplane/graph/mbuf_meta.h"

namespace traboule::dp {

void Trace::record(const rte_mbuf* m, uint16_t stage_id, unsigned code, bool is_drop) noexcept {
  uint64_t h = head_.load(std::memory_order_relaxed);
  TraceRecord& r = ring_[h % ring_.size()];
  r.tsc = rte_rdtsc();
  r.trace_id = meta(m).trace_id;
  r.stage_id = stage_id;
  r.code = static_cast<uint16_t>(code);
  r.is_drop = is_drop;
  r.pkt_len = static_cast<uint16_t>(rte_pktmbuf_pkt_len(m));
  head_.store(h + 1, std::memory_order_release);
}

std::vector<TraceRecord> Trace::snapshot() const {
  uint64_t h = head_.load(std::memory_order_acquire);
  uint64_t n = h < ring_.size() ? h : ring_.size();
  std::vector<TraceRecord> out;
  out.reserve(n);
  for (uint64_t i = h - n; i < h; ++i) out.push_back(ring_[i % ring_.size()]);
  return out;
}

}  // namespace traboule::dp

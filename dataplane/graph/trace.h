// SPDX-License-Identifier: Apache-2.0
// Per-packet trace: off by default; when on, each stage decision for a sampled packet is
// recorded in a fixed ring (no allocation on the hot path) that the control thread reads.
#pragma once

#include <rte_mbuf.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace traboule::dp {

struct TraceRecord {
  uint64_t tsc = 0;
  uint16_t trace_id = 0;
  uint16_t stage_id = 0;
  uint16_t code = 0;  // edge index, or drop reason when is_drop
  bool is_drop = false;
  uint16_t pkt_len = 0;
};

class Trace {
 public:
  explicit Trace(size_t capacity = 4096) : ring_(capacity) {}

  void record(const rte_mbuf* m, uint16_t stage_id, unsigned code, bool is_drop) noexcept;
  // Copies the records written so far, oldest first (control thread; racy reads tolerated).
  std::vector<TraceRecord> snapshot() const;

 private:
  std::vector<TraceRecord> ring_;
  std::atomic<uint64_t> head_{0};
};

}  // namespace traboule::dp

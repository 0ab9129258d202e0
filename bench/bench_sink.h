// SPDX-License-Identifier: Apache-2.0
// An Output whose edges and drops land in scratch bursts the bench empties without freeing, for
// stage benchmarks that run a stage on its own.
#pragma once

#include <cstdint>

#include "dataplane/graph/stage.h"
#include "dataplane/graph/trace.h"

namespace traboule::bench {

struct Sink {
  dp::Burst edges[dp::kMaxEdges], drops;
  dp::Burst* ptrs[dp::kMaxEdges];
  uint64_t edge_counts[dp::kMaxEdges] = {}, drop_counts[32] = {}, overflow = 0;
  dp::Trace trace{16};
  dp::Output out;
  Sink() {
    for (unsigned i = 0; i < dp::kMaxEdges; ++i) ptrs[i] = &edges[i];
    out.wire(0, ptrs, edge_counts, &drops, drop_counts, &overflow, &trace);
  }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  void reset() {
    for (auto& e : edges) e.n = 0;
    drops.n = 0;
  }
};

}  // namespace traboule::bench

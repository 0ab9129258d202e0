// SPDX-License-Identifier: Apache-2.0
// For stage benchmarks that run a stage on its own: an Output whose edges and drops land in
// scratch bursts the bench empties without freeing, and the timed loop around the stage.
#pragma once

#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>
#include <vector>

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

// Runs `stage` on `pkts` once per iteration, `before()` outside the timed region; reports the
// median cycles per packet and frees the packets at the end.
template <class Before, class Stage>
void timed(benchmark::State& state, std::vector<rte_mbuf*>& pkts, Stage& stage, Before&& before,
           const dp::WorkerView* view = nullptr) {
  Sink s;
  std::vector<uint64_t> samples;
  for (auto _ : state) {
    before();
    const uint64_t t0 = rte_rdtsc_precise();
    const dp::BurstContext ctx{.now_tsc = t0, .view = view};
    stage.process(pkts.data(), static_cast<uint16_t>(pkts.size()), ctx, s.out);
    const uint64_t dt = rte_rdtsc_precise() - t0;
    samples.push_back(dt);
    state.SetIterationTime(double(dt) / double(rte_get_tsc_hz()));
    s.reset();
  }
  std::nth_element(samples.begin(), samples.begin() + static_cast<long>(samples.size() / 2),
                   samples.end());
  state.counters["cycles_per_pkt"] = double(samples[samples.size() / 2]) / double(pkts.size());
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(pkts.size()));
  rte_pktmbuf_free_bulk(pkts.data(), static_cast<unsigned>(pkts.size()));
}

}  // namespace traboule::bench

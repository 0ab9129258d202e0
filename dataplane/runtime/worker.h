// SPDX-License-Identifier: Apache-2.0
// A worker lcore's loop: poll its RX queues and its inbound hand-off rings, run the pipeline,
// give the stages their timer slot, and back off when idle (pause, then short sleeps) unless
// pinned busy polling was asked for.
#pragma once

#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/core/pipeline.h"
#include "dataplane/core/worker_view.h"
#include "dataplane/runtime/rcu.h"

namespace traboule::dp {

enum class Polling { kAdaptive, kBusy };

// Sets what RX knows about each packet (ingress port, LAN side) before the pipeline runs.
inline void mark_rx(rte_mbuf** pkts, uint16_t n, uint16_t port, bool from_lan) noexcept {
  const uint16_t flags = from_lan ? meta_flag::kFromLan : 0;
  for (uint16_t i = 0; i < n; ++i) {
    PacketMeta& md = meta(pkts[i]);
    md.in_port = port;
    md.flags = flags;
  }
}

struct RxQueue {
  uint16_t port = 0;
  uint16_t queue = 0;
  bool from_lan = false;
};

struct WorkerStats {
  uint64_t loops = 0;
  uint64_t busy_loops = 0;  // loops that found packets
  uint64_t rx_packets = 0;
  uint64_t sleeps = 0;
};

// How a worker sees published snapshots: it refreshes `view` from `policy` at the top of each
// loop iteration and reports a quiescent state to `rcu` (as reader `id`) at the bottom.
struct WorkerSync {
  Rcu* rcu = nullptr;
  unsigned id = 0;
  const SnapshotSlot<PolicySnapshot>* policy = nullptr;
  const SnapshotSlot<LinkSnapshot>* links = nullptr;
  WorkerView* view = nullptr;
};

class Worker {
 public:
  Worker(Pipeline& pipeline, std::vector<RxQueue> rx, std::vector<rte_ring*> inbound,
         Polling polling, const std::atomic<bool>& stop, WorkerSync sync);

  // The lcore entry point; returns when `stop` becomes true.
  int run() noexcept;
  WorkerStats stats() const noexcept;
  void set_trace(bool on) noexcept { trace_.store(on, std::memory_order_relaxed); }

 private:
  void mark(rte_mbuf** pkts, uint16_t n, const RxQueue& q) noexcept;
  void refresh_view() noexcept;

  Pipeline& pipeline_;
  std::vector<RxQueue> rx_;
  std::vector<rte_ring*> inbound_;
  Polling polling_;
  const std::atomic<bool>& stop_;
  WorkerSync sync_;
  uint16_t parse_node_;
  uint16_t flow_node_;
  std::atomic<bool> trace_{false};
  uint16_t next_trace_id_ = 0;
  WorkerStats stats_;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// A worker lcore's loop: poll its RX queues and its inbound hand-off rings, run the pipeline,
// give the stages their timer slot, and back off when idle (pause, then short sleeps) unless
// pinned busy polling was asked for.
#pragma once

#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/graph/pipeline.h"
#include "dataplane/graph/worker_view.h"
#include "dataplane/io/kernel_twin.h"
#include "dataplane/model/box_ports.h"
#include "dataplane/runtime/own_addresses.h"
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
  // A kernel twin's queue (docs/kernel.md): what the kernel writes leaves on data-plane port
  // `twin_for` as it is, except (LAN twin) frames to kGatewayMac, which enter the pipeline as
  // LAN traffic of that port (the kernel's default route: the box's own traffic obeys the
  // policy). `iface` indexes the interface in the Site (BoxPorts).
  uint16_t twin_for = kNoPort;
  uint8_t iface = 0;
  uint16_t vlan = 0;  // `twin_for` is on this VLAN: frames to its wire get the tag
};

struct TwinStats {
  uint64_t rx = 0;            // frames the kernel wrote on twins
  uint64_t to_wire = 0;       // sent out of the twin's port as they were
  uint64_t injected = 0;      // entered the pipeline (LAN twin, to the gateway MAC)
  uint64_t tx_full = 0;       // the port's TX queue refused them: dropped
  uint64_t vlan_no_room = 0;  // no room for the port's VLAN tag: dropped
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
  TwinStats twin_stats() const noexcept;
  // The ports the box's kernel uses (updated from what it sends), the owner of every twin
  // queue's source addresses, and this worker's TX queue on the data-plane ports.
  void set_twins(BoxPorts* box_ports, const OwnAddresses* own, uint16_t tx_queue) noexcept {
    box_ports_ = box_ports;
    own_ = own;
    tx_queue_ = tx_queue;
  }
  void set_trace(bool on) noexcept { trace_.store(on, std::memory_order_relaxed); }

 private:
  void mark(rte_mbuf** pkts, uint16_t n, const RxQueue& q) noexcept;
  void refresh_view() noexcept;
  // Sends or injects what a twin queue returned; returns how many of `pkts` (moved to its
  // front) enter the pipeline.
  uint16_t from_kernel(rte_mbuf** pkts, uint16_t n, const RxQueue& q, uint64_t now_tsc) noexcept;

  Pipeline& pipeline_;
  std::vector<RxQueue> rx_;
  std::vector<rte_ring*> inbound_;
  Polling polling_;
  const std::atomic<bool>& stop_;
  WorkerSync sync_;
  uint16_t parse_node_;
  uint16_t flow_node_;
  uint16_t nat_in_node_;  // flow_node_ when there is no nat_in
  std::atomic<bool> trace_{false};
  uint16_t next_trace_id_ = 0;
  WorkerStats stats_;
  TwinStats twin_;
  BoxPorts* box_ports_ = nullptr;
  const OwnAddresses* own_ = nullptr;
  uint16_t tx_queue_ = 0;
};

}  // namespace traboule::dp

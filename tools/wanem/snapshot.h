// SPDX-License-Identifier: Apache-2.0
// What `show` reports of one direction (parameters, the core's counters and those of the I/O
// around it, copied out by the direction's thread so the control thread never touches the
// core), and the interface through which the control side drives a running link.
#pragma once

#include <cstdint>

#include "tools/wanem/link_model.h"
#include "tools/wanem/params.h"

namespace traboule::wanem {

// What the I/O around the core saw, per direction.
struct IoCounters {
  uint64_t tx_frames = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_error = 0;
  int last_tx_errno = 0;
  uint64_t drop_oversize = 0;   // larger than the ring slot (MTU raised after start, GSO/TSO)
  uint64_t drop_runt = 0;       // shorter than an Ethernet header
  uint64_t drop_ring_full = 0;  // the kernel found the RX ring full
  uint64_t drop_no_buffer = 0;  // the frame pool was exhausted
  uint64_t csum_completed = 0;  // TCP/UDP checksums written for senders that offloaded them
  uint64_t drop_vlan = 0;       // from a VLAN side (--vlan-a) without its tag
};

struct DirectionSnapshot {
  DirectionParams params;
  DirectionCounters core;
  IoCounters io;
  QueueDepth queue;
  uint64_t held_frames = 0;
  int64_t wake_margin_ns = 0;  // how early the thread currently asks to be woken
};

// What the control side may do to a running link (the Bridge, or a fake in tests).
class LinkControl {
 public:
  virtual ~LinkControl() = default;
  // Applies the parameters; true once every direction uses them.
  virtual bool apply(const LinkParams& params) = 0;
  virtual bool zero_counters() = 0;
  virtual LinkParams params() const = 0;
  virtual DirectionSnapshot snapshot(Dir d) const = 0;
};

}  // namespace traboule::wanem

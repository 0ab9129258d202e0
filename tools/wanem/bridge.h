// SPDX-License-Identifier: Apache-2.0
// Bridges two interfaces through the impairment core: one thread per direction reads its
// ingress ring, feeds LinkDirection with kernel arrival times, and sends each departure when
// due (timerfd at an absolute CLOCK_MONOTONIC time, woken a little early, then a spin shorter
// than 50 us). Idle threads block in poll(): no busy loop. Parameters change while running.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tools/wanem/link_model.h"
#include "tools/wanem/packet_port.h"
#include "tools/wanem/params.h"
#include "tools/wanem/snapshot.h"

namespace traboule::wanem {

struct BridgeOptions {
  std::string if_a;
  std::string if_b;
  uint64_t seed = 1;
  size_t ring_bytes = 8u << 20;       // per interface
  size_t max_held_bytes = 64u << 20;  // per direction: frames scheduled but not sent yet
  int64_t max_spin_ns = 45'000;       // longest busy wait before a departure
  // SCHED_FIFO priority of the direction threads (0: normal scheduling). On a shared machine
  // a normal thread is woken milliseconds late whenever the cores are busy.
  int rt_priority = 10;
  // The site side is this 802.1Q VLAN of the line (an FTTH ONT port's 832), 0: untagged. Frames
  // from a must carry it (others are dropped as `vlan`) and leave towards b without it; frames
  // towards a get it. The network side stays untagged, as an operator's access network hands
  // it on.
  uint16_t vlan_a = 0;
  // Rare events worth telling the operator (oversize frames); called from the I/O threads.
  std::function<void(const std::string&)> log;
};

class DirectionWorker;

class Bridge : public LinkControl {
 public:
  // Opens both interfaces (throws std::runtime_error naming the interface and the problem).
  Bridge(const BridgeOptions& options, const LinkParams& initial);
  ~Bridge() override;
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  void start();
  void stop();

  // Applies new parameters; returns once both directions use them (false: a worker did not
  // answer within a second, which only a stuck thread explains).
  bool apply(const LinkParams& params) override;
  bool zero_counters() override;
  LinkParams params() const override;
  DirectionSnapshot snapshot(Dir d) const override;

 private:
  BridgeOptions options_;
  std::unique_ptr<PacketPort> port_a_;
  std::unique_ptr<PacketPort> port_b_;
  std::unique_ptr<DirectionWorker> workers_[kDirCount];
  mutable std::mutex params_mutex_;
  LinkParams params_;
};

}  // namespace traboule::wanem

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/runtime/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_pause.h>
#include <sys/prctl.h>

namespace traboule::dp {
namespace {
// Idle back-off: spin this many empty polls, then pause, then sleep with a growing interval.
constexpr uint32_t kSpinPolls = 64;
constexpr uint32_t kPausePolls = 1024;
constexpr unsigned kMinSleepUs = 10;
constexpr unsigned kMaxSleepUs = 200;
}  // namespace

Worker::Worker(Pipeline& pipeline, std::vector<RxQueue> rx, std::vector<rte_ring*> inbound,
               Polling polling, const std::atomic<bool>& stop, WorkerSync sync)
    : pipeline_(pipeline),
      rx_(std::move(rx)),
      inbound_(std::move(inbound)),
      polling_(polling),
      stop_(stop),
      sync_(sync),
      parse_node_(pipeline.node_index("parse")),
      flow_node_(pipeline.node_index("flow")) {}

void Worker::mark(rte_mbuf** pkts, uint16_t n, const RxQueue& q) noexcept {
  mark_rx(pkts, n, q.port, q.from_lan);
  if (trace_.load(std::memory_order_relaxed)) [[unlikely]] {
    for (uint16_t i = 0; i < n; ++i) {
      meta(pkts[i]).flags |= meta_flag::kTrace;
      meta(pkts[i]).trace_id = ++next_trace_id_;
    }
  }
}

void Worker::refresh_view() noexcept {
  if (sync_.view == nullptr) return;
  if (sync_.policy != nullptr) {
    const Published<PolicySnapshot>* p = sync_.policy->load();
    sync_.view->policy = p->object.get();
    sync_.view->policy_gen = p->generation;
  }
  if (sync_.links != nullptr) sync_.view->links = sync_.links->load()->object.get();
}

int Worker::run() noexcept {
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t timer_period = hz / 1000;  // stage timers every millisecond
  uint64_t next_timer = rte_rdtsc();
  uint32_t empty = 0;
  unsigned sleep_us = kMinSleepUs;
  rte_mbuf* pkts[kBurstMax];
  // Short idle sleeps are only short with a small timer slack (the default adds 50 us).
  if (polling_ == Polling::kAdaptive) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  if (sync_.rcu != nullptr) sync_.rcu->online(sync_.id);
  while (!stop_.load(std::memory_order_relaxed)) {
    refresh_view();
    uint32_t got = 0;
    for (const RxQueue& q : rx_) {
      uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, kBurstMax);
      if (n == 0) continue;
      got += n;
      mark(pkts, n, q);
      pipeline_.run(parse_node_, pkts, n);
    }
    for (rte_ring* r : inbound_) {
      // Handed-off packets were parsed by the sending worker: they enter at the flow stage.
      unsigned n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(pkts), kBurstMax, nullptr);
      if (n == 0) continue;
      got += n;
      pipeline_.run(flow_node_, pkts, static_cast<uint16_t>(n));
    }
    const uint64_t now = rte_rdtsc();
    if (now >= next_timer) {
      pipeline_.idle(now);
      next_timer = now + timer_period;
    }
    bump(stats_.loops);
    // Nothing from a snapshot is held past this point: the control thread may free old ones.
    if (sync_.rcu != nullptr) sync_.rcu->quiescent(sync_.id);
    if (got != 0) {
      bump(stats_.busy_loops);
      bump(stats_.rx_packets, got);
      empty = 0;
      sleep_us = kMinSleepUs;
      continue;
    }
    if (polling_ == Polling::kBusy) continue;
    ++empty;
    if (empty < kSpinPolls) continue;
    if (empty < kPausePolls) {
      rte_pause();
      continue;
    }
    // Sleeping lets an edge, a hub and link emulators share two cores in a lab.
    rte_delay_us_sleep(sleep_us);
    bump(stats_.sleeps);
    if (sleep_us < kMaxSleepUs) sleep_us *= 2;
  }
  if (sync_.rcu != nullptr) sync_.rcu->offline(sync_.id);
  return 0;
}

WorkerStats Worker::stats() const noexcept {
  return {read_counter(stats_.loops), read_counter(stats_.busy_loops),
          read_counter(stats_.rx_packets), read_counter(stats_.sleeps)};
}

}  // namespace traboule::dp

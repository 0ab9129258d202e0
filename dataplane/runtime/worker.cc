// SPDX-License-Identifier: Apache-2.0
#include "dataplane/runtime/worker.h"

#include "dataplane/stages/vlan_tag.h"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_pause.h>
#include <sys/prctl.h>

#include <cstring>
#include <stdexcept>

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
      flow_node_(pipeline.node_index("flow")),
      nat_in_node_(flow_node_) {
  try {
    nat_in_node_ = pipeline.node_index("nat_in");
  } catch (const std::out_of_range&) {  // no breakout NAT: nothing is handed over to it
  }
}

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
  BurstContext ctx;
  ctx.view = sync_.view;
  ctx.worker = static_cast<uint16_t>(sync_.id);
  while (!stop_.load(std::memory_order_relaxed)) {
    refresh_view();
    uint32_t got = 0;
    for (const RxQueue& q : rx_) {
      uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, kBurstMax);
      if (n == 0) continue;
      got += n;
      ctx.now_tsc = rte_rdtsc();
      if (q.twin_for != kNoPort) [[unlikely]] {
        n = from_kernel(pkts, n, q, ctx.now_tsc);
        if (n == 0) continue;
        RxQueue as_port{q.twin_for, 0, q.from_lan};
        mark(pkts, n, as_port);
        pipeline_.run(parse_node_, pkts, n, ctx);
        continue;
      }
      mark(pkts, n, q);
      pipeline_.run(parse_node_, pkts, n, ctx);
    }
    for (rte_ring* r : inbound_) {
      // Handed-off packets were parsed by the sending worker: they enter at the flow stage,
      // or at nat_in for answers to this worker's NAT mappings (kNatHandoff).
      unsigned n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(pkts), kBurstMax, nullptr);
      if (n == 0) continue;
      got += n;
      ctx.now_tsc = rte_rdtsc();
      rte_mbuf* nat[kBurstMax];
      uint16_t nn = 0, nf = 0;
      for (unsigned i = 0; i < n; ++i) {
        if (meta(pkts[i]).flags & meta_flag::kNatHandoff) [[unlikely]]
          nat[nn++] = pkts[i];
        else
          pkts[nf++] = pkts[i];
      }
      if (nf != 0) pipeline_.run(flow_node_, pkts, nf, ctx);
      if (nn != 0) pipeline_.run(nat_in_node_, nat, nn, ctx);
    }
    ctx.now_tsc = rte_rdtsc();
    if (ctx.now_tsc >= next_timer) {
      pipeline_.idle(ctx);
      next_timer = ctx.now_tsc + timer_period;
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

uint16_t Worker::from_kernel(rte_mbuf** pkts, uint16_t n, const RxQueue& q,
                             uint64_t now_tsc) noexcept {
  bump(twin_.rx, n);
  rte_mbuf* wire[kBurstMax];
  uint16_t nw = 0, ni = 0;
  const uint32_t now_s = box_ports_ != nullptr ? box_ports_->seconds(now_tsc) : 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const uint8_t* eth = rte_pktmbuf_mtod(m, const uint8_t*);
    const bool whole_eth = rte_pktmbuf_data_len(m) >= RTE_ETHER_HDR_LEN;
    // The ports the kernel sends from, on the interface owning the source address, open the
    // way back for the answers (BoxPorts). IPv4/IPv6 without VLAN tags: twins have none.
    if (box_ports_ != nullptr && own_ != nullptr && whole_eth) {
      const uint16_t type = static_cast<uint16_t>(eth[12] << 8 | eth[13]);
      const uint8_t* ip = eth + RTE_ETHER_HDR_LEN;
      const uint32_t len = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN;
      uint8_t proto = 0;
      const uint8_t* l4 = nullptr;
      IpAddr src;
      if (type == RTE_ETHER_TYPE_IPV4 && len >= 20 && (ip[0] >> 4) == 4) {
        const uint32_t ihl = (ip[0] & 0x0fu) * 4;
        const bool first = ((ip[6] & 0x1f) | ip[7]) == 0;
        if (ihl >= 20 && len >= ihl + 4 && first) {
          proto = ip[9];
          l4 = ip + ihl;
          src = IpAddr::v4_bytes(ip + 12);
        }
      } else if (type == RTE_ETHER_TYPE_IPV6 && len >= 44 && (ip[0] >> 4) == 6) {
        proto = ip[6];  // extension headers: their answers come from allowed sources only
        l4 = ip + 40;
        src = IpAddr::v6_bytes(ip + 8);
      }
      if (l4 != nullptr && (proto == IPPROTO_TCP || proto == IPPROTO_UDP)) {
        const int owner = own_->owner(src);
        if (owner >= 0)
          box_ports_->used(static_cast<unsigned>(owner), proto == IPPROTO_TCP,
                           static_cast<uint16_t>(l4[0] << 8 | l4[1]), now_s);
      }
    }
    if (q.from_lan && whole_eth && std::memcmp(eth, kTwinGatewayMac, 6) == 0) {
      // To the data plane's router: the pipeline expects our port's MAC as destination.
      uint8_t* e = rte_pktmbuf_mtod(m, uint8_t*);
      std::memcpy(e, e + 6, 6);  // the twin's MAC is the port's
      pkts[ni++] = m;
      continue;
    }
    if (q.vlan != 0 && !vlan_insert(m, q.vlan)) [[unlikely]] {
      bump(twin_.vlan_no_room);
      rte_pktmbuf_free(m);
      continue;
    }
    wire[nw++] = m;
  }
  if (nw != 0) {
    const uint16_t sent = rte_eth_tx_burst(q.twin_for, tx_queue_, wire, nw);
    bump(twin_.to_wire, sent);
    if (sent < nw) {
      bump(twin_.tx_full, nw - sent);
      rte_pktmbuf_free_bulk(wire + sent, nw - sent);
    }
  }
  bump(twin_.injected, ni);
  return ni;
}

TwinStats Worker::twin_stats() const noexcept {
  return {read_counter(twin_.rx), read_counter(twin_.to_wire), read_counter(twin_.injected),
          read_counter(twin_.tx_full), read_counter(twin_.vlan_no_room)};
}

WorkerStats Worker::stats() const noexcept {
  return {read_counter(stats_.loops), read_counter(stats_.busy_loops),
          read_counter(stats_.rx_packets), read_counter(stats_.sleeps)};
}

}  // namespace traboule::dp

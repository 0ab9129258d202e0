// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/qos.h"

#include <rte_cycles.h>

#include <algorithm>
#include <stdexcept>

namespace traboule::dp {

uint64_t QosStage::tsc_now_ns() noexcept {
  const uint64_t hz = rte_get_tsc_hz();
  return hz != 0 ? static_cast<uint64_t>(static_cast<double>(rte_rdtsc()) * 1e9 /
                                         static_cast<double>(hz))
                 : 0;
}

QosStage::QosStage(const Site& site) : site_(site) {
  const uint64_t hz = rte_get_tsc_hz();
  ns_per_tick_ = hz != 0 ? 1e9 / static_cast<double>(hz) : 0;
}

QosStage::~QosStage() {
  // The worker has stopped: every plan is ours to free (queued packets with it).
  delete cur_;
  delete draining_;
  delete pending_.exchange(nullptr);
  collect_retired();
}

QosPlan::~QosPlan() {
  for (Uplink& u : up)
    if (u.sched) u.sched->drain([](rte_mbuf* m) { rte_pktmbuf_free(m); });
}

uint64_t QosPlan::depth() const noexcept {
  uint64_t n = 0;
  for (const Uplink& u : up)
    if (u.sched) n += u.sched->depth_packets();
  return n;
}

std::unique_ptr<QosPlan> QosStage::plan(const PolicySnapshot* p, uint16_t gen, const Site& site,
                                        unsigned workers, uint64_t now) {
  auto plan = std::make_unique<QosPlan>();
  plan->gen = gen;
  plan->on = p != nullptr && !p->qos_classes.empty();
  if (!plan->on) return plan;
  workers = std::max(1u, workers);
  const size_t named = std::min(p->qos_classes.size(), kMaxClasses - 1);
  uint8_t lowest = 0;
  for (size_t c = 0; c < named; ++c) lowest = std::max(lowest, p->qos_classes[c].priority);
  for (size_t u = 0; u < site.uplinks.size() && u < kMaxUplinks; ++u) {
    QosPlan::Uplink& up = plan->up[u];
    qos::SchedulerConfig cfg;
    // With several workers the uplink's rate is one budget they share (QosShared): each
    // scheduler runs at the full rate and draws from it.
    const uint64_t up_rate = u < p->uplinks.size() ? p->uplinks[u].up_bps : 0;
    cfg.port_rate_bps = up_rate;
    if (workers > 1) {
      up.share_bps = up_rate / workers;
      auto depth = [](uint64_t bps) {
        return static_cast<int64_t>(
            std::max<uint64_t>(2 * 1514, bps / 8 * kSharedBurstUs / 1'000'000));
      };
      up.own_max = depth(up.share_bps);
      up.pool_max = depth(up_rate);
    }
    const uint64_t queue_bytes =
        std::max<uint64_t>(16 * 1024, cfg.port_rate_bps / 8 * kQueueMs / 1000);
    for (size_t c = 0; c < named; ++c) {
      const uint64_t rate = p->qos_classes[c].ingress_max_bps / workers;
      if (rate == 0) continue;
      try {
        up.ingress[c] = qos::TokenBucket({rate, std::max<uint64_t>(3028, rate / 8 / 10)}, now);
        up.policed[c] = true;
      } catch (const std::exception&) {
        up.policed[c] = false;  // a rate the bucket refuses: not policed
      }
    }
    for (size_t c = 0; c <= named; ++c) {
      qos::SchedClassConfig k;
      if (c < named) {
        const QosClass& q = p->qos_classes[c];
        k.priority = q.priority;
        k.weight = static_cast<uint16_t>(std::clamp<uint32_t>(q.weight, 1, 1000));
        k.min_rate_bps = q.min_rate_bps / workers;
        k.max_rate_bps = q.max_rate_bps / workers;
      } else {
        k.priority = lowest;  // unclassified: with the lowest level, weight 1
        k.weight = 1;
      }
      k.queue_packets = 256;
      k.queue_bytes = queue_bytes;
      cfg.classes.push_back(k);
    }
    try {
      up.sched = std::make_unique<QosSched>(cfg, QosFrameSize{}, now);
      up.classes = cfg.classes.size();
    } catch (const std::invalid_argument&) {
      up.sched.reset();  // a configuration the scheduler refuses: this uplink unscheduled
    }
  }
  return plan;
}

void QosStage::offer(std::unique_ptr<QosPlan> p) noexcept {
  collect_retired();
  delete pending_.exchange(p.release(), std::memory_order_acq_rel);  // one never taken
}

void QosStage::collect_retired() noexcept {
  for (auto& slot : retired_) delete slot.exchange(nullptr, std::memory_order_acq_rel);
}

bool QosStage::retire(QosPlan* p) noexcept {
  for (auto& slot : retired_) {
    QosPlan* expected = nullptr;
    if (slot.compare_exchange_strong(expected, p, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void QosStage::adopt(const BurstContext& ctx, Output& out) noexcept {
  if (cur_ != nullptr && ctx.policy_gen() == gen_) [[likely]]
    return;
  if (draining_ != nullptr && draining_->depth() == 0 && retire(draining_)) draining_ = nullptr;
  QosPlan* next = pending_.load(std::memory_order_acquire);
  if (next == nullptr || next->gen != ctx.policy_gen()) {
    if (ctx.policy_gen() != late_gen_) {
      late_gen_ = ctx.policy_gen();
      bump(plans_late_);
    }
    return;  // the old plan goes on until this policy's arrives
  }
  // The old plan goes back to the control thread: a free slot first (only the worker fills
  // them), else the change waits for the next burst.
  bool slot_free = cur_ == nullptr;
  for (auto& slot : retired_)
    slot_free = slot_free || slot.load(std::memory_order_acquire) == nullptr;
  if (!slot_free) return;
  if (!pending_.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) return;
  QosPlan* old = cur_;
  cur_ = next;
  gen_ = next->gen;
  on_ = next->on;
  if (old == nullptr) return;
  // The backlog moves into the new queues, class by class (the last class is "unclassified" in
  // both); an uplink the new plan does not schedule keeps its backlog in the old plan.
  for (size_t u = 0; u < kMaxUplinks; ++u) {
    QosPlan::Uplink& from = old->up[u];
    QosPlan::Uplink& to = next->up[u];
    if (!from.sched || from.sched->depth_packets() == 0 || !next->on || !to.sched) continue;
    const uint64_t now = now_ns(ctx.now_tsc);
    from.sched->drain([&](rte_mbuf* m, size_t c) {
      const size_t cls = c + 1 >= from.classes ? to.classes - 1 : std::min(c, to.classes - 1);
      if (to.sched->enqueue(cls, m, now) != qos::EnqueueResult::kAccepted)
        refuse(kQueueFull, m, out);
    });
  }
  if (old->depth() != 0) {
    if (draining_ == nullptr) {
      draining_ = old;  // released at its own rate until empty (QoS turned off)
      return;
    }
    // A second change while an older backlog still drains: what this one queued goes now.
    for (QosPlan::Uplink& u : old->up)
      if (u.sched) u.sched->drain([&](rte_mbuf* m) { refuse(kQueueFull, m, out); });
  }
  retire(old);  // a slot was free
}

void QosStage::release(const PolicySnapshot* p, uint64_t now, Output& out) noexcept {
  if (cur_ != nullptr) release_from(*cur_, p, now, out);
  if (draining_ != nullptr) [[unlikely]] {
    release_from(*draining_, p, now, out);
    if (draining_->depth() == 0 && retire(draining_)) draining_ = nullptr;
  }
}

void QosStage::earn(size_t u, const QosPlan::Uplink& up, uint64_t now) noexcept {
  Own& o = own_[u];
  if (o.last_ns == 0 || now <= o.last_ns) {
    o.last_ns = std::max(o.last_ns, now);
    return;
  }
  const uint64_t dt = std::min<uint64_t>(now - o.last_ns, 1'000'000'000);  // a second at most
  o.last_ns = now;
  o.credit +=
      static_cast<int64_t>(static_cast<double>(dt) * static_cast<double>(up.share_bps) / 8e9);
  if (o.credit <= up.own_max) return;
  // What this worker does not use goes to the others, up to the pool's depth.
  const int64_t spare = o.credit - up.own_max;
  o.credit = up.own_max;
  std::atomic<int64_t>& pool = shared_->up[u].pool;
  const int64_t now_pool = pool.load(std::memory_order_relaxed);
  if (now_pool < up.pool_max)
    pool.fetch_add(std::min(spare, up.pool_max - now_pool), std::memory_order_relaxed);
}

bool QosStage::may_send(size_t u) const noexcept {
  return own_[u].credit > 0 || shared_->up[u].pool.load(std::memory_order_relaxed) > 0;
}

void QosStage::pay(size_t u, uint32_t bytes) noexcept {
  if (own_[u].credit > 0)
    own_[u].credit -= bytes;  // may overdraw by one packet
  else
    shared_->up[u].pool.fetch_sub(bytes, std::memory_order_relaxed);
}

void QosStage::release_from(QosPlan& plan, const PolicySnapshot* p, uint64_t now,
                            Output& out) noexcept {
  std::array<rte_mbuf*, kBurstMax> burst;
  for (size_t ui = 0; ui < kMaxUplinks; ++ui) {
    QosPlan::Uplink& u = plan.up[ui];
    const bool shared = u.share_bps != 0 && shared_ != nullptr;
    if (shared) earn(ui, u, now);
    if (!u.sched || u.sched->depth_packets() == 0) continue;
    size_t n = 0;
    if (shared) {
      // Packet by packet while this worker's bucket, then the pool, allow.
      while (n < burst.size() && may_send(ui)) {
        if (u.sched->dequeue(now, std::span<rte_mbuf*>(burst.data() + n, 1)) == 0) break;
        pay(ui, rte_pktmbuf_pkt_len(burst[n]));
        ++n;
      }
    } else {
      n = u.sched->dequeue(now, std::span<rte_mbuf*>(burst.data(), burst.size()));
    }
    for (size_t i = 0; i < n; ++i) {
      const PacketMeta& md = meta(burst[i]);
      size_t cls = u.classes - 1;
      if (p != nullptr && md.rule < p->rules.size() &&
          p->rules[md.rule].action.qos_class < u.classes - 1)
        cls = p->rules[md.rule].action.qos_class;
      const uint64_t us = now > md.qos_enqueued_ns ? (now - md.qos_enqueued_ns) / 1000 : 0;
      Sojourn& s = stats_[ui].sojourn[cls];
      bump(s.buckets[std::min<uint64_t>(us / kSojournBucketUs, kSojournBuckets - 1)]);
      if (us > read_counter(s.max_us))
        std::atomic_ref<uint64_t>(s.max_us).store(us, std::memory_order_relaxed);
      out.to(kTx, burst[i]);
    }
  }
}

void QosStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept {
  adopt(ctx, out);
  const PolicySnapshot* p = ctx.policy();
  const uint64_t now = now_ns(ctx.now_tsc);
  if (!on_) {
    for (uint16_t i = 0; i < n; ++i) out.to(kTx, pkts[i]);
    if (draining_ != nullptr) [[unlikely]]
      release(p, now, out);
    return;
  }
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const PacketMeta& md = meta(m);
    const Interface* egress = site_.iface(md.out_port);
    if (egress != nullptr && egress->is_lan && !(md.flags & meta_flag::kFromLan)) {
      // From an uplink to the LAN: policed by class where the policy asks for it.
      const Interface* in = site_.iface(md.in_port);
      if (in != nullptr && !in->is_lan && in->uplink < kMaxUplinks && p != nullptr &&
          md.rule < p->rules.size()) {
        QosPlan::Uplink& iu = cur_->up[in->uplink];
        const uint8_t q = p->rules[md.rule].action.qos_class;
        if (q < kMaxClasses && iu.policed[q] &&
            !iu.ingress[q].try_consume(rte_pktmbuf_pkt_len(m), now)) {
          out.drop(kIngressPoliced, m);
          continue;
        }
      }
      out.to(kTx, m);
      continue;
    }
    QosPlan::Uplink* u = egress != nullptr && !egress->is_lan && egress->uplink < kMaxUplinks
                             ? &cur_->up[egress->uplink]
                             : nullptr;
    if (u == nullptr || !u->sched || !(md.flags & meta_flag::kFromLan)) {
      out.to(kTx, m);  // to the LAN, the box's own packets, or an uplink without a scheduler
      continue;
    }
    size_t cls = u->classes - 1;  // unclassified
    if (p != nullptr && md.rule < p->rules.size()) {
      const uint8_t q = p->rules[md.rule].action.qos_class;
      if (q < u->classes - 1) cls = q;
    }
    meta(m).qos_enqueued_ns = now;
    switch (u->sched->enqueue(cls, m, now)) {
      case qos::EnqueueResult::kAccepted:
        break;
      case qos::EnqueueResult::kTooLarge:
      case qos::EnqueueResult::kUnknownClass:
        refuse(kTooLarge, m, out);
        break;
      case qos::EnqueueResult::kQueueFullPackets:
      case qos::EnqueueResult::kQueueFullBytes:
        refuse(kQueueFull, m, out);
        break;
      case qos::EnqueueResult::kOverCap:
        refuse(kOverCap, m, out);
        break;
    }
  }
  release(p, now, out);
}

void QosStage::refuse(Drop why, rte_mbuf* m, Output& out) noexcept {
  const PacketMeta& md = meta(m);
  if (own_drops_ != nullptr && (md.flags & meta_flag::kOverlayOut))
    own_drops_->own_drop(md.overlay_site, md.overlay_path, md.overlay_cls);
  out.drop(why, m);
}

void QosStage::publish_counters(uint64_t now) noexcept {
  if (cur_ == nullptr) return;
  for (size_t ui = 0; ui < kMaxUplinks; ++ui) {
    QosPlan::Uplink& u = cur_->up[ui];
    if (!u.sched) continue;
    for (size_t c = 0; c < u.classes; ++c) {
      const qos::ClassStats s = u.sched->class_stats(c, now);
      ClassCounters& k = stats_[ui].counters[c];
      uint64_t dropped = 0;
      for (uint64_t d : s.dropped_packets) dropped += d;
      auto put = [](uint64_t& f, uint64_t v) {
        std::atomic_ref<uint64_t>(f).store(v, std::memory_order_relaxed);
      };
      put(k.enqueued, s.enqueued_packets);
      put(k.dequeued, s.dequeued_packets);
      put(k.dequeued_bytes, s.dequeued_bytes);
      put(k.dropped, dropped);
      put(k.depth, s.depth_packets);
      put(k.rate_bps, static_cast<uint64_t>(s.departure_rate_bps));
    }
  }
}

void QosStage::on_idle(const BurstContext& ctx, Output& out) noexcept {
  adopt(ctx, out);
  const uint64_t now = now_ns(ctx.now_tsc);
  if (!on_) {
    if (draining_ != nullptr) [[unlikely]]
      release(ctx.policy(), now, out);
    return;
  }
  release(ctx.policy(), now, out);
  if (now - last_publish_ns_ >= 100'000'000) {  // the counters' view, ten times a second
    publish_counters(now);
    last_publish_ns_ = now;
  }
}

void QosStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"qos.plans_late", plans_late()});
  // Class c of an uplink is the policy's QoS class c (qos_classes order); the last one is
  // "unclassified" (GET /qos gives the names).
  for (size_t u = 0; u < site_.uplinks.size() && u < kMaxUplinks; ++u)
    for (size_t c = 0; c < kMaxClasses; ++c) {
      const ClassCounters& k = stats_[u].counters[c];
      if (read_counter(k.enqueued) == 0 && read_counter(k.dropped) == 0) continue;
      const std::string base = "qos." + site_.uplinks[u]->name + ".class" + std::to_string(c);
      out.push_back({base + ".enqueued", read_counter(k.enqueued)});
      out.push_back({base + ".dequeued", read_counter(k.dequeued)});
      out.push_back({base + ".dequeued_bytes", read_counter(k.dequeued_bytes)});
      out.push_back({base + ".dropped", read_counter(k.dropped)});
      out.push_back({base + ".depth", read_counter(k.depth)});
      out.push_back({base + ".rate_bps", read_counter(k.rate_bps)});
      // Time in the queue: the delay the box adds by scheduling (what QoS controls).
      const Sojourn& s = stats_[u].sojourn[c];
      uint64_t total = 0;
      for (const uint64_t& b : s.buckets) total += read_counter(b);
      if (total == 0) continue;
      auto quantile_us = [&](double q) {
        const uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
        uint64_t seen = 0;
        for (unsigned i = 0; i < kSojournBuckets; ++i) {
          seen += read_counter(s.buckets[i]);
          if (seen >= want) return (i + 1) * kSojournBucketUs;  // the bucket's upper edge
        }
        return uint64_t{kSojournBuckets} * kSojournBucketUs;
      };
      out.push_back({base + ".queue_p50_us", quantile_us(0.50)});
      out.push_back({base + ".queue_p99_us", quantile_us(0.99)});
      out.push_back({base + ".queue_max_us", read_counter(s.max_us)});
    }
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The QoS stage: between forward and tx, what leaves by an uplink goes through that uplink's
// scheduler (qos/scheduler.h): per-class queues served by strict priority between levels and
// DRR by weight inside one, capped classes policed, and the whole released no faster than the
// uplink's configured upstream rate, so queues build here and not in the modem. Classes and
// rates come from the policy (qos_classes, uplinks[].up_kbps); a policy without QoS classes
// turns it off (packets pass straight on). One scheduler per uplink per worker.
//
// A policy's schedulers are built off the worker (QosStage::plan allocates), offered to the
// stage before the policy is published, and taken by the worker when it first sees that policy:
// the backlog queued under the old plan moves into the new one, class by class (what the new
// queues refuse is a counted queue_full drop); with QoS turned off, the old plan keeps releasing
// its backlog at its rate until it is empty. Plans the worker is done with go back to the
// control thread (retired slots) to be freed there: the worker never allocates nor frees.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/model/policy_snapshot.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/overlay_sites.h"
#include "qos/scheduler.h"
#include "qos/token_bucket.h"

namespace traboule::dp {

struct QosFrameSize {
  uint64_t operator()(rte_mbuf* const& m) const noexcept { return rte_pktmbuf_pkt_len(m); }
};
using QosSched = qos::Scheduler<rte_mbuf*, QosFrameSize>;
inline constexpr size_t kQosMaxClasses = 8;

// With several workers, an uplink's shaped rate is one budget for all of them (their schedulers
// run at the full rate): each worker earns rate / workers into a bucket of its own, and what
// overflows it (a worker with less to send) goes into a pool the others may draw from. A single
// flow, pinned to one worker, gets the whole rate when the others are idle (splitting the rate
// evenly held it to 1/N), busy workers get their share each, and a worker with little to send
// (voice) always finds its own bucket full: the others' bulk cannot starve it. The pool is one
// per data plane (atomics, one cache line per uplink).
struct QosShared {
  struct alignas(64) Uplink {
    std::atomic<int64_t> pool{0};  // bytes the workers left unused
  };
  std::array<Uplink, kMaxUplinks> up{};
};

// What one policy makes of one worker's QoS stage: per uplink a scheduler (null: unscheduled)
// and the ingress policers. Freeing it frees what is still queued in it (only at shutdown).
struct QosPlan {
  struct Uplink {
    std::unique_ptr<QosSched> sched;
    size_t classes = 0;
    // Ingress policing per class (traffic arriving from this uplink); not policed: false.
    std::array<qos::TokenBucket, kQosMaxClasses> ingress{};
    std::array<bool, kQosMaxClasses> policed{};
    // Several workers (QosShared): this worker's share of the uplink's rate (0: it shapes
    // alone), and the depths of its own bucket and of the pool, in bytes.
    uint64_t share_bps = 0;
    int64_t own_max = 0;
    int64_t pool_max = 0;
  };
  uint16_t gen = 0;  // the policy generation it was built for
  bool on = false;   // the policy has QoS classes
  std::array<Uplink, kMaxUplinks> up{};

  QosPlan() = default;
  QosPlan(const QosPlan&) = delete;
  QosPlan& operator=(const QosPlan&) = delete;
  ~QosPlan();
  uint64_t depth() const noexcept;  // packets queued, every uplink
};

class QosStage final : public Stage {
 public:
  enum Edge : unsigned { kTx, kEdgeCount };
  static constexpr std::array<std::string_view, 1> kEdges{"tx"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  // Scheduler refusals (qos::EnqueueResult), counted per class too (qos.<uplink>.<class>.*).
  enum Drop : unsigned { kTooLarge, kQueueFull, kOverCap, kIngressPoliced, kDropCount };
  static constexpr std::array<std::string_view, 4> kDrops{"too_large", "queue_full", "over_cap",
                                                          "ingress_policed"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }
  // Scheduler classes: the policy's first kMaxClasses - 1 QoS classes, then "unclassified"
  // (rules without a class, and classes beyond), at the lowest level.
  static constexpr size_t kMaxClasses = kQosMaxClasses;
  // Each class queues at most this long at the uplink's rate (and at least 16 kB): enough to
  // keep the link busy, short enough that bulk does not bloat the queue.
  static constexpr uint64_t kQueueMs = 50;

  // The stage's time is its burst's BurstContext::now_tsc, in nanoseconds; tsc_now_ns() is the
  // same of rte_rdtsc(), the time base of plans built for the real clock.
  static uint64_t tsc_now_ns() noexcept;
  // How many workers share an uplink is the plan's business (QosStage::plan).
  explicit QosStage(const Site& site);
  ~QosStage() override;

  std::string_view name() const noexcept override { return "qos"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void on_idle(const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  // Control thread. The plan for `policy` (null: none) as generation `gen`, for a stage of a
  // data plane with `workers` workers (with more than one, they share each uplink's rate
  // through QosShared). Allocates.
  static std::unique_ptr<QosPlan> plan(const PolicySnapshot* policy, uint16_t gen, const Site& site,
                                       unsigned workers, uint64_t now_ns);
  // Control thread: hands `p` over (before its policy is published), and frees what the worker
  // is done with: an older plan it never took, the plans it retired.
  void offer(std::unique_ptr<QosPlan> p) noexcept;
  // Several workers: the data plane's shared uplink budgets (before the worker starts). Plans
  // built for more than one worker draw from it; without it they shape alone.
  void share(QosShared* shared) noexcept { shared_ = shared; }
  // Bucket depths (a worker's own, and the pool): a few milliseconds at their rate, at least
  // two frames.
  static constexpr uint64_t kSharedBurstUs = 4000;
  void collect_retired() noexcept;
  // Policy changes whose plan was not there when the worker saw the policy (the old plan
  // stayed): a control-plane bug if it ever counts.
  uint64_t plans_late() const noexcept { return read_counter(plans_late_); }

  // Overlay packets it refuses are our own loss, not the path's: said to `sites` (direct
  // measurement subtracts them from what the path was given). Null: not counted.
  void count_own_drops(OverlaySites* sites) noexcept { own_drops_ = sites; }

 private:
  void refuse(Drop why, rte_mbuf* m, Output& out) noexcept;
  struct ClassCounters {  // copied from the scheduler by the worker, read by control threads
    uint64_t enqueued = 0, dequeued = 0, dropped = 0, dequeued_bytes = 0, depth = 0;
    uint64_t rate_bps = 0;
  };
  // Time in the queue per class: buckets of kSojournBucketUs, the last one open-ended. Written
  // by the worker as packets leave, read by control threads (p50/p99/max in the counters).
  static constexpr unsigned kSojournBuckets = 512;
  static constexpr uint64_t kSojournBucketUs = 100;
  struct Sojourn {
    std::array<uint64_t, kSojournBuckets> buckets{};
    uint64_t max_us = 0;
  };
  struct UplinkStats {
    std::array<ClassCounters, kMaxClasses> counters{};
    std::array<Sojourn, kMaxClasses> sojourn{};
  };

  // Takes the offered plan of the policy the worker now sees (one compare when none changed).
  void adopt(const BurstContext& ctx, Output& out) noexcept;
  bool retire(QosPlan* p) noexcept;  // false: no free slot (kept, tried again later)
  void release(const PolicySnapshot* p, uint64_t now_ns, Output& out) noexcept;
  void release_from(QosPlan& plan, const PolicySnapshot* p, uint64_t now_ns, Output& out) noexcept;
  // Several workers: earns this worker's share of uplink `u` since the last call, overflowing
  // into the pool; then whether a packet may leave (own bucket first, then the pool) and the
  // payment for one that did.
  void earn(size_t u, const QosPlan::Uplink& up, uint64_t now_ns) noexcept;
  bool may_send(size_t u) const noexcept;
  void pay(size_t u, uint32_t bytes) noexcept;
  void publish_counters(uint64_t now_ns) noexcept;
  uint64_t now_ns(uint64_t tsc) const noexcept {
    return static_cast<uint64_t>(static_cast<double>(tsc) * ns_per_tick_);
  }

  const Site& site_;
  double ns_per_tick_ = 0;
  uint16_t gen_ = 0;
  bool on_ = false;
  QosPlan* cur_ = nullptr;       // the worker's
  QosPlan* draining_ = nullptr;  // an old plan still releasing its backlog (QoS turned off)
  std::atomic<QosPlan*> pending_{nullptr};
  static constexpr size_t kRetiredSlots = 8;
  std::array<std::atomic<QosPlan*>, kRetiredSlots> retired_{};
  uint64_t plans_late_ = 0;
  uint16_t late_gen_ = 0;  // the generation plans_late_ last counted
  std::array<UplinkStats, kMaxUplinks> stats_{};
  uint64_t last_publish_ns_ = 0;
  OverlaySites* own_drops_ = nullptr;
  QosShared* shared_ = nullptr;
  struct Own {  // this worker's bucket per uplink (several workers)
    int64_t credit = 0;
    uint64_t last_ns = 0;
  };
  std::array<Own, kMaxUplinks> own_{};
};

}  // namespace traboule::dp

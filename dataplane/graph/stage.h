// SPDX-License-Identifier: Apache-2.0
// The Stage: one step of the pipeline, with named output edges and named drop reasons.
// A stage sees a burst, sends each packet to one edge or drops it with a reason (a counter).
#pragma once

#include <rte_mbuf.h>

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dataplane/graph/burst_context.h"
#include "dataplane/graph/mbuf_meta.h"
#include "dataplane/graph/trace.h"
#include "dataplane/model/counter.h"

namespace traboule::dp {

inline constexpr uint16_t kBurstMax = 64;
// A node's input can collect from several predecessors and from stages that emit extra packets.
inline constexpr uint16_t kNodeInputMax = 2 * kBurstMax;
inline constexpr unsigned kMaxEdges = 8;

struct CounterValue {
  std::string name;
  uint64_t value = 0;
};

struct Burst {
  uint16_t n = 0;
  rte_mbuf* pkts[kNodeInputMax];
};

// A stage's edges and drop reasons are its own two enums, `enum Edge` and `enum Drop`, each
// ending with kEdgeCount / kDropCount (checked against the name tables at compile time) and
// made known here by two friend functions of the stage, found by argument-dependent lookup:
//   friend constexpr bool stage_edge(Edge) noexcept { return true; }
//   friend constexpr bool stage_drop(Drop) noexcept { return true; }
// so out.to() takes only an edge and out.drop() only a drop reason: passing a drop code as an
// edge (or a plain number) does not compile.
template <typename E>
concept StageEdge = std::is_enum_v<E> && requires(E e) {
  { stage_edge(e) } -> std::same_as<bool>;
};
template <typename E>
concept StageDrop = std::is_enum_v<E> && requires(E e) {
  { stage_drop(e) } -> std::same_as<bool>;
};

// Where a stage puts its results. Built by the Pipeline (or by a test harness) per stage.
class Output {
 public:
  template <StageEdge E>
  void to(E edge, rte_mbuf* m) noexcept {
    to_index(static_cast<unsigned>(edge), m);
  }
  template <StageDrop E>
  void drop(E reason, rte_mbuf* m) noexcept {
    drop_index(static_cast<unsigned>(reason), m);
  }

  // By index, for code that is not a stage with its own enums (the pipeline's test stages).
  void to_index(unsigned edge, rte_mbuf* m) noexcept {
    Burst* b = edges_[edge];
    bump(edge_counts_[edge]);
    if (trace_ != nullptr && (meta(m).flags & meta_flag::kTrace))
      trace_->record(m, stage_id_, edge, false);
    if (b->n < kNodeInputMax) [[likely]] {
      b->pkts[b->n++] = m;
    } else {
      drop_overflow(m);
    }
  }
  // Drop packet with reason `reason`; counted and freed.
  void drop_index(unsigned reason, rte_mbuf* m) noexcept {
    bump(drop_counts_[reason]);
    if (trace_ != nullptr && (meta(m).flags & meta_flag::kTrace))
      trace_->record(m, stage_id_, reason, true);
    if (drops_->n < kNodeInputMax) [[likely]] {
      drops_->pkts[drops_->n++] = m;
    } else {
      rte_pktmbuf_free(m);
    }
  }

  // Wiring, done once before the first burst.
  void wire(uint16_t stage_id, Burst** edges, uint64_t* edge_counts, Burst* drops,
            uint64_t* drop_counts, uint64_t* overflow_count, Trace* trace) {
    stage_id_ = stage_id;
    edges_ = edges;
    edge_counts_ = edge_counts;
    drops_ = drops;
    drop_counts_ = drop_counts;
    overflow_count_ = overflow_count;
    trace_ = trace;
  }

 private:
  void drop_overflow(rte_mbuf* m) noexcept {
    bump(*overflow_count_);
    rte_pktmbuf_free(m);
  }

  uint16_t stage_id_ = 0;
  Burst** edges_ = nullptr;
  uint64_t* edge_counts_ = nullptr;
  Burst* drops_ = nullptr;
  uint64_t* drop_counts_ = nullptr;
  uint64_t* overflow_count_ = nullptr;
  Trace* trace_ = nullptr;
};

class Stage {
 public:
  virtual ~Stage() = default;
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  // Stable names: counters are "<stage>.<drop reason>" and "<stage>.out.<edge>".
  virtual std::string_view name() const noexcept = 0;
  virtual std::span<const std::string_view> edge_names() const noexcept = 0;
  virtual std::span<const std::string_view> drop_names() const noexcept = 0;

  // Process n packets (n <= kNodeInputMax). Every packet goes to exactly one edge or drop.
  // `ctx` is the burst's time, worker and snapshot view: the only clock and the only view of
  // the control plane a stage reads.
  virtual void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                       Output& out) noexcept = 0;

  // Called by the worker from its loop when it has time (timers: ARP refresh, flow expiry),
  // with the same kind of context (ctx.now_tsc: the time of the call). Default: nothing to do.
  virtual void on_idle(const BurstContext& /*ctx*/, Output& /*out*/) noexcept {}

  // Counters beyond edges and drops (events, per-uplink figures), named "<stage>.<what>".
  // Called from control threads while the worker runs: read with read_counter().
  virtual void collect_extra(std::vector<CounterValue>& /*out*/) const {}

 protected:
  Stage() = default;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Pins every flow to one worker: a symmetric hash of the 5-tuple picks the worker, so both
// directions of a flow meet in the same per-worker flow table whatever port or RSS queue they
// arrived on. Packets for another worker go to it through a single-producer ring.
#pragma once

#include <rte_ring.h>

#include <array>
#include <vector>

#include "dataplane/graph/stage.h"

namespace traboule::dp {

class DispatchStage final : public Stage {
 public:
  enum Edge : unsigned { kOwn, kEdgeCount };
  enum Drop : unsigned { kRingFull, kDropCount };
  static constexpr std::array<std::string_view, 1> kEdges{"own"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 1> kDrops{"ring_full"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  // `to_worker[w]` is the ring towards worker w (nullptr for `self`).
  DispatchStage(unsigned self, std::vector<rte_ring*> to_worker);

  std::string_view name() const noexcept override { return "dispatch"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  // The worker a flow hash belongs to (same mapping for every worker).
  static unsigned worker_of(uint32_t hash, unsigned workers) noexcept {
    return static_cast<unsigned>((uint64_t{hash} * workers) >> 32);
  }

 private:
  unsigned self_;
  std::vector<rte_ring*> to_worker_;
  std::vector<uint64_t> handed_off_;
};

}  // namespace traboule::dp

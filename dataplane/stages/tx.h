// SPDX-License-Identifier: Apache-2.0
// The last stage: groups packets by meta.out_port and sends each group on this worker's TX
// queue of that port. What the driver does not take is dropped and counted, never retried
// (retrying would stall the worker behind a full queue).
#pragma once

#include <array>

#include "dataplane/graph/stage.h"
#include "dataplane/runtime/site.h"
#include "dataplane/stages/vlan_tag.h"
#include "dataplane/tables/overlay_sites.h"

namespace traboule::dp {

class TxStage final : public Stage {
 public:
  enum Drop : unsigned { kBadPort, kQueueFull, kVlanNoRoom, kDropCount };
  static constexpr std::array<std::string_view, 3> kDrops{"bad_port", "queue_full", "vlan_no_room"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  // `queue` is this worker's TX queue id on every port; `ports_ready[p]` says port p is started.
  // Throws std::invalid_argument when a ready port has no such queue (sending on it would
  // crash the driver): start-up only.
  // Frames to a port on a VLAN (`vlans[p]` != 0) get its tag here (vlan_tag.h).
  TxStage(uint16_t queue, std::array<bool, kMaxPorts> ports_ready, const PortVlans& vlans = {});

  std::string_view name() const noexcept override { return "tx"; }
  std::span<const std::string_view> edge_names() const noexcept override { return {}; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;
  // Overlay packets the driver refuses are our own loss (as QosStage::count_own_drops).
  void count_own_drops(OverlaySites* sites) noexcept { own_drops_ = sites; }

 private:
  OverlaySites* own_drops_ = nullptr;
  uint16_t queue_;
  std::array<bool, kMaxPorts> ready_;
  PortVlans vlans_;
  std::array<uint64_t, kMaxPorts> sent_{};
};

}  // namespace traboule::dp

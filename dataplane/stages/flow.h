// SPDX-License-Identifier: Apache-2.0
// FlowStage: finds or creates each packet's flow in the worker's FlowTable, stamps meta.flow_id
// and meta.flow_dir, counts the packet per direction and tracks TCP state. Later stages of the
// same worker (route, forward) read and annotate the entry through meta.flow_id, valid until
// the end of the burst. Expiry runs from on_idle, a bounded slice at a time.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/core/flow_table.h"
#include "dataplane/core/stage.h"

namespace traboule::dp {

class FlowStage final : public Stage {
 public:
  enum Edge : unsigned { kNext = 0 };
  // table_full: no room for a new flow. Dropped, not forwarded statelessly: the return path
  // (de-NAT, the LAN host's MAC, the uplink the reply must match) needs the flow.
  enum Drop : unsigned { kTableFull = 0, kNotIp, kArp };
  static constexpr std::array<std::string_view, 1> kEdges{"next"};
  static constexpr std::array<std::string_view, 3> kDrops{"table_full", "not_ip", "arp"};
  // Slots visited per on_idle call: a full sweep takes capacity / 256 calls (the worker's
  // timer runs every millisecond: 0.26 s for 64 k flows, 4 s for 1 M).
  static constexpr uint32_t kExpireScanDefault = 256;

  // The table outlives the stage; route/forward stages of the same worker share it.
  explicit FlowStage(FlowTable& table, uint32_t expire_scan = kExpireScanDefault)
      : table_(table), expire_scan_(expire_scan) {}

  std::string_view name() const noexcept override { return "flow"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept override;
  void on_idle(uint64_t now_tsc, Output& out) noexcept override;
  // flow.created, flow.expired, flow.restarted, flow.active.
  void collect_extra(std::vector<CounterValue>& out) const override;

  FlowTable& table() noexcept { return table_; }

 private:
  void process_chunk(rte_mbuf** pkts, uint16_t n, uint64_t now_tsc, Output& out) noexcept;

  FlowTable& table_;
  uint32_t expire_scan_;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Uplink forwarding: TTL/hop limit check and decrement, then the L2 rewrite for the egress
// port (our MAC as source; the uplink's gateway or the LAN host as destination; VLAN tags of
// the ingress side removed). Unresolved next hops are asked for and the packet is dropped.
#pragma once

#include <array>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/flow_table.h"

namespace traboule::dp {

class ForwardStage final : public Stage {
 public:
  enum Edge : unsigned { kEgress, kEdgeCount };
  enum Drop : unsigned {
    kTtlExceeded,
    kNoGateway,
    kGatewayUnresolved,
    kNeighborUnresolved,
    kBadEgress,
    kDropCount,  // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 1> kEdges{"egress"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 5> kDrops{
      "ttl_exceeded", "no_gateway", "gateway_unresolved", "neighbor_unresolved", "bad_egress"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  ForwardStage(Site& site, FlowTable& flows);

  std::string_view name() const noexcept override { return "forward"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  struct UplinkCounters {
    uint64_t tx_packets = 0, tx_bytes = 0;  // LAN → this uplink
    uint64_t rx_packets = 0, rx_bytes = 0;  // this uplink → LAN
  };
  UplinkCounters uplink_counters(uint8_t u) const noexcept;

  // Traffic per application (the flow's, 0: not recognised), uplink and direction (0: out of
  // the uplink, 1: in from it): what `traboulectl apps` shows. Application ids from
  // kAppSlots - 1 up share the last slot.
  static constexpr uint16_t kAppSlots = 256;
  struct AppTraffic {
    uint64_t packets[kMaxUplinks][2] = {};
    uint64_t bytes[kMaxUplinks][2] = {};
  };
  AppTraffic app_traffic(uint16_t slot) const noexcept;

 private:
  // The gateway's MAC per uplink and family, valid while the neighbour table's generation is
  // unchanged: a table lookup per packet costs more than the rest of this stage.
  struct GatewayCache {
    uint64_t generation = ~uint64_t{0};
    bool resolved = false;
    rte_ether_addr mac{};
  };
  bool gateway_mac(Interface& up, bool v4, rte_ether_addr* mac) noexcept;

  Site& site_;
  FlowTable& flows_;
  std::array<UplinkCounters, kMaxUplinks> per_uplink_{};
  std::vector<AppTraffic> per_app_ = std::vector<AppTraffic>(kAppSlots);
  std::array<std::array<GatewayCache, 2>, kMaxUplinks> gw_cache_{};
};

}  // namespace traboule::dp

// Decides where a packet goes: LAN → WAN takes the first usable uplink of the first matching
// rule (cached in the flow, so later packets pay one check); WAN → LAN goes to the LAN port if
// the destination is a LAN prefix. Stands in for policy and path selection until they land.
#pragma once

#include <array>
#include <vector>

#include "dataplane/core/flow_table.h"
#include "dataplane/core/site.h"
#include "dataplane/core/stage.h"

namespace traboule::dp {

class RouteStage final : public Stage {
 public:
  enum Edge : unsigned { kUplink, kLan };
  enum Drop : unsigned {
    kNotOurMac,
    kUnknownPort,
    kLanToLan,
    kNoRoute,
    kNoUsableUplink,
    kNotRoutable
  };
  static constexpr std::array<std::string_view, 2> kEdges{"uplink", "lan"};
  static constexpr std::array<std::string_view, 6> kDrops{
      "not_our_mac", "unknown_port", "lan_to_lan", "no_route", "no_uplink", "not_routable"};

  RouteStage(const Site& site, FlowTable& flows);

  std::string_view name() const noexcept override { return "route"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  // First uplink of `rule`'s preference list that is up and can carry this address family.
  uint8_t pick_uplink(uint16_t rule, bool v4) const noexcept;

 private:
  const Site& site_;
  FlowTable& flows_;
  std::vector<uint64_t> rule_flows_;  // flows assigned per rule
};

}  // namespace traboule::dp

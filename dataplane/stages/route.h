// Decides where a packet goes. LAN → WAN: the active policy's first matching rule gives the
// egress (drop, or an uplink from its preference list; primaries before backups), cached in the
// flow with the policy generation, so later packets pay one check and a new policy re-evaluates
// each flow lazily on its next packet. WAN → LAN goes to the LAN port if the destination is ours.
#pragma once

#include <array>
#include <vector>

#include "dataplane/core/flow_table.h"
#include "dataplane/core/site.h"
#include "dataplane/core/stage.h"
#include "dataplane/core/worker_view.h"

namespace traboule::dp {

// policy_gen values that are not policy generations.
inline constexpr uint16_t kGenNone = 0;            // never evaluated
inline constexpr uint16_t kGenWanOpened = 0xffff;  // opened from the WAN: pinned to its uplink
// FlowEntry::uplink for a flow the policy drops.
inline constexpr uint8_t kUplinkPolicyDrop = 0xfe;

class RouteStage final : public Stage {
 public:
  enum Edge : unsigned { kUplink, kLan };
  enum Drop : unsigned {
    kNotOurMac,
    kUnknownPort,
    kLanToLan,
    kNoRoute,
    kNoUsableUplink,
    kNotRoutable,
    kPolicyDrop,
    kNoPolicy
  };
  static constexpr std::array<std::string_view, 2> kEdges{"uplink", "lan"};
  static constexpr std::array<std::string_view, 8> kDrops{
      "not_our_mac", "unknown_port", "lan_to_lan",  "no_route",
      "no_uplink",   "not_routable", "policy_drop", "no_policy"};

  RouteStage(const Site& site, FlowTable& flows, const WorkerView& view, unsigned worker);

  std::string_view name() const noexcept override { return "route"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept override;

  // The uplink for a flow of `rule` under `p`: `current` if it is still allowed and usable
  // (stickiness), else the first usable primary of the preference list with a resolved gateway
  // for this family, else the first such backup; uplinks the probes measure down only when no
  // other is left; kNoUplink when none.
  uint8_t pick_uplink(const PolicySnapshot& p, uint16_t rule, bool v4,
                      uint8_t current) const noexcept;

 private:
  // Link up (and, with `measured`, not measured down) with a resolved gateway for the family.
  bool usable(uint8_t u, bool v4, bool measured) const noexcept;
  // Link up at the driver and not measured down by the probes.
  bool alive(uint8_t u) const noexcept {
    return site_.uplink_usable(u) && (view_.links == nullptr || !view_.links->down(u));
  }

  const Site& site_;
  FlowTable& flows_;
  const WorkerView& view_;
  unsigned worker_;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Decides where a packet goes. LAN → WAN: the active policy's first matching rule gives the
// egress (overlay to the hub, breakout, or drop) and the path selector (select/path_select.h)
// picks the uplink from the link snapshot and the rule's SLA class; the choice is cached in the
// flow with the policy generation, so later packets pay a few checks and a new policy
// re-evaluates each flow lazily on its next packet. WAN → LAN goes to the LAN port if the
// destination is ours; a flow that came through the overlay answers through it.
#pragma once

#include <array>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/graph/worker_view.h"
#include "dataplane/model/overlay_config.h"
#include "dataplane/model/path_events.h"
#include "dataplane/proto/overlay_header.h"
#include "dataplane/runtime/site.h"
#include "dataplane/select/path_select.h"
#include "dataplane/tables/flow_table.h"

namespace traboule::dp {

// kGenNone, kGenWanOpened and kUplinkPolicyDrop: see tables/flow_table.h.

class RouteStage final : public Stage {
 public:
  // uplink: straight out (a flow opened from the WAN, or overlay egress on an edge without a
  // peer); overlay: to the encap stage; breakout: out with source NAT.
  enum Edge : unsigned { kUplink, kLan, kOverlay, kBreakout };
  enum Drop : unsigned {
    kNotOurMac,
    kUnknownPort,
    kLanToLan,
    kNoRoute,
    kNoUsableUplink,
    kNotRoutable,
    kPolicyDrop,
    kNoPolicy,
    kSlaDrop,        // nothing meets the rule's SLA class and its fallback is drop
    kNoOverlaySite,  // a hub with overlay egress for a flow no site opened
  };
  static constexpr std::array<std::string_view, 4> kEdges{"uplink", "lan", "overlay", "breakout"};
  static constexpr std::array<std::string_view, 10> kDrops{
      "not_our_mac",  "unknown_port", "lan_to_lan", "no_route", "no_uplink",
      "not_routable", "policy_drop",  "no_policy",  "sla_drop", "no_overlay_site"};

  RouteStage(const Site& site, FlowTable& flows, const WorkerView& view, unsigned worker,
             const OverlayConfig& overlay = {});

  std::string_view name() const noexcept override { return "route"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  // What each listed uplink looks like for a flow of `rule` and family v4 right now.
  // Flows moved to another uplink, for the control thread (events with flow, rule, reason).
  const PathEventLog& events() const noexcept { return events_; }

  std::array<PathCandidate, kMaxUplinks> candidates(const PolicySnapshot& p, uint16_t rule,
                                                    bool v4) const noexcept;

 private:
  // Link up (and, with `measured`, not measured down) with a resolved gateway for the family.
  bool usable(uint8_t u, bool v4) const noexcept;
  // Link up at the driver and not measured down by the probes.
  bool alive(uint8_t u) const noexcept {
    return site_.uplink_usable(u) && (view_.links == nullptr || !view_.links->down(u));
  }
  // The flow's uplink can stay without asking the selector: alive, meeting the SLA, not over
  // its cap, a primary, and not a duplicate-strategy rule (those re-check both paths).
  bool keeps(const PolicySnapshot& p, const RuleAction& a, uint8_t u) const noexcept;

  const Site& site_;
  FlowTable& flows_;
  const WorkerView& view_;
  unsigned worker_;
  OverlayConfig overlay_;
  std::array<uint64_t, kPathReasonCount> reasons_{};  // path decisions by reason
  PathEventLog events_;
};

}  // namespace traboule::dp

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
  enum Edge : unsigned { kUplink, kLan, kOverlay, kBreakout, kEdgeCount };
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
    kDropCount,      // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 4> kEdges{"uplink", "lan", "overlay", "breakout"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 10> kDrops{
      "not_our_mac",  "unknown_port", "lan_to_lan", "no_route", "no_uplink",
      "not_routable", "policy_drop",  "no_policy",  "sla_drop", "no_overlay_site"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  RouteStage(const Site& site, FlowTable& flows, unsigned worker,
             const OverlayConfig& overlay = {});

  std::string_view name() const noexcept override { return "route"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  // Flows moved to another uplink, for the control thread (events with flow, rule, reason).
  const PathEventLog& events() const noexcept { return events_; }

 private:
  // What each listed uplink looks like for a flow of `rule` and family v4 right now.
  std::array<PathCandidate, kMaxUplinks> candidates(const PolicySnapshot& p, uint16_t rule,
                                                    bool v4) const noexcept;
  // Link up (and, with `measured`, not measured down) with a resolved gateway for the family.
  bool usable(uint8_t u, bool v4) const noexcept;
  // Link up at the driver and not measured down by the probes.
  bool alive(uint8_t u) const noexcept {
    return site_.uplink_usable(u) && (burst_.links == nullptr || !burst_.links->down(u));
  }
  // The flow's uplink can stay without asking the selector: alive, meeting the SLA, not over
  // its cap, a primary, and not a duplicate-strategy rule (those re-check both paths).
  bool keeps(const PolicySnapshot& p, const RuleAction& a, uint8_t u) const noexcept;

  // The per-packet steps below are inlined into process() (a call each cost ~12 cycles/packet in
  // traboule-bench); reselect() and log_move(), taken only when a flow's path is decided, are not.
  // One LAN packet's uplink decision: the uplink (kNoUplink: none usable), the duplicate
  // strategy's second one, the rule, and whether the flow was opened from the WAN.
  struct LanPath {
    uint8_t uplink = kNoUplink;
    uint8_t second = kNoUplink;
    uint16_t rule = 0;
    bool wan_opened = false;
  };
  // LAN → WAN: the flow's uplink, the edge, the class's DSCP, the overlay tag.
  [[gnu::always_inline]] inline void from_lan(rte_mbuf* m, PacketMeta& md, bool v4,
                                              Output& out) noexcept;
  // The cached choice while the policy generation holds and keeps() agrees; else reselect().
  // False: the packet was dropped (policy, SLA, no policy, dead uplink of a WAN-opened flow).
  [[gnu::always_inline]] inline bool choose_uplink(rte_mbuf* m, PacketMeta& md, bool v4,
                                                   FlowEntry* e, FlowPath* fp, LanPath& lp,
                                                   Output& out) noexcept;
  // The rule (matched again when `fgen` is not the policy's generation) and the path
  // selector's uplink, cached in the flow; a move is logged as a path event.
  bool reselect(rte_mbuf* m, PacketMeta& md, bool v4, FlowEntry* e, FlowPath* fp, uint16_t fgen,
                LanPath& lp, Output& out) noexcept;
  void log_move(const PacketMeta& md, uint16_t rule, uint8_t from, uint8_t to,
                PathReason why) noexcept;
  // uplink, overlay or breakout for a LAN packet with its uplink chosen. False: dropped (a hub
  // has no site to send an overlay flow to).
  [[gnu::always_inline]] inline bool lan_edge(rte_mbuf* m, PacketMeta& md, const FlowPath* fp,
                                              const LanPath& lp, bool from_site, Edge& edge,
                                              Output& out) noexcept;
  // The rule's QoS class DSCP, here and not in qos: before encapsulation, so the overlay's outer
  // header copies it.
  [[gnu::always_inline]] inline void mark_class_dscp(rte_mbuf* m, PacketMeta& md, bool v4) noexcept;
  // Overlay class tag (and, for a flow a site opened, the site and path to answer on).
  [[gnu::always_inline]] inline void tag_overlay(PacketMeta& md, const FlowPath* fp,
                                                 bool from_site) const noexcept;
  // WAN → LAN: to the LAN port for our prefixes; remembers where the flow's answers go.
  [[gnu::always_inline]] inline void to_lan(rte_mbuf* m, PacketMeta& md, const Interface& in,
                                            bool v4, Output& out) noexcept;

  const Site& site_;
  FlowTable& flows_;
  // The burst's context (process() sets it first): what the helpers below read of the control
  // plane, and when.
  struct BurstView {
    const PolicySnapshot* policy = nullptr;
    const LinkSnapshot* links = nullptr;
    uint64_t now_tsc = 0;
    uint16_t gen = 0;
  } burst_;
  unsigned worker_;
  OverlayConfig overlay_;
  std::array<uint64_t, kPathReasonCount> reasons_{};  // path decisions by reason
  PathEventLog events_;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// ParseStage: the first stage after RX. Takes a port's VLAN tag off (an uplink on a VLAN), then
// runs the frame parser (proto/frame_parse.h through graph/mbuf_parse.h): Ethernet/VLAN, ARP,
// IPv4, IPv6 (extension chains) and TCP/UDP/ICMP/ICMPv6 headers validated, PacketMeta filled and
// Ethernet padding trimmed, so that every later stage can trust meta() and never reads past a
// checked length. All fragments of a datagram (first or later) get ports 0 and no kHasL4, so
// they all map to one flow (the 3-tuple src, dst, protocol) even though only the first one may
// carry the L4 header.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/graph/stage.h"
#include "dataplane/proto/frame_parse.h"
#include "dataplane/stages/vlan_tag.h"

namespace traboule::dp {

// The stage's edges and drop reasons are the parser's (FrameCodes, proto/frame_parse.h, which
// also says what meta() carries on each edge), plus vlan_foreign, its own.
constexpr bool stage_edge(FrameCodes::Edge) noexcept {
  return true;
}
constexpr bool stage_drop(FrameCodes::Drop) noexcept {
  return true;
}

class ParseStage final : public Stage, public FrameCodes {
 public:
  ParseStage() = default;
  // Ports on a VLAN (an uplink's `"vlan"`): their frames must carry its tag, which comes off
  // before parsing (vlan_tag.h); anything else on such a port is vlan_foreign.
  explicit ParseStage(const PortVlans& vlans) noexcept : vlans_(vlans) {
    for (uint16_t v : vlans_) any_vlan_ |= v != 0;
  }

  std::string_view name() const noexcept override { return "parse"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;

 private:
  PortVlans vlans_{};
  bool any_vlan_ = false;
};

}  // namespace traboule::dp

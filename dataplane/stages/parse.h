// SPDX-License-Identifier: Apache-2.0
// ParseStage: the first stage after RX. Validates Ethernet/VLAN, ARP, IPv4, IPv6 (extension
// chains) and TCP/UDP/ICMP/ICMPv6 headers, fills PacketMeta, and trims Ethernet padding so that
// every later stage can trust meta() and never reads past a checked length. All fragments of a
// datagram (first or later) get ports 0 and no kHasL4, so they all map to one flow (the 3-tuple
// src, dst, protocol) even though only the first one may carry the L4 header.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/graph/stage.h"
#include "dataplane/stages/vlan_tag.h"

namespace traboule::dp {

// What a packet leaving on an edge carries in meta() (nothing is promised on a drop):
//  - l2_len, vlan_count/vlan_outer/vlan_inner (full TCIs; tags must be in the frame: the ports
//    run without VLAN stripping), l3, l3_len, l3_total, src/dst, ttl and dscp as received.
//  - kHasL4 when a TCP, UDP, ICMP (in IPv4) or ICMPv6 (in IPv6) header of a non-fragment was
//    read; src_port/dst_port are then valid (0 for ICMP other than echo), else they are 0.
//  - Fragments: kFragment, plus kLaterFragment when the offset is not 0; ports 0, no kHasL4,
//    l4_proto from the IPv4 header or the IPv6 fragment header (the walk stops there). An IPv6
//    atomic fragment (offset 0, M 0) is a whole datagram: the walk goes on to the transport.
//  - kIpOptions when the IPv4 header has options or the IPv6 header extension headers.
//  - IPv4/IPv6 frames are trimmed to l2_len + l3_total; ARP frames keep their padding.
//  - The IPv4 checksum is not recomputed when the NIC marked it good (or NONE: verified).
// in_port, trace_id, kFromLan and kTrace are kept; out_port, uplink, flow_id, flow_hash,
// flow_dir, rule and the overlay fields are reset (kFromOverlay too). TTL/hop limit are not checked
// (forward decides).
class ParseStage final : public Stage {
 public:
  enum Edge : unsigned { kIpv4 = 0, kIpv6, kArp, kEdgeCount };
  enum Drop : unsigned {
    kEthTruncated = 0,
    kVlanTruncated,
    kVlanTooMany,
    kEthertypeUnsupported,
    kArpTruncated,
    kArpUnsupported,
    kIpv4Truncated,
    kIpv4BadVersion,
    kIpv4BadIhl,
    kIpv4BadTotalLen,
    kIpv4BadChecksum,
    kIpv4BadOptions,
    kIpv6Truncated,
    kIpv6BadVersion,
    kIpv6BadPayloadLen,
    kIpv6ExtTruncated,
    kIpv6HbhNotFirst,
    kIpv6ExtTooLong,
    kTcpTruncated,
    kTcpBadOffset,
    kUdpTruncated,
    kUdpBadLen,
    kIcmpTruncated,
    kIcmpv6Truncated,
    kNotFirstSegment,
    kVlanForeign,
    kDropCount,  // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 3> kEdges{"ipv4", "ipv6", "arp"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 26> kDrops{
      "eth_truncated",      "vlan_truncated",     "vlan_too_many",        "ethertype_unsupported",
      "arp_truncated",      "arp_unsupported",    "ipv4_truncated",       "ipv4_bad_version",
      "ipv4_bad_ihl",       "ipv4_bad_total_len", "ipv4_bad_checksum",    "ipv4_bad_options",
      "ipv6_truncated",     "ipv6_bad_version",   "ipv6_bad_payload_len", "ipv6_ext_truncated",
      "ipv6_hbh_not_first", "ipv6_ext_too_long",  "tcp_truncated",        "tcp_bad_offset",
      "udp_truncated",      "udp_bad_len",        "icmp_truncated",       "icmpv6_truncated",
      "not_first_segment",  "vlan_foreign",
  };
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }
  // More IPv6 extension headers than this before the upper layer is a drop (a cheap DoS guard).
  static constexpr unsigned kMaxIpv6ExtHeaders = 8;
  static constexpr unsigned kMaxVlanTags = 2;

  ParseStage() = default;
  // Ports on a VLAN (an uplink's `"vlan"`): their frames must carry its tag, which comes off
  // before parsing (vlan_tag.h); anything else on such a port is vlan_foreign.
  explicit ParseStage(const PortVlans& vlans) noexcept : vlans_(vlans) {
    for (uint16_t v : vlans_) any_vlan_ |= v != 0;
  }

  // One frame as process() parses it (decap re-parses the inner packet with it): an edge, or
  // kDropBase + a drop reason.
  static constexpr unsigned kDropBase = 64;
  static unsigned parse(rte_mbuf* m) noexcept;

  std::string_view name() const noexcept override { return "parse"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;

 private:
  PortVlans vlans_{};
  bool any_vlan_ = false;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The frame parser the parse stage runs on every received frame and decap on every inner packet:
// Ethernet/VLAN, ARP, IPv4, IPv6 (extension chains), TCP/UDP/ICMP/ICMPv6 headers validated and
// PacketMeta filled, on bytes (no DPDK: testable on any buffer). The mbuf glue (the NIC's
// checksum verdict, trimming the padding) is graph/mbuf_parse.h.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "dataplane/model/packet_meta.h"

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
//  - IPv4/IPv6 frames are trimmed to l2_len + l3_total (by graph/mbuf_parse.h); ARP frames keep
//    their padding.
//  - The IPv4 checksum is not recomputed when the NIC marked it good (or NONE: verified).
// in_port, trace_id, kFromLan and kTrace are kept; out_port, uplink, flow_id, flow_hash,
// flow_dir, rule and the overlay fields are reset (kFromOverlay too). TTL/hop limit are not checked
// (forward decides).
struct FrameCodes {
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
  // More IPv6 extension headers than this before the upper layer is a drop (a cheap DoS guard).
  static constexpr unsigned kMaxIpv6ExtHeaders = 8;
  static constexpr unsigned kMaxVlanTags = 2;

  // parse_frame() returns an edge, or kDropBase + a drop reason.
  static constexpr unsigned kDropBase = 64;
};

// What the NIC said of the IPv4 header checksum: not checked (verify it here), bad, or
// verified (good, or a header it vouches for).
enum class L3Csum : uint8_t { kUnknown, kBad, kVerified };

// Parses the frame at `p`: `readable` bytes contiguous from p (the first segment), `frame_len`
// in all. Resets and fills `md` (see above). Returns FrameCodes::Edge or kDropBase + Drop;
// `*dgram_end` is where the IP datagram ends in the frame (frame_len otherwise): the caller
// trims the rest (Ethernet padding) of an IPv4/IPv6 frame.
unsigned parse_frame(const uint8_t* p, uint32_t readable, uint32_t frame_len, L3Csum csum,
                     PacketMeta& md, uint32_t* dgram_end) noexcept;

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Per-packet metadata (kept in the mbuf private area: graph/mbuf_meta.h): what parse found, where
// the packet goes. Stages read it instead of re-parsing headers; it is valid from the parse stage
// on.
#pragma once

#include <cstdint>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

enum class L3Kind : uint8_t { kNone = 0, kIpv4, kIpv6, kArp };

namespace meta_flag {
inline constexpr uint16_t kFragment = 1 << 0;       // any fragment (first or later)
inline constexpr uint16_t kLaterFragment = 1 << 1;  // offset != 0: no L4 header present
inline constexpr uint16_t kIpOptions = 1 << 2;      // IPv4 options or IPv6 extension headers
inline constexpr uint16_t kFromLan = 1 << 3;        // received on the LAN port
inline constexpr uint16_t kTrace = 1 << 4;          // per-packet trace is on for this packet
inline constexpr uint16_t kHasL4 = 1 << 5;          // src_port/dst_port/tcp_flags are valid
inline constexpr uint16_t kFromOverlay = 1 << 6;    // decapsulated: overlay_site/path say whence
inline constexpr uint16_t kNatIn = 1 << 7;          // de-NATed by nat_in (matched a mapping)
// A port forward: from nat_in, the packet was sent to meta.fwd_port of the uplink's address
// (now rewritten to the LAN host); from route, a LAN host's answer that nat_out must send from
// the uplink's address and meta.fwd_port.
inline constexpr uint16_t kPortForward = 1 << 8;
// Encapsulated by us: overlay_site/overlay_path/overlay_cls name the sender counters it was
// counted in (OverlaySites::count_tx), so a later stage that drops it can say so (own_drop).
inline constexpr uint16_t kOverlayOut = 1 << 9;
// Handed over by another worker's nat_in: an answer to one of this worker's NAT mappings (the
// receiving worker runs it from its own nat_in).
inline constexpr uint16_t kNatHandoff = 1 << 10;
}  // namespace meta_flag

inline constexpr uint16_t kNoPort = 0xffff;
inline constexpr uint32_t kNoFlow = 0xffffffffu;
inline constexpr uint8_t kNoUplink = 0xff;

struct PacketMeta {
  IpAddr src;  // valid for IPv4/IPv6 (IPv4 mapped); ARP sender for ARP
  IpAddr dst;
  uint16_t in_port = kNoPort;   // DPDK port id the packet came in on
  uint16_t out_port = kNoPort;  // set by the stage that picks the egress
  uint16_t flags = 0;
  uint16_t l2_len = 0;    // Ethernet + VLAN tags: offset of the L3 header
  uint16_t l3_len = 0;    // IPv4 header with options, or IPv6 header with extension headers
  uint16_t l3_total = 0;  // IPv4 total length / IPv6 40 + payload length (bytes of the datagram)
  uint16_t src_port = 0;  // host order; ICMP/ICMPv6 echo: the identifier in both (one flow)
  uint16_t dst_port = 0;
  uint16_t vlan_outer = 0;  // TCI of the outer tag (0 if none)
  uint16_t vlan_inner = 0;
  uint8_t vlan_count = 0;
  L3Kind l3 = L3Kind::kNone;
  uint8_t l4_proto = 0;  // IPPROTO_* of the transport (after IPv6 extension headers)
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;  // ICMP or ICMPv6 type/code when l4_proto is 1 or 58
  uint8_t icmp_code = 0;
  uint8_t ttl = 0;             // TTL or hop limit as received
  uint8_t dscp = 0;            // 6-bit DSCP
  uint8_t uplink = kNoUplink;  // uplink index chosen for this packet
  uint8_t flow_dir = 0;        // 0: flow's original direction, 1: reply direction
  uint32_t flow_id = kNoFlow;  // index in the worker's flow table
  uint32_t flow_hash = 0;      // symmetric hash of the 5-tuple (same both directions)
  uint16_t rule = 0;           // rule index that matched
  uint16_t trace_id = 0;
  // Overlay: after decap, the sender's site id and path (its uplink index); before encap, the
  // site and remote path to send to (a hub answering an edge). See core/overlay.h.
  uint16_t overlay_site = 0;
  uint8_t overlay_path = kNoUplink;
  uint8_t dup_uplink = kNoUplink;  // duplicate strategy: the second uplink (encap copies)
  // Overlay class tag (core/overlay.h kClassTags): after decap, the sender's; before encap, the
  // one to send (route: the rule's SLA class on an edge, the flow's learned tag on a hub).
  uint8_t overlay_cls = 0;
  uint16_t fwd_port = 0;         // with kPortForward: the public port on the uplink
  uint64_t qos_enqueued_ns = 0;  // when the qos stage queued it (its time in the queue)
};

}  // namespace traboule::dp

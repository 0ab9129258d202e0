// SPDX-License-Identifier: Apache-2.0
// What the local stage's files share (local.cc, local_arp.cc, local_echo.cc, local_nd.cc,
// local_resolver.cc): protocol constants and small byte helpers. Private to the stage.
#pragma once

#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/ip_header.h"
#include "dataplane/stages/local.h"

namespace traboule::dp::local_detail {

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmp6EchoRequest = 128;
inline constexpr uint8_t kIcmp6EchoReply = 129;
inline constexpr uint8_t kNdRs = 133;
inline constexpr uint8_t kNdRa = 134;
inline constexpr uint8_t kNdNs = 135;
inline constexpr uint8_t kNdNa = 136;
inline constexpr uint8_t kNdRedirect = 137;
inline constexpr uint8_t kOptSourceLla = 1;
inline constexpr uint8_t kOptTargetLla = 2;
inline constexpr uint8_t kNaRouter = 0x80;
inline constexpr uint8_t kNaSolicited = 0x40;
inline constexpr uint8_t kNaOverride = 0x20;
inline constexpr uint8_t kNdHopLimit = 255;  // RFC 4861: proves the sender is on-link
inline constexpr uint8_t kEchoTtl = 64;

inline constexpr uint32_t kEthLen = RTE_ETHER_HDR_LEN;
inline constexpr uint32_t kArpLen = 28;
inline constexpr uint32_t kIpv4Len = 20;
inline constexpr uint32_t kIpv6Len = 40;
inline constexpr uint32_t kNdFixedLen = 24;          // type, code, checksum, flags/reserved, target
inline constexpr uint32_t kNdLen = kNdFixedLen + 8;  // plus one link-layer address option
inline constexpr uint32_t kMinFrame = 60;            // Ethernet minimum without FCS

inline bool v6_multicast(const uint8_t* a) noexcept {
  return a[0] == 0xff;
}
inline bool v6_link_local(const uint8_t* a) noexcept {
  return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}
inline bool v6_unspecified(const uint8_t* a) noexcept {
  static constexpr uint8_t kZero[16] = {};
  return std::memcmp(a, kZero, 16) == 0;
}
// ff02::1:ffXX:XXXX, the only destination RFC 4861 allows for a DAD solicitation.
inline bool v6_solicited_node(const uint8_t* a) noexcept {
  static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  return std::memcmp(a, kPrefix, 13) == 0;
}

// Checksums: DPDK's raw sums work in memory byte order, so results are stored as they are.
inline uint16_t store_cksum(uint32_t sum) noexcept {
  return static_cast<uint16_t>(~__rte_raw_cksum_reduce(sum));
}
// Sum of the IPv6 pseudo-header (RFC 8200 §8.1); the payload may follow extension headers,
// which rte_ipv6_phdr_cksum (it reads payload_len) cannot describe.
inline uint32_t pseudo6_sum(const uint8_t* src, const uint8_t* dst, uint32_t upper_len) noexcept {
  uint8_t ph[40];
  std::memcpy(ph, src, 16);
  std::memcpy(ph + 16, dst, 16);
  ph[32] = static_cast<uint8_t>(upper_len >> 24);
  ph[33] = static_cast<uint8_t>(upper_len >> 16);
  ph[34] = static_cast<uint8_t>(upper_len >> 8);
  ph[35] = static_cast<uint8_t>(upper_len);
  ph[36] = ph[37] = ph[38] = 0;
  ph[39] = IPPROTO_ICMPV6;
  return __rte_raw_cksum(ph, sizeof ph, 0);
}
// The ICMPv6 checksum of msg (checksum field zeroed), or 0 when verifying a received message.
inline uint16_t icmp6_cksum(const uint8_t* src, const uint8_t* dst, const uint8_t* msg,
                            uint32_t len) noexcept {
  return store_cksum(__rte_raw_cksum(msg, len, pseudo6_sum(src, dst, len)));
}
inline uint16_t icmp4_cksum(const uint8_t* msg, uint32_t len) noexcept {
  return store_cksum(__rte_raw_cksum(msg, len, 0));
}
inline void put_cksum(uint8_t* field, uint16_t c) noexcept {
  std::memcpy(field, &c, 2);
}

// Walks ND options (RFC 4861 §4.6); false on a zero-length option or one running past the
// end. *lla points at the address of the last link-layer option of type `want`, if any.
inline bool nd_options(const uint8_t* p, uint32_t len, uint8_t want, const uint8_t** lla) noexcept {
  while (len > 0) {
    if (len < 2) return false;
    uint32_t olen = p[1] * 8u;
    if (olen == 0 || olen > len) return false;
    if (p[0] == want && olen >= 8) *lla = p + 2;
    p += olen;
    len -= olen;
  }
  return true;
}

// Removes `extra` bytes between L2 and L3 (IPv4 options, IPv6 extension headers) by sliding the
// L2 header forward: replies carry none of them back.
inline uint8_t* strip_between(rte_mbuf* m, uint16_t l2_len, uint16_t extra) noexcept {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  if (extra == 0) return p;
  std::memmove(p + extra, p, l2_len);
  return reinterpret_cast<uint8_t*>(rte_pktmbuf_adj(m, extra));
}

// Sets a single-segment mbuf's length; false when the buffer has no room.
inline bool set_len(rte_mbuf* m, uint32_t len) noexcept {
  uint32_t cur = rte_pktmbuf_data_len(m);
  if (len > cur) return rte_pktmbuf_append(m, static_cast<uint16_t>(len - cur)) != nullptr;
  if (len < cur) rte_pktmbuf_trim(m, static_cast<uint16_t>(cur - len));
  return true;
}

inline bool mac_usable(const uint8_t* mac) noexcept {
  return (mac[0] & 0x01) == 0 && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) != 0;
}

}  // namespace traboule::dp::local_detail

// SPDX-License-Identifier: Apache-2.0
// Incremental Internet checksum updates (RFC 1624) for the rewrites stages make in place:
// TTL decrement on forwarding, TCP MSS clamping before encapsulation.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/proto/bytes.h"

namespace traboule::dp {

// The folded one's-complement sum (RFC 1071) of `len` bytes (even), in memory order: 0xffff over
// a header whose checksum is right. Loads are byte-order independent (RFC 1071 §2(B)).
inline uint16_t ones_sum(const uint8_t* p, uint32_t len) noexcept {
  uint64_t sum = 0;
  uint32_t i = 0;
  for (; i + 4 <= len; i += 4) sum += load_raw32(p + i);
  if (i < len) sum += load_raw16(p + i);
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// ~(~old_sum + ~old_word + new_word), words in host order; sum in network order in and out.
inline uint16_t csum_replace16(uint16_t sum_be, uint16_t old_word, uint16_t new_word) noexcept {
  uint32_t s =
      static_cast<uint16_t>(~be16_to_host(sum_be)) + static_cast<uint16_t>(~old_word) + new_word;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return host_to_be16(static_cast<uint16_t>(~s));
}

// The IPv4 header at `l3`: TTL (byte 8) down by one, checksum (bytes 10-11) updated.
inline void decrement_ipv4_ttl(uint8_t* l3) noexcept {
  const uint16_t old_word = static_cast<uint16_t>(l3[8] << 8 | l3[9]);
  l3[8] = static_cast<uint8_t>(l3[8] - 1);
  const uint16_t new_word = static_cast<uint16_t>(l3[8] << 8 | l3[9]);
  uint16_t sum;
  std::memcpy(&sum, l3 + 10, 2);
  sum = csum_replace16(sum, old_word, new_word);
  std::memcpy(l3 + 10, &sum, 2);
}

// Rewrites the DSCP (keeping ECN) of the IPv4 or IPv6 header at `l3`.
inline void set_dscp(uint8_t* l3, bool v4, uint8_t dscp) noexcept {
  if (v4) {
    const uint8_t tos = static_cast<uint8_t>((dscp << 2) | (l3[1] & 0x03));
    if (tos == l3[1]) return;
    const uint16_t old_word = static_cast<uint16_t>(l3[0] << 8 | l3[1]);
    l3[1] = tos;
    uint16_t sum;
    std::memcpy(&sum, l3 + 10, 2);
    sum = csum_replace16(sum, old_word, static_cast<uint16_t>(l3[0] << 8 | tos));
    std::memcpy(l3 + 10, &sum, 2);
  } else {
    // Traffic class: the 4 bits after the version, then 4 in the next byte.
    const uint8_t tc = static_cast<uint8_t>(((l3[0] & 0x0f) << 4 | l3[1] >> 4) & 0x03) |
                       static_cast<uint8_t>(dscp << 2);
    l3[0] = static_cast<uint8_t>((l3[0] & 0xf0) | tc >> 4);
    l3[1] = static_cast<uint8_t>((l3[1] & 0x0f) | (tc & 0x0f) << 4);
  }
}

// Lowers the MSS option of a TCP SYN at `tcp` (header of `tcp_len` readable bytes) to at most
// `max_mss`. Returns true when it rewrote it. Malformed options end the walk untouched.
inline bool clamp_tcp_mss(uint8_t* tcp, uint32_t tcp_len, uint16_t max_mss) noexcept {
  if (tcp_len < 20) return false;
  const uint32_t hdr = static_cast<uint32_t>(tcp[12] >> 4) * 4;
  if (hdr < 20 || hdr > tcp_len) return false;
  uint32_t i = 20;
  while (i < hdr) {
    const uint8_t kind = tcp[i];
    if (kind == 0) return false;  // end of options
    if (kind == 1) {              // NOP
      ++i;
      continue;
    }
    if (i + 1 >= hdr) return false;
    const uint8_t len = tcp[i + 1];
    if (len < 2 || i + len > hdr) return false;
    if (kind == 2 && len == 4) {
      const uint16_t mss = static_cast<uint16_t>(tcp[i + 2] << 8 | tcp[i + 3]);
      if (mss <= max_mss) return false;
      tcp[i + 2] = static_cast<uint8_t>(max_mss >> 8);
      tcp[i + 3] = static_cast<uint8_t>(max_mss);
      uint16_t sum;
      std::memcpy(&sum, tcp + 16, 2);
      sum = csum_replace16(sum, mss, max_mss);
      std::memcpy(tcp + 16, &sum, 2);
      return true;
    }
    i += len;
  }
  return false;
}

}  // namespace traboule::dp

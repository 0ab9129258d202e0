// SPDX-License-Identifier: Apache-2.0
// Incremental Internet checksum updates (RFC 1624) for the rewrites stages make in place:
// TTL decrement on forwarding, TCP MSS clamping before encapsulation.
#pragma once

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <cstdint>

namespace traboule::dp {

// ~(~old_sum + ~old_word + new_word), words in host order; sum in network order in and out.
inline uint16_t csum_replace16(uint16_t sum_be, uint16_t old_word, uint16_t new_word) noexcept {
  uint32_t s = static_cast<uint16_t>(~rte_be_to_cpu_16(sum_be)) + static_cast<uint16_t>(~old_word) +
               new_word;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return rte_cpu_to_be_16(static_cast<uint16_t>(~s));
}

inline void decrement_ipv4_ttl(rte_ipv4_hdr* ip) noexcept {
  const uint16_t old_word = static_cast<uint16_t>(ip->time_to_live << 8 | ip->next_proto_id);
  ip->time_to_live--;
  const uint16_t new_word = static_cast<uint16_t>(ip->time_to_live << 8 | ip->next_proto_id);
  ip->hdr_checksum = csum_replace16(ip->hdr_checksum, old_word, new_word);
}

// Rewrites the DSCP (keeping ECN) of the IPv4 or IPv6 header at `l3`.
inline void set_dscp(uint8_t* l3, bool v4, uint8_t dscp) noexcept {
  if (v4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    const uint8_t tos = static_cast<uint8_t>((dscp << 2) | (ip->type_of_service & 0x03));
    if (tos == ip->type_of_service) return;
    const uint16_t old_word = static_cast<uint16_t>(l3[0] << 8 | l3[1]);
    ip->type_of_service = tos;
    ip->hdr_checksum =
        csum_replace16(ip->hdr_checksum, old_word, static_cast<uint16_t>(l3[0] << 8 | tos));
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
      __builtin_memcpy(&sum, tcp + 16, 2);
      sum = csum_replace16(sum, mss, max_mss);
      __builtin_memcpy(tcp + 16, &sum, 2);
      return true;
    }
    i += len;
  }
  return false;
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// IPv4 and IPv6 headers the box writes itself (encapsulation, probes, replies, rejects, ICMP
// errors): one builder each, on bytes, so the fields, their order and the checksum are written
// in one place. Addresses are read before anything is written, so `src`/`dst` may point into the
// header being rewritten (a reply that swaps the addresses of the packet it answers).
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/proto/bytes.h"

namespace traboule::dp {

inline constexpr unsigned kIpv4HeaderLen = 20;  // without options: the box writes none
inline constexpr unsigned kIpv6HeaderLen = 40;
inline constexpr uint16_t kIpv4DontFragment = 0x4000;

// The Internet checksum (RFC 1071) of a 20-byte IPv4 header whose checksum field is zero, ready
// to store as it is (the one's-complement sum does not depend on the byte order of the loads).
inline uint16_t ipv4_header_checksum(const uint8_t* ip) noexcept {
  uint32_t sum = 0;
  for (unsigned i = 0; i < kIpv4HeaderLen; i += 2) sum += load_raw16(ip + i);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

struct Ipv4Fields {
  uint8_t tos = 0;  // DSCP << 2 | ECN
  uint16_t total_len = 0;
  uint16_t id = 0;
  uint16_t frag = kIpv4DontFragment;  // flags and fragment offset
  uint8_t ttl = 64;
  uint8_t proto = 0;
  const uint8_t* src = nullptr;  // 4 bytes, network order
  const uint8_t* dst = nullptr;
};

// 20 bytes at `ip`, checksum included.
inline void write_ipv4_header(uint8_t* ip, const Ipv4Fields& f) noexcept {
  uint8_t src[4], dst[4];
  std::memcpy(src, f.src, 4);
  std::memcpy(dst, f.dst, 4);
  ip[0] = 0x45;
  ip[1] = f.tos;
  put16(ip + 2, f.total_len);
  put16(ip + 4, f.id);
  put16(ip + 6, f.frag);
  ip[8] = f.ttl;
  ip[9] = f.proto;
  put16(ip + 10, 0);
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  store_raw16(ip + 10, ipv4_header_checksum(ip));
}

struct Ipv6Fields {
  uint8_t tclass = 0;       // DSCP << 2 | ECN
  uint32_t flow_label = 0;  // low 20 bits
  uint16_t payload_len = 0;
  uint8_t next = 0;
  uint8_t hop_limit = 64;
  const uint8_t* src = nullptr;  // 16 bytes
  const uint8_t* dst = nullptr;
};

// 40 bytes at `ip`.
inline void write_ipv6_header(uint8_t* ip, const Ipv6Fields& f) noexcept {
  uint8_t src[16], dst[16];
  std::memcpy(src, f.src, 16);
  std::memcpy(dst, f.dst, 16);
  put32(ip, 6u << 28 | uint32_t{f.tclass} << 20 | (f.flow_label & 0xfffff));
  put16(ip + 4, f.payload_len);
  ip[6] = f.next;
  ip[7] = f.hop_limit;
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
}

}  // namespace traboule::dp

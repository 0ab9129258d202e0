// SPDX-License-Identifier: Apache-2.0
// Network-order (big-endian) loads and stores on byte spans, for every codec and header
// builder: one definition, no alignment assumption.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace traboule::dp {

inline void put16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) noexcept {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
inline uint16_t get16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t get32(const uint8_t* p) noexcept {
  return uint32_t{get16(p)} << 16 | get16(p + 2);
}
inline uint64_t get64(const uint8_t* p) noexcept {
  return uint64_t{get32(p)} << 32 | get32(p + 4);
}
inline void put64(uint8_t* p, uint64_t v) noexcept {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}

// Words as they sit in memory (network order kept, no swap): for one's complement sums, which
// are byte-order independent (RFC 1071 §2(B)), and compares against constants in network order.
inline uint16_t load_raw16(const uint8_t* p) noexcept {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_raw32(const void* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store_raw16(uint8_t* p, uint16_t v) noexcept {
  std::memcpy(p, &v, 2);
}
// The first byte in memory of a word loaded with load_raw32 (an IPv4 address's first octet).
inline uint8_t first_octet(uint32_t raw) noexcept {
  uint8_t b[4];
  std::memcpy(b, &raw, 4);
  return b[0];
}

// A 16-bit field read or written through a struct in network order, to and from host order.
inline constexpr uint16_t be16_to_host(uint16_t v) noexcept {
  if constexpr (std::endian::native == std::endian::little) return __builtin_bswap16(v);
  return v;
}
inline constexpr uint16_t host_to_be16(uint16_t v) noexcept {
  return be16_to_host(v);
}

}  // namespace traboule::dp

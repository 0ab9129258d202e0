// SPDX-License-Identifier: Apache-2.0
// Network-order (big-endian) loads and stores on byte spans, for every codec and header
// builder: one definition, no alignment assumption.
#pragma once

#include <bit>
#include <cstdint>

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

// A 16-bit field read or written through a struct in network order, to and from host order.
inline constexpr uint16_t be16_to_host(uint16_t v) noexcept {
  if constexpr (std::endian::native == std::endian::little) return __builtin_bswap16(v);
  return v;
}
inline constexpr uint16_t host_to_be16(uint16_t v) noexcept {
  return be16_to_host(v);
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// IPv4 and IPv6 addresses in one 16-byte value (IPv4 as ::ffff:a.b.c.d), and prefixes.
// One representation keeps flow keys, neighbour tables and rules free of per-family branches.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace traboule::dp {

struct IpAddr {
  alignas(8) std::array<uint8_t, 16> b{};

  static IpAddr v4(uint32_t host_order) {
    IpAddr a;
    a.b[10] = 0xff;
    a.b[11] = 0xff;
    a.b[12] = static_cast<uint8_t>(host_order >> 24);
    a.b[13] = static_cast<uint8_t>(host_order >> 16);
    a.b[14] = static_cast<uint8_t>(host_order >> 8);
    a.b[15] = static_cast<uint8_t>(host_order);
    return a;
  }
  // From 4 bytes in network order (as found in a packet).
  static IpAddr v4_bytes(const void* p) {
    IpAddr a;
    a.b[10] = 0xff;
    a.b[11] = 0xff;
    std::memcpy(&a.b[12], p, 4);
    return a;
  }
  static IpAddr v6_bytes(const void* p) {
    IpAddr a;
    std::memcpy(a.b.data(), p, 16);
    return a;
  }
  bool is_v4() const {
    uint64_t w0;
    uint32_t w1;
    std::memcpy(&w0, b.data(), 8);
    std::memcpy(&w1, b.data() + 8, 4);
    return w0 == 0 && w1 == 0xffff0000u;  // bytes 8..11 = 00 00 ff ff (little endian load)
  }
  uint32_t v4_host() const {
    return (uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) | b[15];
  }
  const uint8_t* v4_ptr() const { return &b[12]; }
  bool is_zero() const {
    uint64_t w0, w1;
    std::memcpy(&w0, b.data(), 8);
    std::memcpy(&w1, b.data() + 8, 8);
    return (w0 | w1) == 0;
  }
  // Two 64-bit words: compared and hashed without a memcmp call on the hot path.
  uint64_t word(unsigned i) const noexcept {
    uint64_t w;
    std::memcpy(&w, b.data() + size_t{8} * i, 8);
    return w;
  }
  friend bool operator==(const IpAddr& x, const IpAddr& y) noexcept {
    return ((x.word(0) ^ y.word(0)) | (x.word(1) ^ y.word(1))) == 0;
  }
  friend auto operator<=>(const IpAddr& x, const IpAddr& y) {
    return std::memcmp(x.b.data(), y.b.data(), 16) <=> 0;
  }

  // Slow path helpers (control plane, tests): text form and parsing. nullopt on bad text.
  static std::optional<IpAddr> parse(std::string_view text);
  std::string str() const;
};

// A prefix on the 128-bit form; an IPv4 /n is stored as /(96+n).
struct IpPrefix {
  IpAddr addr;      // host bits cleared
  uint8_t len = 0;  // on the 128-bit form
  bool v4 = false;  // an IPv4 prefix matches only IPv4 addresses, an IPv6 one only IPv6

  bool contains(const IpAddr& a) const noexcept { return contains(a, a.is_v4()); }
  // The same, with the address' family already known (the hot path has it from parse).
  bool contains(const IpAddr& a, bool a_is_v4) const noexcept {
    if (a_is_v4 != v4) return false;  // ::/0 is "all IPv6", not "everything"
    // Masks on the two words in memory order (the words are loaded little-endian).
    const uint64_t m0 = mask_word(len), m1 = mask_word(len > 64 ? len - 64 : 0);
    return (((a.word(0) ^ addr.word(0)) & m0) | ((a.word(1) ^ addr.word(1)) & m1)) == 0;
  }
  static uint64_t mask_word(unsigned bits) noexcept {
    if (bits >= 64) return ~uint64_t{0};
    // `bits` leading bytes-order bits set, as a little-endian load of big-endian bytes sees them.
    uint64_t be = bits == 0 ? 0 : ~uint64_t{0} << (64 - bits);
    return __builtin_bswap64(be);
  }
  // "10.0.0.0/8", "2001:db8::/32", or a bare address (host prefix). nullopt on bad text,
  // including IPv4-mapped IPv6 text ("::ffff:10.0.0.0/8"): write IPv4 prefixes as IPv4.
  static std::optional<IpPrefix> parse(std::string_view text);
  std::string str() const;
};

}  // namespace traboule::dp

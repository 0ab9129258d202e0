// SPDX-License-Identifier: Apache-2.0
// Checksums for tests that check what a stage wrote, independent of the data plane's own code:
// RFC 1071 sums over big-endian words, and whole frames checked against DPDK's arithmetic.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ip.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace traboule::testing {

// The 16-bit words of p[0, n) added to `acc`, unfolded; an odd last byte is the high half.
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) acc += static_cast<uint32_t>(p[n - 1] << 8);
  return acc;
}
// The carries folded back in (not complemented: a correct checksum area sums to 0xffff).
inline uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}
// The IPv4 header at b[l3] carries a correct header checksum.
inline bool ipv4_header_ok(const std::vector<uint8_t>& b, size_t l3) {
  return fold(sum16(&b[l3], (b[l3] & 0x0f) * 4u)) == 0xffff;
}

// The frame's IPv4 header checksum and its TCP, UDP, ICMP or ICMPv6 checksum, each recomputed
// from scratch with DPDK (the field zeroed in a copy) and compared with what the frame carries.
// The frame starts with a 14-byte Ethernet header: no VLAN, no IPv6 extension headers (in the
// outer packet). A zero UDP checksum over IPv4 is accepted.
inline ::testing::AssertionResult checksums_ok(const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> b = frame;
  const size_t l3 = 14;
  if (b.size() < l3 + 20) return ::testing::AssertionFailure() << "short frame";
  const bool v4 = (b[l3] >> 4) == 4;
  size_t l4;
  uint8_t proto;
  if (v4) {
    const size_t ihl = (b[l3] & 0x0f) * 4u;
    const uint16_t stored = static_cast<uint16_t>(b[l3 + 10] << 8 | b[l3 + 11]);
    b[l3 + 10] = b[l3 + 11] = 0;
    const uint16_t want = rte_be_to_cpu_16(rte_ipv4_cksum(reinterpret_cast<rte_ipv4_hdr*>(&b[l3])));
    b[l3 + 10] = static_cast<uint8_t>(stored >> 8);
    b[l3 + 11] = static_cast<uint8_t>(stored);
    if (stored != want)
      return ::testing::AssertionFailure() << "IPv4 header checksum " << stored << " != " << want;
    l4 = l3 + ihl;
    proto = b[l3 + 9];
  } else {
    l4 = l3 + 40;
    proto = b[l3 + 6];
  }
  const size_t off = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
  const uint16_t stored = static_cast<uint16_t>(b[l4 + off] << 8 | b[l4 + off + 1]);
  if (proto == IPPROTO_UDP && stored == 0 && v4) return ::testing::AssertionSuccess();
  b[l4 + off] = b[l4 + off + 1] = 0;
  uint16_t want;
  if (proto == IPPROTO_ICMP) {
    want = rte_be_to_cpu_16(static_cast<uint16_t>(~rte_raw_cksum(&b[l4], b.size() - l4)));
  } else if (v4) {
    want = rte_be_to_cpu_16(rte_ipv4_udptcp_cksum(reinterpret_cast<rte_ipv4_hdr*>(&b[l3]), &b[l4]));
  } else {
    want = rte_be_to_cpu_16(rte_ipv6_udptcp_cksum(reinterpret_cast<rte_ipv6_hdr*>(&b[l3]), &b[l4]));
  }
  if (stored != want)
    return ::testing::AssertionFailure()
           << "L4 (proto " << int{proto} << ") checksum " << stored << " != " << want;
  return ::testing::AssertionSuccess();
}

}  // namespace traboule::testing

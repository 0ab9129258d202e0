// SPDX-License-Identifier: Apache-2.0
// The IPv4/IPv6 header builders of proto/ip_header.h: every field where RFC 791 / RFC 8200 put
// it, the IPv4 checksum against a published example and against DPDK's rte_ipv4_cksum (an
// independent implementation), out-of-range inputs masked, and addresses that alias the header
// being written (a reply built over the request it answers).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_ip.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/proto/ip_header.h"

namespace traboule::dp {
namespace {

uint16_t dpdk_sum(const uint8_t* ip) {
  uint8_t copy[kIpv4HeaderLen];
  std::memcpy(copy, ip, sizeof copy);
  put16(copy + 10, 0);
  const uint16_t c = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(copy));
  return c;  // as stored in memory, like ipv4_header_checksum
}

TEST(IpHeader, Ipv4FieldsAndChecksumTable) {
  struct Row {
    const char* what;
    Ipv4Fields f;
    const char* src;
    const char* dst;
    std::array<uint8_t, 20> want;  // the checksum bytes (10, 11) are checked apart
  };
  // The classic example (a UDP datagram 192.168.0.1 -> 192.168.0.199, checksum 0xb861).
  const Row rows[] = {
      {"published example",
       {.tos = 0, .total_len = 0x73, .id = 0, .ttl = 64, .proto = IPPROTO_UDP},
       "192.168.0.1",
       "192.168.0.199",
       {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
        0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}},
      {"DSCP EF, no DF, id, TTL 255",
       {.tos = 46 << 2, .total_len = 84, .id = 0xbeef, .frag = 0, .ttl = 255, .proto = 1},
       "10.0.0.1",
       "10.0.0.2",
       {0x45, 0xb8, 0x00, 0x54, 0xbe, 0xef, 0x00, 0x00, 0xff, 0x01,
        0x00, 0x00, 10,   0,    0,    1,    10,   0,    0,    2}},
      {"all ones where a field can be",
       {.tos = 0xff, .total_len = 0xffff, .id = 0xffff, .frag = 0xffff, .ttl = 0xff, .proto = 0xff},
       "255.255.255.255",
       "255.255.255.255",
       {0x45, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x00, 255,  255,  255,  255,  255,  255,  255,  255}},
      {"all zero addresses",
       {.total_len = 20, .proto = 0},
       "0.0.0.0",
       "0.0.0.0",
       {0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
  };
  for (const Row& r : rows) {
    const IpAddr s = *IpAddr::parse(r.src), d = *IpAddr::parse(r.dst);
    Ipv4Fields f = r.f;
    f.src = s.v4_ptr();
    f.dst = d.v4_ptr();
    uint8_t ip[kIpv4HeaderLen];
    std::memset(ip, 0xa5, sizeof ip);  // nothing of what was there survives
    write_ipv4_header(ip, f);
    for (unsigned i = 0; i < kIpv4HeaderLen; ++i) {
      if (i == 10 || i == 11) continue;  // the checksum, checked below
      EXPECT_EQ(ip[i], r.want[i]) << r.what << " byte " << i;
    }
    if (std::string(r.what) == "published example") {
      EXPECT_EQ(get16(ip + 10), 0xb861) << r.what;
    }
    uint16_t stored;
    std::memcpy(&stored, ip + 10, 2);
    EXPECT_EQ(stored, dpdk_sum(ip)) << r.what;
    // A receiver's check: the sum over the whole header, checksum included, is all ones.
    EXPECT_EQ(rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip)), 0) << r.what;
  }
}

TEST(IpHeader, Ipv4ChecksumAgreesWithDpdkOnRandomHeaders) {
  std::mt19937 rng(12);
  for (int i = 0; i < 20000; ++i) {
    uint8_t a[4], b[4];
    for (auto& x : a) x = static_cast<uint8_t>(rng());
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    uint8_t ip[kIpv4HeaderLen];
    write_ipv4_header(ip, {.tos = static_cast<uint8_t>(rng()),
                           .total_len = static_cast<uint16_t>(rng()),
                           .id = static_cast<uint16_t>(rng()),
                           .frag = static_cast<uint16_t>(rng()),
                           .ttl = static_cast<uint8_t>(rng()),
                           .proto = static_cast<uint8_t>(rng()),
                           .src = a,
                           .dst = b});
    uint16_t stored;
    std::memcpy(&stored, ip + 10, 2);
    ASSERT_EQ(stored, dpdk_sum(ip)) << "header " << i;
  }
}

TEST(IpHeader, AddressesMayAliasTheHeaderBeingWritten) {
  // A reply written over its request: source and destination swapped in place.
  uint8_t ip[kIpv4HeaderLen];
  const IpAddr s = *IpAddr::parse("198.51.100.7"), d = *IpAddr::parse("203.0.113.9");
  write_ipv4_header(ip,
                    {.total_len = 40, .proto = IPPROTO_TCP, .src = s.v4_ptr(), .dst = d.v4_ptr()});
  write_ipv4_header(ip, {.total_len = 40, .proto = IPPROTO_TCP, .src = ip + 16, .dst = ip + 12});
  EXPECT_EQ(std::memcmp(ip + 12, d.v4_ptr(), 4), 0);
  EXPECT_EQ(std::memcmp(ip + 16, s.v4_ptr(), 4), 0);
  EXPECT_EQ(rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip)), 0);

  uint8_t ip6[kIpv6HeaderLen];
  const IpAddr s6 = *IpAddr::parse("2001:db8::1"), d6 = *IpAddr::parse("2001:db8::2");
  write_ipv6_header(
      ip6, {.payload_len = 8, .next = IPPROTO_UDP, .src = s6.b.data(), .dst = d6.b.data()});
  write_ipv6_header(ip6, {.payload_len = 8, .next = IPPROTO_UDP, .src = ip6 + 24, .dst = ip6 + 8});
  EXPECT_EQ(std::memcmp(ip6 + 8, d6.b.data(), 16), 0);
  EXPECT_EQ(std::memcmp(ip6 + 24, s6.b.data(), 16), 0);
}

TEST(IpHeader, Ipv6FieldsTable) {
  struct Row {
    const char* what;
    uint8_t tclass;
    uint32_t flow;
    uint16_t payload;
    uint8_t next, hop;
    uint32_t want_word0;
  };
  const Row rows[] = {
      {"defaults", 0, 0, 0, 0, 64, 0x60000000u},
      {"DSCP AF41 with ECN", (34 << 2) | 1, 0, 1200, IPPROTO_UDP, 64, 0x68900000u},
      {"flow label kept", 0, 0xabcde, 8, IPPROTO_ICMPV6, 255, 0x600abcdeu},
      {"flow label over 20 bits: masked", 0xff, 0xfffabcde, 8, IPPROTO_TCP, 1, 0x6ffabcdeu},
      {"a hash as flow label: high bits dropped", 0, 0x12345678, 0xffff, 59, 0, 0x60045678u},
  };
  const IpAddr s = *IpAddr::parse("2001:db8::a"), d = *IpAddr::parse("fe80::1");
  for (const Row& r : rows) {
    uint8_t ip[kIpv6HeaderLen];
    std::memset(ip, 0x5a, sizeof ip);
    write_ipv6_header(ip, {.tclass = r.tclass,
                           .flow_label = r.flow,
                           .payload_len = r.payload,
                           .next = r.next,
                           .hop_limit = r.hop,
                           .src = s.b.data(),
                           .dst = d.b.data()});
    EXPECT_EQ(get32(ip), r.want_word0) << r.what;
    EXPECT_EQ(ip[0] >> 4, 6) << r.what;
    EXPECT_EQ(get16(ip + 4), r.payload) << r.what;
    EXPECT_EQ(ip[6], r.next) << r.what;
    EXPECT_EQ(ip[7], r.hop) << r.what;
    EXPECT_EQ(std::memcmp(ip + 8, s.b.data(), 16), 0) << r.what;
    EXPECT_EQ(std::memcmp(ip + 24, d.b.data(), 16), 0) << r.what;
  }
}

}  // namespace
}  // namespace traboule::dp

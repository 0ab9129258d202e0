// SPDX-License-Identifier: Apache-2.0
// IpAddr / IpPrefix: parsing, text form, and prefix matching at every interesting length,
// including the IPv4-mapped form and hostile text.
#include <gtest/gtest.h>

#include "dataplane/proto/ip_addr.h"
#include "dataplane/tables/flow_key.h"

namespace traboule::dp {
namespace {

TEST(IpPrefix, ContainsTable) {
  struct Row {
    const char* prefix;
    const char* addr;
    bool in;
  };
  const Row rows[] = {
      {"0.0.0.0/0", "203.0.113.9", true},
      {"0.0.0.0/0", "2001:db8::1", false},
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"192.168.10.0/24", "192.168.10.77", true},
      {"192.168.10.0/24", "192.168.11.77", false},
      {"192.168.10.0/23", "192.168.11.77", true},
      {"192.168.10.5/32", "192.168.10.5", true},
      {"192.168.10.5/32", "192.168.10.4", false},
      {"192.168.10.128/25", "192.168.10.127", false},
      {"::/0", "2001:db8::1", true},
      {"::/0", "10.0.0.1", false},  // families never mix
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"2001:db8:0:1::/64", "2001:db8:0:1:ffff::1", true},
      {"2001:db8:0:1::/64", "2001:db8:0:2::1", false},
      {"2001:db8:0:1:8000::/65", "2001:db8:0:1:8000::1", true},
      {"2001:db8:0:1:8000::/65", "2001:db8:0:1:7fff::1", false},
      {"2001:db8::1/128", "2001:db8::1", true},
      {"2001:db8::1/128", "2001:db8::2", false},
  };
  for (const Row& r : rows) {
    auto p = IpPrefix::parse(r.prefix);
    auto a = IpAddr::parse(r.addr);
    ASSERT_TRUE(p && a) << r.prefix << " " << r.addr;
    EXPECT_EQ(p->contains(*a), r.in) << r.prefix << " contains " << r.addr;
  }
}

TEST(IpPrefix, ParsesAndPrints) {
  EXPECT_EQ(IpPrefix::parse("192.168.10.77/24")->str(), "192.168.10.0/24");
  EXPECT_EQ(IpPrefix::parse("2001:db8::1/32")->str(), "2001:db8::/32");
  EXPECT_EQ(IpPrefix::parse("10.1.2.3")->str(), "10.1.2.3/32");
  for (const char* bad : {"", "/", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x",
                          "::/129", "10.0.0/8", "300.1.1.1/8", "fe80::1%eth0/64", "10.0.0.0/ 8",
                          "::ffff:10.0.0.0/8", "::ffff:10.0.0.0/104"})
    EXPECT_FALSE(IpPrefix::parse(bad)) << bad;
}

TEST(IpAddr, MappedFormAndEquality) {
  auto a = *IpAddr::parse("192.0.2.1");
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.v4_host(), 0xc0000201u);
  EXPECT_EQ(a.str(), "192.0.2.1");
  EXPECT_EQ(a, IpAddr::v4(0xc0000201u));
  EXPECT_FALSE(IpAddr::parse("2001:db8::1")->is_v4());
  EXPECT_NE(*IpAddr::parse("2001:db8::1"), *IpAddr::parse("2001:db8::2"));
  EXPECT_FALSE(IpAddr::parse("1.2.3"));
}

TEST(FlowKey, BothDirectionsGiveOneKey) {
  PacketMeta fwd, rev;
  fwd.src = *IpAddr::parse("192.168.10.10");
  fwd.dst = *IpAddr::parse("203.0.113.10");
  fwd.src_port = 40000;
  fwd.dst_port = 443;
  fwd.l4_proto = 6;
  rev = fwd;
  std::swap(rev.src, rev.dst);
  std::swap(rev.src_port, rev.dst_port);
  FlowKey k1, k2;
  uint8_t d1 = make_flow_key(fwd, k1), d2 = make_flow_key(rev, k2);
  EXPECT_NE(d1, d2);
  EXPECT_EQ(std::memcmp(&k1, &k2, sizeof k1), 0);
  EXPECT_EQ(flow_hash(k1), flow_hash(k2));
  // Same address both sides: the port breaks the tie.
  PacketMeta self = fwd;
  self.dst = self.src;
  PacketMeta self_rev = self;
  std::swap(self_rev.src_port, self_rev.dst_port);
  FlowKey k3, k4;
  EXPECT_NE(make_flow_key(self, k3), make_flow_key(self_rev, k4));
  EXPECT_EQ(std::memcmp(&k3, &k4, sizeof k3), 0);
}

}  // namespace
}  // namespace traboule::dp

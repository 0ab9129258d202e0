// SPDX-License-Identifier: Apache-2.0
// The FIB: longest-prefix match for IPv4 and IPv6 from a route snapshot, table-driven, with the
// hostile rows (prefix lengths past the family, host bits, duplicates, /0, ids outside the
// next-hop table, 3000 prefixes, addresses matching nothing), and two FIBs alive at once (the
// RCU swap keeps the old one until workers are past it).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/tables/fib.h"

namespace traboule::dp {
namespace {

IpAddr ip(const char* text) {
  auto a = IpAddr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddr{});
}

FibRoute route(const char* addr, uint8_t len, uint32_t nh) {
  return FibRoute{ip(addr), len, nh};
}

std::vector<NextHop> next_hops() {
  return {
      NextHop{NextHopKind::kLan, 0, IpAddr{}, 0},              // 0: lan segment 0, connected
      NextHop{NextHopKind::kLan, 0, ip("192.168.10.254"), 0},  // 1: behind an L3 switch
      NextHop{NextHopKind::kOverlaySite, 0, IpAddr{}, 7},      // 2: site 7 via the hub
      NextHop{NextHopKind::kHub, 0, IpAddr{}, 0},              // 3: the hub
      NextHop{NextHopKind::kInternet, 1, IpAddr{}, 0},         // 4: breakout on uplink 1
      NextHop{NextHopKind::kBlackhole, 0, IpAddr{}, 0},        // 5
  };
}

struct LookupRow {
  const char* addr;
  uint32_t want;
};

TEST(Fib, LongestPrefixMatchTable) {
  const std::vector<FibRoute> routes = {
      route("0.0.0.0", 0, 4),         route("10.0.0.0", 8, 3),    route("10.1.0.0", 16, 2),
      route("10.1.2.0", 24, 1),       route("10.1.2.128", 25, 5), route("10.1.2.130", 32, 0),
      route("192.168.10.0", 24, 0),   route("2001:db8::", 32, 3), route("2001:db8:1::", 48, 2),
      route("2001:db8:1::1", 128, 0), route("fd00::", 8, 5),
  };
  FibBuildReport rep;
  auto fib = Fib::build(next_hops(), routes, &rep);
  ASSERT_NE(fib, nullptr) << rep.error;
  EXPECT_EQ(rep.installed_v4, 7u);
  EXPECT_EQ(rep.installed_v6, 4u);
  const LookupRow rows[] = {
      {"8.8.8.8", 4},
      {"10.9.9.9", 3},
      {"10.1.9.9", 2},
      {"10.1.2.3", 1},
      {"10.1.2.129", 5},
      {"10.1.2.130", 0},
      {"10.1.2.131", 5},
      {"192.168.10.77", 0},
      {"2001:db8::5", 3},
      {"2001:db8:1::2", 2},
      {"2001:db8:1::1", 0},
      {"fd12::1", 5},
      {"2001:db9::1", Fib::kNoRoute},  // no IPv6 default: v4's /0 does not cover IPv6
      {"::1", Fib::kNoRoute},
  };
  std::vector<IpAddr> addrs;
  for (const LookupRow& r : rows) {
    EXPECT_EQ(fib->lookup(ip(r.addr)), r.want) << r.addr;
    addrs.push_back(ip(r.addr));
  }
  std::vector<uint32_t> out(addrs.size(), 12345);
  fib->lookup_bulk(addrs.data(), out.data(), static_cast<unsigned>(addrs.size()));
  for (size_t i = 0; i < addrs.size(); ++i) EXPECT_EQ(out[i], rows[i].want) << rows[i].addr;
  const NextHop* nh = fib->next_hop(fib->lookup(ip("10.1.9.9")));
  ASSERT_NE(nh, nullptr);
  EXPECT_EQ(nh->kind, NextHopKind::kOverlaySite);
  EXPECT_EQ(nh->site_id, 7u);
  EXPECT_EQ(fib->next_hop(Fib::kNoRoute), nullptr);
  EXPECT_STREQ(next_hop_kind_name(nh->kind), "overlay_site");
}

// Each hostile row is refused with its own counter and the others still install.
struct HostileRow {
  const char* name;
  FibRoute r;
  uint32_t FibBuildReport::*counter;
};

TEST(Fib, HostileRowsAreCountedAndSkipped) {
  const HostileRow rows[] = {
      {"v4 length 33", route("10.0.0.0", 33, 0), &FibBuildReport::bad_prefix_len},
      {"v4 length 255", route("10.0.0.0", 255, 0), &FibBuildReport::bad_prefix_len},
      {"v6 length 129", route("2001:db8::", 129, 0), &FibBuildReport::bad_prefix_len},
      {"v4 host bits", route("10.1.2.3", 24, 0), &FibBuildReport::host_bits_set},
      {"v6 host bits", route("2001:db8::1", 64, 0), &FibBuildReport::host_bits_set},
      {"v4 /0 with bits", route("1.0.0.0", 0, 0), &FibBuildReport::host_bits_set},
      {"next hop 6", route("10.2.0.0", 16, 6), &FibBuildReport::bad_next_hop},
      {"next hop max", route("10.3.0.0", 16, 0xffffffffu), &FibBuildReport::bad_next_hop},
      {"duplicate", route("10.4.0.0", 16, 1), &FibBuildReport::duplicate_prefix},
  };
  for (const HostileRow& row : rows) {
    std::vector<FibRoute> routes = {route("10.4.0.0", 16, 2), row.r, route("10.5.0.0", 16, 3)};
    FibBuildReport rep;
    auto fib = Fib::build(next_hops(), routes, &rep);
    ASSERT_NE(fib, nullptr) << row.name << ": " << rep.error;
    EXPECT_EQ(rep.*(row.counter), 1u) << row.name;
    EXPECT_EQ(rep.installed_v4, 2u) << row.name;
    EXPECT_EQ(fib->lookup(ip("10.4.1.1")), 2u) << row.name << ": the first row wins";
    EXPECT_EQ(fib->lookup(ip("10.5.1.1")), 3u) << row.name;
    EXPECT_EQ(fib->lookup(ip("10.2.0.1")), Fib::kNoRoute) << row.name;
    EXPECT_EQ(fib->lookup(ip("10.1.2.3")), Fib::kNoRoute) << row.name;
  }
}

TEST(Fib, EmptyAndDefaultOnly) {
  auto empty = Fib::build(next_hops(), {}, nullptr);
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->lookup(ip("10.0.0.1")), Fib::kNoRoute);
  EXPECT_EQ(empty->lookup(ip("2001:db8::1")), Fib::kNoRoute);
  const std::vector<FibRoute> defaults = {route("0.0.0.0", 0, 4), route("::", 0, 3)};
  auto def = Fib::build(next_hops(), defaults, nullptr);
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->lookup(ip("255.255.255.255")), 4u);
  EXPECT_EQ(def->lookup(ip("0.0.0.0")), 4u);
  EXPECT_EQ(def->lookup(ip("ffff::1")), 3u);
  // An empty next-hop table: every row refused, nothing matches.
  FibBuildReport rep;
  auto none = Fib::build({}, defaults, &rep);
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(rep.bad_next_hop, 2u);
  EXPECT_EQ(none->lookup(ip("1.2.3.4")), Fib::kNoRoute);
}

// The hub's scale: 150 sites × 20 prefixes (/24 and /28 so tbl8 groups are used too), and v6.
TEST(Fib, ThreeThousandPrefixes) {
  std::vector<NextHop> nhs;
  for (uint32_t s = 0; s < 150; ++s) nhs.push_back(NextHop{NextHopKind::kOverlaySite, 0, {}, s});
  std::vector<FibRoute> routes;
  for (uint32_t s = 0; s < 150; ++s) {
    for (uint32_t p = 0; p < 20; ++p) {
      const uint32_t base = 0x0a000000u | (s << 12) | (p << 4);  // 10.x.y.z/28
      routes.push_back(FibRoute{IpAddr::v4(base), 28, s});
    }
    IpAddr v6 = ip("2001:db8::");
    v6.b[4] = static_cast<uint8_t>(s);
    routes.push_back(FibRoute{v6, 48, s});
  }
  FibBuildReport rep;
  auto fib = Fib::build(nhs, routes, &rep);
  ASSERT_NE(fib, nullptr) << rep.error;
  EXPECT_EQ(rep.installed_v4, 3000u);
  EXPECT_EQ(rep.installed_v6, 150u);
  std::vector<uint32_t> ips, want;
  for (uint32_t s = 0; s < 150; ++s) {
    for (uint32_t p = 0; p < 20; ++p) {
      ips.push_back((0x0a000000u | (s << 12) | (p << 4)) + 9);
      want.push_back(s);
    }
    ips.push_back(0x0a000000u | (s << 12) | (25u << 4));  // between the site's prefixes
    want.push_back(Fib::kNoRoute);
  }
  std::vector<uint32_t> out(ips.size());
  fib->lookup_v4_bulk(ips.data(), out.data(), static_cast<unsigned>(ips.size()));
  EXPECT_EQ(out, want);
  IpAddr probe = ip("2001:db8::77");
  probe.b[4] = 149;
  EXPECT_EQ(fib->lookup(probe), 149u);
  probe.b[4] = 200;
  EXPECT_EQ(fib->lookup(probe), Fib::kNoRoute);
  // A burst of mixed families longer than one internal chunk comes back in order.
  std::vector<IpAddr> mixed;
  std::vector<uint32_t> want_mixed;
  for (uint32_t i = 0; i < 300; ++i) {
    const uint32_t s = i % 150;
    if (i % 3 == 0) {
      IpAddr a = ip("2001:db8::1");
      a.b[4] = static_cast<uint8_t>(s);
      mixed.push_back(a);
    } else {
      mixed.push_back(IpAddr::v4((0x0a000000u | (s << 12) | (3u << 4)) + 1));
    }
    want_mixed.push_back(s);
  }
  std::vector<uint32_t> got(mixed.size(), 0);
  fib->lookup_bulk(mixed.data(), got.data(), static_cast<unsigned>(mixed.size()));
  EXPECT_EQ(got, want_mixed);
}

// Two FIBs at once (old and new during a publication) have distinct EAL names and answers.
TEST(Fib, TwoAliveAtOnce) {
  const std::vector<FibRoute> a = {route("10.0.0.0", 8, 0), route("2001:db8::", 32, 0)};
  const std::vector<FibRoute> b = {route("10.0.0.0", 8, 3), route("2001:db8::", 32, 3)};
  auto fa = Fib::build(next_hops(), a, nullptr);
  auto fb = Fib::build(next_hops(), b, nullptr);
  ASSERT_NE(fa, nullptr);
  ASSERT_NE(fb, nullptr);
  EXPECT_EQ(fa->lookup(ip("10.1.1.1")), 0u);
  EXPECT_EQ(fb->lookup(ip("10.1.1.1")), 3u);
  fa.reset();  // freeing one leaves the other intact
  EXPECT_EQ(fb->lookup(ip("2001:db8::1")), 3u);
}

}  // namespace
}  // namespace traboule::dp

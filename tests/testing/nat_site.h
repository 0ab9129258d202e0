// SPDX-License-Identifier: Apache-2.0
// The site the NAT stage tests run on: LAN + fiber (IPv4 and IPv6) + lte (IPv4 only), with the
// addresses and MACs their frames use. Port ids are labels: no port is touched.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "dataplane/runtime/site.h"
#include "tests/testing/packet_builder.h"

namespace traboule::testing {

namespace nat_site {
inline constexpr uint16_t kLan = 0, kFiber = 1, kLte = 2;
inline constexpr const char* kLanMac = "02:00:00:00:0a:01";
inline constexpr const char* kHostMac = "02:00:00:00:0a:10";
inline constexpr const char* kFiberMac = "02:00:00:00:0b:01";
inline constexpr const char* kFiberGw = "02:00:00:00:0b:fe";
inline constexpr const char* kLteMac = "02:00:00:00:0c:01";
inline constexpr const char* kFiber4 = "100.64.1.2";
inline constexpr const char* kFiber6 = "2001:db8:1::2";
inline constexpr const char* kLte4 = "100.64.2.2";
inline constexpr const char* kHost4 = "192.168.10.10";
inline constexpr const char* kHost6 = "fd00:10::10";
inline constexpr const char* kSaas4 = "203.0.113.1";
inline constexpr const char* kSaas6 = "2001:db8:99::1";

// The address in `text`; a text that does not parse fails the test (and gives ::).
inline dp::IpAddr ip(const char* text) {
  auto a = dp::IpAddr::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(dp::IpAddr{});
}
}  // namespace nat_site

struct NatSite {
  dp::Site site;
  NatSite() {
    using namespace nat_site;
    auto mk = [&](const char* name, uint16_t port, bool lan, const char* mac, uint8_t uplink) {
      auto i = std::make_unique<dp::Interface>();
      i->name = name;
      i->port_id = port;
      i->is_lan = lan;
      i->mac = testing::mac(mac);
      i->uplink = uplink;
      i->neighbors = std::make_unique<dp::NeighborTable>(64);
      i->link_up = true;
      site.by_port[port] = i.get();
      return i;
    };
    auto lan = mk("lan", kLan, true, kLanMac, dp::kNoUplink);
    lan->v4 = dp::IfAddr{ip("192.168.10.1"), 24};
    auto fiber = mk("fiber", kFiber, false, kFiberMac, 0);
    fiber->v4 = dp::IfAddr{ip(kFiber4), 24};
    fiber->v6 = dp::IfAddr{ip(kFiber6), 64};
    auto lte = mk("lte", kLte, false, kLteMac, 1);
    lte->v4 = dp::IfAddr{ip(kLte4), 24};
    site.lan = lan.get();
    site.uplinks = {fiber.get(), lte.get()};
    site.lan_prefixes = {*dp::IpPrefix::parse("192.168.10.0/24"),
                         *dp::IpPrefix::parse("fd00:10::/64")};
    site.ifaces.push_back(std::move(lan));
    site.ifaces.push_back(std::move(fiber));
    site.ifaces.push_back(std::move(lte));
  }
};

}  // namespace traboule::testing

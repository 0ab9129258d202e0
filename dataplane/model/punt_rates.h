// SPDX-License-Identifier: Apache-2.0
// What the punt path (docs/kernel.md) hands the box's kernel, by class, and the rate each class
// may reach per worker: the config's view of it, without DPDK headers.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace traboule::dp {

enum class PuntClass : uint8_t {
  kArpNd,       // ARP replies and neighbour advertisements for the box (copies: we learn too)
  kDhcp,        // DHCP / DHCPv6 answers to the box's client
  kRouting,     // BGP (TCP 179), OSPF (protocol 89) from an allowed source
  kIcmp,        // ICMP errors and echo replies addressed to the box
  kManagement,  // TCP/UDP from a management.allow source (SSH, API, SNMP)
  kBox,         // answers to connections the box's kernel opened itself
};
inline constexpr unsigned kPuntClasses = 6;
inline constexpr std::array<std::string_view, kPuntClasses> kPuntClassNames{
    "arp_nd", "dhcp", "routing", "icmp", "management", "box"};

struct PuntRates {
  // Packets per second per worker; a burst of a quarter second's worth (at least 16) passes.
  std::array<uint32_t, kPuntClasses> pps{500, 50, 1000, 200, 2000, 5000};
};

}  // namespace traboule::dp

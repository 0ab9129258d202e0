// SPDX-License-Identifier: Apache-2.0
// What the data plane knows about the box: its interfaces (LAN and uplinks) with addresses,
// gateways and neighbour tables, the LAN prefixes and flow settings. Built once at
// start-up by the agent; afterwards only the atomics and neighbour tables change.
#pragma once

#include <rte_ether.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/core/ip_addr.h"
#include "dataplane/core/neighbor_table.h"
#include "dataplane/core/packet_meta.h"

namespace traboule::dp {

inline constexpr unsigned kMaxUplinks = 4;
inline constexpr uint16_t kMaxPorts = 32;

struct IfAddr {
  IpAddr addr;
  uint8_t plen = 0;  // on the address' own family (24 for a /24 IPv4)
};

struct Interface {
  std::string name;  // "lan", or the uplink's name ("fiber")
  uint16_t port_id = kNoPort;
  bool is_lan = false;
  uint8_t uplink = kNoUplink;  // uplink index for WAN interfaces
  uint16_t vlan = 0;           // an uplink on a VLAN: the 802.1Q id on its port's wire, else 0
  rte_ether_addr mac{};
  std::optional<IfAddr> v4;
  std::optional<IfAddr> v6;
  IpAddr v6_link_local;  // fe80::/64 from the MAC (EUI-64), answered in ND
  std::optional<IpAddr> gw4;
  std::optional<IpAddr> gw6;
  std::unique_ptr<NeighborTable> neighbors;
  std::atomic<bool> link_up{false};
};

// Idle timeouts, seconds.
struct FlowTimeouts {
  uint32_t tcp_syn = 30;
  uint32_t tcp_established = 7440;  // RFC 5382 minimum is 2 h 4 min
  uint32_t tcp_closing = 240;       // FIN seen (2 MSL)
  uint32_t tcp_closed = 10;         // RST seen
  uint32_t udp = 120;               // RFC 4787 REQ-5: at least 2 min
  uint32_t icmp = 30;
  uint32_t other = 60;
};

struct FlowSettings {
  uint32_t capacity = 1 << 16;  // per worker
  FlowTimeouts timeouts;
};

struct Site {
  std::vector<std::unique_ptr<Interface>> ifaces;  // LAN first, then uplinks in order
  std::array<Interface*, kMaxPorts> by_port{};     // port id → interface
  Interface* lan = nullptr;
  std::vector<Interface*> uplinks;  // by uplink index
  std::vector<IpPrefix> lan_prefixes;
  FlowSettings flows;

  Interface* iface(uint16_t port) const noexcept {
    return port < kMaxPorts ? by_port[port] : nullptr;
  }
  bool uplink_usable(uint8_t u) const noexcept {
    if (u >= uplinks.size()) return false;
    return uplinks[u]->link_up.load(std::memory_order_relaxed);
  }
  bool is_lan_dst(const IpAddr& a) const noexcept { return is_lan_dst(a, a.is_v4()); }
  bool is_lan_dst(const IpAddr& a, bool v4) const noexcept {
    for (auto& p : lan_prefixes)
      if (p.contains(a, v4)) return true;
    return false;
  }
};

// fe80::/64 + modified EUI-64 of the MAC.
IpAddr link_local_from_mac(const rte_ether_addr& mac);

}  // namespace traboule::dp

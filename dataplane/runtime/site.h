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

#include "dataplane/graph/mbuf_meta.h"
#include "dataplane/model/site_settings.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/tables/neighbor_table.h"

namespace traboule::dp {

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

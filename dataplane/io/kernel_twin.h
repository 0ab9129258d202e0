// SPDX-License-Identifier: Apache-2.0
// The kernel side of a twin (docs/kernel.md), through rtnetlink (libmnl): the twin's addresses,
// its sysctls (no router advertisements or autoconfiguration: the config owns the addresses),
// and its routes: on the LAN twin, the kernel's default route through the data plane (a
// gateway only the data plane answers); on an uplink's twin, a routing table of its own used by
// what the box sends from the uplink's address (answers to what came in there, a DHCP lease).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dataplane/proto/ip_addr.h"
#include "dataplane/runtime/site.h"

namespace traboule::dp {

struct TwinKernelSetup {
  std::string ifname;
  std::vector<IfAddr> addrs;
  bool default_route = false;  // LAN twin: default routes via the data plane's gateway
  // Uplink twin: default routes in table `table`, chosen by rules for the uplink's addresses.
  std::optional<IpAddr> gw4, gw6;
  unsigned table = 0;
  unsigned rule_priority = 0;
};

// The data plane's gateway on the LAN twin: link-local addresses no host uses, resolved by
// permanent neighbour entries to kTwinGatewayMac: never on a wire, only between the kernel and
// the data plane (the worker sends frames to it into the pipeline).
inline constexpr const char* kTwinGateway4 = "169.254.255.1";
inline constexpr const char* kTwinGateway6 = "fe80::7462:1";
inline constexpr uint8_t kTwinGatewayMac[6] = {0x02, 0x74, 0x62, 0x67, 0x77, 0x01};
// Rules and tables of the uplinks' twins: priority kTwinRuleBase + uplink, table
// kTwinTableBase + uplink.
inline constexpr unsigned kTwinRuleBase = 17000;
inline constexpr unsigned kTwinTableBase = 17000;

// Throws std::runtime_error naming the interface and the step that failed.
void configure_twin_kernel(const TwinKernelSetup& setup);
// Removes the rules a previous run left (rules outlive the interfaces they point to).
void remove_twin_rules(unsigned uplinks);
// Keeps the kernel's automatic source ports out of `ranges` ("40000-40255,49152-65535": the
// STAMP sessions' and the NAT's ports, whose answers the data plane takes for itself), added to
// what net.ipv4.ip_local_reserved_ports (IPv6 too) already holds in this namespace.
void reserve_kernel_ports(const std::string& ranges);
// True when the kernel has an interface of that name (a twin must not take an existing one).
bool kernel_interface_exists(const std::string& ifname);

}  // namespace traboule::dp

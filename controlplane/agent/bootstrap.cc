// SPDX-License-Identifier: Apache-2.0
#include "controlplane/agent/bootstrap.h"

#include <rte_ether.h>
#include <sched.h>

#include <algorithm>

namespace traboule::cp {
namespace {

// "--lcores", "--lcores=..."; short options also attached: "-l0-1".
bool has_any(const std::vector<std::string>& args, std::initializer_list<const char*> names) {
  for (auto& a : args)
    for (const char* n : names) {
      std::string o(n);
      if (a == o || a.rfind(o + (o.size() == 2 ? "" : "="), 0) == 0) return true;
    }
  return false;
}

rte_ether_addr parse_mac(const std::string& text) {
  rte_ether_addr a{};
  rte_ether_unformat_addr(text.c_str(), &a);  // format checked by the config loader
  return a;
}

}  // namespace

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> out;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (unsigned i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) out.push_back(i);
  if (out.empty()) out.push_back(0);
  return out;
}

std::vector<std::string> eal_arguments(const AgentConfig& c, const std::vector<unsigned>& cpus) {
  std::vector<std::string> a = {"trabouled"};
  a.insert(a.end(), c.eal.begin(), c.eal.end());
  bool any_pci = false;
  auto add_device = [&](std::string dev) {
    if (dev.rfind("net_af_packet", 0) == 0) {
      // AF_PACKET's default ring (512 frames) overflows silently under a TCP burst, and each
      // worker needs its own TX queue: sensible defaults unless the device string sets them.
      if (dev.find("framecnt=") == std::string::npos) dev += ",framecnt=4096";
      if (dev.find("qpairs=") == std::string::npos && c.dataplane.workers > 1)
        dev += ",qpairs=" + std::to_string(c.dataplane.workers);
    }
    if (is_vdev(dev)) {
      a.push_back("--vdev");
    } else {
      a.push_back("-a");
      any_pci = true;
    }
    a.push_back(dev);
  };
  add_device(c.lan.port.device);
  for (auto& u : c.uplinks) add_device(u.port.device);
  if (!any_pci && !has_any(c.eal, {"--no-pci"})) a.push_back("--no-pci");
  if (!has_any(c.eal, {"-l", "-c", "--lcores"})) {
    // Unpinned by default: each worker lcore may float over every allowed CPU, so daemons and
    // link emulators share a small box. Production pins with "-l" and dataplane.poll = busy.
    std::string cpuset = "(";
    for (size_t i = 0; i < cpus.size(); ++i) cpuset += (i ? "," : "") + std::to_string(cpus[i]);
    cpuset += ")";
    std::string map;
    for (unsigned w = 0; w < c.dataplane.workers; ++w)
      map += (w ? "," : "") + std::to_string(w) + "@" + cpuset;
    a.push_back("--lcores");
    a.push_back(map);
  }
  if (has_any(c.eal, {"--no-huge"}) && !has_any(c.eal, {"-m", "--socket-mem"})) {
    // Without hugepages EAL reserves only 64 MB by default: size it for the pool and flow tables.
    uint64_t mb = 64 + uint64_t{c.dataplane.mbufs} * 2560 / (1 << 20) +
                  uint64_t{c.flows.capacity} * c.dataplane.workers * 192 / (1 << 20);
    a.push_back("-m");
    a.push_back(std::to_string(mb));
  }
  return a;
}

std::unique_ptr<dp::Site> build_site(const AgentConfig& c) {
  auto site = std::make_unique<dp::Site>();
  auto make_iface = [&](const std::string& name, const PortConfig& p, bool lan) {
    auto itf = std::make_unique<dp::Interface>();
    itf->name = name;
    itf->is_lan = lan;
    itf->v4 = p.ipv4;
    itf->v6 = p.ipv6;
    itf->neighbors = std::make_unique<dp::NeighborTable>(c.dataplane.neighbors);
    return itf;
  };
  site->ifaces.push_back(make_iface("lan", c.lan.port, true));
  site->lan = site->ifaces.back().get();
  for (size_t i = 0; i < c.uplinks.size(); ++i) {
    const auto& u = c.uplinks[i];
    auto itf = make_iface(u.name, u.port, false);
    itf->uplink = static_cast<uint8_t>(i);
    itf->vlan = u.port.vlan;
    itf->gw4 = u.gateway4;
    itf->gw6 = u.gateway6;
    if (u.gateway_mac) {
      for (const auto& gw : {u.gateway4, u.gateway6})
        if (gw) itf->neighbors->set_static(*gw, parse_mac(*u.gateway_mac));
    }
    site->uplinks.push_back(itf.get());
    site->ifaces.push_back(std::move(itf));
  }
  site->lan_prefixes = c.lan.prefixes;
  site->flows = c.flows;
  return site;
}

std::vector<dp::PortSetup> port_setups(const AgentConfig& c) {
  std::vector<dp::PortSetup> out;
  auto add = [&](const std::string& label, const PortConfig& p) {
    dp::PortSetup s;
    s.label = label;
    s.device_name = device_name(p.device);
    if (p.mac) s.mac = parse_mac(*p.mac);
    s.workers = static_cast<uint16_t>(c.dataplane.workers);
    out.push_back(s);
  };
  add("lan", c.lan.port);
  for (auto& u : c.uplinks) add(u.name, u.port);
  return out;
}

}  // namespace traboule::cp

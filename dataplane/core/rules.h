// The minimal rule table standing in until the policy language lands: match on prefixes,
// ports, protocol and DSCP; the action is an ordered uplink preference list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/core/ip_addr.h"
#include "dataplane/core/packet_meta.h"

namespace traboule::dp {

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  bool contains(uint16_t p) const noexcept { return p >= lo && p <= hi; }
  bool any() const noexcept { return lo == 0 && hi == 65535; }
};

struct Rule {
  std::string name;
  std::vector<IpPrefix> src;  // empty: any
  std::vector<IpPrefix> dst;  // empty: any
  PortRange src_ports;
  PortRange dst_ports;
  uint8_t proto = 0;             // 0: any
  int16_t dscp = -1;             // -1: any
  std::vector<uint8_t> uplinks;  // uplink indexes, most preferred first

  bool matches(const PacketMeta& m) const noexcept;
};

// Rules in order; the last one must match everything (checked when the config is loaded).
struct RuleTable {
  std::vector<Rule> rules;

  // Index of the first matching rule, or rules.size() when none matches.
  uint16_t match(const PacketMeta& m) const noexcept {
    for (size_t i = 0; i < rules.size(); ++i)
      if (rules[i].matches(m)) return static_cast<uint16_t>(i);
    return static_cast<uint16_t>(rules.size());
  }
};

inline bool Rule::matches(const PacketMeta& m) const noexcept {
  if (proto != 0 && m.l4_proto != proto) return false;
  if (dscp >= 0 && m.dscp != dscp) return false;
  bool ports = (m.flags & meta_flag::kHasL4) != 0;
  if (!src_ports.any() && (!ports || !src_ports.contains(m.src_port))) return false;
  if (!dst_ports.any() && (!ports || !dst_ports.contains(m.dst_port))) return false;
  auto in = [](const std::vector<IpPrefix>& set, const IpAddr& a) {
    if (set.empty()) return true;
    for (auto& p : set)
      if (p.contains(a)) return true;
    return false;
  };
  return in(src, m.src) && in(dst, m.dst);
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/model/firewall_policy.h"

namespace traboule::dp {
namespace {

bool in_any(const std::vector<IpPrefix>& set, const IpAddr& a, bool v4) noexcept {
  for (const auto& p : set)
    if (p.contains(a, v4)) return true;
  return false;
}

}  // namespace

bool FirewallPolicy::is_inside(const IpAddr& a, bool v4,
                               const std::vector<IpPrefix>& site_lan) const noexcept {
  if (in_any(site_lan, a, v4)) return true;
  for (const auto& s : segments)
    if (in_any(s.prefixes, a, v4)) return true;
  return false;
}

bool FirewallPolicy::lan_source_ok(const IpAddr& src, bool v4, int32_t vid,
                                   const std::vector<IpPrefix>& site_lan) const noexcept {
  switch (lan_source) {
    case SourceCheck::kOff:
      return true;
    case SourceCheck::kLoose:
      return is_inside(src, v4, site_lan);
    case SourceCheck::kStrict:
      break;
  }
  bool in_segment = false;
  for (const auto& s : segments) {
    if (s.prefixes.empty()) continue;
    const bool contains = in_any(s.prefixes, src, v4);
    // The packet's own segment (by its VLAN) has addresses: the source must be one of them.
    if (vid >= 0 && s.vlan == vid && !contains) {
      // ...unless it holds prefixes of one family only and the source is of the other.
      bool family = false;
      for (const auto& p : s.prefixes) family |= p.v4 == v4;
      if (family) return false;
    }
    if (!contains) continue;
    // Another segment's address, sent from a different VLAN.
    if (s.vlan >= 0 && s.vlan != vid) return false;
    in_segment = true;
  }
  return in_segment || in_any(site_lan, src, v4);
}

int16_t FirewallPolicy::match(const FwPacket& p) const noexcept {
  for (size_t i = 0; i < rules.size(); ++i) {
    const FwRule& r = rules[i];
    if (r.from != p.from) continue;
    if (r.proto != 0 && r.proto != p.proto) continue;
    if (!r.dst_ports.empty()) {
      if (!p.has_ports) continue;
      bool hit = false;
      for (const auto& pr : r.dst_ports) hit |= pr.contains(p.dst_port);
      if (!hit) continue;
    }
    if (!r.src.empty() && !in_any(r.src, p.src, p.v4)) continue;
    if (!r.dst.empty() && !in_any(r.dst, p.dst, p.v4)) continue;
    if (r.to_segment >= 0) {
      const auto seg = static_cast<size_t>(r.to_segment);
      if (seg >= segments.size() || !in_any(segments[seg].prefixes, p.dst, p.v4)) continue;
    }
    return static_cast<int16_t>(i);
  }
  return kNoFwRule;
}

}  // namespace traboule::dp

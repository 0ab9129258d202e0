// The compiled policy as the data plane reads it: an immutable snapshot built by the control
// thread (controlplane/policy) and published with RCU (runtime/snapshot_slot.h). Workers load
// the pointer once per burst; nothing here changes after publication.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/core/ip_addr.h"
#include "dataplane/core/packet_meta.h"
#include "dataplane/core/rules.h"

namespace traboule::dp {

enum class UplinkRole : uint8_t { kPrimary, kBackup };
enum class PathStrategy : uint8_t { kPriority, kBestQuality, kLowestCost, kLoadBalance, kDuplicate };
// Where matched traffic goes: through the overlay to a hub, straight out with source NAT, or
// nowhere.
enum class Egress : uint8_t { kOverlay, kBreakout, kDrop };
// What a rule does when no path meets its SLA class.
enum class SlaFallback : uint8_t { kBestAvailable, kDrop };

inline constexpr uint8_t kNoClass = 0xff;
inline constexpr uint16_t kAppUnknown = 0;
inline constexpr uint16_t kCategoryUnknown = 0;

// Per uplink of the site, indexed like Site::uplinks (the policy names them by config name).
struct UplinkPolicy {
  std::string name;
  std::string kind;  // fiber, vdsl, adsl, sdsl, 4g, 5g, satellite, other
  uint64_t up_bps = 0;
  uint64_t down_bps = 0;
  uint32_t cost = 0;
  uint64_t monthly_cap_bytes = 0;  // 0: no cap
  UplinkRole role = UplinkRole::kPrimary;
  bool breakout = false;  // may carry direct internet breakout
};

struct SlaClass {
  std::string name;
  uint32_t max_latency_us = 0;  // one-way budget from RTT/2; 0: no bound
  uint32_t max_jitter_us = 0;   // 0: no bound
  uint32_t max_loss_ppm = 0;    // parts per million; 1'000'000: no bound
};

struct QosClass {
  std::string name;
  uint8_t priority = 0;      // 0 = highest; strict priority between levels
  uint16_t weight = 1;       // share among classes of the same priority
  uint64_t min_rate_bps = 0; // guaranteed, 0: none
  uint64_t max_rate_bps = 0; // cap (shaping/policing), 0: none
  int16_t dscp = -1;         // DSCP to set on egress, -1: keep
  bool critical = false;     // may use a backup uplink whose monthly cap is reached
};

struct AppDef {
  std::string name;      // "teams", or a custom name from the policy
  std::string category;  // "collaboration", ...
  uint16_t id = kAppUnknown;
  uint16_t category_id = kCategoryUnknown;
  bool custom = false;
  // Custom applications: matched in the data plane by these (any of each non-empty set).
  std::vector<std::string> domains;  // "*.example.org" (needs DNS/SNI recognition)
  std::vector<IpPrefix> prefixes;
  std::vector<PortRange> ports;
  uint8_t proto = 0;  // 0: any
};

struct RuleMatch {
  std::vector<IpPrefix> src;  // empty: any
  std::vector<IpPrefix> dst;
  std::vector<PortRange> src_ports;  // empty: any
  std::vector<PortRange> dst_ports;
  uint8_t proto = 0;       // 0: any
  uint64_t dscp_mask = 0;  // bit d set: DSCP d matches; 0: any
  int32_t vlan = -1;       // LAN VLAN id (outer tag), -1: any
  std::vector<uint16_t> apps;        // application ids, empty: any
  std::vector<uint16_t> categories;  // category ids, empty: any

  bool matches(const PacketMeta& m, uint16_t app, uint16_t category) const noexcept;
};

struct RuleAction {
  Egress egress = Egress::kOverlay;
  PathStrategy strategy = PathStrategy::kPriority;
  std::vector<uint8_t> uplinks;   // preference order (uplink indexes)
  std::vector<uint16_t> weights;  // load-balance weights, parallel to uplinks (or empty)
  uint8_t qos_class = kNoClass;
  uint8_t sla_class = kNoClass;
  SlaFallback fallback = SlaFallback::kBestAvailable;
};

struct CompiledRule {
  std::string name;
  RuleMatch match;
  RuleAction action;
};

struct PolicySnapshot {
  uint64_t version = 0;  // store version this was compiled from (0: built-in/bootstrap)
  std::string hash;      // sha256 (hex) of the canonical policy text
  std::vector<UplinkPolicy> uplinks;  // size == Site::uplinks.size()
  std::vector<SlaClass> sla_classes;
  std::vector<QosClass> qos_classes;
  std::vector<AppDef> apps;
  std::vector<CompiledRule> rules;  // evaluated in order; the last one is the default rule

  // Index of the first matching rule (the default rule matches everything).
  uint16_t match(const PacketMeta& m, uint16_t app, uint16_t category) const noexcept {
    for (size_t i = 0; i < rules.size(); ++i)
      if (rules[i].match.matches(m, app, category)) return static_cast<uint16_t>(i);
    return static_cast<uint16_t>(rules.empty() ? 0 : rules.size() - 1);
  }
};

inline bool RuleMatch::matches(const PacketMeta& m, uint16_t app,
                               uint16_t category) const noexcept {
  if (proto != 0 && m.l4_proto != proto) return false;
  if (dscp_mask != 0 && ((dscp_mask >> (m.dscp & 63)) & 1) == 0) return false;
  if (vlan >= 0 && (m.vlan_count == 0 || (m.vlan_outer & 0x0fff) != vlan)) return false;
  const bool ports = (m.flags & meta_flag::kHasL4) != 0;
  auto port_in = [ports](const std::vector<PortRange>& set, uint16_t p) {
    if (set.empty()) return true;
    if (!ports) return false;
    for (auto& r : set)
      if (r.contains(p)) return true;
    return false;
  };
  if (!port_in(src_ports, m.src_port) || !port_in(dst_ports, m.dst_port)) return false;
  auto addr_in = [](const std::vector<IpPrefix>& set, const IpAddr& a) {
    if (set.empty()) return true;
    for (auto& p : set)
      if (p.contains(a)) return true;
    return false;
  };
  if (!addr_in(src, m.src) || !addr_in(dst, m.dst)) return false;
  auto id_in = [](const std::vector<uint16_t>& set, uint16_t id) {
    if (set.empty()) return true;
    for (uint16_t x : set)
      if (x == id) return true;
    return false;
  };
  return id_in(apps, app) && id_in(categories, category);
}

}  // namespace traboule::dp

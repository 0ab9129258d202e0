// SPDX-License-Identifier: Apache-2.0
// The compiled policy as the data plane reads it: an immutable snapshot built by the control
// thread (controlplane/policy) and published with RCU (runtime/snapshot_slot.h). Workers load
// the pointer once per burst; nothing here changes after publication.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/model/domain_matcher.h"
#include "dataplane/model/firewall_policy.h"
#include "dataplane/model/packet_meta.h"
#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

enum class UplinkRole : uint8_t { kPrimary, kBackup };
enum class PathStrategy : uint8_t {
  kPriority,
  kBestQuality,
  kLowestCost,
  kLoadBalance,
  kDuplicate
};
// Where matched traffic goes: through the overlay to a hub, straight out with source NAT, or
// nowhere.
enum class Egress : uint8_t { kOverlay, kBreakout, kDrop };
// What a rule does when no path meets its SLA class.
enum class SlaFallback : uint8_t { kBestAvailable, kDrop };

inline constexpr uint8_t kNoClass = 0xff;
inline constexpr unsigned kMaxWorkers = 16;

inline void bump_relaxed(uint64_t& c, uint64_t by) noexcept {
  std::atomic_ref<uint64_t> r(c);
  r.store(r.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
inline uint64_t read_relaxed(const uint64_t& c) noexcept {
  return std::atomic_ref<const uint64_t>(c).load(std::memory_order_relaxed);
}

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  bool contains(uint16_t p) const noexcept { return p >= lo && p <= hi; }
  bool any() const noexcept { return lo == 0 && hi == 65535; }
  bool operator==(const PortRange&) const = default;
};

// Per rule and worker: written by that worker only (plain relaxed stores), summed by readers.
struct alignas(64) RuleHits {
  uint64_t flows = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
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
  bool metered = false;            // paid by volume: probed at probes.metered_interval_ms
  UplinkRole role = UplinkRole::kPrimary;
  bool breakout = false;  // may carry direct internet breakout
};

struct SlaClass {
  std::string name;
  uint32_t max_latency_us = 0;   // one-way budget from RTT/2; 0: no bound
  uint32_t max_jitter_us = 0;    // 0: no bound
  uint32_t max_loss_ppm = 0;     // parts per million; 1'000'000: no bound
  uint32_t hold_ms = 10000;      // a path that violated it must meet it this long to return
  uint32_t margin_percent = 20;  // ... and meet it with this margin (no chasing the threshold)
};

// An overlay peer (a hub) as the encap stage reads it: where to send, by family.
struct OverlayPeerDp {
  std::string name;
  std::vector<IpAddr> endpoints;  // in order of preference
  uint16_t port = 0;
};

struct QosClass {
  std::string name;
  uint8_t priority = 0;          // 0 = highest; strict priority between levels
  uint16_t weight = 1;           // share among classes of the same priority
  uint64_t min_rate_bps = 0;     // guaranteed, 0: none
  uint64_t max_rate_bps = 0;     // cap (shaping/policing), 0: none
  uint64_t ingress_max_bps = 0;  // policing of what arrives from an uplink, 0: none
  int16_t dscp = -1;             // DSCP to set on egress, -1: keep
  bool critical = false;         // may use a backup uplink whose monthly cap is reached
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
  uint8_t proto = 0;                 // 0: any
  uint64_t dscp_mask = 0;            // bit d set: DSCP d matches; 0: any
  int32_t vlan = -1;                 // LAN VLAN id (outer tag), -1: any
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
  std::vector<AppDef> apps;          // indexed by id: apps[i].id == i; apps[0] is "unknown"
  std::vector<CompiledRule> rules;   // evaluated in order; the last one is the default rule
  std::vector<OverlayPeerDp> peers;  // an edge's hubs (the first is used); empty on a hub
  // Domain pattern → application (custom applications' domains, then the box's SaaS lists),
  // for the names stage; null: no domain is known.
  std::shared_ptr<const DomainMatcher> domains;
  // Zones, segments (source check) and inbound rules (flow stage).
  FirewallPolicy firewall;

  // Hit counters, rules.size() * kMaxWorkers (worker-major), sized by prepare_hits() when the
  // snapshot is published: counters belong to the policy version they were counted under.
  mutable std::vector<RuleHits> hits;
  mutable std::vector<uint64_t> fw_hits;  // firewall.rules.size() * kMaxWorkers, the same way
  void prepare_hits() const {
    hits.assign(rules.size() * kMaxWorkers, RuleHits{});
    fw_hits.assign(firewall.rules.size() * kMaxWorkers, 0);
    fwd_hits.assign(firewall.forwards.size() * kMaxWorkers, 0);
  }
  mutable std::vector<uint64_t> fwd_hits;  // firewall.forwards: flows opened, per worker
  void count_fwd_hit(uint16_t f, unsigned worker) const noexcept {
    const size_t i = size_t{worker} * firewall.forwards.size() + f;
    if (f < firewall.forwards.size() && i < fwd_hits.size()) bump_relaxed(fwd_hits[i], 1);
  }
  uint64_t total_fwd_hits(size_t f) const noexcept {
    uint64_t t = 0;
    for (unsigned w = 0; w < kMaxWorkers; ++w) {
      const size_t i = size_t{w} * firewall.forwards.size() + f;
      if (f >= firewall.forwards.size() || i >= fwd_hits.size()) break;
      t += read_relaxed(fwd_hits[i]);
    }
    return t;
  }
  void count_fw_hit(uint16_t rule, unsigned worker) const noexcept {
    const size_t i = size_t{worker} * firewall.rules.size() + rule;
    if (rule < firewall.rules.size() && i < fw_hits.size()) bump_relaxed(fw_hits[i], 1);
  }
  uint64_t total_fw_hits(size_t rule) const noexcept {
    uint64_t t = 0;
    for (unsigned w = 0; w < kMaxWorkers; ++w) {
      const size_t i = size_t{w} * firewall.rules.size() + rule;
      if (rule >= firewall.rules.size() || i >= fw_hits.size()) break;
      t += read_relaxed(fw_hits[i]);
    }
    return t;
  }
  void count_flow(uint16_t rule, unsigned worker) const noexcept {
    size_t i = size_t{worker} * rules.size() + rule;
    if (rule < rules.size() && i < hits.size()) bump_relaxed(hits[i].flows, 1);
  }
  void count_packet(uint16_t rule, unsigned worker, uint32_t bytes) const noexcept {
    size_t i = size_t{worker} * rules.size() + rule;
    if (rule >= rules.size() || i >= hits.size()) return;
    bump_relaxed(hits[i].packets, 1);
    bump_relaxed(hits[i].bytes, bytes);
  }
  RuleHits total_hits(size_t rule) const noexcept {
    RuleHits t;
    for (unsigned w = 0; w < kMaxWorkers; ++w) {
      size_t i = size_t{w} * rules.size() + rule;
      if (rule >= rules.size() || i >= hits.size()) break;
      t.flows += read_relaxed(hits[i].flows);
      t.packets += read_relaxed(hits[i].packets);
      t.bytes += read_relaxed(hits[i].bytes);
    }
    return t;
  }

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

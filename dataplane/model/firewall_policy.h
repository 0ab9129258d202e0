// SPDX-License-Identifier: Apache-2.0
// The firewall as the policy snapshot carries it: zones, the LAN segments' addresses (for the
// source check), and the ordered rules for connections opened towards the LAN from outside.
// No DPDK headers: the policy compiler builds it, the flow stage reads it.
//
// Zones: `lan` (the LAN port; each policy segment is a part of it), `wan` (any uplink, outside
// the overlay), `overlay` (decapsulated from a hub or a site), `box` (the box's own addresses,
// handled by the local and probe stages). Defaults with no rule: lan → anywhere allowed,
// overlay → lan allowed, wan → lan and wan → overlay denied unless the packet belongs to a
// flow opened from inside (or is an ICMP error about one).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

enum class Zone : uint8_t { kLan = 0, kWan, kOverlay, kBox };
inline constexpr unsigned kZoneCount = 4;
inline constexpr std::array<std::string_view, kZoneCount> kZoneNames{"lan", "wan", "overlay",
                                                                     "box"};

// Where a LAN packet's source must lie (anti-spoofing, strict uRPF per segment by default).
//   strict: in its own segment's prefixes (by VLAN), else in the site's LAN prefixes and in no
//           other segment's;
//   loose:  in any LAN prefix of the site or of a segment (a routed LAN with one segment);
//   off:    anything (routed LANs behind an L3 switch whose prefixes the box does not know).
enum class SourceCheck : uint8_t { kStrict = 0, kLoose, kOff };
inline constexpr std::array<std::string_view, 3> kSourceCheckNames{"strict", "loose", "off"};

struct FwSegment {
  std::string name;
  int32_t vlan = -1;  // -1: untagged / any tag
  std::vector<IpPrefix> prefixes;
};

enum class FwAction : uint8_t { kAllow = 0, kDeny, kReject };
inline constexpr std::array<std::string_view, 3> kFwActionNames{"allow", "deny", "reject"};

struct FwPortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  bool contains(uint16_t p) const noexcept { return p >= lo && p <= hi; }
};

// One inbound rule: a new connection from `from` (wan or overlay) to the LAN (the whole LAN,
// or one segment's prefixes).
struct FwRule {
  std::string name;
  Zone from = Zone::kWan;
  int16_t to_segment = -1;             // index in FirewallPolicy::segments; -1: the whole LAN
  std::vector<IpPrefix> src;           // empty: any
  std::vector<IpPrefix> dst;           // empty: any (inside the LAN)
  uint8_t proto = 0;                   // 0: any
  std::vector<FwPortRange> dst_ports;  // empty: any (needs ports when given)
  FwAction action = FwAction::kAllow;
  bool log = false;
};

struct FwPacket {  // what a rule looks at, from the packet's metadata
  Zone from = Zone::kWan;
  IpAddr src;
  IpAddr dst;
  bool v4 = true;
  uint8_t proto = 0;
  bool has_ports = false;
  uint16_t dst_port = 0;
};

// Where a rule list lands: the rule that matched (index) or none (the zone default applies).
inline constexpr int16_t kNoFwRule = -1;

// A port forward: connections to `port` on an uplink's own address go to `to`:`to_port` on the
// LAN (destination NAT on the way in, the reverse on the LAN host's answers).
struct PortForward {
  std::string name;
  uint8_t uplink = 0;  // index in Site::uplinks
  uint8_t proto = 6;   // IPPROTO_TCP or IPPROTO_UDP
  uint16_t port = 0;   // public port
  IpAddr to;           // the LAN host (its family is the forward's)
  uint16_t to_port = 0;
  std::vector<IpPrefix> src;  // allowed sources; empty: any
  bool log = false;
};

// Limits on flows opened from the WAN (docs/firewall.md, "Flood protection").
struct FloodLimits {
  uint32_t wan_share_percent = 25;      // of each worker's flow table
  uint32_t new_per_source = 100;        // per second per source /24 or /64; 0: no limit
  uint32_t new_per_destination = 1000;  // per second per LAN host and port; 0: no limit
};

struct FirewallPolicy {
  SourceCheck lan_source = SourceCheck::kStrict;
  FloodLimits flood;
  std::vector<FwSegment> segments;
  std::vector<FwRule> rules;  // evaluated in order for new inbound connections
  std::vector<PortForward> forwards;

  // The forward of (uplink, proto, public port) for a destination of family v4, or nullptr.
  const PortForward* find_forward(uint8_t uplink, uint8_t proto, uint16_t port,
                                  bool v4) const noexcept {
    for (const auto& f : forwards)
      if (f.port == port && f.uplink == uplink && f.proto == proto && f.to.is_v4() == v4) return &f;
    return nullptr;
  }

  // The LAN source check for a packet from VLAN `vid` (-1: untagged) with source `src`.
  // `site_lan`: the LAN prefixes of the daemon's config.
  bool lan_source_ok(const IpAddr& src, bool v4, int32_t vid,
                     const std::vector<IpPrefix>& site_lan) const noexcept;
  // Whether `a` is one of the site's own LAN addresses (site prefixes or any segment's): a WAN
  // packet with such a source is spoofed.
  bool is_inside(const IpAddr& a, bool v4, const std::vector<IpPrefix>& site_lan) const noexcept;
  // The first rule matching a new inbound connection, or kNoFwRule.
  int16_t match(const FwPacket& p) const noexcept;
};

}  // namespace traboule::dp

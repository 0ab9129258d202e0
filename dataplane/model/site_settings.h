// SPDX-License-Identifier: Apache-2.0
// The box's limits and the per-interface and flow settings the daemon config gives the data
// plane (runtime/site.h holds the live interfaces built from them).
#pragma once

#include <cstdint>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

inline constexpr unsigned kMaxUplinks = 4;
inline constexpr uint16_t kMaxPorts = 32;

struct IfAddr {
  IpAddr addr;
  uint8_t plen = 0;  // on the address' own family (24 for a /24 IPv4)
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

}  // namespace traboule::dp

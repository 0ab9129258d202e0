// SPDX-License-Identifier: Apache-2.0
// Measured health of each uplink as the data plane reads it: built by the control plane's link
// monitor from the STAMP paths and published with RCU (runtime/rcu.h). An uplink whose every
// measured path is down is not used for new or moved flows; unknown (no path, or not yet
// measured) counts as usable, so a box without probes forwards as before.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/model/site_settings.h"

namespace traboule::dp {

enum class LinkHealth : uint8_t { kUnknown, kUp, kDown };

struct UplinkHealth {
  LinkHealth state = LinkHealth::kUnknown;
  // Internet access through this uplink, from ICMP echo probes to the policy's breakout targets
  // (breakout uplinks only): up when one target answers, down when every target is down,
  // unknown without targets or before they settle. The hub can answer while the internet
  // does not (or the reverse); breakout egress reads this one, overlay egress `state`.
  LinkHealth internet = LinkHealth::kUnknown;
  uint16_t paths = 0;     // measured paths through this uplink
  uint16_t paths_up = 0;  // of which up
  uint32_t rtt_us = 0;    // best path's average RTT over its window (0: unknown)
  uint32_t jitter_us = 0;
  uint32_t loss_ppm = 0;
  // Bit c: meets SLA class c of the policy the monitor last applied, held down after a
  // violation until it has met it again for the class' hold time (controlplane/links).
  uint32_t sla_ok = 0xffffffffu;
  bool cap_reached = false;  // monthly data cap reached: only critical QoS classes may use it
};

struct LinkSnapshot {
  uint64_t time_ns = 0;  // when the monitor built it (CLOCK_MONOTONIC)
  std::array<UplinkHealth, kMaxUplinks> uplinks{};

  bool down(uint8_t u) const noexcept {
    return u < kMaxUplinks && uplinks[u].state == LinkHealth::kDown;
  }
  bool meets(uint8_t u, uint8_t sla_class) const noexcept {
    return u >= kMaxUplinks || sla_class >= 32 || ((uplinks[u].sla_ok >> sla_class) & 1) != 0;
  }
};

}  // namespace traboule::dp

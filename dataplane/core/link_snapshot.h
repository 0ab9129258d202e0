// Measured health of each uplink as the data plane reads it: built by the control plane's link
// monitor from the STAMP paths and published with RCU (runtime/rcu.h). An uplink whose every
// measured path is down is not used for new or moved flows; unknown (no path, or not yet
// measured) counts as usable, so a box without probes forwards as before.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/core/site.h"

namespace traboule::dp {

enum class LinkHealth : uint8_t { kUnknown, kUp, kDown };

struct UplinkHealth {
  LinkHealth state = LinkHealth::kUnknown;
  uint16_t paths = 0;     // measured paths through this uplink
  uint16_t paths_up = 0;  // of which up
  uint32_t rtt_us = 0;    // best path's average RTT over its window (0: unknown)
  uint32_t jitter_us = 0;
  uint32_t loss_ppm = 0;
};

struct LinkSnapshot {
  uint64_t time_ns = 0;  // when the monitor built it (CLOCK_MONOTONIC)
  std::array<UplinkHealth, kMaxUplinks> uplinks{};

  bool down(uint8_t u) const noexcept {
    return u < kMaxUplinks && uplinks[u].state == LinkHealth::kDown;
  }
};

}  // namespace traboule::dp

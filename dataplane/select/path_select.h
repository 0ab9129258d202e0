// SPDX-License-Identifier: Apache-2.0
// Path selection for one flow of one rule: which uplink (and for the duplicate strategy, which
// second one) from what the route stage knows of each uplink right now. Pure and allocation
// free, so the strategies are tested row by row; the hold-down that keeps a path out until it
// has met its SLA for a while is the control plane's (links/sla_tracker.h), seen here as `sla`.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/model/packet_meta.h"
#include "dataplane/model/path_events.h"
#include "dataplane/model/policy_snapshot.h"
#include "dataplane/model/site_settings.h"

namespace traboule::dp {

// What the route stage knows of one uplink for the flow at hand.
struct PathCandidate {
  bool usable = false;  // link up at the driver, gateway resolved for the flow's family
  bool alive = false;   // not measured down by the probes (unknown counts as alive)
  bool sla = true;      // meets the rule's SLA class (held down after a violation)
  bool cap_ok = true;   // monthly cap not reached, or the rule's QoS class is critical
  UplinkRole role = UplinkRole::kPrimary;
  uint32_t cost = 0;
  uint32_t score = 0xffffffffu;  // lower is better (best-quality); max: unmeasured
};

struct PathChoice {
  uint8_t uplink = kNoUplink;
  uint8_t second = kNoUplink;  // duplicate strategy only
  PathReason reason = PathReason::kNone;
};

// The quality score best-quality ranks by: with an SLA class, the sum of each bounded measure
// over its bound (×1000, so a path exactly at every bound scores 1000 per bound); without one,
// one-way latency + 2 × jitter + 1 ms per percent of loss, in microseconds. Unmeasured: max.
uint32_t path_score(uint32_t rtt_us, uint32_t jitter_us, uint32_t loss_ppm,
                    const SlaClass* sla) noexcept;

// `current` is the flow's uplink (kNoUplink for a new flow); `sticky_backup` keeps a flow on a
// backup even when a primary qualifies again (breakout flows: their NAT binding lives there).
PathChoice select_path(const RuleAction& a, const std::array<PathCandidate, kMaxUplinks>& c,
                       uint8_t current, uint32_t flow_hash, bool sticky_backup) noexcept;

}  // namespace traboule::dp

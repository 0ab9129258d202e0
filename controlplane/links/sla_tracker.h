// SPDX-License-Identifier: Apache-2.0
// Whether an uplink meets an SLA class, with "fail fast, recover slowly": it leaves the class at
// the first measurement that violates a bound (or when it goes down), and comes back only after
// meeting every bound with the class' margin for its whole hold time, so a path hovering at the
// threshold is not chased back and forth. Pure C++, driven by the caller's clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/model/policy_snapshot.h"

namespace traboule::cp {

// One uplink's figures as the tracker reads them (its best path's window).
struct SlaInputs {
  bool alive = true;
  std::optional<double> rtt_us;  // window average round trip; one-way latency is half
  std::optional<double> jitter_us;
  std::optional<double> loss_ratio;  // 0..1 over the probes' window
  // 0..1: the class's own overlay traffic loss over the last data window, the worse direction,
  // at the lower end of its confidence interval (PathMetrics::ClassLoss; unset when too little
  // of the class flows to say). A brownout on a busy path shows here within about a second,
  // long before enough probes are lost to show it; bulk traffic's congestion drops and our own
  // shaper's drops do not (they are another class's, or not the path's).
  std::optional<double> data_loss_ratio;
};

// Why `in` fails `c` with every bound scaled by `scale` (1: the bounds themselves), e.g.
// "loss 3.1 % > 1 %", "latency 62.0 ms > 50 ms", "down"; nullopt when it meets them. Unknown
// figures meet every bound (an unmeasured path is not punished).
std::optional<std::string> sla_violation(const dp::SlaClass& c, const SlaInputs& in,
                                         double scale = 1.0);

class SlaTracker {
 public:
  struct Change {
    bool ok = false;
    std::string reason;  // the violation, or "met for 10 s with 20 % margin"
  };
  // Feeds one measurement taken at now_ns; a change of state when there is one.
  std::optional<Change> update(const dp::SlaClass& c, const SlaInputs& in, uint64_t now_ns);
  bool ok() const noexcept { return ok_; }
  const std::string& last_reason() const noexcept { return reason_; }

 private:
  bool ok_ = true;
  bool good_run_ = false;
  uint64_t good_since_ns_ = 0;
  std::string reason_;
};

}  // namespace traboule::cp

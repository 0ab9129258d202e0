// SPDX-License-Identifier: Apache-2.0
// The TSC → NTP clock the probe stage stamps with: anchored and slewed by a control thread
// against the system clock, published to every worker through a seqlock.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/proto/stamp.h"

namespace traboule::dp {

// TSC ticks → NTP: time = ntp0 + (tsc − tsc0) / hz. Exact integer arithmetic (no float), and
// a TSC before tsc0 maps to an earlier time.
struct TscClock {
  uint64_t tsc0 = 0;
  uint64_t ntp0 = 0;
  uint64_t hz = 0;      // TSC ticks per second of this mapping; 0: not set
  ErrorEstimate error;  // what our timestamps carry (S bit, accuracy)

  bool set() const noexcept { return hz != 0; }
  uint64_t ntp(uint64_t tsc) const noexcept;
  static TscClock anchor(uint64_t tsc, uint64_t unix_ns, uint64_t hz, ErrorEstimate e = {});
  // A new mapping equal to this one at now_tsc (no step for probes in flight) whose rate makes
  // it meet the system clock (`now_unix_ns`) after `window_s` seconds. The rate correction is
  // limited to ±500 ppm; an offset above `step_ns` (or no mapping yet) re-anchors instead.
  TscClock slewed(uint64_t now_tsc, uint64_t now_unix_ns, uint64_t nominal_hz, uint32_t window_s,
                  uint64_t step_ns, ErrorEstimate e) const noexcept;
};

// Published by a control thread, read by every worker: a seqlock over the clock's fields.
class SharedTscClock {
 public:
  void store(const TscClock& c) noexcept;  // one writer
  TscClock load() const noexcept;          // lock-free readers (retry while a store runs)

 private:
  std::atomic<uint32_t> seq_{0};
  std::atomic<uint64_t> tsc0_{0}, ntp0_{0}, hz_{0};
  std::atomic<uint16_t> error_{0};
};

}  // namespace traboule::dp

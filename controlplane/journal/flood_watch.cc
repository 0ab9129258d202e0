// SPDX-License-Identifier: Apache-2.0
#include "controlplane/journal/flood_watch.h"

#include <algorithm>

namespace traboule::cp {

std::optional<FloodWatch::Change> FloodWatch::update(uint64_t now_ns, uint64_t total) {
  if (!have_ || now_ns < t_ns_ || total < total_) {  // first call, clock or counter restarted
    have_ = true;
    t_ns_ = now_ns;
    total_ = total;
    return std::nullopt;
  }
  const uint64_t dt = now_ns - t_ns_;
  if (dt < kIntervalNs) return std::nullopt;
  const uint64_t rate = (total - total_) * 1'000'000'000ULL / dt;
  const uint64_t before = total_;
  t_ns_ = now_ns;
  total_ = total;
  if (!active_) {
    if (rate < kOnPerSecond) return std::nullopt;
    active_ = true;
    calm_since_ns_ = 0;
    peak_ = rate;
    start_total_ = before;
    return Change{true, rate, 0};
  }
  peak_ = std::max(peak_, rate);
  if (rate >= kOffPerSecond) {
    calm_since_ns_ = 0;
    return std::nullopt;
  }
  if (calm_since_ns_ == 0) calm_since_ns_ = now_ns;
  if (now_ns - calm_since_ns_ < kCalmNs) return std::nullopt;
  active_ = false;
  return Change{false, peak_, total - start_total_};
}

}  // namespace traboule::cp

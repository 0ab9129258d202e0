// SPDX-License-Identifier: Apache-2.0
// When a WAN flood starts and ends, from the firewall's flood-limit refusals (a monotonic
// total): "detected" once refusals reach kOnPerSecond over an interval of at least 1 s, "ended"
// once they stayed under kOffPerSecond for kCalmNs. One record each, not one per second: the
// journal says when an attack began, how hard it peaked and when it was over. Pure: the caller
// gives the clock and the counter.
#pragma once

#include <cstdint>
#include <optional>

namespace traboule::cp {

class FloodWatch {
 public:
  static constexpr uint64_t kOnPerSecond = 50;
  static constexpr uint64_t kOffPerSecond = 5;
  static constexpr uint64_t kIntervalNs = 1'000'000'000;
  static constexpr uint64_t kCalmNs = 30'000'000'000;

  struct Change {
    bool active = false;      // true: detected, false: ended
    uint64_t per_second = 0;  // detected: the rate seen; ended: the peak of the flood
    uint64_t refused = 0;     // ended: refusals during the flood
  };
  std::optional<Change> update(uint64_t now_ns, uint64_t refused_total);
  bool active() const noexcept { return active_; }

 private:
  bool have_ = false, active_ = false;
  uint64_t t_ns_ = 0, total_ = 0;
  uint64_t calm_since_ns_ = 0;  // active: when the rate fell under kOffPerSecond (0: it did not)
  uint64_t peak_ = 0, start_total_ = 0;
};

}  // namespace traboule::cp

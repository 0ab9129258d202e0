// SPDX-License-Identifier: Apache-2.0
#include "dataplane/model/stamp_clock.h"

#include <cmath>

namespace traboule::dp {

namespace {

constexpr double kMaxSlewPpm = 500.0;

// floor(rem × 2^32 / hz) for rem < hz < 2^48, without a 128-bit type: two 16-bit steps.
uint64_t frac_of(uint64_t rem, uint64_t hz) noexcept {
  const uint64_t a = rem << 16;
  const uint64_t q1 = a / hz;
  const uint64_t b = (a % hz) << 16;
  return (q1 << 16) + b / hz;
}
uint64_t ticks_to_ntp(uint64_t ticks, uint64_t hz) noexcept {
  return ((ticks / hz) << 32) + frac_of(ticks % hz, hz);
}
}  // namespace

uint64_t TscClock::ntp(uint64_t tsc) const noexcept {
  if (hz == 0) return 0;
  return tsc >= tsc0 ? ntp0 + ticks_to_ntp(tsc - tsc0, hz) : ntp0 - ticks_to_ntp(tsc0 - tsc, hz);
}

TscClock TscClock::anchor(uint64_t tsc, uint64_t unix_ns, uint64_t hz, ErrorEstimate e) {
  return TscClock{tsc, ntp_from_unix_ns(unix_ns), hz, e};
}

TscClock TscClock::slewed(uint64_t now_tsc, uint64_t now_unix_ns, uint64_t nominal_hz,
                          uint32_t window_s, uint64_t step_ns, ErrorEstimate e) const noexcept {
  if (!set() || window_s == 0 || nominal_hz == 0)
    return anchor(now_tsc, now_unix_ns, nominal_hz, e);
  const uint64_t mapped = ntp(now_tsc);
  const int64_t off_ns = ntp_diff_ns(ntp_from_unix_ns(now_unix_ns), mapped);
  const uint64_t mag = off_ns < 0 ? static_cast<uint64_t>(-off_ns) : static_cast<uint64_t>(off_ns);
  if (mag > step_ns) return anchor(now_tsc, now_unix_ns, nominal_hz, e);
  // Ahead of the system clock (off < 0): more ticks per second, so the mapping runs slower.
  const double window_ns = static_cast<double>(window_s) * 1e9;
  double ratio = window_ns / (window_ns + static_cast<double>(off_ns));
  const double lim = kMaxSlewPpm * 1e-6;
  if (ratio > 1 + lim) ratio = 1 + lim;
  if (ratio < 1 - lim) ratio = 1 - lim;
  const auto new_hz = static_cast<uint64_t>(std::llround(static_cast<double>(nominal_hz) * ratio));
  return TscClock{now_tsc, mapped, new_hz, e};
}

void SharedTscClock::store(const TscClock& c) noexcept {
  const uint32_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  tsc0_.store(c.tsc0, std::memory_order_relaxed);
  ntp0_.store(c.ntp0, std::memory_order_relaxed);
  hz_.store(c.hz, std::memory_order_relaxed);
  error_.store(c.error.encode(), std::memory_order_relaxed);
  seq_.store(s + 2, std::memory_order_release);
}

TscClock SharedTscClock::load() const noexcept {
  TscClock c;
  for (;;) {
    const uint32_t s1 = seq_.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    c.tsc0 = tsc0_.load(std::memory_order_relaxed);
    c.ntp0 = ntp0_.load(std::memory_order_relaxed);
    c.hz = hz_.load(std::memory_order_relaxed);
    c.error = ErrorEstimate::decode(error_.load(std::memory_order_relaxed));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) == s1) return c;
  }
}

}  // namespace traboule::dp

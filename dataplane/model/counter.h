// SPDX-License-Identifier: Apache-2.0
// Per-lcore counters: written only by the owning worker, read by control threads while running.
// Relaxed load/store (a plain add on x86) instead of an atomic read-modify-write: one writer.
#pragma once

#include <atomic>
#include <cstdint>

namespace traboule::dp {

inline void bump(uint64_t& c, uint64_t by = 1) noexcept {
  std::atomic_ref<uint64_t> r(c);
  r.store(r.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
inline uint64_t read_counter(const uint64_t& c) noexcept {
  return std::atomic_ref<const uint64_t>(c).load(std::memory_order_relaxed);
}
// 32-bit wrapping counters (the direct measurement's per-class counts).
inline void bump(uint32_t& c) noexcept {
  std::atomic_ref<uint32_t> r(c);
  r.store(r.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
inline uint32_t read_counter(const uint32_t& c) noexcept {
  return std::atomic_ref<const uint32_t>(c).load(std::memory_order_relaxed);
}

}  // namespace traboule::dp

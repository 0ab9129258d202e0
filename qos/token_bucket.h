// SPDX-License-Identifier: Apache-2.0
// Token bucket in bytes, the building block of policers, class caps and the port shaper.
// The caller passes the time (nanoseconds, any monotonic origin): the bucket never reads a clock,
// so tests drive it with a simulated clock. Credit is kept exactly in bit-nanoseconds (one byte is
// 8e9 units), so refills never round and long runs keep the configured rate to the bit.
#pragma once

#include <cstdint>
#include <string>

namespace traboule::qos {

inline constexpr uint64_t kNsPerSecond = 1'000'000'000;
// Credit units per byte: a rate in bit/s times nanoseconds gives bits * 1e9.
inline constexpr uint64_t kUnitsPerByte = 8 * kNsPerSecond;
// Limits that keep every product inside 64 bits (the schema allows 400 Gbit/s per class).
inline constexpr uint64_t kMaxRateBps = 400'000'000'000;
inline constexpr uint64_t kMaxBurstBytes = uint64_t{1} << 29;  // 512 MiB
inline constexpr uint64_t kMaxItemBytes = kMaxBurstBytes;
inline constexpr uint64_t kNever = UINT64_MAX;  // "no time" in next-release hints

// Credit minted by `rate_bps` over `elapsed_ns`, at most `room` units; never overflows, even for
// idle gaps of years at the highest rate.
uint64_t minted_units(uint64_t elapsed_ns, uint64_t rate_bps, uint64_t room) noexcept;

// Nanoseconds until `units` of credit are minted at `rate_bps` (kNever if the rate is 0).
uint64_t ns_to_mint(uint64_t units, uint64_t rate_bps) noexcept;

struct TokenBucketConfig {
  uint64_t rate_bps = 0;     // 0: never refills (only the initial burst)
  uint64_t burst_bytes = 0;  // bucket depth; the bucket starts full

  // "" when valid, else an error naming the field and its bad value.
  std::string validate() const;
};

class TokenBucket {
 public:
  TokenBucket() noexcept = default;  // rate 0, burst 0: nothing conforms
  // Throws std::invalid_argument with validate()'s message on a bad config (not hot path).
  explicit TokenBucket(const TokenBucketConfig& config, uint64_t now_ns = 0);

  uint64_t rate_bps() const noexcept { return rate_bps_; }
  uint64_t burst_bytes() const noexcept { return burst_units_ / kUnitsPerByte; }

  // Policer use: takes `bytes` and returns true iff the bucket holds at least that much.
  bool try_consume(uint64_t bytes, uint64_t now_ns) noexcept;

  // Shaper use: true iff the credit is not negative (a packet may leave now).
  bool has_credit(uint64_t now_ns) noexcept;
  // Takes `bytes` even past zero (debt repaid by later refills), so a packet larger than the
  // burst still leaves and the long-run rate stays exact. Debt saturates at kMaxBurstBytes.
  void charge(uint64_t bytes) noexcept;
  // Takes up to `bytes` but never below zero (for work that is not owed to this bucket).
  void drain(uint64_t bytes) noexcept;

  // Whole bytes of credit at `now_ns` (negative while in debt).
  int64_t tokens_bytes(uint64_t now_ns) noexcept;
  // Nanoseconds from `now_ns` until the credit reaches `bytes` (0 if already there; kNever if
  // it never will: rate 0, or more than the burst).
  uint64_t ns_until(uint64_t bytes, uint64_t now_ns) noexcept;

  void refill(uint64_t now_ns) noexcept;

 private:
  uint64_t rate_bps_ = 0;
  int64_t burst_units_ = 0;
  int64_t credit_units_ = 0;
  uint64_t last_ns_ = 0;
};

}  // namespace traboule::qos

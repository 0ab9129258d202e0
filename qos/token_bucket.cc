// SPDX-License-Identifier: Apache-2.0
#include "qos/token_bucket.h"

#include <stdexcept>

namespace traboule::qos {

uint64_t minted_units(uint64_t elapsed_ns, uint64_t rate_bps, uint64_t room) noexcept {
  if (rate_bps == 0 || elapsed_ns == 0 || room == 0) return 0;
  // Fill time first: past it the bucket is full, and below it elapsed * rate < room + rate.
  uint64_t fill_ns = room / rate_bps + (room % rate_bps != 0);
  if (elapsed_ns >= fill_ns) return room;
  return elapsed_ns * rate_bps;
}

uint64_t ns_to_mint(uint64_t units, uint64_t rate_bps) noexcept {
  if (units == 0) return 0;
  if (rate_bps == 0) return kNever;
  return units / rate_bps + (units % rate_bps != 0);
}

std::string TokenBucketConfig::validate() const {
  if (rate_bps > kMaxRateBps)
    return "rate_bps " + std::to_string(rate_bps) + ": above the maximum " +
           std::to_string(kMaxRateBps);
  if (burst_bytes > kMaxBurstBytes)
    return "burst_bytes " + std::to_string(burst_bytes) + ": above the maximum " +
           std::to_string(kMaxBurstBytes);
  return "";
}

TokenBucket::TokenBucket(const TokenBucketConfig& config, uint64_t now_ns) {
  if (std::string err = config.validate(); !err.empty()) throw std::invalid_argument(err);
  rate_bps_ = config.rate_bps;
  burst_units_ = static_cast<int64_t>(config.burst_bytes * kUnitsPerByte);
  credit_units_ = burst_units_;
  last_ns_ = now_ns;
}

void TokenBucket::refill(uint64_t now_ns) noexcept {
  // A clock going backwards mints nothing and does not move the reference point, so the
  // interval is not counted twice when time catches up.
  if (now_ns <= last_ns_) return;
  uint64_t elapsed = now_ns - last_ns_;
  last_ns_ = now_ns;
  if (credit_units_ >= burst_units_) return;
  uint64_t room = static_cast<uint64_t>(burst_units_ - credit_units_);
  credit_units_ += static_cast<int64_t>(minted_units(elapsed, rate_bps_, room));
}

bool TokenBucket::try_consume(uint64_t bytes, uint64_t now_ns) noexcept {
  refill(now_ns);
  if (bytes > kMaxItemBytes) return false;
  int64_t need = static_cast<int64_t>(bytes * kUnitsPerByte);
  if (credit_units_ < need) return false;
  credit_units_ -= need;
  return true;
}

bool TokenBucket::has_credit(uint64_t now_ns) noexcept {
  refill(now_ns);
  return credit_units_ >= 0;
}

void TokenBucket::charge(uint64_t bytes) noexcept {
  constexpr int64_t kFloor = -static_cast<int64_t>(kMaxBurstBytes * kUnitsPerByte);
  if (bytes > kMaxItemBytes) bytes = kMaxItemBytes;
  int64_t units = static_cast<int64_t>(bytes * kUnitsPerByte);
  // credit >= kFloor and units <= -kFloor: the difference fits in int64 before the clamp.
  credit_units_ = credit_units_ - units < kFloor ? kFloor : credit_units_ - units;
}

void TokenBucket::drain(uint64_t bytes) noexcept {
  if (credit_units_ <= 0) return;
  if (bytes > kMaxItemBytes) bytes = kMaxItemBytes;
  int64_t units = static_cast<int64_t>(bytes * kUnitsPerByte);
  credit_units_ = credit_units_ > units ? credit_units_ - units : 0;
}

int64_t TokenBucket::tokens_bytes(uint64_t now_ns) noexcept {
  refill(now_ns);
  return credit_units_ / static_cast<int64_t>(kUnitsPerByte);
}

uint64_t TokenBucket::ns_until(uint64_t bytes, uint64_t now_ns) noexcept {
  refill(now_ns);
  if (bytes > kMaxItemBytes) return kNever;
  int64_t need = static_cast<int64_t>(bytes * kUnitsPerByte);
  if (credit_units_ >= need) return 0;
  if (need > burst_units_) return kNever;
  return ns_to_mint(static_cast<uint64_t>(need - credit_units_), rate_bps_);
}

}  // namespace traboule::qos

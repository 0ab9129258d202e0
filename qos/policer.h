// SPDX-License-Identifier: Apache-2.0
// Three-colour markers: single-rate (RFC 2697 srTCM) and two-rate (RFC 2698 trTCM), both
// colour-blind. Used for per-class ingress policing; the caller decides what each colour means
// (drop red, re-mark yellow). Times are caller-supplied nanoseconds, as in token_bucket.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "qos/token_bucket.h"

namespace traboule::qos {

enum class Color : uint8_t { kGreen, kYellow, kRed };
std::string_view color_name(Color c) noexcept;

struct SrTcmConfig {
  uint64_t cir_bps = 0;          // committed information rate
  uint64_t cbs_bytes = 0;        // committed burst size
  uint64_t ebs_bytes = 0;        // excess burst size
  std::string validate() const;  // "" when valid
};

// RFC 2697: tokens arrive at CIR into C (depth CBS); what C cannot hold overflows into E
// (depth EBS). A packet is green if C holds it, else yellow if E holds it, else red.
class SrTcm {
 public:
  // Throws std::invalid_argument with validate()'s message on a bad config (not hot path).
  explicit SrTcm(const SrTcmConfig& config, uint64_t now_ns = 0);
  Color mark(uint64_t bytes, uint64_t now_ns) noexcept;
  // Whole bytes in the C and E buckets (after a refill to now_ns).
  uint64_t committed_bytes(uint64_t now_ns) noexcept;
  uint64_t excess_bytes(uint64_t now_ns) noexcept;

 private:
  void refill(uint64_t now_ns) noexcept;
  uint64_t cir_bps_;
  uint64_t cbs_units_, ebs_units_;
  uint64_t tc_units_, te_units_;
  uint64_t last_ns_;
};

struct TrTcmConfig {
  uint64_t cir_bps = 0;          // committed information rate
  uint64_t cbs_bytes = 0;        // committed burst size
  uint64_t pir_bps = 0;          // peak information rate, >= cir_bps
  uint64_t pbs_bytes = 0;        // peak burst size
  std::string validate() const;  // "" when valid
};

// RFC 2698: two independent buckets, P (PIR, PBS) and C (CIR, CBS). Red if P cannot hold the
// packet; else yellow if C cannot (P pays); else green (both pay).
class TrTcm {
 public:
  explicit TrTcm(const TrTcmConfig& config, uint64_t now_ns = 0);
  Color mark(uint64_t bytes, uint64_t now_ns) noexcept;
  int64_t committed_bytes(uint64_t now_ns) noexcept { return c_.tokens_bytes(now_ns); }
  int64_t peak_bytes(uint64_t now_ns) noexcept { return p_.tokens_bytes(now_ns); }

 private:
  TokenBucket p_, c_;
};

}  // namespace traboule::qos

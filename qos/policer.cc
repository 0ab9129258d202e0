// SPDX-License-Identifier: Apache-2.0
#include "qos/policer.h"

#include <stdexcept>

namespace traboule::qos {
namespace {

std::string check_rate(std::string_view field, uint64_t v) {
  if (v <= kMaxRateBps) return "";
  return std::string(field) + " " + std::to_string(v) + ": above the maximum " +
         std::to_string(kMaxRateBps);
}

std::string check_burst(std::string_view field, uint64_t v) {
  if (v <= kMaxBurstBytes) return "";
  return std::string(field) + " " + std::to_string(v) + ": above the maximum " +
         std::to_string(kMaxBurstBytes);
}

}  // namespace

std::string_view color_name(Color c) noexcept {
  switch (c) {
    case Color::kGreen:
      return "green";
    case Color::kYellow:
      return "yellow";
    case Color::kRed:
      return "red";
  }
  return "?";
}

std::string SrTcmConfig::validate() const {
  for (std::string e : {check_rate("cir_bps", cir_bps), check_burst("cbs_bytes", cbs_bytes),
                        check_burst("ebs_bytes", ebs_bytes)})
    if (!e.empty()) return e;
  return "";
}

SrTcm::SrTcm(const SrTcmConfig& config, uint64_t now_ns) {
  if (std::string err = config.validate(); !err.empty()) throw std::invalid_argument(err);
  cir_bps_ = config.cir_bps;
  cbs_units_ = config.cbs_bytes * kUnitsPerByte;
  ebs_units_ = config.ebs_bytes * kUnitsPerByte;
  tc_units_ = cbs_units_;  // both buckets start full (RFC 2697 section 3)
  te_units_ = ebs_units_;
  last_ns_ = now_ns;
}

void SrTcm::refill(uint64_t now_ns) noexcept {
  if (now_ns <= last_ns_) return;  // a clock going backwards mints nothing
  uint64_t elapsed = now_ns - last_ns_;
  last_ns_ = now_ns;
  uint64_t room_c = cbs_units_ - tc_units_, room_e = ebs_units_ - te_units_;
  // Both rooms are at most 512 MiB in units each, so their sum fits in 64 bits.
  uint64_t add = minted_units(elapsed, cir_bps_, room_c + room_e);
  uint64_t to_c = add < room_c ? add : room_c;
  tc_units_ += to_c;
  te_units_ += add - to_c;
}

Color SrTcm::mark(uint64_t bytes, uint64_t now_ns) noexcept {
  refill(now_ns);
  if (bytes > kMaxItemBytes) return Color::kRed;
  uint64_t b = bytes * kUnitsPerByte;
  if (tc_units_ >= b) {
    tc_units_ -= b;
    return Color::kGreen;
  }
  if (te_units_ >= b) {
    te_units_ -= b;
    return Color::kYellow;
  }
  return Color::kRed;
}

uint64_t SrTcm::committed_bytes(uint64_t now_ns) noexcept {
  refill(now_ns);
  return tc_units_ / kUnitsPerByte;
}

uint64_t SrTcm::excess_bytes(uint64_t now_ns) noexcept {
  refill(now_ns);
  return te_units_ / kUnitsPerByte;
}

std::string TrTcmConfig::validate() const {
  for (std::string e : {check_rate("cir_bps", cir_bps), check_burst("cbs_bytes", cbs_bytes),
                        check_rate("pir_bps", pir_bps), check_burst("pbs_bytes", pbs_bytes)})
    if (!e.empty()) return e;
  if (pir_bps < cir_bps)
    return "pir_bps " + std::to_string(pir_bps) + ": below cir_bps " + std::to_string(cir_bps) +
           " (RFC 2698 requires PIR >= CIR)";
  return "";
}

TrTcm::TrTcm(const TrTcmConfig& config, uint64_t now_ns) {
  if (std::string err = config.validate(); !err.empty()) throw std::invalid_argument(err);
  p_ = TokenBucket({config.pir_bps, config.pbs_bytes}, now_ns);
  c_ = TokenBucket({config.cir_bps, config.cbs_bytes}, now_ns);
}

Color TrTcm::mark(uint64_t bytes, uint64_t now_ns) noexcept {
  p_.refill(now_ns);
  c_.refill(now_ns);
  if (bytes > kMaxItemBytes || p_.ns_until(bytes, now_ns) != 0) return Color::kRed;
  if (c_.ns_until(bytes, now_ns) != 0) {
    p_.try_consume(bytes, now_ns);
    return Color::kYellow;
  }
  p_.try_consume(bytes, now_ns);
  c_.try_consume(bytes, now_ns);
  return Color::kGreen;
}

}  // namespace traboule::qos

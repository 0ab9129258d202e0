// SPDX-License-Identifier: Apache-2.0
#include "controlplane/links/sla_tracker.h"

#include <algorithm>
#include <cstdio>

namespace traboule::cp {
namespace {

// "<what> 3.10 <unit> > 1.00 <unit>"
std::string over(const char* what, double got, double bound, const char* unit) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s %.2f %s > %.2f %s", what, got, unit, bound, unit);
  return buf;
}

}  // namespace

std::optional<std::string> sla_violation(const dp::SlaClass& c, const SlaInputs& in, double scale) {
  if (!in.alive) return "down";
  if (c.max_latency_us != 0 && in.rtt_us && *in.rtt_us / 2 > c.max_latency_us * scale)
    return over("latency", *in.rtt_us / 2000.0, c.max_latency_us * scale / 1000.0, "ms");
  if (c.max_jitter_us != 0 && in.jitter_us && *in.jitter_us > c.max_jitter_us * scale)
    return over("jitter", *in.jitter_us / 1000.0, c.max_jitter_us * scale / 1000.0, "ms");
  if (c.max_loss_ppm < 1'000'000 && in.loss_ratio && *in.loss_ratio * 1e6 > c.max_loss_ppm * scale)
    return over("loss", *in.loss_ratio * 100.0, c.max_loss_ppm * scale / 1e4, "%");
  if (c.max_loss_ppm < 1'000'000 && in.data_loss_ratio &&
      *in.data_loss_ratio * 1e6 > c.max_loss_ppm * scale)
    return over("traffic loss", *in.data_loss_ratio * 100.0, c.max_loss_ppm * scale / 1e4, "%");
  return std::nullopt;
}

std::optional<SlaTracker::Change> SlaTracker::update(const dp::SlaClass& c, const SlaInputs& in,
                                                     uint64_t now_ns) {
  if (ok_) {
    auto why = sla_violation(c, in);
    if (!why) return std::nullopt;
    ok_ = false;
    good_run_ = false;
    reason_ = *why;
    return Change{false, *why};
  }
  const double margin = 1.0 - std::min<uint32_t>(c.margin_percent, 90) / 100.0;
  if (sla_violation(c, in, margin)) {
    good_run_ = false;
    return std::nullopt;
  }
  if (!good_run_ || now_ns < good_since_ns_) {  // a clock going back restarts the hold
    good_run_ = true;
    good_since_ns_ = now_ns;
  }
  if (now_ns - good_since_ns_ < uint64_t{c.hold_ms} * 1'000'000) return std::nullopt;
  ok_ = true;
  good_run_ = false;
  char hold[32];
  std::snprintf(hold, sizeof hold, "%g", c.hold_ms / 1000.0);
  reason_ =
      "met for " + std::string(hold) + " s with " + std::to_string(c.margin_percent) + " % margin";
  return Change{true, reason_};
}

}  // namespace traboule::cp

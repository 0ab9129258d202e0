// SPDX-License-Identifier: Apache-2.0
#include "dataplane/select/path_select.h"

#include <algorithm>

namespace traboule::dp {
namespace {

bool listed(const RuleAction& a, uint8_t u) noexcept {
  return std::find(a.uplinks.begin(), a.uplinks.end(), u) != a.uplinks.end();
}

// The strategy's pick among the listed uplinks that pass `ok`, or kNoUplink.
template <class Ok>
uint8_t pick(const RuleAction& a, const std::array<PathCandidate, kMaxUplinks>& c,
             uint32_t flow_hash, Ok ok) noexcept {
  uint8_t best = kNoUplink;
  switch (a.strategy) {
    case PathStrategy::kPriority:
    case PathStrategy::kDuplicate:
      for (uint8_t u : a.uplinks)
        if (ok(u)) return u;
      return kNoUplink;
    case PathStrategy::kBestQuality:
      for (uint8_t u : a.uplinks)
        if (ok(u) && (best == kNoUplink || c[u].score < c[best].score)) best = u;
      return best;
    case PathStrategy::kLowestCost:
      for (uint8_t u : a.uplinks)
        if (ok(u) && (best == kNoUplink || c[u].cost < c[best].cost)) best = u;
      return best;
    case PathStrategy::kLoadBalance: {
      // Weighted by flow hash: the same flow lands on the same uplink while the set is stable.
      // Weight 0 uplinks only take flows when no weighted one qualifies.
      uint32_t total = 0;
      for (size_t i = 0; i < a.uplinks.size(); ++i)
        if (ok(a.uplinks[i])) total += i < a.weights.size() ? a.weights[i] : 1;
      if (total == 0) {
        for (uint8_t u : a.uplinks)
          if (ok(u)) return u;
        return kNoUplink;
      }
      uint32_t slot = (flow_hash >> 8) % total;
      for (size_t i = 0; i < a.uplinks.size(); ++i) {
        if (!ok(a.uplinks[i])) continue;
        const uint32_t w = i < a.weights.size() ? a.weights[i] : 1;
        if (slot < w) return a.uplinks[i];
        slot -= w;
      }
      return kNoUplink;
    }
  }
  return kNoUplink;
}

}  // namespace

uint32_t path_score(uint32_t rtt_us, uint32_t jitter_us, uint32_t loss_ppm,
                    const SlaClass* sla) noexcept {
  if (rtt_us == 0) return 0xffffffffu;
  const uint64_t one_way = rtt_us / 2;
  uint64_t s = 0;
  if (sla != nullptr &&
      (sla->max_latency_us != 0 || sla->max_jitter_us != 0 || sla->max_loss_ppm < 1'000'000)) {
    if (sla->max_latency_us != 0) s += one_way * 1000 / sla->max_latency_us;
    if (sla->max_jitter_us != 0) s += uint64_t{jitter_us} * 1000 / sla->max_jitter_us;
    if (sla->max_loss_ppm != 0 && sla->max_loss_ppm < 1'000'000)
      s += uint64_t{loss_ppm} * 1000 / sla->max_loss_ppm;
    else if (sla->max_loss_ppm == 0 && loss_ppm != 0)
      s += 1'000'000;  // a zero-loss class: any loss ranks last
  } else {
    s = one_way + 2 * uint64_t{jitter_us} + uint64_t{loss_ppm} / 10;
  }
  return static_cast<uint32_t>(std::min<uint64_t>(s, 0xfffffffeu));
}

namespace {

// Nothing meets the rule's SLA class: drop (the class says so and something is alive), or
// the best available uplink.
PathChoice sla_fallback(const RuleAction& a, const std::array<PathCandidate, kMaxUplinks>& c,
                        uint8_t current) noexcept {
  auto valid = [&](uint8_t u) { return u < kMaxUplinks && listed(a, u); };
  PathChoice out;
  if (a.fallback == SlaFallback::kDrop) {
    bool any = false;
    for (uint8_t u : a.uplinks)
      if (valid(u) && c[u].usable && c[u].alive && c[u].cap_ok) any = true;
    if (any) {
      out.reason = PathReason::kSlaDrop;
      return out;
    }
  }
  // Best available: the best-scored live uplink, primaries first; then (a hub that stopped
  // answering probes) anything the driver says is up rather than nothing.
  auto best_of = [&](auto ok) {
    uint8_t best = kNoUplink;
    for (uint8_t u : a.uplinks)
      if (valid(u) && ok(u) && (best == kNoUplink || c[u].score < c[best].score)) best = u;
    return best;
  };
  for (UplinkRole r : {UplinkRole::kPrimary, UplinkRole::kBackup}) {
    if (out.uplink == kNoUplink && current != kNoUplink && valid(current) && c[current].role == r &&
        c[current].usable && c[current].alive && c[current].cap_ok)
      out.uplink = current;  // everything fails the SLA: do not move for nothing
    if (out.uplink == kNoUplink)
      out.uplink = best_of(
          [&](uint8_t u) { return c[u].role == r && c[u].usable && c[u].alive && c[u].cap_ok; });
  }
  if (out.uplink == kNoUplink && current != kNoUplink && valid(current) && c[current].usable &&
      c[current].cap_ok)
    out.uplink = current;
  if (out.uplink == kNoUplink)
    out.uplink = best_of([&](uint8_t u) { return c[u].usable && c[u].cap_ok; });
  if (out.uplink == kNoUplink) {
    out.reason = PathReason::kNone;
    return out;
  }
  out.reason = out.uplink == current ? PathReason::kKept : PathReason::kFallback;
  return out;
}

}  // namespace

PathChoice select_path(const RuleAction& a, const std::array<PathCandidate, kMaxUplinks>& c,
                       uint8_t current, uint32_t flow_hash, bool sticky_backup) noexcept {
  auto valid = [&](uint8_t u) { return u < kMaxUplinks && listed(a, u); };
  auto qualifies = [&](uint8_t u) {
    return valid(u) && c[u].usable && c[u].alive && c[u].sla && c[u].cap_ok;
  };
  auto qualifies_as = [&](UplinkRole r) {
    return [&, r](uint8_t u) { return qualifies(u) && c[u].role == r; };
  };
  bool primary_ok = false;
  for (uint8_t u : a.uplinks)
    if (qualifies(u) && c[u].role == UplinkRole::kPrimary) primary_ok = true;

  PathChoice out;
  PathReason moved = PathReason::kNew;
  if (current != kNoUplink && valid(current)) {
    if (qualifies(current)) {
      // Fail fast, recover slowly: a qualifying uplink keeps its flows (no reordering, no NAT
      // break); the only exception is a backup once a primary qualifies again.
      if (c[current].role == UplinkRole::kPrimary || !primary_ok || sticky_backup) {
        out.uplink = current;
        out.reason = PathReason::kKept;
      } else {
        moved = PathReason::kPrimaryBack;
      }
    } else {
      moved = c[current].usable && c[current].alive && c[current].cap_ok ? PathReason::kCurrentSla
                                                                         : PathReason::kCurrentDown;
    }
  } else if (current != kNoUplink) {
    moved = PathReason::kCurrentDown;  // no longer listed by the rule: re-chosen
  }
  if (out.uplink == kNoUplink) {
    out.uplink = pick(a, c, flow_hash, qualifies_as(UplinkRole::kPrimary));
    if (out.uplink == kNoUplink)
      out.uplink = pick(a, c, flow_hash, qualifies_as(UplinkRole::kBackup));
    if (out.uplink != kNoUplink) out.reason = moved;
  }
  if (out.uplink == kNoUplink) {
    out = sla_fallback(a, c, current);
    if (out.uplink == kNoUplink) return out;
  }
  if (a.strategy == PathStrategy::kDuplicate) {
    // The second copy: the next qualifying uplink of the same role in preference order (a
    // backup never carries a copy while primaries qualify).
    const UplinkRole r = c[out.uplink].role;
    for (uint8_t u : a.uplinks)
      if (u != out.uplink && qualifies(u) && c[u].role == r) {
        out.second = u;
        break;
      }
  }
  return out;
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/journal/refusal_report.h"

namespace traboule::cp {

std::optional<std::string> RefusalReport::update(
    uint64_t now_ns, const std::vector<std::pair<std::string, uint64_t>>& totals) {
  if (recorded_ && now_ns - last_record_ns_ < kIntervalNs) return std::nullopt;
  std::map<std::string, uint64_t> now;
  for (const auto& [name, value] : totals) now[name] += value;
  uint64_t sum = 0;
  std::string detail;
  for (const auto& [name, value] : now) {
    const auto it = reported_.find(name);
    const uint64_t before = it == reported_.end() ? 0 : it->second;
    if (value <= before) continue;  // unchanged (or a counter reset: the daemon restarted)
    sum += value - before;
    detail += (detail.empty() ? "" : ", ") + name + " " + std::to_string(value - before);
  }
  if (sum == 0) return std::nullopt;
  reported_ = std::move(now);
  const bool first = !recorded_;
  recorded_ = true;
  const uint64_t since_s = (now_ns - last_record_ns_) / 1'000'000'000;
  last_record_ns_ = now_ns;
  return std::to_string(sum) + " overlay packet(s) refused" +
         (first ? std::string(" since start") : " in the last " + std::to_string(since_s) + " s") +
         ": " + detail;
}

}  // namespace traboule::cp

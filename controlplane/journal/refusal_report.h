// SPDX-License-Identifier: Apache-2.0
// Security-relevant refusals the data plane counts (forged, replayed or damaged overlay
// packets: decap.esp_*), journaled with a rate limit: the first refusal at once, then at most
// one record per kIntervalNs, each saying how many of each kind were refused since the previous
// record. An attack at line rate costs the journal one line per 10 s, and a single forged
// datagram is still on record. Pure: the caller gives the clock and the counter totals.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace traboule::cp {

class RefusalReport {
 public:
  static constexpr uint64_t kIntervalNs = 10'000'000'000;

  // totals: counter name → monotonic total (a name listed twice, e.g. once per worker, adds up).
  // The text of a record when one is due: "N refused since ...: name a, name b".
  std::optional<std::string> update(uint64_t now_ns,
                                    const std::vector<std::pair<std::string, uint64_t>>& totals);

 private:
  std::map<std::string, uint64_t> reported_;  // totals at the last record
  uint64_t last_record_ns_ = 0;
  bool recorded_ = false;
};

}  // namespace traboule::cp

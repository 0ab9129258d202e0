// SPDX-License-Identifier: Apache-2.0
// The JSON of `show --json` (parameters and counters per direction) and the text `show`
// prints from it. The control client formats only what the JSON says, so both views agree.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tools/wanem/snapshot.h"

namespace traboule::wanem {

struct LinkInfo {
  std::string name;
  std::string if_a;
  std::string if_b;
  uint64_t seed = 0;
  double uptime_s = 0;
};

nlohmann::json params_to_json(const DirectionParams& p);
nlohmann::json snapshot_to_json(const DirectionSnapshot& s);
nlohmann::json status_to_json(const LinkInfo& info, const DirectionSnapshot& a2b,
                              const DirectionSnapshot& b2a);

// Human-readable form of status_to_json's output; tolerant of missing fields.
std::string format_status(const nlohmann::json& status);

}  // namespace traboule::wanem

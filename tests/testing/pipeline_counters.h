// SPDX-License-Identifier: Apache-2.0
// A pipeline's counter by name, for tests that check what a stage counted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/graph/pipeline.h"

namespace traboule::testing {

// The value of the counter `name` ("stage.edge", "stage.drop_reason", extras), or nullopt when
// the pipeline has none of that name.
inline std::optional<uint64_t> counter_value(const dp::Pipeline& p, const std::string& name) {
  std::vector<dp::CounterValue> cs;
  p.collect(cs);
  for (const dp::CounterValue& c : cs)
    if (c.name == name) return c.value;
  return std::nullopt;
}

}  // namespace traboule::testing

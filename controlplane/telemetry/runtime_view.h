// SPDX-License-Identifier: Apache-2.0
// `show runtime` as JSON (GET /runtime, traboulectl runtime; docs/dataplane.md "Runtime"): per
// stage its calls, packets, packets per call and cycles per packet, like VPP's table.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "dataplane/graph/pipeline.h"
#include "dataplane/runtime/worker.h"

namespace traboule::cp {

// stages: summed over workers, in pipeline order; workers: each worker's loop figures.
nlohmann::json runtime_json(const std::vector<dp::Pipeline::StageProfile>& stages,
                            const std::vector<dp::WorkerStats>& workers, uint64_t tsc_hz);

}  // namespace traboule::cp

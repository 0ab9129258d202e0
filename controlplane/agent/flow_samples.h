// SPDX-License-Identifier: Apache-2.0
// The data plane's flows as flow export sees them (controlplane/telemetry/flow_export.h): one
// walk of every worker's table, with wall-clock times, ifIndex and DSCP filled in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controlplane/telemetry/flow_export.h"

namespace traboule::dp {
class Dataplane;
}

namespace traboule::cp {

// The ifIndex of a DPDK port in IPFIX and SNMP (docs/snmp.md): 1000 + port id.
inline constexpr uint32_t kIfIndexBase = 1000;

std::vector<FlowSample> sample_flows(const dp::Dataplane& d);
// The application's name in the running policy ("" when unknown).
std::string app_name(const dp::Dataplane& d, uint16_t app);

}  // namespace traboule::cp

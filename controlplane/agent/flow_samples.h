// SPDX-License-Identifier: Apache-2.0
// What the telemetry threads read from the data plane. The flows as flow export sees them
// (controlplane/telemetry/flow_export.h): one walk of every worker's table, with wall-clock times,
// ifIndex and DSCP filled in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controlplane/telemetry/flow_export.h"
#include "controlplane/telemetry/history.h"

namespace traboule::dp {
class Dataplane;
}

namespace traboule::cp {
class LinksRunner;

// The ifIndex of a DPDK port in IPFIX and SNMP (docs/snmp.md): 1000 + port id.
inline constexpr uint32_t kIfIndexBase = 1000;

std::vector<FlowSample> sample_flows(const dp::Dataplane& d);
// The links' figures now for the web view's history: each uplink's paths as GET /uplinks shows
// them, and its port's byte counters.
HistorySample sample_history(const dp::Dataplane& d, const LinksRunner& links);
// The application's name in the running policy ("" when unknown).
std::string app_name(const dp::Dataplane& d, uint16_t app);

}  // namespace traboule::cp

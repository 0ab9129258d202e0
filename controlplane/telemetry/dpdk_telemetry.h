// SPDX-License-Identifier: Apache-2.0
// Live read-out over DPDK's telemetry socket (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2),
// so counters, uplinks and flows can be read while the daemon runs, e.g. with
// `echo /traboule/uplinks | dpdk-telemetry.py -f <file-prefix>`.
#pragma once

namespace traboule::dp {
class Dataplane;
}

namespace traboule::cp {

// Registers /traboule/counters, /traboule/uplinks, /traboule/flows and /traboule/trace.
// The data plane must outlive the telemetry thread's use (until rte_eal_cleanup).
void register_telemetry(dp::Dataplane& dp);
void unregister_telemetry();

}  // namespace traboule::cp

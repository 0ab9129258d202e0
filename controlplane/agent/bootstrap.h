// SPDX-License-Identifier: Apache-2.0
// From a checked AgentConfig to what the data plane needs: the EAL argument list (devices as
// --vdev/-a, memory and lcores defaulted sensibly), the Site, and the port setups.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controlplane/config/config.h"
#include "dataplane/io/port.h"
#include "dataplane/runtime/site.h"

namespace traboule::cp {

// argv for rte_eal_init (argv[0] included). `online_cpus` is the CPU list the process may use.
std::vector<std::string> eal_arguments(const AgentConfig& c,
                                       const std::vector<unsigned>& online_cpus);
std::unique_ptr<dp::Site> build_site(const AgentConfig& c);
std::vector<dp::PortSetup> port_setups(const AgentConfig& c);
std::vector<unsigned> allowed_cpus();

}  // namespace traboule::cp

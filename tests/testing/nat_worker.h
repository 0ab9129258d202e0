// SPDX-License-Identifier: Apache-2.0
// A single worker's pipeline with breakout NAT on a TestSite, for tests that send real frames
// through it (port forwards, names): the NAT table and the worker's deps.
#pragma once

#include <array>
#include <memory>

#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/tables/flow_table.h"
#include "dataplane/tables/nat_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/test_site.h"

namespace traboule::testing {

// 1024 mappings on the external ports [49152, 53248).
inline std::unique_ptr<dp::NatTable> breakout_nat_table() {
  dp::NatConfig nc;
  nc.capacity = 1024;
  nc.port_base = 49152;
  nc.port_range_size = 4096;
  return std::make_unique<dp::NatTable>(nc);
}

// Worker 0 on `ts` (its LAN and uplink ports ready), flows in `flows`, NAT through `nat`.
inline dp::WorkerDeps nat_worker_deps(TestSite& ts, dp::FlowTable& flows, dp::NatTable& nat) {
  std::array<bool, dp::kMaxPorts> ready{};
  ready[ts.lan_port] = ready[ts.up_port] = true;
  dp::WorkerDeps d{0, &ts.site, &flows, test_pool(), {nullptr}, ready};
  d.nat = &nat;
  return d;
}

}  // namespace traboule::testing

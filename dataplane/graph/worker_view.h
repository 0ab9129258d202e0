// SPDX-License-Identifier: Apache-2.0
// What a worker's stages read from the control plane during one loop iteration: the snapshot
// pointers the worker loaded once at the top of the iteration. Stages hold a reference to their
// worker's view; the pointed-to snapshots stay alive until the worker reports quiescence.
#pragma once

#include <cstdint>

#include "dataplane/model/link_snapshot.h"
#include "dataplane/model/policy_snapshot.h"

namespace traboule::dp {

struct WorkerView {
  const PolicySnapshot* policy = nullptr;
  uint16_t policy_gen = 0;              // changes with every publication (flows compare it lazily)
  const LinkSnapshot* links = nullptr;  // nullptr: no measurements (every uplink usable)
};

}  // namespace traboule::dp

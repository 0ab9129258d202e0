// SPDX-License-Identifier: Apache-2.0
// What every stage sees of one burst besides its packets, filled once by the worker before the
// burst enters the pipeline: the time, the worker, and the worker's view of the control plane's
// snapshots. Stages read the clock and the snapshots from here, never on their own (the probe
// stage's STAMP timestamps are the one exception: they are taken at the last moment by design).
#pragma once

#include <cstdint>

#include "dataplane/graph/worker_view.h"

namespace traboule::dp {

struct BurstContext {
  uint64_t now_tsc = 0;              // rte_rdtsc() when the burst was taken from its queue
  const WorkerView* view = nullptr;  // valid until the worker's next quiescent point
  uint16_t worker = 0;

  // The snapshots (nullptr without a view: a stage tested alone, or nothing published yet).
  const PolicySnapshot* policy() const noexcept { return view != nullptr ? view->policy : nullptr; }
  uint16_t policy_gen() const noexcept { return view != nullptr ? view->policy_gen : 0; }
  const LinkSnapshot* links() const noexcept { return view != nullptr ? view->links : nullptr; }
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The Stage contract's typed edges and drops (dataplane/graph/stage.h), checked by the
// compiler: built as is, the correct uses compile (target stage_edge_ok, part of the build);
// with TRABOULE_MISUSE=n, ctest arch_stage_edge_misuse_n builds the nth misuse and passes only
// when the compiler refuses it for the contract's reason.
#include "dataplane/stages/route.h"

#ifndef TRABOULE_MISUSE
#define TRABOULE_MISUSE 0
#endif

namespace traboule::dp {

void stage_edge_uses(Output& out, rte_mbuf* m) {
  out.to(RouteStage::kOverlay, m);    // an edge, as an edge
  out.drop(RouteStage::kNoRoute, m);  // a drop reason, as a drop
  out.to_index(1, m);                 // by index, said so
#if TRABOULE_MISUSE == 1
  out.to(RouteStage::kNoRoute, m);  // a drop reason passed as an edge
#elif TRABOULE_MISUSE == 2
  out.drop(RouteStage::kOverlay, m);  // an edge passed as a drop reason
#elif TRABOULE_MISUSE == 3
  out.to(2u, m);  // a bare number
#endif
}

}  // namespace traboule::dp

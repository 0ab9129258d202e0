// SPDX-License-Identifier: Apache-2.0
// The pipeline wiring table, in one place: the daemon, the allocation test and traboule-bench
// all build exactly this pipeline for a worker.
#pragma once

#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <memory>
#include <vector>

#include "dataplane/crypto/esp_sas.h"
#include "dataplane/graph/pipeline.h"
#include "dataplane/graph/worker_view.h"
#include "dataplane/model/overlay_config.h"
#include "dataplane/runtime/site.h"
#include "dataplane/stages/probe.h"
#include "dataplane/stages/punt.h"
#include "dataplane/tables/flow_table.h"
#include "dataplane/tables/nat_table.h"
#include "dataplane/tables/overlay_sites.h"

namespace traboule::dp {

struct WorkerDeps {
  unsigned worker = 0;
  Site* site = nullptr;
  FlowTable* flows = nullptr;
  rte_mempool* pool = nullptr;  // for packets the box originates (ARP/ND requests)
  std::vector<rte_ring*>
      to_worker;  // hand-off ring per worker (nullptr for itself); size = workers
  std::array<bool, kMaxPorts> ports_ready{};
  // STAMP: with a clock, the probe stage (reflector, and sender when sessions are given) sits
  // between parse and local (ARP goes through it too, so a burst keeps its order);
  // `probe.requests` only on the worker that sends (worker 0).
  ProbeConfig probe_cfg;
  ProbeDeps probe;
  // Overlay: with a port, decap sits between probe (or parse) and local, and route's overlay
  // edge goes through encap; `sites` is required then (one per box). The probe stage gets it
  // too (ProbeDeps::overlay, unless already set): direct measurement, hub's known peers.
  OverlayConfig overlay;
  OverlaySites* sites = nullptr;
  // The ESP SAs (docs/security.md), required when overlay.encrypt; nullptr otherwise.
  const EspSas* esp = nullptr;
  // Breakout source NAT (the worker's own table): nat_in sits before local (replies to our
  // mappings skip it), route's breakout edge goes through nat_out. nullptr: breakout leaves
  // untranslated.
  NatTable* nat = nullptr;
  // Application recognition (nDPI): flows under classification at once per worker; 0: off.
  uint32_t classify_slots = 0;
  // First-packet recognition (DNS answers, SNI, custom applications): name cache entries per
  // worker; 0: off.
  uint32_t names_cache = 0;
  // Per-uplink QoS scheduling and shaping (qos stage between forward and tx).
  bool qos = false;
  // The stateful firewall in the flow stage (docs/firewall.md). Off only to measure its cost.
  bool firewall = true;
  // Kernel twins (docs/kernel.md): with punt.enabled, local's `to_kernel` goes through the punt
  // stage to the twin ports (which must be in ports_ready); otherwise it is never used.
  PuntSettings punt;
  PuntDeps punt_deps;
};

// parse → [probe →] [decap →] [nat_in →] local → dispatch → flow → [names →] [classify →] route →
// [encap | nat_out →] forward → [qos →] tx (local's and probe's replies → tx, consumed → sink,
// local's to_kernel → [punt →] tx).
// With a single worker there is nothing to dispatch: local → flow directly.
std::unique_ptr<Pipeline> make_worker_pipeline(WorkerDeps deps);

}  // namespace traboule::dp

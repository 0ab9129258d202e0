// SPDX-License-Identifier: Apache-2.0
#include "dataplane/runtime/pipeline_factory.h"

#include <algorithm>
#include <stdexcept>

#include "dataplane/stages/classify.h"
#include "dataplane/stages/decap.h"
#include "dataplane/stages/dispatch.h"
#include "dataplane/stages/encap.h"
#include "dataplane/stages/flow.h"
#include "dataplane/stages/forward.h"
#include "dataplane/stages/local.h"
#include "dataplane/stages/names.h"
#include "dataplane/stages/nat.h"
#include "dataplane/stages/parse.h"
#include "dataplane/stages/punt.h"
#include "dataplane/stages/qos.h"
#include "dataplane/stages/route.h"
#include "dataplane/stages/sink.h"
#include "dataplane/stages/tx.h"

namespace traboule::dp {

std::unique_ptr<Pipeline> make_worker_pipeline(WorkerDeps d) {
  if (d.view == nullptr) throw std::invalid_argument("make_worker_pipeline: no worker view");
  if (d.to_worker.empty()) d.to_worker.push_back(nullptr);
  const bool resolver = d.worker == 0;
  // One worker owns every flow: no dispatch stage (the flow stage hashes the key itself).
  const bool dispatch = d.to_worker.size() > 1;
  const bool probe = d.probe.clock != nullptr;
  const bool overlay = d.overlay.port != 0;
  if (overlay && d.sites == nullptr)
    throw std::invalid_argument("make_worker_pipeline: overlay without a site table");
  const bool nat = d.nat != nullptr;
  const char* before_local = nat ? "nat_in" : "local";
  const char* after_probe = overlay ? "decap" : before_local;
  const char* to_flows = dispatch ? "dispatch" : "flow";
  const char* ip_next = probe ? "probe" : after_probe;
  PortVlans vlans{};
  for (const auto& itf : d.site->ifaces)
    if (itf->port_id < kMaxPorts) vlans[itf->port_id] = itf->vlan;
  std::vector<NodeSpec> t;
  t.push_back({std::make_unique<ParseStage>(vlans),
               {{"ipv4", ip_next}, {"ipv6", ip_next}, {"arp", ip_next}}});
  if (probe && overlay && d.probe.overlay == nullptr) {
    // Direct measurement and the hub's known-peer check read the overlay's site table.
    d.probe.overlay = d.sites;
    d.probe.overlay_hub = d.overlay.hub;
    d.probe.overlay_site_id = d.overlay.hub ? 0 : d.overlay.site_id;
  }
  if (probe)
    t.push_back(
        {std::make_unique<ProbeStage>(*d.site, d.probe_cfg, d.probe),
         {{"next", after_probe}, {"reply", "tx"}, {"probe", "tx"}, {"consumed", "consumed"}}});
  if (overlay)
    t.push_back({std::make_unique<DecapStage>(*d.site, d.overlay, d.sites, *d.view),
                 {{"next", before_local}}});
  if (nat) {
    auto nat_in = std::make_unique<NatInStage>(*d.site, *d.nat);
    nat_in->watch_policy(d.view);
    nat_in->set_punt(d.punt.enabled);
    if (dispatch) {
      const uint32_t size = d.nat->port_count();
      nat_in->set_handoff(d.worker, d.to_worker,
                          static_cast<uint16_t>(d.nat->port_lo() - d.worker * size), size);
    }
    t.push_back({std::move(nat_in),
                 {{"next", "local"},
                  {"translated", to_flows},
                  {"to_box", d.punt.enabled ? "punt" : "local"}}});
  }
  auto local = std::make_unique<LocalStage>(*d.site, d.pool, resolver);
  local->set_punt(d.punt.enabled);
  t.push_back({std::move(local),
               {{"forward", to_flows},
                {"tx", "tx"},
                {"consumed", "consumed"},
                {"to_kernel", d.punt.enabled ? "punt" : "consumed"}}});
  if (d.punt.enabled)
    t.push_back({std::make_unique<PuntStage>(*d.site, d.punt, d.punt_deps), {{"tx", "tx"}}});
  if (dispatch)
    t.push_back(
        {std::make_unique<DispatchStage>(d.worker, std::move(d.to_worker)), {{"local", "flow"}}});
  const bool classify = d.classify_slots != 0;
  const bool names = d.names_cache != 0;
  const char* after_names = classify ? "classify" : "route";
  FirewallDeps fw;
  fw.site = d.site;
  fw.view = d.view;
  fw.worker = d.worker;
  t.push_back({d.firewall ? std::make_unique<FlowStage>(*d.flows, fw)
                          : std::make_unique<FlowStage>(*d.flows),
               {{"next", names ? "names" : after_names}, {"reject", "tx"}}});
  if (names)
    t.push_back(
        {std::make_unique<NamesStage>(*d.flows, *d.view, d.names_cache), {{"next", after_names}}});
  if (classify)
    t.push_back({std::make_unique<ClassifyStage>(*d.flows, *d.view, d.classify_slots),
                 {{"next", "route"}}});
  t.push_back({std::make_unique<RouteStage>(*d.site, *d.flows, *d.view, d.worker, d.overlay),
               {{"uplink", "forward"},
                {"lan", "forward"},
                {"overlay", overlay ? "encap" : "forward"},
                {"breakout", nat ? "nat_out" : "forward"}}});
  if (nat) {
    auto nat_out = std::make_unique<NatOutStage>(*d.site, *d.nat);
    nat_out->watch_links(d.view);
    t.push_back({std::move(nat_out), {{"next", "forward"}}});
  }
  if (overlay)
    t.push_back({std::make_unique<EncapStage>(*d.site, d.overlay, *d.sites, *d.view, d.pool),
                 {{"next", "forward"}, {"icmp", "forward"}}});
  t.push_back({std::make_unique<ForwardStage>(*d.site, *d.flows), {{"tx", d.qos ? "qos" : "tx"}}});
  // Our own drops of overlay packets after encap are not the path's loss (direct measurement).
  OverlaySites* own_drops = overlay ? d.sites : nullptr;
  if (d.qos) {
    auto qos = std::make_unique<QosStage>(*d.site, *d.view);
    qos->count_own_drops(own_drops);
    t.push_back({std::move(qos), {{"tx", "tx"}}});
  }
  auto tx = std::make_unique<TxStage>(static_cast<uint16_t>(d.worker), d.ports_ready, vlans);
  tx->count_own_drops(own_drops);
  t.push_back({std::move(tx), {}});
  t.push_back({std::make_unique<SinkStage>("consumed"), {}});
  return std::make_unique<Pipeline>(std::move(t));
}

}  // namespace traboule::dp

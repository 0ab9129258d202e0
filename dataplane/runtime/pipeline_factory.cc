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

namespace {

// Which optional stages this worker has, and so where each edge leads.
struct Shape {
  bool dispatch, probe, overlay, nat, classify, names;
  const char* before_local;
  const char* after_probe;
  const char* to_flows;
  PortVlans vlans{};
};

Shape shape_of(const WorkerDeps& d) {
  Shape s{};
  // One worker owns every flow: no dispatch stage (the flow stage hashes the key itself).
  s.dispatch = d.to_worker.size() > 1;
  s.probe = d.probe.clock != nullptr;
  s.overlay = d.overlay.port != 0;
  s.nat = d.nat != nullptr;
  s.classify = d.classify_slots != 0;
  s.names = d.names_cache != 0;
  s.before_local = s.nat ? "nat_in" : "local";
  s.after_probe = s.overlay ? "decap" : s.before_local;
  s.to_flows = s.dispatch ? "dispatch" : "flow";
  for (const auto& itf : d.site->ifaces)
    if (itf->port_id < kMaxPorts) s.vlans[itf->port_id] = itf->vlan;
  return s;
}

// What comes in: parse, [probe], [decap], [nat_in], local, [punt], [dispatch].
void add_receive(std::vector<NodeSpec>& t, WorkerDeps& d, const Shape& s) {
  const char* ip_next = s.probe ? "probe" : s.after_probe;
  t.push_back({std::make_unique<ParseStage>(s.vlans),
               {{"ipv4", ip_next}, {"ipv6", ip_next}, {"arp", ip_next}}});
  if (s.probe && s.overlay && d.probe.overlay == nullptr) {
    // Direct measurement and the hub's known-peer check read the overlay's site table.
    d.probe.overlay = d.sites;
    d.probe.overlay_hub = d.overlay.hub;
    d.probe.overlay_site_id = d.overlay.hub ? 0 : d.overlay.site_id;
  }
  if (s.probe)
    t.push_back(
        {std::make_unique<ProbeStage>(*d.site, d.probe_cfg, d.probe),
         {{"next", s.after_probe}, {"reply", "tx"}, {"sent", "tx"}, {"consumed", "consumed"}}});
  if (s.overlay)
    t.push_back({std::make_unique<DecapStage>(*d.site, d.overlay, d.sites, d.esp),
                 {{"next", s.before_local}}});
  if (s.nat) {
    auto nat_in = std::make_unique<NatInStage>(*d.site, *d.nat);
    nat_in->set_punt(d.punt.enabled);
    if (s.dispatch) {
      const uint32_t size = d.nat->port_count();
      nat_in->set_handoff(d.worker, d.to_worker,
                          static_cast<uint16_t>(d.nat->port_lo() - d.worker * size), size);
    }
    t.push_back({std::move(nat_in),
                 {{"next", "local"},
                  {"translated", s.to_flows},
                  {"to_box", d.punt.enabled ? "punt" : "local"}}});
  }
  auto local = std::make_unique<LocalStage>(*d.site, d.pool, d.worker == 0);
  local->set_punt(d.punt.enabled);
  t.push_back({std::move(local),
               {{"transit", s.to_flows},
                {"tx", "tx"},
                {"consumed", "consumed"},
                {"to_kernel", d.punt.enabled ? "punt" : "consumed"}}});
  if (d.punt.enabled)
    t.push_back({std::make_unique<PuntStage>(*d.site, d.punt, d.punt_deps), {{"tx", "tx"}}});
  if (s.dispatch)
    t.push_back(
        {std::make_unique<DispatchStage>(d.worker, std::move(d.to_worker)), {{"own", "flow"}}});
}

// What is decided per flow: flow (firewall), [names], [classify], route, [nat_out], [encap].
void add_decide(std::vector<NodeSpec>& t, WorkerDeps& d, const Shape& s) {
  const char* after_names = s.classify ? "classify" : "route";
  FirewallDeps fw;
  fw.site = d.site;
  fw.worker = d.worker;
  t.push_back({d.firewall ? std::make_unique<FlowStage>(*d.flows, fw)
                          : std::make_unique<FlowStage>(*d.flows),
               {{"next", s.names ? "names" : after_names}, {"reject", "tx"}}});
  if (s.names)
    t.push_back({std::make_unique<NamesStage>(*d.flows, d.names_cache), {{"next", after_names}}});
  if (s.classify)
    t.push_back({std::make_unique<ClassifyStage>(*d.flows, d.classify_slots), {{"next", "route"}}});
  t.push_back({std::make_unique<RouteStage>(*d.site, *d.flows, d.worker, d.overlay),
               {{"uplink", "forward"},
                {"lan", "forward"},
                {"overlay", s.overlay ? "encap" : "forward"},
                {"breakout", s.nat ? "nat_out" : "forward"}}});
  if (s.nat) {
    t.push_back({std::make_unique<NatOutStage>(*d.site, *d.nat), {{"next", "forward"}}});
  }
  if (s.overlay)
    t.push_back({std::make_unique<EncapStage>(*d.site, d.overlay, *d.sites, d.pool, d.esp),
                 {{"next", "forward"}, {"icmp", "forward"}}});
}

// What goes out: forward, [qos], tx, and the sink of consumed packets.
void add_transmit(std::vector<NodeSpec>& t, const WorkerDeps& d, const Shape& s) {
  t.push_back(
      {std::make_unique<ForwardStage>(*d.site, *d.flows), {{"egress", d.qos ? "qos" : "tx"}}});
  // Our own drops of overlay packets after encap are not the path's loss (direct measurement).
  OverlaySites* own_drops = s.overlay ? d.sites : nullptr;
  if (d.qos) {
    auto qos = std::make_unique<QosStage>(*d.site);
    qos->count_own_drops(own_drops);
    t.push_back({std::move(qos), {{"tx", "tx"}}});
  }
  auto tx = std::make_unique<TxStage>(static_cast<uint16_t>(d.worker), d.ports_ready, s.vlans);
  tx->count_own_drops(own_drops);
  t.push_back({std::move(tx), {}});
  t.push_back({std::make_unique<SinkStage>("consumed"), {}});
}

}  // namespace

std::unique_ptr<Pipeline> make_worker_pipeline(WorkerDeps d) {
  if (d.to_worker.empty()) d.to_worker.push_back(nullptr);
  const Shape s = shape_of(d);
  if (s.overlay && d.sites == nullptr)
    throw std::invalid_argument("make_worker_pipeline: overlay without a site table");
  std::vector<NodeSpec> t;
  add_receive(t, d, s);
  add_decide(t, d, s);
  add_transmit(t, d, s);
  return std::make_unique<Pipeline>(std::move(t));
}

}  // namespace traboule::dp

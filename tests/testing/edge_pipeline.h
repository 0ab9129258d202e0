// SPDX-License-Identifier: Apache-2.0
// The worker pipeline as the daemon runs it on an edge, for tests that must cover every stage
// (the no-allocation and hostile-corpus tests): overlay to a hub at 100.64.100.2:4500 as site 7,
// breakout NAT, names, recognition (nDPI), QoS with two classes. It owns the tables those stages
// need; the TestSite owns the ports and the policy.
#pragma once

#include <memory>

#include "dataplane/proto/overlay_header.h"
#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/stages/qos.h"
#include "dataplane/tables/nat_table.h"
#include "dataplane/tables/overlay_sites.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/test_site.h"

namespace traboule::testing {

class EdgePipeline {
 public:
  // `base` with the hub as overlay peer, QoS classes voice (0) and bulk (1), and two rules:
  // `overlay_dst` through the overlay as voice, everything else broken out as bulk.
  static std::shared_ptr<dp::PolicySnapshot> policy(const dp::PolicySnapshot& base, uint64_t up_bps,
                                                    const char* overlay_dst) {
    auto p = std::make_shared<dp::PolicySnapshot>(base);
    p->uplinks[0].up_bps = up_bps;
    p->qos_classes = {{.name = "voice", .priority = 0, .weight = 1},
                      {.name = "bulk", .priority = 1, .weight = 1}};
    p->peers = {{.name = "hub", .endpoints = {*dp::IpAddr::parse("100.64.100.2")}, .port = 4500}};
    dp::CompiledRule dc = p->rules.back(), web = p->rules.back();
    dc.name = "dc";
    dc.match.dst = {*dp::IpPrefix::parse(overlay_dst)};
    dc.action.egress = dp::Egress::kOverlay;
    dc.action.qos_class = 0;
    web.name = "web";
    web.action.egress = dp::Egress::kBreakout;
    web.action.qos_class = 1;
    p->rules = {dc, web};
    return p;
  }

  // The pipeline of `ts` (its policy already set) with every stage on, and the QoS plan of that
  // policy offered, as the data plane does before a worker runs.
  std::unique_ptr<dp::Pipeline> make(TestSite& ts, dp::FlowTable& flows) {
    std::array<bool, dp::kMaxPorts> ready{};
    ready[ts.lan_port] = ready[ts.up_port] = true;
    dp::WorkerDeps deps{0, &ts.site, &flows, test_pool(), {nullptr}, ready};
    deps.overlay = {.port = 4500, .site_id = 7};
    deps.sites = &sites_;
    deps.nat = &nat_;
    deps.classify_slots = 256;
    deps.names_cache = 1024;
    deps.qos = true;
    auto pipeline = dp::make_worker_pipeline(std::move(deps));
    offer_plan(*pipeline, ts);
    return pipeline;
  }

  // After ts.set_policy(): the new policy's QoS plan, built off the worker.
  static void offer_plan(dp::Pipeline& pipeline, const TestSite& ts) {
    if (auto* qos = pipeline.find<dp::QosStage>("qos"))
      qos->offer(dp::QosStage::plan(ts.view.policy, ts.view.policy_gen, ts.site, 1,
                                    dp::QosStage::tsc_now_ns()));
  }

 private:
  static dp::NatConfig nat_config() {
    dp::NatConfig nc;
    nc.capacity = 4096;
    nc.port_base = 50000;
    nc.port_range_size = 8192;
    return nc;
  }
  dp::NatTable nat_{nat_config()};
  dp::OverlaySites sites_;
};

}  // namespace traboule::testing

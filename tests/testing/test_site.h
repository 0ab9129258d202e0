// SPDX-License-Identifier: Apache-2.0
// A small site for tests that run whole pipelines: a LAN port and one uplink ("fiber"), both
// ring-backed DPDK ports (what the pipeline transmits lands in the rings), static gateway MAC.
#pragma once

#include <rte_ring.h>

#include <string>

#include <memory>
#include <vector>

#include <rte_cycles.h>

#include "dataplane/graph/burst_context.h"
#include "dataplane/graph/worker_view.h"
#include "dataplane/model/policy_snapshot.h"
#include "dataplane/runtime/site.h"

namespace traboule::testing {

inline constexpr const char* kSiteLanMac = "02:00:00:00:0a:01";
inline constexpr const char* kSiteUplinkMac = "02:00:00:00:0b:01";
inline constexpr const char* kSiteHostMac = "02:00:00:00:0a:10";
inline constexpr const char* kSiteGatewayMac = "02:00:00:00:0b:fe";

// LAN 192.168.10.1/24 + fd00:10::1/64; uplink 100.64.1.2/24 (gw .1, static MAC) and
// fd00:64:1::2/64 (gw ::1, unresolved); one default rule to the uplink.
class TestSite {
 public:
  explicit TestSite(const std::string& tag);  // tag: unique ring/port names per fixture
  ~TestSite();
  TestSite(const TestSite&) = delete;
  TestSite& operator=(const TestSite&) = delete;

  dp::Site site;
  // The active policy as the stages see it: `view` points at `policy` (generation 1). Tests that
  // change rules edit `policy` and call set_policy() so flows re-evaluate.
  std::shared_ptr<dp::PolicySnapshot> policy;
  dp::WorkerView view;
  void set_policy(std::shared_ptr<dp::PolicySnapshot> p);
  // A burst's context on this site's view, at `now_tsc` (default: now), as a worker makes one.
  dp::BurstContext ctx(uint64_t now_tsc = 0) const {
    return {now_tsc != 0 ? now_tsc : rte_rdtsc(), &view, 0};
  }
  // A snapshot with one default rule sending everything to the given uplinks (priority).
  static std::shared_ptr<dp::PolicySnapshot> default_policy(const dp::Site& site,
                                                            std::vector<uint8_t> uplinks);
  uint16_t lan_port = 0;
  uint16_t up_port = 0;
  // Frees whatever the pipeline transmitted; returns how many packets that was per port.
  unsigned drain_lan();
  unsigned drain_uplink();
  // What the pipeline transmitted on the uplink, as bytes (the mbufs are freed).
  std::vector<std::vector<uint8_t>> uplink_frames();

 private:
  std::string lan_name_, up_name_;
  rte_ring* lan_ring_ = nullptr;
  rte_ring* up_ring_ = nullptr;
};

}  // namespace traboule::testing

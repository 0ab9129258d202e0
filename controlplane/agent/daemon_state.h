// SPDX-License-Identifier: Apache-2.0
// The daemon's read-only state for the API (StateSource): uplinks, the effective rules with
// their hit counters, QoS classes, routes, top flows, applications, counters and drops, read
// from the running data plane and the running policy without pausing either.
#pragma once

#include <chrono>
#include <functional>

#include "controlplane/agent/config.h"
#include "controlplane/api/state_source.h"
#include "controlplane/store/policy_manager.h"
#include "dataplane/runtime/dataplane.h"

namespace traboule::cp {

class DaemonState final : public StateSource {
 public:
  DaemonState(const AgentConfig& cfg, dp::Dataplane& dp, const PolicyManager& policies);

  nlohmann::json status() override;
  nlohmann::json uplinks() override;
  nlohmann::json rules() override;
  nlohmann::json qos() override;
  nlohmann::json routes() override;
  nlohmann::json flows(size_t top) override;
  nlohmann::json apps() override;
  nlohmann::json counters(std::string_view prefix) override;
  nlohmann::json drops() override;
  nlohmann::json app_traffic(size_t top) override;
  nlohmann::json paths() override { return paths_ ? paths_() : nlohmann::json::object(); }
  void set_paths(std::function<nlohmann::json()> fn) { paths_ = std::move(fn); }

  // Extra per-uplink JSON merged into uplinks() (link metrics from the probes, when running).
  void set_link_details(std::function<nlohmann::json(const std::string& uplink)> fn) {
    link_details_ = std::move(fn);
  }

 private:
  const AgentConfig& cfg_;
  dp::Dataplane& dp_;
  const PolicyManager& policies_;
  std::chrono::steady_clock::time_point started_;
  std::function<nlohmann::json(const std::string&)> link_details_;
  std::function<nlohmann::json()> paths_;
};

}  // namespace traboule::cp

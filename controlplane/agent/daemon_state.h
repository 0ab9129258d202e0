// SPDX-License-Identifier: Apache-2.0
// The daemon's read-only state for the API (StateSource): uplinks, the effective rules with
// their hit counters, QoS classes, routes, top flows, applications, counters and drops, read
// from the running data plane and the running policy without pausing either.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "controlplane/api/state_source.h"
#include "controlplane/config/config.h"
#include "controlplane/journal/availability.h"
#include "controlplane/journal/journal.h"
#include "controlplane/journal/syslog.h"
#include "controlplane/store/policy_manager.h"
#include "controlplane/telemetry/history.h"
#include "controlplane/telemetry/runtime_view.h"
#include "dataplane/runtime/dataplane.h"

namespace traboule::cp {

// GET /qos, from what the data plane reports (pure, for the unit test): one entry per policy
// QoS class (every field the policy gives it), then "(unclassified)" (rules without a class and
// classes beyond the scheduler's seventh) when the stage schedules. Per class and uplink of the
// site (`uplinks`, in site order): whether the qos stage enforces the class there (the stage is
// in the pipeline, the policy has classes, the class has its own queue and the uplink has an
// up_kbps to shape to) and the live qos.<uplink>.class<c>.* figures of `counters` (0 until the
// class first queues there). The stage's presence is read from `counters` ("qos.out.tx").
nlohmann::json qos_view(const dp::PolicySnapshot* policy, const std::vector<std::string>& uplinks,
                        unsigned workers, const std::vector<dp::CounterValue>& counters);

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
  nlohmann::json firewall(size_t top) override;
  void set_firewall_log(std::function<nlohmann::json(size_t)> fn) { fw_log_ = std::move(fn); }

  nlohmann::json events(int64_t since_ms, const std::string& incident, size_t limit) override;
  nlohmann::json availability(int year, int month) override;
  std::string availability_csv(int year, int month) override;
  void set_journal(const Journal* journal, AvailabilityOptions opt,
                   const SyslogSender* syslog = nullptr) {
    journal_ = journal;
    avail_ = std::move(opt);
    syslog_ = syslog;
  }

  nlohmann::json link_history(const std::string& range) override {
    return history_ != nullptr ? history_->query(range) : StateSource::link_history(range);
  }
  void set_history(const HistoryStore* h) { history_ = h; }
  nlohmann::json runtime() override;
  // Flow export's figures in status() ("ipfix"), when it runs.
  void set_ipfix(const IpfixExporter* e) { ipfix_ = e; }

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
  const Journal* journal_ = nullptr;
  const SyslogSender* syslog_ = nullptr;
  const IpfixExporter* ipfix_ = nullptr;
  const HistoryStore* history_ = nullptr;
  AvailabilityOptions avail_;
  std::function<nlohmann::json(size_t)> fw_log_;
};

}  // namespace traboule::cp

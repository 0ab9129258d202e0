// SPDX-License-Identifier: Apache-2.0
// The link runner's journal records (docs/operations.md): uplink and site reachability, SLA
// classes no uplink meets and WAN floods, each change once; refused overlay packets, rate-limited;
// and the alive stamp a restart after a crash reads. Runner thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "controlplane/config/config.h"
#include "controlplane/journal/flood_watch.h"
#include "controlplane/journal/journal.h"
#include "controlplane/journal/refusal_report.h"
#include "dataplane/runtime/dataplane.h"

namespace traboule::cp {

class HealthJournal {
 public:
  // Before the runner starts. Null journal: nothing journaled; empty alive_file: no stamp.
  void set(Journal* journal, IncidentClasses classes, std::string alive_file) {
    journal_ = journal;
    incidents_ = std::move(classes);
    alive_file_ = std::move(alive_file);
  }
  const IncidentClasses& incidents() const noexcept { return incidents_; }

  // One record of the links (source "links"); nothing without a journal.
  void record(const std::string& kind, const std::string& subject, const std::string& state,
              const std::string& severity, const std::string& incident, const std::string& text);
  // Per uplink, its hub reachability, and the site's to the hub and to the internet: a down,
  // and an up after a down. `policy` says which uplinks are backups (null: none).
  void health(const std::vector<dp::LinkHealth>& hub, const std::vector<dp::LinkHealth>& internet,
              const std::vector<dp::Interface*>& ups, const dp::PolicySnapshot* policy);
  // The SLA classes no uplink of the first n_uplinks meets, and those met again.
  void sla_unmet(const dp::LinkSnapshot& links, const std::vector<dp::SlaClass>& classes,
                 size_t n_uplinks);
  // When the firewall's WAN flood limits start and stop refusing (FloodWatch), checked every
  // FloodWatch::kIntervalNs.
  void watch_flood(uint64_t now_ns, const dp::Dataplane& dataplane);
  // Overlay packets the data plane refused as forged, replayed or damaged (decap.esp_*), with
  // RefusalReport's rate limit.
  void watch_refusals(uint64_t now_ns, const dp::Dataplane& dataplane);
  // Every 5 s, the time now (ms since the epoch) to the alive file.
  void stamp_alive(uint64_t now_ns);

 private:
  // The site's reachability of `subject` ("hub", "internet") is `now`: journaled when it goes
  // down, and up after a down.
  void site_change(dp::LinkHealth now, dp::LinkHealth& journaled, const std::string& subject,
                   const std::string& down_text, const std::string& up_text);

  Journal* journal_ = nullptr;
  IncidentClasses incidents_;
  std::string alive_file_;
  uint64_t alive_stamped_ns_ = 0;
  std::vector<dp::LinkHealth> journaled_hub_, journaled_internet_;  // per uplink
  dp::LinkHealth journaled_site_ = dp::LinkHealth::kUnknown;
  dp::LinkHealth journaled_site_internet_ = dp::LinkHealth::kUnknown;
  std::map<std::string, bool> journaled_unmet_;  // SLA class → no uplink meets it
  FloodWatch flood_;
  uint64_t flood_checked_ns_ = 0;
  RefusalReport refusals_;
  uint64_t refusals_checked_ns_ = 0;
};

}  // namespace traboule::cp

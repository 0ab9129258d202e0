// SPDX-License-Identifier: Apache-2.0
#include "controlplane/agent/health_journal.h"

#include <chrono>
#include <cstdio>

namespace traboule::cp {

void HealthJournal::record(const std::string& kind, const std::string& subject,
                           const std::string& state, const std::string& severity,
                           const std::string& incident, const std::string& text) {
  if (journal_ == nullptr) return;
  JournalEvent e;
  e.source = "links";
  e.kind = kind;
  e.subject = subject;
  e.state = state;
  e.severity = severity;
  e.incident = incident;
  e.text = text;
  journal_->append(std::move(e));
}

void HealthJournal::health(const std::vector<dp::LinkHealth>& hub,
                           const std::vector<dp::LinkHealth>& internet,
                           const std::vector<dp::Interface*>& ups,
                           const dp::PolicySnapshot* policy) {
  if (journal_ == nullptr) return;
  journaled_hub_.resize(hub.size(), dp::LinkHealth::kUnknown);
  journaled_internet_.resize(internet.size(), dp::LinkHealth::kUnknown);
  bool any_hub = false, all_hub_down = true, any_inet = false, all_inet_down = true;
  for (size_t u = 0; u < hub.size() && u < ups.size(); ++u) {
    if (hub[u] != dp::LinkHealth::kUnknown) any_hub = true;
    if (hub[u] != dp::LinkHealth::kDown) all_hub_down = false;
    // An uplink's hub reachability: down, and up again after a down (a first "up" after start
    // is no news).
    const dp::LinkHealth was = journaled_hub_[u];
    if (hub[u] == dp::LinkHealth::kDown && was != dp::LinkHealth::kDown) {
      const bool backup = policy != nullptr && u < policy->uplinks.size() &&
                          policy->uplinks[u].role == dp::UplinkRole::kBackup;
      record("uplink", ups[u]->name, "down", backup ? "warning" : "error",
             backup ? incidents_.backup_down : incidents_.primary_down,
             std::string(backup ? "backup" : "primary") + " uplink " + ups[u]->name +
                 " has no path to the hub");
    } else if (hub[u] == dp::LinkHealth::kUp && was == dp::LinkHealth::kDown) {
      record("uplink", ups[u]->name, "up", "notice", "",
             "uplink " + ups[u]->name + " reaches the hub again");
    }
    if (hub[u] != dp::LinkHealth::kUnknown) journaled_hub_[u] = hub[u];
  }
  for (size_t u = 0; u < internet.size(); ++u) {
    if (internet[u] != dp::LinkHealth::kUnknown) any_inet = true;
    if (internet[u] != dp::LinkHealth::kDown) all_inet_down = false;
  }
  // The site: P0 when no uplink reaches the hub (or, with breakout targets, the internet).
  const dp::LinkHealth site = !any_hub       ? dp::LinkHealth::kUnknown
                              : all_hub_down ? dp::LinkHealth::kDown
                                             : dp::LinkHealth::kUp;
  site_change(site, journaled_site_, "hub", "the site has no usable path to the hub",
              "the site reaches the hub again");
  const dp::LinkHealth inet = !any_inet       ? dp::LinkHealth::kUnknown
                              : all_inet_down ? dp::LinkHealth::kDown
                                              : dp::LinkHealth::kUp;
  site_change(inet, journaled_site_internet_, "internet",
              "the site has no usable path to the internet (no breakout target answers)",
              "the site reaches the internet again");
}

void HealthJournal::site_change(dp::LinkHealth now, dp::LinkHealth& journaled,
                                const std::string& subject, const std::string& down_text,
                                const std::string& up_text) {
  if (now == dp::LinkHealth::kDown && journaled != dp::LinkHealth::kDown)
    record("site", subject, "down", "critical", incidents_.site_down, down_text);
  else if (now == dp::LinkHealth::kUp && journaled == dp::LinkHealth::kDown)
    record("site", subject, "up", "notice", "", up_text);
  if (now != dp::LinkHealth::kUnknown) journaled = now;
}

void HealthJournal::sla_unmet(const dp::LinkSnapshot& links,
                              const std::vector<dp::SlaClass>& classes, size_t n) {
  if (journal_ == nullptr) return;
  for (size_t c = 0; c < classes.size() && c < 32; ++c) {
    bool met = false;
    for (size_t u = 0; u < n; ++u)
      met = met || (links.uplinks[u].state != dp::LinkHealth::kDown &&
                    (links.uplinks[u].sla_ok >> c & 1u) != 0);
    auto [it, fresh] = journaled_unmet_.try_emplace(classes[c].name, false);
    if (!met && !it->second)
      record("sla", classes[c].name, "unmet", "error", incidents_.sla_unmet,
             "no uplink meets SLA class " + classes[c].name);
    else if (met && it->second)
      record("sla", classes[c].name, "met", "notice", "",
             "an uplink meets SLA class " + classes[c].name + " again");
    it->second = !met;
  }
}

void HealthJournal::watch_flood(uint64_t now_ns, const dp::Dataplane& dataplane) {
  if (journal_ == nullptr || now_ns - flood_checked_ns_ < FloodWatch::kIntervalNs) return;
  flood_checked_ns_ = now_ns;
  uint64_t refused = 0;  // new flows the WAN flood limits refused, every worker
  for (const dp::CounterValue& c : dataplane.counters())
    if (c.name == "firewall.flood_table_share" || c.name == "firewall.flood_source_rate" ||
        c.name == "firewall.flood_destination_rate")
      refused += c.value;
  const auto ch = flood_.update(now_ns, refused);
  if (!ch) return;
  if (ch->active)
    record("firewall", "wan", "flood", "warning", incidents_.firewall_flood,
           "WAN flood: the firewall's flood limits refuse " + std::to_string(ch->per_second) +
               " new flows/s (table share, source and destination rates; docs/firewall.md)");
  else
    record("firewall", "wan", "calm", "notice", "",
           "WAN flood over: " + std::to_string(ch->refused) + " new flows refused, peak " +
               std::to_string(ch->per_second) + "/s");
}

void HealthJournal::watch_refusals(uint64_t now_ns, const dp::Dataplane& dataplane) {
  if (journal_ == nullptr || now_ns - refusals_checked_ns_ < 1'000'000'000) return;
  refusals_checked_ns_ = now_ns;  // the counters are read once a second
  std::vector<std::pair<std::string, uint64_t>> totals;
  for (const dp::CounterValue& c : dataplane.counters())
    if (c.name.rfind("decap.esp_", 0) == 0) totals.emplace_back(c.name, c.value);
  if (const auto text = refusals_.update(now_ns, totals))
    record("overlay", "esp", "refused", "warning", "", *text + " (docs/security.md)");
}

void HealthJournal::stamp_alive(uint64_t now_ns) {
  if (alive_file_.empty() || now_ns - alive_stamped_ns_ < 5'000'000'000ULL) return;
  alive_stamped_ns_ = now_ns;
  // Written aside and renamed: a crash leaves the old stamp or the new one, never half.
  const std::string tmp = alive_file_ + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    std::fprintf(f, "%lld\n", static_cast<long long>(ms));
    std::fclose(f);
    std::rename(tmp.c_str(), alive_file_.c_str());
  }
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// The link-measurement control thread of the daemon: turns the running policy into paths (STAMP
// to each hub endpoint per uplink, ICMP echo to each breakout target per breakout uplink), keeps
// the data plane's TSC clock mapped to UTC, drives the LinkMonitor on the data plane's rings, logs
// every path state change, and publishes per-uplink health (hub and internet) to the data plane
// (RCU) and the paths' JSON to the API.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/agent/firewall_log.h"
#include "controlplane/agent/health_journal.h"
#include "controlplane/config/config.h"
#include "controlplane/journal/journal.h"
#include "controlplane/links/cap_meter.h"
#include "controlplane/links/link_monitor.h"
#include "controlplane/links/sla_tracker.h"
#include "controlplane/policy/policy.h"
#include "dataplane/runtime/dataplane.h"

namespace traboule::cp {

class LinksRunner {
 public:
  using Log = std::function<void(bool error, const std::string&)>;
  // The data plane must outlive the runner. Role "hub" only reflects (no paths of its own).
  LinksRunner(dp::Dataplane& dp, std::string role, Log log);
  ~LinksRunner();  // stop()
  LinksRunner(const LinksRunner&) = delete;
  LinksRunner& operator=(const LinksRunner&) = delete;

  // Takes the running policy's probe settings and peers; the thread rebuilds its paths.
  void set_policy(std::shared_ptr<const CompiledPolicy> p);
  // Where the monthly data use per uplink is kept (before start(); empty: not kept).
  void set_usage_file(std::string path) { usage_file_ = std::move(path); }
  // The event journal the state changes go to, with their incident classes, and the file the
  // runner stamps every few seconds so a restart after a crash knows when the box was last
  // alive (before start(); null: nothing journaled).
  void set_journal(Journal* journal, IncidentClasses classes, std::string alive_file) {
    journal_.set(journal, std::move(classes), std::move(alive_file));
  }
  void start();
  void stop();

  // The paths through `uplink` as JSON (LinkState form), for GET /uplinks.
  nlohmann::json paths_json(const std::string& uplink) const;
  // Every path, and the last state changes (newest last), for logs and tests.
  nlohmann::json state_json() const;
  // Per rule, the uplink a new flow gets now and why; per uplink and SLA class, whether it
  // meets it; the last path changes (newest last). For GET /paths.
  nlohmann::json paths_view() const;
  // GET /firewall's log part: the last decisions logged and the top denied sources.
  nlohmann::json firewall_log_view(size_t top) const;

 private:
  struct PathPlan {
    uint16_t session;
    dp::StampSession where;
    PathConfig cfg;
    bool internet = false;  // an ICMP echo path to a breakout target (not to a hub)
    std::string target;     // internet: the breakout target's name
    bool operator==(const PathPlan& o) const {
      return session == o.session && where.uplink == o.where.uplink &&
             where.remote == o.where.remote && where.remote_port == o.where.remote_port &&
             where.kind == o.where.kind && internet == o.internet && target == o.target &&
             cfg.name == o.cfg.name && cfg.interval_ms == o.cfg.interval_ms &&
             cfg.timeout_ms == o.cfg.timeout_ms && cfg.window == o.cfg.window &&
             cfg.down_after == o.cfg.down_after && cfg.up_after == o.cfg.up_after &&
             cfg.dscp == o.cfg.dscp;
    }
  };
  std::vector<PathPlan> plan(const CompiledPolicy& p) const;
  static void probe_settings(PathPlan& pp, const ProbeSettings& probes);
  void run();
  void apply_plan(std::vector<PathPlan> plan);
  void update_clock(bool first);
  void publish(uint64_t now_ns, bool force);
  // Per uplink, from the hub paths (internet = false) or the breakout target paths (true).
  std::vector<dp::LinkHealth> health_states(bool internet = false) const;
  // The LinkState JSON with what kind of probe each path is; ICMP paths get null for what an
  // echo cannot measure (one-way figures, reflector time, TTL at the far end).
  nlohmann::json state_to_json(const LinkState& st, const std::vector<dp::LinkHealth>& hub,
                               const std::vector<dp::LinkHealth>& internet) const;
  // Logs and records (GET /paths events) each change of an uplink's internet state.
  void log_internet(const std::vector<dp::LinkHealth>& internet, uint64_t now_ns);
  // SLA trackers and per-rule choices, from the uplinks' figures (runner thread).
  // Bit c: uplink u meets SLA class c, from its best path's figures and, for the first
  // classes, that class's own traffic loss (lower confidence bound; unset: unknown).
  uint32_t evaluate_sla(uint8_t u, const SlaInputs& path_in,
                        const std::array<std::optional<double>, dp::kStampMaxClasses>& class_loss,
                        uint64_t now_ns);
  void evaluate_rules(const dp::LinkSnapshot& links, uint64_t now_ns);
  // Each SLA class's own traffic loss on a path (lower confidence bound; unset: unknown).
  using ClassLoss = std::array<std::optional<double>, dp::kStampMaxClasses>;
  // Per uplink, its hub paths' counts and its best path's figures into `health`, and the
  // inputs its SLA classes are evaluated on.
  void gather_path_figures(uint64_t now_ns, size_t n_uplinks, dp::LinkSnapshot& health,
                           std::array<SlaInputs, dp::kMaxUplinks>& inputs,
                           std::array<ClassLoss, dp::kMaxUplinks>& class_loss) const;
  // The class loss of path figures `pm` on uplink u, left unset in a direction u's own traffic
  // loads.
  ClassLoss class_loss_now(const PathMetrics& pm, uint8_t u, uint64_t now_ns) const;
  // Sets every uplink's sla_ok in `health`; true when that or cap_reached changed.
  bool evaluate_slas(dp::LinkSnapshot& health, size_t n_uplinks,
                     const std::array<SlaInputs, dp::kMaxUplinks>& inputs,
                     const std::array<ClassLoss, dp::kMaxUplinks>& class_loss, uint64_t now_ns);
  // Per uplink and SLA class, whether it meets it and why (GET /paths).
  nlohmann::json sla_view(const dp::PolicySnapshot& p, const dp::LinkSnapshot& links) const;
  // Why a rule's new flows moved off uplink `before`, for the log and the event.
  std::string why_moved(uint8_t before, uint8_t now_u, dp::PathReason reason,
                        const dp::SlaClass* sc, const dp::LinkSnapshot& links) const;
  // The uplink's name; "none" for kNoUplink.
  std::string uplink_name(uint8_t u) const;
  void add_event(nlohmann::json e);
  void collect_flow_events(uint64_t now_ns);
  // Monthly use per uplink against the policy's caps; sets cap_reached in `links`.
  void meter_caps(dp::LinkSnapshot& links, uint64_t now_ns);
  // IP bytes of the probes (and their replies) of one path, and of every path of an uplink
  // since start, paths removed by a policy change included.
  uint64_t path_probe_bytes(const PathPlan& p) const;
  uint64_t probe_bytes(uint8_t u) const;

  dp::Dataplane& dp_;
  std::string role_;
  Log log_;
  LinkMonitor monitor_;  // runner thread only
  std::vector<PathPlan> active_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const CompiledPolicy> wanted_;  // set_policy → runner
  bool policy_changed_ = false;
  bool stop_ = false;
  nlohmann::json state_;  // last LinkState JSON, with events
  nlohmann::json events_ = nlohmann::json::array();
  std::thread thread_;

  dp::TscClock clock_;
  std::vector<dp::LinkHealth> last_health_;
  std::vector<dp::LinkHealth> last_internet_;     // what the last published snapshot said
  std::vector<dp::LinkHealth> logged_internet_;   // what the last log line said, per uplink
  std::shared_ptr<const CompiledPolicy> policy_;  // runner thread
  std::array<std::map<std::string, SlaTracker>, dp::kMaxUplinks> sla_;  // by class name
  std::array<uint32_t, dp::kMaxUplinks> last_sla_bits_{};
  std::array<bool, dp::kMaxUplinks> last_cap_{};
  // Load per uplink (docs/links.md, "Loss under load"): the port's rate each direction over
  // kLoadIntervalNs, and until when a direction counts as loaded (a class's traffic loss in it
  // is then taken for congestion, not a brownout, and does not steer).
  struct Load {
    bool have = false;
    uint64_t t_ns = 0, tx = 0, rx = 0;
    uint32_t up_percent = 0, down_percent = 0;  // of the policy's up/down rate, last interval
    uint64_t busy_up_until_ns = 0, busy_down_until_ns = 0;
  };
  static constexpr uint64_t kLoadIntervalNs = 50'000'000;
  static constexpr uint32_t kBusyPercent = 80;
  std::array<Load, dp::kMaxUplinks> load_{};
  HealthJournal journal_;  // runner thread
  void track_load(uint64_t now_ns);
  std::vector<uint8_t> rule_choice_;  // per rule of policy_: kNoUplink until first evaluated
  nlohmann::json rules_view_ = nlohmann::json::array();   // under mu_
  nlohmann::json sla_view_ = nlohmann::json::array();     // under mu_
  nlohmann::json path_events_ = nlohmann::json::array();  // under mu_
  nlohmann::json flow_events_ = nlohmann::json::array();  // under mu_: flows moved (newest last)
  uint64_t flow_moves_ = 0, flow_events_lost_ = 0;        // under mu_
  std::vector<uint64_t> flow_event_pos_;                  // per worker log, runner thread
  // Firewall decisions from the workers: rate-limited log lines, the last ones and the top
  // denied sources for GET /firewall.
  FirewallLog fw_log_;
  CapMeter caps_;                                                // runner thread
  std::array<uint64_t, dp::kMaxUplinks> retired_probe_bytes_{};  // runner thread
  std::string usage_file_;
  uint64_t last_usage_save_ns_ = 0;
  nlohmann::json usage_view_ = nlohmann::json::array();  // under mu_
  uint64_t last_publish_ns_ = 0;
  // The loop runs every kPollNs; one that comes back much later (the control thread not
  // scheduled, a slow publish) delays outage detection by as much. Said in the log, at most
  // every 10 s, with the longest gap since the last time (runner thread).
  struct LateLoops {
    uint64_t prev_ns = 0, logged_ns = 0, max_ns = 0, count = 0;
    // The loop came round at now_ns: the line to log, if one is due (late: a gap over late_ns).
    std::optional<std::string> tick(uint64_t now_ns, uint64_t late_ns);
  };
  LateLoops late_loops_;
  uint64_t last_refresh_ns_ = 0;
};

}  // namespace traboule::cp

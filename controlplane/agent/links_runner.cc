#include "controlplane/agent/links_runner.h"

#include <rte_cycles.h>
#include <sys/timex.h>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace traboule::cp {
namespace {

using nlohmann::json;

uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}
uint64_t unix_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

// What our timestamps are worth: synchronised when the kernel says its clock is (NTP/PTP
// discipline running, STA_UNSYNC clear), with its estimated error; otherwise unsynchronised
// with a deliberately loose 1 s bound, so peers never compute one-way delays from them.
dp::ErrorEstimate host_clock_estimate() {
  timex tx{};
  const int state = adjtimex(&tx);
  const bool synced = state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  const double err_s = synced ? std::max(1e-6, double(tx.esterror) / 1e6) : 1.0;
  return dp::ErrorEstimate::from_seconds(err_s, synced);
}

constexpr uint64_t kPollNs = 2'000'000;              // ring drain / send period
constexpr uint64_t kClockEveryNs = 1'000'000'000;    // TSC → UTC re-mapping
constexpr uint64_t kPublishEveryNs = 1'000'000'000;  // figures to the data plane
constexpr uint64_t kRefreshNs = 200'000'000;         // figures and JSON for the API
constexpr size_t kEventsKept = 64;

}  // namespace

LinksRunner::LinksRunner(dp::Dataplane& dp, std::string role, Log log)
    : dp_(dp), role_(std::move(role)), log_(std::move(log)) {
  state_ = to_json(LinkState{});
}

LinksRunner::~LinksRunner() {
  stop();
}

void LinksRunner::set_policy(std::shared_ptr<const CompiledPolicy> p) {
  std::lock_guard lock(mu_);
  wanted_ = std::move(p);
  policy_changed_ = true;
  cv_.notify_all();
}

void LinksRunner::start() {
  update_clock(true);
  thread_ = std::thread([this] { run(); });
}

void LinksRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<LinksRunner::PathPlan> LinksRunner::plan(const CompiledPolicy& p) const {
  std::vector<PathPlan> out;
  dp::StampSessionTable* sessions = dp_.stamp_sessions();
  if (role_ != "edge" || sessions == nullptr) return out;
  const auto& uplinks = dp_.site().uplinks;
  uint16_t next = 0;
  for (size_t u = 0; u < uplinks.size(); ++u) {
    const dp::Interface& up = *uplinks[u];
    for (const OverlayPeer& peer : p.peers)
      for (const dp::IpAddr& remote : peer.endpoints) {
        const bool v4 = remote.is_v4();
        if (v4 ? !up.v4 : !up.v6) continue;  // no source address of that family
        if (next >= dp::kMaxStampSessions) return out;
        PathPlan pp;
        pp.session = next++;
        pp.where.uplink = static_cast<uint8_t>(u);
        pp.where.remote = remote;
        pp.where.remote_port = p.probes.port;
        pp.cfg.name =
            up.name + "/" + peer.name + (peer.endpoints.size() > 1 ? "/" + remote.str() : "");
        pp.cfg.uplink = up.name;
        pp.cfg.remote =
            (v4 ? remote.str() : "[" + remote.str() + "]") + ":" + std::to_string(p.probes.port);
        pp.cfg.interval_ms = p.probes.interval_ms;
        pp.cfg.timeout_ms = p.probes.timeout_ms;
        pp.cfg.window = p.probes.window;
        pp.cfg.down_after = p.probes.down_after;
        pp.cfg.up_after = p.probes.up_after;
        pp.cfg.dscp = p.probes.dscp;
        pp.cfg.ssid = pp.session;
        out.push_back(pp);
      }
  }
  return out;
}

void LinksRunner::apply_plan(std::vector<PathPlan> want) {
  if (want == active_) return;
  dp::StampSessionTable* sessions = dp_.stamp_sessions();
  for (const PathPlan& p : active_) {
    monitor_.remove_path(p.session);
    if (sessions != nullptr) sessions->clear(p.session);
  }
  active_.clear();
  for (PathPlan& p : want) {
    if (auto err = sessions->set(p.session, p.where)) {
      log_(true, "links: path " + p.cfg.name + " refused: " + *err);
      continue;
    }
    if (auto err = monitor_.add_path(p.session, p.cfg)) {
      sessions->clear(p.session);
      log_(true, "links: path " + p.cfg.name + " refused: " + *err);
      continue;
    }
    log_(false, "links: measuring path " + p.cfg.name + " to " + p.cfg.remote + " every " +
                    std::to_string(p.cfg.interval_ms) + " ms");
    active_.push_back(std::move(p));
  }
}

void LinksRunner::update_clock(bool first) {
  const uint64_t tsc = rte_rdtsc();
  const uint64_t now = unix_ns();
  const dp::ErrorEstimate e = host_clock_estimate();
  clock_ = first ? dp::TscClock::anchor(tsc, now, rte_get_tsc_hz(), e)
                 : clock_.slewed(tsc, now, rte_get_tsc_hz(), 10, 10'000'000, e);
  dp_.stamp_clock().store(clock_);
}

std::vector<dp::LinkHealth> LinksRunner::health_states() const {
  // Per uplink: up when one of its paths is up, down when every one of them is down.
  const auto& uplinks = dp_.site().uplinks;
  std::vector<dp::LinkHealth> out(std::min<size_t>(uplinks.size(), dp::kMaxUplinks),
                                  dp::LinkHealth::kUnknown);
  std::vector<unsigned> paths(out.size()), up(out.size()), down(out.size());
  for (const PathPlan& p : active_) {
    const PathMonitor* m = monitor_.path(p.session);
    if (m == nullptr || p.where.uplink >= out.size()) continue;
    ++paths[p.where.uplink];
    if (m->status() == LinkStatus::kUp) ++up[p.where.uplink];
    if (m->status() == LinkStatus::kDown) ++down[p.where.uplink];
  }
  for (size_t u = 0; u < out.size(); ++u)
    out[u] = up[u] > 0                             ? dp::LinkHealth::kUp
             : paths[u] > 0 && down[u] == paths[u] ? dp::LinkHealth::kDown
                                                   : dp::LinkHealth::kUnknown;
  return out;
}

void LinksRunner::publish(uint64_t now_ns, bool force) {
  // Cheap every poll: the states, which is what fast failover needs. The figures (percentiles
  // over the window) and the API's JSON are refreshed on a change and every kRefreshNs.
  std::vector<dp::LinkHealth> states = health_states();
  const bool changed = states != last_health_;
  if (!changed && !force && now_ns - last_refresh_ns_ < kRefreshNs) return;
  last_refresh_ns_ = now_ns;
  LinkState st = monitor_.snapshot(now_ns);
  if (changed || force || now_ns - last_publish_ns_ >= kPublishEveryNs) {
    auto health = std::make_shared<dp::LinkSnapshot>();
    health->time_ns = now_ns;
    for (size_t u = 0; u < states.size(); ++u) health->uplinks[u].state = states[u];
    for (const PathPlan& p : active_) {
      if (p.where.uplink >= states.size()) continue;
      dp::UplinkHealth& h = health->uplinks[p.where.uplink];
      ++h.paths;
      const PathMonitor* m = monitor_.path(p.session);
      if (m == nullptr || m->status() != LinkStatus::kUp) continue;
      ++h.paths_up;
      const PathMetrics pm = m->metrics();
      const uint32_t rtt = static_cast<uint32_t>(pm.rtt_avg_us.value_or(0));
      if (h.rtt_us == 0 || (rtt != 0 && rtt < h.rtt_us)) {  // the best path's figures
        h.rtt_us = rtt;
        h.jitter_us = static_cast<uint32_t>(pm.jitter_rtt_us.value_or(0));
        h.loss_ppm = static_cast<uint32_t>(pm.loss_ratio.value_or(0) * 1e6);
      }
    }
    dp_.publish_links(health);
    last_health_ = states;
    last_publish_ns_ = now_ns;
  }
  json j = to_json(st);
  std::lock_guard lock(mu_);
  j["events"] = events_;
  state_ = std::move(j);
}

void LinksRunner::run() {
  uint64_t next_clock = mono_ns() + kClockEveryNs;
  for (;;) {
    std::shared_ptr<const CompiledPolicy> wanted;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::nanoseconds(kPollNs),
                   [this] { return stop_ || policy_changed_; });
      if (stop_) break;
      if (policy_changed_) {
        wanted = wanted_;
        policy_changed_ = false;
      }
    }
    uint64_t now = mono_ns();
    if (wanted) {
      apply_plan(plan(*wanted));
      publish(now, true);
    }
    if (now >= next_clock) {
      update_clock(false);
      next_clock = now + kClockEveryNs;
    }
    if (!active_.empty() && dp_.stamp_results() != nullptr)
      monitor_.poll(now, dp_.stamp_results(), dp_.stamp_requests());
    auto events = monitor_.take_events();
    for (const LinkEvent& e : events) {
      log_(e.to == LinkStatus::kDown, "links: path " + e.path + " " + to_string(e.from) + " → " +
                                          to_string(e.to) + " (" + e.reason + ")");
      std::lock_guard lock(mu_);
      events_.push_back(to_json(e));
      if (events_.size() > kEventsKept) events_.erase(events_.begin());
    }
    publish(now, !events.empty());
  }
}

json LinksRunner::paths_json(const std::string& uplink) const {
  std::lock_guard lock(mu_);
  json out = json::array();
  if (state_.contains("paths"))
    for (const json& p : state_["paths"])
      if (p.value("uplink", "") == uplink) {
        json j = p;
        j["last_change"] = nullptr;  // the newest event of this path: when and why
        for (const json& e : events_)
          if (e.value("path", "") == p.value("name", "")) {
            j["last_change"] = e;
            const uint64_t t = e.value("time_ns", uint64_t{0}), now = mono_ns();
            j["last_change"]["ago_s"] = now >= t ? double(now - t) / 1e9 : 0.0;
          }
        out.push_back(std::move(j));
      }
  return out;
}

json LinksRunner::state_json() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace traboule::cp

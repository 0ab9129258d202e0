// SPDX-License-Identifier: Apache-2.0
#include "controlplane/agent/links_runner.h"

#include <rte_cycles.h>
#include <sys/timex.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <string>

#include "dataplane/select/path_select.h"

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
constexpr uint64_t kLateLoopNs = 50'000'000;         // a loop this late is logged
constexpr uint64_t kClockEveryNs = 1'000'000'000;    // TSC → UTC re-mapping
constexpr uint64_t kPublishEveryNs = 1'000'000'000;  // figures to the data plane
constexpr uint64_t kRefreshNs = 200'000'000;         // figures and JSON for the API
constexpr size_t kEventsKept = 64;
// Breakout targets are other people's hosts (public resolvers, web sites) that may rate-limit
// ICMP: they are pinged at most every 500 ms per uplink, whatever the hub probes' interval.
constexpr uint32_t kInternetMinIntervalMs = 500;

const char* health_name(dp::LinkHealth h) {
  return h == dp::LinkHealth::kUp ? "up" : h == dp::LinkHealth::kDown ? "down" : "unknown";
}

}  // namespace

// What every path's monitor takes from the policy's probe settings, and its STAMP session id.
void LinksRunner::probe_settings(PathPlan& pp, const ProbeSettings& probes) {
  pp.cfg.timeout_ms = probes.timeout_ms;
  pp.cfg.window = probes.window;
  pp.cfg.down_after = probes.down_after;
  pp.cfg.up_after = probes.up_after;
  pp.cfg.dscp = probes.dscp;
  pp.cfg.ssid = pp.session;
}

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
  if (!usage_file_.empty())
    if (auto err = caps_.load(usage_file_))
      log_(true, "links: monthly usage not restored (starting from 0): " + *err);
  update_clock(true);
  thread_ = std::thread([this] { run(); });
}

void LinksRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
    if (!usage_file_.empty())
      if (auto err = caps_.save(usage_file_)) log_(true, "links: " + *err);
  }
}

std::vector<LinksRunner::PathPlan> LinksRunner::plan(const CompiledPolicy& p) const {
  std::vector<PathPlan> out;
  dp::StampSessionTable* sessions = dp_.stamp_sessions();
  if (role_ != "edge" || sessions == nullptr) return out;
  const auto& uplinks = dp_.site().uplinks;
  const auto& policy_uplinks = p.snapshot->uplinks;
  // Probes cost volume on a metered uplink: they go at the slower metered interval there.
  auto interval_of = [&](size_t u) {
    const bool metered = u < policy_uplinks.size() && policy_uplinks[u].metered;
    return metered ? p.probes.metered_interval_ms : p.probes.interval_ms;
  };
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
        pp.cfg.interval_ms = interval_of(u);
        probe_settings(pp, p.probes);
        // The loss of each SLA class's own traffic rides on the probes (docs/links.md).
        pp.cfg.data_classes = static_cast<uint8_t>(
            std::min<size_t>(p.snapshot->sla_classes.size(), dp::kStampMaxClasses));
        out.push_back(pp);
      }
  }
  // Internet probes: each uplink that may carry breakout × each breakout target. Every method is
  // probed with ICMP echo to the target's host (a TCP or HTTP probe needs a TCP stack in the data
  // plane); host names are not resolved (run() says so in the log).
  for (size_t u = 0; u < uplinks.size(); ++u) {
    if (u >= policy_uplinks.size() || !policy_uplinks[u].breakout) continue;
    const dp::Interface& up = *uplinks[u];
    for (const BreakoutTarget& t : p.breakout_targets) {
      const std::optional<dp::IpAddr> remote = dp::IpAddr::parse(t.host);
      if (!remote) continue;
      const bool v4 = remote->is_v4();
      if (v4 ? !up.v4 : !up.v6) continue;
      if (next >= dp::kMaxStampSessions) return out;
      PathPlan pp;
      pp.session = next++;
      pp.internet = true;
      pp.target = t.name;
      pp.where.uplink = static_cast<uint8_t>(u);
      pp.where.remote = *remote;
      pp.where.remote_port = 0;
      pp.where.kind = dp::StampProbeKind::kIcmpEcho;
      pp.cfg.name = up.name + "/inet-" + t.name;
      pp.cfg.uplink = up.name;
      pp.cfg.remote =
          "icmp " + remote->str() + (t.method == "icmp" ? "" : " (for " + t.method + ")");
      pp.cfg.interval_ms = std::max(interval_of(u), kInternetMinIntervalMs);
      probe_settings(pp, p.probes);
      pp.cfg.reflector = ReflectorMode::kStateless;  // the target echoes our sequence number
      out.push_back(pp);
    }
  }
  return out;
}

uint64_t LinksRunner::path_probe_bytes(const PathPlan& p) const {
  const PathMonitor* m = monitor_.path(p.session);
  if (m == nullptr) return 0;
  const PathMetrics pm = m->metrics();
  // Payload plus the UDP or ICMP header and the IP header of each probe and reply.
  const uint64_t hdr = 8 + (p.where.remote.is_v4() ? 20 : 40);
  return pm.wire_payload_bytes + pm.wire_packets * hdr;
}

uint64_t LinksRunner::probe_bytes(uint8_t u) const {
  uint64_t sum = u < dp::kMaxUplinks ? retired_probe_bytes_[u] : 0;
  for (const PathPlan& p : active_)
    if (p.where.uplink == u) sum += path_probe_bytes(p);
  return sum;
}

void LinksRunner::apply_plan(std::vector<PathPlan> want) {
  if (want == active_) return;
  dp::StampSessionTable* sessions = dp_.stamp_sessions();
  for (const PathPlan& p : active_) {
    // Keep the uplink's probe volume monotonic for the cap meter when a path goes away.
    if (p.where.uplink < dp::kMaxUplinks)
      retired_probe_bytes_[p.where.uplink] += path_probe_bytes(p);
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

std::vector<dp::LinkHealth> LinksRunner::health_states(bool internet) const {
  // Per uplink: up when one of its paths is up, down when every one of them is down.
  const auto& uplinks = dp_.site().uplinks;
  std::vector<dp::LinkHealth> out(std::min<size_t>(uplinks.size(), dp::kMaxUplinks),
                                  dp::LinkHealth::kUnknown);
  std::vector<unsigned> paths(out.size()), up(out.size()), down(out.size());
  for (const PathPlan& p : active_) {
    const PathMonitor* m = monitor_.path(p.session);
    if (m == nullptr || p.where.uplink >= out.size() || p.internet != internet) continue;
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
  // over the window), the SLA classes and the API's JSON are refreshed on a change and every
  // kRefreshNs.
  std::vector<dp::LinkHealth> states = health_states();
  std::vector<dp::LinkHealth> internet = health_states(true);
  log_internet(internet, now_ns);
  if (role_ == "edge")
    journal_.health(states, internet, dp_.site().uplinks,
                    policy_ ? policy_->snapshot.get() : nullptr);
  const bool changed = states != last_health_ || internet != last_internet_;
  if (!changed && !force && now_ns - last_refresh_ns_ < kRefreshNs) return;
  last_refresh_ns_ = now_ns;
  LinkState st = monitor_.snapshot(now_ns);
  auto health = std::make_shared<dp::LinkSnapshot>();
  health->time_ns = now_ns;
  std::array<SlaInputs, dp::kMaxUplinks> inputs{};
  std::array<ClassLoss, dp::kMaxUplinks> class_loss{};
  track_load(now_ns);
  for (size_t u = 0; u < states.size(); ++u) {
    health->uplinks[u].state = states[u];
    health->uplinks[u].internet = internet[u];
    inputs[u].alive = states[u] != dp::LinkHealth::kDown;
  }
  gather_path_figures(now_ns, states.size(), *health, inputs, class_loss);
  meter_caps(*health, now_ns);
  const bool sla_changed = evaluate_slas(*health, states.size(), inputs, class_loss, now_ns);
  if (changed || force || sla_changed || now_ns - last_publish_ns_ >= kPublishEveryNs) {
    dp_.publish_links(health);
    last_health_ = states;
    last_internet_ = internet;
    last_publish_ns_ = now_ns;
  }
  if (policy_ && role_ == "edge")
    journal_.sla_unmet(*health, policy_->snapshot->sla_classes,
                       std::min<size_t>(dp_.site().uplinks.size(), dp::kMaxUplinks));
  evaluate_rules(*health, now_ns);
  collect_flow_events(now_ns);
  fw_log_.collect(dp_, policy_ ? policy_->snapshot.get() : nullptr, now_ns, log_);
  journal_.watch_flood(now_ns, dp_);
  journal_.watch_refusals(now_ns, dp_);
  json j = state_to_json(st, states, internet);
  std::lock_guard lock(mu_);
  j["events"] = events_;
  state_ = std::move(j);
}

void LinksRunner::gather_path_figures(uint64_t now_ns, size_t n_uplinks, dp::LinkSnapshot& health,
                                      std::array<SlaInputs, dp::kMaxUplinks>& inputs,
                                      std::array<ClassLoss, dp::kMaxUplinks>& class_loss) const {
  for (const PathPlan& p : active_) {
    // The figures and SLA classes stay the hub paths' (internet paths only say up or down).
    if (p.where.uplink >= n_uplinks || p.internet) continue;
    dp::UplinkHealth& h = health.uplinks[p.where.uplink];
    ++h.paths;
    const PathMonitor* m = monitor_.path(p.session);
    if (m == nullptr || m->status() != LinkStatus::kUp) continue;
    ++h.paths_up;
    const PathMetrics pm = m->metrics();
    const uint32_t rtt = static_cast<uint32_t>(pm.rtt_avg_us.value_or(0));
    if (h.rtt_us == 0 || (rtt != 0 && rtt < h.rtt_us)) {  // the best path's figures
      h.rtt_us = rtt;
      h.jitter_us = static_cast<uint32_t>(pm.jitter_rtt_us.value_or(0));
      // The probes' loss, and each SLA class's own traffic loss (per-class direct
      // measurement). The path's total traffic loss (pm.data_loss_*) is shown but does not
      // steer: it counts bulk TCP's congestion drops, which in the lab took voice off healthy
      // paths (fiber read 2.65 %, vdsl 64 % under one iperf3).
      h.loss_ppm = static_cast<uint32_t>(pm.loss_ratio.value_or(0) * 1e6);
      SlaInputs& in = inputs[p.where.uplink];
      in.rtt_us = pm.rtt_avg_us;
      in.jitter_us = pm.jitter_rtt_us;
      in.loss_ratio = pm.loss_ratio;
      class_loss[p.where.uplink] = class_loss_now(pm, p.where.uplink, now_ns);
    }
  }
}

LinksRunner::ClassLoss LinksRunner::class_loss_now(const PathMetrics& pm, uint8_t u,
                                                   uint64_t now_ns) const {
  // A direction the uplink's own traffic loads (>= 80 % of its rate in the last data
  // window) loses packets by congestion (TCP finding the line's rate): that is not a
  // brownout, and moving the class would only take the congestion along.
  const Load& ld = load_[u];
  const bool up_ok = now_ns >= ld.busy_up_until_ns;
  const bool down_ok = now_ns >= ld.busy_down_until_ns;
  ClassLoss cl = {};
  for (uint8_t c = 0; c < pm.data_classes; ++c) {
    const PathMetrics::ClassLoss& l = pm.class_loss[c];
    const std::optional<double> f = up_ok ? l.forward_low : std::nullopt;
    const std::optional<double> b = down_ok ? l.backward_low : std::nullopt;
    if (f || b) cl[c] = std::max(f.value_or(0), b.value_or(0));
  }
  return cl;
}

bool LinksRunner::evaluate_slas(dp::LinkSnapshot& health, size_t n_uplinks,
                                const std::array<SlaInputs, dp::kMaxUplinks>& inputs,
                                const std::array<ClassLoss, dp::kMaxUplinks>& class_loss,
                                uint64_t now_ns) {
  bool sla_changed = false;
  for (size_t u = 0; u < n_uplinks; ++u) {
    health.uplinks[u].sla_ok =
        evaluate_sla(static_cast<uint8_t>(u), inputs[u], class_loss[u], now_ns);
    if (health.uplinks[u].sla_ok != last_sla_bits_[u] ||
        health.uplinks[u].cap_reached != last_cap_[u])
      sla_changed = true;
    last_sla_bits_[u] = health.uplinks[u].sla_ok;
    last_cap_[u] = health.uplinks[u].cap_reached;
  }
  return sla_changed;
}

void LinksRunner::log_internet(const std::vector<dp::LinkHealth>& internet, uint64_t now_ns) {
  const auto& ups = dp_.site().uplinks;
  if (logged_internet_.size() != internet.size())
    logged_internet_.assign(internet.size(), dp::LinkHealth::kUnknown);
  for (size_t u = 0; u < internet.size() && u < ups.size(); ++u) {
    if (internet[u] == logged_internet_[u]) continue;
    unsigned targets = 0, up = 0;
    for (const PathPlan& p : active_) {
      if (!p.internet || p.where.uplink != u) continue;
      ++targets;
      const PathMonitor* m = monitor_.path(p.session);
      if (m != nullptr && m->status() == LinkStatus::kUp) ++up;
    }
    std::string why = targets == 0
                          ? "no breakout target probed"
                          : std::to_string(up) + " of " + std::to_string(targets) +
                                " breakout target" + (targets > 1 ? "s" : "") + " answering";
    if (targets > 0 && internet[u] == dp::LinkHealth::kUnknown) why += ", the others not settled";
    log_(internet[u] == dp::LinkHealth::kDown, "links: uplink " + ups[u]->name + " internet " +
                                                   health_name(logged_internet_[u]) + " → " +
                                                   health_name(internet[u]) + " (" + why + ")");
    add_event({{"time_ns", now_ns},
               {"kind", "internet"},
               {"uplink", ups[u]->name},
               {"from", health_name(logged_internet_[u])},
               {"to", health_name(internet[u])},
               {"reason", why}});
    logged_internet_[u] = internet[u];
  }
}

json LinksRunner::state_to_json(const LinkState& st, const std::vector<dp::LinkHealth>& hub,
                                const std::vector<dp::LinkHealth>& internet) const {
  json j = to_json(st);
  std::map<uint16_t, const PathPlan*> by_session;
  for (const PathPlan& p : active_) by_session[p.session] = &p;
  for (json& path : j["paths"]) {
    const auto it = by_session.find(path.value("session", uint16_t{0xffff}));
    if (it == by_session.end()) continue;
    const PathPlan& p = *it->second;
    path["probe"] = dp::to_string(p.where.kind);
    // Class tag t is the policy's SLA class t - 1 (docs/links.md, "Loss per SLA class").
    if (policy_ && path.contains("data_loss") && path["data_loss"].contains("classes")) {
      const auto& names = policy_->snapshot->sla_classes;
      for (json& c : path["data_loss"]["classes"]) {
        const size_t tag = c.value("tag", size_t{0});
        if (tag >= 1 && tag <= names.size()) c["sla_class"] = names[tag - 1].name;
      }
    }
    if (!p.internet) continue;
    path["target"] = p.target;
    // What an echo cannot tell: the target keeps no clock and no count for us.
    path["jitter_us"]["forward"] = nullptr;
    path["jitter_us"]["backward"] = nullptr;
    path["one_way_us"] = {{"forward", nullptr}, {"backward", nullptr}, {"error_bound", nullptr}};
    path["reflector_time_avg_us"] = nullptr;
    path["ttl"]["at_reflector"] = nullptr;
  }
  const auto& ups = dp_.site().uplinks;
  json uplinks = json::array();
  for (size_t u = 0; u < ups.size() && u < hub.size() && u < internet.size(); ++u)
    uplinks.push_back(
        {{"name", ups[u]->name},
         {"state", health_name(hub[u])},
         {"internet", health_name(internet[u])},
         // The port's load (of the policy's rates) and whether class loss may steer now.
         {"load_percent", {{"up", load_[u].up_percent}, {"down", load_[u].down_percent}}},
         {"class_loss_steers",
          {{"up", st.time_ns >= load_[u].busy_up_until_ns},
           {"down", st.time_ns >= load_[u].busy_down_until_ns}}}});
  j["uplinks"] = std::move(uplinks);
  return j;
}

uint32_t LinksRunner::evaluate_sla(
    uint8_t u, const SlaInputs& path_in,
    const std::array<std::optional<double>, dp::kStampMaxClasses>& class_loss, uint64_t now_ns) {
  if (!policy_ || u >= dp::kMaxUplinks) return 0xffffffffu;
  const auto& classes = policy_->snapshot->sla_classes;
  const auto& ups = dp_.site().uplinks;
  uint32_t bits = 0xffffffffu;
  for (size_t c = 0; c < classes.size() && c < 32; ++c) {
    SlaTracker& t = sla_[u][classes[c].name];
    SlaInputs in = path_in;
    if (c < class_loss.size()) in.data_loss_ratio = class_loss[c];
    if (auto ch = t.update(classes[c], in, now_ns)) {
      const std::string up = u < ups.size() ? ups[u]->name : std::to_string(u);
      log_(!ch->ok, "links: uplink " + up + (ch->ok ? " meets" : " leaves") + " SLA class " +
                        classes[c].name + " (" + ch->reason + ")");
      add_event({{"time_ns", now_ns},
                 {"kind", "sla"},
                 {"uplink", up},
                 {"sla_class", classes[c].name},
                 {"ok", ch->ok},
                 {"reason", ch->reason}});
      journal_.record("sla", classes[c].name + "@" + up, ch->ok ? "met" : "violated",
                      ch->ok ? "notice" : "warning",
                      ch->ok ? "" : journal_.incidents().sla_degraded,
                      "uplink " + up + (ch->ok ? " meets" : " leaves") + " SLA class " +
                          classes[c].name + " (" + ch->reason + ")");
    }
    if (!t.ok()) bits &= ~(1u << c);
  }
  return bits;
}

std::string LinksRunner::uplink_name(uint8_t u) const {
  const auto& ups = dp_.site().uplinks;
  return u < ups.size() ? ups[u]->name : std::string(u == dp::kNoUplink ? "none" : "?");
}

json LinksRunner::sla_view(const dp::PolicySnapshot& p, const dp::LinkSnapshot& links) const {
  const auto& ups = dp_.site().uplinks;
  json sla = json::array();
  for (size_t u = 0; u < ups.size() && u < dp::kMaxUplinks; ++u) {
    json classes = json::object();
    for (size_t c = 0; c < p.sla_classes.size() && c < 32; ++c) {
      const auto it = sla_[u].find(p.sla_classes[c].name);
      classes[p.sla_classes[c].name] = {
          {"ok", links.meets(static_cast<uint8_t>(u), static_cast<uint8_t>(c))},
          {"reason", it != sla_[u].end() ? it->second.last_reason() : ""}};
    }
    sla.push_back({{"uplink", ups[u]->name}, {"classes", classes}});
  }
  return sla;
}

namespace {

// What each of a rule's uplinks offers a new flow now, for select_path.
std::array<dp::PathCandidate, dp::kMaxUplinks> rule_candidates(
    const dp::PolicySnapshot& p, const dp::RuleAction& a, const dp::SlaClass* sc,
    const dp::LinkSnapshot& links, const std::vector<dp::Interface*>& ups) {
  std::array<dp::PathCandidate, dp::kMaxUplinks> c{};
  for (uint8_t u : a.uplinks) {
    if (u >= ups.size() || u >= dp::kMaxUplinks) continue;
    c[u].usable = ups[u]->link_up.load(std::memory_order_relaxed);
    c[u].alive = !links.down(u) && !(a.egress == dp::Egress::kBreakout &&
                                     links.uplinks[u].internet == dp::LinkHealth::kDown);
    c[u].sla = sc == nullptr || links.meets(u, a.sla_class);
    c[u].cap_ok = !links.uplinks[u].cap_reached ||
                  (a.qos_class < p.qos_classes.size() && p.qos_classes[a.qos_class].critical);
    if (u < p.uplinks.size()) {
      c[u].role = p.uplinks[u].role;
      c[u].cost = p.uplinks[u].cost;
    }
    const dp::UplinkHealth& h = links.uplinks[u];
    c[u].score = dp::path_score(h.rtt_us, h.jitter_us, h.loss_ppm, sc);
  }
  return c;
}

}  // namespace

std::string LinksRunner::why_moved(uint8_t before, uint8_t now_u, dp::PathReason reason,
                                   const dp::SlaClass* sc, const dp::LinkSnapshot& links) const {
  const auto& ups = dp_.site().uplinks;
  std::string why = reason == dp::PathReason::kNew
                        ? uplink_name(now_u) + " preferred again (it qualifies)"
                        : dp::kPathReasonNames[static_cast<unsigned>(reason)];
  if (before < ups.size()) {
    if (links.down(before) || !ups[before]->link_up.load(std::memory_order_relaxed)) {
      why = uplink_name(before) + " down";
    } else if (sc != nullptr) {
      const auto it = sla_[before].find(sc->name);
      if (it != sla_[before].end() && !it->second.ok())
        why = uplink_name(before) + " " + it->second.last_reason();
    }
  }
  return why;
}

void LinksRunner::evaluate_rules(const dp::LinkSnapshot& links, uint64_t now_ns) {
  if (!policy_) return;
  const dp::PolicySnapshot& p = *policy_->snapshot;
  const auto& ups = dp_.site().uplinks;
  if (rule_choice_.size() != p.rules.size()) rule_choice_.assign(p.rules.size(), dp::kNoUplink);
  json rules = json::array();
  json sla = sla_view(p, links);
  for (size_t r = 0; r < p.rules.size(); ++r) {
    const dp::RuleAction& a = p.rules[r].action;
    json row = {{"rule", p.rules[r].name},
                {"egress", a.egress == dp::Egress::kOverlay    ? "overlay"
                           : a.egress == dp::Egress::kBreakout ? "breakout"
                                                               : "drop"}};
    if (a.egress == dp::Egress::kDrop) {
      rules.push_back(row);
      continue;
    }
    const dp::SlaClass* sc =
        a.sla_class < p.sla_classes.size() ? &p.sla_classes[a.sla_class] : nullptr;
    const std::array<dp::PathCandidate, dp::kMaxUplinks> c = rule_candidates(p, a, sc, links, ups);
    const uint8_t before = rule_choice_[r];
    // What a new flow of the rule gets now (established flows stay where they are while their
    // uplink qualifies: the data plane's stickiness).
    const dp::PathChoice pc =
        dp::select_path(a, c, dp::kNoUplink, 0, a.egress == dp::Egress::kBreakout);
    const uint8_t now_u = pc.reason == dp::PathReason::kSlaDrop ? dp::kNoUplink : pc.uplink;
    row["uplink"] = uplink_name(now_u);
    row["reason"] = dp::kPathReasonNames[static_cast<unsigned>(pc.reason)];
    if (sc != nullptr) row["sla_class"] = sc->name;
    if (pc.second != dp::kNoUplink) row["second"] = uplink_name(pc.second);
    rules.push_back(row);
    if (now_u == before) continue;
    rule_choice_[r] = now_u;
    if (before == dp::kNoUplink) continue;  // first look after start or a policy change
    const std::string why = why_moved(before, now_u, pc.reason, sc, links);
    log_(false, "paths: rule " + p.rules[r].name + ": " + uplink_name(before) + " → " +
                    uplink_name(now_u) + " (" + why + ")");
    add_event({{"time_ns", now_ns},
               {"kind", "path"},
               {"rule", p.rules[r].name},
               {"from", uplink_name(before)},
               {"to", uplink_name(now_u)},
               {"reason", why}});
  }
  std::lock_guard lock(mu_);
  rules_view_ = std::move(rules);
  sla_view_ = std::move(sla);
}

void LinksRunner::track_load(uint64_t now_ns) {
  const auto status = dp_.uplinks();
  for (size_t u = 0; u < status.size() && u < dp::kMaxUplinks; ++u) {
    const dp::UplinkStatus& s = status[u];
    Load& l = load_[u];
    if (!l.have || now_ns < l.t_ns || s.port_tx_bytes < l.tx || s.port_rx_bytes < l.rx) {
      l = Load{true, now_ns, s.port_tx_bytes, s.port_rx_bytes};
      continue;
    }
    const uint64_t dt = now_ns - l.t_ns;
    if (dt < kLoadIntervalNs) continue;
    uint64_t up_bps = 0, down_bps = 0;
    if (policy_ && u < policy_->snapshot->uplinks.size()) {
      up_bps = policy_->snapshot->uplinks[u].up_bps;
      down_bps = policy_->snapshot->uplinks[u].down_bps;
    }
    auto percent = [dt](uint64_t bytes, uint64_t rate) -> uint32_t {
      if (rate == 0) return 0;  // no configured rate: never "loaded"
      const double bps = static_cast<double>(bytes) * 8e9 / static_cast<double>(dt);
      return static_cast<uint32_t>(std::min(1e6, bps * 100.0 / static_cast<double>(rate)));
    };
    l.up_percent = percent(s.port_tx_bytes - l.tx, up_bps);
    l.down_percent = percent(s.port_rx_bytes - l.rx, down_bps);
    if (l.up_percent >= kBusyPercent) l.busy_up_until_ns = now_ns + kDataWindowNs;
    if (l.down_percent >= kBusyPercent) l.busy_down_until_ns = now_ns + kDataWindowNs;
    l.t_ns = now_ns;
    l.tx = s.port_tx_bytes;
    l.rx = s.port_rx_bytes;
  }
}

void LinksRunner::meter_caps(dp::LinkSnapshot& links, uint64_t now_ns) {
  const auto status = dp_.uplinks();
  const int64_t unix_s = static_cast<int64_t>(unix_ns() / 1'000'000'000);
  // The operator counts IP packets: the port's frames less their Ethernet header.
  auto ip_bytes = [](uint64_t frame_bytes, uint64_t frames) {
    const uint64_t l2 = frames * 14;
    return frame_bytes > l2 ? frame_bytes - l2 : 0;
  };
  json view = json::array();
  for (size_t u = 0; u < status.size() && u < dp::kMaxUplinks; ++u) {
    const dp::UplinkStatus& s = status[u];
    const CapUse use = caps_.update(
        s.name,
        {ip_bytes(s.port_rx_bytes, s.port_rx_packets), ip_bytes(s.port_tx_bytes, s.port_tx_packets),
         probe_bytes(static_cast<uint8_t>(u))},
        unix_s);
    const uint64_t used = use.total();
    uint64_t cap = 0;
    if (policy_ && u < policy_->snapshot->uplinks.size())
      cap = policy_->snapshot->uplinks[u].monthly_cap_bytes;
    const bool reached = cap != 0 && used >= cap;
    if (reached && !last_cap_[u]) {
      log_(true, "links: uplink " + status[u].name + " reached its monthly cap (" +
                     std::to_string(used) + " of " + std::to_string(cap) +
                     " bytes): critical classes only");
      add_event({{"time_ns", now_ns},
                 {"kind", "cap"},
                 {"uplink", status[u].name},
                 {"reason", "monthly cap reached: " + std::to_string(used) + " bytes"}});
      journal_.record("cap", status[u].name, "reached", "warning", journal_.incidents().cap_reached,
                      "uplink " + status[u].name + " reached its monthly cap (" +
                          std::to_string(used) + " of " + std::to_string(cap) +
                          " bytes): critical classes only");
    }
    links.uplinks[u].cap_reached = reached;
    const bool metered =
        policy_ && u < policy_->snapshot->uplinks.size() && policy_->snapshot->uplinks[u].metered;
    view.push_back({{"uplink", status[u].name},
                    {"month", caps_.month()},
                    {"bytes", used},
                    {"rx_bytes", use.rx},
                    {"tx_bytes", use.tx},
                    {"probe_bytes", use.probes},
                    {"traffic_bytes", used > use.probes ? used - use.probes : 0},
                    {"metered", metered},
                    {"cap_bytes", cap},
                    {"cap_reached", reached}});
  }
  if (!usage_file_.empty() && now_ns - last_usage_save_ns_ >= 60'000'000'000ull) {
    if (auto err = caps_.save(usage_file_)) log_(true, "links: " + *err);
    last_usage_save_ns_ = now_ns;
  }
  std::lock_guard lock(mu_);
  usage_view_ = std::move(view);
}

void LinksRunner::collect_flow_events(uint64_t now_ns) {
  const auto logs = dp_.path_events();
  if (flow_event_pos_.size() != logs.size()) flow_event_pos_.assign(logs.size(), 0);
  std::vector<dp::PathEvent> evs;
  uint64_t lost = 0;
  for (size_t w = 0; w < logs.size(); ++w)
    flow_event_pos_[w] = logs[w]->read(flow_event_pos_[w], evs, lost);
  if (evs.empty() && lost == 0) return;
  const auto& ups = dp_.site().uplinks;
  auto up_name = [&](uint8_t u) { return u < ups.size() ? ups[u]->name : std::to_string(u); };
  const dp::PolicySnapshot* p = policy_ ? policy_->snapshot.get() : nullptr;
  const uint64_t tsc_now = rte_rdtsc(), hz = rte_get_tsc_hz();
  json out = json::array();
  for (const dp::PathEvent& e : evs) {
    const char* proto = e.proto == 6 ? "tcp" : e.proto == 17 ? "udp" : e.proto == 1 ? "icmp" : "ip";
    auto ep = [&](const dp::IpAddr& a, uint16_t port) {
      const std::string s = a.str();
      return (a.is_v4() ? s : "[" + s + "]") + ":" + std::to_string(port);
    };
    std::string why = dp::kPathReasonNames[static_cast<unsigned>(e.reason)];
    std::string rule = std::to_string(e.rule);
    if (p != nullptr && e.rule < p->rules.size()) {
      rule = p->rules[e.rule].name;
      const dp::RuleAction& a = p->rules[e.rule].action;
      if (e.reason == dp::PathReason::kCurrentDown) {
        why = up_name(e.from) + " down";
      } else if (e.reason == dp::PathReason::kCurrentSla && a.sla_class < p->sla_classes.size() &&
                 e.from < dp::kMaxUplinks) {
        const auto it = sla_[e.from].find(p->sla_classes[a.sla_class].name);
        if (it != sla_[e.from].end())
          why = up_name(e.from) + " " + it->second.last_reason() + " (" + it->first + ")";
      } else if (e.reason == dp::PathReason::kPrimaryBack) {
        why = up_name(e.to) + " (primary) qualifies again";
      }
    }
    const uint64_t age_ns = tsc_now > e.tsc && hz != 0 ? (tsc_now - e.tsc) * 1'000'000'000 / hz : 0;
    out.push_back(
        {{"time_ns", now_ns > age_ns ? now_ns - age_ns : now_ns},
         {"kind", "flow"},
         {"flow", std::string(proto) + " " + ep(e.src, e.src_port) + " → " + ep(e.dst, e.dst_port)},
         {"rule", rule},
         {"from", up_name(e.from)},
         {"to", up_name(e.to)},
         {"reason", why}});
  }
  std::lock_guard lock(mu_);
  flow_moves_ += evs.size();
  flow_events_lost_ += lost;
  for (json& e : out) flow_events_.push_back(std::move(e));
  while (flow_events_.size() > kEventsKept) flow_events_.erase(flow_events_.begin());
}

json LinksRunner::firewall_log_view(size_t top) const {
  return fw_log_.view(top, mono_ns());
}

void LinksRunner::add_event(json e) {
  std::lock_guard lock(mu_);
  path_events_.push_back(std::move(e));
  if (path_events_.size() > kEventsKept) path_events_.erase(path_events_.begin());
}

json LinksRunner::paths_view() const {
  std::lock_guard lock(mu_);
  json events = path_events_;
  const uint64_t now = mono_ns();
  for (json& e : events) {
    const uint64_t t = e.value("time_ns", uint64_t{0});
    e["ago_s"] = now >= t ? double(now - t) / 1e9 : 0.0;
  }
  json flows = flow_events_;
  for (json& e : flows) {
    const uint64_t t = e.value("time_ns", uint64_t{0});
    e["ago_s"] = now >= t ? double(now - t) / 1e9 : 0.0;
  }
  return {{"rules", rules_view_},
          {"uplinks", sla_view_},
          {"usage", usage_view_},
          {"events", events},
          {"flow_moves", {{"total", flow_moves_}, {"lost", flow_events_lost_}, {"last", flows}}}};
}

std::optional<std::string> LinksRunner::LateLoops::tick(uint64_t now_ns, uint64_t late_ns) {
  std::optional<std::string> line;
  if (prev_ns != 0 && now_ns - prev_ns > late_ns) {
    ++count;
    max_ns = std::max(max_ns, now_ns - prev_ns);
    if (now_ns - logged_ns >= 10'000'000'000ULL) {
      line = "links: control loop ran late " + std::to_string(count) + " times, longest gap " +
             std::to_string(max_ns / 1'000'000) + " ms (outage detection is late by as much)";
      logged_ns = now_ns;
      count = 0;
      max_ns = 0;
    }
  }
  prev_ns = now_ns;
  return line;
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
    if (auto line = late_loops_.tick(now, kLateLoopNs)) log_(true, *line);
    journal_.stamp_alive(now);
    if (wanted) {
      if (policy_ != wanted && wanted->snapshot)
        journal_.record("policy", "policy", "applied", "notice", "",
                        "policy version " + std::to_string(wanted->snapshot->version) + " (" +
                            wanted->snapshot->hash.substr(0, 12) + ") in force");
      policy_ = wanted;
      rule_choice_.clear();
      for (const BreakoutTarget& t : wanted->breakout_targets)
        if (role_ == "edge" && !dp::IpAddr::parse(t.host))
          log_(true, "links: breakout target " + t.name + " (" + t.host +
                         ") not probed: host names are not resolved yet, give an address");
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
      if (e.to == LinkStatus::kDown || (e.to == LinkStatus::kUp && e.from == LinkStatus::kDown))
        journal_.record("path", e.path, to_string(e.to),
                        e.to == LinkStatus::kDown ? "warning" : "notice", "",
                        "path " + e.path + " " + to_string(e.to) + " (" + e.reason + ")");
      std::lock_guard lock(mu_);
      events_.push_back(to_json(e));
      if (events_.size() > kEventsKept) events_.erase(events_.begin());
    }
    publish(now, !events.empty());
  }
}

json LinksRunner::paths_json(const std::string& uplink) const {
  // Passive figures: what the decap stage measured on the overlay traffic received through this
  // uplink (the hub's sequence numbers and transmit times), since start.
  json passive = {{"received", 0}, {"lost", 0}, {"reordered", 0}, {"duplicates", 0}};
  uint64_t jitter = 0;
  const std::string prefix = "decap.passive." + uplink + ".";
  for (const dp::CounterValue& c : dp_.counters()) {
    if (c.name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string what = c.name.substr(c.name.rfind('.') + 1);
    if (what == "jitter_us")
      jitter = std::max(jitter, c.value);
    else if (passive.contains(what))
      passive[what] = passive[what].get<uint64_t>() + c.value;
  }
  const uint64_t rx = passive["received"].get<uint64_t>(), lost = passive["lost"].get<uint64_t>();
  passive["jitter_us"] = jitter;
  passive["loss_ratio"] = rx + lost > 0 ? json(double(lost) / double(rx + lost)) : json(nullptr);
  std::lock_guard lock(mu_);
  json out = json::array();
  if (state_.contains("paths"))
    for (const json& p : state_["paths"])
      if (p.value("uplink", "") == uplink) {
        json j = p;
        j["passive"] = passive;
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

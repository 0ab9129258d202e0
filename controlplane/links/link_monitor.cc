// SPDX-License-Identifier: Apache-2.0
#include "controlplane/links/link_monitor.h"

#include <rte_ring_elem.h>

#include <algorithm>
#include <utility>

namespace traboule::cp {
namespace {

using json = nlohmann::json;

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt(const std::optional<MinAvgMax>& v) {
  if (!v) return nullptr;
  return json{{"min", v->min_us}, {"avg", v->avg_us}, {"max", v->max_us}};
}

}  // namespace

json to_json(const PathMetrics& m) {
  json j;
  j["window"] = {
      {"probes", m.window_probes},
      {"received", m.received},
      {"lost", m.lost},
      {"late", m.late},
      {"not_sent", m.not_sent},
      {"duplicates", m.duplicates},
      {"reordered", m.reordered},
      {"loss_ratio", opt(m.loss_ratio)},
      {"lost_forward", m.lost_forward},
      {"lost_backward", m.lost_backward},
      {"lost_unknown_direction", m.lost_unknown_direction},
  };
  j["data_loss"] = {
      {"forward", opt(m.data_loss_forward)},    {"backward", opt(m.data_loss_backward)},
      {"sent_forward", m.data_sent_forward},    {"sent_backward", m.data_sent_backward},
      {"window_ms", kDataWindowNs / 1'000'000}, {"resets", m.data_windows_reset},
      {"reordered", m.data_reordered}};
  json classes = json::array();
  for (uint8_t c = 0; c < m.data_classes; ++c) {
    const PathMetrics::ClassLoss& cl = m.class_loss[c];
    classes.push_back({{"tag", c + 1},
                       {"forward", opt(cl.forward)},
                       {"backward", opt(cl.backward)},
                       {"forward_low", opt(cl.forward_low)},
                       {"backward_low", opt(cl.backward_low)},
                       {"sent_forward", cl.sent_forward},
                       {"sent_backward", cl.sent_backward},
                       {"lost_forward", cl.lost_forward},
                       {"lost_backward", cl.lost_backward}});
  }
  j["data_loss"]["classes"] = std::move(classes);
  j["rtt_us"] = {{"min", opt(m.rtt_min_us)}, {"avg", opt(m.rtt_avg_us)},
                 {"max", opt(m.rtt_max_us)}, {"p50", opt(m.rtt_p50_us)},
                 {"p90", opt(m.rtt_p90_us)}, {"p99", opt(m.rtt_p99_us)}};
  j["jitter_us"] = {{"rtt", opt(m.jitter_rtt_us)},
                    {"forward", opt(m.jitter_fwd_us)},
                    {"backward", opt(m.jitter_bwd_us)}};
  j["ipdv_mean_abs_us"] = opt(m.ipdv_mean_abs_us);
  j["pdv_p99_us"] = opt(m.pdv_p99_us);
  j["one_way_us"] = {{"forward", opt(m.forward_us)},
                     {"backward", opt(m.backward_us)},
                     {"error_bound", opt(m.one_way_error_us)}};
  j["reflector_time_avg_us"] = opt(m.reflector_time_avg_us);
  j["ttl"] = {{"at_reflector", opt(m.sender_ttl)}, {"reply", opt(m.reply_ttl)}};
  j["totals"] = {
      {"requested", m.total_requested},
      {"sent", m.total_sent},
      {"received", m.total_received},
      {"lost", m.total_lost},
      {"late", m.total_late},
      {"not_sent", m.total_not_sent},
      {"duplicates", m.total_duplicates},
      {"unknown_replies", m.unknown_replies},
      {"t1_mismatch", m.t1_mismatch},
      {"bad_timestamps", m.bad_timestamps},
      {"bad_reflector_timestamps", m.bad_reflector_timestamps},
  };
  return j;
}

json to_json(const LinkState& s) {
  json paths = json::array();
  for (const PathState& p : s.paths) {
    json j = to_json(p.metrics);
    j["session"] = p.session;
    j["name"] = p.name;
    j["uplink"] = p.uplink;
    j["remote"] = p.remote;
    j["state"] = to_string(p.status);
    j["since_ns"] = p.since_ns;
    j["consecutive"] = {{"answered", p.consecutive_answered}, {"missed", p.consecutive_missed}};
    paths.push_back(std::move(j));
  }
  return json{{"time_ns", s.time_ns},
              {"unknown_session_records", s.unknown_session_records},
              {"paths", std::move(paths)}};
}

json to_json(const LinkEvent& e) {
  return json{{"path", e.path},
              {"from", to_string(e.from)},
              {"to", to_string(e.to)},
              {"reason", e.reason},
              {"time_ns", e.time_ns}};
}

std::optional<std::string> LinkMonitor::add_path(uint16_t session, const PathConfig& cfg) {
  if (session >= dp::kMaxStampSessions)
    return "path \"" + cfg.name + "\": session " + std::to_string(session) + " out of range (0.." +
           std::to_string(dp::kMaxStampSessions - 1) + ")";
  if (auto err = validate(cfg)) return err;
  for (const auto& [id, p] : paths_) {
    if (id == session)
      return "path \"" + cfg.name + "\": session " + std::to_string(session) +
             " already used by path \"" + p.mon->config().name + "\"";
    if (p.mon->config().name == cfg.name)
      return "path \"" + cfg.name + "\": name already used (session " + std::to_string(id) + ")";
  }
  paths_[session] = Path{std::make_unique<PathMonitor>(cfg)};
  return std::nullopt;
}

bool LinkMonitor::remove_path(uint16_t session) {
  return paths_.erase(session) != 0;
}

const PathMonitor* LinkMonitor::path(uint16_t session) const {
  auto it = paths_.find(session);
  return it == paths_.end() ? nullptr : it->second.mon.get();
}

std::vector<dp::StampRequest> LinkMonitor::due(uint64_t now_ns) {
  std::vector<dp::StampRequest> out;
  for (auto& [id, p] : paths_) {
    const PathConfig& c = p.mon->config();
    const uint64_t interval_ns = uint64_t{c.interval_ms} * 1'000'000;
    if (p.scheduled && now_ns < p.next_due_ns) continue;
    // A late call sends one probe, not a burst to catch up; the schedule restarts from now
    // when it fell more than one interval behind.
    p.next_due_ns = p.scheduled && now_ns - p.next_due_ns < interval_ns
                        ? p.next_due_ns + interval_ns
                        : now_ns + interval_ns;
    p.scheduled = true;
    dp::StampRequest rq;
    rq.session = id;
    rq.seq = p.mon->begin_probe(now_ns);
    rq.length = c.length;
    rq.dscp = c.dscp;
    rq.ssid = c.ssid;
    rq.classes = c.data_classes;
    out.push_back(rq);
  }
  return out;
}

void LinkMonitor::request_failed(const dp::StampRequest& rq, uint64_t now_ns) {
  auto it = paths_.find(rq.session);
  if (it != paths_.end()) it->second.mon->request_failed(rq.seq, now_ns);
}

void LinkMonitor::feed(const dp::StampRecord& r, uint64_t now_ns) {
  auto it = paths_.find(r.session);
  if (it == paths_.end()) {
    ++unknown_session_records_;
    return;
  }
  it->second.mon->on_record(r, now_ns);
}

void LinkMonitor::tick(uint64_t now_ns) {
  for (auto& [id, p] : paths_) p.mon->tick(now_ns);
}

size_t LinkMonitor::poll(uint64_t now_ns, rte_ring* results, rte_ring* requests,
                         size_t max_records) {
  size_t read = 0;
  dp::StampRecord buf[64];
  while (results != nullptr && read < max_records) {
    const unsigned want = static_cast<unsigned>(std::min<size_t>(64, max_records - read));
    const unsigned n =
        rte_ring_dequeue_burst_elem(results, buf, sizeof(dp::StampRecord), want, nullptr);
    for (unsigned i = 0; i < n; ++i) feed(buf[i], now_ns);
    read += n;
    if (n < want) break;
  }
  tick(now_ns);
  for (dp::StampRequest rq : due(now_ns)) {
    if (requests == nullptr || rte_ring_enqueue_elem(requests, &rq, sizeof rq) != 0)
      request_failed(rq, now_ns);
  }
  return read;
}

LinkState LinkMonitor::snapshot(uint64_t now_ns) const {
  LinkState s;
  s.time_ns = now_ns;
  s.unknown_session_records = unknown_session_records_;
  for (const auto& [id, p] : paths_) {
    const PathMonitor& m = *p.mon;
    PathState ps;
    ps.session = id;
    ps.name = m.config().name;
    ps.uplink = m.config().uplink;
    ps.remote = m.config().remote;
    ps.status = m.status();
    ps.since_ns = m.status_since_ns();
    ps.consecutive_answered = m.consecutive_answered();
    ps.consecutive_missed = m.consecutive_missed();
    ps.metrics = m.metrics();
    s.paths.push_back(std::move(ps));
  }
  return s;
}

std::vector<LinkEvent> LinkMonitor::take_events() {
  std::vector<LinkEvent> out;
  for (auto& [id, p] : paths_) {
    auto ev = p.mon->take_events();
    for (auto& e : ev) out.push_back(std::move(e));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LinkEvent& a, const LinkEvent& b) { return a.time_ns < b.time_ns; });
  return out;
}

}  // namespace traboule::cp

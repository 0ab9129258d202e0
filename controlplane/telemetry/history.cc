// SPDX-License-Identifier: Apache-2.0
#include "controlplane/telemetry/history.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace traboule::cp {
namespace {

using nlohmann::json;

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

json point_json(const HistoryStore::Point& p, size_t values) {
  json a = json::array();
  for (size_t i = 0; i <= values; ++i) a.push_back(p[i] ? json(*p[i]) : json(nullptr));
  return a;
}

// A point from a file: an array of 4 numbers or nulls, the time a number; nullopt otherwise.
std::optional<HistoryStore::Point> point_of(const json& j) {
  if (!j.is_array() || j.size() != 4 || !j[0].is_number()) return std::nullopt;
  HistoryStore::Point p;
  for (size_t i = 0; i < 4; ++i) {
    if (j[i].is_null()) continue;
    if (!j[i].is_number()) return std::nullopt;
    const double d = j[i].get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    p[i] = d;
  }
  return p;
}

// Points of a file's ring: in time order, not older than `oldest`, not in the future.
std::deque<HistoryStore::Point> ring_of(const json& j, int64_t oldest, int64_t now_ms, size_t max) {
  std::deque<HistoryStore::Point> out;
  if (!j.is_array()) return out;
  for (const json& e : j) {
    auto p = point_of(e);
    if (!p) continue;
    const double t = *(*p)[0];
    if (t < static_cast<double>(oldest) || t > static_cast<double>(now_ms + 60'000)) continue;
    if (!out.empty() && t <= *out.back()[0]) continue;
    out.push_back(*p);
    if (out.size() > max) out.pop_front();
  }
  return out;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void HistoryStore::push(Series& s, const Point& p) {
  const int64_t t = static_cast<int64_t>(*p[0]);
  if (!s.fine.empty() && t <= static_cast<int64_t>(*s.fine.back()[0])) return;  // clock stepped
  s.fine.push_back(p);
  while (s.fine.size() > kFinePoints || *s.fine.front()[0] < static_cast<double>(t - kHourMs))
    s.fine.pop_front();
  accumulate(s, p);
}

void HistoryStore::accumulate(Series& s, const Point& p) {
  const int64_t t = static_cast<int64_t>(*p[0]);
  const int64_t bucket = t / kCoarseStepMs;
  if (bucket != s.bucket) {
    if (s.bucket >= 0 && (s.n[0] | s.n[1] | s.n[2]) != 0) {
      Point c;
      c[0] = static_cast<double>(s.bucket * kCoarseStepMs);
      for (size_t i = 0; i < 3; ++i)
        if (s.n[i] != 0) c[i + 1] = s.sum[i] / s.n[i];
      s.coarse.push_back(c);
    }
    while (s.coarse.size() > kCoarsePoints ||
           (!s.coarse.empty() && *s.coarse.front()[0] < static_cast<double>(t - kDayMs)))
      s.coarse.pop_front();
    s.bucket = bucket;
    s.sum = {};
    s.n = {};
  }
  for (size_t i = 0; i < 3; ++i)
    if (p[i + 1]) {
      s.sum[i] += *p[i + 1];
      ++s.n[i];
    }
}

void HistoryStore::add(const HistorySample& s) {
  std::lock_guard lock(mu_);
  const double t = static_cast<double>(s.time_ms);
  for (const auto& p : s.paths) {
    if (!paths_.contains(p.name) && paths_.size() >= kMaxSeries) continue;
    Series& ser = paths_[p.name];
    ser.uplink = p.uplink;
    push(ser, {t, p.rtt_ms, p.jitter_ms, p.loss_percent});
  }
  for (const auto& u : s.uplinks) {
    if (!uplinks_.contains(u.name) && uplinks_.size() >= kMaxSeries) continue;
    Point pt{t, std::nullopt, std::nullopt, std::nullopt};
    auto it = last_bytes_.find(u.name);
    if (it != last_bytes_.end() && s.time_ms > it->second.first &&
        u.rx_bytes >= it->second.second[0] && u.tx_bytes >= it->second.second[1]) {
      const double secs = static_cast<double>(s.time_ms - it->second.first) / 1000.0;
      pt[1] = static_cast<double>(u.rx_bytes - it->second.second[0]) * 8 / secs;
      pt[2] = static_cast<double>(u.tx_bytes - it->second.second[1]) * 8 / secs;
    }
    last_bytes_[u.name] = {s.time_ms, {u.rx_bytes, u.tx_bytes}};
    push(uplinks_[u.name], pt);
  }
}

json HistoryStore::series_json(const std::map<std::string, Series>& m, bool fine,
                               bool paths) const {
  json out = json::array();
  const size_t values = paths ? 3 : 2;
  for (const auto& [name, s] : m) {
    json points = json::array();
    for (const Point& p : fine ? s.fine : s.coarse) points.push_back(point_json(p, values));
    if (!fine && (s.n[0] | s.n[1] | s.n[2]) != 0) {  // the 5 minutes being filled, so far
      Point c;
      c[0] = static_cast<double>(s.bucket * kCoarseStepMs);
      for (size_t i = 0; i < 3; ++i)
        if (s.n[i] != 0) c[i + 1] = s.sum[i] / s.n[i];
      points.push_back(point_json(c, values));
    }
    json e = {{"name", name}, {"points", std::move(points)}};
    if (paths) e["uplink"] = s.uplink;
    out.push_back(std::move(e));
  }
  return out;
}

json HistoryStore::query(const std::string& range) const {
  std::lock_guard lock(mu_);
  const bool fine = range != "day";
  return {{"range", fine ? "hour" : "day"},
          {"step_s", (fine ? kFineStepMs : kCoarseStepMs) / 1000},
          {"columns",
           {{"paths", {"time_ms", "rtt_ms", "jitter_ms", "loss_percent"}},
            {"uplinks", {"time_ms", "rx_bps", "tx_bps"}}}},
          {"paths", series_json(paths_, fine, true)},
          {"uplinks", series_json(uplinks_, fine, false)}};
}

json HistoryStore::to_json() const {
  std::lock_guard lock(mu_);
  auto dump = [](const std::map<std::string, Series>& m) {
    json o = json::object();
    for (const auto& [name, s] : m) {
      json fine = json::array(), coarse = json::array();
      for (const Point& p : s.fine) fine.push_back(point_json(p, 3));
      for (const Point& p : s.coarse) coarse.push_back(point_json(p, 3));
      o[name] = {{"uplink", s.uplink}, {"fine", fine}, {"coarse", coarse}};
    }
    return o;
  };
  return {{"format", "traboule-history/1"}, {"paths", dump(paths_)}, {"uplinks", dump(uplinks_)}};
}

void HistoryStore::load(const json& j, int64_t now_ms) {
  if (!j.is_object() || j.value("format", "") != "traboule-history/1") return;
  std::lock_guard lock(mu_);
  auto read = [&](const char* key, std::map<std::string, Series>& m) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_object()) return;
    for (const auto& [name, e] : it->items()) {
      if (m.size() >= kMaxSeries || name.empty() || name.size() > 64 || !e.is_object()) continue;
      Series s;
      if (e.contains("uplink") && e["uplink"].is_string()) s.uplink = e["uplink"];
      s.fine = ring_of(e.value("fine", json()), now_ms - kHourMs, now_ms, kFinePoints);
      s.coarse = ring_of(e.value("coarse", json()), now_ms - kDayMs, now_ms, kCoarsePoints);
      // The 5 minutes being filled at the save are not in the file's day: rebuild them (and
      // any later whole bucket) from its hour, so a restart does not blank the day's tail.
      const double after = s.coarse.empty() ? -1.0 : *s.coarse.back()[0] + kCoarseStepMs;
      for (const Point& p : s.fine)
        if (*p[0] >= after) accumulate(s, p);
      if (!s.fine.empty() || !s.coarse.empty()) m[name] = std::move(s);
    }
  };
  read("paths", paths_);
  read("uplinks", uplinks_);
}

HistoryRecorder::HistoryRecorder(HistoryStore& store, std::function<HistorySample()> sample,
                                 std::string file)
    : store_(store), sample_(std::move(sample)), file_(std::move(file)) {
  if (FILE* f = std::fopen(file_.c_str(), "rb")) {
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < (64u << 20))
      text.append(buf, n);
    std::fclose(f);
    store_.load(json::parse(text, nullptr, false), wall_ms());  // not JSON: discarded
  }
  thread_ = std::thread([this] { run(); });
}

HistoryRecorder::~HistoryRecorder() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  save();
}

void HistoryRecorder::run() {
  std::unique_lock lock(mu_);
  for (unsigned n = 0; !stop_; ++n) {
    lock.unlock();
    HistorySample s = sample_();
    s.time_ms = wall_ms();
    store_.add(s);
    if (n % 6 == 5) save();  // once a minute
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(HistoryStore::kFineStepMs),
                 [this] { return stop_; });
  }
}

void HistoryRecorder::save() {
  // Whole file, then rename: a crash leaves the old one or the new one, never half of one.
  const std::string tmp = file_ + ".tmp";
  const std::string text = store_.to_json().dump();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  bool ok = fd >= 0;
  size_t off = 0;
  while (ok && off < text.size()) {
    const ssize_t w = ::write(fd, text.data() + off, text.size() - off);
    ok = w > 0;
    if (ok) off += static_cast<size_t>(w);
  }
  ok = ok && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok || std::rename(tmp.c_str(), file_.c_str()) != 0) {
    ++save_errors_;
    ::unlink(tmp.c_str());
  }
}

}  // namespace traboule::cp

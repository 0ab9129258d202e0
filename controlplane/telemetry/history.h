// SPDX-License-Identifier: Apache-2.0
// The links' recent history for the web view (docs/webview.md): per path RTT, jitter and loss,
// per uplink the bit rates, sampled every 10 s for the last hour and averaged over 5 min for the
// last day. Bounded in memory (paths, uplinks and points capped) and kept in
// <state_dir>/history.json (written whole, atomically, once a minute and at stop), so a restart
// does not blank the plots.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace traboule::cp {

// One sample of everything, at one time.
struct HistorySample {
  struct Path {
    std::string name;    // "fiber/hub"
    std::string uplink;  // "fiber"
    std::optional<double> rtt_ms, jitter_ms, loss_percent;
    bool up = false;
  };
  struct Uplink {
    std::string name;
    uint64_t rx_bytes = 0, tx_bytes = 0;  // the port's counters: rates come from differences
  };
  int64_t time_ms = 0;
  std::vector<Path> paths;
  std::vector<Uplink> uplinks;
};

class HistoryStore {
 public:
  static constexpr int64_t kFineStepMs = 10'000;     // the hour: one point per 10 s
  static constexpr size_t kFinePoints = 360;         // 1 h
  static constexpr int64_t kCoarseStepMs = 300'000;  // the day: one point per 5 min
  static constexpr size_t kCoarsePoints = 288;       // 24 h
  static constexpr size_t kMaxSeries = 64;           // paths, and uplinks: more are ignored

  // A point: time (ms since the epoch) and up to three values (null when unknown).
  using Point = std::array<std::optional<double>, 4>;  // [0] is the time

  void add(const HistorySample& s);
  // {"range", "step_s", "paths": [{name, uplink, points: [[t, rtt_ms, jitter_ms, loss %]]}],
  //  "uplinks": [{name, points: [[t, rx_bps, tx_bps]]}]}; range "hour" or "day".
  nlohmann::json query(const std::string& range) const;
  // The whole store as JSON and back; load() ignores what it cannot use (a corrupt or foreign
  // file leaves the store empty or partial, never throws) and drops points older than a day.
  nlohmann::json to_json() const;
  void load(const nlohmann::json& j, int64_t now_ms);

 private:
  struct Series {
    std::string uplink;  // paths only
    std::deque<Point> fine, coarse;
    // The 5-min bucket being filled: sums and counts per value.
    int64_t bucket = -1;
    std::array<double, 3> sum{};
    std::array<unsigned, 3> n{};
  };
  static void push(Series& s, const Point& p);        // to the hour, then to the day
  static void accumulate(Series& s, const Point& p);  // into the day's 5-minute averages
  nlohmann::json series_json(const std::map<std::string, Series>& m, bool fine, bool paths) const;

  mutable std::mutex mu_;
  std::map<std::string, Series> paths_, uplinks_;
  std::map<std::string, std::pair<int64_t, std::array<uint64_t, 2>>> last_bytes_;  // for rates
};

// Samples every 10 s on a thread of its own and saves the store once a minute and at stop.
class HistoryRecorder {
 public:
  HistoryRecorder(HistoryStore& store, std::function<HistorySample()> sample, std::string file);
  ~HistoryRecorder();
  HistoryRecorder(const HistoryRecorder&) = delete;
  HistoryRecorder& operator=(const HistoryRecorder&) = delete;
  uint64_t save_errors() const noexcept { return save_errors_.load(); }

 private:
  void run();
  void save();

  HistoryStore& store_;
  std::function<HistorySample()> sample_;
  std::string file_;
  std::atomic<uint64_t> save_errors_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace traboule::cp

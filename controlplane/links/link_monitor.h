// SPDX-License-Identifier: Apache-2.0
// Every measured path of the box, by STAMP session id: schedules the probes, reads the data
// plane's records, times probes out, and publishes the LinkState snapshot (`traboulectl links
// --json` prints its JSON) and the up/down events. Driven by one control thread; no locks.
#pragma once

#include <rte_ring.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/links/path_monitor.h"
#include "dataplane/model/stamp_ring.h"
#include "dataplane/model/stamp_sessions.h"

#include <nlohmann/json.hpp>

namespace traboule::cp {

struct PathState {
  uint16_t session = 0;
  std::string name, uplink, remote;
  LinkStatus status = LinkStatus::kUnknown;
  uint64_t since_ns = 0;  // last change (0: never changed)
  uint32_t consecutive_answered = 0;
  uint32_t consecutive_missed = 0;
  PathMetrics metrics;
};

struct LinkState {
  uint64_t time_ns = 0;
  uint64_t unknown_session_records = 0;  // records for a session no path owns
  std::vector<PathState> paths;          // by session id
};

nlohmann::json to_json(const PathMetrics& m);
nlohmann::json to_json(const LinkState& s);
nlohmann::json to_json(const LinkEvent& e);

class LinkMonitor {
 public:
  // Adds the path measured through STAMP session `session` (its StampSessionTable slot; the
  // caller fills that slot). An error naming the field and value, or nullopt when added.
  std::optional<std::string> add_path(uint16_t session, const PathConfig& cfg);
  bool remove_path(uint16_t session);
  const PathMonitor* path(uint16_t session) const;

  // The probes due at now_ns (each path every interval_ms), with their sequence numbers
  // allocated: the caller enqueues them for the sending worker, and calls request_failed()
  // for those it could not.
  std::vector<dp::StampRequest> due(uint64_t now_ns);
  void request_failed(const dp::StampRequest& rq, uint64_t now_ns);
  // One record from the data plane's result ring.
  void feed(const dp::StampRecord& r, uint64_t now_ns);
  // Times out probes (liveness misses).
  void tick(uint64_t now_ns);
  // One control-loop step on the rings: drains up to `max_records` results, ticks, then sends
  // the due requests. Returns the number of records read.
  size_t poll(uint64_t now_ns, rte_ring* results, rte_ring* requests, size_t max_records = 4096);

  LinkState snapshot(uint64_t now_ns) const;
  // State changes of every path since the last call, oldest first.
  std::vector<LinkEvent> take_events();

 private:
  struct Path {
    std::unique_ptr<PathMonitor> mon;
    uint64_t next_due_ns = 0;
    bool scheduled = false;
  };
  std::map<uint16_t, Path> paths_;
  uint64_t unknown_session_records_ = 0;
};

}  // namespace traboule::cp

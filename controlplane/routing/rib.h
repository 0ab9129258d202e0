// SPDX-License-Identifier: Apache-2.0
// The routes zebra selected, as received over FPM: prefix → protocol, next hops, metric, time
// learnt. After each (re)connection zebra replays its whole RIB; routes it does not re-send are
// stale and removed after a grace period, so a restarted FRR neither blackholes what it still
// has nor leaves behind what it lost. Thread-safe (one mutex): the FPM thread writes, others read.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "controlplane/routing/fpm.h"

namespace traboule::cp {

struct RibEntry {
  Route route;
  std::chrono::system_clock::time_point learnt;  // last change (a replayed copy keeps it)
  uint64_t epoch = 0;                            // the sync that last confirmed it
};

struct RibStats {
  uint64_t adds = 0;       // new or changed routes
  uint64_t refreshes = 0;  // identical routes re-sent (the replay)
  uint64_t deletes = 0;
  uint64_t unknown_deletes = 0;  // RTM_DELROUTE for a route we do not have
  uint64_t stale_removed = 0;    // not re-sent after a reconnection, removed by the sweep
  uint64_t resyncs = 0;
};

class Rib {
 public:
  // True when the RIB changed (a refresh of an identical route is not a change).
  bool apply(const RouteUpdate& u, std::chrono::system_clock::time_point now);
  // A new FPM connection: from now on, routes must be re-sent to stay.
  void begin_resync();
  // Removes the routes not confirmed since the last begin_resync(); returns how many.
  size_t sweep_stale();
  std::vector<RibEntry> entries() const;
  size_t size() const;
  uint64_t version() const;  // bumped on every change
  RibStats stats() const;

 private:
  struct Key {
    uint32_t table;
    dp::IpPrefix prefix;
    friend bool operator<(const Key& a, const Key& b) {
      if (a.table != b.table) return a.table < b.table;
      if (a.prefix.v4 != b.prefix.v4) return a.prefix.v4 > b.prefix.v4;  // IPv4 first
      if (a.prefix.addr != b.prefix.addr) return a.prefix.addr < b.prefix.addr;
      return a.prefix.len < b.prefix.len;
    }
  };
  mutable std::mutex mu_;
  std::map<Key, RibEntry> routes_;
  uint64_t epoch_ = 0;
  uint64_t version_ = 0;
  RibStats stats_;
};

}  // namespace traboule::cp

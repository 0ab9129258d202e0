// SPDX-License-Identifier: Apache-2.0
// The firewall's decisions as the link runner collects them from the workers' logs: log lines
// rate-limited to 10 a second, the last decisions and the top denied sources for GET /firewall.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/runtime/dataplane.h"

namespace traboule::cp {

class FirewallLog {
 public:
  using Log = std::function<void(bool error, const std::string&)>;

  // Reads the workers' new decisions (runner thread); `policy` names their rules (null: by
  // number).
  void collect(const dp::Dataplane& dataplane, const dp::PolicySnapshot* policy, uint64_t now_ns,
               const Log& log);
  // The last decisions (with their age at now_ns) and the `top` most denied sources.
  nlohmann::json view(size_t top, uint64_t now_ns) const;

 private:
  std::vector<uint64_t> event_pos_;                 // per worker log, runner thread
  uint64_t window_ns_ = 0;                          // runner thread: log rate limit
  uint32_t logged_in_window_ = 0, suppressed_ = 0;  // runner thread
  mutable std::mutex mu_;
  nlohmann::json last_ = nlohmann::json::array();   // under mu_: newest last
  std::map<std::string, uint64_t> denied_sources_;  // under mu_: bounded
  uint64_t events_lost_ = 0;                        // under mu_
};

}  // namespace traboule::cp

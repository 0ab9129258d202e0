// SPDX-License-Identifier: Apache-2.0
// The daemon's read-only state as the API serves it (uplinks, rules, QoS, routes, flows,
// applications, counters, drops). The daemon implements it; the API only serialises what it
// returns. Called concurrently from the API's worker threads: implementations must be
// thread-safe and must not block on the data plane.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace traboule::cp {

class StateSource {
 public:
  virtual ~StateSource() = default;
  virtual nlohmann::json status() = 0;           // merged into GET /status as "daemon"
  virtual nlohmann::json uplinks() = 0;          // GET /uplinks
  virtual nlohmann::json rules() = 0;            // GET /rules
  virtual nlohmann::json qos() = 0;              // GET /qos
  virtual nlohmann::json routes() = 0;           // GET /routes
  virtual nlohmann::json flows(size_t top) = 0;  // GET /flows?top=N: the N largest flows
  virtual nlohmann::json apps() = 0;             // GET /apps
  virtual nlohmann::json counters(std::string_view prefix) = 0;  // GET /counters?prefix=P
  virtual nlohmann::json drops() = 0;                            // GET /drops
  // GET /paths: per rule the uplink new flows get and why, SLA state per uplink, path events.
  virtual nlohmann::json paths() { return nlohmann::json::object(); }
  // GET /apps/top?top=N: the N applications with the most bytes (per uplink and direction).
  virtual nlohmann::json app_traffic(size_t /*top*/) { return nlohmann::json::array(); }
  // GET /firewall?top=N: settings, inbound rules with hits, verdict and zone-pair counters, the
  // last decisions logged and the N sources denied most.
  virtual nlohmann::json firewall(size_t /*top*/) { return nlohmann::json::object(); }
  // GET /events: the journal's records (docs/operations.md), oldest first, from `since_ms`
  // (ms since the epoch), of one incident class ("P0".. or "" for all), the newest `limit`.
  virtual nlohmann::json events(int64_t /*since_ms*/, const std::string& /*incident*/,
                                size_t /*limit*/) {
    return {{"events", nlohmann::json::array()}};
  }
  // GET /report/availability?month=YYYY-MM: the month's availability; csv: the same as CSV.
  virtual nlohmann::json availability(int /*year*/, int /*month*/) {
    return nlohmann::json::object();
  }
  virtual std::string availability_csv(int /*year*/, int /*month*/) { return ""; }
  // GET /runtime: per stage calls, packets and cycles per packet (docs/dataplane.md "Runtime").
  virtual nlohmann::json runtime() { return {{"stages", nlohmann::json::array()}}; }
  // GET /links/history?range=hour|day: the links' recent figures for the web view's plots
  // (controlplane/telemetry/history.h).
  virtual nlohmann::json link_history(const std::string& range) {
    return {
        {"range", range}, {"paths", nlohmann::json::array()}, {"uplinks", nlohmann::json::array()}};
  }
};

}  // namespace traboule::cp

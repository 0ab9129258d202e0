// SPDX-License-Identifier: Apache-2.0
// GET /metrics: the daemon's state in the Prometheus text exposition format 0.0.4, built from
// the same JSON documents the API serves (GET /status, /uplinks, /counters, /drops), so the
// two views cannot disagree. Names follow Prometheus conventions: `traboule_` prefix, base
// units (seconds, bytes, ratios), `_total` on counters; every family has HELP and TYPE once,
// its samples together, label values escaped. A missing or null figure is left out, never
// written as 0.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace traboule::cp {

struct MetricsInput {
  nlohmann::json daemon = nlohmann::json::object();    // StateSource::status()
  nlohmann::json uplinks = nlohmann::json::array();    // StateSource::uplinks()
  nlohmann::json counters = nlohmann::json::object();  // StateSource::counters("")
  nlohmann::json drops = nlohmann::json::object();     // StateSource::drops()
  nlohmann::json api = nlohmann::json::object();       // GET /status "api": the API's counters
  nlohmann::json apps = nlohmann::json::array();       // StateSource::app_traffic(all)
};

std::string render_prometheus(const MetricsInput& in);

// The exposition's content type.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace traboule::cp

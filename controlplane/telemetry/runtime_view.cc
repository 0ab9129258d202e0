// SPDX-License-Identifier: Apache-2.0
#include "controlplane/telemetry/runtime_view.h"

#include <cmath>

namespace traboule::cp {

using nlohmann::json;

namespace {
double round1(double v) {
  return std::round(v * 10) / 10;
}
}  // namespace

json runtime_json(const std::vector<dp::Pipeline::StageProfile>& stages,
                  const std::vector<dp::WorkerStats>& workers, uint64_t tsc_hz) {
  json rows = json::array();
  double cycles_all = 0;  // every stage's cycles, estimated from its timed calls
  for (const auto& s : stages) {
    const bool timed = s.packets != 0;
    const double cpp = timed ? double(s.cycles) / double(s.packets) : 0;
    cycles_all += cpp * double(s.vectors);
    rows.push_back(
        {{"name", s.name},
         {"calls", s.calls},
         {"packets", s.vectors},
         {"packets_per_call", s.calls != 0 ? round1(double(s.vectors) / double(s.calls)) : 0.0},
         {"cycles_per_packet", timed ? json(round1(cpp)) : json(nullptr)},
         {"ns_per_packet",
          timed && tsc_hz != 0 ? json(round1(cpp * 1e9 / double(tsc_hz))) : json(nullptr)},
         {"timed_calls", s.timed_calls},
         {"timed_packets", s.packets},
         {"timed_cycles", s.cycles}});
  }
  json ws = json::array();
  uint64_t rx = 0;
  for (size_t i = 0; i < workers.size(); ++i) {
    const dp::WorkerStats& w = workers[i];
    rx += w.rx_packets;
    ws.push_back({{"worker", i},
                  {"loops", w.loops},
                  {"busy_loops", w.busy_loops},
                  {"busy_percent",
                   w.loops != 0 ? round1(100.0 * double(w.busy_loops) / double(w.loops)) : 0.0},
                  {"rx_packets", w.rx_packets},
                  {"sleeps", w.sleeps}});
  }
  return {
      {"tsc_hz", tsc_hz},
      {"sample_every", dp::Pipeline::kSampleEvery},
      {"stages", std::move(rows)},
      {"workers", std::move(ws)},
      // What a received packet costs in all the stages it crossed (the timed calls'
      // figures applied to every call); null before the first packet.
      {"cycles_per_rx_packet", rx != 0 ? json(round1(cycles_all / double(rx))) : json(nullptr)}};
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// fpm_dump: our FPM server on its own, for the zebra lab test (tests/e2e/fpm_test.sh). It writes
// the RIB as JSON to OUT/rib.json (replaced atomically on every change) and one JSON line per
// route change to OUT/events.jsonl with the wall-clock time it was applied (t_ns), so the test
// measures zebra → RIB delivery from the time it ran vtysh.
// OUT/status.json has the session and decoder counters.
//   fpm_dump OUT_DIR [ADDRESS [PORT [GRACE_MS]]]     runs until SIGTERM/SIGINT
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "controlplane/routing/fpm_server.h"
#include "controlplane/routing/rib.h"

namespace {

using nlohmann::json;
using traboule::cp::RibEntry;

volatile sig_atomic_t g_stop = 0;

json entry_json(const RibEntry& e) {
  json hops = json::array();
  for (const auto& nh : e.route.next_hops) {
    json h = {{"ifindex", nh.ifindex}, {"weight", nh.weight}};
    if (nh.has_gateway) h["gateway"] = nh.gateway.str();
    hops.push_back(h);
  }
  const auto learnt =
      std::chrono::duration_cast<std::chrono::nanoseconds>(e.learnt.time_since_epoch());
  return {{"prefix", e.route.prefix.str()},
          {"table", e.route.table},
          {"protocol", traboule::cp::route_protocol_name(e.route.protocol)},
          {"type", traboule::cp::route_type_name(e.route.type)},
          {"metric", e.route.metric},
          {"next_hops", hops},
          {"learnt_ns", learnt.count()}};
}

// Compares the RIB with what was last written: events for what changed, then the new file.
class Dumper {
 public:
  Dumper(traboule::cp::Rib& rib, std::string dir) : rib_(rib), dir_(std::move(dir)) {}

  void changed() {
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::map<std::string, json> cur;
    json all = json::array();
    for (const RibEntry& e : rib_.entries()) {
      json j = entry_json(e);
      all.push_back(j);
      j.erase("learnt_ns");
      cur[j["prefix"].get<std::string>() + "%" + std::to_string(e.route.table)] = j;
    }
    std::ofstream ev(dir_ + "/events.jsonl", std::ios::app);
    for (const auto& [k, j] : cur) {
      auto it = last_.find(k);
      if (it == last_.end() || it->second != j) {
        ev << json{{"t_ns", now}, {"event", "add"}, {"route", j}}.dump() << "\n";
      }
    }
    for (const auto& [k, j] : last_) {
      if (!cur.count(k)) ev << json{{"t_ns", now}, {"event", "del"}, {"route", j}}.dump() << "\n";
    }
    last_ = std::move(cur);
    {
      std::ofstream out(dir_ + "/rib.json.tmp");
      out << all.dump(1) << "\n";
    }
    std::rename((dir_ + "/rib.json.tmp").c_str(), (dir_ + "/rib.json").c_str());
  }

 private:
  traboule::cp::Rib& rib_;
  std::string dir_;
  std::map<std::string, json> last_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fpm_dump OUT_DIR [ADDRESS [PORT [GRACE_MS]]]\n");
    return 2;
  }
  traboule::cp::FpmServerOptions opt;
  if (argc > 2) opt.address = argv[2];
  if (argc > 3) opt.port = static_cast<uint16_t>(std::stoi(argv[3]));
  if (argc > 4) opt.resync_grace = std::chrono::milliseconds(std::stoi(argv[4]));
  traboule::cp::Rib rib;
  traboule::cp::FpmServer server(rib, opt);
  Dumper dumper(rib, argv[1]);
  server.set_on_change([&] { dumper.changed(); });
  signal(SIGTERM, [](int) { g_stop = 1; });
  signal(SIGINT, [](int) { g_stop = 1; });
  std::string err;
  if (!server.start(&err)) {
    std::fprintf(stderr, "fpm_dump: %s\n", err.c_str());
    return 1;
  }
  dumper.changed();  // an empty rib.json: the server is listening
  std::fprintf(stderr, "fpm_dump: listening on %s:%u\n", opt.address.c_str(), server.port());
  // status.json: the session and the decoder's counters, rewritten when they change, with the
  // wall-clock time of each connection and each sweep (the test measures the resync from them).
  json status = {{"connect_ns", json::array()}, {"sweep_ns", json::array()}};
  std::string last;
  while (!g_stop) {
    const auto s = server.session();
    const auto c = server.counters();
    const auto r = rib.stats();
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (s.connections > status["connect_ns"].size()) status["connect_ns"].push_back(now);
    if (s.sweeps > status["sweep_ns"].size()) status["sweep_ns"].push_back(now);
    json counters;
    for (size_t i = 0; i < traboule::cp::kFpmCounterCount; ++i) {
      counters[traboule::cp::fpm_counter_name(static_cast<traboule::cp::FpmCounter>(i))] = c.v[i];
    }
    status["connections"] = s.connections;
    status["disconnections"] = s.disconnections;
    status["fatal_closes"] = s.fatal_closes;
    status["sweeps"] = s.sweeps;
    status["stale_removed"] = r.stale_removed;
    status["refreshes"] = r.refreshes;
    status["counters"] = counters;
    const std::string text = status.dump(1);
    if (text != last) {
      std::ofstream(std::string(argv[1]) + "/status.json.tmp") << text << "\n";
      std::rename((std::string(argv[1]) + "/status.json.tmp").c_str(),
                  (std::string(argv[1]) + "/status.json").c_str());
      last = text;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server.stop();
  return 0;
}

// SPDX-License-Identifier: Apache-2.0
// traboule-snmp: the AgentX subagent serving trabouled's ports and links over SNMP (docs/snmp.md).
// Its own process: the packet daemon never links net-snmp; this reads the daemon's HTTPS API.
#include <boost/program_options.hpp>

#include <chrono>
#include <csignal>
#include <iostream>

#include "controlplane/snmp/agent.h"
#include "controlplane/snmp/model.h"
#include "controlplane/snmp/poller.h"

namespace po = boost::program_options;
using namespace traboule::snmp;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Config {
  ApiSettings api;
  AgentOptions agent;
  std::string server;
  unsigned stale_after_s = 30;
};

// What the SNMP thread keeps between polls.
struct State {
  Snapshot snap;
  AgentStats stats;
  TrapDecider decider;
  std::optional<double> last_good_s;
  bool published_empty = false;
  RateLimit fail_log{60}, problem_log{60};
};

void log_problems(State& st, const Problems& problems) {
  st.stats.mapping_problems += static_cast<uint32_t>(problems.size());
  for (const std::string& p : problems) {
    uint64_t held = 0;
    if (!st.problem_log.allow(now_s(), held)) continue;
    Agent::log(true, "API answer not understood: " + p +
                         (held ? " (" + std::to_string(held) + " more not logged)" : ""));
  }
}

std::map<std::string, PathRow> paths_by_name(const std::vector<PathRow>& paths) {
  std::map<std::string, PathRow> m;
  for (const PathRow& p : paths) m[p.name] = p;
  return m;
}

void send_all(Agent& agent, State& st, const std::vector<TrapDecision>& traps) {
  for (const TrapDecision& d : traps) {
    agent.notify(d);
    ++st.stats.traps_sent;
    Agent::log(false, "notification sent: " + d.record_kind + " " + d.subject + " " + d.state +
                          (d.incident.empty() ? "" : " (" + d.incident + ")"));
  }
}

// A poll's documents into the snapshot: each part replaces its own only when it maps; a part
// that does not keeps its last good rows (and is counted and logged).
void apply_documents(State& st, Poll& p, Problems& problems) {
  if (auto up = map_uplinks(*p.uplinks, problems)) {
    std::set<uint16_t> ports;
    std::map<std::string, int32_t> index_of;
    for (const UplinkRow& u : up->uplinks) {
      ports.insert(u.port);
      index_of[u.name] = u.index;
    }
    // The LAN row(s) from GET /status (kept from the last poll when it failed), then every
    // row's driver counters from GET /counters.
    std::vector<IfRow> lan;
    if (p.status) {
      if (auto l = map_lan_ports(*p.status, problems))
        lan = std::move(*l);
      else
        problems.push_back("GET /status: no daemon.ports array");
    } else {
      for (const IfRow& i : st.snap.ifs)
        if (!ports.contains(static_cast<uint16_t>(i.if_index - kIfIndexBase))) lan.push_back(i);
    }
    st.snap.ifs = std::move(lan);
    st.snap.ifs.insert(st.snap.ifs.end(), up->ifs.begin(), up->ifs.end());
    if (p.counters) {
      if (auto c = map_counters(*p.counters, problems)) {
        for (IfRow& i : st.snap.ifs) apply_port_counters(i, c->ports);
        st.snap.workers = std::move(c->workers);
      } else {
        problems.push_back("GET /counters: no counters object");
      }
    }
    st.snap.uplinks = std::move(up->uplinks);
    st.snap.paths = std::move(up->paths);
    if (p.paths) {
      if (auto sla = map_sla(*p.paths, index_of, problems))
        st.snap.sla = std::move(*sla);
      else
        problems.push_back("GET /paths: no uplinks array");
    }
  } else {
    problems.push_back("GET /uplinks: no uplinks array");
  }
  if (p.availability) {
    if (auto av = map_availability(*p.availability, problems))
      st.snap.avail = std::move(*av);
    else
      problems.push_back("GET /report/availability: no subjects array");
  }
}

void apply_poll(Agent& agent, Poller& poller, State& st, Poll p) {
  const double now = now_s();
  if (!p.failures.empty()) {
    ++st.stats.poll_failures;
    uint64_t held = 0;
    if (st.fail_log.allow(now, held))
      Agent::log(true, "API poll failed: " + p.failures.front() +
                           (held ? " (" + std::to_string(held) + " failed polls not logged)" : ""));
  }
  st.stats.api_reachable = p.uplinks.has_value();
  if (!p.uplinks) return;
  if (!st.last_good_s || st.published_empty) Agent::log(false, "API answers: serving its data");
  Problems problems;
  apply_documents(st, p, problems);
  if (p.events) {
    auto traps = st.decider.on_events(*p.events, paths_by_name(st.snap.paths), problems);
    if (traps)
      send_all(agent, st, *traps);
    else
      problems.push_back("GET /events: no events array");
    poller.set_events_since(st.decider.since_s());
    st.stats.journal_seq = static_cast<uint32_t>(st.decider.last_seq().value_or(0));
  }
  send_all(agent, st, st.decider.on_paths(st.snap.paths));
  log_problems(st, problems);
  if (p.failures.empty()) ++st.stats.polls_ok;
  st.last_good_s = now;
  st.published_empty = false;
  agent.publish(st.snap);
}

// After --stale-after seconds without an answer the rows go (noSuchInstance): the DPDK ports do
// not exist while trabouled is down, and old counters would tell an NMS that all is well.
void age(Agent& agent, State& st, const Config& cfg) {
  const double now = now_s();
  st.stats.snapshot_age_s =
      st.last_good_s ? static_cast<uint32_t>(now - *st.last_good_s) : 0xffffffffu;
  if (cfg.stale_after_s != 0 && st.last_good_s && !st.published_empty &&
      now - *st.last_good_s > cfg.stale_after_s) {
    Agent::log(true, "no good answer from the API for " + std::to_string(cfg.stale_after_s) +
                         " s: rows withdrawn until it answers");
    agent.publish(Snapshot{});
    st.published_empty = true;
  }
  agent.set_stats(st.stats);
}

}  // namespace

namespace {

// --help is this: every option the code reads, with its default.
po::options_description options(Config& c) {
  po::options_description d(
      "traboule-snmp: AgentX subagent for trabouled (IF-MIB ports, TRABOULE-MIB links, traps).\n"
      "Run snmpd as AgentX master with -I -ifTable,ifXTable,interfaces (docs/snmp.md).\n"
      "Options");
  d.add_options()("help,h", "this help")(
      "server", po::value(&c.server)->default_value("https://127.0.0.1:8443"),
      "trabouled's API, https://HOST[:PORT]")(
      "token-file", po::value(&c.api.token_file)->required(),
      "file holding a viewer token (first line); read again after a 401; never logged")(
      "ca", po::value(&c.api.ca_file), "CA file for the API's certificate (default: system CAs)")(
      "interval", po::value(&c.api.interval_s)->default_value(5),
      "seconds between polls of the API, 1-3600")(
      "report-interval", po::value(&c.api.report_interval_s)->default_value(60),
      "seconds between polls of the month's availability report, 1-86400")(
      "timeout", po::value(&c.api.timeout_s)->default_value(2.0),
      "seconds per API request (connect, read), 0.1-60")(
      "stale-after", po::value(&c.stale_after_s)->default_value(30),
      "seconds without a good answer before the rows are withdrawn (0: never)")(
      "agentx-socket", po::value(&c.agent.agentx_socket)->default_value("/var/agentx/master"),
      "the master's AgentX socket (unix path, or tcp:HOST:PORT)")(
      "agentx-ping", po::value(&c.agent.ping_interval_s)->default_value(5),
      "seconds between AgentX pings; also the retry period when the master is gone, 1-300");
  return d;
}

std::optional<std::string> check(Config& c) {
  std::string error;
  if (!parse_server(c.server, c.api.host, c.api.port, error)) return error;
  if (c.api.interval_s < 1 || c.api.interval_s > 3600) return "--interval must be 1-3600";
  if (c.api.report_interval_s < 1 || c.api.report_interval_s > 86400)
    return "--report-interval must be 1-86400";
  if (!(c.api.timeout_s >= 0.1 && c.api.timeout_s <= 60)) return "--timeout must be 0.1-60";
  if (c.agent.ping_interval_s < 1 || c.agent.ping_interval_s > 300)
    return "--agentx-ping must be 1-300";
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  const auto desc = options(cfg);
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "traboule-snmp: " << e.what() << "\n(--help for the options)\n";
    return 2;
  }
  if (auto err = check(cfg)) {
    std::cerr << "traboule-snmp: " << *err << "\n";
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  // A TLS write on a keep-alive connection the daemon closed (it restarted) must be an error
  // the poller reports, not a signal that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  // The token first: a missing file is a configuration error, reported before any AgentX noise.
  std::string error;
  Poller poller(cfg.api);
  if (!poller.start(error)) {
    std::cerr << "traboule-snmp: " << error << "\n";
    return 1;
  }
  Agent agent;
  if (!agent.init(cfg.agent, error)) {
    std::cerr << "traboule-snmp: " << error << "\n";
    return 1;
  }
  Agent::log(false, "traboule-snmp: polling " + cfg.server + " every " +
                        std::to_string(cfg.api.interval_s) + " s, AgentX master " +
                        cfg.agent.agentx_socket);
  State st;
  while (g_stop == 0) {
    agent.process();
    if (auto p = poller.take()) apply_poll(agent, poller, st, std::move(*p));
    age(agent, st, cfg);
  }
  Agent::log(false, "traboule-snmp: stopping");
  return 0;
}

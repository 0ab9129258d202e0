// SPDX-License-Identifier: Apache-2.0
// trabouled: the Traboule daemon (edge or hub). Loads the config, restores the last committed
// policy, starts EAL and the data plane, serves the HTTPS API and DPDK telemetry, and stops
// cleanly on SIGINT/SIGTERM.
#include <rte_eal.h>
#include <rte_errno.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "controlplane/agent/bootstrap.h"
#include "controlplane/agent/daemon_state.h"
#include "controlplane/agent/flow_samples.h"
#include "controlplane/agent/links_runner.h"
#include "controlplane/api/api_server.h"
#include "controlplane/config/config.h"
#include "controlplane/journal/availability.h"
#include "controlplane/journal/journal.h"
#include "controlplane/journal/syslog.h"
#include "controlplane/policy/saas_lists.h"
#include "controlplane/store/policy_manager.h"
#include "controlplane/store/policy_store.h"
#include "controlplane/telemetry/dpdk_telemetry.h"
#include "dataplane/runtime/dataplane.h"

namespace po = boost::program_options;
using namespace traboule;

namespace {

std::atomic<dp::Dataplane*> g_dp{nullptr};
volatile std::sig_atomic_t g_signalled = 0;

void on_signal(int) {
  g_signalled = 1;
  if (dp::Dataplane* d = g_dp.load()) d->stop();  // a relaxed atomic store: signal-safe
}

void print_summary(dp::Dataplane& d) {
  std::printf("trabouled: final counters\n");
  for (auto& u : d.uplinks())
    std::printf(
        "  uplink %-10s link %-4s tx %llu pkts %llu bytes, rx %llu pkts %llu bytes\n",
        u.name.c_str(), u.link_up ? "up" : "down", static_cast<unsigned long long>(u.tx_packets),
        static_cast<unsigned long long>(u.tx_bytes), static_cast<unsigned long long>(u.rx_packets),
        static_cast<unsigned long long>(u.rx_bytes));
  for (auto& c : d.counters())
    if (c.value != 0)
      std::printf("  %-44s %llu\n", c.name.c_str(), static_cast<unsigned long long>(c.value));
  std::fflush(stdout);
}

// systemd's service protocol (Type=notify, WatchdogSec=): READY=1 once every worker loops,
// WATCHDOG=1 only while every worker keeps looping, STOPPING=1 on the way out. Without
// NOTIFY_SOCKET (labs, CI, a shell) sd_notify does nothing.
class ServiceNotifier {
 public:
  ServiceNotifier() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
      ping_every_ = std::chrono::microseconds(usec / 2);
  }
  // Called by the control loop every ~100 ms.
  void tick(const dp::Dataplane& d) {
    const std::vector<uint64_t> loops = d.worker_loops();
    bool moved = loops.size() == last_loops_.size();
    for (size_t i = 0; moved && i < loops.size(); ++i) moved = loops[i] != last_loops_[i];
    const auto now = std::chrono::steady_clock::now();
    if (!ready_) {
      bool all_ran = true;
      for (uint64_t n : loops) all_ran = all_ran && n != 0;
      if (all_ran) {
        sd_notify(0, "READY=1\nSTATUS=forwarding");
        ready_ = true;
        last_ping_ = now;
        last_loops_ = loops;
      }
      return;
    }
    if (ping_every_.count() == 0 || now - last_ping_ < ping_every_) return;
    // A stuck worker: no ping, so systemd kills and restarts the service after WatchdogSec.
    if (moved) sd_notify(0, "WATCHDOG=1");
    last_ping_ = now;
    last_loops_ = loops;
  }
  void stopping() { sd_notify(0, "STOPPING=1"); }

 private:
  bool ready_ = false;
  std::chrono::microseconds ping_every_{0};
  std::chrono::steady_clock::time_point last_ping_{};
  std::vector<uint64_t> last_loops_;
};

// Control thread: link state and its changes, until the data plane stops.
void control_loop(dp::Dataplane& d) {
  std::vector<bool> last(d.site().ifaces.size(), false);
  ServiceNotifier notifier;
  while (!d.stopping()) {
    notifier.tick(d);
    d.poll_links();
    for (size_t i = 0; i < d.site().ifaces.size(); ++i) {
      bool up = d.site().ifaces[i]->link_up.load();
      if (up != last[i]) {
        std::printf("trabouled: %s link %s\n", d.site().ifaces[i]->name.c_str(),
                    up ? "up" : "down");
        std::fflush(stdout);
        last[i] = up;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  notifier.stopping();
}

void log_msg(bool error, const std::string& msg) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::FILE* f = error ? stderr : stdout;
  std::fprintf(f, "trabouled: %s%s\n", error ? "ERROR: " : "", msg.c_str());
  std::fflush(f);
}

cp::SiteFacts site_facts(const cp::AgentConfig& cfg) {
  cp::SiteFacts f;
  for (auto& u : cfg.uplinks) f.uplink_names.push_back(u.name);
  f.role = cp::to_string(cfg.role);
  f.lan_prefixes = cfg.lan.prefixes;
  if (cfg.saas_dir) {
    // A bad list is left out (logged); the others still count.
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(*cfg.saas_dir, ec))
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    if (ec) log_msg(true, "saas: cannot read " + *cfg.saas_dir + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      try {
        const traboule::saas::VendorList v = traboule::saas::read_normalised(file.string());
        size_t n = 0;
        for (const traboule::saas::Endpoint& e : v.endpoints)
          for (const std::string& d : e.domains) {
            f.saas_domains.emplace_back(d, e.app);
            ++n;
          }
        log_msg(false, "saas: " + v.vendor + ": " + std::to_string(n) + " domain patterns (" +
                           v.source.retrieved + ", " + v.source.url + ")");
      } catch (const std::exception& e) {
        log_msg(true, std::string("saas: list left out: ") + e.what());
      }
    }
  }
  return f;
}

// The policy used on first boot: the config's policy file, or the built-in default.
std::optional<nlohmann::json> bootstrap_policy(const cp::AgentConfig& cfg) {
  if (!cfg.policy_file) return std::nullopt;
  std::ifstream in(*cfg.policy_file);
  if (!in) throw std::runtime_error("cannot read the policy file " + *cfg.policy_file);
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json doc;
  std::vector<cp::PolicyError> errors;
  if (!cp::parse_policy_text(ss.str(), doc, errors)) {
    std::string all;
    for (auto& e : errors) all += "\n  " + cp::to_string(e);
    throw std::runtime_error("policy file " + *cfg.policy_file + " is not valid JSON:" + all);
  }
  return doc;
}

cp::ApiSettings api_settings(const cp::AgentConfig& cfg) {
  cp::ApiSettings s;
  s.listen_address = cfg.api.listen;
  s.port = cfg.api.port;
  s.cert_file = cfg.api.cert;
  s.key_file = cfg.api.key;
  s.rate_per_s = cfg.api.rate_per_s;
  s.burst = cfg.api.burst;
  s.max_body_bytes = cfg.api.max_body_bytes;
  s.threads = cfg.api.threads;
  s.operator_threads = cfg.api.operator_threads;
  s.max_connections = cfg.api.max_connections;
  s.max_connections_per_client = cfg.api.max_connections_per_client;
  s.handshake_timeout_s = cfg.api.handshake_timeout_s;
  s.idle_timeout_s = cfg.api.idle_timeout_s;
  s.request_timeout_s = cfg.api.request_timeout_s;
  s.max_header_bytes = cfg.api.max_header_bytes;
  s.max_header_count = cfg.api.max_header_count;
  s.log_lines_per_s = cfg.api.log_lines_per_s;
  s.web_view = cfg.api.web_view;
  for (auto& t : cfg.api.tokens)
    s.tokens.push_back({t.name, *cp::parse_api_role(t.role), t.sha256});
  return s;
}

// A journal record of the daemon itself.
cp::JournalEvent daemon_record(const std::string& state, const std::string& text) {
  cp::JournalEvent e;
  e.source = "daemon";
  e.kind = "daemon";
  e.subject = "trabouled";
  e.state = state;
  e.severity = "notice";
  e.text = text;
  return e;
}

}  // namespace

// The daemon's start record. When the journal's last record is not a stop (the last run
// crashed or lost power), it says since when the box was down: the later of the alive stamp
// (written every 5 s) and that last record.
static cp::JournalEvent start_record(const cp::Journal& journal, const std::string& alive_file) {
  cp::JournalEvent e = daemon_record("start", "trabouled started");
  const auto last = journal.read(0, "", 1);
  if (last.empty() || (last.back().kind == "daemon" && last.back().state == "stop")) return e;
  int64_t alive = last.back().unix_ms;
  if (FILE* f = std::fopen(alive_file.c_str(), "r")) {
    long long ms = 0;
    if (std::fscanf(f, "%lld", &ms) == 1) alive = std::max<int64_t>(alive, ms);
    std::fclose(f);
  }
  e.extra = {{"last_alive_ms", alive}};
  e.severity = "warning";
  e.text = "trabouled started after an unclean end (last known alive " + std::to_string(alive) +
           " ms since the epoch)";
  return e;
}

namespace {

constexpr const char* kUsage =
    "trabouled - Traboule SD-WAN data plane (edge or hub)\n\n"
    "Usage: trabouled --config FILE [--role edge|hub] [--check] [--trace]\n\n"
    "The config file (JSON) names the LAN port and 1-4 uplinks (DPDK device strings, addresses,\n"
    "gateways), the EAL options, workers and flow table size, where policy versions are kept\n"
    "(state_dir), the first-boot policy file and the HTTPS API (listener, certificate, tokens).\n"
    "Behaviour (rules, classes, uplink roles) is in the policy: the last committed version in\n"
    "state_dir is restored at start. See config/examples/, docs/config.md, docs/policy.md and\n"
    "docs/api.md. Live counters also over DPDK telemetry: /traboule/counters, "
    "/traboule/uplinks,\n"
    "/traboule/flows, /traboule/trace,on|off.\n\nOptions";

void add_options(po::options_description& opts) {
  opts.add_options()("help,h", "print this help and exit")("config,c", po::value<std::string>(),
                                                           "JSON config file (required)")(
      "role,r", po::value<std::string>(), "edge or hub; overrides the config's \"role\"")(
      "check",
      "check the config file (and the first-boot policy file, if any, against it), print the EAL "
      "arguments it implies, and exit")(
      "trace",
      "start with the per-packet trace on (read it with the /traboule/trace telemetry command)");
}

// The config file with --role applied; an exit code when there is nothing more to do (--help,
// a bad command line or config).
std::optional<int> read_config(const po::variables_map& vm, cp::AgentConfig& cfg) {
  if (!vm.count("config")) {
    std::cerr << "trabouled: --config FILE is required (try --help)\n";
    return 2;
  }
  try {
    cfg = cp::load_config_file(vm["config"].as<std::string>());
  } catch (const cp::ConfigError& e) {
    std::cerr << "trabouled: bad config " << vm["config"].as<std::string>() << ": " << e.what()
              << "\n";
    return 2;
  }
  if (vm.count("role")) {
    std::string r = vm["role"].as<std::string>();
    if (r != "edge" && r != "hub") {
      std::cerr << "trabouled: --role must be edge or hub (got \"" << r << "\")\n";
      return 2;
    }
    cfg.role = r == "edge" ? cp::Role::kEdge : cp::Role::kHub;
  }
  return std::nullopt;
}

// --check: the config and the first-boot policy against it, and the EAL arguments.
int check_config(const cp::AgentConfig& cfg, const std::vector<std::string>& eal) {
  std::string policy_note = "built-in default policy";
  try {
    if (auto doc = bootstrap_policy(cfg)) {
      std::vector<cp::PolicyError> errors;
      auto compiled = cp::compile_policy(*doc, site_facts(cfg), 0, errors);
      if (!compiled) {
        std::cerr << "trabouled: bad policy " << *cfg.policy_file << ":\n";
        for (auto& e : errors) std::cerr << "  " << cp::to_string(e) << "\n";
        return 2;
      }
      policy_note = "policy " + *cfg.policy_file + " OK (" +
                    std::to_string(compiled->snapshot->rules.size()) + " rules)";
    }
  } catch (const std::exception& e) {
    std::cerr << "trabouled: " << e.what() << "\n";
    return 2;
  }
  std::cout << "config OK: role " << cp::to_string(cfg.role) << ", " << cfg.uplinks.size()
            << " uplink(s); first boot: " << policy_note << "\nEAL:";
  for (auto& a : eal) std::cout << " " << a;
  std::cout << "\n";
  return 0;
}

// The data plane's settings that come from the config alone.
dp::DataplaneSettings dataplane_settings(const cp::AgentConfig& cfg) {
  dp::DataplaneSettings settings;
  settings.workers = cfg.dataplane.workers;
  settings.polling =
      cfg.dataplane.poll == cp::PollMode::kBusy ? dp::Polling::kBusy : dp::Polling::kAdaptive;
  settings.mbufs = cfg.dataplane.mbufs;
  // The kernel side (docs/kernel.md): twins, the punt path and who may reach the box.
  settings.punt.enabled = cfg.kernel.twins;
  settings.punt.rates = cfg.kernel.rates;
  settings.twin_default_route = cfg.kernel.default_route;
  if (cfg.management.allow_set) {
    settings.punt.allow = cfg.management.allow;
  } else {  // the LAN's networks and the overlay's other side
    settings.punt.allow = cfg.lan.prefixes;
    settings.punt.allow_overlay = true;
  }
  if (cfg.kernel.twins) {
    settings.twins.push_back(cfg.lan.port.twin);
    for (const auto& u : cfg.uplinks) settings.twins.push_back(u.port.twin);
  }
  return settings;
}

// STAMP and the overlay, once the running policy is known.
void add_probe_and_overlay(const cp::AgentConfig& cfg, const cp::CompiledPolicy& initial,
                           dp::DataplaneSettings& settings) {
  // STAMP: the reflector on the policy's probe port; an edge also sends from local ports
  // 40000-40255 (sessions), a hub only reflects.
  settings.probe.reflector_port = initial.probes.port;
  settings.stamp_port_base = cfg.role == cp::Role::kEdge ? 40000 : 0;
  // The overlay: an edge needs its site id for it (without one it routes natively).
  const bool overlay =
      cfg.overlay.port != 0 && (cfg.role == cp::Role::kHub || cfg.overlay.site_id != 0);
  settings.overlay.port = overlay ? cfg.overlay.port : 0;
  settings.overlay.site_id = cfg.overlay.site_id;
  settings.overlay.hub = cfg.role == cp::Role::kHub;
  settings.overlay.mtu = cfg.overlay.mtu;
  if (cfg.role == cp::Role::kEdge && !overlay)
    log_msg(false,
            "overlay: off (no /overlay/site_id in the config): overlay rules leave natively");
}

// Restores the last committed policy (or the first-boot one) and says which runs.
void start_policies(cp::PolicyManager& policies, const cp::AgentConfig& cfg) {
  policies.set_log([](cp::PolicyManager::LogLevel level, const std::string& msg) {
    log_msg(level != cp::PolicyManager::LogLevel::kInfo, msg);
  });
  for (auto& w : policies.start(bootstrap_policy(cfg))) log_msg(true, w);
  auto v = policies.running_version();
  log_msg(false, "policy version " + std::to_string(v.version) + " (" + v.hash.substr(0, 12) +
                     ") by " + v.author + " active");
}

// What the API's state source reads from the link runner and the journal.
void connect_state(cp::DaemonState& state, const cp::AgentConfig& cfg, cp::LinksRunner& link_runner,
                   cp::Journal& journal, cp::SyslogSender& syslog) {
  state.set_link_details(
      [&link_runner](const std::string& u) { return link_runner.paths_json(u); });
  state.set_paths([&link_runner] { return link_runner.paths_view(); });
  state.set_firewall_log([&link_runner](size_t top) { return link_runner.firewall_log_view(top); });
  cp::AvailabilityOptions avail;
  avail.target_percent = cfg.operations.availability_target_percent;
  avail.business = cfg.operations.business;
  avail.timezone = cfg.operations.timezone.empty() ? "system" : cfg.operations.timezone;
  state.set_journal(&journal, avail, cfg.operations.syslog.empty() ? nullptr : &syslog);
}

// Flow export (docs/operations.md "IPFIX"): walks the tables once a second. Null: no collector.
std::unique_ptr<cp::IpfixExporter> start_ipfix(const cp::AgentConfig& cfg, dp::Dataplane& d,
                                               cp::DaemonState& state) {
  if (cfg.ipfix.collectors.empty()) return nullptr;
  auto ipfix = std::make_unique<cp::IpfixExporter>(
      cfg.ipfix, [&d] { return cp::sample_flows(d); },
      [&d](uint16_t app) { return cp::app_name(d, app); });
  state.set_ipfix(ipfix.get());
  log_msg(false, "IPFIX: flows to " + std::to_string(cfg.ipfix.collectors.size()) +
                     " collector(s), active timeout " + std::to_string(cfg.ipfix.active_timeout_s) +
                     " s");
  return ipfix;
}

// The HTTPS API, when the config has one.
std::unique_ptr<cp::ApiServer> start_api(const cp::AgentConfig& cfg, cp::PolicyManager& policies,
                                         cp::DaemonState& state) {
  if (!cfg.api.enabled) return nullptr;
  auto api = std::make_unique<cp::ApiServer>(api_settings(cfg), policies, state);
  // Failed logins, refusals and cut-off clients: rate-limited lines in the daemon's log.
  api->set_security_log([](const std::string& line) { log_msg(true, line); });
  api->start();
  log_msg(false,
          "API on https://" + cfg.api.listen + ":" + std::to_string(api->port()) + "/api/v1");
  return api;
}

// After EAL: the policy, the data plane, the link runner, the journal and the API, until a
// signal stops the data plane.
void run_daemon(const cp::AgentConfig& cfg, bool trace) {
  auto site = cp::build_site(cfg);
  dp::DataplaneSettings settings = dataplane_settings(cfg);

  // The policy first: the data plane starts with the last committed version.
  std::atomic<dp::Dataplane*> live{nullptr};
  std::atomic<cp::LinksRunner*> links{nullptr};
  std::shared_ptr<const cp::CompiledPolicy> initial;
  cp::PolicyStore store(cfg.state_dir);
  cp::PolicyManager policies(store, site_facts(cfg),
                             [&](std::shared_ptr<const cp::CompiledPolicy> p) {
                               dp::Dataplane* dpl = live.load();
                               if (dpl == nullptr) {  // start(): what the data plane starts with
                                 initial = p;
                                 return;
                               }
                               dpl->publish_policy(p->snapshot);
                               if (cp::LinksRunner* l = links.load()) l->set_policy(p);
                             });
  start_policies(policies, cfg);
  add_probe_and_overlay(cfg, *initial, settings);
  dp::Dataplane d(*site, cp::port_setups(cfg), settings, initial->snapshot);
  live.store(&d);
  // The event journal (docs/operations.md): a start record, saying since when the box was
  // down when the last run did not end with a stop record (a crash, a power cut).
  cp::Journal journal(cfg.state_dir + "/journal");
  // Every record also to the syslog collectors (RFC 5424; never blocks the caller).
  cp::SyslogSender syslog(cfg.operations.syslog, cfg.operations.syslog_facility);
  if (!cfg.operations.syslog.empty())
    journal.set_sink([&syslog](const cp::JournalEvent& e) { syslog.send(e); });
  const std::string alive_file = journal.dir() + "/alive";
  journal.append(start_record(journal, alive_file));
  cp::LinksRunner link_runner(d, cp::to_string(cfg.role),
                              [](bool error, const std::string& m) { log_msg(error, m); });
  link_runner.set_policy(initial);
  link_runner.set_usage_file(cfg.state_dir + "/usage.json");
  link_runner.set_journal(&journal, cfg.operations.incidents, alive_file);
  link_runner.start();
  links.store(&link_runner);
  g_dp.store(&d);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);  // a peer gone mid-write is an EPIPE, never a dead daemon
  if (g_signalled) d.stop();
  if (trace) d.set_trace(true);
  cp::register_telemetry(d);
  std::printf("trabouled: %s forwarding with %u worker(s), lan + %zu uplink(s)\n",
              cp::to_string(cfg.role), d.workers(), cfg.uplinks.size());
  std::fflush(stdout);
  // Nothing may keep a pointer to `d` past its scope, however the scope is left.
  struct Unpublish {
    ~Unpublish() {
      cp::unregister_telemetry();
      g_dp.store(nullptr);
    }
  } unpublish;
  cp::DaemonState state(cfg, d, policies);
  connect_state(state, cfg, link_runner, journal, syslog);
  // The links' last hour and day for the web view's plots (docs/webview.md).
  cp::HistoryStore history;
  cp::HistoryRecorder history_recorder(
      history, [&d, &link_runner] { return cp::sample_history(d, link_runner); },
      cfg.state_dir + "/history.json");
  state.set_history(&history);
  std::unique_ptr<cp::IpfixExporter> ipfix = start_ipfix(cfg, d, state);
  std::unique_ptr<cp::ApiServer> api = start_api(cfg, policies, state);
  std::thread control([&d] { control_loop(d); });
  d.run();
  control.join();
  if (api) api->stop();
  state.set_ipfix(nullptr);
  ipfix.reset();  // the flows' last records (forced end) while the tables still exist
  links.store(nullptr);
  link_runner.stop();
  journal.append(daemon_record("stop", "trabouled stopped"));
  live.store(nullptr);
  print_summary(d);
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(kUsage);
  add_options(opts);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "trabouled: " << e.what() << "\n(try --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  cp::AgentConfig cfg;
  if (std::optional<int> rc = read_config(vm, cfg)) return *rc;
  auto eal = cp::eal_arguments(cfg, cp::allowed_cpus());
  if (vm.count("check")) return check_config(cfg, eal);

  // The journal's months, days and business hours are in this zone: set before any thread
  // (the EAL's included) exists, as setenv requires.
  if (!cfg.operations.timezone.empty()) {
    ::setenv("TZ", cfg.operations.timezone.c_str(), 1);
    ::tzset();
  }
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::cerr << "trabouled: EAL initialisation failed: " << rte_strerror(rte_errno) << "\n";
    return 1;
  }
  int rc = 0;
  try {
    run_daemon(cfg, vm.count("trace") > 0);
  } catch (const std::exception& e) {
    std::cerr << "trabouled: " << e.what() << "\n";
    rc = 1;
  }
  rte_eal_cleanup();
  std::printf("trabouled: stopped\n");
  return rc;
}

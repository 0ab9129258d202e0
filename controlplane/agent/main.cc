// trabouled: the Traboule daemon (edge or hub). Loads the config, starts EAL and the data
// plane, serves live counters over DPDK telemetry, and stops cleanly on SIGINT/SIGTERM.
#include <rte_eal.h>
#include <rte_errno.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "controlplane/agent/bootstrap.h"
#include "controlplane/agent/config.h"
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

// Control thread: link state and its changes, until the data plane stops.
void control_loop(dp::Dataplane& d) {
  std::vector<bool> last(d.site().ifaces.size(), false);
  while (!d.stopping()) {
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
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts(
      "trabouled - Traboule SD-WAN data plane (edge or hub)\n\n"
      "Usage: trabouled --config FILE [--role edge|hub] [--check] [--trace]\n\n"
      "The config file (JSON) names the LAN port and 1-4 uplinks (DPDK device strings, addresses,\n"
      "gateways, bandwidth, cost), the EAL options, workers and flow table size, and the rules.\n"
      "See config/examples/ and docs/config.md. Live counters: DPDK telemetry, commands\n"
      "/traboule/counters, /traboule/uplinks, /traboule/flows, /traboule/trace,on|off.\n\nOptions");
  opts.add_options()("help,h", "print this help and exit")("config,c", po::value<std::string>(),
                                                           "JSON config file (required)")(
      "role,r", po::value<std::string>(), "edge or hub; overrides the config's \"role\"")(
      "check", "check the config file, print the EAL arguments it implies, and exit")(
      "trace",
      "start with the per-packet trace on (read it with the /traboule/trace telemetry command)");
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
  if (!vm.count("config")) {
    std::cerr << "trabouled: --config FILE is required (try --help)\n";
    return 2;
  }
  cp::AgentConfig cfg;
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
  auto eal = cp::eal_arguments(cfg, cp::allowed_cpus());
  if (vm.count("check")) {
    std::cout << "config OK: role " << cp::to_string(cfg.role) << ", " << cfg.uplinks.size()
              << " uplink(s), " << cfg.rules.rules.size() << " rule(s)\nEAL:";
    for (auto& a : eal) std::cout << " " << a;
    std::cout << "\n";
    return 0;
  }

  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::cerr << "trabouled: EAL initialisation failed: " << rte_strerror(rte_errno) << "\n";
    return 1;
  }
  int rc = 0;
  try {
    auto site = cp::build_site(cfg);
    dp::DataplaneSettings settings;
    settings.workers = cfg.dataplane.workers;
    settings.polling =
        cfg.dataplane.poll == cp::PollMode::kBusy ? dp::Polling::kBusy : dp::Polling::kAdaptive;
    settings.mbufs = cfg.dataplane.mbufs;
    dp::Dataplane d(*site, cp::port_setups(cfg), settings);
    g_dp.store(&d);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    if (g_signalled) d.stop();
    if (vm.count("trace")) d.set_trace(true);
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
    std::thread control([&d] { control_loop(d); });
    d.run();
    control.join();
    print_summary(d);
  } catch (const std::exception& e) {
    std::cerr << "trabouled: " << e.what() << "\n";
    rc = 1;
  }
  rte_eal_cleanup();
  std::printf("trabouled: stopped\n");
  return rc;
}

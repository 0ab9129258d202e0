// SPDX-License-Identifier: Apache-2.0
// A real ApiServer + PolicyManager + PolicyStore on 127.0.0.1 for traboulectl's end-to-end
// test: the data-plane activation only records the version, and the read-only state is JSON
// made up here. Prints the bound port (and writes it to --port-file), serves until SIGTERM.
#include <boost/program_options.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "controlplane/api/api_server.h"
#include "controlplane/policy/policy.h"
#include "controlplane/store/policy_manager.h"
#include "controlplane/store/policy_store.h"

namespace po = boost::program_options;
using nlohmann::json;

namespace {

// The state a small edge would report, with the unit-suffixed names the daemon uses.
class TestState final : public traboule::cp::StateSource {
 public:
  TestState(std::string name, std::vector<std::string> uplinks,
            const std::atomic<uint64_t>& activated)
      : name_(std::move(name)), uplinks_(std::move(uplinks)), activated_(activated) {}

  json status() override {
    json ups = json::array();
    for (const auto& u : uplinks_) ups.push_back({{"name", u}, {"link_up", true}});
    return {{"role", "edge"},
            {"name", name_},
            {"activated_version", activated_.load()},
            {"uplinks", ups},
            {"flows", {{"active", 3}, {"capacity", 65536}, {"memory_bytes", 12582912}}}};
  }
  json uplinks() override {
    json out = json::array();
    uint64_t i = 0;
    for (const auto& u : uplinks_) {
      // The daemon's shape (DaemonState::uplinks with LinksRunner paths).
      json path = {{"remote", "100.64.100.2:862"},
                   {"state", i == 0 ? "up" : "down"},
                   {"rtt_us", {{"avg", 12345 * (i + 1)}, {"p99", 20000 * (i + 1)}}},
                   {"jitter_us", {{"rtt", 800}}},
                   {"window", {{"loss_ratio", 0.005 * static_cast<double>(i)}}},
                   {"totals", {{"sent", 100}, {"received", 100 - i}}},
                   {"last_change", {{"reason", "5 consecutive probes answered"}, {"ago_s", 3}}}};
      out.push_back({{"name", u},
                     {"kind", "fiber"},
                     {"role", "primary"},
                     {"link_up", i == 0},
                     {"up_bps", 100000000 / (i + 1)},
                     {"tx_bytes", 1500000 * (i + 1)},
                     {"paths", json::array({path})}});
      ++i;
    }
    return out;
  }
  json rules() override {
    return {{"policy_version", activated_.load()},
            {"rules", json::array({{{"index", 0},
                                    {"name", "default"},
                                    {"hits", {{"flows", 3}, {"packets", 42}, {"bytes", 60000}}},
                                    {"uplinks", uplinks_}}})}};
  }
  json qos() override {
    return json::array({{{"name", "voice"}, {"priority", 0}, {"max_rate_bps", 2000000}}});
  }
  json routes() override {
    return json::array({{{"prefix", "0.0.0.0/0"}, {"via", uplinks_.front()}, {"usable", true}}});
  }
  json flows(size_t top) override {
    json out = json::array();
    for (size_t i = 0; i < 3 && i < top; ++i) {
      out.push_back({{"proto", "udp"},
                     {"src", "192.168.10." + std::to_string(10 + i)},
                     {"src_port", 40000 + i},
                     {"dst", "198.51.100.7"},
                     {"dst_port", 3478},
                     {"uplink", uplinks_.front()},
                     {"bytes_out", 3000000 / (i + 1)},
                     {"age_s", 75 * (i + 1)}});
    }
    return out;
  }
  json apps() override {
    return json::array({{{"id", 1}, {"name", "teams"}, {"category", "collaboration"}}});
  }
  json counters(std::string_view prefix) override {
    static const std::vector<std::pair<std::string, uint64_t>> kCounters = {
        {"parse.ok", 1000}, {"parse.truncated", 2}, {"route.rule.default.flows", 3}};
    json out = json::object();
    for (const auto& [k, v] : kCounters) {
      if (k.rfind(prefix, 0) == 0) out[k] = v;
    }
    return out;
  }
  json drops() override { return {{"total", 2}, {"counters", {{"parse.truncated", 2}}}}; }

 private:
  std::string name_;
  std::vector<std::string> uplinks_;
  const std::atomic<uint64_t>& activated_;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string state_dir, cert, key, operator_token, viewer_token, uplinks, port_file, name;
  po::options_description desc("ctl_test_server: the daemon's API on 127.0.0.1 for tests");
  desc.add_options()("help", "this text")                                                 //
      ("state-dir", po::value(&state_dir)->required(), "where policy versions are kept")  //
      ("cert", po::value(&cert)->required(), "PEM certificate")                           //
      ("key", po::value(&key)->required(), "PEM private key")                             //
      ("operator-token", po::value(&operator_token)->required(), "token of role operator")(
          "viewer-token", po::value(&viewer_token)->required(), "token of role viewer")(
          "uplinks", po::value(&uplinks)->default_value("fiber,vdsl"), "the box's uplink names")(
          "name", po::value(&name)->default_value("box"), "shown in /status")(
          "port-file", po::value(&port_file), "write the bound port here once listening");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc;
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ctl_test_server: " << e.what() << "\n" << desc;
    return 2;
  }

  // Signals are waited for by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    traboule::cp::SiteFacts site;
    site.uplink_names = split(uplinks);
    std::atomic<uint64_t> activated{0};
    traboule::cp::PolicyStore store(state_dir);
    traboule::cp::PolicyManager manager(
        store, site, [&](std::shared_ptr<const traboule::cp::CompiledPolicy> policy) {
          activated = policy && policy->snapshot ? policy->snapshot->version : 0;
        });
    for (const auto& w : manager.start()) std::cerr << "ctl_test_server: " << w << "\n";
    TestState state(name, site.uplink_names, activated);

    traboule::cp::ApiSettings settings;
    settings.listen_address = "127.0.0.1";
    settings.port = 0;
    settings.cert_file = cert;
    settings.key_file = key;
    settings.tokens = {
        {"alice", traboule::cp::ApiRole::kOperator, traboule::cp::sha256_hex(operator_token)},
        {"victor", traboule::cp::ApiRole::kViewer, traboule::cp::sha256_hex(viewer_token)}};
    settings.rate_per_s = 1000;
    settings.burst = 1000;
    settings.threads = 2;
    traboule::cp::ApiServer server(settings, manager, state);
    server.start();
    if (!port_file.empty()) {
      const std::string tmp = port_file + ".tmp";
      std::ofstream(tmp) << server.port() << "\n";
      std::filesystem::rename(tmp, port_file);
    }
    std::cout << "listening on 127.0.0.1:" << server.port() << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "ctl_test_server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

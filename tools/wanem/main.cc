// SPDX-License-Identifier: Apache-2.0
// traboule-wanem: WAN link impairment emulator for the lab (kernels without netem). `run`
// bridges two interfaces through the impairment core; `ctl` changes a running instance through
// its control socket; `profiles` lists the named link profiles. Usage: docs/wanem.md.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tools/wanem/bridge.h"
#include "tools/wanem/command.h"
#include "tools/wanem/control.h"
#include "tools/wanem/profiles.h"
#include "tools/wanem/service.h"
#include "tools/wanem/status.h"

namespace po = boost::program_options;
using namespace traboule::wanem;

namespace {

constexpr int kExitRefused = 1;  // wanem refused the command (bad parameter)
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

const char* kUsage =
    "usage:\n"
    "  traboule-wanem run --name LINK --a IF_A --b IF_B --ctl SOCKET [--profile NAME]\n"
    "                     [--seed N] [--ring-mb N] [--max-held-mb N] [--max-spin-us N]\n"
    "                     [--rt-priority N] [--vlan-a ID] [WORD ...]\n"
    "  traboule-wanem ctl --ctl SOCKET [--json] [--timeout-ms N] WORD ...\n"
    "  traboule-wanem profiles\n"
    "WORDs (read left to right; dir= picks the direction(s) for the words after it):\n"
    "  dir=a2b|b2a|both  profile=fiber|vdsl|adsl|4g|5g|satellite  delay=20ms  jitter=3ms\n"
    "  jitter_dist=uniform|normal  reorder=on|off  loss=2%  ge=p,r[,1-h[,1-k]]  rate=2mbit\n"
    "  queue=64kb|100pkt  dup=0.1%  down  up  clear    and, alone: show [--json] | zero\n"
    "a is the site side: a2b is upload, b2a download.\n";

std::mutex g_log_mutex;
std::string g_log_name = "wanem";

void log_line(const std::string& msg) {
  std::lock_guard lock(g_log_mutex);
  std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&t));
  std::fprintf(stderr, "[%s] %s: %s\n", stamp, g_log_name.c_str(), msg.c_str());
  std::fflush(stderr);
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Parses a subcommand's options, its other words under "words"; an exit code when the command
// ends here (--help: 0, a usage error: kExitUsage), nullopt to go on.
std::optional<int> parse_words(const std::vector<std::string>& args,
                               const po::options_description& opts, const char* sub,
                               po::variables_map& vm) {
  po::positional_options_description pos;
  pos.add("words", -1);
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << kUsage << opts;
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "traboule-wanem " << sub << ": " << e.what() << "\n" << kUsage;
    return kExitUsage;
  }
  return std::nullopt;
}

int cmd_run(const std::vector<std::string>& args) {
  std::string name, if_a, if_b, ctl, profile;
  uint64_t seed = 1;
  size_t ring_mb = 8, max_held_mb = 64;
  int64_t max_spin_us = 45;
  int rt_priority = 10;
  unsigned vlan_a = 0;
  std::vector<std::string> words;
  po::options_description opts("run options");
  opts.add_options()("help,h", "this help")("name", po::value(&name)->required(),
                                            "link name (logs, show)")(
      "a", po::value(&if_a)->required(), "site-side interface")("b", po::value(&if_b)->required(),
                                                                "network-side interface")(
      "ctl", po::value(&ctl)->required(), "control socket path, unique per instance")(
      "profile", po::value(&profile), "named profile applied before the WORDs")(
      "seed", po::value(&seed), "seed of the random decisions (default 1)")(
      "ring-mb", po::value(&ring_mb), "RX ring memory per interface, MiB (default 8)")(
      "max-held-mb", po::value(&max_held_mb),
      "frames held per direction at most, MiB of slots (default 64)")(
      "max-spin-us", po::value(&max_spin_us),
      "longest busy wait before a departure, us (default 45, 0..49)")(
      "rt-priority", po::value(&rt_priority),
      "SCHED_FIFO priority of the I/O threads, 0: normal scheduling (default 10)")(
      "vlan-a", po::value(&vlan_a),
      "the site side is this 802.1Q VLAN (1-4094): its tag comes off towards the network side "
      "and goes on towards the site; untagged frames from the site are dropped (default: "
      "untagged)")("words", po::value(&words), "parameter words");
  po::variables_map vm;
  if (const auto done = parse_words(args, opts, "run", vm)) return *done;
  auto usage_error = [](const std::string& msg) {
    std::cerr << "traboule-wanem run: " << msg << "\n";
    return kExitUsage;
  };
  if (!valid_name(name)) {
    return usage_error("bad value for --name: " + quote(name) + ": 1 to 64 of [A-Za-z0-9._-]");
  }
  if (ring_mb < 1 || ring_mb > 1024) {
    return usage_error("bad value for --ring-mb: " + std::to_string(ring_mb) + ": 1 to 1024");
  }
  if (max_held_mb < 1 || max_held_mb > 16384) {
    return usage_error("bad value for --max-held-mb: " + std::to_string(max_held_mb) +
                       ": 1 to 16384");
  }
  if (max_spin_us < 0 || max_spin_us >= 50) {
    return usage_error("bad value for --max-spin-us: " + std::to_string(max_spin_us) + ": 0 to 49");
  }
  if (rt_priority < 0 || rt_priority > 99) {
    return usage_error("bad value for --rt-priority: " + std::to_string(rt_priority) +
                       ": 0 (normal scheduling) to 99");
  }
  if (vm.count("vlan-a") && (vlan_a < 1 || vlan_a > 4094)) {
    return usage_error("bad value for --vlan-a: " + std::to_string(vlan_a) + ": 1 to 4094");
  }
  if (!profile.empty()) words.insert(words.begin(), "profile=" + profile);
  Command initial;
  if (!words.empty()) {
    if (auto err = parse_command(words, LinkParams{}, &initial)) return usage_error(*err);
    if (initial.kind != CommandKind::kUpdate) {
      return usage_error("show and zero are ctl commands, not run parameters");
    }
  }
  g_log_name = "wanem " + name;

  // Signals are read from a signalfd by the control loop; every thread inherits the mask.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sig_fd < 0) {
    std::perror("traboule-wanem: signalfd");
    return 1;
  }

  try {
    ControlServer server(ctl);
    BridgeOptions options;
    options.if_a = if_a;
    options.if_b = if_b;
    options.seed = seed;
    options.ring_bytes = ring_mb << 20;
    options.max_held_bytes = max_held_mb << 20;
    options.max_spin_ns = max_spin_us * 1000;
    options.log = log_line;
    options.rt_priority = rt_priority;
    options.vlan_a = static_cast<uint16_t>(vlan_a);
    Bridge bridge(options, initial.params);
    bridge.start();
    auto started = std::chrono::steady_clock::now();
    LinkInfo info{name, if_a, if_b, seed, 0};
    log_line("bridging a=" + if_a + " b=" + if_b + ", control socket " + ctl + ", seed " +
             std::to_string(seed));
    for (int d = 0; d < kDirCount; ++d) {
      const DirectionParams& p = initial.params.dir[d];
      log_line(std::string(to_string(static_cast<Dir>(d))) + ": " + (p.up ? "up " : "DOWN ") +
               format_params(p));
    }
    server.serve(sig_fd, [&](const std::string& request) {
      info.uptime_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      return handle_request(request, &bridge, info, log_line);
    });
    bridge.stop();
    info.uptime_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log_line("stopping; final counters:\n" +
             format_status(
                 status_to_json(info, bridge.snapshot(Dir::kA2B), bridge.snapshot(Dir::kB2A))));
  } catch (const std::exception& e) {
    std::cerr << "traboule-wanem run: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

int cmd_ctl(const std::vector<std::string>& args) {
  std::string ctl;
  bool json = false;
  int timeout_ms = 3000;
  std::vector<std::string> words;
  po::options_description opts("ctl options");
  opts.add_options()("help,h", "this help")("ctl", po::value(&ctl)->required(),
                                            "control socket of the instance")(
      "json", po::bool_switch(&json), "print the reply as JSON")(
      "timeout-ms", po::value(&timeout_ms), "reply timeout (default 3000)")(
      "words", po::value(&words), "command words");
  po::variables_map vm;
  if (const auto done = parse_words(args, opts, "ctl", vm)) return *done;
  if (timeout_ms < 1 || timeout_ms > 600'000) {
    std::cerr << "traboule-wanem ctl: bad value for --timeout-ms: " << timeout_ms
              << ": 1 to 600000\n";
    return kExitUsage;
  }
  if (words.empty()) {
    std::cerr << "traboule-wanem ctl: no command words\n" << kUsage;
    return kExitUsage;
  }
  std::string error;
  auto reply_line = control_request(ctl, make_request(words), timeout_ms, &error);
  if (!reply_line) {
    std::cerr << "traboule-wanem ctl: " << error << "\n";
    return kExitUnreachable;
  }
  nlohmann::json reply = nlohmann::json::parse(*reply_line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    std::cerr << "traboule-wanem ctl: unreadable reply from " << ctl << "\n";
    return kExitUnreachable;
  }
  if (!reply.value("ok", false)) {
    std::cerr << "traboule-wanem ctl: " << reply.value("error", std::string("refused")) << "\n";
    return kExitRefused;
  }
  if (reply.contains("status")) {
    std::cout << (json ? reply["status"].dump(2) + "\n" : format_status(reply["status"]));
  } else if (json) {
    std::cout << reply.dump(2) << "\n";
  } else if (reply.contains("params")) {
    for (const char* d : {"a2b", "b2a"}) {
      const nlohmann::json& p = reply["params"][d];
      std::cout << d << ": " << p.value("state", "?") << " " << p.value("text", "") << "\n";
    }
  } else {
    std::cout << "ok\n";
  }
  return 0;
}

int cmd_profiles() {
  for (const Profile& p : profiles()) {
    std::cout << p.name << ": " << p.summary << "\n  upload   (a2b) " << p.upload
              << "\n  download (b2a) " << p.download << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  std::string sub = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (sub == "run") return cmd_run(args);
  if (sub == "ctl") return cmd_ctl(args);
  if (sub == "profiles") return cmd_profiles();
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "traboule-wanem: unknown command " << quote(sub) << "\n" << kUsage;
  return kExitUsage;
}

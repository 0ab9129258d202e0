// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/args.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <set>
#include <sstream>

#include "tools/traboulectl/table.h"

namespace po = boost::program_options;

namespace traboule::ctl {
namespace {

struct CommandSpec {
  std::vector<std::string> words;
  std::string usage;    // after "traboulectl "
  std::string summary;  // one line for the command lists
  std::string details;  // extra help text
};

const std::vector<CommandSpec>& command_specs() {
  static const std::vector<CommandSpec> kSpecs = {
      {{"status"}, "status", "daemon status: role, uptime, running policy version", ""},
      {{"links"}, "links", "uplinks with their state and live measurements (GET /uplinks)", ""},
      {{"paths"},
       "paths",
       "per rule the uplink new flows get and why, and path events (GET /paths)",
       ""},
      {{"usage"},
       "usage",
       "data used this month per uplink, both directions, probes apart (GET /paths)",
       "What the line's operator counts: IP bytes received and sent on the uplink's port, the\n"
       "box's own probes included (shown apart as PROBE_BYTES), against the policy's\n"
       "monthly_cap_mb. Metered uplinks are probed at probes.metered_interval_ms."},
      {{"flows"}, "flows [--top N]", "the busiest flows (GET /flows)", ""},
      {{"apps"},
       "apps [--top N]",
       "the applications with the most traffic, per direction and uplink (GET /apps/top)",
       ""},
      {{"apps", "catalog"}, "apps catalog", "the applications the policy knows (GET /apps)", ""},
      {{"counters"}, "counters [PREFIX]", "data-plane counters, optionally under PREFIX", ""},
      {{"rules"}, "rules", "the compiled rules with their hit counts (GET /rules)", ""},
      {{"qos"}, "qos", "QoS classes per uplink (GET /qos)", ""},
      {{"firewall"},
       "firewall [--top N]",
       "firewall rules with hits, denials per zone pair, top denied sources (GET /firewall)",
       "Inbound rules in order with their hits, then what the firewall decided for packets\n"
       "that would open a flow (verdicts), the denials per zone pair, the N sources denied\n"
       "most and the last decisions logged. docs/firewall.md explains each."},
      {{"routes"}, "routes", "the forwarding table (GET /routes)", ""},
      {{"events"},
       "events [--since WHEN] [--class P0|P1|P2] [--limit N]",
       "the event journal: state changes with their incident class (GET /events)",
       "Every state change the box journaled (kept across restarts, docs/operations.md), oldest\n"
       "first: uplinks and paths down and up, the site without any path (P0), SLA classes\n"
       "violated or unmet, caps reached, policies applied, daemon starts and stops. WHEN is a\n"
       "duration back from now (90s, 30m, 2h, 7d), a date (2026-12-01, local midnight) or\n"
       "seconds since the epoch."},
      {{"report", "availability"},
       "report availability --month YYYY-MM [--csv]",
       "the month's availability per site, uplink and path against the target",
       "Seconds available and unavailable, outages and the longest one, within business hours\n"
       "too, computed by the box from its journal (docs/operations.md); --csv for a\n"
       "spreadsheet, --json for the document."},
      {{"drops"}, "drops", "packets dropped, by stage and reason (GET /drops)", ""},
      {{"runtime"},
       "runtime [--interval S]",
       "per data-plane stage: calls, packets, packets per call, cycles per packet (GET /runtime)",
       "Like VPP's `show runtime`: every stage's calls and packets are counted, its cycles\n"
       "timed on one burst in 16 (docs/dataplane.md \"Runtime\"). Without --interval the figures\n"
       "since the daemon started; with it, two readings S seconds apart and what happened in\n"
       "between (packets per second too)."},
      {{"policy", "validate"},
       "policy validate FILE [--uplinks a,b,c | --config trabouled.json] [--role edge|hub]\n"
       "       traboulectl policy validate --remote FILE",
       "check a policy offline (same code as the daemon) or on the server",
       "Offline (the default) needs no server: the policy is checked against the uplink names\n"
       "given with --uplinks, or those of a trabouled config file (--config), or, with neither,\n"
       "the uplinks the policy itself declares. --remote asks the server instead (POST\n"
       "/policy/validate), which checks against the box's real uplinks and shows what would\n"
       "change. Problems are printed one per line: POINTER: VALUE: MESSAGE."},
      {{"policy", "apply"},
       "policy apply FILE [--comment C] [--confirm-timeout S]",
       "make a policy the running one (operator role)",
       "With --confirm-timeout the change is commit-confirmed: the box rolls back by itself\n"
       "unless `traboulectl policy confirm` is run within S seconds."},
      {{"policy", "confirm"}, "policy confirm", "keep the pending (commit-confirmed) policy", ""},
      {{"policy", "rollback"},
       "policy rollback N [--comment C]",
       "make stored version N the running policy again",
       ""},
      {{"policy", "history"}, "policy history", "the stored policy versions", ""},
      {{"policy", "diff"}, "policy diff A B", "what changed from version A to version B", ""},
      {{"policy", "show"}, "policy show [N]", "the running policy, or stored version N", ""},
      {{"fleet", "apply"},
       "fleet apply --devices FILE POLICY [--confirm-timeout S] [--canary NAME] [--settle S]\n"
       "       [--comment C]",
       "push a policy to many boxes, canary first, stopping at the first failure",
       "The policy is validated offline first (against each device's `uplinks` when the devices\n"
       "file lists them). Then, device by device starting with the canary (the first device, or\n"
       "--canary): apply commit-confirmed, wait --settle seconds, check GET /status answers and\n"
       "runs the new version, confirm. At the first failure the push stops; the failed device\n"
       "is not confirmed, so it rolls back by itself when the confirm timeout expires. The\n"
       "devices file is a JSON array of {name, server, token | token_file, ca?, insecure?,\n"
       "uplinks?, role?} (see docs/traboulectl.md). Each device has its own server and\n"
       "token: --server and --token are not used; --timeout applies to every device."},
  };
  return kSpecs;
}

po::options_description global_options() {
  po::options_description desc("Global options (anywhere on the line)");
  desc.add_options()                                                      //
      ("help,h", "show help for the command given (or for traboulectl)")  //
      ("server", po::value<std::string>()->value_name("URL"),
       "https://HOST:PORT of the daemon's API (env TRABOULE_SERVER; default "
       "https://127.0.0.1:8443)")                                                             //
      ("token", po::value<std::string>()->value_name("T"), "API token (env TRABOULE_TOKEN)")  //
      ("token-file", po::value<std::string>()->value_name("FILE"),
       "read the API token from this file")  //
      ("ca", po::value<std::string>()->value_name("FILE"),
       "PEM file of the CA that signed the server's certificate (env TRABOULE_CA)")(
          "insecure", po::bool_switch(), "do not verify the server's certificate (labs only)")(
          "timeout", po::value<std::string>()->value_name("S"),
          "seconds to wait for the server (default 10)")("json", po::bool_switch(),
                                                         "print JSON instead of tables");
  return desc;
}

const char* kExitCodes =
    "Exit codes: 0 ok; 1 operation failed or refused; 2 usage error; 3 cannot reach or\n"
    "authenticate to the server.\n";

// The options of one command (besides the global ones).
po::options_description command_options(const std::vector<std::string>& words) {
  po::options_description desc("Options");
  const std::string name = words.size() == 1 ? words[0] : words[0] + " " + words[1];
  if (name == "flows" || name == "apps" || name == "firewall") {
    desc.add_options()("top", po::value<std::string>()->value_name("N"),
                       "show the N busiest flows (flows), applications (apps) or most denied "
                       "sources (firewall)");
  } else if (name == "events") {
    desc.add_options()  //
        ("since", po::value<std::string>()->value_name("WHEN"),
         "from then on (90s, 30m, 2h, 7d ago; 2026-12-01; or epoch seconds)")                 //
        ("class", po::value<std::string>()->value_name("P"), "only incidents of this class")  //
        ("limit", po::value<std::string>()->value_name("N"), "the newest N (default 1000)");
  } else if (name == "runtime") {
    desc.add_options()("interval", po::value<std::string>()->value_name("S"),
                       "two readings S seconds apart (1 to 60): the figures in between");
  } else if (name == "report availability") {
    desc.add_options()                                                                    //
        ("month", po::value<std::string>()->value_name("YYYY-MM"), "the calendar month")  //
        ("csv", po::bool_switch(), "CSV (one row per site, uplink and path)");
  } else if (name == "policy validate") {
    desc.add_options()  //
        ("uplinks", po::value<std::string>()->value_name("a,b,c"),
         "uplink names of the box, comma separated")  //
        ("config", po::value<std::string>()->value_name("FILE"),
         "take the uplink names from this trabouled config")(
            "role", po::value<std::string>()->value_name("ROLE"),
            "edge or hub (default: the config's, else the policy's)")(
            "remote", po::bool_switch(), "validate on the server instead of offline");
  } else if (name == "policy apply") {
    desc.add_options()                                                                       //
        ("comment", po::value<std::string>()->value_name("C"), "why (kept in the history)")  //
        ("confirm-timeout", po::value<std::string>()->value_name("S"),
         "seconds before an unconfirmed apply rolls back (1-86400)");
  } else if (name == "policy rollback") {
    desc.add_options()("comment", po::value<std::string>()->value_name("C"),
                       "why (kept in the history)");
  } else if (name == "fleet apply") {
    desc.add_options()                                                                            //
        ("devices", po::value<std::string>()->value_name("FILE"), "JSON file listing the boxes")  //
        ("confirm-timeout", po::value<std::string>()->value_name("S"),
         "seconds each box waits for confirmation (1-86400, default 120)")  //
        ("canary", po::value<std::string>()->value_name("NAME"),
         "device pushed first (default: the first)")("comment",
                                                     po::value<std::string>()->value_name("C"),
                                                     "why (kept in every box's history)")(
            "settle", po::value<std::string>()->value_name("S"),
            "seconds to wait after each apply before checking the box (default 3)");
  }
  return desc;
}

std::string render_options(const po::options_description& desc) {
  std::ostringstream s;
  s << desc;
  return s.str();
}

std::string command_help(const CommandSpec& spec) {
  std::string summary = spec.summary;
  summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
  std::string text = "Usage: traboulectl " + spec.usage + "\n\n" + summary + ".\n";
  if (!spec.details.empty()) text += "\n" + spec.details + "\n";
  const auto desc = command_options(spec.words);
  if (!desc.options().empty()) text += "\n" + render_options(desc);
  text += "\n" + render_options(global_options()) + "\n" + kExitCodes;
  return text;
}

std::string group_help(const std::string& group) {
  std::string text = "Usage: traboulectl " + group + " COMMAND ...\n\nCommands:\n";
  for (const auto& spec : command_specs()) {
    if (spec.words.size() == 2 && spec.words[0] == group) {
      text += "  " + spec.words[1];
      text.append(spec.words[1].size() < 10 ? 10 - spec.words[1].size() : 1, ' ');
      text += spec.summary + "\n";
    }
  }
  text += "\n`traboulectl " + group + " COMMAND --help` for each one.\n";
  return text;
}

const CommandSpec* find_spec(const std::vector<std::string>& words) {
  for (const auto& spec : command_specs()) {
    if (spec.words == words) return &spec;
  }
  return nullptr;
}

bool is_group(const std::string& word) {
  return word == "policy" || word == "fleet" || word == "report";
}

// events --since: "90s", "30m", "2h", "7d" back from now, "YYYY-MM-DD" (local midnight), or
// seconds since the epoch.
std::optional<uint64_t> parse_since(const std::string& text) {
  const auto now = static_cast<uint64_t>(std::time(nullptr));
  if (text.size() >= 2 && std::string("smhd").find(text.back()) != std::string::npos) {
    const auto n = parse_unsigned(text.substr(0, text.size() - 1), 0, 100ULL * 365 * 86400);
    if (!n) return std::nullopt;
    const uint64_t unit = text.back() == 's'   ? 1
                          : text.back() == 'm' ? 60
                          : text.back() == 'h' ? 3600
                                               : 86400;
    const uint64_t back = *n * unit;
    return back > now ? 0 : now - back;
  }
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    const auto y = parse_unsigned(text.substr(0, 4), 1970, 9999);
    const auto m = parse_unsigned(text.substr(5, 2), 1, 12);
    const auto d = parse_unsigned(text.substr(8, 2), 1, 31);
    if (!y || !m || !d) return std::nullopt;
    std::tm tm{};
    tm.tm_year = static_cast<int>(*y) - 1900;
    tm.tm_mon = static_cast<int>(*m) - 1;
    tm.tm_mday = static_cast<int>(*d);
    tm.tm_isdst = -1;
    const std::time_t t = std::mktime(&tm);
    if (t < 0) return std::nullopt;
    return static_cast<uint64_t>(t);
  }
  return parse_unsigned(text, 0, 253402300799ULL);
}

std::string quoted(const std::string& s) {
  return "\"" + truncate_text(sanitize_text(s), 80) + "\"";
}

bool looks_like_option(const std::string& s) {
  return s.size() > 1 && s[0] == '-';
}

}  // namespace

std::string top_level_help() {
  std::string text =
      "Usage: traboulectl [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
      "The operator's CLI for trabouled: reads state and manages policies over the daemon's\n"
      "HTTPS API; validates policies offline with the daemon's own code.\n\nCommands:\n";
  for (const auto& spec : command_specs()) {
    std::string words = spec.words[0] + (spec.words.size() > 1 ? " " + spec.words[1] : "");
    text += "  " + words;
    text.append(words.size() < 18 ? 18 - words.size() : 1, ' ');
    text += spec.summary + "\n";
  }
  text += "\n" + render_options(global_options()) + "\n" + kExitCodes +
          "\n`traboulectl COMMAND --help` for each command.\n";
  return text;
}

std::optional<uint64_t> parse_unsigned(const std::string& text, uint64_t min, uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::optional<double> parse_seconds(const std::string& text, double min, double max) {
  // Digits with at most one point; no sign, exponent, hex, inf or nan.
  if (text.empty() || text.size() > 16) return std::nullopt;
  int points = 0;
  for (const char c : text) {
    if (c == '.') {
      ++points;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  if (points > 1 || text == ".") return std::nullopt;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::optional<std::vector<std::string>> parse_uplink_list(const std::string& text,
                                                          std::string& error) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string name =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!name.empty() && name.front() == ' ') name.erase(name.begin());
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name.empty()) {
      error = "--uplinks: empty uplink name in " + quoted(text);
      return std::nullopt;
    }
    const bool good_chars = std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_';
    });
    if (!good_chars || name.size() > 32) {
      error =
          "--uplinks: bad uplink name " + quoted(name) + " (1-32 characters of A-Z a-z 0-9 - _)";
      return std::nullopt;
    }
    if (!seen.insert(name).second) {
      error = "--uplinks: uplink " + quoted(name) + " given twice";
      return std::nullopt;
    }
    names.push_back(std::move(name));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (names.size() > 16) {
    error = "--uplinks: " + std::to_string(names.size()) + " uplinks given; a box has at most 16";
    return std::nullopt;
  }
  return names;
}

ParseOutcome parse_command_line(const std::vector<std::string>& args) {
  ParseOutcome outcome;
  Invocation& inv = outcome.invocation;
  auto usage_error = [&](const std::string& message, const std::string& help_for) {
    outcome.ok = false;
    outcome.error =
        message + "\n(see `traboulectl " + (help_for.empty() ? "" : help_for + " ") + "--help`)";
    return outcome;
  };

  // Step 1: the global options, wherever they are; everything else is kept in order.
  std::vector<std::string> rest;
  po::variables_map globals;
  try {
    po::options_description global = global_options();
    po::options_description hidden;
    hidden.add_options()("rest", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(global).add(hidden);
    po::positional_options_description pos;
    pos.add("rest", -1);
    const auto parsed =
        po::command_line_parser(args)
            .options(all)
            .positional(pos)
            .allow_unregistered()
            .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
            .run();
    po::store(parsed, globals);
    po::notify(globals);
    rest = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    return usage_error(e.what(), "");
  }

  GlobalOptions& g = inv.global;
  if (globals.count("server")) g.server = globals["server"].as<std::string>();
  if (globals.count("token")) g.token = globals["token"].as<std::string>();
  if (globals.count("token-file")) g.token_file = globals["token-file"].as<std::string>();
  if (globals.count("ca")) g.ca_file = globals["ca"].as<std::string>();
  g.insecure = globals["insecure"].as<bool>();
  g.json = globals["json"].as<bool>();
  if (globals.count("timeout")) {
    const std::string& t = globals["timeout"].as<std::string>();
    const auto seconds = parse_seconds(t, 0.001, kMaxTimeoutS);
    if (!seconds) {
      return usage_error(
          "--timeout: must be a number of seconds from 0.001 to 3600 (got " + quoted(t) + ")", "");
    }
    g.timeout_s = *seconds;
  }
  if (g.token && g.token_file)
    return usage_error("--token and --token-file exclude each other", "");
  if (g.ca_file && g.insecure) return usage_error("--ca and --insecure exclude each other", "");
  const bool help = globals.count("help") > 0;

  // Step 2: the command words.
  size_t consumed = 0;
  if (rest.empty() || looks_like_option(rest[0])) {
    if (help && rest.empty()) {
      inv.help = top_level_help();
      outcome.ok = true;
      return outcome;
    }
    if (!rest.empty()) return usage_error("unknown option " + quoted(rest[0]), "");
    return usage_error("no command given", "");
  }
  inv.command.push_back(rest[0]);
  consumed = 1;
  if (is_group(rest[0])) {
    if (rest.size() < 2 || looks_like_option(rest[1])) {
      if (help) {
        inv.help = group_help(rest[0]);
        outcome.ok = true;
        return outcome;
      }
      return usage_error("`" + rest[0] + "` needs a command", rest[0]);
    }
    inv.command.push_back(rest[1]);
    consumed = 2;
  } else if (rest.size() >= 2 && find_spec({rest[0], rest[1]}) != nullptr) {
    inv.command.push_back(rest[1]);  // a command with a sub-command of its own (apps catalog)
    consumed = 2;
  }
  const CommandSpec* spec = find_spec(inv.command);
  if (spec == nullptr) {
    if (inv.command.size() == 2) {
      return usage_error(
          "unknown command " + quoted(inv.command[1]) + " for `" + inv.command[0] + "`",
          inv.command[0]);
    }
    return usage_error("unknown command " + quoted(inv.command[0]), "");
  }
  const std::string name =
      inv.command.size() == 1 ? inv.command[0] : inv.command[0] + " " + inv.command[1];
  if (help) {
    inv.help = command_help(*spec);
    outcome.ok = true;
    return outcome;
  }

  // Step 3: the command's own options and positional arguments.
  po::variables_map vm;
  std::vector<std::string> positional;
  try {
    po::options_description desc = command_options(spec->words);
    po::options_description hidden;
    hidden.add_options()("args", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description pos;
    pos.add("args", -1);
    std::vector<std::string> tail(rest.begin() + static_cast<std::ptrdiff_t>(consumed), rest.end());
    po::store(
        po::command_line_parser(tail)
            .options(all)
            .positional(pos)
            .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
            .run(),
        vm);
    po::notify(vm);
    if (vm.count("args")) positional = vm["args"].as<std::vector<std::string>>();
  } catch (const po::error& e) {
    return usage_error(std::string(e.what()) + " (for `" + name + "`)", name);
  }
  auto str = [&](const char* key) -> std::optional<std::string> {
    if (!vm.count(key)) return std::nullopt;
    return vm[key].as<std::string>();
  };
  auto expect_args = [&](size_t min, size_t max, const std::string& what) -> bool {
    if (positional.size() < min) {
      outcome.error = "`" + name + "` needs " + what;
      return false;
    }
    if (positional.size() > max) {
      outcome.error = "unexpected argument " + quoted(positional[max]) + " for `" + name + "`";
      return false;
    }
    return true;
  };
  auto version_arg = [&](const std::string& text, const char* what) -> std::optional<uint64_t> {
    const auto v = parse_unsigned(text, 1, UINT64_MAX);
    if (!v)
      outcome.error =
          std::string(what) + ": must be a version number (1, 2, ...), got " + quoted(text);
    return v;
  };
  auto confirm_timeout = [&]() -> bool {
    const auto t = str("confirm-timeout");
    if (!t) return true;
    const auto v = parse_unsigned(*t, 1, kMaxConfirmTimeoutS);
    if (!v) {
      outcome.error =
          "--confirm-timeout: must be whole seconds from 1 to 86400 (got " + quoted(*t) + ")";
      return false;
    }
    inv.confirm_timeout_s = static_cast<uint32_t>(*v);
    return true;
  };
  bool good = true;

  if (name == "flows" || name == "apps") {
    good = expect_args(0, 0, "");
    if (good && str("top")) {
      const auto v = parse_unsigned(*str("top"), 1, kMaxTop);
      if (!v) {
        outcome.error = "--top: must be a whole number from 1 to " + std::to_string(kMaxTop) +
                        " (got " + quoted(*str("top")) + ")";
        good = false;
      } else {
        inv.top = static_cast<uint32_t>(*v);
      }
    }
  } else if (name == "counters") {
    good = expect_args(0, 1, "");
    if (good && !positional.empty()) {
      const std::string& p = positional[0];
      const bool ok_chars = std::all_of(p.begin(), p.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-';
      });
      if (p.empty() || p.size() > 128 || !ok_chars) {
        outcome.error = "counters: PREFIX must be 1-128 characters of A-Z a-z 0-9 . _ - (got " +
                        quoted(p) + ")";
        good = false;
      } else {
        inv.prefix = p;
      }
    }
  } else if (name == "events") {
    good = expect_args(0, 0, "");
    if (good && str("since")) {
      inv.since_s = parse_since(*str("since"));
      if (!inv.since_s) {
        outcome.error =
            "--since: a duration (90s, 30m, 2h, 7d), a date (YYYY-MM-DD) or epoch "
            "seconds (got " +
            quoted(*str("since")) + ")";
        good = false;
      }
    }
    if (good && str("class")) {
      const std::string c = *str("class");
      if (c != "P0" && c != "P1" && c != "P2") {
        outcome.error = "--class: P0, P1 or P2 (got " + quoted(c) + ")";
        good = false;
      } else {
        inv.incident = c;
      }
    }
    if (good && str("limit")) {
      const auto v = parse_unsigned(*str("limit"), 1, 100000);
      if (!v) {
        outcome.error =
            "--limit: a whole number from 1 to 100000 (got " + quoted(*str("limit")) + ")";
        good = false;
      } else {
        inv.limit = static_cast<uint32_t>(*v);
      }
    }
  } else if (name == "runtime") {
    good = expect_args(0, 0, "");
    if (good && str("interval")) {
      const auto v = parse_unsigned(*str("interval"), 1, 60);
      if (!v) {
        outcome.error = "--interval: a whole number of seconds from 1 to 60 (got " +
                        quoted(*str("interval")) + ")";
        good = false;
      } else {
        inv.interval_s = static_cast<uint32_t>(*v);
      }
    }
  } else if (name == "report availability") {
    good = expect_args(0, 0, "");
    inv.csv = vm["csv"].as<bool>();
    if (good && !str("month")) {
      outcome.error = "`report availability` needs --month YYYY-MM";
      good = false;
    }
    if (good) {
      const std::string m = *str("month");
      const bool shape = m.size() == 7 && m[4] == '-' &&
                         parse_unsigned(m.substr(0, 4), 1970, 9999) &&
                         parse_unsigned(m.substr(5, 2), 1, 12);
      if (!shape) {
        outcome.error = "--month: a calendar month YYYY-MM (got " + quoted(m) + ")";
        good = false;
      } else {
        inv.month = m;
      }
    }
    if (good && inv.csv && inv.global.json) {
      outcome.error = "--csv and --json exclude each other";
      good = false;
    }
  } else if (spec->words.size() == 1) {
    good = expect_args(0, 0, "");
  } else if (name == "policy validate") {
    good = expect_args(1, 1, "a policy FILE");
    if (good) inv.file = positional[0];
    inv.remote = vm["remote"].as<bool>();
    inv.config_file = str("config");
    inv.role = str("role");
    if (good && str("uplinks") && inv.config_file) {
      outcome.error = "--uplinks and --config exclude each other";
      good = false;
    }
    if (good && inv.remote && (str("uplinks") || inv.config_file || inv.role)) {
      outcome.error =
          "--remote validates on the server against the box's own uplinks; --uplinks, --config "
          "and --role are for offline validation";
      good = false;
    }
    if (good && inv.role && *inv.role != "edge" && *inv.role != "hub") {
      outcome.error = "--role: must be edge or hub (got " + quoted(*inv.role) + ")";
      good = false;
    }
    if (good && str("uplinks")) {
      std::string error;
      inv.uplinks = parse_uplink_list(*str("uplinks"), error);
      if (!inv.uplinks) {
        outcome.error = error;
        good = false;
      }
    }
  } else if (name == "policy apply") {
    good = expect_args(1, 1, "a policy FILE") && confirm_timeout();
    if (good) inv.file = positional[0];
    inv.comment = str("comment");
  } else if (name == "policy confirm" || name == "policy history") {
    good = expect_args(0, 0, "");
  } else if (name == "policy rollback") {
    good = expect_args(1, 1, "the version N to go back to");
    if (good) {
      inv.version = version_arg(positional[0], "rollback");
      good = inv.version.has_value();
    }
    inv.comment = str("comment");
  } else if (name == "policy diff") {
    good = expect_args(2, 2, "two versions: A B");
    if (good) {
      const auto a = version_arg(positional[0], "diff A");
      const auto b = a ? version_arg(positional[1], "diff B") : std::nullopt;
      good = a && b;
      if (good) {
        inv.diff_from = *a;
        inv.diff_to = *b;
      }
    }
  } else if (name == "policy show") {
    good = expect_args(0, 1, "");
    if (good && !positional.empty()) {
      inv.version = version_arg(positional[0], "show");
      good = inv.version.has_value();
    }
  } else if (name == "fleet apply") {
    good = expect_args(1, 1, "a POLICY file") && confirm_timeout();
    if (good) inv.file = positional[0];
    if (good && !str("devices")) {
      outcome.error = "`fleet apply` needs --devices FILE";
      good = false;
    }
    if (good) inv.devices_file = *str("devices");
    if (!inv.confirm_timeout_s) inv.confirm_timeout_s = 120;
    inv.canary = str("canary");
    inv.comment = str("comment");
    if (good && str("settle")) {
      const auto s = parse_seconds(*str("settle"), 0, 600);
      if (!s) {
        outcome.error =
            "--settle: must be seconds from 0 to 600 (got " + quoted(*str("settle")) + ")";
        good = false;
      } else {
        inv.settle_s = *s;
      }
    }
  }
  if (!good) return usage_error(outcome.error, name);
  outcome.ok = true;
  return outcome;
}

}  // namespace traboule::ctl

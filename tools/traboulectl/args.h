// SPDX-License-Identifier: Apache-2.0
// traboulectl's command line: global options (anywhere on the line), then a command and its
// own options, parsed with Boost.Program_options into one Invocation. Every bad input is a
// usage error naming the option and the value; nothing here touches the network or files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace traboule::ctl {

struct GlobalOptions {
  std::optional<std::string> server;      // --server
  std::optional<std::string> token;       // --token
  std::optional<std::string> token_file;  // --token-file
  std::optional<std::string> ca_file;     // --ca
  bool insecure = false;
  double timeout_s = 10;
  bool json = false;
};

struct Invocation {
  GlobalOptions global;
  // The command words: {"status"}, {"policy", "apply"}, {"fleet", "apply"}.
  std::vector<std::string> command;
  // Set when --help was asked for: the text to print (exit 0).
  std::optional<std::string> help;

  std::string file;                   // policy validate/apply FILE, fleet apply POLICY
  std::optional<uint32_t> top;        // flows --top
  std::optional<std::string> prefix;  // counters PREFIX
  std::optional<std::vector<std::string>> uplinks;  // policy validate --uplinks
  std::optional<std::string> config_file;           // policy validate --config
  std::optional<std::string> role;                  // policy validate --role
  bool remote = false;                              // policy validate --remote
  std::optional<std::string> comment;               // apply, rollback
  std::optional<uint32_t> confirm_timeout_s;        // apply, fleet apply
  std::optional<uint64_t> version;                  // rollback N, show [N]
  uint64_t diff_from = 0;
  uint64_t diff_to = 0;
  std::string devices_file;             // fleet apply --devices
  std::optional<std::string> canary;    // fleet apply --canary
  double settle_s = 3;                  // fleet apply --settle
  std::optional<uint64_t> since_s;      // events --since (seconds since the epoch)
  std::optional<std::string> incident;  // events --class P0|P1|P2
  std::optional<uint32_t> limit;        // events --limit
  std::string month;                    // report availability --month YYYY-MM
  bool csv = false;                     // report availability --csv
  std::optional<uint32_t> interval_s;   // runtime --interval
};

struct ParseOutcome {
  bool ok = false;
  Invocation invocation;
  std::string error;  // usage error, with a hint to the right --help
};

ParseOutcome parse_command_line(const std::vector<std::string>& args);

// The top-level help (also printed after "no command given").
std::string top_level_help();

// Strict number parsing for option values: decimal digits only, in [min, max].
std::optional<uint64_t> parse_unsigned(const std::string& text, uint64_t min, uint64_t max);
// A positive decimal number of seconds ("2", "0.5"), at most `max`.
std::optional<double> parse_seconds(const std::string& text, double min, double max);

// "a,b,c" → names; an error names the bad entry (empty, duplicate, bad characters).
std::optional<std::vector<std::string>> parse_uplink_list(const std::string& text,
                                                          std::string& error);

inline constexpr uint32_t kMaxConfirmTimeoutS = 86400;
inline constexpr uint32_t kMaxTop = 10000;  // the API's limit (openapi.yaml)
inline constexpr double kMaxTimeoutS = 3600;

}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
// traboulectl's commands: parse the line, resolve the server and token, call the API (or the
// offline validator), print tables or JSON, and return the documented exit code. main() only
// wires the real environment, transport and clock in, so tests drive everything else.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "tools/traboulectl/api_client.h"
#include "tools/traboulectl/args.h"
#include "tools/traboulectl/fleet.h"

namespace traboule::ctl {

struct Environment {
  std::optional<std::string> server;  // TRABOULE_SERVER
  std::optional<std::string> token;   // TRABOULE_TOKEN
  std::optional<std::string> ca;      // TRABOULE_CA
};

inline constexpr const char* kDefaultServer = "https://127.0.0.1:8443";

// Server, token and TLS settings from the options, then the environment, then the default.
// On a problem (bad URL, no token, unreadable token file) returns nullopt and sets `error`.
std::optional<ConnectionSettings> resolve_connection(const GlobalOptions& options,
                                                     const Environment& env, std::string& error);

struct CliDeps {
  TransportFactory make_transport;
  Sleeper sleep;
};

// Runs one command line (without the program name). Writes results to `out` and messages to
// `err`; returns the exit code (ExitCode).
int run_cli(const std::vector<std::string>& args, const Environment& env, std::ostream& out,
            std::ostream& err, const CliDeps& deps);

}  // namespace traboule::ctl

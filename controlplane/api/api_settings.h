// SPDX-License-Identifier: Apache-2.0
// What the daemon's HTTPS API listens on and who may use it. The lead parses this from the
// daemon config; check_api_settings() names every bad field. Tokens are kept only as sha256
// hashes (`printf %s TOKEN | sha256sum`), so the config file never holds a usable secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace traboule::cp {

// viewer: read only (beneficiaries); operator: may also change the policy.
enum class ApiRole { kViewer, kOperator };
const char* to_string(ApiRole r);
std::optional<ApiRole> parse_api_role(std::string_view s);  // "viewer" | "operator"

struct ApiToken {
  std::string name;  // recorded as the author of the policy versions it makes
  ApiRole role = ApiRole::kViewer;
  std::string sha256;  // hex sha256 of the bearer token (64 digits, either case)
};

struct ApiSettings {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8443;   // 0: the system picks one; ApiServer::port() reports it (tests)
  std::string cert_file;  // PEM certificate chain
  std::string key_file;   // PEM private key
  std::vector<ApiToken> tokens;
  double rate_per_s = 10.0;  // sustained requests per second per client address
  uint32_t burst = 20;       // requests a client may send at once
  size_t max_body_bytes = 1 << 20;
  unsigned threads = 4;  // HTTP worker threads (each serves one connection at a time)

  // Hardening (docs/api.md "Limits"). A connection holds a worker thread only once its whole
  // request head (request line and headers) has arrived: the TLS handshake and the head are read
  // by one event loop, each within a total deadline, so slow or idle clients hold no thread.
  unsigned operator_threads = 1;  // extra workers that serve only requests with an operator token
  unsigned max_connections = 64;  // open at once; past it the oldest not yet in a worker goes
  unsigned max_connections_per_client = 8;  // per source address (IPv6: per /64)
  double handshake_timeout_s = 5;           // TLS handshake, from accept
  double idle_timeout_s = 5;                // keep-alive: wait for the next request's first byte
  double request_timeout_s = 10;    // one whole request (head and body), from its first byte
  size_t max_header_bytes = 16384;  // request line and headers together
  unsigned max_header_count = 64;   // header lines
  unsigned log_lines_per_s = 5;     // security log lines (failed logins, 429...); then a summary
  // The web view (docs/webview.md) under /ui/: its pages are public (they hold no data; every
  // figure comes from /api/v1 with the user's token); Chart.js from this file when readable.
  bool web_view = true;
  std::string chart_js_file = "/usr/share/javascript/chart.js/chart.min.js";
};

// Every problem, each naming its field relative to the api settings ("tokens/1/sha256: not 64
// hex digits (got \"abc\")"). Empty: usable.
std::vector<std::string> check_api_settings(const ApiSettings& s);

}  // namespace traboule::cp

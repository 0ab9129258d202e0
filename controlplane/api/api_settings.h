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
};

// Every problem, each naming its field relative to the api settings ("tokens/1/sha256: not 64
// hex digits (got \"abc\")"). Empty: usable.
std::vector<std::string> check_api_settings(const ApiSettings& s);

}  // namespace traboule::cp

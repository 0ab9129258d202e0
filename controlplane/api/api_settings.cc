// SPDX-License-Identifier: Apache-2.0
#include "controlplane/api/api_settings.h"

#include <cmath>
#include <set>

namespace traboule::cp {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 80) out += "...";
  return out + "\"";
}

bool is_hex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

bool is_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
          c == '_' || c == '.' || c == '@'))
      return false;
  return true;
}

}  // namespace

const char* to_string(ApiRole r) {
  return r == ApiRole::kOperator ? "operator" : "viewer";
}

std::optional<ApiRole> parse_api_role(std::string_view s) {
  if (s == "viewer") return ApiRole::kViewer;
  if (s == "operator") return ApiRole::kOperator;
  return std::nullopt;
}

std::vector<std::string> check_api_settings(const ApiSettings& s) {
  std::vector<std::string> errors;
  if (s.listen_address.empty()) errors.push_back("listen: an address is required");
  if (s.cert_file.empty()) errors.push_back("cert_file: a PEM certificate file is required");
  if (s.key_file.empty()) errors.push_back("key_file: a PEM private key file is required");
  if (s.tokens.empty())
    errors.push_back("tokens: at least one token is required (nobody could use the API)");
  std::set<std::string> names, hashes;
  for (size_t i = 0; i < s.tokens.size(); ++i) {
    const ApiToken& t = s.tokens[i];
    const std::string at = "tokens/" + std::to_string(i);
    if (!is_name(t.name))
      errors.push_back(at + "/name: 1-64 of A-Z a-z 0-9 - _ . @ (got " + quoted(t.name) + ")");
    else if (!names.insert(t.name).second)
      errors.push_back(at + "/name: " + quoted(t.name) + " is used by another token");
    if (t.sha256.size() != 64 || !is_hex(t.sha256)) {
      errors.push_back(at + "/sha256: not 64 hex digits, as printed by `printf %s TOKEN | " +
                       "sha256sum` (got " + quoted(t.sha256) + ")");
    } else {
      std::string lower = t.sha256;
      for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
      if (!hashes.insert(lower).second)
        errors.push_back(at + "/sha256: the same token as another entry");
    }
  }
  if (!std::isfinite(s.rate_per_s) || s.rate_per_s <= 0 || s.rate_per_s > 100000)
    errors.push_back("rate_per_s: must be more than 0 and at most 100000 (got " +
                     std::to_string(s.rate_per_s) + ")");
  if (s.burst < 1 || s.burst > 100000)
    errors.push_back("burst: must be 1-100000 (got " + std::to_string(s.burst) + ")");
  if (s.max_body_bytes < 1024 || s.max_body_bytes > (64u << 20))
    errors.push_back("max_body_bytes: must be 1024-67108864 (got " +
                     std::to_string(s.max_body_bytes) + ")");
  if (s.threads < 1 || s.threads > 64)
    errors.push_back("threads: must be 1-64 (got " + std::to_string(s.threads) + ")");
  if (s.operator_threads < 1 || s.operator_threads > 16)
    errors.push_back("operator_threads: must be 1-16 (got " + std::to_string(s.operator_threads) +
                     ")");
  if (s.max_connections < 4 || s.max_connections > 4096)
    errors.push_back("max_connections: must be 4-4096 (got " + std::to_string(s.max_connections) +
                     ")");
  if (s.max_connections_per_client < 1 || s.max_connections_per_client > s.max_connections)
    errors.push_back("max_connections_per_client: must be 1-max_connections (got " +
                     std::to_string(s.max_connections_per_client) + ")");
  auto seconds = [&errors](const char* field, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi)
      errors.push_back(std::string(field) + ": must be " + std::to_string(lo).substr(0, 4) + "-" +
                       std::to_string(static_cast<int>(hi)) + " seconds (got " + std::to_string(v) +
                       ")");
  };
  seconds("handshake_timeout_s", s.handshake_timeout_s, 0.1, 60);
  seconds("idle_timeout_s", s.idle_timeout_s, 0.1, 300);
  seconds("request_timeout_s", s.request_timeout_s, 0.1, 600);
  if (s.max_header_bytes < 1024 || s.max_header_bytes > (1u << 20))
    errors.push_back("max_header_bytes: must be 1024-1048576 (got " +
                     std::to_string(s.max_header_bytes) + ")");
  if (s.max_header_count < 8 || s.max_header_count > 1000)
    errors.push_back("max_header_count: must be 8-1000 (got " + std::to_string(s.max_header_count) +
                     ")");
  if (s.log_lines_per_s < 1 || s.log_lines_per_s > 1000)
    errors.push_back("log_lines_per_s: must be 1-1000 (got " + std::to_string(s.log_lines_per_s) +
                     ")");
  return errors;
}

}  // namespace traboule::cp

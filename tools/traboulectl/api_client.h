// SPDX-License-Identifier: Apache-2.0
// traboulectl's side of the daemon's HTTPS API (/api/v1): the server URL, a transport seam
// (HTTPS with cpp-httplib in production, scripted replies in tests), and the mapping of every
// failure, from a refused connection to a malformed answer, to a message and an exit code.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace traboule::ctl {

// Documented in docs/traboulectl.md.
enum ExitCode : int { kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitUnreachable = 3 };

struct ServerUrl {
  std::string host;  // name or address; IPv6 without the brackets
  uint16_t port = 8443;
  std::string text() const;  // "https://host:port"
};

// Accepts "https://HOST[:PORT][/]" (IPv6 as [::1]). Returns nullopt and sets `error` otherwise:
// plain http is refused because the token would travel in clear.
std::optional<ServerUrl> parse_server_url(std::string_view text, std::string& error);

struct ConnectionSettings {
  ServerUrl server;
  std::string token;
  std::string ca_file;  // empty: the system's trust store
  bool insecure = false;
  double timeout_s = 10;
};

struct HttpReply {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, as sent
};

enum class TransportFailure { kNone, kConnect, kTls, kTlsVerify, kTimeout, kIo, kTooLarge, kOther };

struct TransportResult {
  TransportFailure failure = TransportFailure::kNone;
  std::string detail;  // what the library said, for the message
  HttpReply reply;     // valid when failure == kNone
};

class Transport {
 public:
  virtual ~Transport() = default;
  // `target` is the path and query below the server root ("/api/v1/status").
  virtual TransportResult send(const std::string& method, const std::string& target,
                               const std::string* body) = 0;
};

// Answers larger than this are cut off and reported (a policy history is far smaller).
inline constexpr size_t kMaxReplyBytes = 64u << 20;

std::unique_ptr<Transport> make_https_transport(const ConnectionSettings& settings);

// A failed call: what to print and how to exit. `details` holds validation problems
// ("POINTER: VALUE: MESSAGE" lines) when the server sent them.
struct CtlError {
  int exit_code = kExitFailed;
  int http_status = 0;  // 0: no HTTP answer
  std::string message;
  std::vector<std::string> details;
  nlohmann::json body;  // the server's error document when it sent valid JSON, else null
};

struct ApiResult {
  bool ok = false;
  int status = 0;
  nlohmann::json body;  // the parsed answer when ok
  CtlError error;       // when !ok
};

// The message and exit code for an HTTP error status and its body (any body: JSON or not).
CtlError map_http_error(int status, const std::string& body, const std::string& retry_after);
CtlError map_transport_failure(TransportFailure failure, const std::string& detail,
                               const std::string& server);
// A 2xx answer whose body is not JSON, described for the operator.
CtlError malformed_answer(const std::string& what, const std::string& body);

// One validation problem from a server's error details (tolerant of missing or odd fields).
std::string format_detail(const nlohmann::json& detail);

// Parses a Retry-After value: delay-seconds only (an HTTP date or garbage yields nullopt).
std::optional<uint64_t> parse_retry_after(std::string_view value);

// Turns a transport outcome into an ApiResult (2xx bodies must be JSON; empty is `null`).
ApiResult interpret(const TransportResult& result, const std::string& server);

// The answer to apply / confirm / rollback. The server sends {"version": {version record},
// "diff"?: patch}; the flat form {version, hash, pending, deadline?} is accepted too.
struct ChangeAnswer {
  uint64_t version = 0;
  std::string hash;
  std::string state;     // committed, pending, confirmed, rolled-back ("" when not sent)
  bool pending = false;  // held for confirmation
  std::string deadline;  // RFC 3339, when pending
  nlohmann::json diff;   // RFC 6902 patch from the previous version, or null
};
// On a malformed answer returns nullopt and says what is missing or wrong in `error`.
std::optional<ChangeAnswer> parse_change_answer(const nlohmann::json& body, std::string& error);

class ApiClient {
 public:
  ApiClient(std::unique_ptr<Transport> transport, std::string server_text);

  // `path` is below /api/v1 and may carry a query ("/flows?top=5").
  ApiResult get(const std::string& path);
  ApiResult post(const std::string& path, const nlohmann::json& body);
  ApiResult post_text(const std::string& path, const std::string& body);

  const std::string& server() const { return server_; }

 private:
  std::unique_ptr<Transport> transport_;
  std::string server_;
};

// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view value);

}  // namespace traboule::ctl

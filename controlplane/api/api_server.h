// SPDX-License-Identifier: Apache-2.0
// The daemon's HTTPS/JSON API (base path /api/v1): policy changes and read-only state, behind
// bearer tokens with viewer/operator roles, a per-client rate limit and a body size limit.
// TLS 1.2 minimum (1.3 preferred) on a bounded pool of worker threads. The route table is
// public so a test can hold controlplane/api/openapi.yaml to it.
//
// Connections (see the comment above ApiServer::Net in api_server.cc): one event loop accepts,
// caps connections per source address and in all, and reads each TLS handshake and request head
// (request line and headers, bounded in bytes and lines) within total deadlines; only a complete
// head reaches a worker thread, which parses it with cpp-httplib, checks the token, reads the
// body (bounded in decoded bytes and in time) and answers. Requests whose token is an operator's
// go first and may also use `operator_threads` workers that serve nobody else, so an operator can
// always confirm or roll back a policy while viewers or strangers keep the other workers busy.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controlplane/api/api_settings.h"
#include "controlplane/api/state_source.h"
#include "controlplane/store/policy_manager.h"

namespace httplib {
struct Request;
struct Response;
class Server;
class ContentReader;
}  // namespace httplib

namespace traboule::cp {

// Start-up failure: bad settings, unreadable certificate or key, address not bindable.
class ApiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ApiServer {
 public:
  static constexpr std::string_view kBasePath = "/api/v1";

  struct Route {
    std::string_view method;  // "GET" | "POST"
    std::string_view path;    // below kBasePath, OpenAPI style: "/policy/versions/{n}"
    ApiRole role;             // the least role allowed
  };
  // Every route served, in OpenAPI notation.
  static const std::vector<Route>& routes();

  // Counters since start, for telemetry.
  struct Stats {
    uint64_t requests = 0;
    uint64_t unauthorized = 0;   // 401
    uint64_t forbidden = 0;      // 403
    uint64_t rate_limited = 0;   // 429
    uint64_t client_errors = 0;  // other 4xx
    uint64_t server_errors = 0;  // 5xx
    // Connection-level defences (no HTTP answer, or one sent before any parsing).
    uint64_t connections_open = 0;     // now
    uint64_t connections_refused = 0;  // over max_connections_per_client: closed at accept
    uint64_t connections_evicted = 0;  // over max_connections: the oldest waiting one closed
    uint64_t connections_no_fd = 0;    // the process was out of descriptors: closed at accept
    uint64_t handshake_timeouts = 0;   // TLS handshake not done within handshake_timeout_s
    uint64_t request_timeouts = 0;     // request not read within request_timeout_s
    uint64_t headers_too_large = 0;    // 431: over max_header_bytes or max_header_count
    uint64_t bodies_too_large = 0;     // 413: over max_body_bytes (decoded)
    uint64_t log_suppressed = 0;       // security log lines over log_lines_per_s, not written
  };

  // Checks the settings (throws ApiError naming every bad field). Nothing listens yet.
  ApiServer(ApiSettings settings, PolicyManager& policies, StateSource& state);
  ~ApiServer();  // stop()
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Loads the certificate and key, binds, and serves on a thread of its own. Throws ApiError.
  void start();
  // Stops accepting, finishes the requests in flight, joins the threads. Idempotent.
  void stop();
  uint16_t port() const { return port_; }  // the bound port (after start)
  Stats stats() const;
  // One line per request ("127.0.0.1 GET /api/v1/status 200 1.2ms"), for the daemon's log.
  void set_access_log(std::function<void(const std::string&)> log);
  // Failed logins (401), refused roles (403), 429s and the connection-level defences above, at
  // most settings.log_lines_per_s lines a second, then one "suppressed K" line. Never the token.
  // Unset: standard error.
  void set_security_log(std::function<void(const std::string&)> log);

 private:
  struct Caller {
    std::string name;
    ApiRole role = ApiRole::kViewer;
  };
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last{};
  };
  struct HashedToken {
    std::string name;
    ApiRole role;
    unsigned char digest[32];
  };
  using Handler = void (ApiServer::*)(const httplib::Request&, httplib::Response&, const Caller&);
  struct Bound {
    Route route;
    Handler handler;
  };

  static const std::vector<Bound>& table();
  // Rate limit, authentication, routing, role: answers the request itself (returns true) when
  // any fails, before the body is read.
  bool gate(const httplib::Request& req, httplib::Response& res);
  void dispatch(const httplib::Request& req, httplib::Response& res);
  // The routes and httplib's hooks (gate, bodies, errors, access and security log).
  void install_handlers(httplib::Server& server);
  // Reads the body (at most max_body_bytes), then dispatches.
  void dispatch_with_body(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader);
  // Counts the answer; logs it, and refusals to the security log too.
  void log_request(const httplib::Request& req, const httplib::Response& res);
  // nullopt: no or unknown token (the response is filled with 401).
  std::optional<Caller> authenticate(const httplib::Request& req, httplib::Response& res);
  bool admit(const std::string& client, double& retry_after_s);
  void count(int status);
  // The role of a raw "Authorization" header value; nullopt if it is not a known token.
  std::optional<ApiRole> role_of(std::string_view authorization) const;
  // Rate-limited security log (see set_security_log); flush_security_log() writes the
  // "suppressed" summary of a finished second even when no new event comes.
  void security_event(const std::string& line);
  void flush_security_log();
  void emit_security(const std::string& line);

  void get_status(const httplib::Request&, httplib::Response&, const Caller&);
  void get_policy(const httplib::Request&, httplib::Response&, const Caller&);
  void get_history(const httplib::Request&, httplib::Response&, const Caller&);
  void get_version(const httplib::Request&, httplib::Response&, const Caller&);
  void get_diff(const httplib::Request&, httplib::Response&, const Caller&);
  void post_validate(const httplib::Request&, httplib::Response&, const Caller&);
  void post_apply(const httplib::Request&, httplib::Response&, const Caller&);
  void post_confirm(const httplib::Request&, httplib::Response&, const Caller&);
  void post_rollback(const httplib::Request&, httplib::Response&, const Caller&);
  void get_uplinks(const httplib::Request&, httplib::Response&, const Caller&);
  void get_paths(const httplib::Request&, httplib::Response&, const Caller&);
  void get_firewall(const httplib::Request&, httplib::Response&, const Caller&);
  void get_apps_top(const httplib::Request&, httplib::Response&, const Caller&);
  void get_rules(const httplib::Request&, httplib::Response&, const Caller&);
  void get_qos(const httplib::Request&, httplib::Response&, const Caller&);
  void get_routes(const httplib::Request&, httplib::Response&, const Caller&);
  void get_flows(const httplib::Request&, httplib::Response&, const Caller&);
  void get_apps(const httplib::Request&, httplib::Response&, const Caller&);
  void get_counters(const httplib::Request&, httplib::Response&, const Caller&);
  void get_drops(const httplib::Request&, httplib::Response&, const Caller&);
  void get_metrics(const httplib::Request&, httplib::Response&, const Caller&);
  void get_events(const httplib::Request&, httplib::Response&, const Caller&);
  void get_availability(const httplib::Request&, httplib::Response&, const Caller&);
  void get_link_history(const httplib::Request&, httplib::Response&, const Caller&);
  void get_runtime(const httplib::Request&, httplib::Response&, const Caller&);
  // The web view (/ui/): static files, public, with a strict CSP.
  static bool is_web_view_path(std::string_view path);
  void serve_web_view(const httplib::Request& req, httplib::Response& res);
  static std::string read_chart_js(const std::string& file);
  nlohmann::json api_counters() const;  // GET /status "api"

  ApiSettings settings_;
  PolicyManager& policies_;
  StateSource& state_;
  std::vector<HashedToken> tokens_;
  const std::chrono::steady_clock::time_point started_;

  struct Net;  // event loop, queues, worker threads, TLS context (api_server.cc)
  std::unique_ptr<Net> net_;
  uint16_t port_ = 0;

  std::mutex buckets_mu_;
  std::unordered_map<std::string, Bucket> buckets_;

  std::mutex log_mu_;
  std::function<void(const std::string&)> access_log_;
  std::function<void(const std::string&)> security_log_;
  std::chrono::steady_clock::time_point log_window_{};
  unsigned log_lines_ = 0;
  uint64_t log_window_suppressed_ = 0;

  std::atomic<uint64_t> requests_{0}, unauthorized_{0}, forbidden_{0}, rate_limited_{0},
      client_errors_{0}, server_errors_{0}, connections_open_{0}, connections_refused_{0},
      connections_evicted_{0}, connections_no_fd_{0}, handshake_timeouts_{0}, request_timeouts_{0},
      headers_too_large_{0}, bodies_too_large_{0}, log_suppressed_{0};
  std::once_flag chart_once_;
  std::string chart_js_;  // Chart.js as read once (empty: not there)
};

}  // namespace traboule::cp

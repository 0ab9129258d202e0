// SPDX-License-Identifier: Apache-2.0
#include "controlplane/api/api_server.h"
#include "controlplane/api/prometheus.h"
#include "controlplane/journal/availability.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>

namespace traboule::cp {
namespace webui {
extern const char* const kIndexHtml;
extern const char* const kAppJs;
extern const char* const kStyleCss;
}  // namespace webui

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxCommentBytes = 1024;
constexpr size_t kMaxBuckets = 4096;
constexpr size_t kDefaultTop = 20;
constexpr size_t kMaxTop = 10000;
constexpr size_t kMaxPrefixBytes = 128;
constexpr const char* kRealm = "Bearer realm=\"trabouled\"";

// The value as JSON text, short enough for an error message.
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string shown_text(std::string_view s) {
  return shown(json(std::string(s.substr(0, 100))));
}

json details_json(const std::vector<PolicyError>& errors, const std::string& prefix = "") {
  json out = json::array();
  for (const auto& e : errors)
    out.push_back({{"pointer", prefix + e.pointer}, {"value", e.value}, {"message", e.message}});
  return out;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

json error_body(const std::string& code, const std::string& message, json details = nullptr) {
  json e = {{"code", code}, {"message", message}};
  if (!details.is_null()) e["details"] = std::move(details);
  return {{"error", std::move(e)}};
}

void send_error(httplib::Response& res, int status, const std::string& code,
                const std::string& message, json details = nullptr) {
  send_json(res, status, error_body(code, message, std::move(details)));
}

void send_bad_request(httplib::Response& res, const std::vector<PolicyError>& errors,
                      const std::string& prefix = "") {
  std::string message = "the request is malformed: ";
  message +=
      errors.empty()
          ? "?"
          : to_string(PolicyError{prefix + errors[0].pointer, errors[0].value, errors[0].message});
  if (errors.size() > 1) message += " (and " + std::to_string(errors.size() - 1) + " more)";
  send_error(res, 400, "bad_request", message, details_json(errors, prefix));
}

// Parses a JSON request body with parse_policy_text, the parser of traboulectl's offline
// validation: it also refuses duplicate keys (JSON would keep the last one silently) and, before
// parsing, nesting deep enough to make dumping or validation recurse dangerously.
bool parse_body(const std::string& body, json& out, std::vector<PolicyError>& errors) {
  if (body.empty()) {
    errors.push_back({"", "", "the request body is empty; a JSON object is expected"});
    return false;
  }
  return parse_policy_text(body, out, errors);
}

// Only these keys, each checked by the caller.
void refuse_unknown_keys(const json& obj, std::initializer_list<std::string_view> known,
                         std::vector<PolicyError>& errors) {
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (auto k : known) ok = ok || key == k;
    if (!ok) errors.push_back({"/" + key, shown(value), "unknown field"});
  }
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 19) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// A positive integer field of a JSON body.
std::optional<uint64_t> positive(const json& obj, const char* key, uint64_t max,
                                 std::vector<PolicyError>& errors, bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) errors.push_back({std::string("/") + key, "", "required"});
    return std::nullopt;
  }
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() ? it->get<uint64_t>() < 1 : it->get<int64_t>() < 1) ||
      (it->is_number_unsigned() && it->get<uint64_t>() > max)) {
    errors.push_back({std::string("/") + key, shown(*it),
                      "must be an integer from 1 to " + std::to_string(max)});
    return std::nullopt;
  }
  return it->get<uint64_t>();
}

std::string comment_of(const json& obj, std::vector<PolicyError>& errors) {
  auto it = obj.find("comment");
  if (it == obj.end()) return "";
  if (!it->is_string()) {
    errors.push_back({"/comment", shown(*it), "must be a string"});
    return "";
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxCommentBytes) {
    errors.push_back(
        {"/comment", shown(*it), "longer than " + std::to_string(kMaxCommentBytes) + " bytes"});
    return "";
  }
  return s;
}

bool refuse_unknown_params(const httplib::Request& req,
                           std::initializer_list<std::string_view> known, httplib::Response& res) {
  std::vector<PolicyError> errors;
  for (const auto& [key, value] : req.params) {
    bool ok = false;
    for (auto k : known) ok = ok || key == k;
    if (!ok) errors.push_back({"?" + key, shown_text(value), "unknown query parameter"});
  }
  if (errors.empty()) return false;
  send_bad_request(res, errors);
  return true;
}

void send_op_error(httplib::Response& res, const PolicyOpError& e,
                   const std::string& details_prefix = "") {
  switch (e.kind()) {
    case PolicyOpErrorKind::kInvalid:
      send_error(res, 400, "invalid_policy", e.what(), details_json(e.errors(), details_prefix));
      return;
    case PolicyOpErrorKind::kNotFound:
      send_error(res, 404, "not_found", e.what());
      return;
    case PolicyOpErrorKind::kConflict:
      send_error(res, 409, "conflict", e.what());
      return;
    case PolicyOpErrorKind::kStorage:
      send_error(res, 500, "storage_error", e.what());
      return;
    case PolicyOpErrorKind::kActivation:
      send_error(res, 500, "activation_failed", e.what());
      return;
  }
}

json pending_json(const std::optional<PendingInfo>& p) {
  if (!p) return nullptr;
  return {{"version", p->version},
          {"author", p->author},
          {"deadline", p->deadline},
          {"remaining_s", static_cast<double>(p->remaining.count()) / 1000.0},
          {"restores_version", p->restores_version}};
}

// Splits "/a/b/c" into segments; "" for the root.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] != '/') return {};
    size_t j = path.find('/', i + 1);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i + 1, j - i - 1));
    i = j;
  }
  return out;
}

bool path_matches(std::string_view pattern, std::string_view path) {
  auto p = segments(pattern), s = segments(path);
  if (p.size() != s.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (s[i].empty()) return false;
    if (!p[i].empty() && p[i].front() == '{') continue;
    if (p[i] != s[i]) return false;
  }
  return true;
}

std::string openssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

bool hex_to_digest(const std::string& hex, unsigned char (&out)[32]) {
  if (hex.size() != 64) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

// The token of an "Authorization: Bearer <token>" value ("" if it is not one).
std::string bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  std::string_view token;
  if (header.size() > kScheme.size()) {
    bool scheme_ok = true;
    for (size_t i = 0; i < kScheme.size(); ++i)
      scheme_ok = scheme_ok && std::tolower(static_cast<unsigned char>(header[i])) == kScheme[i];
    if (scheme_ok) token = header.substr(kScheme.size());
  }
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return std::string(token);
}

// ?top=N (1..kMaxTop) into `top`; false after answering 400 when it is not that.
bool top_param(const httplib::Request& req, httplib::Response& res, size_t& top) {
  if (!req.has_param("top")) return true;
  const std::string v = req.get_param_value("top");
  const auto n = parse_u64(v);
  if (!n || *n < 1 || *n > kMaxTop) {
    send_bad_request(res,
                     {{"?top", shown_text(v), "an integer from 1 to " + std::to_string(kMaxTop)}});
    return false;
  }
  top = static_cast<size_t>(*n);
  return true;
}

}  // namespace

const std::vector<ApiServer::Bound>& ApiServer::table() {
  using R = ApiRole;
  static const std::vector<Bound> kTable = {
      {{"GET", "/status", R::kViewer}, &ApiServer::get_status},
      {{"GET", "/policy", R::kViewer}, &ApiServer::get_policy},
      {{"GET", "/policy/history", R::kViewer}, &ApiServer::get_history},
      {{"GET", "/policy/versions/{n}", R::kViewer}, &ApiServer::get_version},
      {{"GET", "/policy/diff", R::kViewer}, &ApiServer::get_diff},
      {{"POST", "/policy/validate", R::kViewer}, &ApiServer::post_validate},
      {{"POST", "/policy/apply", R::kOperator}, &ApiServer::post_apply},
      {{"POST", "/policy/confirm", R::kOperator}, &ApiServer::post_confirm},
      {{"POST", "/policy/rollback", R::kOperator}, &ApiServer::post_rollback},
      {{"GET", "/uplinks", R::kViewer}, &ApiServer::get_uplinks},
      {{"GET", "/paths", R::kViewer}, &ApiServer::get_paths},
      {{"GET", "/firewall", R::kViewer}, &ApiServer::get_firewall},
      {{"GET", "/rules", R::kViewer}, &ApiServer::get_rules},
      {{"GET", "/qos", R::kViewer}, &ApiServer::get_qos},
      {{"GET", "/routes", R::kViewer}, &ApiServer::get_routes},
      {{"GET", "/flows", R::kViewer}, &ApiServer::get_flows},
      {{"GET", "/apps", R::kViewer}, &ApiServer::get_apps},
      {{"GET", "/apps/top", R::kViewer}, &ApiServer::get_apps_top},
      {{"GET", "/counters", R::kViewer}, &ApiServer::get_counters},
      {{"GET", "/drops", R::kViewer}, &ApiServer::get_drops},
      {{"GET", "/metrics", R::kViewer}, &ApiServer::get_metrics},
      {{"GET", "/events", R::kViewer}, &ApiServer::get_events},
      {{"GET", "/report/availability", R::kViewer}, &ApiServer::get_availability},
      {{"GET", "/links/history", R::kViewer}, &ApiServer::get_link_history},
      {{"GET", "/runtime", R::kViewer}, &ApiServer::get_runtime},
  };
  return kTable;
}

const std::vector<ApiServer::Route>& ApiServer::routes() {
  static const std::vector<Route> kRoutes = [] {
    std::vector<Route> out;
    for (const auto& b : table()) out.push_back(b.route);
    return out;
  }();
  return kRoutes;
}

ApiServer::ApiServer(ApiSettings settings, PolicyManager& policies, StateSource& state)
    : settings_(std::move(settings)), policies_(policies), state_(state), started_(Clock::now()) {
  auto errors = check_api_settings(settings_);
  if (!errors.empty()) {
    std::string message = "api settings:";
    for (const auto& e : errors) message += "\n  " + e;
    throw ApiError(message);
  }
  for (const auto& t : settings_.tokens) {
    HashedToken h{t.name, t.role, {}};
    hex_to_digest(t.sha256, h.digest);  // checked above
    tokens_.push_back(h);
  }
}

ApiServer::~ApiServer() {
  stop();
}

void ApiServer::set_access_log(std::function<void(const std::string&)> log) {
  std::lock_guard lock(log_mu_);
  access_log_ = std::move(log);
}

void ApiServer::set_security_log(std::function<void(const std::string&)> log) {
  std::lock_guard lock(log_mu_);
  security_log_ = std::move(log);
}

ApiServer::Stats ApiServer::stats() const {
  Stats s;
  s.requests = requests_.load();
  s.unauthorized = unauthorized_.load();
  s.forbidden = forbidden_.load();
  s.rate_limited = rate_limited_.load();
  s.client_errors = client_errors_.load();
  s.server_errors = server_errors_.load();
  s.connections_open = connections_open_.load();
  s.connections_refused = connections_refused_.load();
  s.connections_evicted = connections_evicted_.load();
  s.connections_no_fd = connections_no_fd_.load();
  s.handshake_timeouts = handshake_timeouts_.load();
  s.request_timeouts = request_timeouts_.load();
  s.headers_too_large = headers_too_large_.load();
  s.bodies_too_large = bodies_too_large_.load();
  s.log_suppressed = log_suppressed_.load();
  return s;
}

void ApiServer::count(int status) {
  ++requests_;
  if (status == 401)
    ++unauthorized_;
  else if (status == 403)
    ++forbidden_;
  else if (status == 429)
    ++rate_limited_;
  else if (status >= 500)
    ++server_errors_;
  else if (status >= 400)
    ++client_errors_;
}

// Caller holds log_mu_.
void ApiServer::emit_security(const std::string& line) {
  if (security_log_)
    security_log_(line);
  else
    std::fprintf(stderr, "trabouled: %s\n", line.c_str());
}

// At most log_lines_per_s lines in each one-second window; the lines over it are only counted,
// and the next window starts with one "suppressed K" line (written by the next event or by the
// connection loop, which calls flush_security_log() at least once a second).
void ApiServer::security_event(const std::string& line) {
  std::lock_guard lock(log_mu_);
  const auto now = Clock::now();
  if (now - log_window_ >= std::chrono::seconds(1)) {
    if (log_window_suppressed_ > 0)
      emit_security("api: suppressed " + std::to_string(log_window_suppressed_) +
                    " more security log lines in the last second");
    log_window_ = now;
    log_lines_ = 0;
    log_window_suppressed_ = 0;
  }
  if (log_lines_ < settings_.log_lines_per_s) {
    ++log_lines_;
    emit_security(line);
  } else {
    ++log_window_suppressed_;
    ++log_suppressed_;
  }
}

void ApiServer::flush_security_log() {
  std::lock_guard lock(log_mu_);
  if (log_window_suppressed_ == 0 || Clock::now() - log_window_ < std::chrono::seconds(1)) return;
  emit_security("api: suppressed " + std::to_string(log_window_suppressed_) +
                " more security log lines in the last second");
  log_window_ = Clock::now();
  log_lines_ = 0;
  log_window_suppressed_ = 0;
}

std::optional<ApiRole> ApiServer::role_of(std::string_view authorization) const {
  const std::string token = bearer_token(authorization);
  if (token.empty()) return std::nullopt;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  std::optional<ApiRole> role;
  for (const auto& t : tokens_)
    if (CRYPTO_memcmp(digest, t.digest, sizeof digest) == 0) role = t.role;
  return role;
}

// --- connections ----------------------------------------------------------------------------
//
// Why not httplib's own listener: in cpp-httplib 0.11.4 (Debian's, compiled into
// libcpp-httplib.so, so its CPPHTTPLIB_* limits cannot be changed by defining macros here) the
// accept loop hands every accepted socket straight to a TaskQueue worker, which then blocks in
// the TLS handshake and in reading the request, each recv bounded only by the read timeout: four
// clients sending a byte every 4 s hold four workers for as long as they like, before any token
// is seen. Its header reader keeps every header line (each up to 8 KB, no count limit) and its
// line reader has no length limit at all. So:
//
//  - one event-loop thread (Net::run) accepts; refuses a source address (IPv6: a /64) that
//    already has max_connections_per_client open; at max_connections closes the oldest
//    connection still in the loop (never one in a worker); does each TLS handshake and reads
//    each request head without blocking, within handshake_timeout_s (from accept),
//    idle_timeout_s (before a request's first byte) and request_timeout_s (total from the first
//    byte: a byte every few seconds does not extend it). A head over max_header_bytes or with
//    more than max_header_count header lines is answered 431 there and the connection closed:
//    at most max_header_bytes (+ one TLS read) is ever buffered per connection.
//  - a complete head is queued: to the operator queue if its bearer token is an operator's,
//    else to the general queue. `threads` general workers take operator work first, then
//    general; `operator_threads` reserved workers take only operator work. Taking a worker
//    needs a complete head, and each request is then bounded by request_timeout_s (body
//    included), so strangers and viewers may delay each other but never an operator.
//  - a worker runs httplib's request parser and router (Server::process_request) over
//    TlsStream, which serves the buffered head and then reads the body from TLS before the
//    request's deadline, and then gives the connection back to the loop for keep-alive.
//  - bodies: POST/PUT/PATCH/DELETE handlers read the body through httplib's ContentReader,
//    which hands over decoded bytes (after chunked transfer coding and gzip/brotli content
//    coding), and stop at max_body_bytes with 413: httplib 0.11.4 applies
//    payload_max_length only to Content-Length, never to a chunked or compressed body.

namespace {

constexpr size_t kMaxRequestsPerConnection = 100;
constexpr size_t kLingerBytes = 16 << 20;
constexpr auto kLinger = std::chrono::seconds(1);

Clock::duration seconds_of(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  std::string ip;
  int port = 0;
  std::string source;  // the per-source key: the IPv4 address, or the IPv6 /64
  Clock::time_point accepted;
  Clock::time_point deadline;       // of the current phase, while in the loop
  Clock::time_point request_start;  // the current request's first byte
  bool handshaken = false;
  bool started = false;  // the current request's first byte has arrived
  bool want_write = false;
  std::string in;  // read ahead (a request head), consumed from in_pos
  size_t in_pos = 0;
  size_t served = 0;

  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
  size_t buffered() const { return in.size() - in_pos; }
  std::string_view pending() const { return std::string_view(in).substr(in_pos); }
};

bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    // Rounded up: false only once the deadline has passed.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r > 0) return true;  // POLLERR and POLLHUP too: the next read or write says what
    if (r < 0 && errno != EINTR) return false;
  }
}

void endpoint(const sockaddr_storage& ss, std::string& ip, int& port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
    port = ntohs(a.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr))
      ::inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], buf, sizeof buf);
    else
      ::inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
    port = ntohs(a.sin6_port);
  }
  ip = buf;
}

// One host has a whole IPv6 /64 to pick addresses from: count it as one source.
std::string source_key(const sockaddr_storage& ss, const std::string& ip) {
  if (ss.ss_family != AF_INET6) return ip;
  const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) return ip;
  in6_addr net = a.sin6_addr;
  std::memset(&net.s6_addr[8], 0, 8);
  char buf[INET6_ADDRSTRLEN] = "";
  ::inet_ntop(AF_INET6, &net, buf, sizeof buf);
  return std::string(buf) + "/64";
}

// What a request's handlers tell the worker serving it about the connection.
struct RequestFlags {
  bool close = false;  // do not keep the connection alive
  bool drain = false;  // the request's body was not read: discard it before closing
};
thread_local RequestFlags* tl_flags = nullptr;

void close_after(httplib::Response& res, bool drain) {
  if (tl_flags) {
    tl_flags->close = true;
    tl_flags->drain = tl_flags->drain || drain;
  }
  res.set_header("Connection", "close");
}

// httplib's Stream over a connection's TLS session: first the head the loop read ahead, then
// TLS reads, all before the request's deadline; writes before their own deadline.
class TlsStream final : public httplib::Stream {
 public:
  TlsStream(Conn& c, Clock::time_point read_deadline, Clock::duration write_budget)
      : c_(c), read_deadline_(read_deadline), write_budget_(write_budget) {}

  bool is_readable() const override {
    return c_.buffered() > 0 || SSL_pending(c_.ssl) > 0 || wait_fd(c_.fd, POLLIN, read_deadline_);
  }
  bool is_writable() const override { return wait_fd(c_.fd, POLLOUT, write_deadline()); }

  ssize_t read(char* ptr, size_t size) override {
    if (c_.buffered() > 0) {
      const size_t n = std::min(size, c_.buffered());
      std::memcpy(ptr, c_.in.data() + c_.in_pos, n);
      c_.in_pos += n;
      if (c_.in_pos == c_.in.size()) {
        c_.in.clear();
        c_.in_pos = 0;
      }
      return static_cast<ssize_t>(n);
    }
    if (size == 0) return 0;
    return io(read_deadline_, [&] {
      return SSL_read(c_.ssl, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    });
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (size == 0) return 0;
    return io(write_deadline(), [&] {
      return SSL_write(c_.ssl, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    });
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.ip;
    port = c_.port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(c_.fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) endpoint(ss, ip, port);
  }
  int socket() const override { return c_.fd; }
  bool timed_out() const { return timed_out_; }

 private:
  template <typename Op>
  ssize_t io(Clock::time_point deadline, Op op) {
    for (;;) {
      if (Clock::now() >= deadline) {
        timed_out_ = true;
        return -1;
      }
      ERR_clear_error();
      const int r = op();
      if (r > 0) return r;
      const int e = SSL_get_error(c_.ssl, r);
      const short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (ev == 0) return -1;
      if (!wait_fd(c_.fd, ev, deadline)) {
        timed_out_ = Clock::now() >= deadline;
        return -1;
      }
    }
  }
  Clock::time_point write_deadline() const {
    if (!write_start_) write_start_ = Clock::now();
    return *write_start_ + write_budget_;
  }

  Conn& c_;
  const Clock::time_point read_deadline_;
  const Clock::duration write_budget_;
  mutable std::optional<Clock::time_point> write_start_;
  bool timed_out_ = false;
};

// httplib's parser and router, driven by our own connection handling.
class Engine : public httplib::Server {
 public:
  bool serve(httplib::Stream& strm, bool last, bool& closed, SSL* ssl) {
    return process_request(strm, last, closed, [ssl](httplib::Request& req) { req.ssl = ssl; });
  }
};

enum class Head { kIncomplete, kComplete, kTooLarge };

Head check_head(std::string_view v, size_t max_bytes, unsigned max_lines) {
  const size_t end = v.find("\r\n\r\n");
  const size_t len = end == std::string_view::npos ? v.size() : end + 4;
  if (len > max_bytes) return Head::kTooLarge;
  // Lines after the request line, the blank line that ends the head not counted.
  size_t lines = 0;
  for (size_t i = 0; i < len; ++i) lines += v[i] == '\n';
  const size_t headers = lines == 0 ? 0 : lines - 1 - (end == std::string_view::npos ? 0 : 1);
  if (headers > max_lines) return Head::kTooLarge;
  return end == std::string_view::npos ? Head::kIncomplete : Head::kComplete;
}

// The value of the head's Authorization header ("" when absent).
std::string_view authorization_of(std::string_view head) {
  constexpr std::string_view kName = "authorization:";
  size_t i = head.find("\r\n");
  while (i != std::string_view::npos && i + 2 < head.size()) {
    const size_t start = i + 2;
    const size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, (end == std::string_view::npos ? head.size() : end) - start);
    if (line.size() > kName.size()) {
      bool match = true;
      for (size_t k = 0; k < kName.size() && match; ++k)
        match = std::tolower(static_cast<unsigned char>(line[k])) == kName[k];
      if (match) {
        std::string_view value = line.substr(kName.size());
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
          value.remove_prefix(1);
        return value;
      }
    }
    i = end;
  }
  return {};
}

}  // namespace

struct ApiServer::Net {
  Net(ApiServer& a, SSL_CTX* c, int lfd) : api(a), s(a.settings_), ctx(c), listen_fd(lfd) {
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  ~Net() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (spare_fd >= 0) ::close(spare_fd);
    for (int fd : wake)
      if (fd >= 0) ::close(fd);
    SSL_CTX_free(ctx);
  }

  ApiServer& api;
  const ApiSettings& s;
  SSL_CTX* ctx;
  int listen_fd;
  int wake[2] = {-1, -1};
  // A descriptor kept in reserve: when the process runs out (EMFILE), it is closed to accept
  // the pending connection and close it at once, so the backlog drains and the peer gets a
  // prompt close; without it the listening socket stays readable and the loop spins.
  int spare_fd = -1;
  Clock::time_point accept_paused_until{};
  Engine engine;
  std::thread loop;
  std::vector<std::thread> workers;
  std::atomic<bool> stopping{false};

  std::vector<std::unique_ptr<Conn>> waiting;  // the loop's own

  std::mutex back_mu;  // connections workers give back for keep-alive
  std::vector<std::unique_ptr<Conn>> back;

  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<std::unique_ptr<Conn>> op_q, gen_q;
  bool q_stop = false;

  std::mutex src_mu;
  std::unordered_map<std::string, unsigned> per_source;
  size_t open = 0;

  void start_threads() {
    loop = std::thread([this] { run(); });
    for (unsigned i = 0; i < s.threads; ++i) workers.emplace_back([this] { work(false); });
    for (unsigned i = 0; i < s.operator_threads; ++i) workers.emplace_back([this] { work(true); });
  }

  void stop() {
    stopping = true;
    poke();
    if (loop.joinable()) loop.join();
    {
      std::lock_guard lock(q_mu);
      q_stop = true;
    }
    q_cv.notify_all();
    for (auto& t : workers)
      if (t.joinable()) t.join();
    workers.clear();
    for (auto& c : op_q) drop(std::move(c));
    for (auto& c : gen_q) drop(std::move(c));
    op_q.clear();
    gen_q.clear();
    std::lock_guard lock(back_mu);
    for (auto& c : back) drop(std::move(c));
    back.clear();
  }

  void poke() {
    const char b = 1;
    [[maybe_unused]] auto n = ::write(wake[1], &b, 1);
  }

  void security(const Conn& c, const std::string& what) {
    api.security_event("api: " + c.ip + " " + what);
  }

  // Every connection ends here (it was counted at accept).
  void drop(std::unique_ptr<Conn> c) {
    if (!c) return;
    {
      std::lock_guard lock(src_mu);
      auto it = per_source.find(c->source);
      if (it != per_source.end() && --it->second == 0) per_source.erase(it);
      --open;
      api.connections_open_ = open;
    }
    if (c->handshaken) SSL_shutdown(c->ssl);  // close_notify, best effort (non-blocking)
  }

  // The peer may still be sending a body we did not read: closing now would reset the
  // connection, and the client could lose the answer. Stop writing, discard what comes, for a
  // bounded time and amount.
  static void linger(Conn& c) {
    SSL_shutdown(c.ssl);
    ::shutdown(c.fd, SHUT_WR);
    const auto until = Clock::now() + kLinger;
    size_t total = 0;
    char buf[16384];
    while (total < kLingerBytes && wait_fd(c.fd, POLLIN, until)) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
  }

  // The 431 answer, written by the loop without blocking (best effort), before closing.
  void refuse_head(Conn& c) {
    ++api.headers_too_large_;
    api.count(431);
    const std::string body =
        error_body("request_header_fields_too_large",
                   "the request line and headers are over " + std::to_string(s.max_header_bytes) +
                       " bytes or " + std::to_string(s.max_header_count) + " header lines")
            .dump() +
        "\n";
    const std::string msg =
        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    ERR_clear_error();
    SSL_write(c.ssl, msg.data(), static_cast<int>(msg.size()));
    security(c, "request head over " + std::to_string(s.max_header_bytes) + " bytes or " +
                    std::to_string(s.max_header_count) + " header lines: 431, closed");
  }

  void enqueue(std::unique_ptr<Conn> c) {
    const auto role = api.role_of(authorization_of(c->pending()));
    {
      std::lock_guard lock(q_mu);
      (role == ApiRole::kOperator ? op_q : gen_q).push_back(std::move(c));
    }
    q_cv.notify_all();
  }

  // Advances one connection in the loop: handshake, then the request head. Leaves `slot`
  // empty when the connection went to a worker or was closed.
  void step(std::unique_ptr<Conn>& slot) {
    Conn& c = *slot;
    if (!c.handshaken) {
      ERR_clear_error();
      const int r = SSL_accept(c.ssl);
      if (r != 1) {
        const int e = SSL_get_error(c.ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          c.want_write = e == SSL_ERROR_WANT_WRITE;
          return;
        }
        return drop(std::move(slot));  // not TLS, or a version or cipher we refuse
      }
      c.handshaken = true;
      c.deadline = Clock::now() + seconds_of(s.idle_timeout_s);
    }
    for (;;) {
      switch (check_head(c.pending(), s.max_header_bytes, s.max_header_count)) {
        case Head::kComplete:
          return enqueue(std::move(slot));
        case Head::kTooLarge:
          refuse_head(c);
          return drop(std::move(slot));
        case Head::kIncomplete:
          break;
      }
      char buf[4096];
      // Never more than one byte past the limit.
      const size_t room = s.max_header_bytes + 1 - c.buffered();
      ERR_clear_error();
      const int r = SSL_read(c.ssl, buf, static_cast<int>(std::min(sizeof buf, room)));
      if (r > 0) {
        if (!c.started) {
          c.started = true;
          c.request_start = Clock::now();
          c.deadline = c.request_start + seconds_of(s.request_timeout_s);
        }
        c.in.append(buf, static_cast<size_t>(r));
        continue;
      }
      const int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c.want_write = e == SSL_ERROR_WANT_WRITE;
        return;
      }
      return drop(std::move(slot));  // closed by the peer, or a TLS error
    }
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors: make room by closing the oldest waiting connection, or else
          // refuse the newcomer with the spare descriptor.
          if (!waiting.empty()) {
            evict_oldest();
            return;
          }
          refuse_without_descriptor();
        }
        return;
      }
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      endpoint(ss, c->ip, c->port);
      c->source = source_key(ss, c->ip);
      bool refused = false;
      size_t now_open = 0;
      {
        std::lock_guard lock(src_mu);
        unsigned& n = per_source[c->source];
        if (n >= s.max_connections_per_client) {
          refused = true;
        } else {
          ++n;
          now_open = ++open;
          api.connections_open_ = open;
        }
      }
      if (refused) {
        ++api.connections_refused_;
        security(*c, "over " + std::to_string(s.max_connections_per_client) + " connections from " +
                         c->source + ": refused");
        continue;  // ~Conn closes it
      }
      if (now_open > s.max_connections) {
        if (waiting.empty()) {  // all are being served: the newcomer waits its turn elsewhere
          ++api.connections_refused_;
          security(*c, "over " + std::to_string(s.max_connections) + " connections: refused");
          drop(std::move(c));
          continue;
        }
        evict_oldest();
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c->ssl = SSL_new(ctx);
      if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
        drop(std::move(c));
        continue;
      }
      SSL_set_accept_state(c->ssl);
      c->accepted = Clock::now();
      c->deadline = c->accepted + seconds_of(s.handshake_timeout_s);
      waiting.push_back(std::move(c));
    }
  }

  void refuse_without_descriptor() {
    ++api.connections_no_fd_;
    if (spare_fd >= 0) {
      ::close(spare_fd);
      spare_fd = -1;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
      if (fd >= 0) {
        Conn c;  // not counted as open: only for the log line; its destructor closes fd
        c.fd = fd;
        endpoint(ss, c.ip, c.port);
        security(c, "out of file descriptors: connection closed at accept");
      }
      spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    // Still none (the spare could not be had back): stop polling the listening socket for a
    // moment rather than spin on it.
    if (spare_fd < 0) accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
  }

  void evict_oldest() {
    auto oldest =
        std::min_element(waiting.begin(), waiting.end(),
                         [](const auto& a, const auto& b) { return a->accepted < b->accepted; });
    ++api.connections_evicted_;
    security(**oldest, "connection closed to make room (over " + std::to_string(s.max_connections) +
                           " connections)");
    drop(std::move(*oldest));
    waiting.erase(oldest);
  }

  void run() {
    std::vector<pollfd> fds;
    while (!stopping) {
      {
        std::vector<std::unique_ptr<Conn>> returned;
        {
          std::lock_guard lock(back_mu);
          returned.swap(back);
        }
        // Data may already wait in TLS buffers, where poll() cannot see it.
        for (auto& c : returned) {
          step(c);
          if (c) waiting.push_back(std::move(c));
        }
      }
      fds.clear();
      const bool paused = Clock::now() < accept_paused_until;
      fds.push_back({listen_fd, static_cast<short>(paused ? 0 : POLLIN), 0});
      fds.push_back({wake[0], POLLIN, 0});
      auto next = Clock::now() + std::chrono::seconds(1);
      if (paused) next = std::min(next, accept_paused_until);
      for (const auto& c : waiting) {
        fds.push_back({c->fd, static_cast<short>(c->want_write ? POLLOUT : POLLIN), 0});
        next = std::min(next, c->deadline);
      }
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count() + 1;
      const int r =
          ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(ms, 0, 1000)));
      if (r < 0 && errno != EINTR) break;
      if (stopping) break;
      api.flush_security_log();
      if (r > 0 && (fds[1].revents & POLLIN)) {
        char buf[64];
        while (::read(wake[0], buf, sizeof buf) > 0) {
        }
      }
      for (size_t i = 0; r > 0 && i < waiting.size(); ++i)
        if (fds[i + 2].revents) step(waiting[i]);
      const auto now = Clock::now();
      for (auto& c : waiting) {
        if (!c || now < c->deadline) continue;
        if (!c->handshaken) {
          ++api.handshake_timeouts_;
          security(*c,
                   "TLS handshake not done within " + shown(s.handshake_timeout_s) + " s: closed");
        } else if (c->started) {
          ++api.request_timeouts_;
          security(*c,
                   "request head not received within " + shown(s.request_timeout_s) + " s: closed");
        }  // else idle between requests: an ordinary keep-alive end
        drop(std::move(c));
      }
      std::erase_if(waiting, [](const auto& c) { return !c; });
      if (r > 0 && (fds[0].revents & POLLIN)) accept_all();
    }
    for (auto& c : waiting) drop(std::move(c));
    waiting.clear();
  }

  void work(bool reserved) {
    for (;;) {
      std::unique_ptr<Conn> c;
      {
        std::unique_lock lock(q_mu);
        q_cv.wait(lock, [&] { return q_stop || !op_q.empty() || (!reserved && !gen_q.empty()); });
        if (q_stop) return;
        auto& q = !op_q.empty() ? op_q : gen_q;
        c = std::move(q.front());
        q.pop_front();
      }
      serve(std::move(c));
    }
  }

  void serve(std::unique_ptr<Conn> c) {
    RequestFlags flags;
    tl_flags = &flags;
    TlsStream strm(*c, c->request_start + seconds_of(s.request_timeout_s),
                   seconds_of(s.request_timeout_s));
    bool closed = false;
    const bool last = c->served + 1 >= kMaxRequestsPerConnection || stopping;
    const bool ok = engine.serve(strm, last, closed, c->ssl);
    tl_flags = nullptr;
    ++c->served;
    if (strm.timed_out()) {
      ++api.request_timeouts_;
      security(*c, "request not received or answer not taken within " + shown(s.request_timeout_s) +
                       " s: closed");
    }
    if (!ok || closed || last || flags.close || strm.timed_out() || stopping) {
      if (flags.drain && !strm.timed_out()) linger(*c);
      return drop(std::move(c));
    }
    c->started = false;
    c->want_write = false;
    c->deadline = Clock::now() + seconds_of(s.idle_timeout_s);
    if (c->buffered() > 0) {  // a pipelined request
      c->started = true;
      c->request_start = Clock::now();
      c->deadline = c->request_start + seconds_of(s.request_timeout_s);
    }
    {
      std::lock_guard lock(back_mu);
      back.push_back(std::move(c));
    }
    poke();
  }
};

namespace {

// TLS 1.3 is negotiated whenever the client has it; 1.2 only with forward-secret AEAD. False
// with tls_error set when a setting, the certificate or the key is refused.
bool setup_tls(SSL_CTX& ctx, const ApiSettings& settings, std::string& tls_error) {
  ERR_clear_error();
  if (!SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_cipher_list(&ctx,
                               "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")) {
    tls_error = "TLS settings refused: " + openssl_error();
    return false;
  }
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Idle connections keep no read/write buffers.
  SSL_CTX_set_mode(&ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(&ctx, settings.cert_file.c_str()) != 1) {
    tls_error = "cert_file " + settings.cert_file + ": " + openssl_error();
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    tls_error = "key_file " + settings.key_file + ": " + openssl_error();
    return false;
  }
  if (SSL_CTX_check_private_key(&ctx) != 1) {
    tls_error = "key_file " + settings.key_file + " does not match cert_file " +
                settings.cert_file + ": " + openssl_error();
    return false;
  }
  return true;
}

SSL_CTX* new_tls_context(const ApiSettings& settings) {
  std::string tls_error;
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw ApiError("api: TLS context: " + openssl_error());
  if (!setup_tls(*ctx, settings, tls_error)) {
    SSL_CTX_free(ctx);
    throw ApiError("api: " + tls_error);
  }
  return ctx;
}

// The listening socket (non-blocking: the loop accepts until EAGAIN). On failure, frees ctx
// and throws.
int listen_socket(const ApiSettings& settings, SSL_CTX* ctx) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  addrinfo* ai = nullptr;
  const std::string where = settings.listen_address + " port " + std::to_string(settings.port);
  if (::getaddrinfo(settings.listen_address.c_str(), std::to_string(settings.port).c_str(), &hints,
                    &ai) != 0 ||
      !ai) {
    SSL_CTX_free(ctx);
    throw ApiError("api: cannot listen on " + where + ": not an IP address");
  }
  int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  int err = 0;
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0)
    err = errno;
  ::freeaddrinfo(ai);
  if (err != 0) {
    if (fd >= 0) ::close(fd);
    SSL_CTX_free(ctx);
    throw ApiError("api: cannot listen on " + where + ": " + std::strerror(err));
  }
  return fd;
}

// Errors httplib answers by itself (400 on a bad request line, 414) get the same JSON error
// body as ours.
httplib::Server::HandlerResponse answer_httplib_error(size_t max, httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  const int s = res.status;
  if (s == 413)
    send_error(res, 413, "payload_too_large",
               "the request body is larger than " + std::to_string(max) + " bytes");
  else if (s == 414)
    send_error(res, 414, "uri_too_long", "the request line is too long");
  else if (s >= 500)
    send_error(res, s, "internal", "HTTP " + std::to_string(s));
  else
    send_error(res, s, s == 404 ? "not_found" : "bad_request",
               "the request could not be parsed (HTTP " + std::to_string(s) + ")");
  return httplib::Server::HandlerResponse::Handled;
}

void answer_exception(httplib::Response& res, std::exception_ptr ep) {
  std::string what = "unexpected error";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  send_error(res, 500, "internal", what);
}

}  // namespace

void ApiServer::start() {
  if (net_) throw ApiError("api: already started");
  // OpenSSL writes to its socket with write(2), not send(MSG_NOSIGNAL): a client that resets
  // its connection while we answer (or send close_notify) would raise SIGPIPE, whose default
  // action kills the whole daemon, data plane included. systemd ignores it for the unit; a
  // daemon run from a shell, a lab or a test must too. EPIPE is handled where it is returned.
  std::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = new_tls_context(settings_);
  int fd = listen_socket(settings_, ctx);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  std::string ip;
  int port = 0;
  endpoint(ss, ip, port);

  auto net = std::make_unique<Net>(*this, ctx, fd);
  if (::pipe2(net->wake, O_NONBLOCK | O_CLOEXEC) != 0)
    throw ApiError(std::string("api: pipe: ") + std::strerror(errno));
  install_handlers(net->engine);
  port_ = static_cast<uint16_t>(port);
  net_ = std::move(net);
  net_->start_threads();
}

void ApiServer::install_handlers(httplib::Server& server) {
  server.set_payload_max_length(settings_.max_body_bytes);
  server.set_keep_alive_timeout(static_cast<time_t>(std::ceil(settings_.idle_timeout_s)));
  server.set_keep_alive_max_count(kMaxRequestsPerConnection);
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!gate(req, res)) return httplib::Server::HandlerResponse::Unhandled;
    // Answered before its body was read: that body must not be parsed as the next request.
    if (req.method != "GET" && req.method != "HEAD" &&
        (req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0")))
      close_after(res, true);
    return httplib::Server::HandlerResponse::Handled;
  });
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    dispatch(req, res);
  };
  auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
    dispatch_with_body(req, res, reader);
  };
  server.Get(".*", handler);
  server.Post(".*", httplib::Server::HandlerWithContentReader(with_body));
  server.Put(".*", httplib::Server::HandlerWithContentReader(with_body));
  server.Patch(".*", httplib::Server::HandlerWithContentReader(with_body));
  server.Delete(".*", httplib::Server::HandlerWithContentReader(with_body));
  server.Options(".*", handler);
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [max = settings_.max_body_bytes](const httplib::Request&, httplib::Response& res) {
        return answer_httplib_error(max, res);
      }));
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                                  std::exception_ptr ep) { answer_exception(res, ep); });
  server.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { log_request(req, res); });
}

// Bodies are read here, decoded, and never past max_body_bytes (see the comment above Net).
void ApiServer::dispatch_with_body(const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader) {
  const size_t max = settings_.max_body_bytes;
  if (req.is_multipart_form_data()) {
    close_after(res, true);
    return send_error(res, 415, "unsupported_media_type", "multipart bodies are not accepted");
  }
  std::string body;
  bool too_large = false;
  const bool ok = reader([&](const char* data, size_t n) {
    if (n > max - body.size()) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large || res.status == 413) {
    ++bodies_too_large_;
    close_after(res, true);
    return send_error(res, 413, "payload_too_large",
                      "the request body is larger than " + std::to_string(max) + " bytes");
  }
  if (!ok) {
    close_after(res, false);
    return send_error(res, 400, "bad_request", "the request body could not be read");
  }
  httplib::Request with = req;
  with.body = std::move(body);
  dispatch(with, res);
}

void ApiServer::log_request(const httplib::Request& req, const httplib::Response& res) {
  count(res.status);
  const int s = res.status;
  if (s == 401 || s == 403 || s == 429 || s == 413) {
    // Never the token: only whether one was sent.
    std::string path = req.path.substr(0, 100);
    for (char& ch : path)
      if (ch < 0x21 || ch > 0x7e) ch = '?';
    const char* why =
        s == 401   ? (req.has_header("Authorization") ? "unknown or malformed token" : "no token")
        : s == 403 ? "token lacks the role"
        : s == 429 ? "rate limited"
                   : "body too large";
    security_event("api: " + req.remote_addr + " " + req.method.substr(0, 10) + " " + path + " " +
                   std::to_string(s) + " (" + why + ")");
  }
  std::lock_guard lock(log_mu_);
  if (access_log_)
    access_log_("api: " + req.remote_addr + " " + req.method + " " + req.path + " " +
                std::to_string(res.status));
}

void ApiServer::stop() {
  if (!net_) return;
  net_->stop();
  net_.reset();
}

bool ApiServer::admit(const std::string& client, double& retry_after_s) {
  const auto now = Clock::now();
  const double burst = settings_.burst;
  std::lock_guard lock(buckets_mu_);
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxBuckets) {
      // A full bucket holds no history worth keeping.
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        const double idle_s = std::chrono::duration<double>(now - b->second.last).count();
        if (b->second.tokens + idle_s * settings_.rate_per_s >= burst)
          b = buckets_.erase(b);
        else
          ++b;
      }
    }
    // Still full: the newcomers share one bucket rather than grow the table without bound.
    const std::string key = buckets_.size() >= kMaxBuckets ? std::string("*") : client;
    it = buckets_.try_emplace(key, Bucket{burst, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed_s = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(burst, b.tokens + elapsed_s * settings_.rate_per_s);
  b.last = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  retry_after_s = (1.0 - b.tokens) / settings_.rate_per_s;
  return false;
}

std::optional<ApiServer::Caller> ApiServer::authenticate(const httplib::Request& req,
                                                         httplib::Response& res) {
  const std::string header = req.get_header_value("Authorization");
  const std::string token = bearer_token(header);
  if (token.empty()) {
    res.set_header("WWW-Authenticate", kRealm);
    send_error(res, 401, "unauthorized",
               header.empty() ? "an Authorization: Bearer <token> header is required"
                              : "the Authorization header is not \"Bearer <token>\"");
    return std::nullopt;
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  // Every entry is compared, in constant time, so timing says nothing about which is close.
  const HashedToken* match = nullptr;
  for (const auto& t : tokens_)
    if (CRYPTO_memcmp(digest, t.digest, sizeof digest) == 0) match = &t;
  if (!match) {
    res.set_header("WWW-Authenticate", std::string(kRealm) + ", error=\"invalid_token\"");
    send_error(res, 401, "unauthorized", "the bearer token is not valid");
    return std::nullopt;
  }
  return Caller{match->name, match->role};
}

bool ApiServer::gate(const httplib::Request& req, httplib::Response& res) {
  double retry_after_s = 0;
  if (!admit(req.remote_addr, retry_after_s)) {
    const long secs = std::max(1L, static_cast<long>(std::ceil(retry_after_s)));
    res.set_header("Retry-After", std::to_string(secs));
    send_error(res, 429, "too_many_requests",
               "more than " + std::to_string(settings_.burst) + " requests at once or " +
                   std::to_string(settings_.rate_per_s) + " per second from " + req.remote_addr +
                   "; retry in " + std::to_string(secs) + " s");
    return true;
  }
  // The web view's static files hold no data: no token (a browser cannot send one on a page
  // load). Rate-limited like the rest.
  if (is_web_view_path(req.path) && settings_.web_view) return false;
  auto caller = authenticate(req, res);
  if (!caller) return true;

  const std::string_view path = req.path;
  const std::string_view method = req.method == "HEAD" ? "GET" : req.method;
  const Route* found = nullptr;
  std::string allow;
  if (path.substr(0, kBasePath.size()) == kBasePath) {
    const std::string_view rest = path.substr(kBasePath.size());
    for (const auto& r : routes()) {
      if (!path_matches(r.path, rest)) continue;
      if (r.method == method) found = &r;
      if (allow.find(r.method) == std::string::npos)
        allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    }
  }
  if (!found) {
    if (allow.empty()) {
      send_error(res, 404, "not_found", "no such endpoint: " + req.method + " " + req.path);
    } else {
      res.set_header("Allow", allow);
      send_error(res, 405, "method_not_allowed",
                 req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
    }
    return true;
  }
  if (found->role == ApiRole::kOperator && caller->role != ApiRole::kOperator) {
    send_error(res, 403, "forbidden",
               "token \"" + caller->name + "\" has role " + to_string(caller->role) + "; " +
                   req.method + " " + req.path + " needs role operator");
    return true;
  }
  return false;
}

void ApiServer::dispatch(const httplib::Request& req, httplib::Response& res) {
  if (is_web_view_path(req.path) && settings_.web_view) return serve_web_view(req, res);
  httplib::Response scratch;
  auto caller = authenticate(req, scratch);  // gate() has already answered a failure
  if (!caller) {
    res = scratch;
    return;
  }
  const std::string_view method = req.method == "HEAD" ? "GET" : req.method;
  const std::string_view rest =
      std::string_view(req.path).substr(std::min(kBasePath.size(), req.path.size()));
  for (const auto& b : table()) {
    if (b.route.method != method || !path_matches(b.route.path, rest)) continue;
    try {
      (this->*b.handler)(req, res, *caller);
    } catch (const PolicyOpError& e) {
      send_op_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, 500, "internal", e.what());
    }
    return;
  }
  send_error(res, 404, "not_found", "no such endpoint: " + req.method + " " + req.path);
}

// --- web view ---------------------------------------------------------------------------------

bool ApiServer::is_web_view_path(std::string_view path) {
  return path == "/ui" || path.substr(0, 4) == "/ui/";
}

void ApiServer::serve_web_view(const httplib::Request& req, httplib::Response& res) {
  if (req.method != "GET" && req.method != "HEAD") {
    res.set_header("Allow", "GET, HEAD");
    return send_error(res, 405, "method_not_allowed", "the web view is read with GET");
  }
  if (req.path == "/ui") {
    res.status = 301;
    res.set_header("Location", "/ui/");
    return;
  }
  // Scripts only from here, no inline code, nothing framed: an injected string cannot run.
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                 "frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  const std::string_view file = std::string_view(req.path).substr(4);
  if (file.empty() || file == "index.html") {
    res.status = 200;
    return res.set_content(webui::kIndexHtml, "text/html; charset=utf-8");
  }
  if (file == "app.js") {
    res.status = 200;
    return res.set_content(webui::kAppJs, "text/javascript; charset=utf-8");
  }
  if (file == "style.css") {
    res.status = 200;
    return res.set_content(webui::kStyleCss, "text/css; charset=utf-8");
  }
  if (file == "chart.js") {
    std::call_once(chart_once_, [this] { chart_js_ = read_chart_js(settings_.chart_js_file); });
    if (chart_js_.empty())
      return send_error(res, 404, "not_found",
                        "no chart library: " + settings_.chart_js_file +
                            " is missing (Debian package libjs-chart.js)");
    res.status = 200;
    return res.set_content(chart_js_, "text/javascript; charset=utf-8");
  }
  send_error(res, 404, "not_found", "no such file in the web view: " + shown_text(req.path));
}

std::string ApiServer::read_chart_js(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string text;
  constexpr size_t kMax = 4u << 20;  // Chart.js 3 is ~200 kB minified
  char buf[65536];
  while (in && text.size() <= kMax) {
    in.read(buf, sizeof buf);
    text.append(buf, static_cast<size_t>(in.gcount()));
  }
  return text.size() > kMax ? std::string() : text;
}

void ApiServer::get_link_history(const httplib::Request& req, httplib::Response& res,
                                 const Caller&) {
  if (refuse_unknown_params(req, {"range"}, res)) return;
  const std::string range = req.has_param("range") ? req.get_param_value("range") : "hour";
  if (range != "hour" && range != "day")
    return send_bad_request(res, {{"?range", shown_text(range), "one of hour, day"}});
  send_json(res, 200, state_.link_history(range));
}

void ApiServer::get_runtime(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, state_.runtime());
}

// --- policy ---------------------------------------------------------------------------------

void ApiServer::get_status(const httplib::Request& req, httplib::Response& res,
                           const Caller& caller) {
  if (refuse_unknown_params(req, {}, res)) return;
  const PolicyStatus s = policies_.status();
  json daemon = state_.status();
  const json api = api_counters();
  send_json(res, 200,
            {{"caller", {{"name", caller.name}, {"role", to_string(caller.role)}}},
             {"uptime_s", std::chrono::duration<double>(Clock::now() - started_).count()},
             {"policy",
              {{"running_version", s.running_version},
               {"running_hash", s.running_hash},
               {"committed_version", s.committed_version},
               {"pending", pending_json(s.pending)},
               {"auto_rollbacks", s.auto_rollbacks},
               {"corrupt_files", s.corrupt_files},
               {"warnings", s.warnings}}},
             {"api", api},
             {"daemon", std::move(daemon)}});
}

json ApiServer::api_counters() const {
  const Stats st = stats();
  return {{"requests", st.requests},
          {"unauthorized", st.unauthorized},
          {"forbidden", st.forbidden},
          {"rate_limited", st.rate_limited},
          {"client_errors", st.client_errors},
          {"server_errors", st.server_errors},
          {"connections_open", st.connections_open},
          {"connections_refused", st.connections_refused},
          {"connections_evicted", st.connections_evicted},
          {"connections_no_fd", st.connections_no_fd},
          {"handshake_timeouts", st.handshake_timeouts},
          {"request_timeouts", st.request_timeouts},
          {"headers_too_large", st.headers_too_large},
          {"bodies_too_large", st.bodies_too_large},
          {"log_suppressed", st.log_suppressed}};
}

void ApiServer::get_metrics(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  MetricsInput in;
  in.daemon = state_.status();
  in.uplinks = state_.uplinks();
  in.counters = state_.counters("");
  in.drops = state_.drops();
  in.api = api_counters();
  in.apps = state_.app_traffic(std::numeric_limits<size_t>::max());
  res.status = 200;
  res.set_content(render_prometheus(in), kPrometheusContentType);
}

void ApiServer::get_events(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {"since", "class", "limit"}, res)) return;
  int64_t since_ms = 0;
  std::string incident;
  size_t limit = 1000;
  std::vector<PolicyError> bad;
  if (req.has_param("since")) {  // seconds since the epoch
    const std::string v = req.get_param_value("since");
    auto n = parse_u64(v);
    if (!n || *n > 253402300799ULL)
      bad.push_back({"?since", shown_text(v), "seconds since 1970-01-01 UTC (an integer)"});
    else
      since_ms = static_cast<int64_t>(*n) * 1000;
  }
  if (req.has_param("class")) {
    incident = req.get_param_value("class");
    if (incident != "P0" && incident != "P1" && incident != "P2")
      bad.push_back({"?class", shown_text(incident), "one of P0, P1, P2"});
  }
  if (req.has_param("limit")) {
    const std::string v = req.get_param_value("limit");
    auto n = parse_u64(v);
    if (!n || *n < 1 || *n > 100000)
      bad.push_back({"?limit", shown_text(v), "an integer from 1 to 100000"});
    else
      limit = static_cast<size_t>(*n);
  }
  if (!bad.empty()) return send_bad_request(res, bad);
  send_json(res, 200, state_.events(since_ms, incident, limit));
}

void ApiServer::get_availability(const httplib::Request& req, httplib::Response& res,
                                 const Caller&) {
  if (refuse_unknown_params(req, {"month", "format"}, res)) return;
  std::vector<PolicyError> bad;
  std::optional<std::pair<int, int>> month;
  if (!req.has_param("month")) {
    bad.push_back({"?month", "", "required: the calendar month, YYYY-MM"});
  } else {
    month = parse_month(req.get_param_value("month"));
    if (!month)
      bad.push_back({"?month", shown_text(req.get_param_value("month")), "a month, YYYY-MM"});
  }
  std::string format = req.has_param("format") ? req.get_param_value("format") : "json";
  if (format != "json" && format != "csv")
    bad.push_back({"?format", shown_text(format), "json or csv"});
  if (!bad.empty()) return send_bad_request(res, bad);
  if (format == "csv") {
    res.status = 200;
    res.set_content(state_.availability_csv(month->first, month->second), "text/csv");
    return;
  }
  send_json(res, 200, state_.availability(month->first, month->second));
}

void ApiServer::get_policy(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, to_json(policies_.running_version(), true));
}

void ApiServer::get_history(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  const PolicyStatus s = policies_.status();
  json versions = json::array();
  for (const auto& v : policies_.history()) versions.push_back(to_json(v, false));
  send_json(res, 200,
            {{"running_version", s.running_version},
             {"committed_version", s.committed_version},
             {"pending", pending_json(s.pending)},
             {"versions", std::move(versions)}});
}

void ApiServer::get_version(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  const std::string_view n = std::string_view(req.path).substr(req.path.rfind('/') + 1);
  auto version = parse_u64(n);
  if (!version || *version == 0) {
    send_bad_request(res, {{"{n}", shown_text(n), "a version number (1, 2, ...) is expected"}});
    return;
  }
  auto rec = policies_.get(*version);
  if (!rec) {
    send_error(res, 404, "not_found",
               "version " + std::to_string(*version) + " does not exist (or its file is corrupt)");
    return;
  }
  send_json(res, 200, to_json(*rec, true));
}

void ApiServer::get_diff(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {"from", "to"}, res)) return;
  std::vector<PolicyError> errors;
  auto number = [&](const char* key, bool required) -> std::optional<uint64_t> {
    if (!req.has_param(key)) {
      if (required) errors.push_back({std::string("?") + key, "", "required"});
      return std::nullopt;
    }
    const std::string v = req.get_param_value(key);
    auto n = parse_u64(v);
    if (!n || *n == 0)
      errors.push_back({std::string("?") + key, shown_text(v), "a version number is expected"});
    return n;
  };
  auto from = number("from", true);
  auto to = number("to", false);
  if (!errors.empty()) {
    send_bad_request(res, errors);
    return;
  }
  const uint64_t target = to ? *to : policies_.status().running_version;
  json patch = policies_.diff(*from, target);
  send_json(res, 200, {{"from", *from}, {"to", target}, {"patch", std::move(patch)}});
}

void ApiServer::post_validate(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  json doc;
  std::vector<PolicyError> errors;
  if (!parse_body(req.body, doc, errors)) {
    json body = error_body("bad_request", "the policy is not valid JSON", details_json(errors));
    body["valid"] = false;
    send_json(res, 400, body);
    return;
  }
  ValidateResult r = policies_.validate(doc);
  if (!r.errors.empty()) {
    json body = error_body("invalid_policy",
                           "the policy is invalid (" + std::to_string(r.errors.size()) +
                               (r.errors.size() == 1 ? " error)" : " errors)"),
                           details_json(r.errors));
    body["valid"] = false;
    send_json(res, 400, body);
    return;
  }
  send_json(res, 200,
            {{"valid", true},
             {"running_version", policies_.status().running_version},
             {"diff", std::move(r.diff)}});
}

void ApiServer::post_apply(const httplib::Request& req, httplib::Response& res,
                           const Caller& caller) {
  if (refuse_unknown_params(req, {}, res)) return;
  json body;
  std::vector<PolicyError> errors;
  if (!parse_body(req.body, body, errors)) return send_bad_request(res, errors);
  if (!body.is_object()) {
    return send_bad_request(
        res, {{"", shown(body), "a JSON object {policy, comment, confirm_timeout_s} is expected"}});
  }
  refuse_unknown_keys(body, {"policy", "comment", "confirm_timeout_s"}, errors);
  auto policy = body.find("policy");
  if (policy == body.end())
    errors.push_back({"/policy", "", "required"});
  else if (!policy->is_object())
    errors.push_back({"/policy", shown(*policy), "must be a policy document (an object)"});
  const std::string comment = comment_of(body, errors);
  const uint64_t max_timeout_s = PolicyManager::kMaxConfirmTimeout.count();
  auto timeout_s = positive(body, "confirm_timeout_s", max_timeout_s, errors, false);
  if (!errors.empty()) return send_bad_request(res, errors);

  std::optional<std::chrono::milliseconds> timeout;
  if (timeout_s) timeout = std::chrono::seconds(*timeout_s);
  PolicyVersion rec;
  try {
    rec = policies_.apply(*policy, caller.name, comment, timeout);
  } catch (const PolicyOpError& e) {
    return send_op_error(res, e, "/policy");  // pointers into this request's body
  }
  json out = {{"version", to_json(rec, false)}};
  if (rec.parent) out["diff"] = policies_.diff(*rec.parent, rec.version);
  send_json(res, 200, out);
}

void ApiServer::post_confirm(const httplib::Request& req, httplib::Response& res,
                             const Caller& caller) {
  if (refuse_unknown_params(req, {}, res)) return;
  if (!req.body.empty()) {
    json body;
    std::vector<PolicyError> errors;
    if (!parse_body(req.body, body, errors)) return send_bad_request(res, errors);
    if (!body.is_object())
      return send_bad_request(res, {{"", shown(body), "an empty body or {} is expected"}});
    refuse_unknown_keys(body, {}, errors);
    if (!errors.empty()) return send_bad_request(res, errors);
  }
  PolicyVersion rec = policies_.confirm(caller.name);
  send_json(res, 200, {{"version", to_json(rec, false)}});
}

void ApiServer::post_rollback(const httplib::Request& req, httplib::Response& res,
                              const Caller& caller) {
  if (refuse_unknown_params(req, {}, res)) return;
  json body;
  std::vector<PolicyError> errors;
  if (!parse_body(req.body, body, errors)) return send_bad_request(res, errors);
  if (!body.is_object())
    return send_bad_request(res,
                            {{"", shown(body), "a JSON object {version, comment} is expected"}});
  refuse_unknown_keys(body, {"version", "comment"}, errors);
  auto version = positive(body, "version", UINT64_MAX >> 1, errors, true);
  const std::string comment = comment_of(body, errors);
  if (!errors.empty()) return send_bad_request(res, errors);
  PolicyVersion rec;
  try {
    rec = policies_.rollback(*version, caller.name, comment);
  } catch (const PolicyOpError& e) {
    if (e.kind() != PolicyOpErrorKind::kInvalid) throw;
    // The request is well formed: the old document no longer fits this site.
    return send_error(res, 409, "version_not_applicable", e.what(), details_json(e.errors()));
  }
  json out = {{"version", to_json(rec, false)}};
  if (rec.parent) out["diff"] = policies_.diff(*rec.parent, rec.version);
  send_json(res, 200, out);
}

// --- read-only state ------------------------------------------------------------------------

void ApiServer::get_uplinks(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, {{"uplinks", state_.uplinks()}});
}

void ApiServer::get_paths(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, state_.paths());
}

void ApiServer::get_firewall(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {"top"}, res)) return;
  size_t top = kDefaultTop;
  if (!top_param(req, res, top)) return;
  send_json(res, 200, state_.firewall(top));
}

void ApiServer::get_rules(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, {{"rules", state_.rules()}});
}

void ApiServer::get_qos(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, {{"qos", state_.qos()}});
}

void ApiServer::get_routes(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, {{"routes", state_.routes()}});
}

void ApiServer::get_flows(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {"top"}, res)) return;
  size_t top = kDefaultTop;
  if (!top_param(req, res, top)) return;
  send_json(res, 200, {{"top", top}, {"flows", state_.flows(top)}});
}

void ApiServer::get_apps(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, {{"apps", state_.apps()}});
}

void ApiServer::get_apps_top(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {"top"}, res)) return;
  size_t top = kDefaultTop;
  if (req.has_param("top")) {
    const std::string v = req.get_param_value("top");
    const auto n = parse_u64(v);
    if (!n || *n < 1 || *n > kMaxTop)
      return send_bad_request(
          res, {{"?top", shown_text(v), "an integer from 1 to " + std::to_string(kMaxTop)}});
    top = static_cast<size_t>(*n);
  }
  send_json(res, 200, {{"top", top}, {"apps", state_.app_traffic(top)}});
}

void ApiServer::get_counters(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {"prefix"}, res)) return;
  const std::string prefix = req.has_param("prefix") ? req.get_param_value("prefix") : "";
  bool ok = prefix.size() <= kMaxPrefixBytes;
  for (char c : prefix)
    ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                c == '.' || c == '_' || c == '-');
  if (!ok)
    return send_bad_request(
        res, {{"?prefix", shown_text(prefix),
               "up to " + std::to_string(kMaxPrefixBytes) + " of A-Z a-z 0-9 . _ -"}});
  send_json(res, 200, {{"prefix", prefix}, {"counters", state_.counters(prefix)}});
}

void ApiServer::get_drops(const httplib::Request& req, httplib::Response& res, const Caller&) {
  if (refuse_unknown_params(req, {}, res)) return;
  send_json(res, 200, {{"drops", state_.drops()}});
}

}  // namespace traboule::cp

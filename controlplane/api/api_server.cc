// SPDX-License-Identifier: Apache-2.0
#include "controlplane/api/api_server.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

namespace traboule::cp {
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
      {{"GET", "/rules", R::kViewer}, &ApiServer::get_rules},
      {{"GET", "/qos", R::kViewer}, &ApiServer::get_qos},
      {{"GET", "/routes", R::kViewer}, &ApiServer::get_routes},
      {{"GET", "/flows", R::kViewer}, &ApiServer::get_flows},
      {{"GET", "/apps", R::kViewer}, &ApiServer::get_apps},
      {{"GET", "/apps/top", R::kViewer}, &ApiServer::get_apps_top},
      {{"GET", "/counters", R::kViewer}, &ApiServer::get_counters},
      {{"GET", "/drops", R::kViewer}, &ApiServer::get_drops},
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

ApiServer::Stats ApiServer::stats() const {
  return {requests_.load(),     unauthorized_.load(),  forbidden_.load(),
          rate_limited_.load(), client_errors_.load(), server_errors_.load()};
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

void ApiServer::start() {
  if (server_) throw ApiError("api: already started");
  std::string tls_error;
  auto setup = [this, &tls_error](SSL_CTX& ctx) {
    ERR_clear_error();
    // TLS 1.3 is negotiated whenever the client has it; 1.2 only with forward-secret AEAD.
    if (!SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(&ctx,
                                 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")) {
      tls_error = "TLS settings refused: " + openssl_error();
      return false;
    }
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, settings_.cert_file.c_str()) != 1) {
      tls_error = "cert_file " + settings_.cert_file + ": " + openssl_error();
      return false;
    }
    if (SSL_CTX_use_PrivateKey_file(&ctx, settings_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      tls_error = "key_file " + settings_.key_file + ": " + openssl_error();
      return false;
    }
    if (SSL_CTX_check_private_key(&ctx) != 1) {
      tls_error = "key_file " + settings_.key_file + " does not match cert_file " +
                  settings_.cert_file + ": " + openssl_error();
      return false;
    }
    return true;
  };
  auto server = std::make_unique<httplib::SSLServer>(setup);
  if (!server->is_valid())
    throw ApiError("api: " + (tls_error.empty() ? "TLS context: " + openssl_error() : tls_error));

  const unsigned threads = settings_.threads;
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->set_payload_max_length(settings_.max_body_bytes);
  server->set_read_timeout(5, 0);
  server->set_write_timeout(5, 0);
  server->set_keep_alive_timeout(5);
  server->set_keep_alive_max_count(100);
  server->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return gate(req, res) ? httplib::Server::HandlerResponse::Handled
                          : httplib::Server::HandlerResponse::Unhandled;
  });
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    dispatch(req, res);
  };
  server->Get(".*", handler);
  server->Post(".*", handler);
  server->Put(".*", handler);
  server->Patch(".*", handler);
  server->Delete(".*", handler);
  server->Options(".*", handler);
  // Errors httplib answers by itself (413 on a chunked body, 400 on a bad request line) get
  // the same JSON error body as ours.
  // httplib reads and discards an oversized body, then answers 413, so the client (which
  // sends the whole body before reading) sees the answer rather than a reset connection.
  server->set_error_handler(httplib::Server::HandlerWithResponse(
      [max = settings_.max_body_bytes](const httplib::Request&, httplib::Response& res) {
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
      }));
  server->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unexpected error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send_error(res, 500, "internal", what);
      });
  server->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    count(res.status);
    std::lock_guard lock(log_mu_);
    if (access_log_)
      access_log_("api: " + req.remote_addr + " " + req.method + " " + req.path + " " +
                  std::to_string(res.status));
  });

  int port = 0;
  errno = 0;
  if (settings_.port == 0) {
    port = server->bind_to_any_port(settings_.listen_address);
  } else {
    port = server->bind_to_port(settings_.listen_address, settings_.port) ? settings_.port : -1;
  }
  if (port <= 0)
    throw ApiError("api: cannot listen on " + settings_.listen_address + " port " +
                   std::to_string(settings_.port) +
                   (errno ? std::string(": ") + std::strerror(errno) : std::string()));
  port_ = static_cast<uint16_t>(port);
  server_ = std::move(server);
  listener_ = std::thread([this] { server_->listen_after_bind(); });
}

void ApiServer::stop() {
  if (!server_) return;
  server_->stop();
  if (listener_.joinable()) listener_.join();
  server_.reset();
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
  constexpr std::string_view kScheme = "bearer ";
  std::string token;
  if (header.size() > kScheme.size()) {
    bool scheme_ok = true;
    for (size_t i = 0; i < kScheme.size(); ++i)
      scheme_ok = scheme_ok && std::tolower(static_cast<unsigned char>(header[i])) == kScheme[i];
    if (scheme_ok) token = header.substr(kScheme.size());
  }
  while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  while (!token.empty() && token.back() == ' ') token.pop_back();
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

// --- policy ---------------------------------------------------------------------------------

void ApiServer::get_status(const httplib::Request& req, httplib::Response& res,
                           const Caller& caller) {
  if (refuse_unknown_params(req, {}, res)) return;
  const PolicyStatus s = policies_.status();
  json daemon = state_.status();
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
             {"daemon", std::move(daemon)}});
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
  if (req.has_param("top")) {
    const std::string v = req.get_param_value("top");
    auto n = parse_u64(v);
    if (!n || *n < 1 || *n > kMaxTop)
      return send_bad_request(
          res, {{"?top", shown_text(v), "an integer from 1 to " + std::to_string(kMaxTop)}});
    top = static_cast<size_t>(*n);
  }
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

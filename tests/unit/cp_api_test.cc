// SPDX-License-Identifier: Apache-2.0
// The HTTPS API against a real ApiServer on 127.0.0.1 (port picked by the system) with a
// self-signed certificate made here: TLS versions, tokens and roles, every error status with
// its JSON body, the policy operations, commit-confirmed timing, restart and corruption, and
// openapi.yaml held to the route table.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "controlplane/api/api_server.h"
#include "controlplane/store/policy_manager.h"
#include "tests/unit/cp_test_support.h"

namespace traboule::cp {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kViewerToken = "viewer-secret-7f3a";
constexpr const char* kOperatorToken = "operator-secret-91bc";

std::string sha256_of(const std::string& s) {
  return sha256_hex(s);
}

// Each test's own directory, removed afterwards.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("traboule-api") {}
};

using testing::make_certificate;

SiteFacts site() {
  return SiteFacts{{"fiber", "lte"}, "edge"};
}

json policy(const std::string& tag) {
  return {{"version", 1},
          {"uplinks", {{{"name", "fiber"}, {"kind", "fiber"}}, {{"name", "lte"}, {"kind", "4g"}}}},
          {"rules",
           {{{"name", "default"}, {"description", tag}, {"action", {{"egress", "overlay"}}}}}}};
}

json bad_policy() {
  json p = policy("bad");
  p["rules"][0]["action"]["egress"] = "teleport";
  p["uplinks"][1]["name"] = "dsl";
  return p;
}

// Stands in for the daemon: fixed answers, and what it was asked.
class FixedState : public StateSource {
 public:
  json status() override { return {{"role", "edge"}, {"workers", 2}}; }
  json uplinks() override { return json::array({{{"name", "fiber"}, {"up", true}}}); }
  json rules() override { return json::array({{{"name", "default"}, {"flows", 3}}}); }
  json qos() override { return {{"classes", json::array()}}; }
  json routes() override { return json::array({{{"prefix", "0.0.0.0/0"}}}); }
  json flows(size_t top) override {
    last_top = top;
    return json::array({{{"src", "192.168.1.10"}, {"bytes", 1000}}});
  }
  json apps() override { return json::array({{{"name", "teams"}, {"flows", 1}}}); }
  json counters(std::string_view prefix) override {
    last_prefix = std::string(prefix);
    return {{std::string(prefix) + "x", 1}};
  }
  json drops() override {
    if (fail) throw std::runtime_error("telemetry unavailable");
    return {{"parse.truncated", 0}};
  }
  std::atomic<size_t> last_top{0};
  std::string last_prefix;
  std::atomic<bool> fail{false};
};

// What the daemon's activation hook would publish, with when.
class Activations {
 public:
  PolicyManager::Activate hook() {
    return [this](std::shared_ptr<const CompiledPolicy> p) {
      std::lock_guard lock(mu_);
      seen_.push_back({p, Clock::now()});
      cv_.notify_all();
    };
  }
  bool wait_for(size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return seen_.size() >= n; });
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  std::pair<std::shared_ptr<const CompiledPolicy>, Clock::time_point> at(size_t i) {
    std::lock_guard lock(mu_);
    return seen_.at(i);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::shared_ptr<const CompiledPolicy>, Clock::time_point>> seen_;
};

class ApiTest : public testing::CertifiedSuite {
 protected:
  ApiSettings settings() const {
    ApiSettings s;
    s.listen_address = "127.0.0.1";
    s.port = 0;
    s.cert_file = cert();
    s.key_file = key();
    s.tokens = {{"alice", ApiRole::kViewer, sha256_of(kViewerToken)},
                {"bob", ApiRole::kOperator, sha256_of(kOperatorToken)}};
    s.rate_per_s = 1000;
    s.burst = 1000;
    s.threads = 2;
    return s;
  }

  // Store, manager and server over `dir_` (a restart is a second call after stop()).
  void start(std::optional<ApiSettings> s = std::nullopt) {
    store_ = std::make_unique<PolicyStore>(dir_.path());
    manager_ = std::make_unique<PolicyManager>(*store_, site(), activations_.hook());
    warnings_ = manager_->start(policy("boot"));
    server_ = std::make_unique<ApiServer>(s ? *s : settings(), *manager_, state_);
    server_->start();
  }
  void stop() {
    server_.reset();
    manager_.reset();
    store_.reset();
  }
  void TearDown() override { stop(); }

  // Verifies the server's certificate like a real client would.
  std::unique_ptr<httplib::SSLClient> client() const {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    c->set_ca_cert_path(cert().c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(10, 0);
    return c;
  }

  struct Reply {
    int status = 0;
    json body;
    httplib::Headers headers;
  };

  Reply call(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = "") const {
    auto c = client();
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    const std::string full = std::string(ApiServer::kBasePath) + path;
    auto send = [&]() -> httplib::Result {
      if (method == "POST") return c->Post(full.c_str(), h, body, "application/json");
      if (method == "PUT") return c->Put(full.c_str(), h, body, "application/json");
      if (method == "DELETE") return c->Delete(full.c_str(), h);
      if (method == "PATCH") return c->Patch(full.c_str(), h, body, "application/json");
      return c->Get(full.c_str(), h);
    };
    httplib::Result r = send();
    Reply out;
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": " << httplib::to_string(r.error());
      return out;
    }
    out.status = r->status;
    out.headers = r->headers;
    out.body = json::parse(r->body, nullptr, false);
    EXPECT_FALSE(out.body.is_discarded()) << method << " " << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return out;
  }
  Reply get(const std::string& path, const std::string& token = kViewerToken) const {
    return call("GET", path, token);
  }
  Reply post(const std::string& path, const json& body,
             const std::string& token = kOperatorToken) const {
    return call("POST", path, token, body.dump());
  }

  // Every error answer has the same shape.
  static void expect_error(const Reply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body.dump();
    ASSERT_TRUE(r.body.contains("error")) << r.body.dump();
    EXPECT_EQ(r.body["error"]["code"], code) << r.body.dump();
    EXPECT_TRUE(r.body["error"]["message"].is_string());
    EXPECT_FALSE(r.body["error"]["message"].get<std::string>().empty());
  }

  TempDir dir_;
  FixedState state_;
  Activations activations_;
  std::unique_ptr<PolicyStore> store_;
  std::unique_ptr<PolicyManager> manager_;
  std::unique_ptr<ApiServer> server_;
  std::vector<std::string> warnings_;
};

// --- TLS ------------------------------------------------------------------------------------

struct Handshake {
  bool ok = false;
  std::string version;
  unsigned long error = 0;
};

// A bare OpenSSL client limited to [min, max], so the test controls exactly what is offered.
Handshake handshake(uint16_t port, int min_version, int max_version) {
  Handshake h;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(ctx, 0);  // OpenSSL 3 will not even offer TLS 1.1 above level 0
  SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    if (SSL_connect(ssl) == 1) {
      h.ok = true;
      h.version = SSL_get_version(ssl);
      SSL_shutdown(ssl);
    } else {
      h.error = ERR_peek_error();
    }
    SSL_free(ssl);
  }
  ::close(fd);
  SSL_CTX_free(ctx);
  return h;
}

TEST_F(ApiTest, TlsOneThreeByDefaultOneTwoAcceptedOneOneRefused) {
  start();
  const Handshake def = handshake(server_->port(), 0, 0);
  ASSERT_TRUE(def.ok);
  EXPECT_EQ(def.version, "TLSv1.3");
  const Handshake v12 = handshake(server_->port(), TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(v12.ok);
  EXPECT_EQ(v12.version, "TLSv1.2");
  for (int v : {TLS1_1_VERSION, TLS1_VERSION}) {
    const Handshake old = handshake(server_->port(), v, v);
    EXPECT_FALSE(old.ok);
    // The server itself refused: it answered with a protocol_version alert.
    EXPECT_EQ(ERR_GET_REASON(old.error), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
        << ERR_error_string(old.error, nullptr);
  }
}

TEST_F(ApiTest, BadCertificateOrSettingsFailAtStartWithTheReason) {
  store_ = std::make_unique<PolicyStore>(dir_.path());
  manager_ = std::make_unique<PolicyManager>(*store_, site(), nullptr);
  manager_->start(policy("boot"));
  struct Row {
    const char* name;
    std::function<void(ApiSettings&)> edit;
    const char* message;
  };
  const std::vector<Row> rows = {
      {"missing cert", [](ApiSettings& s) { s.cert_file = "/nonexistent/cert.pem"; },
       "/nonexistent/cert.pem"},
      {"key is the cert", [](ApiSettings& s) { s.key_file = s.cert_file; }, "key_file"},
      {"no tokens", [](ApiSettings& s) { s.tokens.clear(); }, "tokens: at least one"},
      {"short hash", [](ApiSettings& s) { s.tokens[0].sha256 = "abc"; }, "tokens/0/sha256"},
      {"duplicate name", [](ApiSettings& s) { s.tokens[1].name = "alice"; }, "tokens/1/name"},
      {"same token twice", [](ApiSettings& s) { s.tokens[1].sha256 = s.tokens[0].sha256; },
       "tokens/1/sha256: the same token"},
      {"bad name", [](ApiSettings& s) { s.tokens[0].name = "a b"; }, "tokens/0/name"},
      {"zero rate", [](ApiSettings& s) { s.rate_per_s = 0; }, "rate_per_s"},
      {"zero threads", [](ApiSettings& s) { s.threads = 0; }, "threads"},
      {"not a local address", [](ApiSettings& s) { s.listen_address = "192.0.2.1"; },
       "cannot listen on 192.0.2.1"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    ApiSettings s = settings();
    row.edit(s);
    try {
      ApiServer server(s, *manager_, state_);
      server.start();
      ADD_FAILURE() << "started";
    } catch (const ApiError& e) {
      EXPECT_NE(std::string(e.what()).find(row.message), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_api_role("operator"), ApiRole::kOperator);
  EXPECT_EQ(parse_api_role("viewer"), ApiRole::kViewer);
  EXPECT_FALSE(parse_api_role("admin"));
}

// --- authentication, roles, routing ---------------------------------------------------------

TEST_F(ApiTest, TokensRolesAndRoutes) {
  start();
  std::mutex log_mu;
  std::vector<std::string> log;
  server_->set_access_log([&](const std::string& line) {
    std::lock_guard lock(log_mu);
    log.push_back(line);
  });
  const std::string apply_body = json({{"policy", policy("x")}}).dump();
  struct Row {
    const char* name;
    std::string method, path, token, body;
    int status;
    const char* code;  // expected error code, "" for success
  };
  const std::vector<Row> rows = {
      {"no token", "GET", "/status", "", "", 401, "unauthorized"},
      {"wrong token", "GET", "/status", "nope", "", 401, "unauthorized"},
      {"token of another case", "GET", "/status", "VIEWER-SECRET-7F3A", "", 401, "unauthorized"},
      {"token prefix", "GET", "/status", "viewer-secret", "", 401, "unauthorized"},
      {"no token, unknown path", "GET", "/nowhere", "", "", 401, "unauthorized"},
      {"viewer reads status", "GET", "/status", kViewerToken, "", 200, ""},
      {"viewer reads history", "GET", "/policy/history", kViewerToken, "", 200, ""},
      {"viewer validates", "POST", "/policy/validate", kViewerToken, policy("v").dump(), 200, ""},
      {"viewer may not apply", "POST", "/policy/apply", kViewerToken, apply_body, 403, "forbidden"},
      {"viewer may not confirm", "POST", "/policy/confirm", kViewerToken, "", 403, "forbidden"},
      {"viewer may not roll back", "POST", "/policy/rollback", kViewerToken, R"({"version": 1})",
       403, "forbidden"},
      {"operator applies", "POST", "/policy/apply", kOperatorToken, apply_body, 200, ""},
      {"unknown path", "GET", "/nowhere", kViewerToken, "", 404, "not_found"},
      {"outside the base", "GET", "/../status", kViewerToken, "", 404, "not_found"},
      {"trailing slash", "GET", "/status/", kViewerToken, "", 404, "not_found"},
      {"version path too deep", "GET", "/policy/versions/1/x", kViewerToken, "", 404, "not_found"},
      {"wrong method", "DELETE", "/policy", kOperatorToken, "", 405, "method_not_allowed"},
      {"PUT on status", "PUT", "/status", kOperatorToken, "{}", 405, "method_not_allowed"},
      {"GET on apply", "GET", "/policy/apply", kOperatorToken, "", 405, "method_not_allowed"},
      {"PATCH on rollback", "PATCH", "/policy/rollback", kOperatorToken, "{}", 405,
       "method_not_allowed"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const Reply r = call(row.method, row.path, row.token, row.body);
    if (*row.code) {
      expect_error(r, row.status, row.code);
    } else {
      EXPECT_EQ(r.status, row.status) << r.body.dump();
    }
    if (row.status == 401) {
      auto it = r.headers.find("WWW-Authenticate");
      ASSERT_NE(it, r.headers.end());
      EXPECT_EQ(it->second.rfind("Bearer", 0), 0u) << it->second;
    }
    if (row.status == 405) {
      auto it = r.headers.find("Allow");
      ASSERT_NE(it, r.headers.end());
      EXPECT_EQ(it->second, row.path == "/policy" || row.path == "/status" ? "GET" : "POST");
    }
  }
  // Only the operator's apply changed anything, and the author is the token's name.
  const Reply h = get("/policy/history");
  ASSERT_EQ(h.body["versions"].size(), 2u);
  EXPECT_EQ(h.body["versions"][1]["author"], "bob");
  const Reply s = get("/status");
  EXPECT_EQ(s.body["caller"]["name"], "alice");
  EXPECT_EQ(s.body["caller"]["role"], "viewer");
  EXPECT_EQ(s.body["daemon"]["role"], "edge");
  EXPECT_EQ(s.body["policy"]["running_version"], 2);
  EXPECT_GE(server_->stats().unauthorized, 5u);
  EXPECT_GE(server_->stats().forbidden, 3u);
  // httplib logs after the reply is sent: the last line may lag the client a little.
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(log_mu);
      if (log.size() >= rows.size() + 2) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(log_mu);
  EXPECT_EQ(log.size(), rows.size() + 2);
  EXPECT_EQ(log.at(0), "api: 127.0.0.1 GET /api/v1/status 401");
  server_->set_access_log(nullptr);
}

TEST_F(ApiTest, AuthorizationHeaderForms) {
  start();
  struct Row {
    const char* name;
    std::string header;
    int status;
  };
  const std::vector<Row> rows = {
      {"lower-case scheme", std::string("bearer ") + kViewerToken, 200},
      {"extra spaces", std::string("Bearer   ") + kViewerToken + "  ", 200},
      {"basic scheme", "Basic YWxpY2U6c2VjcmV0", 401},
      {"scheme only", "Bearer", 401},
      {"scheme and space", "Bearer ", 401},
      {"token without scheme", kViewerToken, 401},
      {"long garbage", "Bearer " + std::string(4000, 'a'), 401},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto c = client();
    auto r = c->Get((std::string(ApiServer::kBasePath) + "/status").c_str(),
                    {{"Authorization", row.header}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, row.status);
  }
}

// --- request bodies -------------------------------------------------------------------------

TEST_F(ApiTest, MalformedBodiesAreRefusedWithEveryError) {
  start();
  struct Row {
    const char* name;
    std::string path, body;
    std::vector<std::string> pointers;  // every error expected, in order
  };
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const std::vector<Row> rows = {
      {"apply: not JSON", "/policy/apply", "{\"policy\": ", {""}},
      {"apply: empty body", "/policy/apply", "", {""}},
      {"apply: an array", "/policy/apply", "[]", {""}},
      {"apply: deep nesting", "/policy/apply", deep, {""}},
      {"apply: no policy", "/policy/apply", R"({"comment": "x"})", {"/policy"}},
      {"apply: duplicate key",
       "/policy/apply",
       R"({"comment": "a", "comment": "b"})",
       {"/comment"}},
      {"apply: duplicate key inside the policy",
       "/policy/apply",
       json({{"policy", policy("x")}}).dump().insert(11, R"("name": "a", "name": "b", )"),
       {"/policy/name"}},
      {"apply: policy is a string", "/policy/apply", R"({"policy": "x"})", {"/policy"}},
      {"apply: three errors at once",
       "/policy/apply",
       R"({"policy": 1, "comment": 2, "confirm_timeout_s": "10", "extra": true})",
       {"/extra", "/policy", "/comment", "/confirm_timeout_s"}},
      {"apply: timeout zero",
       "/policy/apply",
       json({{"policy", policy("x")}, {"confirm_timeout_s", 0}}).dump(),
       {"/confirm_timeout_s"}},
      {"apply: timeout negative",
       "/policy/apply",
       json({{"policy", policy("x")}, {"confirm_timeout_s", -5}}).dump(),
       {"/confirm_timeout_s"}},
      {"apply: timeout fractional",
       "/policy/apply",
       json({{"policy", policy("x")}, {"confirm_timeout_s", 2.5}}).dump(),
       {"/confirm_timeout_s"}},
      {"apply: timeout over a day",
       "/policy/apply",
       json({{"policy", policy("x")}, {"confirm_timeout_s", 86401}}).dump(),
       {"/confirm_timeout_s"}},
      {"apply: comment too long",
       "/policy/apply",
       json({{"policy", policy("x")}, {"comment", std::string(2000, 'c')}}).dump(),
       {"/comment"}},
      {"rollback: no version", "/policy/rollback", R"({"comment": "x"})", {"/version"}},
      {"rollback: version zero", "/policy/rollback", R"({"version": 0})", {"/version"}},
      {"rollback: version text", "/policy/rollback", R"({"version": "1"})", {"/version"}},
      {"rollback: unknown field",
       "/policy/rollback",
       R"({"version": 1, "force": true})",
       {"/force"}},
      {"confirm: unknown field", "/policy/confirm", R"({"please": 1})", {"/please"}},
      {"confirm: not an object", "/policy/confirm", "42", {""}},
      {"validate: not JSON", "/policy/validate", "{\"version\": 1,,}", {""}},
      {"validate: deep nesting", "/policy/validate", deep, {""}},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const Reply r = call("POST", row.path, kOperatorToken, row.body);
    expect_error(r, 400, "bad_request");
    const json& d = r.body["error"]["details"];
    ASSERT_TRUE(d.is_array()) << r.body.dump();
    std::vector<std::string> pointers;
    for (const auto& e : d) {
      pointers.push_back(e["pointer"]);
      EXPECT_TRUE(e["value"].is_string());
      EXPECT_FALSE(e["message"].get<std::string>().empty());
    }
    std::sort(pointers.begin(), pointers.end());
    std::vector<std::string> expected = row.pointers;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(pointers, expected) << r.body.dump();
  }
  EXPECT_EQ(manager_->status().running_version, 1u);  // nothing applied
}

TEST_F(ApiTest, InvalidPolicyErrorsPointIntoTheRequest) {
  start();
  const Reply r = post("/policy/apply", {{"policy", bad_policy()}, {"comment", "broken"}});
  expect_error(r, 400, "invalid_policy");
  ASSERT_GE(r.body["error"]["details"].size(), 2u) << r.body.dump();
  for (const auto& e : r.body["error"]["details"])
    EXPECT_EQ(e["pointer"].get<std::string>().rfind("/policy", 0), 0u) << e.dump();
  EXPECT_EQ(manager_->status().running_version, 1u);
  EXPECT_EQ(activations_.count(), 1u);

  const Reply v = call("POST", "/policy/validate", kViewerToken, bad_policy().dump());
  expect_error(v, 400, "invalid_policy");
  EXPECT_EQ(v.body["valid"], false);
  EXPECT_EQ(v.body["error"]["details"].size(), r.body["error"]["details"].size());
  for (const auto& e : v.body["error"]["details"])  // relative to the document sent
    EXPECT_NE(e["pointer"].get<std::string>().rfind("/policy", 0), 0u) << e.dump();
}

TEST_F(ApiTest, BodyTooLargeIs413) {
  ApiSettings s = settings();
  s.max_body_bytes = 64 * 1024;
  start(s);
  json big = {{"policy", policy("x")}, {"comment", std::string(100 * 1024, 'x')}};
  expect_error(post("/policy/apply", big), 413, "payload_too_large");
  expect_error(call("POST", "/policy/validate", kViewerToken, std::string(2 << 20, ' ')), 413,
               "payload_too_large");
  // Below the limit the same endpoint works.
  EXPECT_EQ(post("/policy/apply", {{"policy", policy("x")}}).status, 200);
}

TEST_F(ApiTest, TooManyRequestsIs429WithRetryAfter) {
  ApiSettings s = settings();
  s.rate_per_s = 0.5;  // a token every two seconds
  s.burst = 3;
  start(s);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/status").status, 200) << i;
  const Reply r = get("/status");
  expect_error(r, 429, "too_many_requests");
  auto it = r.headers.find("Retry-After");
  ASSERT_NE(it, r.headers.end());
  const int retry = std::stoi(it->second);
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 2);
  // Failed authentication is limited too (no free token guessing).
  expect_error(call("GET", "/status", "guess"), 429, "too_many_requests");
  EXPECT_GE(server_->stats().rate_limited, 2u);
}

// --- the policy operations ------------------------------------------------------------------

TEST_F(ApiTest, ValidateApplyHistoryDiffRollback) {
  start();
  const Reply v = call("POST", "/policy/validate", kViewerToken, policy("two").dump());
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.body["valid"], true);
  EXPECT_EQ(v.body["diff"], policy_diff(policy("boot"), policy("two")));
  EXPECT_EQ(manager_->status().running_version, 1u);  // a dry run

  const Reply a = post("/policy/apply", {{"policy", policy("two")}, {"comment", "second"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["version"]["version"], 2);
  EXPECT_EQ(a.body["version"]["state"], "committed");
  EXPECT_EQ(a.body["version"]["author"], "bob");
  EXPECT_EQ(a.body["version"]["comment"], "second");
  EXPECT_FALSE(a.body["version"].contains("policy"));
  EXPECT_EQ(a.body["diff"], policy_diff(policy("boot"), policy("two")));
  EXPECT_EQ(activations_.at(1).first->source, policy("two"));

  const Reply p = get("/policy");
  EXPECT_EQ(p.body["version"], 2);
  EXPECT_EQ(p.body["policy"], policy("two"));
  EXPECT_EQ(p.body["hash"], sha256_hex(canonical_text(policy("two"))));

  EXPECT_EQ(post("/policy/apply", {{"policy", policy("three")}}).status, 200);
  const Reply d = get("/policy/diff?from=1&to=3");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.body["patch"], policy_diff(policy("boot"), policy("three")));
  const Reply d2 = get("/policy/diff?from=1");  // to: the running version
  EXPECT_EQ(d2.body["to"], 3);

  const Reply rb = post("/policy/rollback", {{"version", 1}, {"comment", "undo"}});
  ASSERT_EQ(rb.status, 200) << rb.body.dump();
  EXPECT_EQ(rb.body["version"]["version"], 4);
  EXPECT_EQ(rb.body["version"]["rollback_of"], 1);
  EXPECT_EQ(get("/policy").body["policy"], policy("boot"));

  const Reply h = get("/policy/history");
  ASSERT_EQ(h.body["versions"].size(), 4u);
  EXPECT_EQ(h.body["running_version"], 4);
  EXPECT_EQ(h.body["committed_version"], 4);
  EXPECT_TRUE(h.body["pending"].is_null());
  for (const auto& e : h.body["versions"]) EXPECT_FALSE(e.contains("policy"));

  const Reply one = get("/policy/versions/2");
  EXPECT_EQ(one.body["policy"], policy("two"));
  struct Row {
    const char* name;
    std::string path;
    int status;
    const char* code;
  };
  const std::vector<Row> rows = {
      {"version unknown", "/policy/versions/99", 404, "not_found"},
      {"version not a number", "/policy/versions/two", 400, "bad_request"},
      {"version zero", "/policy/versions/0", 400, "bad_request"},
      {"version overflow", "/policy/versions/99999999999999999999999", 400, "bad_request"},
      {"diff without from", "/policy/diff?to=2", 400, "bad_request"},
      {"diff from text", "/policy/diff?from=x&to=2", 400, "bad_request"},
      {"diff unknown version", "/policy/diff?from=1&to=77", 404, "not_found"},
      {"unknown parameter", "/policy/history?limit=3", 400, "bad_request"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    expect_error(get(row.path), row.status, row.code);
  }
  expect_error(post("/policy/rollback", {{"version", 99}}), 404, "not_found");
}

TEST_F(ApiTest, CommitConfirmedRollsBackWithinOneSecondOfTheDeadline) {
  start();
  const auto t0 = Clock::now();
  const Reply a = post("/policy/apply", {{"policy", policy("risky")}, {"confirm_timeout_s", 2}});
  const auto t1 = Clock::now();
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["version"]["state"], "pending");
  EXPECT_TRUE(a.body["version"]["confirm_deadline"].is_string());
  const Reply s = get("/status");
  EXPECT_EQ(s.body["policy"]["running_version"], 2);
  EXPECT_EQ(s.body["policy"]["pending"]["version"], 2);
  EXPECT_EQ(s.body["policy"]["pending"]["restores_version"], 1);
  EXPECT_LE(s.body["policy"]["pending"]["remaining_s"].get<double>(), 2.0);
  expect_error(post("/policy/apply", {{"policy", policy("another")}}), 409, "conflict");

  ASSERT_TRUE(activations_.wait_for(3, 10s));  // boot, risky, restore
  const auto [restored, when] = activations_.at(2);
  EXPECT_EQ(restored->source, policy("boot"));
  // The deadline lies in [t0 + 2 s, t1 + 2 s]; the restore must follow it within 1 s.
  EXPECT_GE(when - t0, 2s);
  EXPECT_LE(when - t1, 3s) << std::chrono::duration<double>(when - t1).count() << " s";

  const Reply after = get("/status");
  EXPECT_EQ(after.body["policy"]["running_version"], 1);
  EXPECT_TRUE(after.body["policy"]["pending"].is_null());
  EXPECT_EQ(after.body["policy"]["auto_rollbacks"], 1);
  const Reply v = get("/policy/versions/2");
  EXPECT_EQ(v.body["state"], "rolled-back");
  EXPECT_NE(v.body["resolution"]["reason"].get<std::string>().find("not confirmed"),
            std::string::npos);
  expect_error(post("/policy/confirm", json::object()), 409, "conflict");
}

TEST_F(ApiTest, ConfirmCancelsTheAutomaticRollback) {
  start();
  ASSERT_EQ(post("/policy/apply", {{"policy", policy("risky")}, {"confirm_timeout_s", 1}}).status,
            200);
  const Reply c = call("POST", "/policy/confirm", kOperatorToken, "");
  ASSERT_EQ(c.status, 200) << c.body.dump();
  EXPECT_EQ(c.body["version"]["state"], "confirmed");
  EXPECT_EQ(c.body["version"]["resolution"]["author"], "bob");
  std::this_thread::sleep_for(1500ms);  // past the deadline
  EXPECT_EQ(activations_.count(), 2u);  // no restore
  const Reply s = get("/status");
  EXPECT_EQ(s.body["policy"]["running_version"], 2);
  EXPECT_EQ(s.body["policy"]["committed_version"], 2);
  EXPECT_EQ(s.body["policy"]["auto_rollbacks"], 0);
  expect_error(post("/policy/confirm", json::object()), 409, "conflict");
}

TEST_F(ApiTest, RestartRestoresTheLastCommittedVersionNotThePendingOne) {
  start();
  ASSERT_EQ(post("/policy/apply", {{"policy", policy("good")}}).status, 200);
  ASSERT_EQ(
      post("/policy/apply", {{"policy", policy("risky")}, {"confirm_timeout_s", 3600}}).status,
      200);
  stop();
  start();
  const Reply p = get("/policy");
  EXPECT_EQ(p.body["version"], 2);
  EXPECT_EQ(p.body["policy"], policy("good"));
  const Reply s = get("/status");
  EXPECT_TRUE(s.body["policy"]["pending"].is_null());
  EXPECT_EQ(get("/policy/versions/3").body["state"], "rolled-back");
  bool said = false;
  for (const auto& w : s.body["policy"]["warnings"])
    said = said || w.get<std::string>().find("version 3 was pending") != std::string::npos;
  EXPECT_TRUE(said) << s.body.dump();
}

TEST_F(ApiTest, CorruptLatestVersionFallsBackLoudly) {
  start();
  ASSERT_EQ(post("/policy/apply", {{"policy", policy("good")}}).status, 200);
  ASSERT_EQ(post("/policy/apply", {{"policy", policy("latest")}}).status, 200);
  stop();
  const std::string f = dir_.path() + "/policies/000003.json";
  std::string text;
  {
    std::ifstream in(f);
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  text[text.find("latest")] = 'L';  // one byte changed
  std::ofstream(f, std::ios::trunc) << text;
  start();
  const Reply s = get("/status");
  EXPECT_EQ(s.body["policy"]["running_version"], 2);
  EXPECT_EQ(s.body["policy"]["corrupt_files"], 2);  // the file, and the pointer naming it
  std::string all;
  for (const auto& w : s.body["policy"]["warnings"]) all += w.get<std::string>() + "\n";
  EXPECT_NE(all.find("version 3"), std::string::npos) << all;
  EXPECT_NE(all.find("fell back to version 2"), std::string::npos) << all;
  EXPECT_EQ(get("/policy").body["policy"], policy("good"));
  expect_error(get("/policy/versions/3"), 404, "not_found");
}

// --- read-only state ------------------------------------------------------------------------

TEST_F(ApiTest, ReadOnlyStateEndpoints) {
  start();
  struct Row {
    std::string path, key;
    json expected;
  };
  const std::vector<Row> rows = {
      {"/uplinks", "uplinks", state_.uplinks()},
      {"/rules", "rules", state_.rules()},
      {"/qos", "qos", state_.qos()},
      {"/routes", "routes", state_.routes()},
      {"/apps", "apps", state_.apps()},
      {"/drops", "drops", state_.drops()},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.path);
    const Reply r = get(row.path);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body[row.key], row.expected);
  }
  EXPECT_EQ(get("/flows?top=5").body["top"], 5);
  EXPECT_EQ(state_.last_top, 5u);
  EXPECT_EQ(get("/flows").body["top"], 20);
  EXPECT_EQ(get("/counters?prefix=route.rule").body["counters"], json({{"route.rulex", 1}}));
  EXPECT_EQ(state_.last_prefix, "route.rule");
  struct Bad {
    std::string path;
    int status;
    const char* code;
  };
  const std::vector<Bad> bad = {
      {"/flows?top=0", 400, "bad_request"},
      {"/flows?top=abc", 400, "bad_request"},
      {"/flows?top=-1", 400, "bad_request"},
      {"/flows?top=10001", 400, "bad_request"},
      {"/flows?top=99999999999999999999999", 400, "bad_request"},
      {"/counters?prefix=%2F..%2Fetc", 400, "bad_request"},
      {"/counters?prefix=" + std::string(200, 'a'), 400, "bad_request"},
      {"/uplinks?verbose=1", 400, "bad_request"},
  };
  for (const auto& row : bad) {
    SCOPED_TRACE(row.path);
    expect_error(get(row.path), row.status, row.code);
  }
  state_.fail = true;
  const Reply r = get("/drops");
  expect_error(r, 500, "internal");
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("telemetry unavailable"),
            std::string::npos);
}

// The web view: its static files without a token (they hold no data) and with a strict CSP;
// every figure still needs a token; GET /links/history checks its range.
TEST_F(ApiTest, WebViewFilesArePublicAndItsDataIsNot) {
  ApiSettings s = settings();
  TempDir chart_dir;
  s.chart_js_file = chart_dir.path() + "/chart.min.js";
  {
    std::ofstream f(s.chart_js_file);
    f << "/* Chart.js stand-in for the test */ window.Chart = function () {};";
  }
  start(s);
  struct Row {
    const char* path;
    int status;
    const char* type;  // Content-Type prefix
    const char* body;  // a piece of the body
  };
  const Row rows[] = {
      {"/ui/", 200, "text/html", "<canvas id=\"chart-rtt\">"},
      {"/ui/index.html", 200, "text/html", "app.js"},
      {"/ui/app.js", 200, "text/javascript", "/links/history"},
      {"/ui/style.css", 200, "text/css", "--accent"},
      {"/ui/chart.js", 200, "text/javascript", "Chart.js stand-in"},
      {"/ui", 301, "", ""},
      {"/ui/../api/v1/status", 404, "application/json", ""},  // no token, no data: never 200
      {"/ui/app.js.map", 404, "application/json", "no such file"},
      {"/ui/%2e%2e/%2e%2e/etc/passwd", 404, "application/json", ""},
      {"/uix", 401, "application/json", ""},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.path);
    auto c = client();
    auto res = c->Get(r.path);
    ASSERT_TRUE(res);
    if (std::string(r.path) == "/ui/../api/v1/status") {
      EXPECT_NE(res->status, 200);  // normalised or not, a data route without a token is refused
      continue;
    }
    EXPECT_EQ(res->status, r.status);
    EXPECT_EQ(res->get_header_value("Content-Type").rfind(r.type, 0), 0u)
        << res->get_header_value("Content-Type");
    EXPECT_NE(res->body.find(r.body), std::string::npos) << res->body.substr(0, 200);
    if (r.status == 200) {
      EXPECT_NE(res->get_header_value("Content-Security-Policy").find("script-src 'self'"),
                std::string::npos);
      EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
    }
  }
  auto c = client();
  auto post = c->Post("/ui/", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(call("GET", "/links/history", "").status, 401);
  const Reply h = get("/links/history?range=day");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body["range"], "day");
  expect_error(get("/links/history?range=week"), 400, "bad_request");
  expect_error(get("/links/history?range=hour&x=1"), 400, "bad_request");
  stop();
  // Off: the files are gone too (an unknown path without a token: 401).
  s.web_view = false;
  start(s);
  auto off = client()->Get("/ui/");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->status, 401);
}

TEST_F(ApiTest, WebViewWithoutChartLibraryStillServesThePage) {
  ApiSettings s = settings();
  s.chart_js_file = "/nonexistent/chart.min.js";
  start(s);
  auto res = client()->Get("/ui/chart.js");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(res->body.find("libjs-chart.js"), std::string::npos);
  EXPECT_EQ(client()->Get("/ui/")->status, 200);
}

// GET /metrics: the Prometheus text, viewer role, with the state source's figures and the API's
// own counters; no token, no metrics.
TEST_F(ApiTest, MetricsInPrometheusTextFormat) {
  start();
  get("/status");  // at least one request counted
  const std::string full = std::string(ApiServer::kBasePath) + "/metrics";
  httplib::Headers h{{"Authorization", std::string("Bearer ") + kViewerToken}};
  auto r = client()->Get(full.c_str(), h);
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r->body.find("# TYPE traboule_api_requests_total counter\n"), std::string::npos)
      << r->body;
  EXPECT_NE(r->body.find("\ntraboule_api_requests_total "), std::string::npos) << r->body;
  auto anonymous = client()->Get(full.c_str());
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  expect_error(get("/metrics?format=json"), 400, "bad_request");
}

// --- the OpenAPI document -------------------------------------------------------------------

TEST(ApiOpenApi, DocumentMatchesTheRouteTable) {
  const std::string yaml = std::string(TRABOULE_SOURCE_DIR) + "/controlplane/api/openapi.yaml";
  ASSERT_TRUE(fs::exists(yaml)) << yaml;
  // Prints "METHOD path" per operation, after structural checks; exit 3 if yaml is missing.
  const char* script = R"PY(
import sys
try:
    import yaml
except ImportError:
    sys.exit(3)
doc = yaml.safe_load(open(sys.argv[1]))
assert str(doc.get("openapi", "")).startswith("3.0"), "openapi: not 3.0.x"
assert doc["servers"][0]["url"].endswith("/api/v1"), "servers: base path"
schemes = doc["components"]["securitySchemes"]
assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())
assert doc.get("security"), "no global security requirement"
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method == "parameters":
            continue
        codes = set(str(c) for c in op["responses"])
        for c in ("401", "429"):
            assert c in codes, "%s %s: no %s response" % (method, path, c)
        assert any(c.startswith("2") for c in codes), "%s %s: no success" % (method, path)
        if method == "post":
            assert "413" in codes and "400" in codes, "%s %s: no 400/413" % (method, path)
        if "{" in path:
            names = [p["name"] for p in op.get("parameters", []) + item.get("parameters", [])
                     if p.get("in") == "path"]
            assert names, "%s %s: path parameter undeclared" % (method, path)
        print(method.upper(), path)
)PY";
  TempDir tmp;
  const std::string py = tmp.path() + "/check.py";
  std::ofstream(py) << script;
  const std::string out_file = tmp.path() + "/out.txt";
  const int rc =
      std::system(("/usr/bin/python3 " + py + " " + yaml + " > " + out_file + " 2>&1").c_str());
  std::ifstream in(out_file);
  std::set<std::string> documented;
  std::string line, all;
  while (std::getline(in, line)) {
    all += line + "\n";
    documented.insert(line);
  }
  ASSERT_NE(WEXITSTATUS(rc), 3) << "python3-yaml is needed: apt-get install python3-yaml";
  ASSERT_EQ(WEXITSTATUS(rc), 0) << all;
  std::set<std::string> served;
  for (const auto& r : ApiServer::routes())
    served.insert(std::string(r.method) + " " + std::string(r.path));
  EXPECT_EQ(documented, served);
}

}  // namespace
}  // namespace traboule::cp

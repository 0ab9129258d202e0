// SPDX-License-Identifier: Apache-2.0
// traboulectl end to end inside the process: command lines run against scripted API answers.
// Checks requests sent, output, exit codes, and that hostile answers (non-JSON, missing fields,
// wrong types, control characters) give clear messages, never a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/ctl_fake_server.h"
#include "tools/traboulectl/commands.h"

namespace traboule::ctl {
namespace {

using testing::FakeServers;
using Args = std::vector<std::string>;

constexpr const char* kServer = "https://127.0.0.1:8443";
constexpr const char* kPolicy = R"({"version":1,
  "uplinks":[{"name":"fiber","kind":"fiber"},{"name":"vdsl","kind":"vdsl"}],
  "rules":[{"name":"default","action":{"egress":"overlay","uplinks":["fiber","vdsl"]}}]})";

std::string temp_file(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "/ctl_cli_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

class CtlCli : public ::testing::Test {
 protected:
  CliRun run(const Args& args, Environment env = {}) {
    if (!env.token && !env_without_token_) env.token = "secret-token";
    std::ostringstream out, err;
    CliDeps deps;
    deps.make_transport = servers_.factory();
    deps.sleep = [this](double s) { slept_s_ += s; };
    CliRun r;
    r.code = run_cli(args, env, out, err, deps);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  FakeServers servers_;
  double slept_s_ = 0;
  bool env_without_token_ = false;
};

TEST_F(CtlCli, StatusAsTableAndAsJson) {
  const std::string body =
      R"({"caller":{"name":"alice","role":"operator"},"uptime_s":7500,
          "policy":{"running_version":4,"pending":null},
          "daemon":{"role":"edge","uplinks":[{"name":"fiber","link_up":true}]}})";
  servers_.reply(kServer, "GET", "/api/v1/status", 200, body);
  CliRun r = run({"status"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("policy.running_version  4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("uptime                  2h 05m"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("daemon.uplinks:\nNAME   LINK_UP\nfiber  yes\n"), std::string::npos)
      << r.out;
  ASSERT_EQ(servers_.sent().size(), 1u);
  EXPECT_EQ(servers_.sent()[0].token, "secret-token");

  r = run({"status", "--json"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(nlohmann::json::parse(r.out), nlohmann::json::parse(body));
}

TEST_F(CtlCli, ReadCommandsAskTheRightEndpoints) {
  struct Row {
    Args args;
    std::string target;
    std::string body;
    std::string expected;
  };
  const std::vector<Row> rows = {
      {{"links"},
       "/api/v1/uplinks",
       R"({"uplinks":[{"name":"fiber","kind":"fiber","role":"primary","link_up":true,
           "paths":[{"remote":"100.64.100.2:862","state":"up","rtt_us":{"avg":4610,"p99":6100},
                     "jitter_us":{"rtt":421},"window":{"loss_ratio":0.02},
                     "totals":{"sent":10,"received":9},
                     "last_change":{"reason":"5 consecutive probes answered","ago_s":3}}]},
          {"name":"4g","link_up":false}]})",
       "fiber   fiber  primary  up    100.64.100.2:862  up            4.61 ms"},
      {{"flows", "--top", "3"},
       "/api/v1/flows?top=3",
       R"({"top":3,"flows":[{"proto":"udp","src":"10.0.0.1","bytes_out":2000}]})",
       "top  3\n\nPROTO  SRC       BYTES_OUT\nudp    10.0.0.1       2 kB\n"},
      {{"apps", "catalog"}, "/api/v1/apps", R"({"apps":[{"id":1,"name":"teams"}]})", "1  teams"},
      {{"apps", "--top", "2"},
       "/api/v1/apps/top?top=2",
       R"({"top":2,"apps":[{"name":"teams","category":"collaboration","active_flows":3,
           "bytes_out":2000}]})",
       "teams  collaboration             3       2 kB"},
      {{"counters", "route.rule"},
       "/api/v1/counters?prefix=route.rule",
       R"({"prefix":"route.rule","counters":{"route.rule.default.flows":12}})",
       "route.rule.default.flows     12"},
      {{"counters"}, "/api/v1/counters", R"({"prefix":"","counters":{}})", "(empty)"},
      {{"rules"},
       "/api/v1/rules",
       R"({"policy_version":2,"rules":[{"index":0,"name":"default","hits":{"flows":5}}]})",
       "INDEX  NAME     HITS.FLOWS"},
      // The daemon's own shapes: the state wrapped under the endpoint's name.
      {{"rules"},
       "/api/v1/rules",
       R"({"rules":{"policy_version":2,"rules":[{"index":0,"name":"default","hits":{"flows":5}}]}})",
       "policy_version  2\n\nINDEX  NAME     HITS.FLOWS\n    0  default           5\n"},
      {{"drops"},
       "/api/v1/drops",
       R"({"drops":{"total":3,"counters":{"parse.truncated":3}}})",
       "total  3\n\nNAME             VALUE\nparse.truncated      3\n"},
      {{"qos"}, "/api/v1/qos", R"({"qos":[]})", "(none)"},
      // usage: only the usage rows of GET /paths, both directions and the probes' share.
      {{"usage"},
       "/api/v1/paths",
       R"({"rules":[{"rule":"voice"}],"usage":[{"uplink":"4g","month":"2026-12","bytes":3000000,
           "rx_bytes":2500000,"tx_bytes":500000,"probe_bytes":100000,"traffic_bytes":2900000,
           "metered":true,"cap_bytes":50000000000,"cap_reached":false}]})",
       "UPLINK  MONTH"},
      {{"usage"}, "/api/v1/paths", R"({"rules":[]})", "(none)"},
      {{"routes"},
       "/api/v1/routes",
       R"({"routes":[{"prefix":"0.0.0.0/0","via":"fiber"}]})",
       "0.0.0.0/0  fiber"},
      {{"drops"},
       "/api/v1/drops",
       R"({"total":3,"counters":{"parse.truncated":3}})",
       "parse.truncated      3"},
      // show runtime: one row per stage, unknown cycles as "-", hostile rows left out.
      {{"runtime"},
       "/api/v1/runtime",
       R"({"tsc_hz":2000000000,"cycles_per_rx_packet":47.0,"stages":[
           {"name":"parse","calls":4,"packets":100,"timed_packets":32,"timed_cycles":640},
           {"name":"idle","calls":0,"packets":0},{"calls":9},7,
           {"name":"tx","calls":-5,"packets":"x"}]})",
       "parse      4      100                25                 20             10\n"},
      {{"runtime"}, "/api/v1/runtime", R"({"stages":{}})", "(none)"},
      // The journal: time and class once each (no raw time_ms or incident column after them).
      {{"events", "--class", "P1"},
       "/api/v1/events?class=P1",
       R"({"events":[{"seq":4,"time_ms":1796622346000,"source":"links","kind":"uplink",
           "subject":"fiber","state":"down","severity":"error","incident":"P1","text":"t"}]})",
       "CLASS  SEVERITY  KIND    SUBJECT  STATE  TEXT  SEQ  SOURCE\n"},
  };
  for (const auto& row : rows) {
    servers_.reply(kServer, "GET", row.target, 200, row.body);
    const CliRun r = run(row.args);
    EXPECT_EQ(r.code, 0) << row.args[0] << ": " << r.err;
    EXPECT_EQ(servers_.sent().back().target, row.target);
    EXPECT_NE(r.out.find(row.expected), std::string::npos) << row.args[0] << ":\n" << r.out;
  }
}

struct HostileAnswer {
  const char* name;
  int status;
  std::string body;
  int code;
  const char* message;
};

class CtlCliHostile : public CtlCli, public ::testing::WithParamInterface<HostileAnswer> {};

// Every command that talks to the server gets the same hostile answer and must report it.
TEST_P(CtlCliHostile, EveryCommandReportsIt) {
  const auto& row = GetParam();
  const std::string policy = temp_file("hostile_policy.json", kPolicy);
  const std::vector<std::pair<Args, std::pair<std::string, std::string>>> commands = {
      {{"status"}, {"GET", "/api/v1/status"}},
      {{"links"}, {"GET", "/api/v1/uplinks"}},
      {{"usage"}, {"GET", "/api/v1/paths"}},
      {{"flows"}, {"GET", "/api/v1/flows"}},
      {{"policy", "history"}, {"GET", "/api/v1/policy/history"}},
      {{"policy", "show"}, {"GET", "/api/v1/policy"}},
      {{"policy", "show", "2"}, {"GET", "/api/v1/policy/versions/2"}},
      {{"policy", "diff", "1", "2"}, {"GET", "/api/v1/policy/diff?from=1&to=2"}},
      {{"policy", "confirm"}, {"POST", "/api/v1/policy/confirm"}},
      {{"policy", "rollback", "1"}, {"POST", "/api/v1/policy/rollback"}},
      {{"policy", "apply", policy}, {"POST", "/api/v1/policy/apply"}},
      {{"policy", "validate", "--remote", policy}, {"POST", "/api/v1/policy/validate"}},
  };
  for (const auto& [args, endpoint] : commands) {
    servers_.reply(kServer, endpoint.first, endpoint.second, row.status, row.body, "12");
    const CliRun r = run(args);
    EXPECT_EQ(r.code, row.code) << row.name << " / " << args[0] << " " << args.back() << ": "
                                << r.err;
    EXPECT_NE(r.err.find(row.message), std::string::npos)
        << row.name << " / " << args[0] << " " << args.back() << ": " << r.err;
    for (const char c : r.out + r.err) {
      if (c != '\n') {
        EXPECT_GE(static_cast<unsigned char>(c), 0x20) << row.name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlCliHostile,
    ::testing::Values(
        HostileAnswer{"html_200", 200, "<html>hello</html>", 1, "malformed answer"},
        HostileAnswer{"truncated_200", 200, R"({"version":)", 1, "not JSON"},
        HostileAnswer{"unauthorized", 401, R"({"error":{"code":"unauthorized","message":"no"}})", 3,
                      "authentication failed: check --token"},
        HostileAnswer{"forbidden", 403, R"({"error":{"code":"forbidden","message":"viewer"}})", 1,
                      "permission denied"},
        HostileAnswer{"rate_limited", 429, "", 1, "rate limited, retry after 12 s"},
        HostileAnswer{"server_error_html", 500, "<h1>boom\x1b[2J</h1>", 1, "server error (500)"},
        HostileAnswer{"not_found", 404, "", 1, "not found (404)"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(CtlCli, WrongShapesOfSuccessfulAnswers) {
  struct Row {
    Args args;
    std::string method, target, body;
    int code;
    const char* message;  // in stderr
  };
  const std::string policy = temp_file("shapes_policy.json", kPolicy);
  const std::vector<Row> rows = {
      {{"policy", "history"},
       "GET",
       "/api/v1/policy/history",
       R"({"versions":5})",
       1,
       "no list of versions"},
      {{"policy", "history"}, "GET", "/api/v1/policy/history", "[]", 0, ""},
      {{"policy", "history"},
       "GET",
       "/api/v1/policy/history",
       R"({"versions":[7,{"version":"x","hash":5},{}],"running_version":"1"})",
       0,
       ""},
      {{"policy", "show"}, "GET", "/api/v1/policy", R"({"version":3})", 1, "no policy document"},
      {{"policy", "show"}, "GET", "/api/v1/policy", R"({"policy":[1]})", 1, "no policy document"},
      {{"policy", "diff", "1", "2"},
       "GET",
       "/api/v1/policy/diff?from=1&to=2",
       R"({"patch":{}})",
       1,
       "not an RFC 6902 patch"},
      {{"policy", "diff", "1", "2"},
       "GET",
       "/api/v1/policy/diff?from=1&to=2",
       R"({"patch":[{"op":1}]})",
       0,
       ""},
      {{"policy", "confirm"}, "POST", "/api/v1/policy/confirm", "{}", 1, "no \"version\""},
      {{"policy", "confirm"},
       "POST",
       "/api/v1/policy/confirm",
       R"({"version":{"version":-1}})",
       1,
       "not a version number"},
      {{"policy", "apply", policy},
       "POST",
       "/api/v1/policy/apply",
       R"({"version":"7"})",
       1,
       "not a version number"},
      {{"policy", "apply", policy},
       "POST",
       "/api/v1/policy/apply",
       "null",
       1,
       "expected an object"},
      {{"policy", "rollback", "2"},
       "POST",
       "/api/v1/policy/rollback",
       R"([1])",
       1,
       "expected an object"},
      {{"policy", "validate", "--remote", policy},
       "POST",
       "/api/v1/policy/validate",
       R"({"diff":[]})",
       1,
       "no \"valid\""},
      {{"policy", "validate", "--remote", policy},
       "POST",
       "/api/v1/policy/validate",
       R"({"valid":"yes"})",
       1,
       "no \"valid\""},
      {{"policy", "validate", "--remote", policy},
       "POST",
       "/api/v1/policy/validate",
       R"({"valid":false,"errors":[{"pointer":"/x","message":"bad"}]})",
       1,
       "invalid on"},
      {{"status"}, "GET", "/api/v1/status", "", 0, ""},
      {{"links"}, "GET", "/api/v1/uplinks", R"({"uplinks":"none"})", 0, ""},
      {{"flows"}, "GET", "/api/v1/flows", R"({"flows":[1,null,{"src":{"a":[]}}]})", 0, ""},
      {{"counters"}, "GET", "/api/v1/counters", R"({"counters":[{"x":1}]})", 0, ""},
  };
  for (const auto& row : rows) {
    servers_.reply(kServer, row.method, row.target, 200, row.body);
    const CliRun r = run(row.args);
    EXPECT_EQ(r.code, row.code) << row.args[1] << " " << row.body << ": " << r.err;
    EXPECT_NE(r.err.find(row.message), std::string::npos) << row.body << ": " << r.err;
  }
}

TEST_F(CtlCli, ApplySendsThePolicyCommentAndTimeoutAndShowsThePendingDeadline) {
  const std::string policy = temp_file("apply_policy.json", kPolicy);
  servers_.reply(kServer, "POST", "/api/v1/policy/apply", 200,
                 R"({"version":{"version":7,"hash":"0123456789abcdef0123","state":"pending",
                     "confirm_deadline":"2030-01-01T00:02:00Z"},
                     "diff":[{"op":"replace","path":"/name","value":"b"}]})");
  const CliRun r =
      run({"policy", "apply", policy, "--comment", "voice first", "--confirm-timeout", "120"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto sent = nlohmann::json::parse(servers_.sent().back().body);
  EXPECT_EQ(sent["policy"], nlohmann::json::parse(kPolicy));
  EXPECT_EQ(sent["comment"], "voice first");
  EXPECT_EQ(sent["confirm_timeout_s"], 120);
  EXPECT_EQ(r.out,
            "applied: version 7 is running (sha256 0123456789ab…)\n"
            "pending confirmation until 2030-01-01T00:02:00Z: run `traboulectl policy confirm` "
            "before then, or the box rolls back by itself\n"
            "changes:\n"
            "~ /name: \"b\"\n");
}

TEST_F(CtlCli, ApplyAcceptsTheFlatAnswerOfTheContractToo) {
  const std::string policy = temp_file("flat_policy.json", kPolicy);
  servers_.reply(kServer, "POST", "/api/v1/policy/apply", 200,
                 R"({"version":8,"hash":"abc","pending":false})");
  const CliRun r = run({"policy", "apply", policy});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "applied: version 8 is running (sha256 abc)\n");
  const auto sent = nlohmann::json::parse(servers_.sent().back().body);
  EXPECT_FALSE(sent.contains("comment"));
  EXPECT_FALSE(sent.contains("confirm_timeout_s"));
}

TEST_F(CtlCli, ApplyRefusesANonJsonFileWithoutSendingAnything) {
  const std::string policy = temp_file("broken_policy.json", "{\"version\": 1,");
  const CliRun r = run({"policy", "apply", policy});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nothing sent"), std::string::npos) << r.err;
  EXPECT_TRUE(servers_.sent().empty());
}

TEST_F(CtlCli, ValidationErrorsFromTheServerArePrintedOnePerLine) {
  const std::string policy = temp_file("remote_policy.json", kPolicy);
  servers_.reply(
      kServer, "POST", "/api/v1/policy/validate", 400,
      R"j({"valid":false,"error":{"code":"invalid_policy","message":"the policy is invalid (2 errors)",
                     "details":[{"pointer":"/rules/0/action/uplinks/0","value":"\"fibre\"","message":"unknown uplink"},
                                {"pointer":"/uplinks","value":"[]","message":"too short"}]}})j");
  const CliRun r = run({"policy", "validate", "--remote", policy});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out,
            "/rules/0/action/uplinks/0: \"fibre\": unknown uplink\n"
            "/uplinks: []: too short\n");
  EXPECT_NE(r.err.find("the policy is invalid (2 errors)"), std::string::npos);
  // The body sent is the file as it is.
  EXPECT_EQ(servers_.sent().back().body, kPolicy);

  servers_.reply(kServer, "POST", "/api/v1/policy/validate", 200,
                 R"({"valid":true,"running_version":3,"diff":[]})");
  const CliRun ok = run({"policy", "validate", "--remote", policy});
  EXPECT_EQ(ok.code, 0);
  EXPECT_NE(
      ok.out.find(": valid on https://127.0.0.1:8443; applying it would change:\n(no change)"),
      std::string::npos)
      << ok.out;
}

TEST_F(CtlCli, HistoryMarksTheRunningVersionAndThePendingOne) {
  servers_.reply(kServer, "GET", "/api/v1/policy/history", 200,
                 R"({"running_version":2,"committed_version":1,
                     "pending":{"version":2,"deadline":"2030-01-01T00:00:00Z","restores_version":1},
                     "versions":[
                       {"version":1,"state":"committed","time":"t1","author":"trabouled","hash":"aaaaaaaaaaaaaaaaaaaa","comment":"","policy":{}},
                       {"version":2,"state":"pending","time":"t2","author":"alice","hash":"bbbb","comment":"try"}]})");
  const CliRun r = run({"policy", "history"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "VERSION  STATE              TIME  AUTHOR     HASH          COMMENT\n"
            "      1  committed          t1    trabouled  aaaaaaaaaaaa\n"
            "      2  pending (running)  t2    alice      bbbb          try\n"
            "pending: version 2, confirm before 2030-01-01T00:00:00Z or version 1 comes back\n");
}

TEST_F(CtlCli, ShowPrintsTheDocumentAloneOnStdout) {
  servers_.reply(
      kServer, "GET", "/api/v1/policy/versions/3", 200,
      std::string(R"({"version":3,"state":"committed","author":"bob","policy":)") + kPolicy + "}");
  const CliRun r = run({"policy", "show", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out), nlohmann::json::parse(kPolicy));
  EXPECT_NE(r.err.find("author   bob"), std::string::npos) << r.err;
}

TEST_F(CtlCli, ConfirmAndRollback) {
  servers_.reply(kServer, "POST", "/api/v1/policy/confirm", 200,
                 R"({"version":{"version":7,"state":"confirmed"}})");
  CliRun r = run({"policy", "confirm"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "confirmed: version 7 is committed\n");

  servers_.reply(kServer, "POST", "/api/v1/policy/confirm", 409,
                 R"({"error":{"code":"conflict","message":"nothing is pending"}})");
  r = run({"policy", "confirm"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "traboulectl: conflict (409): nothing is pending\n");

  servers_.reply(kServer, "POST", "/api/v1/policy/rollback", 200,
                 R"({"version":{"version":9,"hash":"h","state":"committed","rollback_of":2}})");
  r = run({"policy", "rollback", "2", "--comment", "undo"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "rolled back to version 2: version 9 is running (sha256 h)\n");
  EXPECT_EQ(nlohmann::json::parse(servers_.sent().back().body),
            nlohmann::json::parse(R"({"version":2,"comment":"undo"})"));
}

TEST_F(CtlCli, JsonModeErrorsAreJsonToo) {
  servers_.reply(kServer, "GET", "/api/v1/status", 403,
                 R"({"error":{"code":"forbidden","message":"needs operator"}})");
  CliRun r = run({"--json", "status"});
  EXPECT_EQ(r.code, 1);
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["error"]["code"], "forbidden");
  EXPECT_EQ(doc["http_status"], 403);

  servers_.fail(kServer, TransportFailure::kConnect);
  r = run({"--json", "status"});
  EXPECT_EQ(r.code, 3);
  doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["error"]["code"], "traboulectl");
  EXPECT_EQ(doc["http_status"], 0);
}

TEST_F(CtlCli, UnreachableServerIsExitThree) {
  servers_.fail(kServer, TransportFailure::kTlsVerify);
  const CliRun r = run({"status"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("is not trusted"), std::string::npos) << r.err;
}

TEST_F(CtlCli, ServerAndTokenResolution) {
  servers_.reply("https://box:9443", "GET", "/api/v1/status", 200, "{}");
  const std::string token_file = temp_file("token", "  file-token \n");
  Environment env;
  env.server = "https://box:9443";
  env.token = "env-token";
  CliRun r = run({"status"}, env);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(servers_.sent().back().token, "env-token");
  r = run({"status", "--token-file", token_file}, env);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(servers_.sent().back().token, "file-token");
  r = run({"--token", "flag-token", "status"}, env);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(servers_.sent().back().token, "flag-token");
  EXPECT_EQ(servers_.sent().back().server, "https://box:9443");
}

struct ResolveRow {
  const char* name;
  Args args;
  std::optional<std::string> env_server;
  std::optional<std::string> env_token;
  const char* message;
};

class CtlResolve : public CtlCli, public ::testing::WithParamInterface<ResolveRow> {};

TEST_P(CtlResolve, IsAUsageErrorAndSendsNothing) {
  const auto& row = GetParam();
  env_without_token_ = true;
  Environment env;
  env.server = row.env_server;
  env.token = row.env_token;
  const CliRun r = run(row.args, env);
  EXPECT_EQ(r.code, 2) << row.name << ": " << r.err;
  EXPECT_NE(r.err.find(row.message), std::string::npos) << row.name << ": " << r.err;
  EXPECT_TRUE(servers_.sent().empty());
}

const std::string kEmptyTokenFile = temp_file("empty_token", " \n\t");
const std::string kSpaceTokenFile = temp_file("space_token", "two words\n");

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlResolve,
    ::testing::Values(
        ResolveRow{"no_token", {"status"}, std::nullopt, std::nullopt, "no API token"},
        ResolveRow{
            "empty_env_token", {"status"}, std::nullopt, "", "TRABOULE_TOKEN: the token is empty"},
        ResolveRow{"token_with_newline",
                   {"--token", "a\nb", "status"},
                   std::nullopt,
                   std::nullopt,
                   "--token: the token holds a space"},
        ResolveRow{"token_non_ascii",
                   {"--token", "tök", "status"},
                   std::nullopt,
                   std::nullopt,
                   "non-ASCII"},
        ResolveRow{"missing_token_file",
                   {"--token-file", "/nonexistent/t", "status"},
                   std::nullopt,
                   std::nullopt,
                   "--token-file: cannot read /nonexistent/t"},
        ResolveRow{"empty_token_file",
                   {"--token-file", kEmptyTokenFile, "status"},
                   std::nullopt,
                   std::nullopt,
                   "the token is empty"},
        ResolveRow{"space_token_file",
                   {"--token-file", kSpaceTokenFile, "status"},
                   std::nullopt,
                   std::nullopt,
                   "holds a space"},
        ResolveRow{"bad_env_server",
                   {"status"},
                   "http://box",
                   "t",
                   "TRABOULE_SERVER: bad server URL \"http://box\": plain http is refused"},
        ResolveRow{"bad_flag_server",
                   {"--server", "box:1", "status"},
                   std::nullopt,
                   "t",
                   "--server: bad server URL"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(CtlCli, OfflineValidationUsesTheDaemonsCodeAndNeedsNoServer) {
  const std::string policy = temp_file("offline_policy.json", kPolicy);
  env_without_token_ = true;  // offline: no token, no server needed
  CliRun r = run({"policy", "validate", policy});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("valid for edge with uplinks fiber, vdsl (from the policy); sha256 "),
            std::string::npos)
      << r.out;

  r = run({"policy", "validate", policy, "--uplinks", "fiber,lte"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/uplinks/1/name: \"vdsl\": "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("invalid ("), std::string::npos) << r.err;

  r = run({"policy", "validate", policy, "--uplinks", "fiber,vdsl", "--role", "hub"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/role: "), std::string::npos) << r.out;

  r = run({"policy", "validate", policy, "--config",
           std::string(TRABOULE_SOURCE_DIR) + "/config/examples/edge-lab.json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("(from the config file)"), std::string::npos) << r.out;

  r = run({"--json", "policy", "validate", policy, "--uplinks", "fiber"});
  EXPECT_EQ(r.code, 1);
  const auto report = nlohmann::json::parse(r.out);
  EXPECT_FALSE(report["valid"].get<bool>());
  EXPECT_EQ(report["site"]["uplinks"], nlohmann::json::parse(R"(["fiber"])"));
  EXPECT_EQ(report["site"]["source"], "command line");
  ASSERT_TRUE(report["errors"].is_array());
  EXPECT_FALSE(report["errors"].empty());
  EXPECT_TRUE(servers_.sent().empty());
}

struct OfflineHostileRow {
  const char* name;
  std::string content;  // the policy file; empty name below means "no such file"
  bool exists;
  Args extra;
  const char* message;  // in stdout or stderr
};

class CtlOfflineHostile : public CtlCli, public ::testing::WithParamInterface<OfflineHostileRow> {};

TEST_P(CtlOfflineHostile, IsRefusedWithAClearMessage) {
  const auto& row = GetParam();
  const std::string path = row.exists ? temp_file(std::string("offline_") + row.name, row.content)
                                      : std::string("/nonexistent/policy.json");
  Args args = {"policy", "validate", path};
  args.insert(args.end(), row.extra.begin(), row.extra.end());
  const CliRun r = run(args);
  EXPECT_EQ(r.code, 1) << row.name << ": " << r.err;
  EXPECT_NE((r.out + r.err).find(row.message), std::string::npos) << row.name << ":\n"
                                                                  << r.out << r.err;
  for (const char c : r.out + r.err) {
    if (c != '\n') {
      EXPECT_GE(static_cast<unsigned char>(c), 0x20) << row.name;
    }
  }
}

const std::string kBadConfig = temp_file("bad_config.json", R"({"uplinks": 5})");

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlOfflineHostile,
    ::testing::Values(
        OfflineHostileRow{"missing", "", false, {}, "cannot read /nonexistent/policy.json"},
        OfflineHostileRow{"empty", "", true, {}, "invalid (1 problem)"},
        OfflineHostileRow{"not_json", "version: 1", true, {}, "invalid (1 problem)"},
        OfflineHostileRow{"binary", std::string("\x00\xff\x1b[2J", 6), true, {}, "invalid"},
        OfflineHostileRow{"array", "[1,2]", true, {}, "invalid"},
        OfflineHostileRow{"too_big", std::string(5u << 20, ' '), true, {}, "larger than"},
        OfflineHostileRow{
            "deep", std::string(100000, '[') + std::string(100000, ']'), true, {}, "invalid"},
        OfflineHostileRow{"bad_config", kPolicy, true, {"--config", kBadConfig}, "bad config"},
        OfflineHostileRow{
            "missing_config", kPolicy, true, {"--config", "/nonexistent/c.json"}, "bad config"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(CtlCli, HelpAndUsageErrors) {
  CliRun r = run({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
  r = run({"policy", "bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("traboulectl: unknown command \"bogus\" for `policy`"), std::string::npos);
  EXPECT_TRUE(servers_.sent().empty());
}

}  // namespace
}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
// traboulectl's fleet push: the devices file (hostile rows), and the sequencing against
// scripted boxes: offline validation first, canary first, apply → check → confirm, stop at the
// first failure leaving that box unconfirmed, and the per-device report.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/ctl_fake_server.h"
#include "tools/traboulectl/fleet.h"

namespace traboule::ctl {
namespace {

using testing::FakeServers;

constexpr const char* kPolicy = R"({"version":1,
  "uplinks":[{"name":"fiber","kind":"fiber"},{"name":"vdsl","kind":"vdsl"}],
  "rules":[{"name":"default","action":{"egress":"overlay","uplinks":["fiber","vdsl"]}}]})";

std::vector<FleetDevice> three_devices() {
  std::string error;
  auto devices = parse_devices(R"([
    {"name":"a","server":"https://a:1","token":"ta"},
    {"name":"b","server":"https://b:1","token":"tb"},
    {"name":"c","server":"https://c:1","token":"tc"}])",
                               "", 10, error);
  EXPECT_TRUE(devices.has_value()) << error;
  return *devices;
}

std::string pending_answer(uint64_t v) {
  return R"({"version":{"version":)" + std::to_string(v) +
         R"(,"state":"pending","confirm_deadline":"2030-01-01T00:00:00Z"}})";
}
std::string status_answer(uint64_t v) {
  return R"({"policy":{"running_version":)" + std::to_string(v) + "}}";
}
std::string confirm_answer(uint64_t v) {
  return R"({"version":{"version":)" + std::to_string(v) + R"(,"state":"confirmed"}})";
}

class CtlFleet : public ::testing::Test {
 protected:
  void healthy(const std::string& server, uint64_t version) {
    servers_.reply(server, "POST", "/api/v1/policy/apply", 200, pending_answer(version));
    servers_.reply(server, "GET", "/api/v1/status", 200, status_answer(version));
    servers_.reply(server, "POST", "/api/v1/policy/confirm", 200, confirm_answer(version));
  }
  FleetReport push(const std::vector<FleetDevice>& devices, FleetOptions options = {},
                   const std::string& policy = kPolicy) {
    return run_fleet(
        "p.json", policy, devices, options, servers_.factory(),
        [this](double s) { slept_.push_back(s); },
        [this](const std::string& line) { progress_.push_back(line); });
  }
  // "server METHOD target" of every request, in order.
  std::vector<std::string> calls() const {
    std::vector<std::string> out;
    for (const auto& s : servers_.sent()) out.push_back(s.server + " " + s.method + " " + s.target);
    return out;
  }
  FakeServers servers_;
  std::vector<double> slept_;
  std::vector<std::string> progress_;
};

TEST_F(CtlFleet, AllHealthyCanaryFirstThenInOrder) {
  healthy("https://a:1", 4);
  healthy("https://b:1", 9);
  healthy("https://c:1", 2);
  FleetOptions options;
  options.canary = "b";
  options.settle_s = 1.5;
  options.confirm_timeout_s = 60;
  options.comment = "rollout 12";
  const FleetReport report = push(three_devices(), options);
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.canary, "b");
  ASSERT_EQ(report.devices.size(), 3u);
  EXPECT_EQ(report.devices[0].name, "b");
  EXPECT_TRUE(report.devices[0].canary);
  EXPECT_EQ(report.devices[1].name, "a");
  EXPECT_EQ(report.devices[2].name, "c");
  for (const auto& d : report.devices) {
    EXPECT_EQ(d.outcome, DeviceOutcome::kConfirmed) << d.name << ": " << d.reason;
    EXPECT_TRUE(d.duration_s.has_value());
  }
  EXPECT_EQ(report.devices[0].version.value(), 9u);
  EXPECT_EQ(calls(), (std::vector<std::string>{
                         "https://b:1 POST /api/v1/policy/apply",
                         "https://b:1 GET /api/v1/status",
                         "https://b:1 POST /api/v1/policy/confirm",
                         "https://a:1 POST /api/v1/policy/apply",
                         "https://a:1 GET /api/v1/status",
                         "https://a:1 POST /api/v1/policy/confirm",
                         "https://c:1 POST /api/v1/policy/apply",
                         "https://c:1 GET /api/v1/status",
                         "https://c:1 POST /api/v1/policy/confirm",
                     }));
  EXPECT_EQ(slept_, (std::vector<double>{1.5, 1.5, 1.5}));
  const auto body = nlohmann::json::parse(servers_.sent()[0].body);
  EXPECT_EQ(body["confirm_timeout_s"], 60);
  EXPECT_EQ(body["comment"], "rollout 12");
  EXPECT_EQ(body["policy"], nlohmann::json::parse(kPolicy));
  EXPECT_EQ(servers_.sent()[0].token, "tb");
  EXPECT_FALSE(report.hash.empty());
  const std::string text = render_fleet_report(report);
  EXPECT_NE(text.find("3 confirmed, 0 failed, 0 skipped"), std::string::npos) << text;
}

struct FailureRow {
  const char* name;
  // What device b does wrong.
  std::function<void(FakeServers&)> script;
  const char* reason;                // part of b's reason
  std::vector<std::string> b_calls;  // the requests b receives
};

class CtlFleetFailure : public CtlFleet, public ::testing::WithParamInterface<FailureRow> {};

TEST_P(CtlFleetFailure, StopsAtTheFirstFailureAndLeavesItUnconfirmed) {
  const auto& row = GetParam();
  healthy("https://a:1", 4);
  healthy("https://c:1", 2);
  row.script(servers_);
  const FleetReport report = push(three_devices());
  EXPECT_FALSE(report.ok);
  ASSERT_EQ(report.devices.size(), 3u);
  EXPECT_EQ(report.devices[0].outcome, DeviceOutcome::kConfirmed);
  EXPECT_EQ(report.devices[1].outcome, DeviceOutcome::kFailed);
  EXPECT_NE(report.devices[1].reason.find(row.reason), std::string::npos)
      << row.name << ": " << report.devices[1].reason;
  EXPECT_EQ(report.devices[2].outcome, DeviceOutcome::kSkipped);
  EXPECT_FALSE(report.devices[2].duration_s.has_value());
  std::vector<std::string> b_calls, c_calls;
  for (const auto& s : servers_.sent()) {
    if (s.server == "https://b:1") b_calls.push_back(s.method + " " + s.target);
    if (s.server == "https://c:1") c_calls.push_back(s.method + " " + s.target);
  }
  EXPECT_EQ(b_calls, row.b_calls) << row.name;
  EXPECT_TRUE(c_calls.empty()) << row.name;
  const std::string text = render_fleet_report(report);
  EXPECT_NE(text.find("1 confirmed, 1 failed, 1 skipped"), std::string::npos) << text;
  const auto j = fleet_report_json(report);
  EXPECT_EQ(j["devices"][1]["result"], "failed");
  EXPECT_EQ(j["devices"][2]["result"], "skipped");
  EXPECT_FALSE(j["ok"].get<bool>());
}

const std::vector<std::string> kApplyOnly = {"POST /api/v1/policy/apply"};
const std::vector<std::string> kApplyStatus = {"POST /api/v1/policy/apply", "GET /api/v1/status"};
const std::vector<std::string> kAll = {"POST /api/v1/policy/apply", "GET /api/v1/status",
                                       "POST /api/v1/policy/confirm"};

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlFleetFailure,
    ::testing::Values(
        FailureRow{"wrong_token",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 401,
                             R"({"error":{"code":"unauthorized","message":"bad token"}})");
                   },
                   "apply: authentication failed: check --token", kApplyOnly},
        FailureRow{"invalid_on_the_box",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 400,
                             R"({"error":{"code":"invalid_policy","message":"invalid","details":[
                               {"pointer":"/policy/uplinks/1/name","value":"\"vdsl\"","message":"no such uplink"}]}})");
                   },
                   "invalid: /policy/uplinks/1/name: \"vdsl\": no such uplink", kApplyOnly},
        FailureRow{"unreachable",
                   [](FakeServers& s) { s.fail("https://b:1", TransportFailure::kConnect); },
                   "apply: cannot connect", kApplyOnly},
        FailureRow{"not_pending",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200,
                             R"({"version":{"version":3,"state":"committed"}})");
                   },
                   "did not hold version 3 for confirmation", kApplyOnly},
        FailureRow{"malformed_apply",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200, "<html>");
                   },
                   "apply: malformed answer", kApplyOnly},
        FailureRow{"apply_without_version",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200, R"({"ok":true})");
                   },
                   "apply: malformed answer (no \"version\")", kApplyOnly},
        FailureRow{"status_fails",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200, pending_answer(3));
                     s.reply("https://b:1", "GET", "/api/v1/status", 500, "");
                   },
                   "unhealthy after apply (not confirmed, rolls back by itself): server error",
                   kApplyStatus},
        FailureRow{"status_old_version",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200, pending_answer(3));
                     s.reply("https://b:1", "GET", "/api/v1/status", 200, status_answer(2));
                   },
                   "status reports running version 2, expected 3", kApplyStatus},
        FailureRow{"status_without_version",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200, pending_answer(3));
                     s.reply("https://b:1", "GET", "/api/v1/status", 200,
                             R"({"policy":{"running_version":"3"}})");
                   },
                   "running version (none), expected 3", kApplyStatus},
        FailureRow{"confirm_conflict",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200, pending_answer(3));
                     s.reply("https://b:1", "GET", "/api/v1/status", 200, status_answer(3));
                     s.reply("https://b:1", "POST", "/api/v1/policy/confirm", 409,
                             R"({"error":{"code":"conflict","message":"nothing is pending"}})");
                   },
                   "confirm: conflict (409): nothing is pending", kAll},
        FailureRow{"confirm_other_version",
                   [](FakeServers& s) {
                     s.reply("https://b:1", "POST", "/api/v1/policy/apply", 200, pending_answer(3));
                     s.reply("https://b:1", "GET", "/api/v1/status", 200, status_answer(3));
                     s.reply("https://b:1", "POST", "/api/v1/policy/confirm", 200,
                             confirm_answer(4));
                   },
                   "confirmed version 4, not 3", kAll}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(CtlFleet, CanaryFailureTouchesNoOtherDevice) {
  servers_.reply("https://a:1", "POST", "/api/v1/policy/apply", 403,
                 R"({"error":{"code":"forbidden","message":"viewer token"}})");
  healthy("https://b:1", 1);
  const FleetReport report = push(three_devices());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.devices[0].outcome, DeviceOutcome::kFailed);
  EXPECT_NE(report.devices[0].reason.find("permission denied"), std::string::npos);
  EXPECT_EQ(report.devices[1].outcome, DeviceOutcome::kSkipped);
  EXPECT_EQ(calls(), (std::vector<std::string>{"https://a:1 POST /api/v1/policy/apply"}));
}

TEST_F(CtlFleet, OfflineValidationAgainstEachDevicesUplinksComesFirst) {
  std::string error;
  const auto devices = parse_devices(R"([
    {"name":"a","server":"https://a:1","token":"t","uplinks":["fiber","vdsl"]},
    {"name":"b","server":"https://b:1","token":"t","uplinks":["fiber","lte"]},
    {"name":"c","server":"https://c:1","token":"t"}])",
                                     "", 10, error);
  ASSERT_TRUE(devices.has_value()) << error;
  healthy("https://a:1", 1);
  const FleetReport report = push(*devices);
  EXPECT_FALSE(report.ok);
  EXPECT_TRUE(servers_.sent().empty());  // nothing pushed anywhere
  EXPECT_EQ(report.devices[0].outcome, DeviceOutcome::kSkipped);
  EXPECT_EQ(report.devices[1].outcome, DeviceOutcome::kFailed);
  EXPECT_NE(report.devices[1].reason.find("invalid for this device"), std::string::npos)
      << report.devices[1].reason;
  EXPECT_EQ(report.devices[2].outcome, DeviceOutcome::kSkipped);
  ASSERT_FALSE(report.problems.empty());
  EXPECT_EQ(report.problems[0].rfind("b: ", 0), 0u) << report.problems[0];
}

TEST_F(CtlFleet, PolicyThatDoesNotParseTouchesNothing) {
  const FleetReport report = push(three_devices(), {}, "{\"version\":");
  EXPECT_FALSE(report.ok);
  EXPECT_TRUE(servers_.sent().empty());
  EXPECT_FALSE(report.problems.empty());
  for (const auto& d : report.devices) EXPECT_EQ(d.outcome, DeviceOutcome::kSkipped);
}

TEST_F(CtlFleet, UnknownCanaryTouchesNothing) {
  FleetOptions options;
  options.canary = "zz";
  const FleetReport report = push(three_devices(), options);
  EXPECT_FALSE(report.ok);
  EXPECT_TRUE(servers_.sent().empty());
  EXPECT_NE(report.problems.at(0).find("no device is named \"zz\""), std::string::npos);
}

TEST_F(CtlFleet, RunningVersionOf) {
  using nlohmann::json;
  EXPECT_EQ(running_version_of(json::parse(R"({"policy":{"running_version":3}})")).value(), 3u);
  EXPECT_EQ(running_version_of(json::parse(R"({"running_version":5})")).value(), 5u);
  EXPECT_FALSE(running_version_of(json::parse(R"({"policy":{"running_version":-3}})")));
  EXPECT_FALSE(running_version_of(json::parse(R"({"policy":"3"})")));
  EXPECT_FALSE(running_version_of(json::parse("[3]")));
  EXPECT_FALSE(running_version_of(json::parse("null")));
}

struct DevicesRow {
  const char* name;
  std::string text;
  const char* error;
};

class CtlDevicesFile : public ::testing::TestWithParam<DevicesRow> {};

TEST_P(CtlDevicesFile, HostileRows) {
  const auto& row = GetParam();
  std::string error;
  const auto devices = parse_devices(row.text, ::testing::TempDir(), 10, error);
  EXPECT_FALSE(devices.has_value()) << row.name;
  EXPECT_NE(error.find(row.error), std::string::npos) << row.name << ": " << error;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlDevicesFile,
    ::testing::Values(
        DevicesRow{"not_json", "[{", "/: not valid JSON"},
        DevicesRow{"object", R"({"name":"a"})", "/: must be a non-empty array"},
        DevicesRow{"empty", "[]", "/: must be a non-empty array"},
        DevicesRow{"entry_not_object", "[1]", "/0: must be an object"},
        DevicesRow{"no_name", R"([{"server":"https://a","token":"t"}])", "/0/name: required"},
        DevicesRow{"name_type", R"([{"name":1,"server":"https://a","token":"t"}])",
                   "/0/name: must be a string"},
        DevicesRow{"name_chars", R"([{"name":"a b","server":"https://a","token":"t"}])",
                   "/0/name: must be 1-64 characters"},
        DevicesRow{"duplicate", R"([{"name":"a","server":"https://a","token":"t"},
                                    {"name":"a","server":"https://b","token":"t"}])",
                   "/1/name: device \"a\" is listed twice"},
        DevicesRow{"no_server", R"([{"name":"a","token":"t"}])", "/0/server: required"},
        DevicesRow{"http_server", R"([{"name":"a","server":"http://a","token":"t"}])",
                   "/0/server: bad server URL \"http://a\": plain http is refused"},
        DevicesRow{"no_token", R"([{"name":"a","server":"https://a"}])",
                   "/0: needs exactly one of token and token_file"},
        DevicesRow{"both_tokens",
                   R"([{"name":"a","server":"https://a","token":"t","token_file":"f"}])",
                   "/0: needs exactly one of token and token_file"},
        DevicesRow{"token_space", R"([{"name":"a","server":"https://a","token":"a b"}])",
                   "/0/token: the token holds a space"},
        DevicesRow{"token_empty", R"([{"name":"a","server":"https://a","token":""}])",
                   "/0/token: the token is empty"},
        DevicesRow{"token_file_missing",
                   R"([{"name":"a","server":"https://a","token_file":"nope/t"}])",
                   "/0/token_file: cannot read"},
        DevicesRow{"unknown_field", R"([{"name":"a","server":"https://a","token":"t","tokn":1}])",
                   "/0/tokn: unknown field"},
        DevicesRow{"insecure_type",
                   R"([{"name":"a","server":"https://a","token":"t","insecure":"yes"}])",
                   "/0/insecure: must be true or false"},
        DevicesRow{"ca_and_insecure",
                   R"([{"name":"a","server":"https://a","token":"t","insecure":true,"ca":"c"}])",
                   "/0/ca: ca and insecure exclude each other"},
        DevicesRow{"uplinks_type",
                   R"([{"name":"a","server":"https://a","token":"t","uplinks":"fiber"}])",
                   "/0/uplinks: must be a non-empty array"},
        DevicesRow{"uplinks_bad_name",
                   R"([{"name":"a","server":"https://a","token":"t","uplinks":["fi ber"]}])",
                   "/0/uplinks/0: must be an uplink name"},
        DevicesRow{"uplinks_duplicate",
                   R"([{"name":"a","server":"https://a","token":"t","uplinks":["x","x"]}])",
                   "/0/uplinks/1: uplink \"x\" listed twice"},
        DevicesRow{"role_bad", R"([{"name":"a","server":"https://a","token":"t","role":"spoke"}])",
                   "/0/role: must be edge or hub"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CtlDevicesFileGood, TokenFileAndCaAreRelativeToTheDevicesFile) {
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/ctl_fleet_token") << "file-token\n";
  std::string error;
  const auto devices = parse_devices(R"([{"name":"a","server":"https://[::1]:9","token_file":
      "ctl_fleet_token","ca":"ca.pem","uplinks":["fiber"],"role":"hub"}])",
                                     dir, 4, error);
  ASSERT_TRUE(devices.has_value()) << error;
  const auto& d = devices->front();
  EXPECT_EQ(d.connection.token, "file-token");
  EXPECT_EQ(d.connection.ca_file, (std::filesystem::path(dir) / "ca.pem").string());
  EXPECT_EQ(d.connection.server.host, "::1");
  EXPECT_DOUBLE_EQ(d.connection.timeout_s, 4);
  EXPECT_EQ(d.uplinks.value(), (std::vector<std::string>{"fiber"}));
  EXPECT_EQ(d.role.value(), "hub");
}

}  // namespace
}  // namespace traboule::ctl

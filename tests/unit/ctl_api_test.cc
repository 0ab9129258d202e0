// SPDX-License-Identifier: Apache-2.0
// traboulectl's API client logic: server URLs, the mapping of HTTP and transport failures to
// messages and exit codes, and the parsing of answers (hostile rows: non-JSON, wrong types).
#include <gtest/gtest.h>

#include <string>

#include "tools/traboulectl/api_client.h"

namespace traboule::ctl {
namespace {

struct UrlRow {
  const char* in;
  bool ok;
  const char* host_or_error;
  uint16_t port;
};

class CtlServerUrl : public ::testing::TestWithParam<UrlRow> {};

TEST_P(CtlServerUrl, Rows) {
  const auto& row = GetParam();
  std::string error;
  const auto url = parse_server_url(row.in, error);
  if (row.ok) {
    ASSERT_TRUE(url.has_value()) << row.in << ": " << error;
    EXPECT_EQ(url->host, row.host_or_error);
    EXPECT_EQ(url->port, row.port);
  } else {
    ASSERT_FALSE(url.has_value()) << row.in;
    EXPECT_NE(error.find(row.host_or_error), std::string::npos) << row.in << ": " << error;
    EXPECT_NE(error.find("bad server URL"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlServerUrl,
    ::testing::Values(UrlRow{"https://127.0.0.1:8443", true, "127.0.0.1", 8443},
                      UrlRow{"https://box.example.org", true, "box.example.org", 8443},
                      UrlRow{"HTTPS://Box:1/", true, "Box", 1},
                      UrlRow{"https://[::1]:9443", true, "::1", 9443},
                      UrlRow{"https://h:65535/api/v1", true, "h", 65535},
                      UrlRow{"http://h:8443", false, "plain http is refused", 0},
                      UrlRow{"h:8443", false, "must start with https://", 0},
                      UrlRow{"", false, "must start with https://", 0},
                      UrlRow{"https://", false, "no host", 0},
                      UrlRow{"https://:8443", false, "no host", 0},
                      UrlRow{"https://h:0", false, "port must be 1-65535", 0},
                      UrlRow{"https://h:65536", false, "port must be 1-65535", 0},
                      UrlRow{"https://h:", false, "port must be 1-65535", 0},
                      UrlRow{"https://h:99999999999999999999", false, "port", 0},
                      UrlRow{"https://h:-1", false, "port", 0},
                      UrlRow{"https://h:80x", false, "unexpected \"x\"", 0},
                      UrlRow{"https://h/other", false, "unexpected \"/other\"", 0},
                      UrlRow{"https://user@h", false, "unexpected \"@h\"", 0},
                      UrlRow{"https://h?x=1", false, "unexpected", 0},
                      UrlRow{"https://[::1", false, "unclosed", 0},
                      UrlRow{"https://[zz]:1", false, "bad IPv6 address", 0},
                      UrlRow{"https://[]:1", false, "bad IPv6 address", 0},
                      UrlRow{"https://h\x1b[2J", false, "\\x1b", 0}));

TEST(CtlServerUrl, TextRoundTrips) {
  std::string error;
  EXPECT_EQ(parse_server_url("https://[::1]:9443", error)->text(), "https://[::1]:9443");
  EXPECT_EQ(parse_server_url("https://h", error)->text(), "https://h:8443");
}

struct HttpErrorRow {
  const char* name;
  int status;
  std::string body;
  std::string retry_after;
  int exit_code;
  const char* message;  // a part of the message
  size_t details;
};

class CtlHttpError : public ::testing::TestWithParam<HttpErrorRow> {};

TEST_P(CtlHttpError, Rows) {
  const auto& row = GetParam();
  const CtlError e = map_http_error(row.status, row.body, row.retry_after);
  EXPECT_EQ(e.exit_code, row.exit_code) << row.name;
  EXPECT_EQ(e.http_status, row.status);
  EXPECT_NE(e.message.find(row.message), std::string::npos) << row.name << ": " << e.message;
  EXPECT_EQ(e.details.size(), row.details) << row.name;
  for (const char c : e.message) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << row.name;
}

const std::string kValidationBody =
    R"({"error":{"code":"invalid_policy","message":"policy is invalid",
  "details":[{"pointer":"/rules/2/action/uplinks/0","value":"\"fibre\"","message":"unknown uplink"},
             {"pointer":"","value":"","message":"missing rules"}]}})";

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlHttpError,
    ::testing::Values(
        HttpErrorRow{"unauthorized", 401,
                     R"({"error":{"code":"unauthorized","message":"bad token"}})", "",
                     kExitUnreachable, "authentication failed: check --token", 0},
        HttpErrorRow{"unauthorized_empty", 401, "", "", kExitUnreachable,
                     "authentication failed: check --token", 0},
        HttpErrorRow{"forbidden", 403,
                     R"({"error":{"code":"forbidden","message":"needs operator"}})", "",
                     kExitFailed, "permission denied", 0},
        HttpErrorRow{"validation", 400, kValidationBody, "", kExitFailed, "policy is invalid", 2},
        HttpErrorRow{"rate_limited", 429, R"({"error":{"code":"rate_limited","message":"slow"}})",
                     "7", kExitFailed, "rate limited, retry after 7 s", 0},
        HttpErrorRow{"rate_limited_date", 429, "", "Wed, 21 Oct 2015 07:28:00 GMT", kExitFailed,
                     "rate limited, retry later", 0},
        HttpErrorRow{"rate_limited_garbage", 429, "", "-5", kExitFailed,
                     "rate limited, retry later", 0},
        HttpErrorRow{"rate_limited_huge", 429, "", "99999999999999999999", kExitFailed,
                     "retry later", 0},
        HttpErrorRow{"not_found", 404, R"({"error":{"code":"not_found","message":"no version 9"}})",
                     "", kExitFailed, "not found (404): no version 9", 0},
        HttpErrorRow{"method", 405, "", "", kExitFailed, "method not allowed", 0},
        HttpErrorRow{"conflict", 409,
                     R"({"error":{"code":"conflict","message":"nothing pending"}})", "",
                     kExitFailed, "conflict (409): nothing pending", 0},
        HttpErrorRow{"too_large", 413, "", "", kExitFailed, "too large", 0},
        HttpErrorRow{"server_error", 500, "<html>oops</html>", "", kExitFailed,
                     "server error (500) (answer was not JSON: \"<html>oops</html>\")", 0},
        HttpErrorRow{"teapot", 418, "{}", "", kExitFailed, "unexpected HTTP status 418", 0},
        // Hostile error bodies: the status still decides; nothing crashes.
        HttpErrorRow{"error_is_string", 400, R"({"error":"plain"})", "", kExitFailed,
                     "refused by the server (400): plain", 0},
        HttpErrorRow{"error_is_number", 400, R"({"error":5})", "", kExitFailed,
                     "refused by the server (400)", 0},
        HttpErrorRow{"message_wrong_type", 400, R"({"error":{"message":["x"]}})", "", kExitFailed,
                     "refused by the server (400)", 0},
        HttpErrorRow{"details_not_array", 400, R"({"error":{"message":"m","details":"d"}})", "",
                     kExitFailed, "m", 0},
        HttpErrorRow{"details_odd_items", 400,
                     R"({"error":{"message":"m","details":[1,"s",null,{"pointer":5}]}})", "",
                     kExitFailed, "m", 4},
        HttpErrorRow{"body_array", 400, "[1,2]", "", kExitFailed, "refused by the server (400)", 0},
        HttpErrorRow{"escape_in_message", 403, "{\"error\":{\"message\":\"\\u001b[2Jgone\"}}", "",
                     kExitFailed, "\\x1b[2Jgone", 0},
        HttpErrorRow{"truncated_json", 400, R"({"error":{"message":)", "", kExitFailed,
                     "answer was not JSON", 0},
        HttpErrorRow{"binary", 502, std::string("\x00\xff\xfe", 3), "", kExitFailed,
                     "server error (502) (answer was not JSON: \"\\x00\\xff\\xfe\")", 0}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CtlApi, ValidationDetailsAreFormattedOnePerLine) {
  const CtlError e = map_http_error(400, kValidationBody, "");
  ASSERT_EQ(e.details.size(), 2u);
  EXPECT_EQ(e.details[0], "/rules/2/action/uplinks/0: \"fibre\": unknown uplink");
  EXPECT_EQ(e.details[1], "(document): missing rules");
}

struct DetailRow {
  const char* json;
  const char* out;
};
class CtlDetail : public ::testing::TestWithParam<DetailRow> {};
TEST_P(CtlDetail, Rows) {
  EXPECT_EQ(format_detail(nlohmann::json::parse(GetParam().json)), GetParam().out);
}
INSTANTIATE_TEST_SUITE_P(
    Rows, CtlDetail,
    ::testing::Values(
        DetailRow{R"({"pointer":"/a","value":"1","message":"too big"})", "/a: 1: too big"},
        DetailRow{R"({"pointer":"/a","value":{"x":1},"message":"bad"})", "/a: {\"x\":1}: bad"},
        DetailRow{R"({"pointer":"/a","message":"required"})", "/a: required"},
        DetailRow{R"({"pointer":"/a"})", "/a: (no message)"},
        DetailRow{R"({})", "(document): (no message)"},
        DetailRow{R"({"pointer":"/a\nb","message":"x"})", "/a\\x0ab: x"},
        DetailRow{R"("just text")", "just text"}, DetailRow{R"(42)", "42"},
        DetailRow{R"(null)", "null"}));

TEST(CtlApi, RetryAfter) {
  EXPECT_EQ(parse_retry_after("30").value(), 30u);
  EXPECT_EQ(parse_retry_after(" 2 ").value(), 2u);
  EXPECT_FALSE(parse_retry_after("").has_value());
  EXPECT_FALSE(parse_retry_after("1.5").has_value());
  EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
}

struct TransportRow {
  const char* name;
  TransportFailure failure;
  int exit_code;
  const char* message;
};
class CtlTransport : public ::testing::TestWithParam<TransportRow> {};
TEST_P(CtlTransport, Rows) {
  const auto& row = GetParam();
  const CtlError e = map_transport_failure(row.failure, "detail", "https://h:1");
  EXPECT_EQ(e.exit_code, row.exit_code);
  EXPECT_NE(e.message.find(row.message), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("https://h:1"), std::string::npos) << e.message;
}
INSTANTIATE_TEST_SUITE_P(
    Rows, CtlTransport,
    ::testing::Values(
        TransportRow{"connect", TransportFailure::kConnect, kExitUnreachable, "cannot connect"},
        TransportRow{"tls", TransportFailure::kTls, kExitUnreachable, "TLS handshake"},
        TransportRow{"verify", TransportFailure::kTlsVerify, kExitUnreachable, "--ca"},
        TransportRow{"timeout", TransportFailure::kTimeout, kExitUnreachable, "--timeout"},
        TransportRow{"io", TransportFailure::kIo, kExitUnreachable, "broke"},
        TransportRow{"too_large", TransportFailure::kTooLarge, kExitFailed, "larger than"},
        TransportRow{"other", TransportFailure::kOther, kExitUnreachable, "failed"}),
    [](const auto& p) { return std::string(p.param.name); });

struct InterpretRow {
  const char* name;
  int status;
  std::string body;
  bool ok;
  const char* message;  // when !ok
};
class CtlInterpret : public ::testing::TestWithParam<InterpretRow> {};
TEST_P(CtlInterpret, Rows) {
  const auto& row = GetParam();
  TransportResult t;
  t.reply.status = row.status;
  t.reply.body = row.body;
  const ApiResult r = interpret(t, "https://h:1");
  EXPECT_EQ(r.ok, row.ok) << row.name;
  EXPECT_EQ(r.status, row.status);
  if (!row.ok) {
    EXPECT_NE(r.error.message.find(row.message), std::string::npos) << r.error.message;
  }
}
INSTANTIATE_TEST_SUITE_P(
    Rows, CtlInterpret,
    ::testing::Values(InterpretRow{"object", 200, R"({"a":1})", true, ""},
                      InterpretRow{"array", 200, "[]", true, ""},
                      InterpretRow{"empty", 204, "", true, ""},
                      InterpretRow{"scalar", 200, "5", true, ""},
                      InterpretRow{"html", 200, "<html>", false,
                                   "malformed answer from the server: not JSON"},
                      InterpretRow{"truncated", 200, R"({"a":)", false, "not JSON"},
                      InterpretRow{"trailing_garbage", 200, R"({"a":1} x)", false, "not JSON"},
                      InterpretRow{"bad_utf8", 200, "\"\xff\"", false, "not JSON"},
                      InterpretRow{"redirect", 302, "", false, "unexpected HTTP status 302"},
                      InterpretRow{"status_zero", 0, "", false, "unexpected HTTP status 0"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CtlApi, UrlEncode) {
  EXPECT_EQ(url_encode("route.rule-1_x~"), "route.rule-1_x~");
  EXPECT_EQ(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(url_encode(""), "");
}

}  // namespace
}  // namespace traboule::ctl

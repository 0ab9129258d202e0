// SPDX-License-Identifier: Apache-2.0
// traboulectl's command line: every command's good forms, and hostile rows that must be
// usage errors naming the option and the value.
#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <vector>

#include "tools/traboulectl/args.h"

namespace traboule::ctl {
namespace {

using Args = std::vector<std::string>;

ParseOutcome parse(const Args& args) {
  return parse_command_line(args);
}

TEST(CtlArgs, GlobalOptionsAnywhere) {
  const auto p = parse({"--server", "https://box:9443", "status", "--json", "--timeout=2.5",
                        "--token", "abc", "--insecure"});
  ASSERT_TRUE(p.ok) << p.error;
  const auto& g = p.invocation.global;
  EXPECT_EQ(p.invocation.command, (Args{"status"}));
  EXPECT_EQ(g.server.value(), "https://box:9443");
  EXPECT_EQ(g.token.value(), "abc");
  EXPECT_TRUE(g.json);
  EXPECT_TRUE(g.insecure);
  EXPECT_DOUBLE_EQ(g.timeout_s, 2.5);
}

TEST(CtlArgs, ReadCommands) {
  for (const char* cmd : {"status", "links", "apps", "rules", "qos", "routes", "drops"}) {
    const auto p = parse({cmd});
    ASSERT_TRUE(p.ok) << cmd << ": " << p.error;
    EXPECT_EQ(p.invocation.command, (Args{cmd}));
  }
  auto p = parse({"flows", "--top", "5"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.top.value(), 5u);
  p = parse({"flows"});
  ASSERT_TRUE(p.ok);
  EXPECT_FALSE(p.invocation.top.has_value());
  p = parse({"counters", "route.rule"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.prefix.value(), "route.rule");
}

TEST(CtlArgs, JournalCommands) {
  auto p = parse({"events", "--class", "P0", "--limit", "10", "--since", "1796601600"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.command, (Args{"events"}));
  EXPECT_EQ(p.invocation.incident.value(), "P0");
  EXPECT_EQ(p.invocation.limit.value(), 10u);
  EXPECT_EQ(p.invocation.since_s.value(), 1796601600u);
  const auto now = static_cast<uint64_t>(std::time(nullptr));
  p = parse({"events", "--since", "2h"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_NEAR(static_cast<double>(p.invocation.since_s.value()), double(now - 7200), 5.0);
  p = parse({"events", "--since", "2026-12-01"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_GT(p.invocation.since_s.value(), 1796000000u);
  p = parse({"report", "availability", "--month", "2026-12", "--csv"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.command, (Args{"report", "availability"}));
  EXPECT_EQ(p.invocation.month, "2026-12");
  EXPECT_TRUE(p.invocation.csv);
}

TEST(CtlArgs, PolicyCommands) {
  auto p = parse({"policy", "validate", "p.json", "--uplinks", "fiber, lte", "--role", "edge"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.command, (Args{"policy", "validate"}));
  EXPECT_EQ(p.invocation.file, "p.json");
  EXPECT_EQ(p.invocation.uplinks.value(), (Args{"fiber", "lte"}));
  EXPECT_FALSE(p.invocation.remote);

  p = parse({"policy", "validate", "--remote", "p.json"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_TRUE(p.invocation.remote);

  p = parse({"policy", "validate", "p.json", "--config", "trabouled.json"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.config_file.value(), "trabouled.json");

  p = parse(
      {"policy", "apply", "p.json", "--comment", "more for voice", "--confirm-timeout", "60"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.comment.value(), "more for voice");
  EXPECT_EQ(p.invocation.confirm_timeout_s.value(), 60u);

  p = parse({"policy", "rollback", "3", "--comment", "back"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.version.value(), 3u);

  p = parse({"policy", "diff", "2", "5"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.diff_from, 2u);
  EXPECT_EQ(p.invocation.diff_to, 5u);

  p = parse({"policy", "show"});
  ASSERT_TRUE(p.ok);
  EXPECT_FALSE(p.invocation.version.has_value());
  p = parse({"policy", "show", "18446744073709551615"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.version.value(), UINT64_MAX);

  for (const char* c : {"confirm", "history"}) EXPECT_TRUE(parse({"policy", c}).ok) << c;
}

TEST(CtlArgs, FleetApply) {
  auto p = parse({"fleet", "apply", "--devices", "d.json", "p.json", "--canary", "lyon-1",
                  "--settle", "0", "--comment", "rollout"});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.invocation.devices_file, "d.json");
  EXPECT_EQ(p.invocation.file, "p.json");
  EXPECT_EQ(p.invocation.canary.value(), "lyon-1");
  EXPECT_EQ(p.invocation.confirm_timeout_s.value(), 120u);  // the documented default
  EXPECT_DOUBLE_EQ(p.invocation.settle_s, 0);
  EXPECT_EQ(p.invocation.comment.value(), "rollout");
}

TEST(CtlArgs, HelpOnEveryLevel) {
  for (const Args& args :
       {Args{"--help"}, Args{"-h"}, Args{"policy", "--help"}, Args{"fleet", "-h"},
        Args{"status", "--help"}, Args{"policy", "apply", "--help"}, Args{"--help", "flows"},
        Args{"fleet", "apply", "--help"}}) {
    const auto p = parse(args);
    ASSERT_TRUE(p.ok) << args[0] << ": " << p.error;
    ASSERT_TRUE(p.invocation.help.has_value());
    EXPECT_NE(p.invocation.help->find("Usage: traboulectl"), std::string::npos);
  }
  EXPECT_NE(parse({"policy", "apply", "--help"}).invocation.help->find("--confirm-timeout"),
            std::string::npos);
  EXPECT_NE(parse({"--help"}).invocation.help->find("Exit codes"), std::string::npos);
  EXPECT_NE(parse({"policy", "--help"}).invocation.help->find("rollback"), std::string::npos);
}

struct BadRow {
  const char* name;
  Args args;
  const char* expected;  // a part of the error message
};

class CtlBadArgs : public ::testing::TestWithParam<BadRow> {};

TEST_P(CtlBadArgs, IsAUsageErrorNamingTheProblem) {
  const auto& row = GetParam();
  const auto p = parse(row.args);
  ASSERT_FALSE(p.ok) << row.name;
  EXPECT_NE(p.error.find(row.expected), std::string::npos) << row.name << ": " << p.error;
  EXPECT_NE(p.error.find("--help"), std::string::npos) << row.name << ": " << p.error;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlBadArgs,
    ::testing::Values(
        BadRow{"empty", {}, "no command given"},
        BadRow{"only_globals", {"--json"}, "no command given"},
        BadRow{"unknown_command", {"stauts"}, "unknown command \"stauts\""},
        BadRow{"unknown_subcommand", {"policy", "aply"}, "unknown command \"aply\" for `policy`"},
        BadRow{"group_alone", {"policy"}, "`policy` needs a command"},
        BadRow{"fleet_alone", {"fleet"}, "`fleet` needs a command"},
        BadRow{"unknown_global", {"--bogus", "status"}, "unknown option \"--bogus\""},
        BadRow{"unknown_command_option", {"status", "--top", "3"}, "unrecognised option '--top'"},
        BadRow{"missing_value", {"flows", "--top"}, "--top"},
        BadRow{"global_missing_value", {"status", "--server"}, "--server"},
        BadRow{"twice", {"--server", "https://a", "--server", "https://b", "status"}, "server"},
        BadRow{"top_zero", {"flows", "--top", "0"}, "--top: must be a whole number from 1"},
        BadRow{"top_negative", {"flows", "--top=-1"}, "(got \"-1\")"},
        BadRow{"top_text", {"flows", "--top", "ten"}, "(got \"ten\")"},
        BadRow{"top_float", {"flows", "--top", "2.5"}, "(got \"2.5\")"},
        BadRow{"top_huge", {"flows", "--top", "99999999999999999999999"}, "--top"},
        BadRow{"top_over_api_limit", {"flows", "--top", "10001"}, "from 1 to 10000"},
        BadRow{"top_plus", {"flows", "--top", "+5"}, "(got \"+5\")"},
        BadRow{"top_spaces", {"flows", "--top", " 5"}, "--top"},
        BadRow{"flows_extra", {"flows", "x"}, "unexpected argument \"x\" for `flows`"},
        BadRow{"status_extra", {"status", "now"}, "unexpected argument \"now\""},
        BadRow{"counters_two", {"counters", "a", "b"}, "unexpected argument \"b\""},
        BadRow{"counters_slash", {"counters", "a/b"}, "PREFIX must be"},
        BadRow{"counters_query", {"counters", "a&top=1"}, "PREFIX must be"},
        BadRow{"timeout_zero", {"--timeout", "0", "status"}, "--timeout"},
        BadRow{"timeout_negative", {"--timeout=-3", "status"}, "--timeout"},
        BadRow{"timeout_nan", {"--timeout", "nan", "status"}, "--timeout"},
        BadRow{"timeout_inf", {"--timeout", "inf", "status"}, "--timeout"},
        BadRow{"timeout_exp", {"--timeout", "1e3", "status"}, "--timeout"},
        BadRow{"timeout_huge", {"--timeout", "100000", "status"}, "--timeout"},
        BadRow{"timeout_dots", {"--timeout", "1.2.3", "status"}, "--timeout"},
        BadRow{"token_and_file", {"--token", "a", "--token-file", "f", "status"}, "exclude"},
        BadRow{"ca_and_insecure", {"--ca", "c.pem", "--insecure", "status"}, "exclude"},
        BadRow{"validate_no_file", {"policy", "validate"}, "needs a policy FILE"},
        BadRow{"validate_two_files", {"policy", "validate", "a", "b"}, "unexpected argument \"b\""},
        BadRow{"uplinks_and_config",
               {"policy", "validate", "p", "--uplinks", "a", "--config", "c"},
               "exclude each other"},
        BadRow{"remote_and_uplinks",
               {"policy", "validate", "--remote", "p", "--uplinks", "a"},
               "offline validation"},
        BadRow{"uplinks_empty_name",
               {"policy", "validate", "p", "--uplinks", "a,,b"},
               "empty uplink name"},
        BadRow{"uplinks_trailing_comma",
               {"policy", "validate", "p", "--uplinks", "a,"},
               "empty uplink name"},
        BadRow{"uplinks_only_commas",
               {"policy", "validate", "p", "--uplinks", ","},
               "empty uplink name"},
        BadRow{"uplinks_duplicate",
               {"policy", "validate", "p", "--uplinks", "a,b,a"},
               "uplink \"a\" given twice"},
        BadRow{"uplinks_bad_char",
               {"policy", "validate", "p", "--uplinks", "a b,c/d"},
               "bad uplink name"},
        BadRow{"uplinks_escape", {"policy", "validate", "p", "--uplinks", "\x1b[31m"}, "\\x1b"},
        BadRow{"uplinks_too_long",
               {"policy", "validate", "p", "--uplinks", std::string(33, 'a')},
               "bad uplink name"},
        BadRow{"role_bad", {"policy", "validate", "p", "--role", "spoke"}, "--role: must be edge"},
        BadRow{"apply_no_file", {"policy", "apply"}, "needs a policy FILE"},
        BadRow{"confirm_zero",
               {"policy", "apply", "p", "--confirm-timeout", "0"},
               "--confirm-timeout"},
        BadRow{"confirm_too_long",
               {"policy", "apply", "p", "--confirm-timeout", "86401"},
               "--confirm-timeout"},
        BadRow{"confirm_fraction",
               {"policy", "apply", "p", "--confirm-timeout", "1.5"},
               "--confirm-timeout"},
        BadRow{"confirm_extra", {"policy", "confirm", "7"}, "unexpected argument \"7\""},
        BadRow{"rollback_none", {"policy", "rollback"}, "needs the version"},
        BadRow{"rollback_zero", {"policy", "rollback", "0"}, "must be a version number"},
        BadRow{"rollback_text", {"policy", "rollback", "latest"}, "(1, 2, ...), got \"latest\""},
        BadRow{"rollback_negative", {"policy", "rollback", "--", "-1"}, "rollback"},
        BadRow{"rollback_overflow",
               {"policy", "rollback", "18446744073709551616"},
               "must be a version number"},
        BadRow{"diff_one", {"policy", "diff", "1"}, "needs two versions"},
        BadRow{"diff_three", {"policy", "diff", "1", "2", "3"}, "unexpected argument \"3\""},
        BadRow{"diff_bad_b", {"policy", "diff", "1", "x"}, "diff B"},
        BadRow{"show_two", {"policy", "show", "1", "2"}, "unexpected argument \"2\""},
        BadRow{"show_hex", {"policy", "show", "0x10"}, "must be a version number"},
        BadRow{"fleet_no_devices", {"fleet", "apply", "p.json"}, "needs --devices"},
        BadRow{"fleet_no_policy", {"fleet", "apply", "--devices", "d"}, "needs a POLICY"},
        BadRow{"fleet_settle_bad",
               {"fleet", "apply", "--devices", "d", "p", "--settle", "-1"},
               "--settle: must be seconds from 0 to 600 (got \"-1\")"},
        BadRow{"fleet_settle_big",
               {"fleet", "apply", "--devices", "d", "p", "--settle", "601"},
               "--settle"},
        BadRow{"fleet_confirm_bad",
               {"fleet", "apply", "--devices", "d", "p", "--confirm-timeout", "abc"},
               "--confirm-timeout"},
        BadRow{"prefix_guess", {"policy", "apply", "p", "--conf", "5"}, "unrecognised option"},
        BadRow{"help_unknown_command", {"bogus", "--help"}, "unknown command \"bogus\""},
        BadRow{"events_since_bad", {"events", "--since", "yesterday"}, "--since: a duration"},
        BadRow{"events_since_unit", {"events", "--since", "5w"}, "--since"},
        BadRow{"events_since_date", {"events", "--since", "2026-13-01"}, "--since"},
        BadRow{"events_class_bad", {"events", "--class", "P3"}, "--class: P0, P1 or P2"},
        BadRow{"events_limit_zero", {"events", "--limit", "0"}, "--limit"},
        BadRow{"events_arg", {"events", "P0"}, "unexpected argument"},
        BadRow{"report_no_month", {"report", "availability"}, "needs --month"},
        BadRow{"report_bad_month",
               {"report", "availability", "--month", "2026-13"},
               "--month: a calendar month"},
        BadRow{"report_month_shape", {"report", "availability", "--month", "12-2026"}, "--month"},
        BadRow{"report_csv_json",
               {"report", "availability", "--month", "2026-12", "--csv", "--json"},
               "--csv and --json exclude each other"},
        BadRow{"report_unknown", {"report", "uptime"}, "unknown command \"uptime\""}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CtlArgs, NumberHelpers) {
  EXPECT_EQ(parse_unsigned("42", 1, 100).value(), 42u);
  EXPECT_FALSE(parse_unsigned("", 0, 10).has_value());
  EXPECT_FALSE(parse_unsigned("101", 1, 100).has_value());
  EXPECT_FALSE(parse_unsigned("-0", 0, 100).has_value());
  EXPECT_FALSE(parse_unsigned("4\n", 0, 100).has_value());
  EXPECT_DOUBLE_EQ(parse_seconds("0.5", 0.1, 10).value(), 0.5);
  EXPECT_FALSE(parse_seconds(".", 0, 10).has_value());
  EXPECT_FALSE(parse_seconds("0x1", 0, 10).has_value());
  EXPECT_FALSE(parse_seconds("0.05", 0.1, 10).has_value());
}

}  // namespace
}  // namespace traboule::ctl

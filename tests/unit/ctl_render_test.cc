// SPDX-License-Identifier: Apache-2.0
// traboulectl's renderings of API answers: generic documents and row lists, patches; hostile
// answers (wrong types, odd nesting, control characters) must render without throwing.
#include <gtest/gtest.h>

#include <string>

#include "tools/traboulectl/render.h"

namespace traboule::ctl {
namespace {

using nlohmann::json;

TEST(CtlRender, RowsUseUnionOfKeysAndHumanisedUnits) {
  const json rows = json::parse(R"([
    {"name":"fiber","state":"up","rtt_us":12345,"loss_pct":0.5,"rate_bps":1200000},
    {"name":"lte","state":"down","rtt_us":85000,"extra":true}
  ])");
  EXPECT_EQ(render_rows(rows),
            "NAME    LOSS        RATE      RTT  STATE  EXTRA\n"
            "fiber  0.5 %  1.2 Mbit/s  12.3 ms  up     -\n"
            "lte        -           -    85 ms  down   yes\n");
}

TEST(CtlRender, PreferredColumnsComeFirstAndMissingOnesAreDropped) {
  const json rows = json::parse(R"([{"b":1,"a":2,"c":3}])");
  EXPECT_EQ(render_rows(rows, {"c", "zz", "a"}), "C  A  B\n3  2  1\n");
}

TEST(CtlRender, NestedObjectsAreFlattened) {
  const json rows = json::parse(R"([{"name":"fiber","stats":{"rtt_us":1000,"loss_pct":1}}])");
  EXPECT_EQ(render_rows(rows), "NAME   STATS.LOSS  STATS.RTT\nfiber         1 %       1 ms\n");
}

TEST(CtlRender, DocumentScalarsThenTables) {
  const json doc = json::parse(R"({"role":"edge","uptime_s":7500,
    "policy":{"running_version":4},
    "uplinks":[{"name":"fiber","up":true}]})");
  EXPECT_EQ(render_document(doc),
            "policy.running_version  4\n"  // objects come with sorted keys
            "role                    edge\n"
            "uptime                  2h 05m\n"  // the unit suffix goes, the value says it
            "\n"
            "uplinks:\n"
            "NAME   UP\n"
            "fiber  yes\n");
}

TEST(CtlRender, AllNumericDocumentIsACounterTable) {
  const json doc = json::parse(R"({"route.rule.voice.flows":12,"parse.truncated":3})");
  EXPECT_EQ(render_document(doc),
            "NAME                    VALUE\n"
            "parse.truncated             3\n"
            "route.rule.voice.flows     12\n");
}

struct HostileRow {
  const char* name;
  const char* json;
  const char* expected;  // a part of the output
};

class CtlRenderHostile : public ::testing::TestWithParam<HostileRow> {};

TEST_P(CtlRenderHostile, RendersWithoutThrowing) {
  const auto& row = GetParam();
  const json doc = json::parse(row.json);
  std::string out;
  ASSERT_NO_THROW(out = render_document(doc)) << row.name;
  EXPECT_NE(out.find(row.expected), std::string::npos) << row.name << ":\n" << out;
  ASSERT_NO_THROW(render_rows(doc)) << row.name;
  ASSERT_NO_THROW(render_patch(doc)) << row.name;
  for (const char c : out) {
    if (c != '\n') {
      ASSERT_GE(static_cast<unsigned char>(c), 0x20) << row.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlRenderHostile,
    ::testing::Values(
        HostileRow{"null", "null", "-"}, HostileRow{"number", "42", "42"},
        HostileRow{"string", R"("hello")", "hello"}, HostileRow{"empty_object", "{}", "(empty)"},
        HostileRow{"empty_array", "[]", "(none)"},
        HostileRow{"array_of_scalars", R"([1,"a",null,true])", "VALUE"},
        HostileRow{"mixed_rows", R"([{"a":1},2,[3]])", "A"},
        HostileRow{"empty_rows", R"([{},{}])", "(2 empty rows)"},
        HostileRow{"deep", R"({"a":{"b":{"c":{"d":{"e":1}}}}})", "a.b.c"},
        HostileRow{"wrong_types", R"([{"rtt_us":"slow","rate_bps":[1,2],"up":{"x":1}}])", "slow"},
        HostileRow{"control_chars", R"({"name":"\u001b[2Jx\nline"})", "\\x1b[2Jx\\x0aline"},
        HostileRow{"control_in_key", R"([{"na\u0007me":1}])", "NA\\X07ME"},
        HostileRow{
            "huge_string",
            R"({"s":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})",
            "…"},
        HostileRow{"big_numbers", R"({"n":1e308,"m":-1e308,"k":18446744073709551615})",
                   "18446744073709551615"},
        HostileRow{"array_in_rows", R"({"rows":[{"a":[{"b":1}]}]})", "{\"b\":1}"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CtlRender, ListingPutsTheOtherMembersAbove) {
  EXPECT_EQ(render_listing(json::parse(R"({"top":3,"prefix":"","x":null,"flows":[{"src":"a"}]})"),
                           "flows", {}),
            "top  3\n\nSRC\na\n");
  EXPECT_EQ(render_listing(json::parse(R"({"total":2,"counters":{"b":1,"a":1}})"), "counters", {}),
            "total  2\n\nNAME  VALUE\na         1\nb         1\n");
  EXPECT_EQ(render_listing(json::parse(R"({"flows":"none"})"), "flows", {}), "flows  none\n");
  EXPECT_EQ(render_listing(json::parse(R"([{"a":1}])"), "flows", {}), "A\n1\n");
}

TEST(CtlRender, Patch) {
  const json patch = json::parse(R"([
    {"op":"replace","path":"/rules/0/action/qos_class","value":"voice"},
    {"op":"add","path":"/uplinks/1","value":{"name":"lte"}},
    {"op":"remove","path":"/peers"},
    {"op":"move","from":"/a","path":"/b"},
    {"op":"copy","from":"/c","path":"/d"},
    {"op":"test","path":"/e","value":1}
  ])");
  EXPECT_EQ(render_patch(patch),
            "~ /rules/0/action/qos_class: \"voice\"\n"
            "+ /uplinks/1: {\"name\":\"lte\"}\n"
            "- /peers\n"
            "> /a → /b\n"
            "= /c → /d\n"
            "? /e: 1\n");
  EXPECT_EQ(render_patch(json::array()), "(no change)\n");
}

TEST(CtlRender, HostilePatches) {
  EXPECT_EQ(render_patch(json::parse(R"({"op":"add"})")), "(not a patch: {\"op\":\"add\"})\n");
  EXPECT_EQ(render_patch(json::parse(R"([5])")), "(bad operation: 5)\n");
  EXPECT_EQ(render_patch(json::parse(R"([{"op":"frobnicate","path":"/x"}])")),
            "(unknown operation frobnicate) /x\n");
  EXPECT_EQ(render_patch(json::parse(R"([{"op":"add"}])")), "+ ?: (no value)\n");
  EXPECT_EQ(render_patch(json::parse(R"([{"op":7,"path":["x"]}])")),
            "(unknown operation 7) [\"x\"]\n");
  EXPECT_EQ(render_patch(json::parse(R"([{"op":"remove","path":"/a\u001b"}])")), "- /a\\x1b\n");
}

TEST(CtlRender, FindRows) {
  EXPECT_EQ(find_rows(json::parse("[1]"), {}), json::parse("[1]"));
  EXPECT_EQ(find_rows(json::parse(R"({"x":[1],"versions":[2]})"), {"versions"}),
            json::parse("[2]"));
  EXPECT_EQ(find_rows(json::parse(R"({"total":3,"flows":[1]})"), {}), json::parse("[1]"));
  EXPECT_TRUE(find_rows(json::parse(R"({"a":[1],"b":[2]})"), {}).is_null());
  EXPECT_TRUE(find_rows(json::parse(R"({"versions":5})"), {"versions"}).is_null());
  EXPECT_TRUE(find_rows(json::parse("7"), {"a"}).is_null());
}

}  // namespace
}  // namespace traboule::ctl

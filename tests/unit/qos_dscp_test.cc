// SPDX-License-Identifier: Apache-2.0
// DSCP names: every name the policy schema accepts, RFC aliases, hostile text, round trips,
// and the per-class rewrite map keeping ECN bits.
#include "qos/dscp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace traboule::qos {
namespace {

TEST(QosDscp, ParseTable) {
  struct Row {
    std::string text;
    int want;           // -1: error
    const char* error;  // substring of the error
  };
  const std::vector<Row> rows = {
      {"be", 0, ""},
      {"df", 0, ""},
      {"default", 0, ""},
      {"cs0", 0, ""},
      {"le", 1, ""},
      {"cs1", 8, ""},
      {"af11", 10, ""},
      {"af12", 12, ""},
      {"af13", 14, ""},
      {"cs2", 16, ""},
      {"af21", 18, ""},
      {"af23", 22, ""},
      {"cs3", 24, ""},
      {"af31", 26, ""},
      {"af33", 30, ""},
      {"cs4", 32, ""},
      {"af41", 34, ""},
      {"af42", 36, ""},
      {"af43", 38, ""},
      {"cs5", 40, ""},
      {"va", 44, ""},
      {"voice-admit", 44, ""},
      {"ef", 46, ""},
      {"EF", 46, ""},
      {"Af41", 34, ""},
      {"cs6", 48, ""},
      {"cs7", 56, ""},
      {"0", 0, ""},
      {"46", 46, ""},
      {"63", 63, ""},
      {"", -1, "dscp \"\": expected 0-63 or one of"},
      {"64", -1, "dscp \"64\": out of range 0-63"},
      {"99999999999999999999", -1, "out of range 0-63"},
      {"-1", -1, "dscp \"-1\": expected"},
      {"046", -1, "dscp \"046\": leading zero"},
      {"4 6", -1, "dscp \"4 6\": expected"},
      {"af44", -1, "dscp \"af44\": expected"},
      {"af10", -1, "dscp \"af10\": expected"},
      {"af1", -1, "dscp \"af1\": expected"},
      {"cs8", -1, "dscp \"cs8\": expected"},
      {"ef ", -1, "dscp \"ef \": expected"},
      {" ef", -1, "dscp \" ef\": expected"},
      {"0x2e", -1, "dscp \"0x2e\": expected"},
      {std::string("e\0f", 3), -1, "dscp \"e?f\": expected"},
      {"e\nf", -1, "dscp \"e?f\""},
      {std::string(100, 'x'), -1, "dscp \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\": expected"},
      {"voice admit", -1, "expected"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.text);
    std::string error;
    std::optional<uint8_t> v = parse_dscp(r.text, &error);
    if (r.want >= 0) {
      ASSERT_TRUE(v.has_value()) << error;
      EXPECT_EQ(*v, r.want);
    } else {
      EXPECT_FALSE(v.has_value());
      EXPECT_NE(error.find(r.error), std::string::npos) << error;
      EXPECT_FALSE(parse_dscp(r.text).has_value());  // no error sink: still refused, no crash
    }
  }
}

TEST(QosDscp, FormatTableAndRoundTrip) {
  struct Row {
    uint8_t value;
    const char* text;
  };
  const std::vector<Row> rows = {
      {0, "be"},   {1, "le"},           {8, "cs1"},           {10, "af11"}, {38, "af43"},
      {40, "cs5"}, {44, "va"},          {46, "ef"},           {56, "cs7"},  {13, "13"},
      {63, "63"},  {64, "invalid(64)"}, {255, "invalid(255)"}};
  for (const Row& r : rows) EXPECT_EQ(format_dscp(r.value), r.text);
  for (unsigned v = 0; v <= kMaxDscp; ++v) {
    auto back = parse_dscp(format_dscp(static_cast<uint8_t>(v)));
    ASSERT_TRUE(back.has_value()) << v;
    EXPECT_EQ(*back, v);
  }
  EXPECT_EQ(dscp_name(13), "");
  EXPECT_EQ(dscp_name(200), "");
}

TEST(QosDscp, ClassMapRewritesDscpAndKeepsEcn) {
  DscpMap m;
  EXPECT_EQ(m.set(0, 46), "");
  EXPECT_EQ(m.set(3, 0), "");
  struct Row {
    size_t cls;
    uint8_t tos_in, tos_out;
  };
  const std::vector<Row> rows = {
      {0, 0x00, 0xb8},                           // EF
      {0, 0x03, 0xbb},                           // ECN CE kept
      {0, 0xff, 0xbb},        {1, 0x2a, 0x2a},   // unset: kept
      {3, 0xb9, 0x01},                           // re-marked to best effort, ECT(1) kept
      {31, 0x10, 0x10},       {32, 0x10, 0x10},  // unknown class: kept
      {SIZE_MAX, 0x10, 0x10},
  };
  for (const Row& r : rows) EXPECT_EQ(m.apply(r.cls, r.tos_in), r.tos_out) << r.cls;
  EXPECT_EQ(m.set(32, 46), "class 32: index above the maximum 31");
  EXPECT_EQ(m.set(2, 64), "class 2 dscp 64: out of range 0-63 (or -1 to keep)");
  EXPECT_EQ(m.set(2, -2), "class 2 dscp -2: out of range 0-63 (or -1 to keep)");
  EXPECT_EQ(m.get(2), DscpMap::kKeep);
  EXPECT_EQ(m.set(0, DscpMap::kKeep), "");
  EXPECT_EQ(m.apply(0, 0x03), 0x03);
  EXPECT_EQ(dscp_of(0xbb), 46);
  EXPECT_EQ(with_dscp(0x02, 63), 0xfe);
}

}  // namespace
}  // namespace traboule::qos

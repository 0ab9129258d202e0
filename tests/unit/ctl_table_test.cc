// SPDX-License-Identifier: Apache-2.0
// traboulectl's table formatter: alignment, widths, and cells made safe for a terminal.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "tools/traboulectl/table.h"

namespace traboule::ctl {
namespace {

TEST(CtlTable, AlignsColumnsAndRightAlignsNumbers) {
  Table t({{"name"}, {"rtt", Align::kRight}, {"state"}});
  t.add_row({"fiber", "12.3 ms", "up"});
  t.add_row({"lte-backup", "85 ms", "down"});
  EXPECT_EQ(t.render(),
            "NAME            RTT  STATE\n"
            "fiber       12.3 ms  up\n"
            "lte-backup    85 ms  down\n");
}

TEST(CtlTable, ShortRowsArePaddedAndTrailingSpacesDropped) {
  Table t({{"a"}, {"b"}, {"c"}});
  t.add_row({"x"});
  t.add_row({});
  EXPECT_EQ(t.render(), "A  B  C\nx\n\n");
  EXPECT_EQ(t.rows(), 2u);
}

TEST(CtlTable, LongerRowIsAProgrammingError) {
  Table t({{"a"}});
  EXPECT_THROW(t.add_row({"1", "2"}), std::invalid_argument);
  EXPECT_THROW(Table({}), std::invalid_argument);
}

TEST(CtlTable, WidthCountsCodePointsNotBytes) {
  Table t({{"v", Align::kRight}, {"w"}});
  t.add_row({"850 µs", "é"});
  t.add_row({"12 ms", "ab"});
  EXPECT_EQ(t.render(),
            "     V  W\n"
            "850 µs  é\n"
            " 12 ms  ab\n");
}

TEST(CtlTable, CellsAreCutAtTheColumnWidth) {
  Table t({{"n", Align::kLeft, 5}});
  t.add_row({"abcdefgh"});
  t.add_row({"abcde"});
  EXPECT_EQ(t.render(), "N\nabcd…\nabcde\n");
}

struct SanitizeRow {
  const char* name;
  std::string in;
  std::string out;
};

class CtlSanitize : public ::testing::TestWithParam<SanitizeRow> {};

TEST_P(CtlSanitize, Rows) {
  EXPECT_EQ(sanitize_text(GetParam().in), GetParam().out);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CtlSanitize,
    ::testing::Values(SanitizeRow{"plain", "fiber-1", "fiber-1"},
                      SanitizeRow{"utf8_kept", "Lyon – µs é", "Lyon – µs é"},
                      SanitizeRow{"escape_sequence", "\x1b[31mred", "\\x1b[31mred"},
                      SanitizeRow{"newline_and_tab", "a\nb\tc", "a\\x0ab\\x09c"},
                      SanitizeRow{"nul", std::string("a\0b", 3), "a\\x00b"},
                      SanitizeRow{"del", "a\x7f", "a\\x7f"},
                      SanitizeRow{"c1_control", "a\xc2\x9b", "a\\u009b"},
                      SanitizeRow{"lone_continuation", "a\x80z", "a\\x80z"},
                      SanitizeRow{"truncated_sequence", "a\xe2\x82", "a\\xe2\\x82"},
                      SanitizeRow{"overlong_slash", "\xc0\xaf", "\\xc0\\xaf"},
                      SanitizeRow{"surrogate", "\xed\xa0\x80", "\\xed\\xa0\\x80"},
                      SanitizeRow{"beyond_unicode", "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
                      SanitizeRow{"invalid_lead", "\xff", "\\xff"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CtlTable, TruncateAndWidth) {
  EXPECT_EQ(display_width("µs"), 2u);
  EXPECT_EQ(truncate_text("hello", 5), "hello");
  EXPECT_EQ(truncate_text("hello!", 5), "hell…");
  EXPECT_EQ(truncate_text("µµµµµµ", 3), "µµ…");
  EXPECT_EQ(truncate_text("abc", 0), "");
  EXPECT_EQ(truncate_text("abc", 1), "…");
}

TEST(CtlTable, HostileCellsCannotBreakTheLayout) {
  Table t({{"name"}, {"n", Align::kRight}});
  t.add_row({"evil\nrow\r\x1b[2J", "1"});
  const std::string text = t.render();
  // Two lines only: the header and one row; no raw control character survives.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  for (const char c : text) {
    if (c != '\n') {
      ASSERT_GE(static_cast<unsigned char>(c), 0x20);
    }
  }
}

TEST(CtlTable, KeyValues) {
  EXPECT_EQ(render_key_values({{"role", "edge"}, {"uptime", "2h 05m"}, {"x", ""}}),
            "role    edge\n"
            "uptime  2h 05m\n"
            "x\n");
  EXPECT_EQ(render_key_values({}), "");
}

}  // namespace
}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
// traboulectl's humanised units, chosen from the field name's unit suffix.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "tools/traboulectl/units.h"

namespace traboule::ctl {
namespace {

struct SignificantRow {
  double in;
  const char* out;
};

class CtlSignificant : public ::testing::TestWithParam<SignificantRow> {};
TEST_P(CtlSignificant, Rows) {
  EXPECT_EQ(format_significant(GetParam().in), GetParam().out);
}
INSTANTIATE_TEST_SUITE_P(
    Rows, CtlSignificant,
    ::testing::Values(SignificantRow{0, "0"}, SignificantRow{1.2, "1.2"},
                      SignificantRow{12.34, "12.3"}, SignificantRow{3.956, "3.96"},
                      SignificantRow{100, "100"}, SignificantRow{1234, "1234"},
                      SignificantRow{9.999, "10"}, SignificantRow{0.004, "0.004"},
                      SignificantRow{0.01234, "0.0123"}, SignificantRow{-1.5, "-1.5"},
                      SignificantRow{-0.0001, "-0.0001"}, SignificantRow{1e300, "1e+300"},
                      SignificantRow{1e-9, "1e-09"}));

struct CellRow {
  const char* key;
  const char* json;
  const char* out;
};

class CtlCell : public ::testing::TestWithParam<CellRow> {};
TEST_P(CtlCell, Rows) {
  const auto& row = GetParam();
  EXPECT_EQ(format_cell(row.key, nlohmann::json::parse(row.json)), row.out)
      << row.key << " = " << row.json;
}
INSTANTIATE_TEST_SUITE_P(
    Rows, CtlCell,
    ::testing::Values(
        // Rates.
        CellRow{"rate_bps", "1200000", "1.2 Mbit/s"}, CellRow{"rate_bps", "950", "950 bit/s"},
        CellRow{"rate_bps", "0", "0 bit/s"}, CellRow{"up_kbps", "100000", "100 Mbit/s"},
        CellRow{"tx_bps", "999600", "1 Mbit/s"}, CellRow{"rate_bps", "2.5e12", "2.5 Tbit/s"},
        CellRow{"rate_bps", "5e15", "5000 Tbit/s"}, CellRow{"rate_bps", "-1200", "-1.2 kbit/s"},
        CellRow{"cap_mbps", "1.5", "1.5 Mbit/s"}, CellRow{"rx_pps", "12000", "12 kpkt/s"},
        // Latency and durations.
        CellRow{"rtt_us", "12345", "12.3 ms"}, CellRow{"jitter_us", "850", "850 µs"},
        CellRow{"rtt_us", "1500000", "1.5 s"}, CellRow{"delay_ms", "12.3", "12.3 ms"},
        CellRow{"delay_ns", "2500", "2.5 µs"}, CellRow{"uptime_s", "45", "45 s"},
        CellRow{"uptime_s", "252", "4m 12s"}, CellRow{"uptime_s", "7500", "2h 05m"},
        CellRow{"uptime_s", "273600", "3d 04h"}, CellRow{"age_seconds", "3600", "1h 00m"},
        CellRow{"uptime_s", "1e300", "1e+300 s"}, CellRow{"uptime_s", "-120", "-2m 00s"},
        // Percentages and sizes.
        CellRow{"loss_pct", "3.956", "3.96 %"}, CellRow{"loss_percent", "100", "100 %"},
        CellRow{"loss_ppm", "39600", "3.96 %"}, CellRow{"loss_ratio", "0.0396", "3.96 %"},
        CellRow{"rx_bytes", "1500000", "1.5 MB"}, CellRow{"bytes", "512", "512 B"},
        // Plain values.
        CellRow{"packets", "18446744073709551615", "18446744073709551615"},
        CellRow{"count", "-3", "-3"}, CellRow{"score", "0.12345", "0.123"},
        CellRow{"up", "true", "yes"}, CellRow{"up", "false", "no"}, CellRow{"x", "null", "-"},
        CellRow{"name", "\"fiber\"", "fiber"}, CellRow{"rate_bps", "\"fast\"", "fast"},
        CellRow{"uplinks", "[\"a\",\"b\"]", "a, b"},
        CellRow{"rtts_us", "[1000, 2000]", "1 ms, 2 ms"},
        CellRow{"nested", "{\"a\":1}", "{\"a\":1}"},
        CellRow{"mixed", "[1,{\"a\":2}]", "1, {\"a\":2}"}, CellRow{"empty", "[]", ""}),
    [](const auto& p) { return "row" + std::to_string(p.index); });

TEST(CtlUnits, HeadersDropTheUnitSuffix) {
  EXPECT_EQ(header_for_key("rtt_us"), "rtt");
  EXPECT_EQ(header_for_key("rate_bps"), "rate");
  EXPECT_EQ(header_for_key("stats.loss_pct"), "stats.loss");
  EXPECT_EQ(header_for_key("name"), "name");
  EXPECT_EQ(header_for_key("_us"), "_us");  // nothing left: keep the key
  EXPECT_EQ(header_for_key(""), "");
}

TEST(CtlUnits, NonFiniteValuesDoNotCrash) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(human_bits_per_second(inf), "inf Tbit/s");
  EXPECT_EQ(human_latency_us(-inf), "-inf µs");
  EXPECT_EQ(human_duration_s(std::numeric_limits<double>::quiet_NaN()), "nan s");
  EXPECT_EQ(human_percent(0), "0 %");
}

}  // namespace
}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
// Token bucket: exact integer refills, hostile rates, bursts, clocks and item sizes.
#include "qos/token_bucket.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace traboule::qos {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kDay = 86'400 * kSec;

struct Step {
  uint64_t t_ns;
  uint64_t bytes;
  bool conforms;
};

struct ConsumeCase {
  const char* name;
  uint64_t rate_bps;
  uint64_t burst_bytes;
  std::vector<Step> steps;
};

TEST(QosTokenBucket, TryConsumeTable) {
  const std::vector<ConsumeCase> cases = {
      {"rate 0 keeps only the initial burst",
       0,
       1000,
       {{0, 600, true}, {kDay * 365, 600, false}, {kDay * 366, 400, true}, {kDay * 367, 1, false}}},
      {"burst 0 never conforms but for empty items",
       1'000'000'000,
       0,
       {{0, 1, false}, {kSec, 1, false}, {kSec, 0, true}}},
      {"1000 B/s refills one byte per ms, exactly",
       8000,
       1000,
       {{0, 1000, true},
        {500 * kMs, 500, true},
        {500 * kMs, 1, false},
        {501 * kMs - 1, 1, false},
        {501 * kMs, 1, true}}},
      {"sub-byte credit accumulates: 1 bit/s mints a byte in 8 s",
       1,
       10,
       {{0, 10, true}, {8 * kSec - 1, 1, false}, {8 * kSec, 1, true}, {16 * kSec, 2, false}}},
      {"100 Gbit/s idle for three days stops at the burst",
       100'000'000'000,
       1'000'000,
       {{0, 1'000'000, true}, {3 * kDay, 1'000'000, true}, {3 * kDay, 1, false}}},
      {"400 Gbit/s, 512 MiB burst, idle ten years",
       kMaxRateBps,
       kMaxBurstBytes,
       {{0, kMaxBurstBytes, true},
        {1, 50, true},  // 1 ns at 400 Gbit/s = 50 bytes
        {1, 1, false},
        {3650 * kDay, kMaxBurstBytes, true},
        {3650 * kDay, 1, false}}},
      {"time going backwards mints nothing",
       8000,
       1000,
       {{kSec, 1000, true},
        {kSec / 2, 1, false},
        {0, 1, false},
        {kSec, 1, false},
        {kSec + kMs, 1, true},
        {kSec + kMs, 1, false}}},
      {"an item larger than the burst never conforms",
       1'000'000'000,
       1500,
       {{0, 1501, false}, {kDay, 1501, false}, {kDay, 1500, true}}},
      {"an item above the 512 MiB limit is refused",
       kMaxRateBps,
       kMaxBurstBytes,
       {{0, kMaxItemBytes + 1, false}, {0, UINT64_MAX, false}, {0, kMaxItemBytes, true}}},
      {"clock at the top of its range",
       8000,
       1000,
       {{UINT64_MAX - kSec, 1000, true}, {UINT64_MAX, 1000, true}, {UINT64_MAX, 1, false}}},
  };
  for (const ConsumeCase& c : cases) {
    SCOPED_TRACE(c.name);
    TokenBucket b({c.rate_bps, c.burst_bytes});
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      EXPECT_EQ(b.try_consume(s.bytes, s.t_ns), s.conforms)
          << "step " << i << " t=" << s.t_ns << " bytes=" << s.bytes;
    }
  }
}

TEST(QosTokenBucket, MintedUnitsNeverOverflows) {
  struct Row {
    uint64_t elapsed_ns, rate_bps, room, want;
  };
  const std::vector<Row> rows = {
      {0, kMaxRateBps, 100, 0},
      {100, 0, 100, 0},
      {100, 7, 0, 0},
      {3, 7, 100, 21},
      {14, 7, 100, 98},
      {15, 7, 100, 100},  // 105 would exceed the room
      {UINT64_MAX, kMaxRateBps, UINT64_MAX - 1, UINT64_MAX - 1},
      {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX},
      {46'116'860, kMaxRateBps, UINT64_MAX, 46'116'860ull * kMaxRateBps},
  };
  for (const Row& r : rows)
    EXPECT_EQ(minted_units(r.elapsed_ns, r.rate_bps, r.room), r.want)
        << r.elapsed_ns << " ns at " << r.rate_bps << " room " << r.room;
  EXPECT_EQ(ns_to_mint(0, 0), 0u);
  EXPECT_EQ(ns_to_mint(1, 0), kNever);
  EXPECT_EQ(ns_to_mint(15, 7), 3u);
  EXPECT_EQ(ns_to_mint(14, 7), 2u);
}

TEST(QosTokenBucket, BadConfigNamesFieldAndValue) {
  struct Row {
    TokenBucketConfig config;
    std::string error;
  };
  const std::vector<Row> rows = {
      {{kMaxRateBps + 1, 1000}, "rate_bps 400000000001: above the maximum 400000000000"},
      {{UINT64_MAX, 1000}, "rate_bps 18446744073709551615: above the maximum"},
      {{1000, kMaxBurstBytes + 1}, "burst_bytes 536870913: above the maximum 536870912"},
      {{0, 0}, ""},
      {{kMaxRateBps, kMaxBurstBytes}, ""},
  };
  for (const Row& r : rows) {
    std::string got = r.config.validate();
    if (r.error.empty()) {
      EXPECT_EQ(got, "");
      EXPECT_NO_THROW(TokenBucket b(r.config));
      continue;
    }
    EXPECT_NE(got.find(r.error), std::string::npos) << got;
    try {
      TokenBucket b(r.config);
      ADD_FAILURE() << "no throw for " << r.error;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), got);
    }
  }
}

TEST(QosTokenBucket, DebtLetsBigItemsThroughAndIsRepaid) {
  TokenBucket b({8000, 1000});  // 1 byte per ms
  ASSERT_TRUE(b.has_credit(0));
  b.charge(5000);  // larger than the burst: 4000 bytes of debt
  EXPECT_EQ(b.tokens_bytes(0), -4000);
  EXPECT_FALSE(b.has_credit(3999 * kMs));
  EXPECT_EQ(b.ns_until(0, 3999 * kMs), kMs);
  EXPECT_TRUE(b.has_credit(4000 * kMs));
  EXPECT_EQ(b.ns_until(1000, 4000 * kMs), 1000 * kMs);
  EXPECT_EQ(b.ns_until(1001, 4000 * kMs), kNever);  // more than the bucket holds
  b.charge(UINT64_MAX);                             // saturates instead of wrapping
  EXPECT_EQ(b.tokens_bytes(4000 * kMs), -static_cast<int64_t>(kMaxBurstBytes));
  b.drain(10);  // drain never goes below zero, nor touches debt
  EXPECT_EQ(b.tokens_bytes(4000 * kMs), -static_cast<int64_t>(kMaxBurstBytes));
  TokenBucket rate0({0, 100});
  rate0.charge(101);
  EXPECT_EQ(rate0.ns_until(0, kDay), kNever);
  TokenBucket d({8000, 1000});
  d.drain(300);
  EXPECT_EQ(d.tokens_bytes(0), 700);
  d.drain(5000);
  EXPECT_EQ(d.tokens_bytes(0), 0);
}

// A shaper driven by its own hint sends at the configured rate, to well under 1 %.
TEST(QosTokenBucket, ShaperLongRunRateTable) {
  struct Row {
    uint64_t rate_bps, burst_bytes, item_bytes, items;
  };
  const std::vector<Row> rows = {
      {1'234'567, 3028, 1500, 20'000},
      {2'000'000, 3028, 200, 20'000},
      {64'000, 100, 1500, 2'000},  // items 15x the burst: debt keeps the rate
      {100'000'000'000, 3028, 9000, 100'000},
      {kMaxRateBps, 3028, 64, 100'000},
      {1, 1, 1, 100},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.rate_bps);
    TokenBucket b({r.rate_bps, r.burst_bytes});
    b.charge(r.burst_bytes);  // start empty so the initial burst does not count
    uint64_t t = 0;
    for (uint64_t i = 0; i < r.items; ++i) {
      t += b.ns_until(0, t);
      ASSERT_TRUE(b.has_credit(t));
      b.charge(r.item_bytes);
    }
    t += b.ns_until(0, t);  // the last item is paid for when the debt is back to zero
    double measured = static_cast<double>(r.items * r.item_bytes) * 8e9 / static_cast<double>(t);
    EXPECT_NEAR(measured / static_cast<double>(r.rate_bps), 1.0, 1e-6);
  }
}

}  // namespace
}  // namespace traboule::qos

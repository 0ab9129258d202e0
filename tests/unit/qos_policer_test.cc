// SPDX-License-Identifier: Apache-2.0
// RFC 2697 / 2698 markers against colour sequences worked out by hand (bucket contents noted
// after each packet), plus hostile configurations.
#include "qos/policer.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace traboule::qos {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;
constexpr Color G = Color::kGreen, Y = Color::kYellow, R = Color::kRed;

struct Mark {
  uint64_t t_ns;
  uint64_t bytes;
  Color want;
};

TEST(QosPolicer, SrTcmWorkedExamples) {
  struct Case {
    const char* name;
    SrTcmConfig config;
    std::vector<Mark> marks;
  };
  const std::vector<Case> cases = {
      // CIR 8000 bit/s = 1 byte/ms, CBS 1000, EBS 500; Tc=1000 Te=500 at t=0.
      {"cir 1 B/ms cbs 1000 ebs 500",
       {8000, 1000, 500},
       {
           {0, 600, G},            // Tc 400 Te 500
           {0, 600, R},            // neither holds 600; red takes nothing
           {0, 500, Y},            // Tc 400 Te 0
           {0, 400, G},            // Tc 0 Te 0
           {100 * kMs, 100, G},    // +100 all to C (not full): Tc 0
           {100 * kMs, 1, R},      //
           {1100 * kMs, 1, G},     // +1000: C full again, Tc 999
           {1600 * kMs, 1000, G},  // +500: C takes 1, E the rest: Tc 0 Te 499
           {1600 * kMs, 499, Y},   // Te 0
           {2800 * kMs, 1001, R},  // +1200: Tc 1000, Te 200
           {2800 * kMs, 1000, G},  // Tc 0
           {2800 * kMs, 201, R},   //
           {2800 * kMs, 200, Y},   // Te 0
           {2000 * kMs, 1, R},     // clock backwards: nothing minted
           {2801 * kMs, 1, G},     // +1 since 2800 ms, not since 2000 ms
       }},
      {"cir 0: the initial buckets only",
       {0, 100, 100},
       {{0, 100, G}, {0, 100, Y}, {kSec * 3600, 1, R}}},
      {"cbs 0 ebs 0: all red but empty packets",
       {1'000'000'000, 0, 0},
       {{0, 1, R}, {kSec, 64, R}, {kSec, 0, G}}},
      {"cbs 0: everything that conforms is yellow",
       {8000, 0, 1500},
       {{0, 1500, Y}, {0, 1, R}, {kSec, 1000, Y}}},
      {"packet larger than both bursts",
       {kMaxRateBps, 1500, 1500},
       {{0, 1501, R}, {kSec, 3000, R}, {kSec, UINT64_MAX, R}, {kSec, 1500, G}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SrTcm m(c.config);
    for (size_t i = 0; i < c.marks.size(); ++i)
      EXPECT_EQ(color_name(m.mark(c.marks[i].bytes, c.marks[i].t_ns)), color_name(c.marks[i].want))
          << "mark " << i;
  }
}

TEST(QosPolicer, SrTcmOverflowSplitsBetweenBuckets) {
  SrTcm m({8000, 1000, 500});
  ASSERT_EQ(m.mark(1000, 0), G);
  ASSERT_EQ(m.mark(500, 0), Y);
  EXPECT_EQ(m.committed_bytes(900 * kMs), 900u);
  EXPECT_EQ(m.excess_bytes(900 * kMs), 0u);
  EXPECT_EQ(m.committed_bytes(1200 * kMs), 1000u);  // 300 more: 100 fill C, 200 overflow to E
  EXPECT_EQ(m.excess_bytes(1200 * kMs), 200u);
  EXPECT_EQ(m.excess_bytes(86'400 * kSec * 365), 500u);
}

TEST(QosPolicer, TrTcmWorkedExamples) {
  struct Case {
    const char* name;
    TrTcmConfig config;
    std::vector<Mark> marks;
  };
  const std::vector<Case> cases = {
      // CIR 1 B/ms, CBS 1000; PIR 2 B/ms, PBS 1500. Tp=1500 Tc=1000 at t=0.
      {"cir 1 B/ms cbs 1000, pir 2 B/ms pbs 1500",
       {8000, 1000, 16000, 1500},
       {
           {0, 1200, Y},                  // Tp 300 Tc 1000
           {0, 400, R},                   // Tp cannot hold it
           {0, 300, G},                   // Tp 0 Tc 700
           {0, 1, R},                     //
           {100 * kMs, 200, G},           // Tp 200 Tc 800 -> Tp 0 Tc 600
           {500 * kMs, 900, R},           // Tp 800 Tc 1000 (capped)
           {500 * kMs, 800, G},           // Tp 0 Tc 200
           {1000 * kMs, 800, Y},          // Tp 1000 Tc 700 -> Tp 200
           {2000 * kMs, 1500, Y},         // Tp 1500 (capped) Tc 1000 -> Tp 0
           {2000 * kMs, 1000, R},         //
           {1000 * kMs, 1, R},            // clock backwards: nothing minted
           {2000 * kMs + kMs / 2, 1, G},  // 0.5 ms mints 1 byte in P; C is full: green
       }},
      {"pir = cir", {8000, 1000, 8000, 1000}, {{0, 1000, G}, {0, 1, R}, {kSec, 1000, G}}},
      {"cbs 0: conforming traffic is yellow", {8000, 0, 16000, 1500}, {{0, 1500, Y}, {kSec, 1, Y}}},
      {"pbs 0: all red", {8000, 1000, 16000, 0}, {{0, 1, R}, {kSec, 1, R}, {kSec, 0, G}}},
      {"rates 0: initial buckets only",
       {0, 100, 0, 200},
       {{0, 100, G}, {0, 100, Y}, {kSec * 86'400, 1, R}}},
      {"huge packet",
       {kMaxRateBps, kMaxBurstBytes, kMaxRateBps, kMaxBurstBytes},
       {{0, kMaxItemBytes + 1, R}, {0, kMaxItemBytes, G}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TrTcm m(c.config);
    for (size_t i = 0; i < c.marks.size(); ++i)
      EXPECT_EQ(color_name(m.mark(c.marks[i].bytes, c.marks[i].t_ns)), color_name(c.marks[i].want))
          << "mark " << i;
  }
}

TEST(QosPolicer, BadConfigsNameFieldAndValue) {
  struct Row {
    const char* error;
    std::string got;
  };
  const std::vector<Row> rows = {
      {"cir_bps 400000000001: above the maximum", SrTcmConfig{kMaxRateBps + 1, 1, 1}.validate()},
      {"cbs_bytes 536870913: above the maximum", SrTcmConfig{1, kMaxBurstBytes + 1, 1}.validate()},
      {"ebs_bytes 18446744073709551615: above", SrTcmConfig{1, 1, UINT64_MAX}.validate()},
      {"pir_bps 1000: below cir_bps 2000", TrTcmConfig{2000, 1, 1000, 1}.validate()},
      {"pir_bps 400000000001: above", TrTcmConfig{1, 1, kMaxRateBps + 1, 1}.validate()},
      {"pbs_bytes 536870913: above", TrTcmConfig{1, 1, 1, kMaxBurstBytes + 1}.validate()},
      {"cbs_bytes 536870913: above", TrTcmConfig{1, kMaxBurstBytes + 1, 1, 1}.validate()},
  };
  for (const Row& r : rows) EXPECT_NE(r.got.find(r.error), std::string::npos) << r.got;
  EXPECT_THROW(SrTcm({kMaxRateBps + 1, 1, 1}), std::invalid_argument);
  EXPECT_THROW(TrTcm({2000, 1, 1000, 1}), std::invalid_argument);
  EXPECT_EQ(SrTcmConfig{}.validate(), "");
  EXPECT_EQ(TrTcmConfig{}.validate(), "");
}

}  // namespace
}  // namespace traboule::qos

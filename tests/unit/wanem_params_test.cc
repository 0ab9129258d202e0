// SPDX-License-Identifier: Apache-2.0
// Parameter syntax of traboule-wanem: every key with good and hostile values, the canonical
// text round trip, and the profiles (each must parse, and be asymmetric as documented).
#include <gtest/gtest.h>

#include <string>

#include "tools/wanem/params.h"
#include "tools/wanem/profiles.h"

namespace traboule::wanem {
namespace {

struct GoodRow {
  const char* key;
  const char* value;
  DirectionParams expected;
};

DirectionParams with(void (*f)(DirectionParams*)) {
  DirectionParams p;
  f(&p);
  return p;
}

TEST(WanemParams, GoodValues) {
  const GoodRow rows[] = {
      {"delay", "20ms", with([](DirectionParams* p) { p->delay_ns = 20'000'000; })},
      {"delay", "500us", with([](DirectionParams* p) { p->delay_ns = 500'000; })},
      {"delay", "1.5s", with([](DirectionParams* p) { p->delay_ns = 1'500'000'000; })},
      {"delay", "0.25ms", with([](DirectionParams* p) { p->delay_ns = 250'000; })},
      {"delay", "0", with([](DirectionParams* p) { p->delay_ns = 0; })},
      {"delay", "60s", with([](DirectionParams* p) { p->delay_ns = 60'000'000'000; })},
      {"jitter", "3ms", with([](DirectionParams* p) { p->jitter_ns = 3'000'000; })},
      {"jitter_dist", "normal",
       with([](DirectionParams* p) { p->jitter_dist = JitterDist::kNormal; })},
      {"jitter_dist", "uniform",
       with([](DirectionParams* p) { p->jitter_dist = JitterDist::kUniform; })},
      {"reorder", "on", with([](DirectionParams* p) { p->reorder = true; })},
      {"reorder", "off", with([](DirectionParams* p) { p->reorder = false; })},
      {"loss", "2%", with([](DirectionParams* p) { p->loss = 0.02; })},
      {"loss", "100%", with([](DirectionParams* p) { p->loss = 1.0; })},
      {"loss", "0", with([](DirectionParams* p) { p->loss = 0.0; })},
      {"dup", "0.1%", with([](DirectionParams* p) { p->dup = 0.001; })},
      {"rate", "2mbit", with([](DirectionParams* p) { p->rate_bps = 2'000'000; })},
      {"rate", "512kbit", with([](DirectionParams* p) { p->rate_bps = 512'000; })},
      {"rate", "1.5gbit", with([](DirectionParams* p) { p->rate_bps = 1'500'000'000; })},
      {"rate", "9600bit", with([](DirectionParams* p) { p->rate_bps = 9600; })},
      {"rate", "off", with([](DirectionParams* p) { p->rate_bps = 0; })},
      {"rate", "0", with([](DirectionParams* p) { p->rate_bps = 0; })},
      {"queue", "64kb", with([](DirectionParams* p) {
         p->queue = {QueueUnit::kBytes, 65536};
       })},
      {"queue", "1500b", with([](DirectionParams* p) {
         p->queue = {QueueUnit::kBytes, 1500};
       })},
      {"queue", "2mb", with([](DirectionParams* p) {
         p->queue = {QueueUnit::kBytes, 2 * 1024 * 1024};
       })},
      {"queue", "100pkt", with([](DirectionParams* p) {
         p->queue = {QueueUnit::kPackets, 100};
       })},
      {"ge", "1%,30%", with([](DirectionParams* p) {
         p->ge = GilbertElliott{0.01, 0.30, 1.0, 0.0};
       })},
      {"ge", "1%,30%,80%,0.5%", with([](DirectionParams* p) {
         p->ge = GilbertElliott{0.01, 0.30, 0.8, 0.005};
       })},
      {"ge", "off", with([](DirectionParams* p) { p->ge.reset(); })},
  };
  for (const GoodRow& row : rows) {
    SCOPED_TRACE(std::string(row.key) + "=" + row.value);
    DirectionParams p;
    auto err = set_param(&p, row.key, row.value);
    ASSERT_FALSE(err) << *err;
    EXPECT_EQ(p.delay_ns, row.expected.delay_ns);
    EXPECT_EQ(p.jitter_ns, row.expected.jitter_ns);
    EXPECT_EQ(p.jitter_dist, row.expected.jitter_dist);
    EXPECT_EQ(p.reorder, row.expected.reorder);
    EXPECT_DOUBLE_EQ(p.loss, row.expected.loss);
    EXPECT_DOUBLE_EQ(p.dup, row.expected.dup);
    EXPECT_EQ(p.rate_bps, row.expected.rate_bps);
    EXPECT_EQ(p.queue, row.expected.queue);
    ASSERT_EQ(p.ge.has_value(), row.expected.ge.has_value());
    if (p.ge) {
      EXPECT_DOUBLE_EQ(p.ge->p, row.expected.ge->p);
      EXPECT_DOUBLE_EQ(p.ge->r, row.expected.ge->r);
      EXPECT_DOUBLE_EQ(p.ge->loss_bad, row.expected.ge->loss_bad);
      EXPECT_DOUBLE_EQ(p.ge->loss_good, row.expected.ge->loss_good);
    }
  }
}

struct BadRow {
  std::string key;
  std::string value;
  const char* must_contain;  // the error names the key or the offending part
};

TEST(WanemParams, HostileValuesAreRefusedWithKeyAndValue) {
  const BadRow rows[] = {
      {"dleay", "40ms", "unknown key \"dleay\""},
      {"", "40ms", "unknown key \"\""},
      {"DELAY", "40ms", "unknown key \"DELAY\""},
      {"delay", "", "bad value for delay: \"\": empty"},
      {"delay", "40", "missing unit"},
      {"delay", "40xs", "unknown unit \"xs\""},
      {"delay", "40 ms", "unknown unit \" ms\""},
      {"delay", " 40ms", "bad value for delay"},
      {"delay", "-5ms", "must not be negative"},
      {"delay", "+5ms", "bad value for delay: \"+5ms\""},
      {"delay", "ms", "bad value for delay: \"ms\""},
      {"delay", "nanms", "bad value for delay"},
      {"delay", "infms", "bad value for delay"},
      {"delay", "1e3ms", "unknown unit \"e3ms\""},
      {"delay", "0x10ms", "unknown unit \"x10ms\""},
      {"delay", "61s", "at most 60s"},
      {"delay", "99999999999999999999999999999s", "at most 60s"},
      {"delay", std::string(400, '9') + "s", "bad value for delay"},
      {"delay", "1.5.2ms", "unknown unit \".2ms\""},
      {"delay", "20MS", "unknown unit \"MS\""},
      {"jitter", "11s", "at most 10s"},
      {"jitter_dist", "gaussian", "expected uniform or normal"},
      {"jitter_dist", "", "expected uniform or normal"},
      {"reorder", "yes", "expected on or off"},
      {"loss", "2", "missing unit"},
      {"loss", "0.02", "missing unit"},
      {"loss", "101%", "at most 100%"},
      {"loss", "-1%", "must not be negative"},
      {"loss", "2%%", "unknown unit \"%%\""},
      {"loss", "%", "bad value for loss"},
      {"dup", "1000%", "at most 100%"},
      {"rate", "2mbps", "unknown unit \"mbps\""},
      {"rate", "2", "missing unit"},
      {"rate", "0.5bit", "must be between"},
      {"rate", "500gbit", "must be between"},
      {"rate", "-1mbit", "must not be negative"},
      {"queue", "0pkt", "must be greater than 0"},
      {"queue", "0", "must be greater than 0"},
      {"queue", "1.5pkt", "whole number"},
      {"queue", "10b", "at least 64b"},
      {"queue", "2000mb", "at most 1024mb"},
      {"queue", "2000000pkt", "at most 1000000pkt"},
      {"queue", "64KB", "unknown unit \"KB\""},
      {"ge", "1%", "expected p,r"},
      {"ge", "1%,2%,3%,4%,5%", "expected p,r"},
      {"ge", "1%,0%", "r must be greater than 0%"},
      {"ge", "1%,,", "bad value for ge.r"},
      {"ge", "1,30%", "bad value for ge.p"},
      {"ge", "1%,300%", "bad value for ge.r"},
      {"ge", "", "expected p,r"},
      {"delay", std::string("4\x01\xff") + "ms", "\\x01\\xff"},
      {"delay", std::string(1000, 'x'), "..."},
  };
  for (const BadRow& row : rows) {
    SCOPED_TRACE(row.key + "=" + row.value);
    DirectionParams p;
    DirectionParams before = p;
    auto err = set_param(&p, row.key, row.value);
    ASSERT_TRUE(err);
    EXPECT_NE(err->find(row.must_contain), std::string::npos) << *err;
    EXPECT_LT(err->size(), 400u) << "hostile input must not be echoed whole";
    EXPECT_EQ(p, before) << "a refused value must change nothing";
  }
}

TEST(WanemParams, FormatReadsBackToTheSameParameters) {
  DirectionParams p;
  ASSERT_FALSE(set_param(&p, "delay", "12.345678ms"));
  ASSERT_FALSE(set_param(&p, "jitter", "0.5us"));
  ASSERT_FALSE(set_param(&p, "jitter_dist", "normal"));
  ASSERT_FALSE(set_param(&p, "reorder", "on"));
  ASSERT_FALSE(set_param(&p, "loss", "0.123%"));
  ASSERT_FALSE(set_param(&p, "ge", "1.5%,25%,90%,0.01%"));
  ASSERT_FALSE(set_param(&p, "rate", "1234567bit"));
  ASSERT_FALSE(set_param(&p, "queue", "1000b"));
  ASSERT_FALSE(set_param(&p, "dup", "3%"));
  std::string text = format_params(p);
  DirectionParams q;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    size_t eq = word.find('=');
    ASSERT_NE(eq, std::string::npos) << word;
    auto err = set_param(&q, word.substr(0, eq), word.substr(eq + 1));
    ASSERT_FALSE(err) << *err;
    start = end + 1;
  }
  EXPECT_EQ(format_params(q), text);
  EXPECT_EQ(q.delay_ns, p.delay_ns);
  EXPECT_EQ(q.jitter_ns, 500);
  EXPECT_EQ(q.rate_bps, p.rate_bps);
  EXPECT_EQ(q.queue, p.queue);
}

TEST(WanemParams, FormattedUnits) {
  EXPECT_EQ(format_duration(0), "0ms");
  EXPECT_EQ(format_duration(20'000'000), "20ms");
  EXPECT_EQ(format_duration(2'000'000'000), "2s");
  EXPECT_EQ(format_duration(1'500'000), "1500us");
  EXPECT_EQ(format_duration(1'234), "1.234us");
  EXPECT_EQ(format_rate(2'000'000), "2mbit");
  EXPECT_EQ(format_rate(1'000'000'000), "1gbit");
  EXPECT_EQ(format_rate(1'500), "1500bit");
  EXPECT_EQ(format_rate(0), "off");
  EXPECT_EQ(format_queue({QueueUnit::kBytes, 65536}), "64kb");
  EXPECT_EQ(format_queue({QueueUnit::kBytes, 1500}), "1500b");
  EXPECT_EQ(format_queue({QueueUnit::kPackets, 100}), "100pkt");
  EXPECT_EQ(format_percent(0.02), "2%");
}

TEST(WanemParams, GilbertElliottStationaryLoss) {
  struct Row {
    GilbertElliott ge;
    double expected;
  };
  const Row rows[] = {
      {{0.01, 0.30, 1.0, 0.0}, 0.01 / 0.31},
      {{0.05, 0.05, 1.0, 0.0}, 0.5},
      {{0.02, 0.20, 0.5, 0.01}, (0.02 / 0.22) * 0.5 + (0.20 / 0.22) * 0.01},
      {{0.0, 0.0, 1.0, 0.03}, 0.03},  // never leaves the good state
  };
  for (const Row& row : rows) EXPECT_NEAR(row.ge.stationary_loss(), row.expected, 1e-12);
}

TEST(WanemProfiles, EveryProfileParsesAndIsAsymmetric) {
  ASSERT_EQ(profiles().size(), 6u);
  for (const char* name : {"fiber", "vdsl", "adsl", "4g", "5g", "satellite"}) {
    SCOPED_TRACE(name);
    const Profile* profile = find_profile(name);
    ASSERT_NE(profile, nullptr);
    DirectionParams up, down;
    ASSERT_FALSE(apply_profile(*profile, Dir::kA2B, &up));
    ASSERT_FALSE(apply_profile(*profile, Dir::kB2A, &down));
    EXPECT_GT(down.rate_bps, up.rate_bps) << "download faster than upload";
    EXPECT_GT(up.delay_ns, 0);
    EXPECT_GT(down.delay_ns, 0);
    EXPECT_GT(up.loss, 0);
    EXPECT_EQ(up.queue.unit, QueueUnit::kBytes);
    EXPECT_TRUE(up.up);
  }
  DirectionParams sat;
  ASSERT_FALSE(apply_profile(*find_profile("satellite"), Dir::kB2A, &sat));
  EXPECT_GE(sat.delay_ns, 250'000'000) << "GEO: ~2 x 36000 km at the speed of light";
  EXPECT_EQ(find_profile("fibre"), nullptr);
  EXPECT_EQ(find_profile(""), nullptr);
}

TEST(WanemProfiles, ApplyKeepsTheLinkStateAndResetsTheRest) {
  DirectionParams p;
  p.up = false;
  p.dup = 0.5;
  ASSERT_FALSE(apply_profile(*find_profile("vdsl"), Dir::kA2B, &p));
  EXPECT_FALSE(p.up);
  EXPECT_EQ(p.dup, 0.0);
  EXPECT_EQ(p.rate_bps, 8'000'000u);
}

}  // namespace
}  // namespace traboule::wanem

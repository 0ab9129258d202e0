// SPDX-License-Identifier: Apache-2.0
// The impairment core on a simulated clock: delay, jitter moments, ordering with and without
// reordering, random and Gilbert-Elliott loss against their statistical bounds, serialisation
// at the rate, tail drop, duplication, outage, and the counters' bookkeeping. Statistical
// checks use 4-sigma bounds computed for the sample size (seeded, so they are deterministic).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tools/wanem/link_model.h"

namespace traboule::wanem {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kUs = 1'000;
constexpr int64_t kEnd = LinkDirection::kNever;

DirectionParams parse(const std::string& text) {
  DirectionParams p;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    size_t eq = word.find('=');
    auto err = set_param(&p, word.substr(0, eq), word.substr(eq + 1));
    EXPECT_FALSE(err) << *err;
    start = end + 1;
  }
  return p;
}

LinkDirection make(const std::string& text, uint64_t seed = 42, size_t max_held = 1'000'000) {
  LinkDirection link(seed, max_held);
  link.configure(parse(text), 0, nullptr);
  return link;
}

std::vector<Departure> drain(LinkDirection* link, int64_t now = kEnd) {
  std::vector<Departure> out;
  Departure d;
  while (link->pop_due(now, &d)) out.push_back(d);
  return out;
}

// Every copy is accounted for: received + duplicated = departed + dropped + still held.
void expect_balanced(const LinkDirection& link) {
  const DirectionCounters& c = link.counters();
  uint64_t dropped =
      c.drop_loss + c.drop_ge_loss + c.drop_queue_full + c.drop_outage + c.drop_overflow;
  EXPECT_EQ(c.rx_frames + c.duplicated, c.departed_frames + dropped + link.held_frames());
}

struct Moments {
  double mean = 0, var = 0;
};
Moments moments(const std::vector<double>& xs) {
  Moments m;
  for (double x : xs) m.mean += x;
  m.mean /= static_cast<double>(xs.size());
  for (double x : xs) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(xs.size() - 1);
  return m;
}

TEST(WanemLinkModel, FixedDelayIsExactAndNotEarly) {
  struct Row {
    const char* params;
    int64_t delay_ns;
  };
  const Row rows[] = {{"delay=40ms", 40 * kMs},
                      {"delay=0", 0},
                      {"delay=1us", kUs},
                      {"delay=60s", 60'000 * kMs},
                      {"delay=270ms", 270 * kMs}};
  for (const Row& row : rows) {
    SCOPED_TRACE(row.params);
    LinkDirection link = make(row.params);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(link.arrive(i, 100, i * 3 * kMs + 7), 1);
    for (int i = 0; i < 100; ++i) {
      int64_t due = i * 3 * kMs + 7 + row.delay_ns;
      Departure d;
      EXPECT_FALSE(link.pop_due(due - 1, &d)) << "frame " << i << " would leave early";
      ASSERT_TRUE(link.pop_due(due, &d));
      EXPECT_EQ(d.time_ns, due);
      EXPECT_EQ(d.cookie, static_cast<uint64_t>(i));
      EXPECT_EQ(d.len_bytes, 100u);
    }
    EXPECT_EQ(link.next_departure_ns(), kEnd);
    EXPECT_EQ(link.counters().delay_max_ns, row.delay_ns);
    expect_balanced(link);
  }
}

TEST(WanemLinkModel, JitterMomentsMatchTheDistribution) {
  struct Row {
    const char* params;
    double mean_ms;
    double sd_ms;
    double kurtosis_var_ratio;  // (mu4 - sigma^4) / sigma^4: 0.8 uniform, 2 normal
    double min_ms, max_ms;      // hard bounds of the distribution
  };
  const Row rows[] = {
      {"delay=50ms jitter=10ms jitter_dist=uniform reorder=on", 50, 10 / std::sqrt(3.0), 0.8, 40,
       60},
      {"delay=50ms jitter=5ms jitter_dist=normal reorder=on", 50, 5, 2.0, 0, 1e9},
      {"delay=20ms jitter=500us jitter_dist=normal reorder=on", 20, 0.5, 2.0, 0, 1e9},
  };
  constexpr int kN = 200'000;
  for (const Row& row : rows) {
    SCOPED_TRACE(row.params);
    LinkDirection link = make(row.params);
    for (int i = 0; i < kN; ++i) link.arrive(i, 100, static_cast<int64_t>(i) * kMs);
    std::vector<double> delays;
    for (const Departure& d : drain(&link)) {
      delays.push_back(static_cast<double>(d.time_ns - static_cast<int64_t>(d.cookie) * kMs) / kMs);
    }
    ASSERT_EQ(delays.size(), static_cast<size_t>(kN));
    Moments m = moments(delays);
    double se_mean = row.sd_ms / std::sqrt(kN);
    EXPECT_NEAR(m.mean, row.mean_ms, 4 * se_mean);
    double var = row.sd_ms * row.sd_ms;
    double se_var = var * std::sqrt(row.kurtosis_var_ratio / kN);
    EXPECT_NEAR(m.var, var, 4 * se_var);
    EXPECT_GE(*std::min_element(delays.begin(), delays.end()), row.min_ms);
    EXPECT_LE(*std::max_element(delays.begin(), delays.end()), row.max_ms);
  }
}

TEST(WanemLinkModel, NormalJitterHasTheNormalShape) {
  constexpr int kN = 200'000;
  LinkDirection link = make("delay=100ms jitter=10ms jitter_dist=normal reorder=on", 7);
  for (int i = 0; i < kN; ++i) link.arrive(i, 100, static_cast<int64_t>(i) * kMs);
  int within_1sd = 0, within_2sd = 0;
  for (const Departure& d : drain(&link)) {
    double x = std::abs(
        static_cast<double>(d.time_ns - static_cast<int64_t>(d.cookie) * kMs) / kMs - 100.0);
    within_1sd += x <= 10.0;
    within_2sd += x <= 20.0;
  }
  auto near = [&](int count, double p) {
    EXPECT_NEAR(count, p * kN, 4 * std::sqrt(kN * p * (1 - p)));
  };
  near(within_1sd, 0.682689);
  near(within_2sd, 0.954500);
}

TEST(WanemLinkModel, WithoutReorderAFrameNeverLeavesBeforeThePreviousOne) {
  struct Row {
    const char* params;
    bool expect_reordering;
  };
  const Row rows[] = {
      {"delay=20ms jitter=10ms jitter_dist=uniform reorder=off", false},
      {"delay=20ms jitter=10ms jitter_dist=normal reorder=off", false},
      {"delay=20ms jitter=10ms jitter_dist=uniform reorder=on", true},
      {"delay=20ms jitter=10ms jitter_dist=normal reorder=on", true},
      {"delay=1ms jitter=5s jitter_dist=normal reorder=off", false},  // jitter >> delay
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.params);
    LinkDirection link = make(row.params);
    for (int i = 0; i < 20'000; ++i) link.arrive(i, 100, static_cast<int64_t>(i) * 100 * kUs);
    std::vector<Departure> out = drain(&link);
    ASSERT_EQ(out.size(), 20'000u);
    int inversions = 0;
    for (size_t i = 1; i < out.size(); ++i) {
      EXPECT_GE(out[i].time_ns, out[i - 1].time_ns);
      inversions += out[i].cookie < out[i - 1].cookie;
      EXPECT_GE(out[i].time_ns, static_cast<int64_t>(out[i].cookie) * 100 * kUs)
          << "left before it arrived";
    }
    if (row.expect_reordering) {
      EXPECT_GT(inversions, 1000);
    } else {
      EXPECT_EQ(inversions, 0);
    }
  }
}

// Variance of the number of losses in n frames under Gilbert-Elliott: the per-state Bernoulli
// noise plus the slowly mixing state (lag-k correlation lambda^k, lambda = 1 - p - r).
double ge_loss_sd(const GilbertElliott& ge, double n) {
  double pi_b = ge.p / (ge.p + ge.r), pi_g = 1 - pi_b, lambda = 1 - ge.p - ge.r;
  double noise = pi_b * ge.loss_bad * (1 - ge.loss_bad) + pi_g * ge.loss_good * (1 - ge.loss_good);
  double d = ge.loss_bad - ge.loss_good;
  double state = d * d * pi_b * pi_g * (1 + lambda) / (1 - lambda);
  return std::sqrt(n * (noise + state));
}

TEST(WanemLinkModel, LossRatesWithinStatisticalBounds) {
  struct Row {
    const char* params;
    double expected_rate;
    bool gilbert;
  };
  const Row rows[] = {
      {"loss=2%", 0.02, false},
      {"loss=0.1%", 0.001, false},
      {"loss=50%", 0.5, false},
      {"ge=1%,30%", 0.01 / 0.31, true},
      {"ge=5%,5%", 0.5, true},
      {"ge=2%,20%,50%,1%", (0.02 / 0.22) * 0.5 + (0.2 / 0.22) * 0.01, true},
      {"ge=0.5%,50%,100%,0%", 0.005 / 0.505, true},
  };
  constexpr int kN = 400'000;
  for (const Row& row : rows) {
    SCOPED_TRACE(row.params);
    DirectionParams params = parse(row.params);
    LinkDirection link = make(row.params, 1234);
    for (int i = 0; i < kN; ++i) link.arrive(i, 100, static_cast<int64_t>(i) * kUs);
    const DirectionCounters& c = link.counters();
    uint64_t lost = row.gilbert ? c.drop_ge_loss : c.drop_loss;
    EXPECT_EQ(c.drop_loss + c.drop_ge_loss, lost) << "only the configured model drops";
    double sd = row.gilbert ? ge_loss_sd(*params.ge, kN)
                            : std::sqrt(kN * row.expected_rate * (1 - row.expected_rate));
    EXPECT_NEAR(static_cast<double>(lost), row.expected_rate * kN, 4 * sd);
    if (row.gilbert) {
      EXPECT_NEAR(params.ge->stationary_loss(), row.expected_rate, 1e-12);
    }
    expect_balanced(link);
  }
}

TEST(WanemLinkModel, GilbertElliottLossComesInBurstsOfMeanLengthOneOverR) {
  // With 1-h = 100% and 1-k = 0, a loss run is a stay in the bad state: geometric, mean 1/r.
  constexpr int kN = 500'000;
  for (double r : {0.25, 0.5}) {
    SCOPED_TRACE(r);
    GilbertElliott ge{0.01, r, 1.0, 0.0};
    DirectionParams p;
    p.ge = ge;
    LinkDirection link(99, kN);
    link.configure(p, 0, nullptr);
    std::vector<bool> passed(kN, false);
    for (int i = 0; i < kN; ++i) link.arrive(i, 100, static_cast<int64_t>(i) * kUs);
    for (const Departure& d : drain(&link)) passed[d.cookie] = true;
    int runs = 0, lost = 0;
    for (int i = 0; i < kN; ++i) {
      if (!passed[i]) {
        ++lost;
        if (i == 0 || passed[i - 1]) ++runs;
      }
    }
    ASSERT_GT(runs, 1000);
    double mean_run = static_cast<double>(lost) / runs;
    // Run lengths are geometric: sd = sqrt(1 - r) / r per run.
    double se = std::sqrt(1 - r) / r / std::sqrt(runs);
    EXPECT_NEAR(mean_run, 1 / r, 4 * se);
  }
}

TEST(WanemLinkModel, RateSerialisesBackToBackFrames) {
  struct Row {
    const char* params;
    uint32_t len;
    int burst;
    int64_t per_frame_ns;
    int64_t delay_ns;
  };
  const Row rows[] = {
      {"rate=1mbit queue=100pkt", 1250, 5, 10 * kMs, 0},  // 10000 bits at 1 Mbit/s
      {"rate=8mbit queue=100pkt delay=20ms", 1000, 4, 1 * kMs, 20 * kMs},
      {"rate=1gbit queue=1mb", 1500, 10, 12 * kUs, 0},
      {"rate=100kbit queue=10pkt delay=5ms", 125, 3, 10 * kMs, 5 * kMs},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.params);
    LinkDirection link = make(row.params);
    for (int i = 0; i < row.burst; ++i) ASSERT_EQ(link.arrive(i, row.len, 0), 1);
    QueueDepth q = link.queue_depth(0);
    EXPECT_EQ(q.packets, static_cast<uint64_t>(row.burst));
    EXPECT_EQ(q.bytes, static_cast<uint64_t>(row.burst) * row.len);
    std::vector<Departure> out = drain(&link);
    ASSERT_EQ(out.size(), static_cast<size_t>(row.burst));
    for (int i = 0; i < row.burst; ++i) {
      EXPECT_EQ(out[i].time_ns, (i + 1) * row.per_frame_ns + row.delay_ns) << "frame " << i;
    }
    // After the line has drained, a lone frame only waits for its own serialisation.
    int64_t later = 10'000 * kMs;
    EXPECT_EQ(link.queue_depth(later).packets, 0u);
    link.arrive(99, row.len, later);
    EXPECT_EQ(link.next_departure_ns(), later + row.per_frame_ns + row.delay_ns);
  }
}

TEST(WanemLinkModel, LongRunRateIsExactWithOddSizes) {
  // 3 Mbit/s does not divide the frame times evenly: the remainder is carried, not lost.
  LinkDirection link = make("rate=3mbit queue=100000pkt");
  uint64_t bits = 0;
  for (int i = 0; i < 10'000; ++i) {
    uint32_t len = 64 + static_cast<uint32_t>(i * 37 % 1437);
    bits += len * 8ULL;
    link.arrive(i, len, 0);
  }
  std::vector<Departure> out = drain(&link);
  int64_t expected = static_cast<int64_t>(bits * 1'000'000'000ULL / 3'000'000ULL);
  EXPECT_EQ(out.back().time_ns, expected);
}

TEST(WanemLinkModel, QueueTailDrops) {
  struct Row {
    const char* params;
    uint32_t len;
    int burst;
    int accepted;
  };
  const Row rows[] = {
      {"rate=1mbit queue=3pkt", 1000, 10, 3},   {"rate=1mbit queue=1pkt", 1000, 10, 1},
      {"rate=1mbit queue=3000b", 1000, 10, 3},  {"rate=1mbit queue=2999b", 1000, 10, 2},
      {"rate=1mbit queue=64b", 1000, 5, 0},  // a frame larger than the whole buffer
      {"rate=1mbit queue=64kb", 1500, 100, 43},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.params);
    LinkDirection link = make(row.params);
    int accepted = 0;
    for (int i = 0; i < row.burst; ++i) accepted += link.arrive(i, row.len, 0);
    EXPECT_EQ(accepted, row.accepted);
    EXPECT_EQ(link.counters().drop_queue_full, static_cast<uint64_t>(row.burst - row.accepted));
    expect_balanced(link);
  }
  // Room comes back as the head frame finishes serialising (1000 B at 1 Mbit/s = 8 ms).
  LinkDirection link = make("rate=1mbit queue=2pkt");
  EXPECT_EQ(link.arrive(0, 1000, 0), 1);
  EXPECT_EQ(link.arrive(1, 1000, 0), 1);
  EXPECT_EQ(link.arrive(2, 1000, 8 * kMs - 1), 0);
  EXPECT_EQ(link.arrive(3, 1000, 8 * kMs), 1);
  EXPECT_EQ(link.queue_depth(8 * kMs).packets, 2u);
  EXPECT_EQ(link.queue_depth(24 * kMs).packets, 0u);
}

TEST(WanemLinkModel, Duplication) {
  {
    LinkDirection link = make("dup=100% delay=1ms");
    for (int i = 0; i < 100; ++i) EXPECT_EQ(link.arrive(i, 100, i * kMs), 2);
    std::vector<Departure> out = drain(&link);
    ASSERT_EQ(out.size(), 200u);
    for (size_t i = 0; i < out.size(); i += 2) EXPECT_EQ(out[i].cookie, out[i + 1].cookie);
    EXPECT_EQ(link.counters().duplicated, 100u);
    expect_balanced(link);
  }
  {
    constexpr int kN = 200'000;
    LinkDirection link = make("dup=10%");
    for (int i = 0; i < kN; ++i) link.arrive(i, 100, i);
    EXPECT_NEAR(static_cast<double>(link.counters().duplicated), 0.1 * kN,
                4 * std::sqrt(kN * 0.1 * 0.9));
    expect_balanced(link);
  }
  {  // A duplicate takes room in the queue like any frame.
    LinkDirection link = make("dup=100% rate=1mbit queue=3pkt");
    EXPECT_EQ(link.arrive(0, 1000, 0), 2);
    EXPECT_EQ(link.arrive(1, 1000, 0), 1);
    EXPECT_EQ(link.counters().drop_queue_full, 1u);
    expect_balanced(link);
  }
}

TEST(WanemLinkModel, OutageDropsEverythingAndCountsIt) {
  LinkDirection link = make("delay=100ms rate=1mbit queue=100pkt");
  for (int i = 0; i < 10; ++i) link.arrive(i, 1000, i * kMs);
  EXPECT_EQ(link.held_frames(), 10u);
  DirectionParams down = link.params();
  down.up = false;
  std::vector<uint64_t> flushed;
  link.configure(down, 20 * kMs, &flushed);
  EXPECT_EQ(flushed.size(), 10u);
  EXPECT_EQ(link.held_frames(), 0u);
  EXPECT_EQ(link.queue_depth(20 * kMs).packets, 0u);
  for (int i = 10; i < 15; ++i) EXPECT_EQ(link.arrive(i, 1000, 30 * kMs), 0);
  EXPECT_EQ(link.counters().drop_outage, 15u);
  EXPECT_TRUE(drain(&link).empty());

  DirectionParams up = down;
  up.up = true;
  link.configure(up, 40 * kMs, &flushed);
  EXPECT_EQ(link.arrive(20, 1000, 40 * kMs), 1);
  std::vector<Departure> out = drain(&link);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].time_ns, 40 * kMs + 8 * kMs + 100 * kMs);  // serialisation + delay
  expect_balanced(link);
}

TEST(WanemLinkModel, ChangesApplyToNewArrivalsWithoutReordering) {
  LinkDirection link = make("delay=100ms");
  link.arrive(0, 100, 0);
  link.configure(parse("delay=10ms"), 1 * kMs, nullptr);
  link.arrive(1, 100, 1 * kMs);  // would be due at 11 ms, but frame 0 leaves at 100 ms
  link.arrive(2, 100, 200 * kMs);
  std::vector<Departure> out = drain(&link);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].time_ns, 100 * kMs);
  EXPECT_EQ(out[1].time_ns, 100 * kMs);
  EXPECT_EQ(out[1].cookie, 1u);
  EXPECT_EQ(out[2].time_ns, 210 * kMs);

  LinkDirection reorder = make("delay=100ms reorder=on");
  reorder.arrive(0, 100, 0);
  reorder.configure(parse("delay=10ms reorder=on"), 1 * kMs, nullptr);
  reorder.arrive(1, 100, 1 * kMs);
  out = drain(&reorder);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].cookie, 1u);
  EXPECT_EQ(out[0].time_ns, 11 * kMs);
}

TEST(WanemLinkModel, SameSeedSameDecisions) {
  auto run = [](uint64_t seed) {
    LinkDirection link = make(
        "delay=30ms jitter=8ms jitter_dist=normal reorder=on loss=5% ge=1%,20% dup=3% "
        "rate=10mbit queue=20pkt",
        seed);
    for (int i = 0; i < 50'000; ++i) {
      link.arrive(i, 200 + static_cast<uint32_t>(i % 1300), static_cast<int64_t>(i) * 300 * kUs);
    }
    expect_balanced(link);
    std::vector<std::pair<int64_t, uint64_t>> out;
    for (const Departure& d : drain(&link)) out.emplace_back(d.time_ns, d.cookie);
    return out;
  };
  auto a = run(5), b = run(5), c = run(6);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(WanemLinkModel, OverflowBoundsHeldFrames) {
  LinkDirection link = make("delay=1s", 1, 10);
  int scheduled = 0;
  for (int i = 0; i < 25; ++i) scheduled += link.arrive(i, 100, i);
  EXPECT_EQ(scheduled, 10);
  EXPECT_EQ(link.counters().drop_overflow, 15u);
  EXPECT_EQ(link.held_frames(), 10u);
  expect_balanced(link);
}

TEST(WanemLinkModel, ZeroCountersKeepsState) {
  LinkDirection link = make("delay=10ms");
  link.arrive(0, 100, 0);
  link.zero_counters();
  EXPECT_EQ(link.counters().rx_frames, 0u);
  EXPECT_EQ(link.held_frames(), 1u);
  EXPECT_EQ(drain(&link).size(), 1u);
}

}  // namespace
}  // namespace traboule::wanem

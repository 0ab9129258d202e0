// SPDX-License-Identifier: Apache-2.0
// SLA tracking from tables: the violation texts, fail fast at the first violation, and the slow
// return (every bound met with the class' margin for its whole hold time) that keeps a path
// hovering at a threshold from flapping. Time is the caller's clock, simulated here.
#include "controlplane/links/sla_tracker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace traboule::cp {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1000 * kMs;

dp::SlaClass cls(uint32_t lat_us, uint32_t jit_us, uint32_t loss_ppm, uint32_t hold_ms = 10000,
                 uint32_t margin = 20) {
  dp::SlaClass c;
  c.name = "test";
  c.max_latency_us = lat_us;
  c.max_jitter_us = jit_us;
  c.max_loss_ppm = loss_ppm;
  c.hold_ms = hold_ms;
  c.margin_percent = margin;
  return c;
}

SlaInputs in(std::optional<double> rtt, std::optional<double> jit, std::optional<double> loss,
             bool alive = true) {
  SlaInputs i;
  i.alive = alive;
  i.rtt_us = rtt;
  i.jitter_us = jit;
  i.loss_ratio = loss;
  return i;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct ViolationRow {
  const char* what;
  dp::SlaClass c;
  SlaInputs in;
  double scale;
  std::optional<std::string> want;
};

SlaInputs with_data(SlaInputs i, double data_loss) {
  i.data_loss_ratio = data_loss;
  return i;
}

TEST(SlaViolation, Table) {
  const auto voice = cls(50000, 10000, 10000);  // 50 ms one-way, 10 ms jitter, 1 % loss
  const std::vector<ViolationRow> rows = {
      {"meets every bound", voice, in(60000, 2000, 0.001), 1.0, std::nullopt},
      {"loss over", voice, in(60000, 2000, 0.05), 1.0, "loss 5.00 % > 1.00 %"},
      {"latency over (one-way is half the RTT)", voice, in(124000, 2000, 0.0), 1.0,
       "latency 62.00 ms > 50.00 ms"},
      {"jitter over", voice, in(20000, 12000, 0.0), 1.0, "jitter 12.00 ms > 10.00 ms"},
      {"down", voice, in(1000, 0, 0, false), 1.0, "down"},
      {"down wins over figures that also fail", voice, in(900000, 90000, 0.9, false), 1.0, "down"},
      {"latency is reported first", voice, in(124000, 12000, 0.05), 1.0,
       "latency 62.00 ms > 50.00 ms"},
      {"jitter before loss", voice, in(20000, 12000, 0.05), 1.0, "jitter 12.00 ms > 10.00 ms"},
      {"exactly at every bound meets", voice, in(100000, 10000, 0.01), 1.0, std::nullopt},
      {"unknown figures meet", voice, in(std::nullopt, std::nullopt, std::nullopt), 1.0,
       std::nullopt},
      {"unknown loss, bad latency", voice, in(124000, std::nullopt, std::nullopt), 1.0,
       "latency 62.00 ms > 50.00 ms"},
      {"scaled bounds (margin 20 %)", voice, in(60000, 2000, 0.0095), 0.8, "loss 0.95 % > 0.80 %"},
      {"scaled bounds, within margin", voice, in(60000, 2000, 0.0079), 0.8, std::nullopt},
      {"scaled latency", voice, in(90000, 0, 0), 0.8, "latency 45.00 ms > 40.00 ms"},
      {"no bounds at all", cls(0, 0, 1'000'000), in(9e9, 9e9, 1.0), 1.0, std::nullopt},
      {"zero-loss class: any loss violates", cls(0, 0, 0), in(1000, 0, 0.0001), 1.0,
       "loss 0.01 % > 0.00 %"},
      {"zero-loss class: no loss meets", cls(0, 0, 0), in(1000, 0, 0.0), 1.0, std::nullopt},
      // Hostile: NaN from an empty window is treated like an unknown figure (spec silent).
      {"NaN figures meet like unknown ones", voice, in(kNaN, kNaN, kNaN), 1.0, std::nullopt},
      {"negative figures meet", voice, in(-5, -1, -0.5), 1.0, std::nullopt},
      {"infinite loss violates", voice, in(1000, 0, std::numeric_limits<double>::infinity()), 1.0,
       "loss inf % > 1.00 %"},
      // The traffic's own loss (direct measurement) counts like the probes' (issue 11).
      {"traffic loss over, probes clean", voice, with_data(in(60000, 2000, 0.0), 0.05), 1.0,
       "traffic loss 5.00 % > 1.00 %"},
      {"traffic loss within", voice, with_data(in(60000, 2000, 0.0), 0.004), 1.0, std::nullopt},
      {"probe loss reported before traffic loss", voice, with_data(in(60000, 2000, 0.03), 0.05),
       1.0, "loss 3.00 % > 1.00 %"},
      {"traffic loss with margin", voice, with_data(in(60000, 2000, 0.0), 0.009), 0.8,
       "traffic loss 0.90 % > 0.80 %"},
      {"NaN traffic loss meets", voice, with_data(in(60000, 2000, 0.0), kNaN), 1.0, std::nullopt},
  };
  for (const auto& r : rows) {
    const auto got = sla_violation(r.c, r.in, r.scale);
    EXPECT_EQ(got, r.want) << r.what;
  }
}

// One measurement of a scripted series.
struct Step {
  uint64_t at_ns;
  SlaInputs in;
};

struct Event {
  uint64_t at_ns;
  bool ok;
  std::string reason;
};

std::vector<Event> run(SlaTracker& t, const dp::SlaClass& c, const std::vector<Step>& steps) {
  std::vector<Event> ev;
  for (const auto& s : steps)
    if (auto ch = t.update(c, s.in, s.at_ns)) ev.push_back({s.at_ns, ch->ok, ch->reason});
  return ev;
}

// Every 200 ms from `from` to `to` (exclusive), the figures `f(t)` gives.
std::vector<Step> series(uint64_t from, uint64_t to, std::function<SlaInputs(uint64_t)> f) {
  std::vector<Step> s;
  for (uint64_t t = from; t < to; t += 200 * kMs) s.push_back({t, f(t)});
  return s;
}

TEST(SlaTracker, FailsFastAtTheFirstViolation) {
  const auto c = cls(50000, 10000, 10000);
  SlaTracker t;
  EXPECT_TRUE(t.ok());
  EXPECT_FALSE(t.update(c, in(20000, 100, 0.0), 0)) << "meeting while ok: no change";
  EXPECT_FALSE(t.update(c, in(std::nullopt, std::nullopt, std::nullopt), 200 * kMs));
  auto ch = t.update(c, in(20000, 100, 0.05), 400 * kMs);
  ASSERT_TRUE(ch);
  EXPECT_FALSE(ch->ok);
  EXPECT_EQ(ch->reason, "loss 5.00 % > 1.00 %");
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(t.last_reason(), "loss 5.00 % > 1.00 %");
  EXPECT_FALSE(t.update(c, in(20000, 100, 0.09), 600 * kMs)) << "still failing: no new change";
  EXPECT_EQ(t.last_reason(), "loss 5.00 % > 1.00 %");
}

TEST(SlaTracker, DownIsAViolation) {
  const auto c = cls(50000, 10000, 10000, 2000);
  SlaTracker t;
  auto ev = run(t, c,
                {{0, in(1000, 0, 0, false)},
                 {1 * kSec, in(1000, 0, 0)},
                 {2 * kSec, in(1000, 0, 0)},
                 {3 * kSec, in(1000, 0, 0)}});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_FALSE(ev[0].ok);
  EXPECT_EQ(ev[0].reason, "down");
  EXPECT_TRUE(ev[1].ok);
  EXPECT_EQ(ev[1].at_ns, 3 * kSec) << "2 s hold from the first good measurement at 1 s";
  EXPECT_EQ(ev[1].reason, "met for 2 s with 20 % margin");
}

struct RecoverRow {
  const char* what;
  dp::SlaClass c;
  std::vector<Step> steps;
  std::vector<std::pair<uint64_t, bool>> want;  // (at_ns, ok) of every change
};

TEST(SlaTracker, RecoversOnlyAfterHoldWithMargin) {
  const auto c = cls(50000, 10000, 10000);  // hold 10 s, margin 20 %
  const auto bad = in(20000, 0, 0.05);
  const auto good = in(20000, 0, 0.0);
  const auto at95 = in(20000, 0, 0.0095);  // 95 % of the loss bound
  const auto at79 = in(20000, 0, 0.0079);  // within the 20 % margin
  const auto lat95 = in(95000, 0, 0.0);    // 95 % of the latency bound
  auto cat = [](std::vector<std::vector<Step>> parts) {
    std::vector<Step> s;
    for (auto& p : parts) s.insert(s.end(), p.begin(), p.end());
    return s;
  };
  const std::vector<RecoverRow> rows = {
      {"back after 10 s of good figures",
       c,
       cat({{{0, bad}}, series(200 * kMs, 30 * kSec, [&](uint64_t) { return good; })}),
       {{0, false}, {200 * kMs + 10 * kSec, true}}},
      {"within the margin counts as good",
       c,
       cat({{{0, bad}}, series(200 * kMs, 30 * kSec, [&](uint64_t) { return at79; })}),
       {{0, false}, {200 * kMs + 10 * kSec, true}}},
      {"95 % of the loss bound with margin 20 % never comes back",
       c,
       cat({{{0, bad}}, series(200 * kMs, 120 * kSec, [&](uint64_t) { return at95; })}),
       {{0, false}}},
      {"95 % of the latency bound never comes back either",
       c,
       cat({{{0, bad}}, series(200 * kMs, 120 * kSec, [&](uint64_t) { return lat95; })}),
       {{0, false}}},
      {"a violation inside the hold restarts it",
       c,
       cat({{{0, bad}},
            series(1 * kSec, 9 * kSec, [&](uint64_t) { return good; }),
            {{9 * kSec, at95}},
            series(10 * kSec, 30 * kSec, [&](uint64_t) { return good; })}),
       {{0, false}, {20 * kSec, true}}},
      {"hold 0 returns at the first good measurement",
       cls(50000, 10000, 10000, 0),
       {{0, bad}, {200 * kMs, at95}, {400 * kMs, good}},
       {{0, false}, {400 * kMs, true}}},
      {"hold 0, margin 0: at the bound returns",
       cls(50000, 10000, 10000, 0, 0),
       {{0, bad}, {200 * kMs, in(20000, 0, 0.01)}},
       {{0, false}, {200 * kMs, true}}},
      {"margin above 90 % is capped at 90 %",
       cls(50000, 10000, 10000, 0, 150),
       {{0, bad}, {200 * kMs, in(2000, 0, 0.0011)}, {400 * kMs, in(2000, 0, 0.0009)}},
       {{0, false}, {400 * kMs, true}}},
      {"fails fast again after coming back",
       cls(50000, 10000, 10000, 1000),
       {{0, bad}, {1 * kSec, good}, {2 * kSec, good}, {2 * kSec + 200 * kMs, bad}},
       {{0, false}, {2 * kSec, true}, {2 * kSec + 200 * kMs, false}}},
      {"unknown figures count as good (an unmeasured path is not punished)",
       cls(50000, 10000, 10000, 1000),
       {{0, bad},
        {1 * kSec, in(std::nullopt, std::nullopt, std::nullopt)},
        {2 * kSec, in(std::nullopt, std::nullopt, std::nullopt)}},
       {{0, false}, {2 * kSec, true}}},
  };
  for (const auto& r : rows) {
    SlaTracker t;
    const auto ev = run(t, r.c, r.steps);
    ASSERT_EQ(ev.size(), r.want.size()) << r.what;
    for (size_t i = 0; i < ev.size(); ++i) {
      EXPECT_EQ(ev[i].at_ns, r.want[i].first) << r.what << " change " << i;
      EXPECT_EQ(ev[i].ok, r.want[i].second) << r.what << " change " << i;
    }
    EXPECT_EQ(t.ok(), r.want.back().second) << r.what;
  }
}

// 10 s of good figures, then 10 s hovering at the threshold, over 120 s of 200 ms steps: at
// most one change in any minute.
TEST(SlaTracker, AlternationAtTheThresholdDoesNotFlap) {
  struct Row {
    const char* what;
    SlaInputs hover;
    bool leaves;  // the hover violates the bound: exactly one change (down), never back
  };
  const auto c = cls(50000, 10000, 10000);
  const std::vector<Row> rows = {
      {"exactly at the loss bound", in(20000, 0, 0.01), false},
      {"just over the loss bound", in(20000, 0, 0.0101), true},
      {"just over the latency bound", in(100200, 0, 0.0), true},
      {"just over the jitter bound", in(20000, 10010, 0.0), true},
      {"measured down", in(20000, 0, 0.0, false), true},
  };
  for (bool start_good : {true, false}) {
    for (const auto& r : rows) {
      SlaTracker t;
      std::vector<uint64_t> changes;
      for (uint64_t at = 0; at < 120 * kSec; at += 200 * kMs) {
        const bool hover = ((at / (10 * kSec)) % 2 == 1) == start_good;
        if (t.update(c, hover ? r.hover : in(20000, 0, 0.0), at)) changes.push_back(at);
      }
      for (size_t i = 1; i < changes.size(); ++i)
        EXPECT_GE(changes[i] - changes[i - 1], 60 * kSec)
            << r.what << (start_good ? " (good first)" : " (hover first)") << ": changes at "
            << changes[i - 1] / kMs << " ms and " << changes[i] / kMs << " ms";
      EXPECT_EQ(changes.size(), r.leaves ? 1u : 0u) << r.what;
      EXPECT_EQ(t.ok(), !r.leaves) << r.what;
    }
  }
}

// A per-sample hover around the bound (±10 %): one change down, then never back.
TEST(SlaTracker, JitteringAroundTheBoundLeavesOnce) {
  const auto c = cls(50000, 10000, 10000);
  SlaTracker t;
  unsigned changes = 0;
  for (uint64_t i = 0; i < 600; ++i)
    if (t.update(c, in(20000, 0, i % 2 ? 0.011 : 0.009), i * 200 * kMs)) ++changes;
  EXPECT_EQ(changes, 1u);
  EXPECT_FALSE(t.ok());
}

}  // namespace
}  // namespace traboule::cp

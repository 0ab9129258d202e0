// SPDX-License-Identifier: Apache-2.0
// Path selection row by row: every strategy, stickiness, the reasons a flow moves, backups only
// while no primary qualifies, the SLA fallbacks, and rules or flows naming uplinks that do not
// exist. Also the quality score best-quality ranks by.
#include "dataplane/select/path_select.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace traboule::dp {
namespace {

using Cands = std::array<PathCandidate, kMaxUplinks>;

// Every uplink usable, alive, meeting the SLA, under its cap, primary, unmeasured.
Cands all_good() {
  Cands c;
  for (auto& x : c) {
    x.usable = true;
    x.alive = true;
  }
  return c;
}

RuleAction action(PathStrategy s, std::vector<uint8_t> ups, std::vector<uint16_t> weights = {},
                  SlaFallback fb = SlaFallback::kBestAvailable) {
  RuleAction a;
  a.strategy = s;
  a.uplinks = std::move(ups);
  a.weights = std::move(weights);
  a.fallback = fb;
  return a;
}

std::string reason_name(PathReason r) {
  const auto i = static_cast<unsigned>(r);
  return i < kPathReasonCount ? kPathReasonNames[i] : "?";
}

struct Row {
  const char* what;
  RuleAction a;
  std::function<void(Cands&)> edit;  // applied to all_good()
  uint8_t current;
  bool sticky_backup;
  uint8_t want_uplink;
  uint8_t want_second;
  PathReason want_reason;
};

constexpr auto P = PathStrategy::kPriority;
constexpr auto BQ = PathStrategy::kBestQuality;
constexpr auto LC = PathStrategy::kLowestCost;
constexpr auto LB = PathStrategy::kLoadBalance;
constexpr auto DUP = PathStrategy::kDuplicate;
constexpr auto kB = UplinkRole::kBackup;
constexpr uint8_t N = kNoUplink;

void none(Cands&) {}

TEST(PathSelect, Table) {
  std::vector<Row> rows = {
      // Strategies, new flows.
      {"priority: first listed", action(P, {1, 0}), none, N, false, 1, N, PathReason::kNew},
      {"priority: first listed down at the driver", action(P, {1, 0}),
       [](Cands& c) { c[1].usable = false; }, N, false, 0, N, PathReason::kNew},
      {"priority: first listed measured down", action(P, {1, 0}),
       [](Cands& c) { c[1].alive = false; }, N, false, 0, N, PathReason::kNew},
      {"priority: first listed fails the SLA", action(P, {1, 0}),
       [](Cands& c) { c[1].sla = false; }, N, false, 0, N, PathReason::kNew},
      {"best-quality: lowest score",
       action(BQ, {0, 1, 2}),
       [](Cands& c) {
         c[0].score = 500;
         c[1].score = 300;
         c[2].score = 900;
       },
       N, false, 1, N, PathReason::kNew},
      {"best-quality: tie goes to the first listed",
       action(BQ, {2, 0}),
       [](Cands& c) {
         c[0].score = 300;
         c[2].score = 300;
       },
       N, false, 2, N, PathReason::kNew},
      {"best-quality: measured beats unmeasured", action(BQ, {0, 1}),
       [](Cands& c) { c[1].score = 123456; }, N, false, 1, N, PathReason::kNew},
      {"best-quality: the best one fails the SLA",
       action(BQ, {0, 1, 2}),
       [](Cands& c) {
         c[0].score = 500;
         c[1].score = 300;
         c[1].sla = false;
         c[2].score = 900;
       },
       N, false, 0, N, PathReason::kNew},
      {"lowest-cost: cheapest, tie to the first listed",
       action(LC, {0, 1, 2}),
       [](Cands& c) {
         c[0].cost = 10;
         c[1].cost = 5;
         c[2].cost = 5;
       },
       N, false, 1, N, PathReason::kNew},
      {"lowest-cost: cheapest at its cap",
       action(LC, {0, 1, 2}),
       [](Cands& c) {
         c[0].cost = 10;
         c[1].cost = 5;
         c[1].cap_ok = false;
         c[2].cost = 7;
       },
       N, false, 2, N, PathReason::kNew},
      {"load-balance: weight 0 never takes a flow while a weighted one qualifies",
       action(LB, {0, 1}, {0, 1}), none, N, false, 1, N, PathReason::kNew},
      {"load-balance: weight 0 takes flows when no weighted uplink qualifies",
       action(LB, {0, 1}, {0, 1}), [](Cands& c) { c[1].usable = false; }, N, false, 0, N,
       PathReason::kNew},
      {"duplicate: first two primaries", action(DUP, {0, 1, 2}), none, N, false, 0, 1,
       PathReason::kNew},
      {"duplicate: the second copy is of the same role (skips a backup)",
       action(DUP, {0, 1, 2}), [](Cands& c) { c[1].role = kB; }, N, false, 0, 2,
       PathReason::kNew},
      {"duplicate: a single qualifying uplink has no second", action(DUP, {0, 1}),
       [](Cands& c) { c[1].alive = false; }, N, false, 0, N, PathReason::kNew},
      {"duplicate: a backup never carries a copy of a primary", action(DUP, {0, 1}),
       [](Cands& c) { c[1].role = kB; }, N, false, 0, N, PathReason::kNew},
      {"duplicate: both backups when no primary qualifies",
       action(DUP, {0, 1, 2}),
       [](Cands& c) {
         c[0].usable = false;
         c[1].role = kB;
         c[2].role = kB;
       },
       N, false, 1, 2, PathReason::kNew},
      {"duplicate: the same uplink listed twice is not its own second", action(DUP, {0, 0}), none,
       N, false, 0, N, PathReason::kNew},

      // Stickiness.
      {"kept while it qualifies (priority would pick another)", action(P, {0, 1}), none, 1,
       false, 1, N, PathReason::kKept},
      {"kept while it qualifies (best-quality has a better one)",
       action(BQ, {0, 1}),
       [](Cands& c) {
         c[0].score = 100;
         c[1].score = 5000;
       },
       1, false, 1, N, PathReason::kKept},
      {"kept (lowest-cost has a cheaper one)",
       action(LC, {0, 1}),
       [](Cands& c) {
         c[0].cost = 1;
         c[1].cost = 100;
       },
       1, false, 1, N, PathReason::kKept},
      {"kept (load-balance would hash it elsewhere)", action(LB, {0, 1}, {1, 0}), none, 1,
       false, 1, N, PathReason::kKept},
      {"duplicate: kept first, second recomputed", action(DUP, {0, 1, 2}), none, 2, false, 2, 0,
       PathReason::kKept},

      // Why a flow moves.
      {"current down at the driver", action(P, {0, 1}), [](Cands& c) { c[1].usable = false; }, 1,
       false, 0, N, PathReason::kCurrentDown},
      {"current measured down", action(P, {0, 1}), [](Cands& c) { c[1].alive = false; }, 1,
       false, 0, N, PathReason::kCurrentDown},
      {"current fails the SLA", action(P, {0, 1}), [](Cands& c) { c[1].sla = false; }, 1, false,
       0, N, PathReason::kCurrentSla},
      {"current fails the SLA, best-quality moves to the best",
       action(BQ, {0, 1, 2}),
       [](Cands& c) {
         c[0].score = 800;
         c[1].sla = false;
         c[2].score = 200;
       },
       1, false, 2, N, PathReason::kCurrentSla},
      // Spec silent: a reached cap is reported like a down link (not an SLA matter).
      {"current reached its cap", action(P, {0, 1}), [](Cands& c) { c[1].cap_ok = false; }, 1,
       false, 0, N, PathReason::kCurrentDown},
      {"current no longer listed by the rule", action(P, {0, 1}), none, 2, false, 0, N,
       PathReason::kCurrentDown},

      // Roles.
      {"a backup listed first is not used while a primary qualifies", action(P, {0, 1}),
       [](Cands& c) { c[0].role = kB; }, N, false, 1, N, PathReason::kNew},
      {"best-quality: a better backup is not used while a primary qualifies",
       action(BQ, {0, 1}),
       [](Cands& c) {
         c[0].role = kB;
         c[0].score = 1;
         c[1].score = 90000;
       },
       N, false, 1, N, PathReason::kNew},
      {"backup when no primary qualifies (SLA)", action(P, {0, 1}),
       [](Cands& c) {
         c[0].role = kB;
         c[1].sla = false;
       },
       N, false, 0, N, PathReason::kNew},
      {"backup when the primary goes down", action(P, {1, 0}),
       [](Cands& c) {
         c[0].role = kB;
         c[1].usable = false;
       },
       1, false, 0, N, PathReason::kCurrentDown},
      {"backup → primary again", action(P, {1, 0}), [](Cands& c) { c[0].role = kB; }, 0, false,
       1, N, PathReason::kPrimaryBack},
      {"backup → primary again, load-balance", action(LB, {1, 2, 0}, {1, 0, 1}),
       [](Cands& c) { c[0].role = kB; }, 0, false, 1, N, PathReason::kPrimaryBack},
      {"sticky backup stays on the backup", action(P, {1, 0}), [](Cands& c) { c[0].role = kB; },
       0, true, 0, N, PathReason::kKept},
      {"backup kept while the primary still fails its SLA", action(P, {1, 0}),
       [](Cands& c) {
         c[0].role = kB;
         c[1].sla = false;
       },
       0, false, 0, N, PathReason::kKept},
      {"primary with sticky_backup is kept as usual", action(P, {0, 1}), none, 1, true, 1, N,
       PathReason::kKept},

      // Monthly caps (cap_ok computed by the caller: a critical class passes true).
      {"cap reached excludes", action(P, {0, 1}), [](Cands& c) { c[0].cap_ok = false; }, N,
       false, 1, N, PathReason::kNew},
      {"every uplink at its cap: nothing", action(P, {0, 1}),
       [](Cands& c) {
         c[0].cap_ok = false;
         c[1].cap_ok = false;
       },
       N, false, N, N, PathReason::kNone},
      {"fallback skips an uplink at its cap",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].sla = false;
         c[0].cap_ok = false;
         c[0].score = 1;
         c[1].sla = false;
         c[1].score = 5000;
       },
       N, false, 1, N, PathReason::kFallback},

      // Nothing meets the SLA.
      {"fallback best-available: best score",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].sla = false;
         c[0].score = 900;
         c[1].sla = false;
         c[1].score = 300;
       },
       N, false, 1, N, PathReason::kFallback},
      {"fallback best-available: primaries before a better backup",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].sla = false;
         c[0].score = 900;
         c[1].sla = false;
         c[1].score = 100;
         c[1].role = kB;
       },
       N, false, 0, N, PathReason::kFallback},
      {"fallback best-available: a live one before a measured-down one",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].alive = false;
         c[0].score = 1;
         c[1].sla = false;
         c[1].score = 9000;
       },
       N, false, 1, N, PathReason::kFallback},
      {"fallback best-available: current kept (no move for nothing)",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].sla = false;
         c[0].score = 100;
         c[1].sla = false;
         c[1].score = 900;
       },
       1, false, 1, N, PathReason::kKept},
      {"fallback drop", action(P, {0, 1}, {}, SlaFallback::kDrop),
       [](Cands& c) {
         c[0].sla = false;
         c[1].sla = false;
       },
       N, false, N, N, PathReason::kSlaDrop},
      {"fallback drop: current flow dropped too", action(P, {0, 1}, {}, SlaFallback::kDrop),
       [](Cands& c) {
         c[0].sla = false;
         c[1].sla = false;
       },
       0, false, N, N, PathReason::kSlaDrop},
      {"fallback drop does not apply while one meets the SLA",
       action(P, {0, 1}, {}, SlaFallback::kDrop), [](Cands& c) { c[0].sla = false; }, N, false,
       1, N, PathReason::kNew},
      {"everything measured down: keep the current one the driver has up",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].alive = false;
         c[1].alive = false;
       },
       1, false, 1, N, PathReason::kKept},
      {"everything measured down, even with fallback drop: keep current",
       action(P, {0, 1}, {}, SlaFallback::kDrop),
       [](Cands& c) {
         c[0].alive = false;
         c[1].alive = false;
       },
       1, false, 1, N, PathReason::kKept},
      {"everything measured down, new flow: best the driver has up",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].alive = false;
         c[0].score = 700;
         c[1].alive = false;
         c[1].score = 200;
       },
       N, false, 1, N, PathReason::kFallback},
      {"everything measured down, current down at the driver",
       action(P, {0, 1}),
       [](Cands& c) {
         c[0].alive = false;
         c[1].alive = false;
         c[1].usable = false;
       },
       1, false, 0, N, PathReason::kFallback},
      {"nothing usable", action(P, {0, 1, 2, 3}),
       [](Cands& c) {
         for (auto& x : c) x.usable = false;
       },
       N, false, N, N, PathReason::kNone},
      {"nothing usable, current set", action(BQ, {0, 1}),
       [](Cands& c) {
         for (auto& x : c) x.usable = false;
       },
       0, false, N, N, PathReason::kNone},
      {"duplicate in fallback: no second (none qualifies)", action(DUP, {0, 1}),
       [](Cands& c) {
         c[0].sla = false;
         c[1].sla = false;
       },
       N, false, 0, N, PathReason::kFallback},

      // Hostile.
      {"rule lists uplinks >= kMaxUplinks", action(P, {7, 200, 4, 2}), none, N, false, 2, N,
       PathReason::kNew},
      {"rule lists only uplinks >= kMaxUplinks", action(BQ, {4, 255, 0xfe}), none, N, false, N,
       N, PathReason::kNone},
      {"best-quality over out-of-range entries", action(BQ, {9, 1, 0xff, 0}),
       [](Cands& c) {
         c[0].score = 10;
         c[1].score = 20;
       },
       N, false, 0, N, PathReason::kNew},
      {"lowest-cost over out-of-range entries", action(LC, {9, 1, 0}),
       [](Cands& c) {
         c[0].cost = 10;
         c[1].cost = 2;
       },
       N, false, 1, N, PathReason::kNew},
      {"load-balance: out-of-range entry with a weight", action(LB, {9, 0}, {50, 1}), none, N,
       false, 0, N, PathReason::kNew},
      {"load-balance: more weights than uplinks", action(LB, {0}, {1, 2, 3, 4, 5}), none, N,
       false, 0, N, PathReason::kNew},
      {"load-balance: all weights 0", action(LB, {1, 0}, {0, 0}), none, N, false, 1, N,
       PathReason::kNew},
      {"duplicate over out-of-range entries", action(DUP, {8, 1, 9, 3}), none, N, false, 1, 3,
       PathReason::kNew},
      {"empty uplink list, priority", action(P, {}), none, N, false, N, N, PathReason::kNone},
      {"empty uplink list, best-quality", action(BQ, {}), none, 0, false, N, N,
       PathReason::kNone},
      {"empty uplink list, lowest-cost", action(LC, {}), none, N, false, N, N,
       PathReason::kNone},
      {"empty uplink list, load-balance", action(LB, {}, {3}), none, N, false, N, N,
       PathReason::kNone},
      {"empty uplink list, duplicate", action(DUP, {}), none, 2, false, N, N, PathReason::kNone},
      {"empty uplink list, fallback drop", action(P, {}, {}, SlaFallback::kDrop), none, N, false,
       N, N, PathReason::kNone},
      {"current 0xfe (garbage) is re-chosen", action(P, {0, 1}), none, 0xfe, false, 0, N,
       PathReason::kCurrentDown},
      {"current 4 (out of range, listed by the rule)", action(P, {4, 1}), none, 4, false, 1, N,
       PathReason::kCurrentDown},
      {"current 0xfe in fallback is never kept", action(P, {0, 0xfe}),
       [](Cands& c) {
         c[0].sla = false;
       },
       0xfe, false, 0, N, PathReason::kFallback},
  };

  for (const Row& r : rows) {
    Cands c = all_good();
    r.edit(c);
    for (uint32_t hash : {0u, 0x12345678u, 0xffffffffu}) {
      const PathChoice got = select_path(r.a, c, r.current, hash, r.sticky_backup);
      EXPECT_EQ(got.uplink, r.want_uplink) << r.what << " (hash " << hash << ")";
      EXPECT_EQ(got.second, r.want_second) << r.what << " (hash " << hash << ")";
      EXPECT_EQ(reason_name(got.reason), reason_name(r.want_reason))
          << r.what << " (hash " << hash << ")";
    }
  }
}

// A well-spread flow hash (what the flow table's symmetric hash gives).
uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

struct SpreadRow {
  const char* what;
  std::vector<uint8_t> uplinks;
  std::vector<uint16_t> weights;
  std::function<void(Cands&)> edit;
  std::array<double, kMaxUplinks> want_share;
};

TEST(PathSelect, LoadBalanceSpreadFollowsWeights) {
  const std::vector<SpreadRow> rows = {
      {"3:1", {0, 1}, {3, 1}, none, {0.75, 0.25, 0, 0}},
      {"equal, no weights given", {0, 1, 2}, {}, none, {1 / 3.0, 1 / 3.0, 1 / 3.0, 0}},
      {"a weight 0 gets nothing", {0, 1, 2}, {1, 0, 1}, none, {0.5, 0, 0.5, 0}},
      {"missing weights count as 1", {0, 1, 2}, {2}, none, {0.5, 0.25, 0.25, 0}},
      {"a down uplink's share goes to the others",
       {0, 1, 2},
       {2, 1, 1},
       [](Cands& c) { c[0].usable = false; },
       {0, 0.5, 0.5, 0}},
      {"large weights", {3, 2, 1, 0}, {65535, 65535, 65535, 65535}, none, {0.25, 0.25, 0.25, 0.25}},
      {"out-of-range entry ignored", {0, 9, 1}, {1, 60000, 1}, none, {0.5, 0.5, 0, 0}},
      {"backups only when no primary: backup weight ignored",
       {0, 1},
       {1, 9},
       [](Cands& c) { c[1].role = UplinkRole::kBackup; },
       {1, 0, 0, 0}},
  };
  constexpr unsigned kFlows = 10000;
  for (const auto& r : rows) {
    Cands c = all_good();
    r.edit(c);
    RuleAction a = action(LB, r.uplinks, r.weights);
    std::array<unsigned, kMaxUplinks> count{};
    unsigned none_count = 0;
    for (uint32_t i = 0; i < kFlows; ++i) {
      const uint32_t h = mix(i);
      const PathChoice got = select_path(a, c, kNoUplink, h, false);
      if (got.uplink >= kMaxUplinks) {
        ++none_count;
        continue;
      }
      ++count[got.uplink];
      // The same flow lands on the same uplink while the set is stable.
      EXPECT_EQ(select_path(a, c, kNoUplink, h, false).uplink, got.uplink) << r.what;
    }
    EXPECT_EQ(none_count, 0u) << r.what;
    for (unsigned u = 0; u < kMaxUplinks; ++u) {
      const double share = count[u] / static_cast<double>(kFlows);
      EXPECT_NEAR(share, r.want_share[u], 0.03) << r.what << " uplink " << u;
      if (r.want_share[u] == 0) {
        EXPECT_EQ(count[u], 0u) << r.what << " uplink " << u;
      }
    }
  }
}

TEST(PathSelect, ReasonNamesCoverEveryReason) {
  EXPECT_EQ(reason_name(PathReason::kKept), "kept");
  EXPECT_EQ(reason_name(PathReason::kSlaDrop), "sla_drop");
  EXPECT_EQ(reason_name(PathReason::kNone), "none");
  EXPECT_EQ(static_cast<unsigned>(PathReason::kNone) + 1, kPathReasonCount);
}

struct ScoreRow {
  const char* what;
  uint32_t rtt_us, jitter_us, loss_ppm;
  bool with_sla;
  SlaClass sla;
  uint32_t want;
};

SlaClass sla(uint32_t lat_us, uint32_t jit_us, uint32_t loss_ppm) {
  SlaClass s;
  s.max_latency_us = lat_us;
  s.max_jitter_us = jit_us;
  s.max_loss_ppm = loss_ppm;
  return s;
}

TEST(PathScore, Table) {
  const std::vector<ScoreRow> rows = {
      {"unmeasured (rtt 0)", 0, 500, 0, false, {}, 0xffffffffu},
      {"unmeasured with a class", 0, 0, 0, true, sla(50000, 10000, 10000), 0xffffffffu},
      {"no class: one-way + 2 jitter + 1 ms per % loss", 20000, 1000, 10000, false, {}, 13000},
      {"no class: clean path", 2000, 0, 0, false, {}, 1000},
      {"class: exactly at every bound scores 1000 per bound", 100000, 10000, 10000, true,
       sla(50000, 10000, 10000), 3000},
      {"class: half of each bound", 50000, 5000, 5000, true, sla(50000, 10000, 10000), 1500},
      {"class with latency only", 40000, 99999, 999999, true, sla(40000, 0, 1'000'000), 500},
      {"class without any bound ranks like no class", 20000, 1000, 10000, true,
       sla(0, 0, 1'000'000), 13000},
      {"zero-loss class, no loss", 20000, 0, 0, true, sla(20000, 0, 0), 500},
      {"zero-loss class, any loss ranks last", 20000, 0, 1, true, sla(20000, 0, 0), 1'000'500},
      {"saturates below unmeasured (class)", 0xffffffffu, 0xffffffffu, 0xffffffffu, true,
       sla(1, 1, 1), 0xfffffffeu},
      {"saturates below unmeasured (no class)",
       0xffffffffu,
       0xffffffffu,
       0xffffffffu,
       false,
       {},
       0xfffffffeu},
      {"rtt 1 µs", 1, 0, 0, false, {}, 0},
  };
  for (const auto& r : rows)
    EXPECT_EQ(path_score(r.rtt_us, r.jitter_us, r.loss_ppm, r.with_sla ? &r.sla : nullptr), r.want)
        << r.what;
}

}  // namespace
}  // namespace traboule::dp

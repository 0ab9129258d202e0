// SPDX-License-Identifier: Apache-2.0
// RefusalReport (controlplane/journal/refusal_report.h): refused overlay packets journaled with
// a rate limit. Rows: nothing refused, the first refusal at once, a flood folded into one record
// per interval, several workers' counters added, a restarted daemon's counters going back.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/journal/refusal_report.h"

namespace traboule::cp {
namespace {

using Totals = std::vector<std::pair<std::string, uint64_t>>;
constexpr uint64_t kS = 1'000'000'000;

struct Step {
  uint64_t at_s;
  Totals totals;
  std::optional<std::string> want;  // nullopt: no record
};

struct Row {
  const char* name;
  std::vector<Step> steps;
};

TEST(RefusalReport, JournalsTheFirstRefusalAtOnceAndThenOncePerInterval) {
  const std::vector<Row> rows = {
      {"nothing refused, nothing journaled",
       {{1, {}, std::nullopt}, {20, {{"decap.esp_auth_failed", 0}}, std::nullopt}}},
      {"a single forged datagram is on record at once",
       {{1, {{"decap.esp_unknown_spi", 0}}, std::nullopt},
        {2,
         {{"decap.esp_unknown_spi", 1}},
         "1 overlay packet(s) refused since start: decap.esp_unknown_spi 1"}}},
      {"a flood: one record, then quiet until the interval, then the sum",
       {{1,
         {{"decap.esp_auth_failed", 5}},
         "5 overlay packet(s) refused since start: decap.esp_auth_failed 5"},
        {2, {{"decap.esp_auth_failed", 5000}}, std::nullopt},
        {9, {{"decap.esp_auth_failed", 90000}, {"decap.esp_replayed", 7}}, std::nullopt},
        {11,
         {{"decap.esp_auth_failed", 100005}, {"decap.esp_replayed", 7}},
         "100007 overlay packet(s) refused in the last 10 s: decap.esp_auth_failed 100000, "
         "decap.esp_replayed 7"},
        {30, {{"decap.esp_auth_failed", 100005}, {"decap.esp_replayed", 7}}, std::nullopt}}},
      {"two workers' counters of one name add up",
       {{1,
         {{"decap.esp_replayed", 2}, {"decap.esp_replayed", 3}},
         "5 overlay packet(s) refused since start: decap.esp_replayed 5"}}},
      {"hostile: counters going back (a restart) are no refusal",
       {{1,
         {{"decap.esp_too_old", 50}},
         "50 overlay packet(s) refused since start: decap.esp_too_old 50"},
        {20, {{"decap.esp_too_old", 3}}, std::nullopt}}},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    RefusalReport r;
    for (const auto& step : row.steps) {
      SCOPED_TRACE(step.at_s);
      EXPECT_EQ(r.update(step.at_s * kS, step.totals), step.want);
    }
  }
}

}  // namespace
}  // namespace traboule::cp

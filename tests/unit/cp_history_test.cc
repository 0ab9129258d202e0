// SPDX-License-Identifier: Apache-2.0
// The links' history for the web view: the hour's 10 s points, the day's 5 min averages, rates
// from port counters, bounds, and a file that survives restarts but not tampering.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "controlplane/telemetry/history.h"

namespace traboule::cp {
namespace {

using nlohmann::json;

constexpr int64_t kT0 = 1'796'000'100'000;  // a multiple of 5 min

HistorySample sample(int64_t t, double rtt, uint64_t rx, uint64_t tx) {
  HistorySample s;
  s.time_ms = t;
  s.paths.push_back({"fiber/hub", "fiber", rtt, rtt / 10, 0.5, true});
  s.paths.push_back({"4g/hub", "4g", std::nullopt, std::nullopt, 100.0, false});
  s.uplinks.push_back({"fiber", rx, tx});
  return s;
}

const json& series(const json& doc, const char* kind, const std::string& name) {
  for (const json& s : doc[kind])
    if (s["name"] == name) return s;
  static const json none;
  ADD_FAILURE() << "no series " << name;
  return none;
}

TEST(HistoryStore, HourPointsDayAveragesAndRates) {
  HistoryStore h;
  // 40 minutes, one sample per 10 s: RTT 10 ms for the first 5 minutes, then 20 ms.
  for (int i = 0; i < 240; ++i) {
    const int64_t t = kT0 + i * 10'000;
    h.add(sample(t, i < 30 ? 10.0 : 20.0, uint64_t(i) * 125'000, uint64_t(i) * 12'500));
  }
  const json hour = h.query("hour");
  EXPECT_EQ(hour["step_s"], 10);
  const json& fiber = series(hour, "paths", "fiber/hub");
  EXPECT_EQ(fiber["uplink"], "fiber");
  ASSERT_EQ(fiber["points"].size(), 240u);
  EXPECT_EQ(fiber["points"][0][0], kT0);
  EXPECT_EQ(fiber["points"][0][1], 10.0);
  EXPECT_EQ(fiber["points"][0][2], 1.0);
  EXPECT_TRUE(series(hour, "paths", "4g/hub")["points"][0][1].is_null()) << "unknown stays null";
  // Rates: 125 000 B per 10 s = 100 kbit/s in, 10 kbit/s out; the first point has none.
  const json& up = series(hour, "uplinks", "fiber");
  EXPECT_TRUE(up["points"][0][1].is_null());
  EXPECT_DOUBLE_EQ(up["points"][1][1].get<double>(), 100'000.0);
  EXPECT_DOUBLE_EQ(up["points"][1][2].get<double>(), 10'000.0);

  const json day = h.query("day");
  EXPECT_EQ(day["step_s"], 300);
  const json& d = series(day, "paths", "fiber/hub")["points"];
  ASSERT_EQ(d.size(), 8u) << "7 whole buckets and the one being filled";
  EXPECT_EQ(d[0][0], kT0);
  EXPECT_DOUBLE_EQ(d[0][1].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(d[1][1].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(d[0][3].get<double>(), 0.5);
  EXPECT_EQ(h.query("anything")["range"], "hour");
}

TEST(HistoryStore, BoundedInPointsSeriesAndTime) {
  HistoryStore h;
  for (int i = 0; i < 2000; ++i) h.add(sample(kT0 + i * 10'000, 5, 0, 0));
  const json hour = h.query("hour");
  const json& pts = series(hour, "paths", "fiber/hub")["points"];
  EXPECT_EQ(pts.size(), HistoryStore::kFinePoints);
  EXPECT_EQ(pts.back()[0], kT0 + 1999 * 10'000);
  // A sample three hours later: the hour's points before it are gone.
  h.add(sample(kT0 + 2000 * 10'000 + 3 * 3'600'000, 5, 0, 0));
  EXPECT_EQ(series(h.query("hour"), "paths", "fiber/hub")["points"].size(), 1u);
  // Time going back (clock stepped): ignored, not reordered.
  h.add(sample(kT0, 99, 0, 0));
  EXPECT_EQ(series(h.query("hour"), "paths", "fiber/hub")["points"].size(), 1u);
  // A flood of path names stops at kMaxSeries.
  HistorySample many;
  many.time_ms = kT0;
  for (int i = 0; i < 500; ++i)
    many.paths.push_back({"p" + std::to_string(i), "u", 1.0, 1.0, 0, true});
  HistoryStore h2;
  h2.add(many);
  EXPECT_EQ(h2.query("hour")["paths"].size(), HistoryStore::kMaxSeries);
}

TEST(HistoryStore, FileRoundTripAndHostileFiles) {
  HistoryStore a;
  for (int i = 0; i < 100; ++i) a.add(sample(kT0 + i * 10'000, 7, 0, 0));
  const int64_t now = kT0 + 100 * 10'000;
  HistoryStore b;
  b.load(a.to_json(), now);
  EXPECT_EQ(b.query("hour")["paths"], a.query("hour")["paths"]);
  // The day's tail (the 5 minutes being filled, not in the file) comes back from the hour: a
  // restart does not blank the day view (seen in CI: an empty day right after a restart).
  EXPECT_EQ(b.query("day")["paths"], a.query("day")["paths"]);
  HistoryStore young;  // less than 5 minutes of history: no whole bucket at all
  for (int i = 0; i < 3; ++i) young.add(sample(kT0 + i * 10'000, 7, 0, 0));
  HistoryStore young2;
  young2.load(young.to_json(), kT0 + 40'000);
  EXPECT_EQ(series(young2.query("day"), "paths", "fiber/hub")["points"].size(), 1u);

  struct Row {
    const char* what;
    json file;
    size_t paths;   // series after load
    size_t points;  // points of the first one
  };
  const Row rows[] = {
      {"not an object", json::array({1, 2}), 0, 0},
      {"another format", {{"format", "x/1"}, {"paths", json::object()}}, 0, 0},
      {"paths not an object", {{"format", "traboule-history/1"}, {"paths", 3}}, 0, 0},
      {"points of the wrong shape",
       {{"format", "traboule-history/1"},
        {"paths", {{"x", {{"fine", {json::array({now - 1000, 1}), "y", 3, nullptr}}}}}}},
       0,
       0},
      {"points from the future and the far past",
       {{"format", "traboule-history/1"},
        {"paths",
         {{"x",
           {{"fine",
             {json::array({now + 3'600'000, 1, 1, 1}), json::array({now - 7'200'000, 1, 1, 1}),
              json::array({now - 1000, 1, nullptr, 1})}}}}}}},
       1,
       1},
      {"out of order and duplicates",
       {{"format", "traboule-history/1"},
        {"paths",
         {{"x",
           {{"fine",
             {json::array({now - 2000, 1, 1, 1}), json::array({now - 3000, 1, 1, 1}),
              json::array({now - 2000, 2, 2, 2}), json::array({now - 1000, 3, 3, 3})}}}}}}},
       1,
       2},
      {"text where numbers go",
       {{"format", "traboule-history/1"},
        {"paths", {{"x", {{"uplink", 5}, {"fine", {json::array({now - 1000, "9", 1, 1})}}}}}}},
       0,
       0},
      {"an overlong name",
       {{"format", "traboule-history/1"},
        {"paths", {{std::string(100, 'n'), {{"fine", {json::array({now - 1000, 1, 1, 1})}}}}}}},
       0,
       0},
  };
  for (const Row& r : rows) {
    HistoryStore h;
    h.load(r.file, now);
    const json q = h.query("hour");
    ASSERT_EQ(q["paths"].size(), r.paths) << r.what;
    if (r.paths != 0) {
      EXPECT_EQ(q["paths"][0]["points"].size(), r.points) << r.what;
    }
  }
}

}  // namespace
}  // namespace traboule::cp

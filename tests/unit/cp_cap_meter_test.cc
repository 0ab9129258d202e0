// SPDX-License-Identifier: Apache-2.0
// CapMeter: monthly bytes per uplink and direction from the ports' counters, month rollover,
// restarts, the earlier file format, hostile files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "controlplane/links/cap_meter.h"

namespace traboule::cp {
namespace {

constexpr int64_t kNov28 = 1795910400;  // 2026-11-29 00:00:00 UTC (late November)
constexpr int64_t kDec1 = 1796083200;   // 2026-12-01 00:00:00 UTC

TEST(CapMeter, MonthOfIsUtc) {
  struct Row {
    int64_t t;
    const char* want;
  } rows[] = {{0, "1970-01"},     {kNov28, "2026-11"},    {kDec1 - 1, "2026-11"},
              {kDec1, "2026-12"}, {951782400, "2000-02"}, {4102444800, "2100-01"}};
  for (const auto& r : rows) EXPECT_EQ(CapMeter::month_of(r.t), r.want) << r.t;
}

TEST(CapMeter, CountsDeltasAndStartsAgainEachMonth) {
  struct Step {
    const char* uplink;
    CapCounters counters;  // rx, tx, probes
    int64_t t;
    CapUse want;
    const char* what;
  } steps[] = {
      {"4g", {1000, 50, 10}, kNov28, {0, 0, 0}, "first reading: baseline only"},
      {"4g", {1500, 80, 30}, kNov28 + 10, {500, 30, 20}, "deltas counted, each direction"},
      {"4g", {1500, 80, 30}, kNov28 + 20, {500, 30, 20}, "no traffic"},
      {"fiber", {9000, 9000, 0}, kNov28 + 20, {0, 0, 0}, "another uplink: its own baseline"},
      {"4g", {100, 90, 40}, kNov28 + 30, {500, 40, 30}, "rx went back (restart): rebaselined"},
      {"4g", {400, 90, 40}, kNov28 + 40, {800, 40, 30}, "counted from the new baseline"},
      {"4g", {900, 100, 45}, kDec1 + 1, {500, 10, 5}, "new month: only what crossed since"},
      {"fiber", {9100, 9001, 0}, kDec1 + 2, {100, 1, 0}, "the other uplink from zero too"},
  };
  CapMeter m;
  for (const auto& s : steps) {
    const CapUse got = m.update(s.uplink, s.counters, s.t);
    EXPECT_EQ(got.rx, s.want.rx) << s.what;
    EXPECT_EQ(got.tx, s.want.tx) << s.what;
    EXPECT_EQ(got.probes, s.want.probes) << s.what;
    EXPECT_EQ(got.total(), s.want.rx + s.want.tx) << s.what << ": the cap counts both directions";
  }
  EXPECT_EQ(m.month(), "2026-12");
}

// A download moves the meter as much as an upload of the same size: the allowance of a 4G plan
// counts both directions (the meter once counted only what the box sent).
TEST(CapMeter, DownloadsCountAgainstTheAllowance) {
  CapMeter m;
  m.update("4g", {0, 0, 0}, kNov28);
  const CapUse down = m.update("4g", {10'000'000, 200'000, 0}, kNov28 + 5);
  EXPECT_EQ(down.total(), 10'200'000u);
  EXPECT_EQ(m.used("4g").rx, 10'000'000u);
}

TEST(CapMeter, SurvivesARestartThroughItsFile) {
  char dir[] = "/tmp/tb-capmeter.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/usage.json";
  CapMeter a;
  a.update("4g", {0, 0, 0}, kNov28);
  a.update("4g", {12345, 678, 90}, kNov28 + 1);
  ASSERT_FALSE(a.save(path));
  CapMeter b;
  ASSERT_FALSE(b.load(path));
  EXPECT_EQ(b.used("4g").rx, 12345u);
  EXPECT_EQ(b.used("4g").tx, 678u);
  EXPECT_EQ(b.used("4g").probes, 90u);
  EXPECT_EQ(b.update("4g", {70, 7, 0}, kNov28 + 5).rx, 12345u) << "new process: counters restart";
  EXPECT_EQ(b.update("4g", {100, 7, 0}, kNov28 + 6).rx, 12375u);
  CapMeter c;
  EXPECT_FALSE(c.load(std::string(dir) + "/missing.json")) << "no file: a fresh meter";
  EXPECT_EQ(c.used("4g").total(), 0u);
  // The upload-only file of earlier versions is read as upload.
  std::ofstream(path) << R"({"month": "2026-11", "bytes": {"4g": 4242}})";
  CapMeter d;
  ASSERT_FALSE(d.load(path));
  EXPECT_EQ(d.used("4g").tx, 4242u);
  EXPECT_EQ(d.used("4g").rx, 0u);
  unlink(path.c_str());
  rmdir(dir);
}

TEST(CapMeter, HostileFilesAreRefusedNamingTheField) {
  struct Row {
    const char* text;
    const char* want;  // substring of the error
  } rows[] = {
      {"not json", "not valid JSON"},
      {"[]", "/month"},
      {R"({"month": 202611, "bytes": {}})", "/month"},
      {R"({"month": "Nov 2026", "bytes": {}})", "Nov 2026"},
      {R"({"month": "2026-11"})", "/uplinks"},
      {R"({"month": "2026-11", "uplinks": []})", "/uplinks"},
      {R"({"month": "2026-11", "uplinks": {"4g": 5}})", "/uplinks/4g"},
      {R"({"month": "2026-11", "uplinks": {"4g": {"rx": -5}}})", "/uplinks/4g/rx"},
      {R"({"month": "2026-11", "uplinks": {"4g": {"tx": "lots"}}})", "/uplinks/4g/tx"},
      {R"({"month": "2026-11", "uplinks": {"4g": {"probes": 1.5}}})", "/uplinks/4g/probes"},
      {R"({"month": "2026-11", "bytes": {"4g": -5}})", "/bytes/4g"},
      {R"({"month": "2026-11", "bytes": {"4g": "lots"}})", "/bytes/4g"},
  };
  char dir[] = "/tmp/tb-capmeter.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/usage.json";
  for (const auto& r : rows) {
    std::ofstream(path) << r.text;
    CapMeter m;
    auto err = m.load(path);
    ASSERT_TRUE(err) << r.text;
    EXPECT_NE(err->find(r.want), std::string::npos) << *err;
    EXPECT_EQ(m.used("4g").total(), 0u) << "a bad file leaves the meter empty";
  }
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace traboule::cp

// CapMeter: monthly bytes per uplink from the data plane's counters, month rollover, restarts.
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
    uint64_t counter;
    int64_t t;
    uint64_t want;
    const char* what;
  } steps[] = {
      {"4g", 1000, kNov28, 0, "first reading: baseline only"},
      {"4g", 1500, kNov28 + 10, 500, "delta counted"},
      {"4g", 1500, kNov28 + 20, 500, "no traffic"},
      {"fiber", 9000, kNov28 + 20, 0, "another uplink has its own baseline"},
      {"4g", 100, kNov28 + 30, 500, "counter went back (data plane restarted): rebaseline"},
      {"4g", 400, kNov28 + 40, 800, "counted from the new baseline"},
      {"4g", 900, kDec1 + 1, 500, "new month: only what crossed since"},
      {"fiber", 9100, kDec1 + 2, 100, "the other uplink restarted from zero too"},
  };
  CapMeter m;
  for (const auto& s : steps) EXPECT_EQ(m.update(s.uplink, s.counter, s.t), s.want) << s.what;
  EXPECT_EQ(m.month(), "2026-12");
}

TEST(CapMeter, SurvivesARestartThroughItsFile) {
  char dir[] = "/tmp/tb-capmeter.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/usage.json";
  CapMeter a;
  a.update("4g", 0, kNov28);
  a.update("4g", 12345, kNov28 + 1);
  ASSERT_FALSE(a.save(path));
  CapMeter b;
  ASSERT_FALSE(b.load(path));
  EXPECT_EQ(b.used("4g"), 12345u);
  EXPECT_EQ(b.update("4g", 70, kNov28 + 5), 12345u) << "new process: the counter restarts";
  EXPECT_EQ(b.update("4g", 100, kNov28 + 6), 12375u);
  CapMeter c;
  EXPECT_FALSE(c.load(std::string(dir) + "/missing.json")) << "no file: a fresh meter";
  EXPECT_EQ(c.used("4g"), 0u);
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
      {R"({"month": "2026-11"})", "/bytes"},
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
    EXPECT_EQ(m.used("4g"), 0u) << "a bad file leaves the meter empty";
  }
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace traboule::cp

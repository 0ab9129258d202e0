// SPDX-License-Identifier: Apache-2.0
// The event journal (append, read back across restarts, torn and hostile lines, rotation) and
// the monthly availability computed from it (outages, daemon gaps, crashes, month edges,
// business hours in Europe/Paris with its DST change, the 99.85 % target).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/journal/availability.h"
#include "controlplane/journal/flood_watch.h"
#include "controlplane/journal/journal.h"
#include "controlplane/journal/syslog.h"

namespace traboule::cp {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tb-journal-test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

JournalEvent ev(const std::string& kind, const std::string& subject, const std::string& state,
                int64_t ms, const std::string& incident = "") {
  JournalEvent e;
  e.source = "test";
  e.kind = kind;
  e.subject = subject;
  e.state = state;
  e.severity = "notice";
  e.incident = incident;
  e.text = kind + " " + subject + " " + state;
  e.unix_ms = ms;
  return e;
}

TEST(Journal, AppendsReadsBackAndContinuesAfterARestart) {
  TempDir d;
  {
    Journal j(d.path + "/journal");
    EXPECT_EQ(j.append(ev("uplink", "fiber", "down", 1000, "P1")).seq, 1u);
    EXPECT_EQ(j.append(ev("uplink", "fiber", "up", 2000)).seq, 2u);
    EXPECT_EQ(j.append(ev("site", "hub", "down", 3000, "P0")).seq, 3u);
  }
  Journal j(d.path + "/journal");  // a restart
  EXPECT_EQ(j.last_seq(), 3u);
  EXPECT_EQ(j.append(ev("daemon", "trabouled", "start", 4000)).seq, 4u);
  const auto all = j.read();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].subject, "fiber");
  EXPECT_EQ(all[0].incident, "P1");
  EXPECT_EQ(all[0].unix_ms, 1000);
  EXPECT_EQ(all[3].kind, "daemon");
  struct Row {
    int64_t since;
    std::string incident;
    size_t limit;
    std::vector<uint64_t> seqs;
  };
  const Row rows[] = {
      {0, "", SIZE_MAX, {1, 2, 3, 4}}, {2000, "", SIZE_MAX, {2, 3, 4}}, {0, "P0", SIZE_MAX, {3}},
      {0, "P1", SIZE_MAX, {1}},        {0, "P2", SIZE_MAX, {}},         {0, "", 2, {3, 4}},
      {5000, "", SIZE_MAX, {}},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(std::to_string(r.since) + " " + r.incident + " " + std::to_string(r.limit));
    std::vector<uint64_t> got;
    for (const auto& e : j.read(r.since, r.incident, r.limit)) got.push_back(e.seq);
    EXPECT_EQ(got, r.seqs);
  }
  EXPECT_EQ(j.write_errors(), 0u);
}

TEST(Journal, TornAndHostileLinesAreSkipped) {
  TempDir d;
  {
    Journal j(d.path);
    j.append(ev("uplink", "fiber", "down", 1000, "P1"));
  }
  {
    std::ofstream f(d.path + "/journal.jsonl", std::ios::app);
    f << "{\"seq\": 7, \"time_ms\": \"soon\", \"source\": \"x\"}\n";  // wrong types
    f << "[1, 2, 3]\n";                                               // not an object
    f << "not json at all\n";
    f << "{\"seq\": -1, \"time_ms\": 5, \"source\": \"a\", \"kind\": \"b\", \"subject\": \"c\", "
         "\"state\": \"d\", \"severity\": \"e\", \"incident\": \"\", \"text\": \"\"}\n";
    f << std::string(5000, '{') << "\n";  // deep nesting
    f << "{\"seq\": 2, \"time_ms\": 2000, \"source\": \"links\", \"kind\": \"uplink\", \"sub";  // torn
  }
  Journal j(d.path);
  const auto all = j.read();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].seq, 1u);
  EXPECT_EQ(j.skipped_lines(), 6u);
  EXPECT_EQ(j.append(ev("uplink", "fiber", "up", 3000)).seq, 2u) << "continues after the last good";
  // The torn line was ended at open: the new record is a line of its own, not glued to it.
  const auto after = j.read();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[1].state, "up");
  EXPECT_EQ(j.skipped_lines(), 6u);
}

TEST(Journal, RotatesAndDropsTheOldestFile) {
  TempDir d;
  Journal j(d.path, JournalLimits{600, 3});
  for (int i = 0; i < 40; ++i) j.append(ev("path", "fiber/hub", i % 2 ? "up" : "down", 1000 + i));
  EXPECT_TRUE(fs::exists(d.path + "/journal.jsonl"));
  EXPECT_TRUE(fs::exists(d.path + "/journal.1.jsonl"));
  EXPECT_TRUE(fs::exists(d.path + "/journal.2.jsonl"));
  EXPECT_FALSE(fs::exists(d.path + "/journal.3.jsonl"));
  for (const char* f : {"/journal.jsonl", "/journal.1.jsonl", "/journal.2.jsonl"})
    EXPECT_LE(fs::file_size(d.path + f), 600u) << f;
  const auto all = j.read();
  ASSERT_FALSE(all.empty());
  EXPECT_LT(all.size(), 40u) << "the oldest records went with the oldest file";
  EXPECT_EQ(all.back().seq, 40u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].seq, all[i - 1].seq + 1) << "in order";
}

TEST(Journal, AWriteErrorIsCountedAndTheBoxGoesOn) {
  Journal j("/proc/self/no-such-dir/journal");
  const JournalEvent e = j.append(ev("uplink", "fiber", "down", 1000, "P1"));
  EXPECT_EQ(e.seq, 1u);
  EXPECT_EQ(j.write_errors(), 1u);
  EXPECT_TRUE(j.read().empty());
}

// ---------------------------------------------------------------------------------------------
// Availability, in Europe/Paris (CET/CEST).

class Availability : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz ? std::optional<std::string>(tz) : std::nullopt;
    ::setenv("TZ", "Europe/Paris", 1);
    ::tzset();
  }
  void TearDown() override {
    if (saved_)
      ::setenv("TZ", saved_->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
  }
  std::optional<std::string> saved_;
};

// ms since the epoch of a local (Paris) time.
int64_t paris(int y, int mon, int d, int h, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  tm.tm_isdst = -1;
  return static_cast<int64_t>(std::mktime(&tm)) * 1000;
}

const SubjectAvailability* find(const AvailabilityReport& r, const std::string& kind,
                                const std::string& name) {
  for (const auto& s : r.subjects)
    if (s.kind == kind && s.name == name) return &s;
  ADD_FAILURE() << "no subject " << kind << " " << name;
  static const SubjectAvailability none;
  return &none;
}

TEST_F(Availability, OutagesGapsAndCrashes) {
  const int64_t t0 = paris(2026, 12, 1, 0);
  std::vector<JournalEvent> j = {
      ev("daemon", "trabouled", "start", t0),
      // Mon 7 Dec 10:00:00-10:00:30: fiber down 30 s (business hours).
      ev("uplink", "fiber", "down", paris(2026, 12, 7, 10), "P1"),
      ev("uplink", "fiber", "up", paris(2026, 12, 7, 10, 0, 30)),
      // Sat 12 Dec 03:00-03:10: the whole site, 10 min (not business hours).
      ev("uplink", "fiber", "down", paris(2026, 12, 12, 3), "P1"),
      ev("site", "hub", "down", paris(2026, 12, 12, 3), "P0"),
      ev("site", "hub", "up", paris(2026, 12, 12, 3, 10)),
      ev("uplink", "fiber", "up", paris(2026, 12, 12, 3, 10)),
      // Tue 15 Dec 12:00 daemon stopped, back at 12:05: every subject out for 5 min.
      ev("daemon", "trabouled", "stop", paris(2026, 12, 15, 12)),
      ev("daemon", "trabouled", "start", paris(2026, 12, 15, 12, 5)),
  };
  // Wed 16 Dec: a crash, last alive 09:00, back at 09:02.
  JournalEvent crash = ev("daemon", "trabouled", "start", paris(2026, 12, 16, 9, 2));
  crash.extra = {{"last_alive_ms", paris(2026, 12, 16, 9)}};
  j.push_back(crash);
  // Thu 31 Dec 23:00: vdsl down, not back by the end of the month (nor of the report).
  j.push_back(ev("uplink", "vdsl", "down", paris(2026, 12, 31, 23), "P1"));
  j.push_back(ev("uplink", "vdsl", "up", paris(2027, 1, 1, 1)));

  AvailabilityOptions opt;
  opt.timezone = "Europe/Paris";
  const AvailabilityReport r = compute_availability(j, 2026, 12, paris(2027, 1, 5, 0), opt);
  EXPECT_EQ(r.start_ms, t0);
  EXPECT_EQ(r.end_ms, paris(2027, 1, 1, 0));
  EXPECT_NEAR(r.allowed_unavailable_s, 31 * 86400 * 0.0015, 0.01);

  const SubjectAvailability* fiber = find(r, "uplink", "fiber");
  ASSERT_NE(fiber, nullptr);
  EXPECT_DOUBLE_EQ(fiber->observed_s, 31 * 86400.0);
  EXPECT_DOUBLE_EQ(fiber->unavailable_s, 30 + 600 + 300 + 120);
  EXPECT_EQ(fiber->outages, 4u);
  EXPECT_DOUBLE_EQ(fiber->longest_outage_s, 600);
  // Business hours (Mon-Fri 08-18): the 30 s, the daemon's 5 min and the crash's 2 min.
  EXPECT_DOUBLE_EQ(fiber->business_unavailable_s, 30 + 300 + 120);
  EXPECT_EQ(fiber->business_outages, 3u);
  // 23 business days in December 2026 (Mon 1 Dec ... Thu 31 Dec, no holiday taken), 10 h each.
  EXPECT_DOUBLE_EQ(fiber->business_observed_s, 23 * 10 * 3600.0);

  const SubjectAvailability* site = find(r, "site", "hub");
  ASSERT_NE(site, nullptr);
  EXPECT_DOUBLE_EQ(site->unavailable_s, 600 + 300 + 120);
  EXPECT_EQ(site->outages, 3u);
  EXPECT_EQ(r.subjects.front().kind, "site") << "the site first";

  const SubjectAvailability* vdsl = find(r, "uplink", "vdsl");
  ASSERT_NE(vdsl, nullptr);
  EXPECT_DOUBLE_EQ(vdsl->unavailable_s, 3600) << "clipped at the month's end";
  EXPECT_DOUBLE_EQ(vdsl->longest_outage_s, 7200) << "the outage itself lasted 2 h";
  EXPECT_FALSE(find(r, "uplink", "vdsl")->unavailable_s > r.allowed_unavailable_s);

  // January: vdsl's outage began in December, 1 h of it is January's.
  const AvailabilityReport jan = compute_availability(j, 2027, 1, paris(2027, 1, 5, 0), opt);
  EXPECT_DOUBLE_EQ(find(jan, "uplink", "vdsl")->unavailable_s, 3600);
  EXPECT_DOUBLE_EQ(find(jan, "uplink", "vdsl")->observed_s, 4 * 86400.0) << "to now";
}

TEST_F(Availability, StillDownNowAndNotObservedBeforeTheFirstStart) {
  const std::vector<JournalEvent> j = {
      ev("daemon", "trabouled", "start", paris(2026, 11, 10, 12)),
      ev("uplink", "4g", "down", paris(2026, 11, 20, 12), "P2"),
  };
  AvailabilityOptions opt;
  const AvailabilityReport r = compute_availability(j, 2026, 11, paris(2026, 11, 21, 12), opt);
  EXPECT_EQ(r.observed_from_ms, paris(2026, 11, 10, 12));
  const SubjectAvailability* g = find(r, "uplink", "4g");
  ASSERT_NE(g, nullptr);
  EXPECT_DOUBLE_EQ(g->observed_s, 11 * 86400.0);
  EXPECT_DOUBLE_EQ(g->unavailable_s, 86400.0);
  EXPECT_NEAR(g->percent(), 100.0 * 10 / 11, 1e-9);
  EXPECT_NEAR(r.allowed_unavailable_s, 64.8 * 60, 1e-6) << "99.85 % of a 30-day month";
  // A month with no daemon start at all: nothing observed, nothing counted.
  const AvailabilityReport oct = compute_availability(j, 2026, 10, paris(2026, 11, 21, 12), opt);
  for (const auto& s : oct.subjects) EXPECT_EQ(s.observed_s, 0.0);
  // A daemon stopped and never started again: down to now.
  std::vector<JournalEvent> stopped = j;
  stopped.push_back(ev("daemon", "trabouled", "stop", paris(2026, 11, 21, 0)));
  const AvailabilityReport s2 =
      compute_availability(stopped, 2026, 11, paris(2026, 11, 21, 12), opt);
  EXPECT_DOUBLE_EQ(find(s2, "site", "hub")->unavailable_s, 12 * 3600.0);
  EXPECT_DOUBLE_EQ(find(s2, "uplink", "4g")->unavailable_s, 86400.0) << "already down: one outage";
}

TEST_F(Availability, MonthsFollowTheLocalCalendarAcrossDst) {
  const std::vector<JournalEvent> j = {ev("daemon", "trabouled", "start", paris(2026, 1, 1, 0))};
  AvailabilityOptions opt;
  // March 2026 loses an hour (29 March), October gains one (25 October).
  EXPECT_DOUBLE_EQ(
      find(compute_availability(j, 2026, 3, paris(2027, 1, 1, 0), opt), "site", "hub")->observed_s,
      (31 * 24 - 1) * 3600.0);
  EXPECT_DOUBLE_EQ(
      find(compute_availability(j, 2026, 10, paris(2027, 1, 1, 0), opt), "site", "hub")->observed_s,
      (31 * 24 + 1) * 3600.0);
  // Business hours are local: Monday 30 March 08:00-18:00 CEST is 10 h.
  EXPECT_DOUBLE_EQ(business_seconds(paris(2026, 3, 30, 0), paris(2026, 3, 31, 0), {}), 36000.0);
  // Sunday 29 March: none.
  EXPECT_DOUBLE_EQ(business_seconds(paris(2026, 3, 29, 0), paris(2026, 3, 30, 0), {}), 0.0);
  BusinessHours all_day{0x7f, 0, 1440};
  EXPECT_DOUBLE_EQ(business_seconds(paris(2026, 3, 29, 0), paris(2026, 3, 30, 0), all_day),
                   23 * 3600.0);
}

TEST(AvailabilityParse, Rows) {
  struct DayRow {
    const char* text;
    std::optional<uint8_t> want;
  };
  for (const DayRow& r :
       {DayRow{"mon-fri", 0x3e}, DayRow{"MON-FRI", 0x3e}, DayRow{"mon,wed,fri", 0x2a},
        DayRow{"sat-sun", 0x41}, DayRow{"fri-mon", 0x63}, DayRow{"mon-sun", 0x7f},
        DayRow{"", std::nullopt}, DayRow{"monday", std::nullopt}, DayRow{"mon-", std::nullopt},
        DayRow{"mon,,tue", std::nullopt}, DayRow{"xyz-fri", std::nullopt}}) {
    SCOPED_TRACE(r.text);
    EXPECT_EQ(parse_days(r.text), r.want);
  }
  struct HhRow {
    const char* text;
    std::optional<int> want;
  };
  for (const HhRow& r :
       {HhRow{"08:00", 480}, HhRow{"00:00", 0}, HhRow{"24:00", 1440}, HhRow{"18:30", 1110},
        HhRow{"24:01", std::nullopt}, HhRow{"8:00", std::nullopt}, HhRow{"08:60", std::nullopt},
        HhRow{"0800", std::nullopt}, HhRow{"-8:00", std::nullopt}, HhRow{"08:00 ", std::nullopt}}) {
    SCOPED_TRACE(r.text);
    EXPECT_EQ(parse_hhmm(r.text), r.want);
  }
  struct MonthRow {
    const char* text;
    bool ok;
  };
  for (const MonthRow& r :
       {MonthRow{"2026-12", true}, MonthRow{"2026-01", true}, MonthRow{"2026-13", false},
        MonthRow{"2026-00", false}, MonthRow{"26-12", false}, MonthRow{"2026-1", false},
        MonthRow{"2026-12x", false}, MonthRow{"1969-12", false}, MonthRow{"", false},
        MonthRow{"2026/12", false}}) {
    SCOPED_TRACE(r.text);
    EXPECT_EQ(parse_month(r.text).has_value(), r.ok);
  }
}

TEST_F(Availability, CsvHasOneRowPerSubjectAndQuotesWhatNeedsIt) {
  const std::vector<JournalEvent> j = {
      ev("daemon", "trabouled", "start", paris(2026, 12, 1, 0)),
      ev("path", "fiber/hub,\"a\"", "down", paris(2026, 12, 2, 0)),
      ev("path", "fiber/hub,\"a\"", "up", paris(2026, 12, 2, 0, 1)),
  };
  const std::string csv =
      to_csv(compute_availability(j, 2026, 12, paris(2026, 12, 3, 0), AvailabilityOptions{}));
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(csv);
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);  // header, site, path
  EXPECT_EQ(lines[0].substr(0, 26), "month,kind,name,observed_s");
  EXPECT_NE(lines[2].find("\"fiber/hub,\"\"a\"\"\""), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find(",60.0,1,60.0,"), std::string::npos) << lines[2];
  EXPECT_EQ(availability_csv(nlohmann::json("not a report")).find('\n'), lines[0].size());
}

}  // namespace
}  // namespace traboule::cp

// ---------------------------------------------------------------------------------------------
// Syslog: the RFC 5424 text, and delivery over UDP and TCP (octet counting) to sockets of ours.

namespace traboule::cp {
namespace {

TEST(Syslog, Rfc5424Rows) {
  JournalEvent e = ev("uplink", "fiber", "down", 1796612555123, "P1");
  e.seq = 41;
  e.severity = "error";
  e.source = "links";
  e.text = "primary uplink fiber has no path to the hub";
  EXPECT_EQ(format_rfc5424(e, 16, "edge-1", 4242),
            "<131>1 2026-12-07T03:02:35.123Z edge-1 trabouled 4242 uplink [traboule@32473 "
            "seq=\"41\" incident=\"P1\" kind=\"uplink\" subject=\"fiber\" state=\"down\" "
            "source=\"links\"] primary uplink fiber has no path to the hub");
  struct Row {
    const char* what;
    std::function<void(JournalEvent&, std::string&)> edit;
    std::string want;  // a part of the message
  };
  const Row rows[] = {
      {"severity critical, local0: PRI 130",
       [](JournalEvent& x, std::string&) { x.severity = "critical"; }, "<130>1 "},
      {"unknown severity is notice", [](JournalEvent& x, std::string&) { x.severity = "loud"; },
       "<133>1 "},
      {"no incident", [](JournalEvent& x, std::string&) { x.incident = ""; }, "incident=\"none\""},
      {"quote, backslash and bracket escaped",
       [](JournalEvent& x, std::string&) { x.subject = "a\"b\\c]d"; },
       "subject=\"a\\\"b\\\\c\\]d\""},
      {"control characters out of values",
       [](JournalEvent& x, std::string&) { x.subject = "fi\nber\x01"; }, "subject=\"fiber\""},
      {"newline in the text becomes a space",
       [](JournalEvent& x, std::string&) { x.text = "line one\nline two"; }, "line one line two"},
      {"hostname with spaces and a non-ASCII byte",
       [](JournalEvent&, std::string& h) { h = "my box\xc3\xa9"; }, " mybox trabouled "},
      {"empty hostname is a dash", [](JournalEvent&, std::string& h) { h = ""; }, " - trabouled "},
      {"MSGID cut to 32", [](JournalEvent& x, std::string&) { x.kind = std::string(40, 'k'); },
       " " + std::string(32, 'k') + " ["},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    JournalEvent x = e;
    std::string host = "edge-1";
    r.edit(x, host);
    const std::string m = format_rfc5424(x, 16, host, 1);
    EXPECT_NE(m.find(r.want), std::string::npos) << m;
    for (char ch : m) EXPECT_GE(static_cast<unsigned char>(ch), 32) << "no control character";
  }
  EXPECT_EQ(syslog_facility("local0"), 16);
  EXPECT_EQ(syslog_facility("local7"), 23);
  EXPECT_EQ(syslog_facility("daemon"), 3);
  EXPECT_FALSE(syslog_facility("local8"));
  EXPECT_FALSE(syslog_facility("kern"));
}

// A listening socket on 127.0.0.1 (port chosen by the kernel).
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  explicit Listener(bool tcp) {
    fd = ::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t l = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    port = ntohs(a.sin_port);
    if (tcp) ::listen(fd, 4);
  }
  ~Listener() { ::close(fd); }
};

std::string read_for(int fd, int ms) {
  std::string got;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) != 1) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

TEST(Syslog, DeliversOverUdpAndTcpWithOctetCounting) {
  Listener udp(false), tcp(true);
  JournalEvent e = ev("site", "hub", "down", 1796612555000, "P0");
  e.seq = 7;
  e.severity = "critical";
  {
    SyslogSender s({{"127.0.0.1", udp.port, false}, {"127.0.0.1", tcp.port, true}}, 16);
    s.send(e);
    e.seq = 8;
    e.state = "up";
    e.incident = "";
    s.send(e);
    const std::string u = read_for(udp.fd, 1500);
    EXPECT_NE(u.find("<130>1 "), std::string::npos) << u;
    EXPECT_NE(u.find("incident=\"P0\""), std::string::npos) << u;
    const int c = ::accept(tcp.fd, nullptr, nullptr);
    ASSERT_GE(c, 0);
    const std::string t = read_for(c, 1500);
    ::close(c);
    // "LEN SP MSG" twice, LEN the exact byte count of MSG.
    size_t at = 0;
    int frames = 0;
    while (at < t.size()) {
      const size_t sp = t.find(' ', at);
      ASSERT_NE(sp, std::string::npos);
      const size_t len = std::stoul(t.substr(at, sp - at));
      const std::string msg = t.substr(sp + 1, len);
      ASSERT_EQ(msg.size(), len);
      EXPECT_EQ(msg.rfind("<13", 0), 0u) << msg;
      at = sp + 1 + len;
      ++frames;
    }
    EXPECT_EQ(frames, 2);
    EXPECT_EQ(s.dropped(), 0u);
  }
}

// A TCP collector that starts after the box gets what was journaled meanwhile (in order).
TEST(Syslog, ATcpCollectorThatComesBackGetsWhatWasHeld) {
  uint16_t port = 0;
  {
    Listener probe(true);
    port = probe.port;
  }
  SyslogSender s({{"127.0.0.1", port, true}}, 16);
  for (int i = 1; i <= 3; ++i) {
    JournalEvent e = ev("path", "fiber/hub", "down", 1000 + i);
    e.seq = static_cast<uint64_t>(i);
    s.send(e);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // refused at least once
  EXPECT_GT(s.errors(), 0u);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::listen(fd, 4);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no reconnect within the backoff";
  const int c = ::accept(fd, nullptr, nullptr);
  const std::string t = read_for(c, 1000);
  ::close(c);
  ::close(fd);
  const size_t s1 = t.find("seq=\"1\""), s2 = t.find("seq=\"2\""), s3 = t.find("seq=\"3\"");
  ASSERT_NE(s1, std::string::npos) << t;
  ASSERT_NE(s3, std::string::npos) << t;
  EXPECT_LT(s1, s2);
  EXPECT_LT(s2, s3);
  EXPECT_EQ(s.sent(), 3u);
}

TEST(Syslog, ACollectorThatIsDownCostsTheCallerNothing) {
  // A TCP port nobody listens on: connects fail, the queue fills, the excess is counted.
  uint16_t dead = 0;
  {
    Listener l(true);
    dead = l.port;
  }
  SyslogSender s({{"127.0.0.1", dead, true}}, 16, 4);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) s.send(ev("path", "fiber/hub", "down", 1000 + i));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::milliseconds(200)) << "send() never waits on the network";
  EXPECT_GT(s.dropped(), 0u);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (s.errors() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(s.errors(), 0u);
  EXPECT_EQ(s.sent(), 0u);
}

}  // namespace
}  // namespace traboule::cp

// ---------------------------------------------------------------------------------------------
// FloodWatch: one "detected" when refusals reach 50/s, one "ended" after 30 s under 5/s.

namespace traboule::cp {
namespace {

TEST(FloodWatch, OneRecordWhenItStartsAndOneWhenItEnds) {
  constexpr uint64_t s = 1'000'000'000;
  FloodWatch w;
  struct Step {
    uint64_t t_s;
    uint64_t total;
    int want;  // 0 nothing, 1 detected, -1 ended
  };
  const Step steps[] = {
      {0, 0, 0},        // first sample
      {1, 10, 0},       // 10/s: background noise
      {1, 5000, 0},     // within the interval: not looked at yet
      {2, 8000, 1},     // 7990/s: detected
      {3, 16000, 0},    // still on
      {4, 16100, 0},    // 100/s: still above 5/s
      {5, 16102, 0},    // 2/s: calm starts
      {20, 16110, 0},   // calm 15 s
      {34, 16112, 0},   // calm 29 s
      {36, 16113, -1},  // calm 31 s: ended
      {37, 16114, 0},   // quiet
      {38, 100, 0},     // counter restarted (daemon): a new base, nothing said
      {39, 200, 1},     // 100/s: a new flood
  };
  for (const Step& st : steps) {
    SCOPED_TRACE(st.t_s);
    const auto ch = w.update(st.t_s * s, st.total);
    if (st.want == 0) {
      EXPECT_FALSE(ch.has_value());
      continue;
    }
    ASSERT_TRUE(ch.has_value());
    EXPECT_EQ(ch->active, st.want == 1);
    if (st.t_s == 2) {
      EXPECT_EQ(ch->per_second, 7990u);
    }
    if (st.t_s == 36) {
      EXPECT_EQ(ch->per_second, 8000u) << "the peak";
      EXPECT_EQ(ch->refused, 16113u - 10u);
    }
  }
  EXPECT_TRUE(w.active());
}

}  // namespace
}  // namespace traboule::cp

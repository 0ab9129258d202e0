// SPDX-License-Identifier: Apache-2.0
// DNS response parsing (compression, CNAME chains, hostile messages), the per-worker
// address → application cache, and the domain matcher.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/model/domain_matcher.h"
#include "dataplane/proto/dns.h"
#include "dataplane/tables/name_cache.h"

namespace traboule::dp {
namespace {

// Writes DNS messages byte by byte, so tests can also write wrong ones.
struct Msg {
  std::vector<uint8_t> b;
  size_t at() const { return b.size(); }
  Msg& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Msg& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  Msg& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
  Msg& header(uint16_t an, uint16_t flags = 0x8180, uint16_t qd = 1) {
    return u16(0x1234).u16(flags).u16(qd).u16(an).u16(0).u16(0);
  }
  // Labels of a dotted name, then the root (or, with ptr >= 0, a pointer instead of the root).
  Msg& name(std::string_view dotted, int ptr = -1) {
    while (!dotted.empty()) {
      size_t dot = dotted.find('.');
      std::string_view label = dotted.substr(0, dot);
      u8(static_cast<uint8_t>(label.size()));
      for (char c : label) u8(static_cast<uint8_t>(c));
      dotted = dot == std::string_view::npos ? "" : dotted.substr(dot + 1);
    }
    return ptr >= 0 ? pointer(static_cast<uint16_t>(ptr)) : u8(0);
  }
  Msg& pointer(uint16_t off) { return u16(static_cast<uint16_t>(0xc000 | off)); }
  Msg& question(std::string_view qname, uint16_t qtype = 1) {
    return name(qname).u16(qtype).u16(1);
  }
  // Record fixed part after an owner name already written.
  Msg& rr(uint16_t type, uint32_t ttl, uint16_t rdlen, uint16_t cls = 1) {
    return u16(type).u16(cls).u32(ttl).u16(rdlen);
  }
  Msg& a(uint32_t ttl, uint8_t x, uint8_t y, uint8_t z, uint8_t w) {
    return rr(1, ttl, 4).u8(x).u8(y).u8(z).u8(w);
  }
  Msg& aaaa(uint32_t ttl, uint8_t last) {
    rr(28, ttl, 16).u16(0x2001).u16(0x0db8);
    for (int i = 0; i < 11; ++i) u8(0);
    return u8(last);
  }
  // A CNAME whose target is written in full; returns the target's offset through *target.
  Msg& cname(uint32_t ttl, std::string_view target, size_t* target_off = nullptr) {
    rr(5, ttl, static_cast<uint16_t>(target.size() + 2));
    if (target_off) *target_off = at();
    return name(target);
  }
};

std::vector<std::string> answers_of(const DnsResponse& r) {
  std::vector<std::string> out;
  for (unsigned i = 0; i < r.n_answers; ++i)
    out.push_back(r.answers[i].addr.str() + "/" + std::to_string(r.answers[i].ttl_s));
  return out;
}

struct Row {
  const char* what;
  std::vector<uint8_t> msg;
  DnsStatus status;
  std::string qname;
  std::vector<std::string> answers;
};

std::vector<Row> rows() {
  std::vector<Row> r;
  {
    Msg m;
    m.header(1).question("Teams.Microsoft.COM").pointer(12).a(300, 52, 112, 1, 2);
    r.push_back({"one A, owner compressed to the question",
                 m.b,
                 DnsStatus::kOk,
                 "teams.microsoft.com",
                 {"52.112.1.2/300"}});
  }
  {
    Msg m;
    m.header(2, 0x8180).question("meet.google.com", 28).pointer(12).aaaa(60, 7);
    m.pointer(12).aaaa(60, 8);
    r.push_back(
        {"two AAAA", m.b, DnsStatus::kOk, "meet.google.com", {"2001:db8::7/60", "2001:db8::8/60"}});
  }
  {
    // teams.microsoft.com CNAME teams.office.com CNAME x.trafficmanager.net, A x2.
    Msg m;
    size_t t1 = 0, t2 = 0;
    m.header(4).question("teams.microsoft.com").pointer(12).cname(3600, "teams.office.com", &t1);
    m.pointer(static_cast<uint16_t>(t1)).cname(300, "x.trafficmanager.net", &t2);
    m.pointer(static_cast<uint16_t>(t2)).a(20, 52, 113, 194, 132);
    m.pointer(static_cast<uint16_t>(t2)).a(20, 52, 113, 194, 133);
    r.push_back({"CNAME chain followed",
                 m.b,
                 DnsStatus::kOk,
                 "teams.microsoft.com",
                 {"52.113.194.132/20", "52.113.194.133/20"}});
  }
  {
    // The same chain with the address record first and owner names written out in full.
    Msg m;
    m.header(3).question("zoom.us").name("edge.zoom.us").a(60, 170, 114, 10, 1);
    m.name("ZOOM.US").cname(60, "zoom.us.cdn.example");
    m.name("zoom.us.cdn.example").cname(60, "edge.zoom.us");
    r.push_back({"chain out of order, owner case differs",
                 m.b,
                 DnsStatus::kOk,
                 "zoom.us",
                 {"170.114.10.1/60"}});
  }
  {
    Msg m;
    m.header(2).question("webex.com").name("other.example").a(60, 1, 1, 1, 1);
    m.pointer(12).a(60, 62, 109, 192, 1);
    r.push_back(
        {"record of another name skipped", m.b, DnsStatus::kOk, "webex.com", {"62.109.192.1/60"}});
  }
  {
    Msg m;
    m.header(2).question("a.example").pointer(12).cname(60, "b.example");
    m.name("b.example").cname(60, "a.example");
    r.push_back({"CNAME loop, no address", m.b, DnsStatus::kOk, "a.example", {}});
  }
  {
    Msg m;
    m.header(3).question("t.example").pointer(12).a(0, 10, 0, 0, 1);
    m.pointer(12).a(0xffffffffu, 10, 0, 0, 2).pointer(12).a(0x7fffffffu, 10, 0, 0, 3);
    r.push_back({"TTL 0, top bit set, largest",
                 m.b,
                 DnsStatus::kOk,
                 "t.example",
                 {"10.0.0.1/0", "10.0.0.2/0", "10.0.0.3/2147483647"}});
  }
  {
    Msg m;
    m.header(2).question("c.example").pointer(12).rr(1, 60, 4, 3).u32(0x0a000001);
    m.pointer(12).rr(16, 60, 3).u8(2).u8('h').u8('i');  // TXT
    r.push_back({"class CH and TXT skipped", m.b, DnsStatus::kOk, "c.example", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(12).a(60, 1, 2, 3, 4).pointer(12).a(60, 5, 6, 7, 8);
    r.push_back({"answer count smaller than the records: extra ignored",
                 m.b,
                 DnsStatus::kOk,
                 "x.example",
                 {"1.2.3.4/60"}});
  }
  // ---- hostile ----
  {
    Msg m;
    m.header(2).question("x.example").pointer(12).a(60, 1, 2, 3, 4);
    r.push_back({"answer count lying (2, one present)", m.b, DnsStatus::kTruncated, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(12).rr(1, 60, 4).u8(1).u8(2);
    r.push_back({"truncated rdata", m.b, DnsStatus::kTruncated, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(12).u16(1).u16(1);
    r.push_back({"truncated record header", m.b, DnsStatus::kTruncated, "", {}});
  }
  {
    Msg m;
    m.u16(1).u16(0x8180).u16(1);
    r.push_back({"short header", m.b, DnsStatus::kTruncated, "", {}});
  }
  {
    Msg m;
    m.header(0).u8(3).u8('a').u8('b');
    r.push_back({"question name cut", m.b, DnsStatus::kTruncated, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example");
    const size_t self = m.at();
    m.pointer(static_cast<uint16_t>(self)).a(60, 1, 2, 3, 4);
    r.push_back({"pointer to itself (loop)", m.b, DnsStatus::kBadPointer, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example");
    const size_t here = m.at();
    m.u8(1).u8('y').pointer(static_cast<uint16_t>(here)).a(60, 1, 2, 3, 4);
    r.push_back(
        {"label then pointer back to its own start (loop)", m.b, DnsStatus::kBadPointer, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example");
    const size_t here = m.at();
    m.pointer(static_cast<uint16_t>(here + 2)).u8(0).a(60, 1, 2, 3, 4);
    r.push_back({"pointer forward", m.b, DnsStatus::kBadPointer, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(0x3fff).a(60, 1, 2, 3, 4);
    r.push_back({"pointer past the end", m.b, DnsStatus::kBadPointer, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").u8(0xc0);
    r.push_back({"pointer cut after one byte", m.b, DnsStatus::kTruncated, "", {}});
  }
  {
    // A TXT whose rdata is a root then 20 pointers, each to the one before; the next owner
    // name starts at the last: 20 jumps.
    Msg m;
    m.header(2).question("x.example").pointer(12).rr(16, 60, 41);
    const size_t base = m.at();
    m.u8(0);
    m.pointer(static_cast<uint16_t>(base));
    for (int i = 1; i < 20; ++i) m.pointer(static_cast<uint16_t>(base + 1 + 2 * (i - 1)));
    m.pointer(static_cast<uint16_t>(base + 1 + 2 * 19)).a(60, 1, 2, 3, 4);
    r.push_back({"pointer chain of 20 jumps", m.b, DnsStatus::kBadPointer, "", {}});
  }
  {
    Msg m;
    m.header(0).u8(64);
    for (int i = 0; i < 64; ++i) m.u8('a');
    m.u8(0).u16(1).u16(1);
    r.push_back({"label of 64 (type bits 01)", m.b, DnsStatus::kBadName, "", {}});
  }
  {
    Msg m;
    m.header(0).u8(0x80).u8('a').u8(0).u16(1).u16(1);
    r.push_back({"label type 10", m.b, DnsStatus::kBadName, "", {}});
  }
  {
    Msg m;
    m.header(0);
    for (int l = 0; l < 5; ++l) {
      m.u8(63);
      for (int i = 0; i < 63; ++i) m.u8('a');
    }
    m.u8(0).u16(1).u16(1);
    r.push_back({"name of 321 bytes", m.b, DnsStatus::kNameTooLong, "", {}});
  }
  {
    // 4 labels of 63 = 256 bytes with the root: one too many.
    Msg m;
    m.header(0);
    for (int l = 0; l < 4; ++l) {
      m.u8(63);
      for (int i = 0; i < 63; ++i) m.u8('b');
    }
    m.u8(0).u16(1).u16(1);
    r.push_back({"name of 257 bytes", m.b, DnsStatus::kNameTooLong, "", {}});
  }
  {
    Msg m;
    m.header(0).u8(3).u8('a').u8(' ').u8('b').u8(0).u16(1).u16(1);
    r.push_back({"space in the queried name", m.b, DnsStatus::kBadName, "", {}});
  }
  {
    Msg m;
    m.header(1, 0x0100).question("x.example").pointer(12).a(60, 1, 2, 3, 4);
    r.push_back({"a query (QR clear)", m.b, DnsStatus::kNotResponse, "", {}});
  }
  {
    Msg m;
    m.header(0, 0x8183).question("nx.example");
    r.push_back({"NXDOMAIN", m.b, DnsStatus::kNotResponse, "", {}});
  }
  {
    Msg m;
    m.header(0, 0x8180, 2).question("a.example").question("b.example");
    r.push_back({"two questions", m.b, DnsStatus::kBadQuestion, "", {}});
  }
  {
    Msg m;
    m.header(0, 0x8180, 0);
    r.push_back({"no question", m.b, DnsStatus::kBadQuestion, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(12).rr(1, 60, 5).u32(0x01020304).u8(5);
    r.push_back({"A of 5 bytes", m.b, DnsStatus::kBadRdata, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(12).rr(28, 60, 4).u32(0x01020304);
    r.push_back({"AAAA of 4 bytes", m.b, DnsStatus::kBadRdata, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(12).rr(5, 60, 5).u8(1).u8('y').u8(0).u8(9).u8(9);
    r.push_back({"CNAME with bytes after the name", m.b, DnsStatus::kBadRdata, "", {}});
  }
  {
    Msg m;
    m.header(1).question("x.example").pointer(12).rr(5, 60, 3).u8(5).u8('y').u8('z');
    r.push_back({"CNAME name running out of its rdata", m.b, DnsStatus::kBadRdata, "", {}});
  }
  return r;
}

TEST(DnsParse, Table) {
  for (const Row& row : rows()) {
    DnsResponse resp;
    const DnsStatus st = parse_dns_response(row.msg.data(), row.msg.size(), &resp);
    EXPECT_EQ(dns_status_name(st), std::string(dns_status_name(row.status))) << row.what;
    if (st != DnsStatus::kOk) continue;
    EXPECT_EQ(resp.name(), row.qname) << row.what;
    EXPECT_EQ(answers_of(resp), row.answers) << row.what;
  }
}

TEST(DnsParse, EveryPrefixOfValidMessagesIsRefusedCleanly) {
  for (const Row& row : rows()) {
    // The row whose answer count is smaller than its records stays valid when cut short.
    if (row.status != DnsStatus::kOk || std::string(row.what).find("extra") != std::string::npos)
      continue;
    for (size_t n = 0; n < row.msg.size(); ++n) {
      DnsResponse resp;
      const DnsStatus st = parse_dns_response(row.msg.data(), n, &resp);
      EXPECT_NE(st, DnsStatus::kOk) << row.what << " cut at " << n;
    }
  }
}

TEST(DnsParse, ChainLengthAndDroppedAnswers) {
  Msg m;
  m.header(41).question("many.example").pointer(12).cname(60, "edge.example");
  for (int i = 0; i < 40; ++i) m.name("edge.example").a(60, 10, 0, 0, static_cast<uint8_t>(i));
  DnsResponse resp;
  ASSERT_EQ(parse_dns_response(m.b.data(), m.b.size(), &resp), DnsStatus::kOk);
  EXPECT_EQ(resp.chain_len, 2);
  EXPECT_EQ(resp.n_answers, kDnsMaxAnswers);
  EXPECT_EQ(resp.answers_dropped, 40 - kDnsMaxAnswers);
  EXPECT_EQ(resp.answers[0].addr.str(), "10.0.0.0");
}

TEST(DnsParse, ByteFlipsNeverCrashAndKeepBounds) {
  // Every single-byte corruption of a chain message parses to some status without reading
  // outside the buffer (the sanitizer build checks the bounds).
  Msg m;
  size_t t1 = 0;
  m.header(2).question("teams.microsoft.com").pointer(12).cname(60, "teams.office.com", &t1);
  m.pointer(static_cast<uint16_t>(t1)).a(20, 52, 113, 194, 132);
  for (size_t i = 0; i < m.b.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0x3f}, uint8_t{0x40}, uint8_t{0xc0}, uint8_t{0xff}}) {
      std::vector<uint8_t> bad = m.b;
      bad[i] = v;
      DnsResponse resp;
      const DnsStatus st = parse_dns_response(bad.data(), bad.size(), &resp);
      EXPECT_LT(static_cast<int>(st), static_cast<int>(DnsStatus::kCount));
      EXPECT_LE(resp.n_answers, kDnsMaxAnswers);
      EXPECT_LE(resp.qname_len, kDnsMaxName);
    }
  }
}

// ---- NameCache ----

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

TEST(NameCache, TtlClampedToBounds) {
  struct TtlRow {
    uint32_t ttl_s;
    uint32_t expect_s;
    bool clamped;
  };
  const TtlRow ttl_rows[] = {
      {0, 30, true},       {1, 30, true},         {29, 30, true},       {30, 30, false},
      {3600, 3600, false}, {86400, 86400, false}, {86401, 86400, true}, {0xffffffffu, 86400, true},
  };
  NameCache cache(64);
  uint64_t clamped = 0;
  for (const TtlRow& r : ttl_rows) {
    const IpAddr a = IpAddr::v4(0x0a000000u + r.ttl_s % 1000);
    ASSERT_TRUE(cache.insert(a, "t.example", 5, r.ttl_s, 1000));
    auto hit = cache.lookup(a, 1000);
    ASSERT_TRUE(hit) << r.ttl_s;
    EXPECT_EQ(hit->expiry_s, 1000 + r.expect_s) << r.ttl_s;
    clamped += r.clamped;
  }
  EXPECT_EQ(cache.counters().ttl_clamped, clamped);
}

TEST(NameCache, HitUntilExpiryThenMiss) {
  NameCache cache(16);
  const IpAddr a = ip("52.112.1.2");
  ASSERT_TRUE(cache.insert(a, "teams.microsoft.com", 7, 300, 100));
  auto hit = cache.lookup(a, 399);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->app, 7);
  EXPECT_EQ(hit->name, "teams.microsoft.com");
  EXPECT_FALSE(cache.lookup(a, 400));  // expired: removed
  EXPECT_FALSE(cache.lookup(a, 401));  // and now simply absent
  EXPECT_EQ(cache.counters().hits, 1u);
  EXPECT_EQ(cache.counters().expired, 1u);
  EXPECT_EQ(cache.counters().misses, 1u);
  EXPECT_EQ(cache.occupied(), 0u);
}

TEST(NameCache, FamiliesAndUpdates) {
  NameCache cache(16);
  ASSERT_TRUE(cache.insert(ip("10.0.0.1"), "a.example", 1, 60, 0));
  ASSERT_TRUE(cache.insert(ip("::ffff:10.0.0.2"), "b.example", 2, 60, 0));
  ASSERT_TRUE(cache.insert(ip("2001:db8::1"), "c.example", 3, 60, 0));
  EXPECT_EQ(cache.lookup(ip("10.0.0.2"), 1)->app, 2);  // mapped form is the same address
  EXPECT_EQ(cache.lookup(ip("2001:db8::1"), 1)->app, 3);
  EXPECT_FALSE(cache.lookup(ip("::a00:1"), 1));  // IPv4-compatible is another address
  ASSERT_TRUE(cache.insert(ip("10.0.0.1"), "z.example", 9, 60, 10));
  auto hit = cache.lookup(ip("10.0.0.1"), 11);
  EXPECT_EQ(hit->app, 9);
  EXPECT_EQ(hit->name, "z.example");
  EXPECT_EQ(cache.counters().updates, 1u);
  EXPECT_EQ(cache.occupied(), 3u);
}

TEST(NameCache, NamesLongerThanTheSlotAreRefused) {
  NameCache cache(16);
  const std::string ok(NameCache::kNameMax, 'a'), too_long(NameCache::kNameMax + 1, 'a');
  EXPECT_TRUE(cache.insert(ip("10.0.0.1"), ok, 1, 60, 0));
  EXPECT_FALSE(cache.insert(ip("10.0.0.2"), too_long, 1, 60, 0));
  EXPECT_EQ(cache.lookup(ip("10.0.0.1"), 0)->name.size(), NameCache::kNameMax);
  EXPECT_FALSE(cache.lookup(ip("10.0.0.2"), 0));
  EXPECT_EQ(cache.counters().name_too_long, 1u);
}

TEST(NameCache, FullSetEvictsLeastRecentlyUsedAndReusesExpiredFirst) {
  NameCache cache(NameCache::kWays);  // one set: every address competes
  ASSERT_EQ(cache.capacity(), NameCache::kWays);
  for (uint32_t i = 0; i < NameCache::kWays; ++i)
    ASSERT_TRUE(cache.insert(IpAddr::v4(0x0a000000u + i), "x.example", 1, 3600, 0));
  ASSERT_TRUE(cache.lookup(IpAddr::v4(0x0a000000u), 1));  // 10.0.0.0 now recently used
  ASSERT_TRUE(cache.insert(IpAddr::v4(0x0b000000u), "y.example", 2, 3600, 2));
  EXPECT_EQ(cache.counters().evictions, 1u);
  EXPECT_TRUE(cache.lookup(IpAddr::v4(0x0a000000u), 3));
  EXPECT_FALSE(cache.lookup(IpAddr::v4(0x0a000001u), 3));  // the least recently used went
  EXPECT_TRUE(cache.lookup(IpAddr::v4(0x0b000000u), 3));

  // Once entries have expired, an insert takes an expired slot instead of evicting.
  NameCache c2(NameCache::kWays);
  for (uint32_t i = 0; i < NameCache::kWays; ++i)
    ASSERT_TRUE(c2.insert(IpAddr::v4(0x0a000000u + i), "x.example", 1, i == 3 ? 30 : 3600, 0));
  ASSERT_TRUE(c2.insert(IpAddr::v4(0x0c000000u), "y.example", 2, 60, 100));
  EXPECT_EQ(c2.counters().evictions, 0u);
  EXPECT_FALSE(c2.lookup(IpAddr::v4(0x0a000003u), 100));
  EXPECT_TRUE(c2.lookup(IpAddr::v4(0x0a000000u), 100));
}

TEST(NameCache, ManyAddressesStayWithinCapacity) {
  NameCache cache(1000);
  EXPECT_GE(cache.capacity(), 1000u);
  for (uint32_t i = 0; i < 20000; ++i)
    cache.insert(IpAddr::v4(0x0a000000u + i), "n.example", 1, 3600, 0);
  EXPECT_LE(cache.occupied(), cache.capacity());
  EXPECT_EQ(cache.counters().inserts + cache.counters().evictions, 20000u);
  EXPECT_TRUE(cache.lookup(IpAddr::v4(0x0a000000u + 19999), 1));  // the last one is there
}

// ---- DomainMatcher ----

TEST(DomainMatcher, MostSpecificPatternWins) {
  std::string error;
  auto dm = DomainMatcher::build({{"*.microsoft.com", 1},
                                  {"*.teams.microsoft.com", 2},
                                  {"teams.microsoft.com", 2},
                                  {"outlook.office365.com", 3},
                                  {"*.zoom.us", 4},
                                  {"zoom.us", 4},
                                  {"Meet.Google.com.", 5},
                                  {"*.com", 6}},
                                 &error);
  ASSERT_TRUE(dm) << error;
  EXPECT_EQ(dm->size(), 8u);
  struct M {
    const char* name;
    uint16_t app;
  };
  const M rows[] = {
      {"teams.microsoft.com", 2},      // exact beats *.microsoft.com
      {"a.teams.microsoft.com", 2},    // longest wildcard suffix
      {"a.b.teams.microsoft.com", 2},  // "*." covers several labels
      {"login.microsoft.com", 1},
      {"microsoft.com", 6},         // the apex is not matched by *.microsoft.com
      {"LOGIN.MICROSOFT.COM.", 1},  // case and trailing dot
      {"outlook.office365.com", 3},
      {"x.outlook.office365.com", 6},  // an exact pattern covers no subdomain
      {"zoom.us", 4},
      {"us05web.zoom.us", 4},
      {"xzoom.us", 0},  // a suffix only at a label boundary
      {"zoom.us.evil.net", 0},
      {"meet.google.com", 5},
      {"google.com", 6},
      {"com", 0},
      {"", 0},
      {".", 0},
      {"example.org", 0},
  };
  for (const M& r : rows) EXPECT_EQ(dm->match(r.name), r.app) << r.name;
  EXPECT_EQ(dm->match(std::string(300, 'a')), 0);
}

TEST(DomainMatcher, BadPatternsNamed) {
  struct B {
    std::vector<DomainPattern> pats;
    const char* error_has;
  };
  const std::string label64(64, 'a');
  std::string long_name;
  while (long_name.size() < 260) long_name += "abcdefghi.";
  long_name += "com";
  const B rows[] = {
      {{{"", 1}}, "empty pattern"},
      {{{"*", 1}}, "'*' allowed only"},
      {{{"*.", 1}}, "nothing after it"},
      {{{"a..b", 1}}, "empty label"},
      {{{".a.b", 1}}, "empty label"},
      {{{"a.*.b", 1}}, "'*' allowed only"},
      {{{"**.a", 1}}, "'*' allowed only"},
      {{{"*a.b", 1}}, "'*' allowed only"},
      {{{"a b.com", 1}}, "character ' '"},
      {{{"exa$mple.org", 1}}, "character '$'"},
      {{{label64 + ".com", 1}}, "longer than 63"},
      {{{long_name, 1}}, "longer than 253"},
      {{{"ok.example", 1}, {"OK.example.", 2}}, "pattern 1 \"OK.example.\": already given"},
  };
  for (const B& r : rows) {
    std::string error;
    EXPECT_FALSE(DomainMatcher::build(r.pats, &error)) << r.error_has;
    EXPECT_NE(error.find(r.error_has), std::string::npos) << error;
  }
  std::string error;
  auto dup = DomainMatcher::build({{"a.example", 1}, {"A.example", 1}}, &error);
  ASSERT_TRUE(dup) << error;
  EXPECT_EQ(dup->size(), 1u);
  EXPECT_TRUE(DomainMatcher::check_pattern("*.example.org").empty());
  EXPECT_TRUE(DomainMatcher::check_pattern("_sip._tls.example.org").empty());
}

TEST(DomainMatcher, ManyPatternsAllFound) {
  std::vector<DomainPattern> pats;
  for (int i = 0; i < 5000; ++i) {
    pats.push_back({"host" + std::to_string(i) + ".example.net", static_cast<uint16_t>(i + 1)});
    pats.push_back({"*.zone" + std::to_string(i) + ".example.org", static_cast<uint16_t>(i + 1)});
  }
  std::string error;
  auto dm = DomainMatcher::build(pats, &error);
  ASSERT_TRUE(dm) << error;
  for (int i = 0; i < 5000; i += 97) {
    EXPECT_EQ(dm->match("host" + std::to_string(i) + ".example.net"), i + 1);
    EXPECT_EQ(dm->match("a.b.zone" + std::to_string(i) + ".example.org"), i + 1);
    EXPECT_EQ(dm->match("zone" + std::to_string(i) + ".example.org"), 0);
    EXPECT_EQ(dm->match("x.host" + std::to_string(i) + ".example.net"), 0);
  }
  DomainMatcher empty;
  EXPECT_EQ(empty.match("host1.example.net"), 0);
}

TEST(DnsSnoop, AnswerToCacheToApplication) {
  // The path the pipeline takes: a response for a SaaS name fills the cache, and the first
  // packet to one of its addresses finds the application.
  std::string error;
  auto dm =
      DomainMatcher::build({{"*.teams.microsoft.com", 12}, {"teams.microsoft.com", 12}}, &error);
  ASSERT_TRUE(dm) << error;
  Msg m;
  size_t t1 = 0;
  m.header(2).question("teams.microsoft.com").pointer(12).cname(3600, "teams.office.com", &t1);
  m.pointer(static_cast<uint16_t>(t1)).a(10, 52, 113, 194, 132);
  DnsResponse resp;
  ASSERT_EQ(parse_dns_response(m.b.data(), m.b.size(), &resp), DnsStatus::kOk);
  const uint16_t app = dm->match(resp.name());
  ASSERT_EQ(app, 12);
  NameCache cache(256);
  for (unsigned i = 0; i < resp.n_answers; ++i)
    cache.insert(resp.answers[i].addr, resp.name(), app, resp.answers[i].ttl_s, 5000);
  auto hit = cache.lookup(ip("52.113.194.132"), 5001);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->app, 12);
  EXPECT_EQ(hit->expiry_s, 5030u);  // TTL 10 raised to 30
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// IPFIX messages (RFC 7011) and the flow export tracker: wire layout read back at the offsets
// the RFC gives, message splitting, sequence numbers, and which records a walk yields.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "controlplane/telemetry/flow_export.h"
#include "controlplane/telemetry/ipfix.h"

namespace traboule::cp {
namespace {

uint16_t be16(const std::string& s, size_t at) {
  return static_cast<uint16_t>((uint8_t(s[at]) << 8) | uint8_t(s[at + 1]));
}
uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t{be16(s, at)} << 16) | be16(s, at + 2);
}
uint64_t be64(const std::string& s, size_t at) {
  return (uint64_t{be32(s, at)} << 32) | be32(s, at + 4);
}
dp::IpAddr ip(const char* t) {
  return *dp::IpAddr::parse(t);
}

ipfix::Record v4_record() {
  ipfix::Record r;
  r.src = ip("10.1.0.10");
  r.dst = ip("198.51.100.7");
  r.src_port = 40000;
  r.dst_port = 443;
  r.proto = 6;
  r.tos = 46 << 2;
  r.post_tos = 34 << 2;
  r.reason = ipfix::EndReason::kEndOfFlow;
  r.octets = 123456789012ull;
  r.packets = 4242;
  r.start_ms = 1'796'000'000'000ull;
  r.end_ms = 1'796'000'005'000ull;
  r.ingress = 1000;
  r.egress = 1001;
  r.app_id = 0x1234;
  r.app_name = "teams";
  return r;
}

TEST(Ipfix, MessageHeaderTemplateAndRecordAtTheRfcOffsets) {
  ipfix::Encoder enc(77);
  const ipfix::Record rec = v4_record();
  auto msgs = enc.encode(std::span(&rec, 1), 1'796'000'010u, true);
  ASSERT_EQ(msgs.size(), 1u);
  const std::string& m = msgs[0];
  // Message header (§3.1).
  EXPECT_EQ(be16(m, 0), 10);
  EXPECT_EQ(be16(m, 2), m.size());
  EXPECT_EQ(be32(m, 4), 1'796'000'010u);
  EXPECT_EQ(be32(m, 8), 0u);  // no data record before this message
  EXPECT_EQ(be32(m, 12), 77u);
  // Template set (§3.4.1): id 2, then template 256 with 16 fields, then 257.
  size_t at = 16;
  EXPECT_EQ(be16(m, at), 2);
  const uint16_t tset_len = be16(m, at + 2);
  EXPECT_EQ(be16(m, at + 4), 256);
  EXPECT_EQ(be16(m, at + 6), 16);
  EXPECT_EQ(be16(m, at + 8), 8);  // sourceIPv4Address
  EXPECT_EQ(be16(m, at + 10), 4);
  const size_t v6_at = at + 8 + 16 * 4;
  EXPECT_EQ(be16(m, v6_at), 257);
  EXPECT_EQ(be16(m, v6_at + 4), 27);  // sourceIPv6Address
  EXPECT_EQ(be16(m, v6_at + 6), 16);
  // The last field of each template is applicationName, variable length.
  EXPECT_EQ(be16(m, v6_at + 4 + 15 * 4), 96);
  EXPECT_EQ(be16(m, v6_at + 4 + 15 * 4 + 2), 65535);
  EXPECT_EQ(tset_len, 4 + 2 * (4 + 16 * 4));
  // Data set 256 and the record, field by field in template order.
  at += tset_len;
  EXPECT_EQ(be16(m, at), 256);
  EXPECT_EQ(be16(m, at + 2), m.size() - at);
  size_t r = at + 4;
  EXPECT_EQ(be32(m, r), 0x0a01000au);
  EXPECT_EQ(be32(m, r + 4), 0xc6336407u);
  EXPECT_EQ(be16(m, r + 8), 40000);
  EXPECT_EQ(be16(m, r + 10), 443);
  EXPECT_EQ(uint8_t(m[r + 12]), 6);
  EXPECT_EQ(uint8_t(m[r + 13]), 46 << 2);
  EXPECT_EQ(uint8_t(m[r + 14]), 34 << 2);
  EXPECT_EQ(uint8_t(m[r + 15]), 3);  // flowEndReason: end of flow detected
  EXPECT_EQ(be64(m, r + 16), 123456789012ull);
  EXPECT_EQ(be64(m, r + 24), 4242u);
  EXPECT_EQ(be64(m, r + 32), 1'796'000'000'000ull);
  EXPECT_EQ(be64(m, r + 40), 1'796'000'005'000ull);
  EXPECT_EQ(be32(m, r + 48), 1000u);
  EXPECT_EQ(be32(m, r + 52), 1001u);
  EXPECT_EQ(be32(m, r + 56), 0x0d001234u);  // engine 13, selector 0x001234
  EXPECT_EQ(uint8_t(m[r + 60]), 5);
  EXPECT_EQ(m.substr(r + 61), "teams");
  EXPECT_EQ(enc.sequence(), 1u);
}

TEST(Ipfix, RecordsOfBothFamiliesSplitOverMessagesWithSequenceNumbers) {
  struct Case {
    const char* what;
    size_t v4, v6;
    size_t max_message;
    bool templates;
  };
  const Case cases[] = {
      {"empty, templates only", 0, 0, 1400, true},
      {"empty, nothing", 0, 0, 1400, false},
      {"one of each", 1, 1, 1400, true},
      {"many v4", 300, 0, 1400, false},
      {"interleaved, small messages", 40, 40, 512, true},
      {"absurd max message is clamped", 50, 50, 1, false},
      {"huge max message is clamped", 2000, 0, 1u << 20, false},
  };
  for (const Case& c : cases) {
    // Alternating families while both last, so sets open and close inside messages.
    std::vector<ipfix::Record> recs;
    for (size_t i = 0; i < std::max(c.v4, c.v6); ++i)
      for (bool v6 : {false, true}) {
        if (i >= (v6 ? c.v6 : c.v4)) continue;
        ipfix::Record r = v4_record();
        if (v6) {
          r.src = ip("2001:db8::10");
          r.dst = ip("2001:db8:1::7");
        }
        r.packets = recs.size() + 1;
        recs.push_back(r);
      }
    ipfix::Encoder enc(1, c.max_message);
    auto msgs = enc.encode(recs, 100, c.templates);
    if (recs.empty() && !c.templates) {
      EXPECT_TRUE(msgs.empty()) << c.what;
      continue;
    }
    // Walk every message's sets: lengths add up, each data record is where the next starts,
    // sequence numbers count the records before each message, packets come back in order.
    uint32_t seq = 0;
    uint64_t next_packets = 1;
    for (const std::string& m : msgs) {
      ASSERT_GE(m.size(), 16u) << c.what;
      EXPECT_EQ(be16(m, 2), m.size()) << c.what;
      EXPECT_LE(m.size(), std::max<size_t>(512, std::min<size_t>(c.max_message, 65000))) << c.what;
      EXPECT_EQ(be32(m, 8), seq) << c.what;
      size_t at = 16;
      while (at < m.size()) {
        const uint16_t id = be16(m, at), len = be16(m, at + 2);
        ASSERT_GE(len, 4) << c.what;
        ASSERT_LE(at + len, m.size()) << c.what;
        if (id == 256 || id == 257) {
          const size_t addr = id == 256 ? 4 : 16;
          size_t r = at + 4;
          while (r < at + len) {
            EXPECT_EQ(be64(m, r + 2 * addr + 8) >> 40, 0u) << c.what;  // octets
            EXPECT_EQ(be64(m, r + 2 * addr + 16), next_packets++) << c.what;
            r += 2 * addr + 53 + uint8_t(m[r + 2 * addr + 52]);  // + the name
            ++seq;
          }
          EXPECT_EQ(r, at + len) << c.what;
        }
        at += len;
      }
      EXPECT_EQ(at, m.size()) << c.what;
    }
    EXPECT_EQ(next_packets, recs.size() + 1) << c.what;
    EXPECT_EQ(enc.sequence(), recs.size()) << c.what;
  }
}

TEST(Ipfix, HostileApplicationNamesAreCutNotOverflowed) {
  struct Row {
    const char* what;
    std::string name;
    size_t sent;
  };
  const Row rows[] = {
      {"empty", "", 0},
      {"254 bytes fit one length byte", std::string(254, 'a'), 254},
      {"255 would need the 3-byte form: cut", std::string(255, 'b'), 254},
      {"64 KiB: cut", std::string(65536, 'c'), 254},
      {"NUL bytes are bytes", std::string("x\0y", 3), 3},
  };
  for (const Row& row : rows) {
    ipfix::Record r = v4_record();
    r.app_name = row.name;
    const std::string b = ipfix::encode_record(r);
    ASSERT_EQ(b.size(), 61 + row.sent) << row.what;
    EXPECT_EQ(uint8_t(b[60]), row.sent) << row.what;
    EXPECT_EQ(b.substr(61), row.name.substr(0, row.sent)) << row.what;
  }
}

FlowSample sample(uint64_t identity, uint32_t created, uint64_t p0, uint64_t b0, uint64_t p1,
                  uint64_t b1) {
  FlowSample f;
  f.identity = identity;
  f.created = created;
  f.src = ip("10.1.0.10");
  f.dst = ip("203.0.113.9");
  f.src_port = 5555;
  f.dst_port = 80;
  f.proto = 6;
  f.app = 7;
  f.in_if = 1000;
  f.out_if = 1001;
  f.packets[0] = p0;
  f.octets[0] = b0;
  f.packets[1] = p1;
  f.octets[1] = b1;
  f.start_ms = 1000;
  f.last_ms = 1000;
  return f;
}

struct Sum {
  uint64_t octets[2] = {0, 0}, packets[2] = {0, 0};
  std::vector<ipfix::EndReason> reasons;
};
void add(Sum& s, const std::vector<ipfix::Record>& recs) {
  for (const auto& r : recs) {
    const int d = r.src == ip("10.1.0.10") ? 0 : 1;
    if (d == 1) {
      EXPECT_EQ(r.ingress, 1001u);  // replies come in by the uplink
      EXPECT_EQ(r.src_port, 80);
    }
    s.octets[d] += r.octets;
    s.packets[d] += r.packets;
    s.reasons.push_back(r.reason);
  }
}

TEST(FlowExportTracker, RecordsAddUpToTheFlowsCountersWhateverTheTiming) {
  using R = ipfix::EndReason;
  struct Step {
    uint64_t now_ms;
    std::vector<FlowSample> walk;
    size_t records;  // expected records from this walk
  };
  struct Case {
    const char* what;
    std::vector<Step> steps;
    uint64_t octets0, octets1;
    std::vector<R> reasons;
  };
  const Case cases[] = {
      {"idle flow: one record per direction when it leaves the table",
       {{1500, {sample(1, 9, 3, 300, 2, 2000)}, 0}, {2500, {}, 2}},
       300,
       2000,
       {R::kIdleTimeout, R::kIdleTimeout}},
      {"active timeout exports deltas, the end the rest",
       {{2000, {sample(1, 9, 10, 1000, 0, 0)}, 0},
        {11000, {sample(1, 9, 20, 2000, 5, 500)}, 2},
        {12000, {sample(1, 9, 25, 2600, 5, 500)}, 0},
        {22000, {sample(1, 9, 30, 3000, 6, 600)}, 2},
        {23000, {}, 0}},
       3000,
       600,
       {R::kActiveTimeout, R::kActiveTimeout, R::kActiveTimeout, R::kActiveTimeout}},
      {"TCP closed: exported at once, not again when it leaves",
       {{1500,
         {[] {
           auto f = sample(1, 9, 4, 400, 4, 800);
           f.closed = true;
           return f;
         }()},
         2},
        {2500, {}, 0}},
       400,
       800,
       {R::kEndOfFlow, R::kEndOfFlow}},
      {"slot reused by another flow between two walks: the old one ends",
       {{1500, {sample(1, 9, 2, 200, 0, 0)}, 0},
        {2500, {sample(1, 10, 1, 100, 0, 0)}, 1},
        {3500, {}, 1}},
       300,
       0,
       {R::kIdleTimeout, R::kIdleTimeout}},
      {"counters reset in place (lower than sent): all of it is new",
       {{11500, {sample(1, 9, 50, 5000, 0, 0)}, 1},
        {12500, {sample(1, 9, 1, 60, 0, 0)}, 0},
        {13500, {}, 1}},
       5060,
       0,
       {R::kActiveTimeout, R::kIdleTimeout}},
      {"listed twice in one walk (a racing listing): counted once",
       {{1500, {sample(1, 9, 2, 200, 0, 0), sample(1, 9, 2, 200, 0, 0)}, 0}, {2500, {}, 1}},
       200,
       0,
       {R::kIdleTimeout}},
      {"a flow with no packet yet exports nothing",
       {{1500, {sample(1, 9, 0, 0, 0, 0)}, 0}, {2500, {}, 0}},
       0,
       0,
       {}},
      {"clock stepped back: no underflow, no early export",
       {{500, {sample(1, 9, 1, 10, 0, 0)}, 0}, {400, {sample(1, 9, 2, 20, 0, 0)}, 0}, {600, {}, 1}},
       20,
       0,
       {R::kIdleTimeout}},
  };
  for (const Case& c : cases) {
    FlowExportTracker t(10'000);
    Sum sum;
    for (const Step& s : c.steps) {
      auto recs = t.update(s.walk, s.now_ms);
      EXPECT_EQ(recs.size(), s.records) << c.what << " at " << s.now_ms;
      add(sum, recs);
    }
    EXPECT_EQ(sum.octets[0], c.octets0) << c.what;
    EXPECT_EQ(sum.octets[1], c.octets1) << c.what;
    EXPECT_EQ(sum.reasons, c.reasons) << c.what;
    EXPECT_EQ(t.tracked(), 0u) << c.what;
  }
}

TEST(FlowExportTracker, FlushSendsEveryRemainderAsForcedEnd) {
  FlowExportTracker t(60'000);
  EXPECT_TRUE(t.update({sample(1, 1, 5, 500, 5, 5000), sample(2, 1, 1, 40, 0, 0)}, 2000).empty());
  auto recs = t.flush(3000);
  ASSERT_EQ(recs.size(), 3u);
  for (const auto& r : recs) EXPECT_EQ(r.reason, ipfix::EndReason::kForcedEnd);
  EXPECT_EQ(t.tracked(), 0u);
  EXPECT_TRUE(t.flush(4000).empty());
}

}  // namespace
}  // namespace traboule::cp

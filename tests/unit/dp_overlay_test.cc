// SPDX-License-Identifier: Apache-2.0
// The overlay from tables: the header's wire format and the headers a receiver must refuse, the
// duplicate filter's window (wrap-around, too old, far jumps), the passive path figures (gaps,
// reordering, duplicates, RFC 3550 jitter computed by hand, forged sequences and sender
// restarts), the receive counters direct measurement reads, and the encap and decap stages
// end to end: an edge encapsulates, a hub decapsulates, learns the site and answers.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_ip.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "dataplane/crypto/esp_sas.h"
#include "dataplane/graph/mbuf_parse.h"
#include "dataplane/model/overlay_config.h"
#include "dataplane/model/policy_snapshot.h"
#include "dataplane/proto/overlay_header.h"
#include "dataplane/stages/decap.h"
#include "dataplane/stages/encap.h"
#include "dataplane/stages/parse.h"
#include "dataplane/tables/overlay_sites.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"

namespace traboule::dp {
namespace {

using testing::Frame;
using testing::Ipv4Opts;
using testing::PacketBuilder;

// ---------------------------------------------------------------------------------------------
// Header

TEST(OverlayHeader, RoundTripAndWireLayout) {
  const std::vector<OverlayHeader> rows = {
      {.flags = 0,
       .inner = 4,
       .path = 0,
       .site = 1,
       .key_id = 0,
       .seq = 1,
       .tx_us = 0,
       .dup_seq = 0},
      {.flags = overlay_flag::kDuplicate,
       .inner = 6,
       .path = 3,
       .site = kMaxSiteId,
       .key_id = 0,
       .seq = 0xffffffffu,
       .tx_us = 0x80000001u,
       .dup_seq = 0xdeadbeefu},
      {.flags = 0,
       .inner = 4,
       .path = 1,
       .site = 0x0102,
       .key_id = 0,
       .seq = 0x01020304u,
       .tx_us = 0x05060708u,
       .dup_seq = 0x090a0b0cu},
  };
  for (const auto& h : rows) {
    uint8_t buf[kOverlayHdrLen + 4];
    std::memset(buf, 0xee, sizeof buf);
    write_overlay_header(buf, h);
    EXPECT_EQ(buf[0] >> 4, kOverlayVersion);
    EXPECT_EQ(buf[0] & 0x0f, h.flags);
    EXPECT_EQ(buf[1], h.inner);
    EXPECT_EQ(buf[2], h.path);
    EXPECT_EQ(buf[3], 0) << "reserved";
    EXPECT_EQ(get16(buf + 4), h.site);
    EXPECT_EQ(get16(buf + 6), h.key_id);
    EXPECT_EQ(get32(buf + 8), h.seq);
    EXPECT_EQ(get32(buf + 12), h.tx_us);
    EXPECT_EQ(get32(buf + 16), h.dup_seq);
    EXPECT_EQ(get32(buf + 20), 0u) << "reserved";
    EXPECT_EQ(buf[kOverlayHdrLen], 0xee) << "writes exactly 24 bytes";
    OverlayHeader back;
    ASSERT_EQ(read_overlay_header(buf, back), OverlayParse::kOk);
    EXPECT_EQ(back.flags, h.flags);
    EXPECT_EQ(back.inner, h.inner);
    EXPECT_EQ(back.path, h.path);
    EXPECT_EQ(back.site, h.site);
    EXPECT_EQ(back.key_id, h.key_id);
    EXPECT_EQ(back.seq, h.seq);
    EXPECT_EQ(back.tx_us, h.tx_us);
    EXPECT_EQ(back.dup_seq, h.dup_seq);
  }
  // Network order on the wire.
  uint8_t buf[kOverlayHdrLen];
  write_overlay_header(buf, rows[2]);
  const uint8_t want[kOverlayHdrLen] = {0x10, 4, 1, 0, 0x01, 0x02, 0,  0,  1, 2, 3, 4,
                                        5,    6, 7, 8, 9,    10,   11, 12, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(buf, want, sizeof want), 0);
  // Flags beyond the 4 bits do not leak into the version.
  OverlayHeader wide = rows[0];
  wide.flags = 0xf0 | overlay_flag::kDuplicate;
  write_overlay_header(buf, wide);
  EXPECT_EQ(buf[0], 0x11);
}

struct HeaderRow {
  const char* what;
  std::function<void(uint8_t*)> edit;  // on a valid header
  OverlayParse want;
};

TEST(OverlayHeader, HostileHeaders) {
  const std::vector<HeaderRow> rows = {
      {"valid", [](uint8_t*) {}, OverlayParse::kOk},
      {"version 2", [](uint8_t* p) { p[0] = 0x20; }, OverlayParse::kBadVersion},
      {"version 0", [](uint8_t* p) { p[0] = 0x00; }, OverlayParse::kBadVersion},
      {"version 15", [](uint8_t* p) { p[0] = 0xf1; }, OverlayParse::kBadVersion},
      {"inner 5", [](uint8_t* p) { p[1] = 5; }, OverlayParse::kBadInner},
      {"inner 0", [](uint8_t* p) { p[1] = 0; }, OverlayParse::kBadInner},
      {"inner 0x46 (an IP header byte)", [](uint8_t* p) { p[1] = 0x46; }, OverlayParse::kBadInner},
      {"key id set", [](uint8_t* p) { put16(p + 6, 1); }, OverlayParse::kEncrypted},
      {"key id 0xffff", [](uint8_t* p) { put16(p + 6, 0xffff); }, OverlayParse::kEncrypted},
      {"encrypted flag", [](uint8_t* p) { p[0] |= overlay_flag::kEncrypted; },
       OverlayParse::kEncrypted},
      {"site 0", [](uint8_t* p) { put16(p + 4, 0); }, OverlayParse::kBadSite},
      {"site 4096", [](uint8_t* p) { put16(p + 4, 4096); }, OverlayParse::kBadSite},
      {"site 0xffff", [](uint8_t* p) { put16(p + 4, 0xffff); }, OverlayParse::kBadSite},
      {"site 4095", [](uint8_t* p) { put16(p + 4, 4095); }, OverlayParse::kOk},
      {"path 4", [](uint8_t* p) { p[2] = 4; }, OverlayParse::kBadSite},
      {"path 0xff", [](uint8_t* p) { p[2] = 0xff; }, OverlayParse::kBadSite},
      {"path 3", [](uint8_t* p) { p[2] = 3; }, OverlayParse::kOk},
      {"reserved bytes set are ignored",
       [](uint8_t* p) {
         p[3] = 0xff;
         put32(p + 20, 0xffffffffu);
       },
       OverlayParse::kOk},
      {"unknown flag bits 2-3 are ignored", [](uint8_t* p) { p[0] |= 0x0c; }, OverlayParse::kOk},
      {"all ones", [](uint8_t* p) { std::memset(p, 0xff, kOverlayHdrLen); },
       OverlayParse::kBadVersion},
      {"all zeros", [](uint8_t* p) { std::memset(p, 0, kOverlayHdrLen); },
       OverlayParse::kBadVersion},
  };
  for (const auto& r : rows) {
    uint8_t buf[kOverlayHdrLen];
    write_overlay_header(buf, {.inner = 4, .path = 1, .site = 7, .seq = 9});
    r.edit(buf);
    OverlayHeader h;
    EXPECT_EQ(read_overlay_header(buf, h), r.want) << r.what;
  }
}

// Byte 3: the class tag (0 none, 1..7 an SLA class); a larger value reads (and writes) as 0.
TEST(OverlayHeader, ClassTagRows) {
  struct Row {
    uint8_t write, want_byte;
  };
  for (const Row r : {Row{0, 0}, Row{1, 1}, Row{7, 7}, Row{8, 0}, Row{0xff, 0}}) {
    SCOPED_TRACE(int(r.write));
    uint8_t buf[kOverlayHdrLen];
    write_overlay_header(buf, {.inner = 4, .path = 1, .cls = r.write, .site = 7, .seq = 9});
    EXPECT_EQ(buf[3], r.want_byte);
    OverlayHeader h;
    ASSERT_EQ(read_overlay_header(buf, h), OverlayParse::kOk);
    EXPECT_EQ(h.cls, r.want_byte);
  }
  for (const Row r : {Row{3, 3}, Row{8, 0}, Row{0x80, 0}, Row{0xff, 0}}) {
    SCOPED_TRACE(int(r.write));
    uint8_t buf[kOverlayHdrLen];
    write_overlay_header(buf, {.inner = 4, .path = 1, .site = 7, .seq = 9});
    buf[3] = r.write;  // a forged or future value
    OverlayHeader h;
    ASSERT_EQ(read_overlay_header(buf, h), OverlayParse::kOk);
    EXPECT_EQ(h.cls, r.want_byte);
  }
}

// ---------------------------------------------------------------------------------------------
// Duplicate filter

struct DupRow {
  const char* what;
  std::vector<uint32_t> seqs;
  std::vector<DupFilter::Verdict> want;
};

TEST(DupFilter, Table) {
  using V = DupFilter::Verdict;
  constexpr V F = V::kFirst, D = V::kDuplicate, O = V::kTooOld;
  const std::vector<DupRow> rows = {
      {"first copy passes, second is a duplicate", {5, 5}, {F, D}},
      {"two copies interleaved", {1, 2, 1, 3, 2, 3}, {F, F, D, F, D, D}},
      {"reordered first copies pass", {10, 8, 9, 8, 9, 10}, {F, F, F, D, D, D}},
      {"gap then the missing ones", {1, 5, 2, 3, 4, 3}, {F, F, F, F, F, D}},
      {"the very first sequence can be 0", {0, 0, 1}, {F, D, F}},
      {"wrap-around at 2^32",
       {0xfffffffeu, 0xffffffffu, 0, 1, 0xffffffffu, 0, 0xfffffffeu},
       {F, F, F, F, D, D, D}},
      {"reordered across the wrap", {1, 0xffffffffu, 0, 0xffffffffu}, {F, F, F, D}},
      {"1023 behind is still in the window", {2000, 977, 977}, {F, F, D}},
      {"1024 behind is too old", {2000, 976}, {F, O}},
      {"far older is too old", {2000, 3}, {F, O}},
      {"a copy older than the window is too old, not first", {100, 100 + 1024, 100}, {F, F, O}},
      {"the window slides: the slot reused by a newer sequence",
       {10, 1033, 10, 1034, 10},
       {F, F, D, F, O}},
      {"far jump ahead clears the window", {5, 5 + 5000, 5 + 4999, 5 + 5000, 5}, {F, F, F, D, O}},
      {"jump by 2^31 - 1", {7, 7 + 0x7fffffffu, 7}, {F, F, O}},
      // 2^31 apart is ambiguous; what must not happen is a crash or a pass of the old one.
      {"jump by exactly 2^31", {7, 7 + 0x80000000u}, {F, O}},
      {"wrap-around window stale bits cleared", {0xfffffc00u, 0x00000000u, 0xfffffc00u}, {F, F, O}},
  };
  for (const auto& r : rows) {
    ASSERT_EQ(r.seqs.size(), r.want.size()) << r.what;
    DupFilter f;
    for (size_t i = 0; i < r.seqs.size(); ++i)
      EXPECT_EQ(static_cast<int>(f.check(r.seqs[i])), static_cast<int>(r.want[i]))
          << r.what << " at step " << i << " (seq " << r.seqs[i] << ")";
  }
}

TEST(DupFilter, LongRunOfCopiesOnTwoPaths) {
  // Every sequence arrives twice, the second copy up to 100 behind: exactly one copy passes.
  DupFilter f;
  unsigned first = 0, dup = 0, old = 0;
  const uint32_t base = 0xffff0000u;  // crosses the wrap
  for (uint32_t i = 0; i < 200000; ++i) {
    for (uint32_t s : {base + i, base + i - 100}) {
      if (i < 100 && s != base + i) continue;
      switch (f.check(s)) {
        case DupFilter::Verdict::kFirst:
          ++first;
          break;
        case DupFilter::Verdict::kDuplicate:
          ++dup;
          break;
        case DupFilter::Verdict::kTooOld:
          ++old;
          break;
      }
    }
  }
  EXPECT_EQ(first, 200000u);
  EXPECT_EQ(dup, 200000u - 100);
  EXPECT_EQ(old, 0u);
}

// ---------------------------------------------------------------------------------------------
// Passive path figures

struct PassiveStep {
  uint32_t seq, tx_us, rx_us;
};
struct PassiveRow {
  const char* what;
  std::vector<PassiveStep> steps;
  uint64_t received, lost, reordered, duplicates, jitter_us16;
  uint32_t highest;
};

TEST(PassivePath, Table) {
  const std::vector<PassiveRow> rows = {
      {"in order, constant transit", {{1, 0, 100}, {2, 10, 110}, {3, 20, 120}}, 3, 0, 0, 0, 0, 3},
      {"gap of two", {{1, 0, 100}, {2, 10, 110}, {5, 40, 140}}, 3, 2, 0, 0, 0, 5},
      {"gap filled by a late packet", {{1, 0, 100}, {3, 20, 120}, {2, 10, 110}}, 3, 0, 1, 0, 0, 3},
      {"reordered twice into one gap",
       {{1, 0, 100}, {5, 40, 140}, {3, 20, 120}, {4, 30, 130}},
       4,
       1,
       2,
       0,
       0,
       5},
      {"duplicate of the highest", {{1, 0, 100}, {2, 10, 110}, {2, 10, 110}}, 3, 0, 0, 1, 0, 2},
      {"first packet is only a reference", {{100, 0, 5000}}, 1, 0, 0, 0, 0, 100},
      {"sequence wraps without loss",
       {{0xfffffffeu, 0, 100}, {0xffffffffu, 10, 110}, {0, 20, 120}, {1, 30, 130}},
       4,
       0,
       0,
       0,
       0,
       1},
      {"loss across the wrap", {{0xfffffffeu, 0, 100}, {1, 30, 130}}, 2, 2, 0, 0, 0, 1},
      {"reordered packet without a counted loss does not underflow",
       {{5, 0, 100}, {4, 0, 100}},
       2,
       0,
       1,
       0,
       0,
       5},
      // RFC 3550 §6.4.1 by hand, J×16 += |D| − J×16/16 (integer): transits 100, 150, 100,
      // 180 µs → |D| 50, 50, 80 → J×16 = 50, 50 + 50 − 3 = 97, 97 + 80 − 6 = 171 (10.7 µs).
      {"jitter, hand-computed",
       {{1, 1000, 1100}, {2, 2000, 2150}, {3, 3000, 3100}, {4, 4000, 4180}},
       4,
       0,
       0,
       0,
       171,
       4},
      // Clocks in different epochs and both wrapping: only transit differences count.
      {"jitter with clocks that wrap",
       {{1, 0xffffff00u, 0x10}, {2, 0xffffff80u, 0xc0}, {3, 0x10, 0x110}},
       3,
       0,
       0,
       0,
       48 + 64 - 3,
       3},
      {"a transit going down counts like one going up",
       {{1, 1000, 1300}, {2, 2000, 2100}},
       2,
       0,
       0,
       0,
       200,
       2},
  };
  for (const auto& r : rows) {
    PassivePath p;
    for (const auto& s : r.steps) p.on_packet(s.seq, s.tx_us, s.rx_us);
    EXPECT_EQ(p.received, r.received) << r.what;
    EXPECT_EQ(p.lost, r.lost) << r.what;
    EXPECT_EQ(p.reordered, r.reordered) << r.what;
    EXPECT_EQ(p.duplicates, r.duplicates) << r.what;
    EXPECT_EQ(p.jitter_us16, r.jitter_us16) << r.what;
    EXPECT_EQ(p.highest_seq, r.highest) << r.what;
  }
}

// Hostile and unusual sequences (issue 11, 6e): a forged packet far from the path's sequence
// is an outlier, not loss; a restarted sender is followed after kPassiveResync agreeing packets.
struct PassiveHostileRow {
  const char* what;
  std::vector<uint32_t> seqs;  // constant transit: jitter stays 0
  uint64_t lost, reordered, duplicates, seq_jumps, resyncs;
  uint32_t highest;
};

TEST(PassivePath, HostileSequences) {
  const std::vector<PassiveHostileRow> rows = {
      {"one forged far-ahead sequence", {1, 2, 3, 0x40000000u, 4, 5}, 0, 0, 0, 1, 0, 5},
      {"a few forged sequences among real traffic",
       {1, 2, 900000000u, 3, 1800000000u, 4, 2700000000u, 5},
       0,
       0,
       0,
       3,
       0,
       5},
      {"a forged run that is not consecutive never moves the path",
       {1, 2, 1000000u, 2000000u, 3000000u, 3},
       0,
       0,
       0,
       3,
       0,
       3},
      {"a consecutive forged run interrupted by real traffic does not either",
       {1, 2, 1000000u, 1000001u, 3, 1000002u, 4},
       0,
       0,
       0,
       3,
       0,
       4},
      {"a gap of exactly the window is loss", {1, 1025}, 1023, 0, 0, 0, 0, 1025},
      {"one more is an outlier", {1, 1026}, 0, 0, 0, 1, 0, 1},
      {"far ahead across the 2^32 wrap", {0xfffffff0u, 0x500}, 0, 0, 0, 1, 0, 0xfffffff0u},
      {"in-window gap across the 2^32 wrap", {0xfffffff0u, 0x10}, 31, 0, 0, 0, 0, 0x10},
      {"sender restart at seq 0 is followed, the jump is not loss",
       {100000, 100001, 0, 1, 2, 3, 5},
       1,
       0,
       0,
       3,
       1,
       5},
      {"restart across the wrap", {0x80000000u, 1, 2, 3, 4}, 0, 0, 0, 3, 1, 4},
      {"far behind does not decrement loss", {2000, 2010, 900, 901}, 9, 0, 0, 2, 0, 2010},
      {"far behind the 2^32 wrap", {5, 10, 0xffff0000u}, 4, 0, 0, 1, 0, 10},
      {"reorder within the window fills gaps", {1, 4, 2, 3}, 0, 2, 0, 0, 0, 4},
      {"reorder 1000 back", {1, 1001, 2}, 998, 1, 0, 0, 0, 1001},
      {"late duplicate is a duplicate, not a gap filler", {1, 2, 3, 2}, 0, 0, 1, 0, 0, 3},
      {"duplicate of a gap filler", {1, 3, 2, 2}, 0, 1, 1, 0, 0, 3},
      {"duplicate of the highest", {1, 2, 2}, 0, 0, 1, 0, 0, 2},
      {"after a resync, gaps count again in the new space", {50000, 1, 2, 3, 6}, 2, 0, 0, 3, 1, 6},
  };
  for (const auto& r : rows) {
    PassivePath p;
    for (uint32_t s : r.seqs) p.on_packet(s, 1000, 1100);
    EXPECT_EQ(p.received, r.seqs.size()) << r.what << ": every packet is received";
    EXPECT_EQ(p.lost, r.lost) << r.what;
    EXPECT_EQ(p.reordered, r.reordered) << r.what;
    EXPECT_EQ(p.duplicates, r.duplicates) << r.what;
    EXPECT_EQ(p.seq_jumps, r.seq_jumps) << r.what;
    EXPECT_EQ(p.resyncs, r.resyncs) << r.what;
    EXPECT_EQ(p.highest_seq, r.highest) << r.what;
    EXPECT_EQ(p.jitter_us16, 0u) << r.what;
  }
}

TEST(PassivePath, ForgedOutliersDoNotTouchJitter) {
  PassivePath p;
  p.on_packet(1, 1000, 1100);
  p.on_packet(2, 2000, 2100);
  p.on_packet(0x70000000u, 0, 0x7fffffffu);  // forged, with an absurd transmit time
  p.on_packet(3, 3000, 3100);
  EXPECT_EQ(p.jitter_us16, 0u);
  EXPECT_EQ(p.lost, 0u);
}

TEST(OverlaySites, ReceiveCountersAddUpOverWorkers) {
  OverlaySites sites;
  std::vector<PassivePath> w0(8 * kMaxUplinks), w1(8 * kMaxUplinks), small(2 * kMaxUplinks);
  w0[3 * kMaxUplinks + 1].received = 100;
  w1[3 * kMaxUplinks + 1].received = 23;
  small[1 * kMaxUplinks + 2].received = 5;
  EXPECT_EQ(sites.rx_packets(3, 1), 0u) << "nothing registered";
  ASSERT_TRUE(sites.attach_rx(w0.data(), 8));
  ASSERT_TRUE(sites.attach_rx(w1.data(), 8));
  ASSERT_TRUE(sites.attach_rx(small.data(), 2));
  EXPECT_EQ(sites.rx_packets(3, 1), 123u);
  EXPECT_EQ(sites.rx_packets(1, 2), 5u);
  EXPECT_EQ(sites.rx_packets(7, 0), 0u);
  EXPECT_EQ(sites.rx_packets(3, kMaxUplinks), 0u) << "path out of range";
  EXPECT_EQ(sites.rx_packets(9, 0), 0u) << "slot beyond every table";
  sites.detach_rx(w1.data());
  EXPECT_EQ(sites.rx_packets(3, 1), 100u);
  ASSERT_TRUE(sites.attach_rx(w1.data(), 8)) << "a freed entry is reused";
  EXPECT_EQ(sites.rx_packets(3, 1), 123u);
  std::vector<std::vector<PassivePath>> many(OverlaySites::kMaxRxTables);
  unsigned attached = 0;
  for (auto& t : many) {
    t.resize(kMaxUplinks);
    attached += sites.attach_rx(t.data(), 1) ? 1 : 0;
  }
  EXPECT_EQ(attached, OverlaySites::kMaxRxTables - 3) << "full: refused, not overwritten";
  EXPECT_EQ(sites.rx_packets(3, 1), 123u);
}

TEST(PassivePath, JitterConvergesToTheFloatingPointFormula) {
  PassivePath p;
  double j = 0;
  int64_t last = 0;
  for (uint32_t i = 0; i < 500; ++i) {
    const uint32_t tx = i * 20000;
    const uint32_t transit = 30000 + (i * 7919 % 4000);  // 30 – 34 ms
    p.on_packet(i + 1, tx, tx + transit);
    if (i > 0) {
      const double d = std::abs(static_cast<double>(static_cast<int64_t>(transit) - last));
      j += (d - j) / 16;
    }
    last = transit;
  }
  EXPECT_NEAR(static_cast<double>(p.jitter_us16) / 16, j, 1.0);
}

// ---------------------------------------------------------------------------------------------
// Stages

constexpr uint16_t kLanPort = 0, kFiberPort = 1, kLtePort = 2, kHubPort = 5;
constexpr const char* kLanMac = "02:00:00:00:0a:01";
constexpr const char* kHostMac = "02:00:00:00:0a:10";
constexpr const char* kFiberMac = "02:00:00:00:0b:01";
constexpr const char* kLteMac = "02:00:00:00:0c:01";
constexpr const char* kHubMac = "02:00:00:00:0d:01";
constexpr const char* kPeerMac = "02:00:00:00:0e:fe";
constexpr uint16_t kOvPort = 4500;
constexpr uint16_t kSiteId = 7;

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

// An edge (LAN + fiber 100.64.1.2 + lte 100.64.2.2) or a hub (one uplink 100.64.100.2).
struct Box {
  Site site;
  std::shared_ptr<PolicySnapshot> policy;
  WorkerView view;

  Interface& add(const char* name, uint16_t port, bool lan, const char* mac_text, uint8_t uplink,
                 const char* v4, const char* gw4) {
    auto i = std::make_unique<Interface>();
    i->name = name;
    i->port_id = port;
    i->is_lan = lan;
    i->mac = testing::mac(mac_text);
    i->uplink = uplink;
    i->neighbors = std::make_unique<NeighborTable>(64);
    i->link_up = true;
    if (v4 != nullptr) i->v4 = IfAddr{ip(v4), 24};
    if (gw4 != nullptr) i->gw4 = ip(gw4);
    site.by_port[port] = i.get();
    if (lan)
      site.lan = i.get();
    else
      site.uplinks.push_back(i.get());
    site.ifaces.push_back(std::move(i));
    return *site.ifaces.back();
  }
  void peers(std::vector<OverlayPeerDp> p) {
    policy = std::make_shared<PolicySnapshot>();
    policy->peers = std::move(p);
    policy->prepare_hits();
    view.policy = policy.get();
    ++view.policy_gen;
  }

  static Box edge() {
    Box b;
    b.add("lan", kLanPort, true, kLanMac, kNoUplink, "192.168.10.1", nullptr);
    b.add("fiber", kFiberPort, false, kFiberMac, 0, "100.64.1.2", "100.64.1.1");
    b.add("lte", kLtePort, false, kLteMac, 1, "100.64.2.2", "100.64.2.1");
    b.site.lan_prefixes = {*IpPrefix::parse("192.168.10.0/24")};
    b.peers({{"hub", {ip("100.64.100.2")}, kOvPort}});
    return b;
  }
  static Box hub() {
    Box b;
    b.add("wan", kHubPort, false, kHubMac, 0, "100.64.100.2", "100.64.100.1");
    return b;
  }
};

// Runs the real parser on a frame received on `port` (flags as the RX path sets them).
rte_mbuf* parsed(const std::vector<uint8_t>& bytes, uint16_t port, bool from_lan) {
  Frame f;
  f.bytes = bytes;
  rte_mbuf* m = testing::to_mbuf(testing::test_pool(), f, port);
  if (m == nullptr) {
    ADD_FAILURE() << "test pool empty";
    return nullptr;
  }
  meta(m).in_port = port;
  meta(m).flags = from_lan ? meta_flag::kFromLan : 0;
  const unsigned r = parse_mbuf(m);
  EXPECT_LT(r, ParseStage::kDropBase)
      << "test frame must parse (drop "
      << (r >= ParseStage::kDropBase ? r - ParseStage::kDropBase : 0) << ")";
  return m;
}

// What the encap stage sent, with the MACs the forward stage would have written.
std::vector<uint8_t> on_wire(rte_mbuf* m, const char* dst_mac) {
  std::vector<uint8_t> b = testing::from_mbuf(m);
  const auto d = testing::mac(dst_mac);
  const auto s = testing::mac(kPeerMac);
  std::memcpy(b.data(), d.addr_bytes, 6);
  std::memcpy(b.data() + 6, s.addr_bytes, 6);
  return b;
}

uint16_t ipv4_cksum_of(const uint8_t* ip4) {
  uint8_t h[60];
  const unsigned ihl = (ip4[0] & 0x0f) * 4u;
  std::memcpy(h, ip4, ihl);
  h[10] = h[11] = 0;
  const uint16_t c = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(h));
  return c;
}
uint16_t stored16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
// The TCP/UDP checksum recomputed over an IPv4 datagram (bytes from the IP header on).
uint16_t l4_cksum_of(std::vector<uint8_t> dgram, size_t cksum_off) {
  dgram[cksum_off] = dgram[cksum_off + 1] = 0;
  const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(dgram.data());
  const unsigned ihl = (dgram[0] & 0x0f) * 4u;
  return rte_ipv4_udptcp_cksum(h, dgram.data() + ihl);
}

// Frame helpers.
PacketBuilder lan_eth() {
  return PacketBuilder().eth(kLanMac, kHostMac);
}
Frame lan_udp(uint8_t ttl = 64, size_t payload = 100, uint8_t tos = 0) {
  return lan_eth()
      .ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.ttl = ttl, .tos = tos})
      .udp(40000, 5004)
      .payload(payload)
      .build();
}
// The inner datagram as it must leave the tunnel: TTL − 1, checksum fixed.
std::vector<uint8_t> forwarded_inner(Frame f) {
  f.set8(f.l3_off + 8, static_cast<uint8_t>(f.get8(f.l3_off + 8) - 1));
  f.fix_ipv4_checksum();
  return {f.bytes.begin() + static_cast<long>(f.l3_off), f.bytes.end()};
}

// A server's answer to lan1's flow, as it reaches the hub from the datacenter.
Frame hub_reply() {
  return PacketBuilder()
      .eth(kHubMac, kPeerMac)
      .ipv4("203.0.113.1", "192.168.10.10", Ipv4Opts{.ttl = 50})
      .udp(5004, 40000)
      .payload(64)
      .build();
}
// What the hub's encap sends for `reply` on site 7's path 0, as the edge's fiber receives it
// (empty, with a failure, if encap did not send it).
std::vector<uint8_t> hub_answers(EncapStage& encap, WorkerView& view, const Frame& reply) {
  rte_mbuf* m = parsed(reply.bytes, kHubPort, false);
  if (m == nullptr) return {};
  meta(m).uplink = 0;
  meta(m).overlay_site = kSiteId;
  meta(m).overlay_path = 0;
  testing::StageHarness h(encap, &view);
  auto v = h.run({m});
  if (v.size() != 1 || v[0].where != "edge:next") {
    ADD_FAILURE() << "the hub's encap did not send the answer";
    return {};
  }
  EXPECT_EQ(meta(v[0].pkt).out_port, kHubPort);
  return on_wire(v[0].pkt, kFiberMac);
}

constexpr size_t kEth = 14, kOuterIp = kEth, kOuterUdp = kEth + 20, kOvHdr = kOuterUdp + 8,
                 kInner = kOvHdr + kOverlayHdrLen;

struct Outer {
  IpAddr src, dst;
  uint16_t sport, dport, ip_len, udp_len;
  uint8_t ttl, tos;
  uint16_t frag;
  bool cksum_ok;
  OverlayHeader h;
  OverlayParse parse;
  std::vector<uint8_t> inner;
};
Outer outer_of(const std::vector<uint8_t>& b) {
  Outer o{};
  EXPECT_GE(b.size(), kInner);
  if (b.size() < kInner) return o;
  EXPECT_EQ(get16(&b[12]), RTE_ETHER_TYPE_IPV4);
  const uint8_t* ip4 = &b[kOuterIp];
  EXPECT_EQ(ip4[0], 0x45);
  EXPECT_EQ(ip4[9], IPPROTO_UDP);
  o.tos = ip4[1];
  o.ip_len = get16(ip4 + 2);
  o.frag = get16(ip4 + 6);
  o.ttl = ip4[8];
  o.cksum_ok = stored16(ip4 + 10) == ipv4_cksum_of(ip4);
  o.src = IpAddr::v4_bytes(ip4 + 12);
  o.dst = IpAddr::v4_bytes(ip4 + 16);
  o.sport = get16(&b[kOuterUdp]);
  o.dport = get16(&b[kOuterUdp + 2]);
  o.udp_len = get16(&b[kOuterUdp + 4]);
  EXPECT_EQ(get16(&b[kOuterUdp + 6]), 0) << "IPv4 outer UDP carries no checksum";
  o.parse = read_overlay_header(&b[kOvHdr], o.h);
  o.inner.assign(b.begin() + kInner, b.end());
  return o;
}

struct Pipes {
  Box edge = Box::edge();
  Box hub = Box::hub();
  OverlaySites edge_sites, hub_sites;
  OverlayConfig edge_cfg{.port = kOvPort, .site_id = kSiteId};
  OverlayConfig hub_cfg{.port = kOvPort, .site_id = 0, .hub = true};
  EncapStage edge_encap{edge.site, edge_cfg, edge_sites, testing::test_pool()};
  DecapStage edge_decap{edge.site, edge_cfg, nullptr};
  EncapStage hub_encap{hub.site, hub_cfg, hub_sites, testing::test_pool()};
  DecapStage hub_decap{hub.site, hub_cfg, &hub_sites};
};

TEST(OverlayStages, EdgeToHubAndBack) {
  const unsigned in_use = testing::pool_in_use();
  {
    Pipes p;
    const Frame lan = lan_udp(64, 100, 46 << 2);
    const std::vector<uint8_t> want_inner = forwarded_inner(lan);

    // Edge: encapsulate on fiber (uplink 0), twice, then once on lte.
    std::vector<std::vector<uint8_t>> sent;
    for (uint8_t u : {0, 0, 1}) {
      rte_mbuf* m = parsed(lan.bytes, kLanPort, true);
      ASSERT_NE(m, nullptr);
      meta(m).uplink = u;
      testing::StageHarness h(p.edge_encap, &p.edge.view);
      auto v = h.run({m});
      ASSERT_EQ(v.size(), 1u);
      ASSERT_EQ(v[0].where, "edge:next");
      const PacketMeta& md = meta(v[0].pkt);
      EXPECT_EQ(md.uplink, u);
      EXPECT_EQ(md.out_port, u == 0 ? kFiberPort : kLtePort);
      EXPECT_EQ(md.l3, L3Kind::kIpv4);
      EXPECT_EQ(md.dst, ip("100.64.100.2"));
      EXPECT_EQ(md.dst_port, kOvPort);
      EXPECT_TRUE(md.flags & meta_flag::kFromLan);
      sent.push_back(on_wire(v[0].pkt, kHubMac));
    }
    const uint32_t seqs[] = {1, 2, 1};  // per uplink
    for (size_t i = 0; i < sent.size(); ++i) {
      SCOPED_TRACE("packet " + std::to_string(i));
      const Outer o = outer_of(sent[i]);
      EXPECT_EQ(o.src, ip(i == 2 ? "100.64.2.2" : "100.64.1.2"));
      EXPECT_EQ(o.dst, ip("100.64.100.2"));
      EXPECT_EQ(o.ttl, 64);
      EXPECT_EQ(o.frag, 0x4000) << "DF, no fragment";
      EXPECT_EQ(o.tos, 46 << 2) << "inner DSCP copied";
      EXPECT_TRUE(o.cksum_ok);
      EXPECT_EQ(o.sport, kOvPort);
      EXPECT_EQ(o.dport, kOvPort);
      EXPECT_EQ(o.ip_len, sent[i].size() - kEth);
      EXPECT_EQ(o.udp_len, sent[i].size() - kOuterUdp);
      EXPECT_EQ(o.ip_len, lan.bytes.size() - 14 + kOverlayOverhead4);
      ASSERT_EQ(o.parse, OverlayParse::kOk);
      EXPECT_EQ(o.h.site, kSiteId);
      EXPECT_EQ(o.h.path, i == 2 ? 1 : 0);
      EXPECT_EQ(o.h.inner, 4);
      EXPECT_EQ(o.h.flags, 0);
      EXPECT_EQ(o.h.seq, seqs[i]);
      EXPECT_EQ(o.inner, want_inner);
      EXPECT_EQ(stored16(&o.inner[10]), ipv4_cksum_of(o.inner.data()));
    }

    // Hub: decapsulate on its uplink, learn where site 7's paths end.
    for (size_t i = 0; i < sent.size(); ++i) {
      SCOPED_TRACE("decap " + std::to_string(i));
      rte_mbuf* m = parsed(sent[i], kHubPort, false);
      ASSERT_NE(m, nullptr);
      testing::StageHarness h(p.hub_decap, &p.hub.view);
      auto v = h.run({m});
      ASSERT_EQ(v.size(), 1u);
      ASSERT_EQ(v[0].where, "edge:next");
      const PacketMeta& md = meta(v[0].pkt);
      EXPECT_TRUE(md.flags & meta_flag::kFromOverlay);
      EXPECT_FALSE(md.flags & meta_flag::kFromLan);
      EXPECT_EQ(md.overlay_site, kSiteId);
      EXPECT_EQ(md.overlay_path, i == 2 ? 1 : 0);
      EXPECT_EQ(md.in_port, kHubPort);
      EXPECT_EQ(md.src, ip("192.168.10.10"));
      EXPECT_EQ(md.dst, ip("203.0.113.1"));
      EXPECT_EQ(md.dst_port, 5004);
      EXPECT_EQ(md.ttl, 63);
      const auto out = testing::from_mbuf(v[0].pkt);
      ASSERT_EQ(out.size(), kEth + want_inner.size());
      EXPECT_EQ(std::vector<uint8_t>(out.begin() + kEth, out.end()), want_inner);
      EXPECT_EQ(std::memcmp(out.data(), testing::mac(kHubMac).addr_bytes, 6), 0)
          << "outer destination MAC kept";
      EXPECT_EQ(get16(&out[12]), RTE_ETHER_TYPE_IPV4);
    }
    IpAddr a;
    uint16_t port = 0;
    ASSERT_TRUE(p.hub_sites.endpoint(kSiteId, 0, a, port));
    EXPECT_EQ(a, ip("100.64.1.2"));
    EXPECT_EQ(port, kOvPort);
    ASSERT_TRUE(p.hub_sites.endpoint(kSiteId, 1, a, port));
    EXPECT_EQ(a, ip("100.64.2.2"));
    EXPECT_FALSE(p.hub_sites.endpoint(kSiteId, 2, a, port)) << "never seen";
    EXPECT_FALSE(p.hub_sites.endpoint(kSiteId + 1, 0, a, port));
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 0).received, 2u);
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 0).lost, 0u);
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 1).received, 1u);
    // The decap registered its figures in the site table: what the hub's reflector reads for
    // direct measurement (R_RxC).
    EXPECT_EQ(p.hub_sites.rx_packets(kSiteId, 0), 2u);
    EXPECT_EQ(p.hub_sites.rx_packets(kSiteId, 1), 1u);
    EXPECT_EQ(p.hub_sites.rx_packets(kSiteId, 2), 0u);

    // Hub answers on the path the site came in on.
    const Frame reply = hub_reply();
    const std::vector<uint8_t> back = hub_answers(p.hub_encap, p.hub.view, reply);
    ASSERT_FALSE(back.empty());
    const Outer o = outer_of(back);
    EXPECT_EQ(o.src, ip("100.64.100.2"));
    EXPECT_EQ(o.dst, ip("100.64.1.2"));
    EXPECT_EQ(o.sport, kOvPort);
    EXPECT_EQ(o.dport, kOvPort);
    EXPECT_TRUE(o.cksum_ok);
    ASSERT_EQ(o.parse, OverlayParse::kOk);
    EXPECT_EQ(o.h.site, kSiteId);
    EXPECT_EQ(o.h.path, 0) << "the hub's own uplink";
    EXPECT_EQ(o.h.seq, 1u);
    EXPECT_EQ(o.inner, forwarded_inner(reply));

    // The edge takes it back on fiber.
    rte_mbuf* e = parsed(back, kFiberPort, false);
    ASSERT_NE(e, nullptr);
    testing::StageHarness h(p.edge_decap, &p.edge.view);
    auto v = h.run({e});
    ASSERT_EQ(v.size(), 1u);
    ASSERT_EQ(v[0].where, "edge:next");
    EXPECT_TRUE(meta(v[0].pkt).flags & meta_flag::kFromOverlay);
    EXPECT_EQ(meta(v[0].pkt).overlay_site, kSiteId);
    EXPECT_EQ(meta(v[0].pkt).overlay_path, 0);
    EXPECT_EQ(meta(v[0].pkt).dst, ip("192.168.10.10"));
    const auto out = testing::from_mbuf(v[0].pkt);
    EXPECT_EQ(std::vector<uint8_t>(out.begin() + kEth, out.end()), forwarded_inner(reply));
    EXPECT_EQ(p.edge_decap.passive(0, 0).received, 1u) << "edge slot = our uplink index";
  }
  EXPECT_EQ(testing::pool_in_use(), in_use) << "no mbuf leaked";
}

// The class tag travels edge → hub: encap writes it and counts the packet in the path's class
// counters, marks the packet as ours (a later drop is said with own_drop), and the hub's decap
// counts it in its class and hands it to route.
TEST(OverlayStages, ClassTagIsCountedAtBothEnds) {
  Pipes p;
  const Frame lan = lan_udp(64, 100, 46 << 2);
  std::vector<std::vector<uint8_t>> sent;
  for (uint8_t cls : {2, 2, 0, 1}) {
    rte_mbuf* m = parsed(lan.bytes, kLanPort, true);
    ASSERT_NE(m, nullptr);
    meta(m).uplink = 0;
    meta(m).overlay_cls = cls;
    testing::StageHarness h(p.edge_encap, &p.edge.view);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u);
    ASSERT_EQ(v[0].where, "edge:next");
    const PacketMeta& md = meta(v[0].pkt);
    EXPECT_TRUE(md.flags & meta_flag::kOverlayOut);
    EXPECT_EQ(md.overlay_site, 0) << "an edge's sender counters";
    EXPECT_EQ(md.overlay_path, 0);
    EXPECT_EQ(md.overlay_cls, cls);
    sent.push_back(on_wire(v[0].pkt, kHubMac));
    EXPECT_EQ(outer_of(sent.back()).h.cls, cls);
  }
  EXPECT_EQ(p.edge_sites.path(0, 0).tx_cls[2].load(), 2u);
  EXPECT_EQ(p.edge_sites.path(0, 0).tx_cls[1].load(), 1u);
  EXPECT_EQ(p.edge_sites.path(0, 0).tx_cls[0].load(), 1u);
  p.edge_sites.own_drop(0, 0, 2);  // our qos dropped one of the class-2 packets
  EXPECT_EQ(p.edge_sites.tx_packets(0, 0, 2), 1u);
  EXPECT_EQ(p.edge_sites.tx_packets(0, 0), 3u) << "4 encapsulated, 1 dropped by us";
  // Out-of-range slots, paths and tags are refused, not written.
  p.edge_sites.own_drop(kMaxSiteId + 1, 0, 2);
  p.edge_sites.own_drop(0, kMaxUplinks, 2);
  p.edge_sites.own_drop(0, 0, kClassTags);
  p.edge_sites.count_tx(0, 0, 200);
  EXPECT_EQ(p.edge_sites.tx_packets(0, 0), 3u);
  EXPECT_EQ(p.edge_sites.tx_packets(0, 0, 2), 1u);

  for (size_t i = 0; i < sent.size(); ++i) {
    rte_mbuf* m = parsed(sent[i], kHubPort, false);
    ASSERT_NE(m, nullptr);
    testing::StageHarness h(p.hub_decap, &p.hub.view);
    auto v = h.run({m});
    ASSERT_EQ(v[0].where, "edge:next");
    EXPECT_EQ(meta(v[0].pkt).overlay_cls, i < 2 ? 2 : (i == 2 ? 0 : 1));
  }
  EXPECT_EQ(p.hub_sites.rx_packets(kSiteId, 0), 4u);
  EXPECT_EQ(p.hub_sites.rx_packets(kSiteId, 0, 2), 2u);
  EXPECT_EQ(p.hub_sites.rx_packets(kSiteId, 0, 1), 1u);
  EXPECT_EQ(p.hub_sites.rx_packets(kSiteId, 0, 5), 0u);
}

TEST(OverlayStages, Ipv6InnerOverIpv4) {
  Pipes p;
  const Frame lan = lan_eth()
                        .ipv6("fd00:10::10", "2001:db8::1", testing::Ipv6Opts{.hop_limit = 9})
                        .udp(40000, 5004)
                        .payload(40)
                        .build();
  rte_mbuf* m = parsed(lan.bytes, kLanPort, true);
  ASSERT_NE(m, nullptr);
  meta(m).uplink = 0;
  std::vector<uint8_t> sent;
  {
    testing::StageHarness h(p.edge_encap, &p.edge.view);
    auto v = h.run({m});
    ASSERT_EQ(v[0].where, "edge:next");
    sent = on_wire(v[0].pkt, kHubMac);
  }
  const Outer o = outer_of(sent);
  EXPECT_EQ(o.h.inner, 6);
  ASSERT_EQ(o.inner.size(), lan.bytes.size() - 14);
  EXPECT_EQ(o.inner[7], 8) << "hop limit decremented";
  rte_mbuf* d = parsed(sent, kHubPort, false);
  testing::StageHarness h(p.hub_decap, &p.hub.view);
  auto v = h.run({d});
  ASSERT_EQ(v[0].where, "edge:next");
  EXPECT_EQ(meta(v[0].pkt).l3, L3Kind::kIpv6);
  EXPECT_EQ(meta(v[0].pkt).dst, ip("2001:db8::1"));
  const auto out = testing::from_mbuf(v[0].pkt);
  EXPECT_EQ(get16(&out[12]), RTE_ETHER_TYPE_IPV6);
  EXPECT_EQ(std::vector<uint8_t>(out.begin() + kEth, out.end()), o.inner);
}

// An overlay datagram as a hub would send it to the edge's fiber address.
struct OvFrame {
  const char* src = "100.64.100.2";
  const char* dst = "100.64.1.2";
  uint16_t sport = kOvPort, dport = kOvPort;
  OverlayHeader h{.inner = 4, .path = 0, .site = kSiteId, .seq = 1};
  std::function<void(std::vector<uint8_t>&)> edit_payload;  // overlay header + inner
  std::vector<uint8_t> inner;
  bool tcp = false;
};
std::vector<uint8_t> inner_ipv4() {
  Frame f = PacketBuilder()
                .eth()
                .ipv4("203.0.113.1", "192.168.10.10")
                .udp(5004, 40000)
                .payload(32)
                .build();
  return {f.bytes.begin() + 14, f.bytes.end()};
}
Frame ov_frame(const OvFrame& o, const char* dst_mac = kFiberMac) {
  std::vector<uint8_t> pl(kOverlayHdrLen + o.inner.size());
  write_overlay_header(pl.data(), o.h);
  // Copied by index, not vector::insert: GCC 12 at -O2 reports the insert as out of bounds.
  for (size_t i = 0; i < o.inner.size(); ++i) pl[kOverlayHdrLen + i] = o.inner[i];
  if (o.edit_payload) o.edit_payload(pl);
  auto b = PacketBuilder().eth(dst_mac, kPeerMac).ipv4(o.src, o.dst);
  if (o.tcp)
    b.tcp(o.sport, o.dport);
  else
    b.udp(o.sport, o.dport);
  return b.payload(pl).build();
}

struct DecapRow {
  const char* what;
  OvFrame f;
  uint16_t port = kFiberPort;
  bool from_lan = false;
  std::string want;
  bool untouched = false;  // passed on as it came (not ours)
};

TEST(OverlayStages, EdgeDecapTable) {
  const auto inner = inner_ipv4();
  auto row = [&](const char* what, std::function<void(OvFrame&)> edit, std::string want,
                 bool untouched = false, uint16_t port = kFiberPort, bool from_lan = false) {
    DecapRow r{what, OvFrame{}, port, from_lan, std::move(want), untouched};
    r.f.inner = inner;
    edit(r.f);
    return r;
  };
  auto payload = [](std::function<void(std::vector<uint8_t>&)> e) {
    return [e](OvFrame& f) { f.edit_payload = e; };
  };
  const std::vector<DecapRow> rows = {
      row(
          "good", [](OvFrame&) {}, "edge:next"),
      row(
          "good on lte (its own address)", [](OvFrame& f) { f.dst = "100.64.2.2"; }, "edge:next",
          false, kLtePort),
      row(
          "wrong site", [](OvFrame& f) { f.h.site = 8; }, "drop:wrong_site"),
      row(
          "source not a policy peer", [](OvFrame& f) { f.src = "198.51.100.9"; },
          "drop:unknown_peer"),
      row(
          "source is our own gateway, not the hub", [](OvFrame& f) { f.src = "100.64.1.1"; },
          "drop:unknown_peer"),
      row("truncated: 23 bytes of overlay header", payload([](auto& pl) { pl.resize(23); }),
          "drop:truncated"),
      row("truncated: empty UDP payload", payload([](auto& pl) { pl.clear(); }), "drop:truncated"),
      row("bad version", payload([](auto& pl) { pl[0] = 0x21; }), "drop:bad_version"),
      row("inner 5", payload([](auto& pl) { pl[1] = 5; }), "drop:bad_inner"),
      row("encrypted flag", payload([](auto& pl) { pl[0] |= overlay_flag::kEncrypted; }),
          "drop:encrypted"),
      row("key id", payload([](auto& pl) { put16(&pl[6], 3); }), "drop:encrypted"),
      row(
          "site 0", [](OvFrame& f) { f.h.site = 0; }, "drop:bad_site"),
      row("site 4096", payload([](auto& pl) { put16(&pl[4], 4096); }), "drop:bad_site"),
      row(
          "path 4", [](OvFrame& f) { f.h.path = 4; }, "drop:bad_site"),
      row(
          "garbage inner", [](OvFrame& f) { f.inner = std::vector<uint8_t>(40, 0xab); },
          "drop:inner_malformed"),
      row(
          "no inner at all", [](OvFrame& f) { f.inner.clear(); }, "drop:inner_malformed"),
      row(
          "inner truncated IPv4 header", [&](OvFrame& f) { f.inner.resize(12); },
          "drop:inner_malformed"),
      row(
          "inner says 6 but carries IPv4", [](OvFrame& f) { f.h.inner = 6; },
          "drop:inner_malformed"),
      row(
          "inner IPv4 with a bad checksum", [](OvFrame& f) { f.inner[10] ^= 0xff; },
          "drop:inner_malformed"),
      row(
          "transit: destination not ours", [](OvFrame& f) { f.dst = "100.64.9.9"; }, "edge:next",
          true),
      row(
          "to our lte address but in on fiber", [](OvFrame& f) { f.dst = "100.64.2.2"; },
          "edge:next", true),
      row(
          "another UDP port", [](OvFrame& f) { f.dport = 4501; }, "edge:next", true),
      row(
          "from our overlay port to another port", [](OvFrame& f) { f.dport = 53; }, "edge:next",
          true),
      row(
          "TCP to the overlay port", [](OvFrame& f) { f.tcp = true; }, "edge:next", true),
      row(
          "overlay packet from the LAN side", [](OvFrame& f) { f.dst = "192.168.10.1"; },
          "edge:next", true, kLanPort, true),
      row(
          "unknown ingress port", [](OvFrame&) {}, "edge:next", true, 9),
  };
  for (const auto& r : rows) {
    Pipes p;
    const Frame fr = ov_frame(r.f, r.port == kLanPort   ? kLanMac
                                   : r.port == kLtePort ? kLteMac
                                                        : kFiberMac);
    rte_mbuf* m = parsed(fr.bytes, r.port == 9 ? kFiberPort : r.port, r.from_lan);
    ASSERT_NE(m, nullptr) << r.what;
    meta(m).in_port = r.port;
    testing::StageHarness h(p.edge_decap, &p.edge.view);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u) << r.what;
    EXPECT_EQ(v[0].where, r.want) << r.what;
    if (v[0].pkt == nullptr) continue;
    const PacketMeta& md = meta(v[0].pkt);
    if (r.untouched) {
      EXPECT_EQ(testing::from_mbuf(v[0].pkt), fr.bytes) << r.what;
      EXPECT_FALSE(md.flags & meta_flag::kFromOverlay) << r.what;
      EXPECT_EQ(md.overlay_path, kNoUplink) << r.what;
    } else {
      EXPECT_TRUE(md.flags & meta_flag::kFromOverlay) << r.what;
      EXPECT_EQ(md.overlay_site, kSiteId) << r.what;
      const auto out = testing::from_mbuf(v[0].pkt);
      EXPECT_EQ(std::vector<uint8_t>(out.begin() + kEth, out.end()), inner) << r.what;
    }
  }
}

// The outer header's checksum was checked by the NIC; the inner one was not.
TEST(OverlayStages, InnerChecksumIsVerifiedEvenWhenTheNicCheckedTheOuterOne) {
  struct Row {
    const char* what;
    uint64_t ol_flags;
    bool bad_inner;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"no NIC flags, good inner", 0, false, "edge:next"},
      {"no NIC flags, bad inner", 0, true, "drop:inner_malformed"},
      {"outer marked good, good inner", RTE_MBUF_F_RX_IP_CKSUM_GOOD, false, "edge:next"},
      // Regression: decap once re-parsed the inner packet with the outer packet's RX checksum
      // flags, so a NIC that validated the outer IPv4 header made parse skip the inner one's.
      {"outer marked good, bad inner", RTE_MBUF_F_RX_IP_CKSUM_GOOD, true, "drop:inner_malformed"},
  };
  for (const auto& r : rows) {
    Pipes p;
    OvFrame f;
    f.inner = inner_ipv4();
    if (r.bad_inner) f.inner[10] ^= 0xff;
    rte_mbuf* m = parsed(ov_frame(f).bytes, kFiberPort, false);
    ASSERT_NE(m, nullptr) << r.what;
    m->ol_flags |= r.ol_flags;
    testing::StageHarness h(p.edge_decap, &p.edge.view);
    auto v = h.run({m});
    EXPECT_EQ(v[0].where, r.want) << r.what;
  }
}

TEST(OverlayStages, EdgeDecapWithoutPolicyRefusesEverything) {
  Pipes p;
  p.edge.view.policy = nullptr;
  OvFrame f;
  f.inner = inner_ipv4();
  rte_mbuf* m = parsed(ov_frame(f).bytes, kFiberPort, false);
  testing::StageHarness h(p.edge_decap, &p.edge.view);
  auto v = h.run({m});
  EXPECT_EQ(v[0].where, "drop:unknown_peer");
}

TEST(OverlayStages, HubDecapRefusesHostileHeadersButLearnsNothingFromThem) {
  struct Row {
    const char* what;
    std::function<void(std::vector<uint8_t>&)> edit;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"site 0", [](auto& pl) { put16(&pl[4], 0); }, "drop:bad_site"},
      {"site 4096", [](auto& pl) { put16(&pl[4], 4096); }, "drop:bad_site"},
      {"path 4", [](auto& pl) { pl[2] = 4; }, "drop:bad_site"},
      {"version 2", [](auto& pl) { pl[0] = 0x20; }, "drop:bad_version"},
      {"encrypted", [](auto& pl) { pl[0] |= overlay_flag::kEncrypted; }, "drop:encrypted"},
  };
  for (const auto& r : rows) {
    Pipes p;
    OvFrame f;
    f.src = "100.64.1.2";
    f.dst = "100.64.100.2";
    f.inner = inner_ipv4();
    f.edit_payload = r.edit;
    rte_mbuf* m = parsed(ov_frame(f, kHubMac).bytes, kHubPort, false);
    testing::StageHarness h(p.hub_decap, &p.hub.view);
    auto v = h.run({m});
    EXPECT_EQ(v[0].where, r.want) << r.what;
    IpAddr a;
    uint16_t port;
    for (uint8_t path = 0; path < kMaxUplinks; ++path)
      EXPECT_FALSE(p.hub_sites.endpoint(kSiteId, path, a, port)) << r.what;
  }
}

struct EncapRow {
  const char* what;
  std::function<Frame()> frame;
  std::function<void(Pipes&, PacketMeta&)> setup;
  bool hub = false;
  std::string want;
};

TEST(OverlayStages, EncapTable) {
  auto udp_of_total = [](size_t ip_total) {
    return [ip_total] { return lan_udp(64, ip_total - 28); };
  };
  auto nothing = [](Pipes&, PacketMeta&) {};
  const std::vector<EncapRow> rows = {
      {"fits exactly: 1448 + 52 = 1500", udp_of_total(1448), nothing, false, "edge:next"},
      {"too big: 1460 + 52 > 1500", udp_of_total(1460), nothing, false, "drop:too_big"},
      {"too big: 1449", udp_of_total(1449), nothing, false, "drop:too_big"},
      {"TTL 1", [] { return lan_udp(1); }, nothing, false, "drop:ttl_exceeded"},
      {"TTL 0", [] { return lan_udp(0); }, nothing, false, "drop:ttl_exceeded"},
      {"TTL 2 goes", [] { return lan_udp(2); }, nothing, false, "edge:next"},
      {"policy without peers", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta&) { p.edge.peers({}); }, false, "drop:no_peer"},
      {"no policy at all", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta&) { p.edge.view.policy = nullptr; }, false, "drop:no_peer"},
      {"peer without endpoints", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta&) {
         p.edge.peers({{"hub", {}, kOvPort}});
       },
       false, "drop:no_address"},
      {"peer reachable over IPv6 only, uplinks are IPv4", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta&) {
         p.edge.peers({{"hub", {ip("2001:db8::100")}, kOvPort}});
       },
       false, "drop:no_address"},
      {"second endpoint used when the first family is unreachable", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta&) {
         p.edge.peers({{"hub", {ip("2001:db8::100"), ip("100.64.100.2")}, kOvPort}});
       },
       false, "edge:next"},
      {"uplink without a gateway", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta&) { p.edge.site.uplinks[0]->gw4.reset(); }, false,
       "drop:no_address"},
      {"uplink index beyond the site", [] { return lan_udp(); },
       [](Pipes&, PacketMeta& md) { md.uplink = 2; }, false, "drop:no_address"},
      {"no uplink chosen (0xff)", [] { return lan_udp(); },
       [](Pipes&, PacketMeta& md) { md.uplink = kNoUplink; }, false, "drop:no_address"},
      {"hub without a learned site path", [] { return lan_udp(); },
       [](Pipes&, PacketMeta& md) {
         md.overlay_site = kSiteId;
         md.overlay_path = 0;
       },
       true, "drop:no_site_path"},
      {"hub, site 0", [] { return lan_udp(); },
       [](Pipes&, PacketMeta& md) {
         md.overlay_site = 0;
         md.overlay_path = 0;
       },
       true, "drop:no_site_path"},
      {"hub, site 5000", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta& md) {
         p.hub_sites.learn(kSiteId, 0, ip("100.64.1.2"), kOvPort, 1, 1000);
         md.overlay_site = 5000;
         md.overlay_path = 0;
       },
       true, "drop:no_site_path"},
      {"hub, path none", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta& md) {
         p.hub_sites.learn(kSiteId, 0, ip("100.64.1.2"), kOvPort, 1, 1000);
         md.overlay_site = kSiteId;
         md.overlay_path = kNoUplink;
       },
       true, "drop:no_site_path"},
      {"hub, learned path", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta& md) {
         p.hub_sites.learn(kSiteId, 0, ip("100.64.1.2"), kOvPort, 1, 1000);
         md.overlay_site = kSiteId;
         md.overlay_path = 0;
       },
       true, "edge:next"},
      {"hub, site learned over IPv6 but uplink has no IPv6", [] { return lan_udp(); },
       [](Pipes& p, PacketMeta& md) {
         p.hub_sites.learn(kSiteId, 0, ip("2001:db8::7"), kOvPort, 1, 1000);
         md.overlay_site = kSiteId;
         md.overlay_path = 0;
       },
       true, "drop:no_address"},
  };
  for (const auto& r : rows) {
    Pipes p;
    const Frame f = r.frame();
    rte_mbuf* m = parsed(f.bytes, r.hub ? kHubPort : kLanPort, !r.hub);
    ASSERT_NE(m, nullptr) << r.what;
    meta(m).uplink = 0;
    r.setup(p, meta(m));
    testing::StageHarness h(r.hub ? p.hub_encap : p.edge_encap, r.hub ? &p.hub.view : &p.edge.view);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u) << r.what;
    EXPECT_EQ(v[0].where, r.want) << r.what;
    if (v[0].pkt != nullptr) {
      const auto b = testing::from_mbuf(v[0].pkt);
      const Outer o = outer_of(b);
      EXPECT_EQ(o.ip_len, f.bytes.size() - 14 + kOverlayOverhead4) << r.what;
      EXPECT_LE(o.ip_len, 1500) << r.what;
      EXPECT_EQ(o.inner, forwarded_inner(f)) << r.what;
    }
  }
}

TEST(OverlayStages, SmallerMtuIsHonoured) {
  Pipes p;
  OverlayConfig cfg{.port = kOvPort, .site_id = kSiteId, .mtu = 1280};
  EncapStage enc(p.edge.site, cfg, p.edge_sites, testing::test_pool());
  for (auto [total, want] : {std::pair<size_t, const char*>{1228, "edge:next"},
                             std::pair<size_t, const char*>{1229, "drop:too_big"}}) {
    rte_mbuf* m = parsed(lan_udp(64, total - 28).bytes, kLanPort, true);
    meta(m).uplink = 0;
    testing::StageHarness h(enc, &p.edge.view);
    EXPECT_EQ(h.run({m})[0].where, want) << total;
  }
}

struct MssRow {
  const char* what;
  uint8_t flags;
  std::vector<uint8_t> options;
  uint16_t want_mss;  // 0: no MSS option to check
};

TEST(OverlayStages, ClampsTheMssOfSyns) {
  const std::vector<MssRow> rows = {
      {"SYN, MSS 1460 → 1408", testing::tcpf::kSyn, {2, 4, 0x05, 0xb4}, 1408},
      {"SYN-ACK, MSS 1460 → 1408",
       testing::tcpf::kSyn | testing::tcpf::kAck,
       {2, 4, 0x05, 0xb4},
       1408},
      {"SYN after NOPs and window scale",
       testing::tcpf::kSyn,
       {1, 1, 3, 3, 7, 1, 2, 4, 0x23, 0x28},
       1408},
      {"SYN, MSS 1300 kept", testing::tcpf::kSyn, {2, 4, 0x05, 0x14}, 1300},
      {"SYN, MSS 1408 kept", testing::tcpf::kSyn, {2, 4, 0x05, 0x80}, 1408},
      {"ACK with an MSS option is not touched", testing::tcpf::kAck, {2, 4, 0x05, 0xb4}, 1460},
      {"SYN without options", testing::tcpf::kSyn, {}, 0},
      {"SYN with a malformed option length (0)", testing::tcpf::kSyn, {2, 0, 0x05, 0xb4}, 0},
      {"SYN with an option running past the header", testing::tcpf::kSyn, {1, 1, 1, 2}, 0},
  };
  for (const auto& r : rows) {
    Pipes p;
    const Frame f = lan_eth()
                        .ipv4("192.168.10.10", "203.0.113.1")
                        .tcp(40000, 443, r.flags, 1000, 0, r.options)
                        .build();
    rte_mbuf* m = parsed(f.bytes, kLanPort, true);
    ASSERT_NE(m, nullptr) << r.what;
    meta(m).uplink = 0;
    testing::StageHarness h(p.edge_encap, &p.edge.view);
    auto v = h.run({m});
    ASSERT_EQ(v[0].where, "edge:next") << r.what;
    const Outer o = outer_of(testing::from_mbuf(v[0].pkt));
    ASSERT_EQ(o.inner.size(), f.bytes.size() - 14) << r.what;
    const size_t tcp = (o.inner[0] & 0x0f) * 4u;
    EXPECT_EQ(stored16(&o.inner[tcp + 16]), l4_cksum_of(o.inner, tcp + 16))
        << r.what << ": inner TCP checksum";
    EXPECT_EQ(stored16(&o.inner[10]), ipv4_cksum_of(o.inner.data())) << r.what;
    if (r.want_mss != 0) {
      // Find the MSS option where the builder put it.
      size_t at = 0;
      for (size_t i = 0; i + 3 < r.options.size(); ++i)
        if (r.options[i] == 2 && r.options[i + 1] == 4) {
          at = i;
          break;
        }
      EXPECT_EQ(get16(&o.inner[tcp + 20 + at + 2]), r.want_mss) << r.what;
    } else {
      EXPECT_EQ(std::vector<uint8_t>(o.inner.begin() + static_cast<long>(tcp), o.inner.end()),
                std::vector<uint8_t>(f.bytes.begin() + 14 + static_cast<long>(tcp), f.bytes.end()))
          << r.what << ": TCP header untouched";
    }
  }
}

TEST(OverlayStages, DuplicateStrategySendsTwoCopiesAndTheHubKeepsOne) {
  const unsigned in_use = testing::pool_in_use();
  {
    Pipes p;
    std::vector<std::vector<uint8_t>> wire;
    for (int i = 0; i < 2; ++i) {
      rte_mbuf* m = parsed(lan_udp().bytes, kLanPort, true);
      ASSERT_NE(m, nullptr);
      meta(m).uplink = 0;
      meta(m).dup_uplink = 1;
      testing::StageHarness h(p.edge_encap, &p.edge.view);
      auto v = h.run({m});
      ASSERT_EQ(v.size(), 2u) << "original and copy";
      ASSERT_EQ(v[0].where, "edge:next");
      ASSERT_EQ(v[1].where, "edge:next");
      EXPECT_EQ(meta(v[0].pkt).out_port, kFiberPort);
      EXPECT_EQ(meta(v[1].pkt).out_port, kLtePort);
      EXPECT_EQ(meta(v[1].pkt).uplink, 1);
      const Outer a = outer_of(on_wire(v[0].pkt, kHubMac));
      const Outer b = outer_of(on_wire(v[1].pkt, kHubMac));
      EXPECT_EQ(a.src, ip("100.64.1.2"));
      EXPECT_EQ(b.src, ip("100.64.2.2"));
      EXPECT_EQ(a.h.path, 0);
      EXPECT_EQ(b.h.path, 1);
      EXPECT_EQ(a.h.flags, overlay_flag::kDuplicate);
      EXPECT_EQ(b.h.flags, overlay_flag::kDuplicate);
      EXPECT_EQ(a.h.dup_seq, static_cast<uint32_t>(i + 1));
      EXPECT_EQ(b.h.dup_seq, a.h.dup_seq);
      EXPECT_EQ(a.h.seq, static_cast<uint32_t>(i + 1)) << "each path its own sequence";
      EXPECT_EQ(b.h.seq, static_cast<uint32_t>(i + 1));
      EXPECT_EQ(a.inner, b.inner);
      EXPECT_EQ(a.inner, forwarded_inner(lan_udp()));
      wire.push_back(on_wire(v[0].pkt, kHubMac));
      wire.push_back(on_wire(v[1].pkt, kHubMac));
    }
    // The hub: first copy passes, second is dropped; the copy of the next one arrives first.
    const std::vector<std::pair<size_t, std::string>> order = {{0, "edge:next"},
                                                               {1, "drop:duplicate"},
                                                               {3, "edge:next"},
                                                               {2, "drop:duplicate"},
                                                               {0, "drop:duplicate"}};
    for (const auto& [i, want] : order) {
      rte_mbuf* m = parsed(wire[i], kHubPort, false);
      ASSERT_NE(m, nullptr);
      testing::StageHarness h(p.hub_decap, &p.hub.view);
      auto v = h.run({m});
      ASSERT_EQ(v.size(), 1u);
      EXPECT_EQ(v[0].where, want) << "copy " << i;
    }
    // Both paths were seen (learning happens before the filter), and the passive figures count
    // every copy each path carried, the dropped second copies too (they are no gap in their
    // path's sequence, and direct measurement compares them with what the edge sent): path 0
    // got seq 1, 2 and a late duplicate of 1; path 1 got 1 and 2.
    IpAddr a;
    uint16_t port;
    EXPECT_TRUE(p.hub_sites.endpoint(kSiteId, 0, a, port));
    EXPECT_TRUE(p.hub_sites.endpoint(kSiteId, 1, a, port));
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 0).received, 3u);
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 0).duplicates, 1u);
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 0).lost, 0u);
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 1).received, 2u);
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 1).lost, 0u);
    EXPECT_EQ(p.edge_sites.path(0, 0).tx_seq.load(), 2u) << "the edge's S_TxC for uplink 0";
    EXPECT_EQ(p.edge_sites.path(0, 1).tx_seq.load(), 2u) << "copies count on their uplink";
  }
  EXPECT_EQ(testing::pool_in_use(), in_use) << "no mbuf leaked";
}

TEST(OverlayStages, NoCopyWhenTheSecondUplinkCannotCarryIt) {
  struct Row {
    const char* what;
    uint8_t dup;
    std::function<void(Pipes&)> setup;
  };
  const std::vector<Row> rows = {
      {"second is the first", 0, [](Pipes&) {}},
      {"second beyond the site", 3, [](Pipes&) {}},
      {"second has no gateway", 1, [](Pipes& p) { p.edge.site.uplinks[1]->gw4.reset(); }},
      {"second has no address", 1, [](Pipes& p) { p.edge.site.uplinks[1]->v4.reset(); }},
  };
  for (const auto& r : rows) {
    Pipes p;
    r.setup(p);
    rte_mbuf* m = parsed(lan_udp().bytes, kLanPort, true);
    ASSERT_NE(m, nullptr) << r.what;
    meta(m).uplink = 0;
    meta(m).dup_uplink = r.dup;
    testing::StageHarness h(p.edge_encap, &p.edge.view);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u) << r.what;
    EXPECT_EQ(v[0].where, "edge:next") << r.what;
    const Outer o = outer_of(testing::from_mbuf(v[0].pkt));
    EXPECT_EQ(o.h.flags, 0) << r.what;
    EXPECT_EQ(o.h.dup_seq, 0u) << r.what;
  }
}

// ---------------------------------------------------------------------------------------------
// The encrypted overlay (docs/security.md): the same stages with OverlayConfig::encrypt and the
// SAs a control session would install. Forged, replayed, damaged and cross-site packets are
// named drops and never move what the hub learnt.

EspKey key_of(uint8_t seed) {
  EspKey k;
  for (unsigned i = 0; i < kEspKeyLen; ++i) k.key[i] = static_cast<uint8_t>(seed * 31 + i);
  k.salt = 0x11223344U ^ seed;
  return k;
}

// The crypto device of the SecureOverlay tests: opened and closed by the suite, before EAL goes.
CryptoDevice* g_secure_dev = nullptr;

class SecureOverlay : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    g_secure_dev = CryptoDevice::open("crypto_aesni_gcm_tbov", 256, error).release();
    ASSERT_NE(g_secure_dev, nullptr) << error;
  }
  static void TearDownTestSuite() {
    delete g_secure_dev;
    g_secure_dev = nullptr;
  }
};

struct SecurePipes {
  static CryptoDevice& dev() { return *g_secure_dev; }
  Box edge = Box::edge();
  Box hub = Box::hub();
  OverlaySites edge_sites, hub_sites;
  OverlayConfig edge_cfg{.port = kOvPort, .site_id = kSiteId, .encrypt = true};
  OverlayConfig hub_cfg{.port = kOvPort, .site_id = 0, .hub = true, .encrypt = true};
  EspSas edge_sas{dev(), nullptr};
  EspSas hub_sas{dev(), nullptr};
  EncapStage edge_encap{edge.site, edge_cfg, edge_sites, testing::test_pool(), &edge_sas};
  DecapStage edge_decap{edge.site, edge_cfg, nullptr, &edge_sas};
  EncapStage hub_encap{hub.site, hub_cfg, hub_sites, testing::test_pool(), &hub_sas};
  DecapStage hub_decap{hub.site, hub_cfg, &hub_sites, &hub_sas};
  uint32_t up_spi = 0;    // edge → hub on fiber (the hub's inbound SPI)
  uint32_t down_spi = 0;  // hub → edge on fiber (the edge's inbound SPI)

  // What a control session does for the fiber path: each receiver picks its SPI and key.
  void keys(uint8_t seed) {
    std::string error;
    up_spi = hub_sas.reserve_spi();
    ASSERT_TRUE(hub_sas.add_inbound(up_spi, kSiteId, 0, key_of(seed), error)) << error;
    ASSERT_TRUE(edge_sas.set_outbound(0, 0, up_spi, key_of(seed), error)) << error;
    down_spi = edge_sas.reserve_spi();
    ASSERT_TRUE(edge_sas.add_inbound(down_spi, kSiteId, 0, key_of(seed + 1), error)) << error;
    ASSERT_TRUE(hub_sas.set_outbound(kSiteId, 0, down_spi, key_of(seed + 1), error)) << error;
  }
  // The edge's frame for `lan` on fiber, as the hub receives it; empty if encap dropped it.
  std::vector<uint8_t> up(const Frame& lan, std::string* drop = nullptr) {
    rte_mbuf* m = parsed(lan.bytes, kLanPort, true);
    meta(m).uplink = 0;
    testing::StageHarness h(edge_encap, &edge.view);
    auto v = h.run({m});
    EXPECT_EQ(v.size(), 1u);
    if (v.size() != 1) return {};
    if (v[0].where != "edge:next") {
      if (drop != nullptr) *drop = v[0].where;
      return {};
    }
    return on_wire(v[0].pkt, kHubMac);
  }
  // Where the hub's decap sends a received frame ("edge:next" or "drop:<reason>").
  std::string at_hub(const std::vector<uint8_t>& wire, std::vector<uint8_t>* inner = nullptr) {
    rte_mbuf* m = parsed(wire, kHubPort, false);
    testing::StageHarness h(hub_decap, &hub.view);
    auto v = h.run({m});
    if (v.size() != 1) return "none";
    if (inner != nullptr && v[0].where == "edge:next") {
      const auto out = testing::from_mbuf(v[0].pkt);
      inner->assign(out.begin() + kEth, out.end());
    }
    return v[0].where;
  }
};

std::vector<uint8_t> with_outer_source(std::vector<uint8_t> wire, const char* src) {
  Frame f;
  f.bytes = std::move(wire);
  f.l3_off = kEth;
  const IpAddr a = ip(src);
  std::memcpy(&f.bytes[kOuterIp + 12], a.v4_ptr(), 4);
  f.fix_ipv4_checksum();
  return f.bytes;
}

TEST_F(SecureOverlay, EdgeToHubAndBackCarryOnlyCipherText) {
  const unsigned in_use = testing::pool_in_use();
  {
    SecurePipes p;
    p.keys(1);
    const Frame lan = lan_udp(64, 200);
    const std::vector<uint8_t> want_inner = forwarded_inner(lan);
    const std::vector<uint8_t> wire = p.up(lan);
    ASSERT_FALSE(wire.empty());
    EXPECT_EQ(get16(&wire[kOuterUdp + 2]), kOvPort);
    EXPECT_EQ(get16(&wire[kOuterUdp + 4]), wire.size() - kOuterUdp);
    EXPECT_EQ(get32(&wire[kOvHdr]), p.up_spi) << "ESP right after UDP";
    EXPECT_EQ(get32(&wire[kOvHdr + 4]), 1u) << "first sequence number";
    const size_t clear = kOverlayHdrLen + want_inner.size();
    EXPECT_EQ(wire.size(), kOvHdr + clear + esp_overhead(static_cast<unsigned>(clear)));
    // Neither the inner packet nor the overlay header is readable on the wire.
    EXPECT_EQ(std::search(wire.begin(), wire.end(), want_inner.begin() + 20, want_inner.end()),
              wire.end());

    std::vector<uint8_t> inner;
    ASSERT_EQ(p.at_hub(wire, &inner), "edge:next");
    EXPECT_EQ(inner, want_inner);
    IpAddr a;
    uint16_t port = 0;
    ASSERT_TRUE(p.hub_sites.endpoint(kSiteId, 0, a, port));
    EXPECT_EQ(a, ip("100.64.1.2"));
    EXPECT_EQ(p.hub_decap.passive(kSiteId, 0).received, 1u);

    // The hub answers on that path, sealed with the edge's inbound SA.
    const std::vector<uint8_t> back = hub_answers(p.hub_encap, p.hub.view, hub_reply());
    ASSERT_FALSE(back.empty());
    EXPECT_EQ(get32(&back[kOvHdr]), p.down_spi);
    rte_mbuf* r = parsed(back, kFiberPort, false);
    testing::StageHarness h(p.edge_decap, &p.edge.view);
    auto v = h.run({r});
    ASSERT_EQ(v.size(), 1u);
    ASSERT_EQ(v[0].where, "edge:next");
    EXPECT_EQ(meta(v[0].pkt).src, ip("203.0.113.1"));
    EXPECT_EQ(meta(v[0].pkt).dst_port, 40000);
  }
  EXPECT_EQ(testing::pool_in_use(), in_use);
}

TEST_F(SecureOverlay, WithoutAnSaNothingLeavesAndNothingIsBelieved) {
  const unsigned in_use = testing::pool_in_use();
  {
    SecurePipes p;  // no keys yet
    std::string drop;
    EXPECT_TRUE(p.up(lan_udp(), &drop).empty());
    EXPECT_EQ(drop, "drop:no_sa") << "never clear text";
    // A clear-text overlay datagram naming site 7, as any internet host can send.
    Pipes clear;
    rte_mbuf* m = parsed(lan_udp().bytes, kLanPort, true);
    meta(m).uplink = 0;
    testing::StageHarness h(clear.edge_encap, &clear.edge.view);
    auto v = h.run({m});
    ASSERT_EQ(v.size(), 1u);
    const auto forged = with_outer_source(on_wire(v[0].pkt, kHubMac), "198.51.100.66");
    EXPECT_EQ(p.at_hub(forged), "drop:esp_unknown_spi");
    IpAddr a;
    uint16_t port = 0;
    EXPECT_FALSE(p.hub_sites.endpoint(kSiteId, 0, a, port)) << "the forger was not learnt";
  }
  EXPECT_EQ(testing::pool_in_use(), in_use);
}

struct ForgeryRow {
  const char* name;
  std::function<std::vector<uint8_t>(SecurePipes&, const std::vector<uint8_t>& genuine)> make;
  std::string want;
};

TEST_F(SecureOverlay, ForgedReplayedAndCrossSitePacketsAreNamedDrops) {
  const unsigned in_use = testing::pool_in_use();
  {
    const std::vector<ForgeryRow> rows = {
        {"replay of a captured packet from elsewhere",
         [](SecurePipes&, const std::vector<uint8_t>& g) {
           return with_outer_source(g, "198.51.100.66");
         },
         "drop:esp_replayed"},
        {"flipped tag bit",
         [](SecurePipes& p, const std::vector<uint8_t>&) {
           auto w = with_outer_source(p.up(lan_udp()), "198.51.100.66");
           w.back() ^= 1;
           return w;
         },
         "drop:esp_auth_failed"},
        {"flipped cipher text bit",
         [](SecurePipes& p, const std::vector<uint8_t>&) {
           auto w = p.up(lan_udp());
           w[kOvHdr + kEspPrefixLen + 5] ^= 0x40;
           return w;
         },
         "drop:esp_auth_failed"},
        {"unknown SPI",
         [](SecurePipes& p, const std::vector<uint8_t>& g) {
           auto w = g;
           put32(&w[kOvHdr], p.up_spi ^ 0x00010000);
           return w;
         },
         "drop:esp_unknown_spi"},
        {"ESP cut to 10 bytes",
         [](SecurePipes&, const std::vector<uint8_t>& g) {
           Frame f;
           f.bytes.assign(g.begin(), g.begin() + kOvHdr + 10);
           f.l3_off = kEth;
           f.set16(kOuterIp + 2, static_cast<uint16_t>(f.bytes.size() - kEth));
           f.set16(kOuterUdp + 4, 18);
           f.fix_ipv4_checksum();
           return f.bytes;
         },
         "drop:esp_malformed"},
        {"another site's header under site 7's SA",
         [](SecurePipes& p, const std::vector<uint8_t>&) {
           // A box holding site 7's keys claims to be site 8.
           OverlayConfig cfg8 = p.edge_cfg;
           cfg8.site_id = kSiteId + 1;
           OverlaySites sites8;
           EncapStage encap8{p.edge.site, cfg8, sites8, testing::test_pool(), &p.edge_sas};
           rte_mbuf* m = parsed(lan_udp().bytes, kLanPort, true);
           meta(m).uplink = 0;
           testing::StageHarness h(encap8, &p.edge.view);
           auto v = h.run({m});
           return v.size() == 1 && v[0].where == "edge:next" ? on_wire(v[0].pkt, kHubMac)
                                                             : std::vector<uint8_t>{};
         },
         "drop:esp_wrong_path"},
    };
    for (const auto& row : rows) {
      SCOPED_TRACE(row.name);
      SecurePipes p;
      p.keys(3);
      const auto genuine = p.up(lan_udp());
      ASSERT_EQ(p.at_hub(genuine), "edge:next");
      const auto bad = row.make(p, genuine);
      ASSERT_FALSE(bad.empty());
      EXPECT_EQ(p.at_hub(bad), row.want);
      IpAddr a;
      uint16_t port = 0;
      ASSERT_TRUE(p.hub_sites.endpoint(kSiteId, 0, a, port));
      EXPECT_EQ(a, ip("100.64.1.2")) << "the site's return path did not move";
      EXPECT_FALSE(p.hub_sites.endpoint(kSiteId + 1, 0, a, port));
      EXPECT_EQ(p.hub_decap.passive(kSiteId, 0).received, 1u) << "only authentic packets count";
      // The real sender still gets through afterwards.
      EXPECT_EQ(p.at_hub(p.up(lan_udp())), "edge:next");
    }
  }
  EXPECT_EQ(testing::pool_in_use(), in_use);
}

TEST_F(SecureOverlay, RekeyMakeBeforeBreakLosesNothing) {
  const unsigned in_use = testing::pool_in_use();
  {
    SecurePipes p;
    p.keys(5);
    const auto before = p.up(lan_udp());
    // New inbound SA on the hub first, then the edge switches to it; the old one stays a while.
    std::string error;
    const uint32_t next_spi = p.hub_sas.reserve_spi();
    ASSERT_TRUE(p.hub_sas.add_inbound(next_spi, kSiteId, 0, key_of(9), error)) << error;
    ASSERT_TRUE(p.edge_sas.set_outbound(0, 0, next_spi, key_of(9), error)) << error;
    const auto after = p.up(lan_udp());
    EXPECT_EQ(get32(&after[kOvHdr]), next_spi);
    EXPECT_EQ(get32(&after[kOvHdr + 4]), 1u) << "a new SA numbers from 1";
    EXPECT_EQ(p.at_hub(after), "edge:next");
    EXPECT_EQ(p.at_hub(before), "edge:next") << "late packet of the old SA, in its grace period";
    ASSERT_TRUE(p.hub_sas.remove_inbound(p.up_spi));
    EXPECT_EQ(p.at_hub(with_outer_source(before, "100.64.1.2")), "drop:esp_unknown_spi");
    EXPECT_EQ(p.hub_sas.inbound_count(), 1u);
  }
  EXPECT_EQ(testing::pool_in_use(), in_use);
}

}  // namespace
}  // namespace traboule::dp

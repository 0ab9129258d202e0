// SPDX-License-Identifier: Apache-2.0
// STAMP in the data plane: the packet format and timestamp arithmetic of core/stamp.h (known
// answers, short buffers), and the probe stage: reflected packets checked field by field with
// checksums recomputed here, replies to our sessions turned into ring records, probes (STAMP and
// ICMP echo) built on the sending worker, foreign echo replies left alone, and a drop reason for
// every hostile packet.
#include "dataplane/stages/probe.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/model/stamp_clock.h"
#include "dataplane/model/stamp_ring.h"
#include "dataplane/model/stamp_sessions.h"
#include "dataplane/proto/stamp.h"
#include "dataplane/stages/parse.h"
#include "tests/testing/checksum.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/wire_bytes.h"

namespace traboule::dp {
namespace {

using traboule::testing::Frame;
using traboule::testing::Ipv4Opts;
using traboule::testing::Ipv6Opts;
using traboule::testing::PacketBuilder;
using traboule::testing::StageHarness;
using traboule::testing::test_pool;
using Bytes = std::vector<uint8_t>;

constexpr uint64_t kNs = 1'000'000'000ULL;

// ---------------------------------------------------------------------------------------------
// Independent big-endian helpers and checksums (RFC 1071), not the code under test.

uint16_t be16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b.at(off) << 8 | b.at(off + 1));
}
uint32_t be32(const Bytes& b, size_t off) {
  return uint32_t{be16(b, off)} << 16 | be16(b, off + 2);
}
uint64_t be64(const Bytes& b, size_t off) {
  return uint64_t{be32(b, off)} << 32 | be32(b, off + 4);
}
void put16(Bytes& b, size_t off, uint16_t v) {
  b.at(off) = static_cast<uint8_t>(v >> 8);
  b.at(off + 1) = static_cast<uint8_t>(v);
}
void put32(Bytes& b, size_t off, uint32_t v) {
  put16(b, off, static_cast<uint16_t>(v >> 16));
  put16(b, off + 2, static_cast<uint16_t>(v));
}
void put64(Bytes& b, size_t off, uint64_t v) {
  put32(b, off, static_cast<uint32_t>(v >> 32));
  put32(b, off + 4, static_cast<uint32_t>(v));
}
using traboule::testing::fold;
using traboule::testing::ipv4_header_ok;
using traboule::testing::sum16;
bool udp_ok(const Bytes& b, size_t l3, size_t l4, bool v4) {
  const size_t len = be16(b, l4 + 4);
  uint32_t acc = v4 ? sum16(&b[l3 + 12], 8) : sum16(&b[l3 + 8], 32);
  acc += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff) + IPPROTO_UDP;
  return fold(sum16(&b[l4], len, acc)) == 0xffff;
}
Bytes slice(const Bytes& b, size_t off, size_t n) {
  if (off + n > b.size()) return {};
  return Bytes(b.begin() + static_cast<long>(off), b.begin() + static_cast<long>(off + n));
}
IpAddr ip(const char* text) {
  return *IpAddr::parse(text);
}
using traboule::testing::ip_bytes;
using traboule::testing::mac_bytes;

// A Session-Sender packet written byte by byte (RFC 8762 §4.2.1), padded to `len`.
Bytes sender_bytes(uint32_t seq, uint64_t ts, uint16_t err, uint16_t ssid, size_t len = 44,
                   uint8_t pad = 0) {
  Bytes b(len, pad);
  for (size_t i = 0; i < std::min<size_t>(44, len); ++i) b[i] = 0;
  if (len >= 4) put32(b, 0, seq);
  if (len >= 12) put64(b, 4, ts);
  if (len >= 14) put16(b, 12, err);
  if (len >= 16) put16(b, 14, ssid);
  return b;
}

// ---------------------------------------------------------------------------------------------
// core/stamp.h

struct ErrRow {
  uint16_t raw;
  bool synced, ptp;
  uint8_t scale, mult;
  double seconds;
};

TEST(StampFormat, ErrorEstimateKnownAnswers) {
  const ErrRow rows[] = {
      {0x0001, false, false, 0, 1, 1.0 / 4294967296.0},  // the finest: 2^-32 s
      {0x8001, true, false, 0, 1, 1.0 / 4294967296.0},
      {0x4001, false, true, 0, 1, 1.0 / 4294967296.0},
      {0xa001, true, false, 32, 1, 1.0},  // scale 32: whole seconds
      {0x9e64, true, false, 30, 100, 25.0},
      {0x3fff, false, false, 63, 255, 255.0 * 2147483648.0},
      {0x0000, false, false, 0, 0, 0.0},  // multiplier 0: not a valid estimate
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.raw);
    ErrorEstimate e = ErrorEstimate::decode(r.raw);
    EXPECT_EQ(e.synced, r.synced);
    EXPECT_EQ(e.ptp, r.ptp);
    EXPECT_EQ(e.scale, r.scale);
    EXPECT_EQ(e.multiplier, r.mult);
    EXPECT_DOUBLE_EQ(e.seconds(), r.seconds);
    EXPECT_EQ(e.encode(), r.raw);
    EXPECT_EQ(e.valid(), r.mult != 0);
  }
  // from_seconds: the smallest estimate not below the bound.
  ErrorEstimate one_ms = ErrorEstimate::from_seconds(0.001, true);
  EXPECT_GE(one_ms.seconds(), 0.001);
  EXPECT_LT(one_ms.seconds(), 0.001 * 256.0 / 255.0 * 2);
  EXPECT_TRUE(one_ms.synced);
  EXPECT_EQ(ErrorEstimate::from_seconds(0, false).encode(), 0x0001);
  EXPECT_EQ(ErrorEstimate::from_seconds(-3, false).encode(), 0x0001);
  EXPECT_EQ(ErrorEstimate::from_seconds(1e30, false).encode(), 0x3fff);  // saturates
}

TEST(StampFormat, NtpAndPtpKnownAnswers) {
  struct Row {
    uint64_t unix_ns;
    uint64_t ntp;
  };
  const Row rows[] = {
      {0, kNtpUnixOffsetS << 32},
      {1'500'000'000, (kNtpUnixOffsetS + 1) << 32 | 0x80000000u},
      {250'000'000, kNtpUnixOffsetS << 32 | 0x40000000u},
      // 2036-02-07 06:28:16 UTC: NTP era 1 starts, seconds wrap to 0.
      {(4294967296ULL - kNtpUnixOffsetS) * kNs, 0},
      {(4294967296ULL - kNtpUnixOffsetS + 2) * kNs, uint64_t{2} << 32},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.unix_ns);
    EXPECT_EQ(ntp_from_unix_ns(r.unix_ns), r.ntp);
    EXPECT_EQ(unix_ns_from_ntp(r.ntp, r.unix_ns + 1000 * kNs), r.unix_ns);
  }
  // Differences across the era rollover and in both directions.
  const uint64_t before = ntp_from_unix_ns((4294967296ULL - kNtpUnixOffsetS - 1) * kNs);
  const uint64_t after = ntp_from_unix_ns((4294967296ULL - kNtpUnixOffsetS + 1) * kNs);
  EXPECT_EQ(ntp_diff_ns(after, before), 2 * static_cast<int64_t>(kNs));
  EXPECT_EQ(ntp_diff_ns(before, after), -2 * static_cast<int64_t>(kNs));
  EXPECT_EQ(ntp_diff_ns(uint64_t{3} << 32, uint64_t{3} << 32 | 0x80000000u), -500'000'000);
  EXPECT_EQ(ntp_diff_ns(uint64_t{5000} << 32, 0), 5000 * static_cast<int64_t>(kNs));

  // PTP: TAI seconds since 1970 | nanoseconds; TAI is 37 s ahead of UTC.
  const uint64_t ptp = uint64_t{1'700'000'037} << 32 | 250'000'000u;
  EXPECT_EQ(ntp_from_ptp(ptp), ntp_from_unix_ns(1'700'000'000ULL * kNs + 250'000'000));
  EXPECT_EQ(ptp_from_ntp(ntp_from_ptp(ptp)), ptp);
  // A nanoseconds field past 999999999 is clamped, not carried into the seconds.
  EXPECT_EQ(ntp_from_ptp(uint64_t{1'700'000'037} << 32 | 0xffffffffu) >> 32,
            (ntp_from_unix_ns(1'700'000'000ULL * kNs) >> 32));
  ErrorEstimate z;
  z.ptp = true;
  EXPECT_EQ(stamp_ts_to_ntp(ptp, z), ntp_from_ptp(ptp));
  EXPECT_EQ(stamp_ts_to_ntp(ptp, ErrorEstimate{}), ptp);
}

TEST(StampFormat, TscClockKnownAnswers) {
  struct Row {
    uint64_t hz, tsc0, tsc;
    int64_t expect_ns;  // from the anchor
  };
  const Row rows[] = {
      {2'000'000'000, 1000, 1000, 0},
      {2'000'000'000, 1000, 1000 + 3'000'000'000ULL, 1'500'000'000},
      {2'000'000'000, 5'000'000'000ULL, 3'000'000'000ULL, -1'000'000'000},  // before the anchor
      {3'100'000'000, 0, 3'100'000'000ULL * 3600, 3600 * static_cast<int64_t>(kNs)},
      {5'000'000'000, 0, 1, 0},  // 0.2 ns rounds to 0
      {5'000'000'000, 0, 5'000'000'001ULL, static_cast<int64_t>(kNs)},
      {1'000'000, 0, 1, 1000},  // a slow counter: 1 µs per tick
  };
  const uint64_t unix0 = 1'767'225'600ULL * kNs;
  for (const auto& r : rows) {
    SCOPED_TRACE(r.tsc);
    TscClock c = TscClock::anchor(r.tsc0, unix0, r.hz);
    EXPECT_EQ(c.ntp(r.tsc0), ntp_from_unix_ns(unix0));
    EXPECT_EQ(ntp_diff_ns(c.ntp(r.tsc), c.ntp(r.tsc0)), r.expect_ns);
  }
  EXPECT_EQ(TscClock{}.ntp(123), 0u) << "no mapping: no time";
  EXPECT_FALSE(TscClock{}.set());
}

TEST(StampFormat, TscClockSlewKeepsContinuityAndConverges) {
  const uint64_t hz = 1'000'000'000;  // 1 tick = 1 ns keeps the arithmetic readable
  const uint64_t unix0 = 1'767'225'600ULL * kNs;
  TscClock c = TscClock::anchor(0, unix0, hz);
  // 10 s later the system clock says we are 2 ms behind (our mapping runs slow).
  const uint64_t now_tsc = 10 * kNs;
  const uint64_t now_unix = unix0 + 10 * kNs + 2'000'000;
  TscClock s = c.slewed(now_tsc, now_unix, hz, 10, 100'000'000, ErrorEstimate{});
  EXPECT_EQ(s.ntp(now_tsc), c.ntp(now_tsc)) << "no step for probes in flight";
  EXPECT_LT(s.hz, hz) << "runs faster to catch up";
  // After the 10 s window the mapping meets the system clock (within a microsecond).
  EXPECT_NEAR(static_cast<double>(
                  ntp_diff_ns(s.ntp(now_tsc + 10 * kNs), ntp_from_unix_ns(now_unix + 10 * kNs))),
              0.0, 1000.0);
  // A large offset is corrected within the ±500 ppm limit only.
  TscClock lim = c.slewed(now_tsc, unix0 + 10 * kNs + 50'000'000, hz, 10, 100'000'000, {});
  EXPECT_EQ(lim.hz, hz - hz / 2000);
  // Past the step threshold (or with no mapping yet) the clock is re-anchored.
  TscClock step = c.slewed(now_tsc, unix0 + 20 * kNs, hz, 10, 100'000'000, {});
  EXPECT_EQ(step.ntp(now_tsc), ntp_from_unix_ns(unix0 + 20 * kNs));
  EXPECT_EQ(step.hz, hz);
  TscClock fresh = TscClock{}.slewed(now_tsc, now_unix, hz, 10, 100'000'000, {});
  EXPECT_EQ(fresh.ntp(now_tsc), ntp_from_unix_ns(now_unix));
}

TEST(StampFormat, SharedClockRoundTrips) {
  SharedTscClock shared;
  EXPECT_FALSE(shared.load().set());
  ErrorEstimate e{true, false, 10, 3};
  TscClock c = TscClock::anchor(77, 1'767'225'600ULL * kNs, 2'500'000'000ULL, e);
  shared.store(c);
  TscClock got = shared.load();
  EXPECT_EQ(got.tsc0, c.tsc0);
  EXPECT_EQ(got.ntp0, c.ntp0);
  EXPECT_EQ(got.hz, c.hz);
  EXPECT_EQ(got.error, e);
}

TEST(StampFormat, DecodeNeverReadsPastTheBuffer) {
  struct Row {
    size_t len;
    StampStatus want;
  };
  const Row rows[] = {{0, StampStatus::kTooShort},  {1, StampStatus::kTooShort},
                      {43, StampStatus::kTooShort}, {44, StampStatus::kOk},
                      {45, StampStatus::kOk},       {1472, StampStatus::kOk}};
  for (const auto& r : rows) {
    SCOPED_TRACE(r.len);
    // Exactly r.len bytes on the heap: ASan would report a read past them.
    auto buf = std::make_unique<uint8_t[]>(r.len == 0 ? 1 : r.len);
    for (size_t i = 0; i < r.len; ++i) buf[i] = static_cast<uint8_t>(i);
    StampSenderPacket s;
    StampReflectorPacket rp;
    EXPECT_EQ(decode_sender({buf.get(), r.len}, &s), r.want);
    EXPECT_EQ(decode_reflector({buf.get(), r.len}, &rp), r.want);
    EXPECT_EQ(reflect_in_place({buf.get(), r.len}, 1, 2, {}, 64, nullptr), r.want);
  }
}

TEST(StampFormat, EncodeChecksRoomAndZeroesPadding) {
  struct Row {
    size_t len;
    StampStatus want;
  };
  const Row rows[] = {{0, StampStatus::kTooShort},
                      {43, StampStatus::kTooShort},
                      {44, StampStatus::kOk},
                      {200, StampStatus::kOk},
                      {kStampMaxPacketLen, StampStatus::kOk},
                      {kStampMaxPacketLen + 1, StampStatus::kTooLong}};
  StampSenderPacket s{0x01020304, 0x1122334455667788ULL, ErrorEstimate{true, false, 0, 1}, 0xbeef};
  for (const auto& r : rows) {
    SCOPED_TRACE(r.len);
    Bytes out(r.len, 0xee);
    EXPECT_EQ(encode_sender(s, out), r.want);
    if (r.want != StampStatus::kOk) {
      EXPECT_EQ(out, Bytes(r.len, 0xee)) << "nothing written";
      continue;
    }
    Bytes want = sender_bytes(0x01020304, 0x1122334455667788ULL, 0x8001, 0xbeef, r.len);
    if (r.len >= 48) {  // one Extra Padding TLV: flags 0, type 1, length of its zero value
      want[45] = 1;
      put16(want, 46, static_cast<uint16_t>(r.len - 48));
    }
    EXPECT_EQ(out, want);
  }
  // Reflector packet: every field at its RFC 8762 §4.3.1 offset.
  StampReflectorPacket rp;
  rp.seq = 7;
  rp.timestamp = 0x0a0b0c0d0e0f1011ULL;
  rp.error = ErrorEstimate{true, false, 2, 9};
  rp.ssid = 0x1234;
  rp.receive_ts = 0x2122232425262728ULL;
  rp.sender_seq = 0x31323334;
  rp.sender_ts = 0x4142434445464748ULL;
  rp.sender_error = ErrorEstimate{false, true, 1, 2};
  rp.sender_ttl = 250;
  Bytes out(50, 0xee);
  ASSERT_EQ(encode_reflector(rp, out), StampStatus::kOk);
  EXPECT_EQ(be32(out, 0), 7u);
  EXPECT_EQ(be64(out, 4), 0x0a0b0c0d0e0f1011ULL);
  EXPECT_EQ(be16(out, 12), 0x8209);
  EXPECT_EQ(be16(out, 14), 0x1234);
  EXPECT_EQ(be64(out, 16), 0x2122232425262728ULL);
  EXPECT_EQ(be32(out, 24), 0x31323334u);
  EXPECT_EQ(be64(out, 28), 0x4142434445464748ULL);
  EXPECT_EQ(be16(out, 36), 0x4102);
  EXPECT_EQ(be16(out, 38), 0);
  EXPECT_EQ(out[40], 250);
  EXPECT_EQ(slice(out, 41, 9), Bytes(9, 0));
  StampReflectorPacket back;
  ASSERT_EQ(decode_reflector(out, &back), StampStatus::kOk);
  EXPECT_EQ(back.sender_ts, rp.sender_ts);
  EXPECT_EQ(back.sender_error, rp.sender_error);
  EXPECT_EQ(back.sender_ttl, 250);
}

TEST(StampFormat, ReflectInPlaceCopiesTheSenderFields) {
  Bytes pkt = sender_bytes(0xdeadbeef, 0x0102030405060708ULL, 0x8003, 0x0042, 60, 0x5a);
  // MBZ bytes of a sender that did not zero them are overwritten where the reflector has fields.
  pkt[20] = 0x77;
  StampSenderPacket seen;
  ASSERT_EQ(reflect_in_place(pkt, 12, 0x1111111122222222ULL, ErrorEstimate{false, false, 0, 5}, 61,
                             &seen),
            StampStatus::kOk);
  EXPECT_EQ(seen.seq, 0xdeadbeef);
  EXPECT_EQ(be32(pkt, 0), 12u) << "reflector sequence number";
  EXPECT_EQ(be64(pkt, 4), 0u) << "T3 left for the caller";
  EXPECT_EQ(be16(pkt, 12), 0x0005) << "our error estimate";
  EXPECT_EQ(be16(pkt, 14), 0x0042) << "SSID copied";
  EXPECT_EQ(be64(pkt, 16), 0x1111111122222222ULL) << "T2";
  EXPECT_EQ(be32(pkt, 24), 0xdeadbeef) << "sender seq";
  EXPECT_EQ(be64(pkt, 28), 0x0102030405060708ULL) << "sender timestamp";
  EXPECT_EQ(be16(pkt, 36), 0x8003) << "sender error estimate";
  EXPECT_EQ(be16(pkt, 38), 0) << "MBZ";
  EXPECT_EQ(pkt[40], 61) << "sender TTL";
  EXPECT_EQ(slice(pkt, 41, 3), Bytes(3, 0)) << "MBZ";
  EXPECT_EQ(slice(pkt, 44, 16), Bytes(16, 0x5a)) << "padding echoed as received";
}

TEST(StampFormat, SessionTableValidates) {
  StampSessionTable t(40000);
  struct Row {
    uint16_t id;
    StampSession s;
    const char* error;  // substring, or nullptr when accepted
  };
  const Row rows[] = {
      {0, {0, ip("198.51.100.7"), 862}, nullptr},
      {255, {1, ip("2001:db8::7"), 4000}, nullptr},
      {256, {0, ip("198.51.100.7"), 862}, "id out of range"},
      {1, {0xff, ip("198.51.100.7"), 862}, "uplink not set"},
      {1, {0, ip("0.0.0.0"), 862}, "remote 0.0.0.0 is not a unicast"},
      {1, {0, ip("127.0.0.1"), 862}, "remote 127.0.0.1"},
      {1, {0, ip("224.0.0.9"), 862}, "remote 224.0.0.9"},
      {1, {0, ip("255.255.255.255"), 862}, "remote 255.255.255.255"},
      {1, {0, ip("ff02::1"), 862}, "remote ff02::1"},
      {1, {0, ip("::1"), 862}, "remote ::1"},
      {1, {0, ip("::"), 862}, "remote ::"},
      {1, {0, ip("198.51.100.7"), 0}, "remote port 0"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.id);
    auto err = t.set(r.id, r.s);
    if (r.error == nullptr) {
      EXPECT_FALSE(err) << *err;
      StampSession got;
      ASSERT_TRUE(t.get(r.id, &got));
      EXPECT_EQ(got.remote, r.s.remote);
      EXPECT_EQ(got.remote_port, r.s.remote_port);
      EXPECT_EQ(got.uplink, r.s.uplink);
    } else {
      ASSERT_TRUE(err);
      EXPECT_NE(err->find(r.error), std::string::npos) << *err;
    }
  }
  StampSession got;
  EXPECT_FALSE(t.get(1, &got)) << "refused rows leave the slot inactive";
  t.clear(0);
  EXPECT_FALSE(t.get(0, &got));
  EXPECT_EQ(t.session_of_port(40000), 0);
  EXPECT_EQ(t.session_of_port(40255), 255);
  EXPECT_EQ(t.session_of_port(40256), -1);
  EXPECT_EQ(t.session_of_port(39999), -1);
  EXPECT_EQ(t.local_port(3), 40003);
  StampSessionTable none(0);
  EXPECT_EQ(none.session_of_port(0), -1);
  EXPECT_EQ(none.session_of_port(5), -1);
  EXPECT_TRUE(none.set(0, {0, ip("198.51.100.7"), 862}));
  EXPECT_THROW(StampSessionTable(65400), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// The stage

constexpr uint16_t kLanPort = 0;
constexpr uint16_t kWanPort = 1;
constexpr uint16_t kLtePort = 2;
constexpr const char* kLanMac = "02:00:00:00:00:10";
constexpr const char* kWanMac = "02:00:00:00:00:20";
constexpr const char* kLteMac = "02:00:00:00:00:30";
constexpr const char* kPeerMac = "02:00:00:00:00:aa";
constexpr const char* kGwMac = "02:00:00:00:00:ee";
constexpr const char* kGw6Mac = "02:00:00:00:00:ef";
constexpr const char* kWan4 = "203.0.113.2";
constexpr const char* kWan6 = "2001:db8:ff::2";
constexpr const char* kLan4 = "192.168.1.1";
constexpr const char* kPeer4 = "198.51.100.7";
constexpr const char* kPeer6 = "2001:db8:99::7";
constexpr uint16_t kSenderBase = 40000;
constexpr uint64_t kUnix0 = 1'767'225'600ULL * kNs;

std::unique_ptr<Interface> make_iface(const char* name, uint16_t port, const char* mac_text,
                                      const char* v4, const char* v6) {
  auto ifc = std::make_unique<Interface>();
  ifc->name = name;
  ifc->port_id = port;
  ifc->mac = traboule::testing::mac(mac_text);
  if (v4 != nullptr) ifc->v4 = IfAddr{ip(v4), 24};
  if (v6 != nullptr) ifc->v6 = IfAddr{ip(v6), 64};
  ifc->v6_link_local = link_local_from_mac(ifc->mac);
  ifc->neighbors = std::make_unique<NeighborTable>(64);
  ifc->link_up.store(true);
  return ifc;
}

// LAN 192.168.1.1/24 on port 0; uplink "fiber" 203.0.113.2/24 + 2001:db8:ff::2/64 on port 1
// (gateways .1 and fe80::1, both resolved); uplink "lte" 100.64.9.2/24 on port 2 with no IPv6
// and an unresolved gateway.
std::unique_ptr<Site> make_site() {
  auto site = std::make_unique<Site>();
  auto lan = make_iface("lan", kLanPort, kLanMac, kLan4, "2001:db8:1::1");
  lan->is_lan = true;
  auto wan = make_iface("fiber", kWanPort, kWanMac, kWan4, kWan6);
  wan->uplink = 0;
  wan->gw4 = ip("203.0.113.1");
  wan->gw6 = ip("fe80::1");
  wan->neighbors->set_static(ip("203.0.113.1"), traboule::testing::mac(kGwMac));
  wan->neighbors->set_static(ip("fe80::1"), traboule::testing::mac(kGw6Mac));
  wan->neighbors->set_static(ip("203.0.113.50"), traboule::testing::mac(kPeerMac));
  auto lte = make_iface("lte", kLtePort, kLteMac, "100.64.9.2", nullptr);
  lte->uplink = 1;
  lte->gw4 = ip("100.64.9.1");
  site->lan = lan.get();
  site->uplinks.push_back(wan.get());
  site->uplinks.push_back(lte.get());
  site->by_port[kLanPort] = lan.get();
  site->by_port[kWanPort] = wan.get();
  site->by_port[kLtePort] = lte.get();
  site->lan_prefixes.push_back(*IpPrefix::parse("192.168.1.0/24"));
  site->ifaces.push_back(std::move(lan));
  site->ifaces.push_back(std::move(wan));
  site->ifaces.push_back(std::move(lte));
  return site;
}

// Runs the real parse stage, so meta() is what the pipeline gives the probe stage.
bool parse(rte_mbuf* m) {
  static ParseStage ps;
  Burst edges[3];
  Burst* ptrs[3] = {&edges[0], &edges[1], &edges[2]};
  uint64_t counts[3] = {};
  Burst drops;
  uint64_t dcounts[ParseStage::kDrops.size()] = {};
  uint64_t overflow = 0;
  Output o;
  o.wire(0, ptrs, counts, &drops, dcounts, &overflow, nullptr);
  ps.process(&m, 1, BurstContext{}, o);
  if (drops.n != 0) {
    rte_pktmbuf_free(drops.pkts[0]);
    return false;
  }
  return true;
}

rte_mbuf* load(const Frame& f, uint16_t in_port) {
  rte_mbuf* m = traboule::testing::to_mbuf(test_pool(), f, in_port);
  EXPECT_NE(m, nullptr);
  EXPECT_TRUE(parse(m)) << "the test frame must pass parse";
  return m;
}

std::string unique(const char* what) {
  static std::atomic<int> n{0};
  return std::string(what) + std::to_string(n++);
}

// One probe stage with its shared objects.
struct Rig {
  std::unique_ptr<Site> site = make_site();
  SharedTscClock clock;
  StampSessionTable sessions{kSenderBase};
  rte_ring* results = nullptr;
  rte_ring* requests = nullptr;
  std::unique_ptr<ProbeStage> stage;
  std::unique_ptr<StageHarness> h;

  explicit Rig(ProbeConfig cfg = {}, bool clock_set = true, unsigned ring_size = 64,
               bool sender = false, const OverlaySites* overlay = nullptr, bool hub = false,
               uint16_t site_id = 0) {
    if (clock_set)
      clock.store(TscClock::anchor(rte_rdtsc(), kUnix0, rte_get_tsc_hz(),
                                   ErrorEstimate{true, false, 10, 1}));
    results = make_stamp_result_ring(unique("res").c_str(), ring_size, 0);
    if (sender) requests = make_stamp_request_ring(unique("req").c_str(), 64, 0);
    ProbeDeps d{&clock, &sessions, results, requests, sender ? test_pool() : nullptr};
    d.overlay = overlay;
    d.overlay_hub = hub;
    d.overlay_site_id = site_id;
    stage = std::make_unique<ProbeStage>(*site, cfg, d);
    h = std::make_unique<StageHarness>(*stage);
  }
  ~Rig() {
    h.reset();
    rte_ring_free(results);
    rte_ring_free(requests);
  }
  std::vector<StampRecord> drain() {
    std::vector<StampRecord> out(64);
    unsigned n = rte_ring_dequeue_burst_elem(results, out.data(), sizeof(StampRecord), 64, nullptr);
    out.resize(n);
    return out;
  }
};

PacketBuilder to_reflector4(const char* src = kPeer4, uint16_t sport = 50000, uint8_t ttl = 61) {
  Ipv4Opts o;
  o.ttl = ttl;
  o.tos = 0xb9;  // DSCP 46 + ECN 01
  return PacketBuilder().eth(kWanMac, kPeerMac).ipv4(src, kWan4, o).udp(sport, kStampPort);
}
PacketBuilder to_reflector6(const char* src = kPeer6, uint8_t hops = 58) {
  Ipv6Opts o;
  o.hop_limit = hops;
  o.tclass = 0xb9;
  o.flow_label = 0x12345;
  return PacketBuilder().eth(kWanMac, kPeerMac).ipv6(src, kWan6, o).udp(50001, kStampPort);
}
const Bytes kSender = sender_bytes(0x01020304, 0xe1e2e3e4e5e6e7e8ULL, 0x8001, 0x0007);

using Check = std::function<void(const Bytes&, const PacketMeta&)>;

// The reflected packet: addresses, ports, TTL, checksums and every STAMP field.
Check reflected(size_t l2, bool v4, const char* peer, const char* ours, uint16_t peer_port,
                uint8_t sender_ttl, size_t stamp_len, uint32_t want_seq = 0,
                uint32_t sender_seq = 0x01020304, Bytes pad = {}) {
  return [=](const Bytes& b, const PacketMeta& md) {
    const size_t l3 = l2, l4 = l3 + (v4 ? 20 : 40), st = l4 + 8;
    ASSERT_EQ(b.size(), st + stamp_len) << "exactly the headers and the same STAMP length";
    EXPECT_EQ(slice(b, 0, 6), mac_bytes(kPeerMac)) << "eth dst";
    EXPECT_EQ(slice(b, 6, 6), mac_bytes(kWanMac)) << "eth src";
    if (v4) {
      EXPECT_EQ(b[l3], 0x45);
      EXPECT_EQ(b[l3 + 1], 0xb8) << "DSCP kept, ECN cleared";
      EXPECT_EQ(be16(b, l3 + 2), 20 + 8 + stamp_len);
      EXPECT_EQ(be16(b, l3 + 6), 0x4000) << "DF";
      EXPECT_EQ(b[l3 + 8], 255) << "TTL";
      EXPECT_EQ(b[l3 + 9], IPPROTO_UDP);
      EXPECT_TRUE(ipv4_header_ok(b, l3));
      EXPECT_EQ(slice(b, l3 + 12, 4), ip_bytes(ours));
      EXPECT_EQ(slice(b, l3 + 16, 4), ip_bytes(peer));
    } else {
      EXPECT_EQ(be32(b, l3), 0x6b812345u) << "version, DSCP kept, ECN cleared, flow label";
      EXPECT_EQ(be16(b, l3 + 4), 8 + stamp_len);
      EXPECT_EQ(b[l3 + 6], IPPROTO_UDP);
      EXPECT_EQ(b[l3 + 7], 255) << "hop limit";
      EXPECT_EQ(slice(b, l3 + 8, 16), ip_bytes(ours));
      EXPECT_EQ(slice(b, l3 + 24, 16), ip_bytes(peer));
    }
    EXPECT_EQ(be16(b, l4), kStampPort);
    EXPECT_EQ(be16(b, l4 + 2), peer_port);
    EXPECT_EQ(be16(b, l4 + 4), 8 + stamp_len);
    EXPECT_TRUE(udp_ok(b, l3, l4, v4)) << "UDP checksum";
    EXPECT_EQ(be32(b, st), want_seq) << "reflector seq";
    const uint64_t t3 = be64(b, st + 4), t2 = be64(b, st + 16);
    EXPECT_GE(ntp_diff_ns(t2, ntp_from_unix_ns(kUnix0)), 0) << "T2 after the clock's anchor";
    EXPECT_LT(ntp_diff_ns(t2, ntp_from_unix_ns(kUnix0)), 600 * static_cast<int64_t>(kNs));
    EXPECT_GE(ntp_diff_ns(t3, t2), 0) << "T3 not before T2";
    EXPECT_EQ(be16(b, st + 12), 0x8a01) << "our error estimate (S, scale 10)";
    EXPECT_EQ(be16(b, st + 14), 0x0007) << "SSID";
    EXPECT_EQ(be32(b, st + 24), sender_seq);
    EXPECT_EQ(be64(b, st + 28), 0xe1e2e3e4e5e6e7e8ULL) << "sender timestamp";
    EXPECT_EQ(be16(b, st + 36), 0x8001) << "sender error estimate";
    EXPECT_EQ(b[st + 40], sender_ttl);
    EXPECT_EQ(slice(b, st + 41, 3), Bytes(3, 0));
    if (!pad.empty()) {
      EXPECT_EQ(slice(b, st + 44, pad.size()), pad) << "padding echoed";
    }
    EXPECT_EQ(md.out_port, kWanPort);
    EXPECT_EQ(md.ttl, 255);
    EXPECT_EQ(md.src_port, kStampPort);
    EXPECT_EQ(md.dst_port, peer_port);
    EXPECT_EQ(md.dst, ip(peer));
    EXPECT_EQ(md.l3_total, (v4 ? 20 : 40) + 8 + stamp_len);
    EXPECT_FALSE(md.flags & meta_flag::kIpOptions);
  };
}

struct Row {
  const char* name;
  std::function<rte_mbuf*()> make;
  std::string want;
  Check check = nullptr;
};

void run_rows(Rig& rig, const std::vector<Row>& rows) {
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    rte_mbuf* m = r.make();
    ASSERT_NE(m, nullptr);
    auto v = rig.h->run({m});
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].where, r.want);
    if (r.check && v[0].pkt != nullptr)
      r.check(traboule::testing::from_mbuf(v[0].pkt), meta(v[0].pkt));
  }
}

TEST(ProbeStage, ReflectorRows) {
  ProbeConfig cfg;
  cfg.stateful = false;  // each row sees the sender's own sequence number
  Rig rig(cfg);
  const Bytes pad(56, 0x5a);
  Bytes padded = sender_bytes(0x01020304, 0xe1e2e3e4e5e6e7e8ULL, 0x8001, 0x0007, 100, 0x5a);
  std::vector<Row> rows = {
      {"IPv4, 44 bytes", [&] { return load(to_reflector4().payload(kSender).build(), kWanPort); },
       "edge:reply", reflected(14, true, kPeer4, kWan4, 50000, 61, 44, 0x01020304)},
      {"IPv4, padded to 100 bytes: the reply is as long",
       [&] { return load(to_reflector4().payload(padded).build(), kWanPort); }, "edge:reply",
       reflected(14, true, kPeer4, kWan4, 50000, 61, 100, 0x01020304, 0x01020304, pad)},
      {"IPv4 with options: not echoed",
       [&] {
         Ipv4Opts o;
         o.ttl = 61;
         o.tos = 0xb9;
         o.options = {0x94, 0x04, 0x00, 0x00};  // router alert
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .ipv4(kPeer4, kWan4, o)
                         .udp(50000, kStampPort)
                         .payload(kSender)
                         .build(),
                     kWanPort);
       },
       "edge:reply", reflected(14, true, kPeer4, kWan4, 50000, 61, 44, 0x01020304)},
      {"IPv4 with a zero UDP checksum (none): answered",
       [&] {
         Frame f = to_reflector4().payload(kSender).build();
         f.set16(f.l4_off + 6, 0);
         return load(f, kWanPort);
       },
       "edge:reply", reflected(14, true, kPeer4, kWan4, 50000, 61, 44, 0x01020304)},
      {"IPv4 VLAN tagged: the tag stays",
       [&] {
         Ipv4Opts o;
         o.ttl = 61;
         o.tos = 0xb9;
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .vlan(42)
                         .ipv4(kPeer4, kWan4, o)
                         .udp(50000, kStampPort)
                         .payload(kSender)
                         .build(),
                     kWanPort);
       },
       "edge:reply", reflected(18, true, kPeer4, kWan4, 50000, 61, 44, 0x01020304)},
      {"IPv6", [&] { return load(to_reflector6().payload(kSender).build(), kWanPort); },
       "edge:reply", reflected(14, false, kPeer6, kWan6, 50001, 58, 44, 0x01020304)},
      {"IPv6 with a destination options header: not echoed",
       [&] {
         Ipv6Opts o;
         o.hop_limit = 58;
         o.tclass = 0xb9;
         o.flow_label = 0x12345;
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .ipv6(kPeer6, kWan6, o)
                         .ipv6_dest_opts(1)
                         .udp(50001, kStampPort)
                         .payload(kSender)
                         .build(),
                     kWanPort);
       },
       "edge:reply", reflected(14, false, kPeer6, kWan6, 50001, 58, 44, 0x01020304)},
      // Hostile or not ours.
      {"43-byte STAMP payload",
       [&] { return load(to_reflector4().payload(slice(kSender, 0, 43)).build(), kWanPort); },
       "drop:stamp_truncated"},
      {"empty UDP payload", [&] { return load(to_reflector4().build(), kWanPort); },
       "drop:stamp_truncated"},
      {"UDP length beyond the datagram (meta says parse let it through)",
       [&] {
         rte_mbuf* m = load(to_reflector4().payload(kSender).build(), kWanPort);
         uint8_t* udp = rte_pktmbuf_mtod_offset(m, uint8_t*, 14 + 20);
         udp[4] = 0x01;  // 256 + ...
         return m;
       },
       "drop:stamp_truncated"},
      {"bad UDP checksum",
       [&] {
         Frame f = to_reflector4().payload(kSender).build();
         f.set16(f.l4_off + 6, static_cast<uint16_t>(f.get16(f.l4_off + 6) ^ 0x0101));
         return load(f, kWanPort);
       },
       "drop:bad_udp_checksum"},
      {"IPv6 with a zero UDP checksum",
       [&] {
         Frame f = to_reflector6().payload(kSender).build();
         f.set16(f.l4_off + 6, 0);
         return load(f, kWanPort);
       },
       "drop:bad_udp_checksum"},
      {"source is multicast",
       [&] { return load(to_reflector4("224.0.0.5").payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"source is loopback",
       [&] { return load(to_reflector4("127.0.0.1").payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"source is this net's broadcast",
       [&] { return load(to_reflector4("203.0.113.255").payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"source is one of our addresses",
       [&] { return load(to_reflector4(kLan4).payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"source port is the reflector port (a reflector answering a reflector)",
       [&] { return load(to_reflector4(kPeer4, kStampPort).payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"source port 0",
       [&] { return load(to_reflector4(kPeer4, 0).payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"IPv6 source is multicast",
       [&] { return load(to_reflector6("ff02::1").payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"IPv6 source is unspecified",
       [&] { return load(to_reflector6("::").payload(kSender).build(), kWanPort); },
       "drop:bad_source"},
      {"to the LAN address, arriving on the uplink",
       [&] {
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .ipv4(kPeer4, kLan4)
                         .udp(50000, kStampPort)
                         .payload(kSender)
                         .build(),
                     kWanPort);
       },
       "drop:not_on_port"},
      {"on a port with no interface",
       [&] { return load(to_reflector4().payload(kSender).build(), 7); }, "drop:not_on_port"},
      {"port 862 of somebody else: transit traffic",
       [&] {
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .ipv4(kPeer4, "192.168.1.20")
                         .udp(50000, kStampPort)
                         .payload(kSender)
                         .build(),
                     kWanPort);
       },
       "edge:next"},
      {"TCP to port 862",
       [&] {
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .ipv4(kPeer4, kWan4)
                         .tcp(50000, kStampPort)
                         .build(),
                     kWanPort);
       },
       "edge:next"},
      {"a later fragment to our address: no ports, not ours to judge",
       [&] {
         Ipv4Opts o;
         o.frag_offset = 8;
         return load(
             PacketBuilder().eth(kWanMac, kPeerMac).ipv4(kPeer4, kWan4, o).payload(64).build(),
             kWanPort);
       },
       "edge:next"},
      {"other UDP to us",
       [&] {
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .ipv4(kPeer4, kWan4)
                         .udp(5000, 53)
                         .payload(60)
                         .build(),
                     kWanPort);
       },
       "edge:next"},
      {"ARP",
       [&] {
         return load(PacketBuilder()
                         .eth("ff:ff:ff:ff:ff:ff", kPeerMac)
                         .arp(1, kPeerMac, "203.0.113.9", "00:00:00:00:00:00", kWan4)
                         .build(),
                     kWanPort);
       },
       "edge:next"},
      {"chained mbuf",
       [&] {
         Frame f = to_reflector4().payload(kSender).build();
         Frame head, tail;
         head.bytes.assign(f.bytes.begin(), f.bytes.begin() + 50);
         tail.bytes.assign(f.bytes.begin() + 50, f.bytes.end());
         rte_mbuf* m = traboule::testing::to_mbuf(test_pool(), head, kWanPort);
         rte_mbuf* t = traboule::testing::to_mbuf(test_pool(), tail, kWanPort);
         EXPECT_EQ(rte_pktmbuf_chain(m, t), 0);
         rte_mbuf* ref = load(f, kWanPort);  // meta as parse makes it for the whole frame
         meta(m) = meta(ref);
         rte_pktmbuf_free(ref);
         return m;
       },
       "drop:chained_mbuf"},
  };
  const unsigned before = traboule::testing::pool_in_use();
  run_rows(rig, rows);
  // What the harness holds (7 replies, 5 passed on), nothing else: drops were freed.
  EXPECT_EQ(traboule::testing::pool_in_use(), before + 12);
}

TEST(ProbeStage, StatefulReflectorCountsPerSession) {
  Rig rig;  // stateful by default
  auto send = [&](const char* src, uint16_t sport, uint16_t ssid, uint32_t sender_seq) {
    Bytes s = sender_bytes(sender_seq, 1, 0x0001, ssid);
    rte_mbuf* m = load(to_reflector4(src, sport).payload(s).build(), kWanPort);
    auto v = rig.h->run({m});
    EXPECT_EQ(v[0].where, "edge:reply");
    if (v[0].pkt == nullptr) return uint32_t{0xffffffff};
    Bytes b = traboule::testing::from_mbuf(v[0].pkt);
    EXPECT_EQ(be32(b, 14 + 20 + 8 + 24), sender_seq) << "sender seq copied";
    return be32(b, 14 + 20 + 8);
  };
  struct Step {
    const char* src;
    uint16_t sport, ssid;
    uint32_t sender_seq, want;
  };
  const Step steps[] = {
      {kPeer4, 50000, 1, 100, 0},         {kPeer4, 50000, 1, 101, 1},
      {kPeer4, 50000, 1, 103, 2},          // the sender lost 102 on the way: the reflector counts 2
      {kPeer4, 50000, 2, 7, 0},            // another SSID: another session
      {kPeer4, 50001, 1, 100, 0},          // another source port
      {"198.51.100.8", 50000, 1, 100, 0},  // another sender
      {kPeer4, 50000, 1, 0xffffffff, 3},  {kPeer4, 50000, 1, 0, 4},
  };
  for (const auto& s : steps) {
    SCOPED_TRACE(s.sender_seq);
    EXPECT_EQ(send(s.src, s.sport, s.ssid, s.sender_seq), s.want);
  }
  EXPECT_EQ(rig.stage->stats().reflector_sessions_new, 4u);
}

std::string peer4(unsigned i) {  // 198.18.0.0/15 (RFC 2544): many distinct senders
  return "198.18." + std::to_string(i >> 8 & 0xff) + "." + std::to_string(i & 0xff);
}

TEST(ProbeStage, ReflectorTableFullAndIdleRestart) {
  ProbeConfig cfg;
  cfg.reflector_sessions = 16;  // a 16-slot table: the 17th sender finds no room
  Rig rig(cfg);
  std::vector<rte_mbuf*> pkts;
  for (unsigned i = 0; i < 17; ++i)
    pkts.push_back(load(to_reflector4(peer4(i + 1).c_str()).payload(kSender).build(), kWanPort));
  auto v = rig.h->run(pkts);
  ASSERT_EQ(v.size(), 17u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(v[i].where, "edge:reply") << i;
  EXPECT_EQ(v[16].where, "drop:reflector_full") << "every session active: nothing evicted";

  // Idle 0 ms: every new burst finds the session expired and starts it again at 0.
  ProbeConfig idle;
  idle.reflector_idle_ms = 0;
  Rig rig2(idle);
  for (int burst = 0; burst < 3; ++burst) {
    rte_mbuf* m = load(to_reflector4().payload(kSender).build(), kWanPort);
    rte_delay_us_block(2);
    auto w = rig2.h->run({m});
    ASSERT_EQ(w[0].where, "edge:reply");
    EXPECT_EQ(be32(traboule::testing::from_mbuf(w[0].pkt), 14 + 20 + 8), 0u) << burst;
  }
  EXPECT_EQ(rig2.stage->stats().reflector_sessions_new, 3u);
}

TEST(ProbeStage, NoClockNoTimestamps) {
  Rig rig(ProbeConfig{}, /*clock_set=*/false);
  run_rows(rig, {{"reflector without a clock",
                  [&] { return load(to_reflector4().payload(kSender).build(), kWanPort); },
                  "drop:clock_unset"}});
}

// A reflector's answer to our session 3 (local port 40003), as a STAMP reflector would send it.
Bytes reflector_reply(uint32_t sender_seq, uint32_t refl_seq, uint64_t t1, uint64_t t2, uint64_t t3,
                      uint16_t refl_err = 0x8001, uint8_t sender_ttl = 250, size_t len = 44) {
  Bytes b(len, 0);
  put32(b, 0, refl_seq);
  put64(b, 4, t3);
  put16(b, 12, refl_err);
  put16(b, 14, 9);
  put64(b, 16, t2);
  put32(b, 24, sender_seq);
  put64(b, 28, t1);
  put16(b, 36, 0x8a01);
  b[40] = sender_ttl;
  return b;
}

PacketBuilder from_reflector4(const char* src = kPeer4, uint16_t sport = kStampPort,
                              uint16_t dport = kSenderBase + 3) {
  Ipv4Opts o;
  o.ttl = 57;
  return PacketBuilder().eth(kWanMac, kPeerMac).ipv4(src, kWan4, o).udp(sport, dport);
}

TEST(ProbeStage, RepliesToOurSessionsBecomeRecords) {
  Rig rig;
  ASSERT_FALSE(rig.sessions.set(3, {0, ip(kPeer4), kStampPort}));
  ASSERT_FALSE(rig.sessions.set(4, {0, ip(kPeer6), 4862}));
  ASSERT_FALSE(rig.sessions.set(5, {1, ip(kPeer4), kStampPort}));  // on "lte"
  const uint64_t t1 = ntp_from_unix_ns(kUnix0 + 1000);
  const uint64_t t2 = t1 + 0x100000, t3 = t2 + 0x1000;
  const Bytes reply = reflector_reply(77, 12, t1, t2, t3);
  std::vector<Row> rows = {
      {"IPv4 reply to session 3",
       [&] { return load(from_reflector4().payload(reply).build(), kWanPort); }, "edge:consumed"},
      {"IPv6 reply to session 4",
       [&] {
         return load(PacketBuilder()
                         .eth(kWanMac, kPeerMac)
                         .ipv6(kPeer6, kWan6)
                         .udp(4862, kSenderBase + 4)
                         .payload(reply)
                         .build(),
                     kWanPort);
       },
       "edge:consumed"},
      {"PTP timestamps from the reflector (Z bit)",
       [&] {
         return load(
             from_reflector4()
                 .payload(reflector_reply(78, 13, t1, ptp_from_ntp(t2), ptp_from_ntp(t3), 0xc001))
                 .build(),
             kWanPort);
       },
       "edge:consumed"},
      {"padded reply",
       [&] {
         return load(from_reflector4()
                         .payload(reflector_reply(79, 14, t1, t2, t3, 0x8001, 250, 300))
                         .build(),
                     kWanPort);
       },
       "edge:consumed"},
      // Hostile.
      {"session 6 is not active",
       [&] {
         return load(from_reflector4(kPeer4, kStampPort, kSenderBase + 6).payload(reply).build(),
                     kWanPort);
       },
       "drop:unknown_session"},
      {"from another address",
       [&] { return load(from_reflector4("198.51.100.99").payload(reply).build(), kWanPort); },
       "drop:session_mismatch"},
      {"from another port",
       [&] { return load(from_reflector4(kPeer4, 863).payload(reply).build(), kWanPort); },
       "drop:session_mismatch"},
      {"session 5 belongs to lte, reply came on fiber",
       [&] {
         return load(from_reflector4(kPeer4, kStampPort, kSenderBase + 5).payload(reply).build(),
                     kWanPort);
       },
       "drop:session_mismatch"},
      {"truncated reply",
       [&] { return load(from_reflector4().payload(slice(reply, 0, 40)).build(), kWanPort); },
       "drop:stamp_truncated"},
      {"bad checksum",
       [&] {
         Frame f = from_reflector4().payload(reply).build();
         f.set16(f.l4_off + 6, static_cast<uint16_t>(f.get16(f.l4_off + 6) + 1));
         return load(f, kWanPort);
       },
       "drop:bad_udp_checksum"},
  };
  run_rows(rig, rows);
  auto recs = rig.drain();
  ASSERT_EQ(recs.size(), 4u);
  const StampRecord& r = recs[0];
  EXPECT_EQ(r.kind, StampRecordKind::kReply);
  EXPECT_EQ(r.session, 3);
  EXPECT_EQ(r.seq, 77u);
  EXPECT_EQ(r.reflector_seq, 12u);
  EXPECT_EQ(r.t1, t1);
  EXPECT_EQ(r.t2, t2);
  EXPECT_EQ(r.t3, t3);
  EXPECT_GE(ntp_diff_ns(r.t4, ntp_from_unix_ns(kUnix0)), 0);
  EXPECT_EQ(r.sender_ttl, 250);
  EXPECT_EQ(r.reply_ttl, 57);
  EXPECT_EQ(r.sender_error, 0x8a01);
  EXPECT_EQ(r.reflector_error, 0x8001);
  EXPECT_EQ(r.ssid, 9);
  EXPECT_EQ(r.length, 44);
  EXPECT_EQ(recs[1].session, 4);
  EXPECT_EQ(recs[2].seq, 78u);
  // PTP → NTP conversion is exact to the nanosecond.
  EXPECT_LE(std::abs(ntp_diff_ns(recs[2].t2, t2)), 1);
  EXPECT_LE(std::abs(ntp_diff_ns(recs[2].t3, t3)), 1);
  EXPECT_EQ(recs[3].length, 300);
}

TEST(ProbeStage, FullResultRingDropsTheReply) {
  Rig rig(ProbeConfig{}, true, /*ring_size=*/2);  // one usable slot
  ASSERT_FALSE(rig.sessions.set(3, {0, ip(kPeer4), kStampPort}));
  const Bytes reply = reflector_reply(1, 1, 1, 2, 3);
  std::vector<rte_mbuf*> pkts = {load(from_reflector4().payload(reply).build(), kWanPort),
                                 load(from_reflector4().payload(reply).build(), kWanPort)};
  auto v = rig.h->run(pkts);
  EXPECT_EQ(v[0].where, "edge:consumed");
  EXPECT_EQ(v[1].where, "drop:result_ring_full");
}

TEST(ProbeStage, ConstructorRefusesMissingDependencies) {
  auto site = make_site();
  SharedTscClock clock;
  StampSessionTable sessions(kSenderBase);
  auto make = [&](ProbeConfig c, ProbeDeps d) { return std::make_unique<ProbeStage>(*site, c, d); };
  EXPECT_THROW(make({}, ProbeDeps{}), std::invalid_argument);
  EXPECT_THROW(make({}, ProbeDeps{&clock, &sessions}), std::invalid_argument);
  ProbeConfig in_range;
  in_range.reflector_port = kSenderBase + 10;
  rte_ring* r = make_stamp_result_ring(unique("ctor").c_str(), 8, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_THROW(make(in_range, ProbeDeps{&clock, &sessions, r}), std::invalid_argument);
  EXPECT_THROW(make({}, ProbeDeps{&clock, &sessions, r, r, nullptr}), std::invalid_argument);
  EXPECT_NO_THROW(make({}, ProbeDeps{&clock, nullptr}));
  EXPECT_NO_THROW(make({}, ProbeDeps{&clock, &sessions, r}));
  rte_ring_free(r);
}

// ---------------------------------------------------------------------------------------------
// Session-Sender: probes built on the sending worker.

struct SendRow {
  const char* name;
  uint16_t session;
  StampSession s;  // uplink 0xff: leave the slot inactive
  uint16_t length;
  std::string want;               // "edge:sent" or "failed:<reason>"
  const char* dst_mac = nullptr;  // for sent probes
  std::function<void(Site&)> tweak = nullptr;
};

TEST(ProbeStage, SenderBuildsRequestedProbes) {
  const SendRow rows[] = {
      {"IPv4, 47 bytes: no room for a padding TLV, zeros",
       12,
       {0, ip(kPeer4), kStampPort},
       47,
       "edge:sent",
       kGwMac},
      {"IPv4 via the gateway", 0, {0, ip(kPeer4), kStampPort}, 44, "edge:sent", kGwMac},
      {"IPv4 padded", 1, {0, ip(kPeer4), kStampPort}, 200, "edge:sent", kGwMac},
      {"IPv4 on-link remote: its own MAC",
       2,
       {0, ip("203.0.113.50"), kStampPort},
       44,
       "edge:sent",
       kPeerMac},
      {"IPv6 via the link-local gateway", 3, {0, ip(kPeer6), 4862}, 44, "edge:sent", kGw6Mac},
      {"inactive session", 4, {0xff, IpAddr{}, 0}, 44, "failed:no_session"},
      {"uplink index past the site's", 5, {7, ip(kPeer4), kStampPort}, 44, "failed:no_session"},
      {"link down",
       6,
       {0, ip(kPeer4), kStampPort},
       44,
       "failed:link_down",
       nullptr,
       [](Site& s) { s.uplinks[0]->link_up.store(false); }},
      {"gateway not resolved", 7, {1, ip(kPeer4), kStampPort}, 44, "failed:next_hop_unresolved"},
      {"no IPv6 on lte", 8, {1, ip(kPeer6), kStampPort}, 44, "failed:no_source_address"},
      {"no IPv6 gateway",
       9,
       {0, ip(kPeer6), kStampPort},
       44,
       "failed:no_route",
       nullptr,
       [](Site& s) { s.uplinks[0]->gw6.reset(); }},
      {"43 bytes asked", 10, {0, ip(kPeer4), kStampPort}, 43, "failed:bad_length"},
      {"too long asked",
       11,
       {0, ip(kPeer4), kStampPort},
       kStampMaxPacketLen + 1,
       "failed:bad_length"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    Rig rig(ProbeConfig{}, true, 64, /*sender=*/true);
    if (r.tweak) r.tweak(*rig.site);
    if (r.s.uplink != 0xff) {
      ASSERT_FALSE(rig.sessions.set(r.session, r.s));
    }
    StampRequest rq;
    rq.session = r.session;
    rq.seq = 0xabcdef01;
    rq.length = r.length;
    rq.dscp = 46;
    rq.ssid = 0x0101;
    ASSERT_EQ(rte_ring_enqueue_elem(rig.requests, &rq, sizeof rq), 0);
    const uint64_t before = rte_rdtsc();
    auto v = rig.h->idle(rte_rdtsc());
    auto recs = rig.drain();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].session, r.session);
    EXPECT_EQ(recs[0].seq, 0xabcdef01);
    if (r.want.rfind("failed:", 0) == 0) {
      EXPECT_TRUE(v.empty());
      EXPECT_EQ(recs[0].kind, StampRecordKind::kSendFailed);
      EXPECT_EQ(std::string("failed:") + to_string(recs[0].failure), r.want);
      continue;
    }
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].where, r.want);
    EXPECT_EQ(recs[0].kind, StampRecordKind::kSent);
    const Bytes b = traboule::testing::from_mbuf(v[0].pkt);
    const PacketMeta& md = meta(v[0].pkt);
    const bool v4 = r.s.remote.is_v4();
    const size_t l3 = 14, l4 = l3 + (v4 ? 20 : 40), st = l4 + 8;
    ASSERT_EQ(b.size(), st + r.length);
    EXPECT_EQ(slice(b, 0, 6), mac_bytes(r.dst_mac));
    EXPECT_EQ(slice(b, 6, 6), mac_bytes(kWanMac));
    if (v4) {
      EXPECT_EQ(b[l3 + 1], 46 << 2) << "DSCP";
      EXPECT_EQ(b[l3 + 8], 255);
      EXPECT_EQ(be16(b, l3 + 6), 0x4000);
      EXPECT_TRUE(ipv4_header_ok(b, l3));
      EXPECT_EQ(slice(b, l3 + 12, 4), ip_bytes(kWan4));
    } else {
      EXPECT_EQ(be32(b, l3), 0x6b800000u) << "version, DSCP 46";
      EXPECT_EQ(b[l3 + 7], 255);
      EXPECT_EQ(slice(b, l3 + 8, 16), ip_bytes(kWan6));
    }
    EXPECT_EQ(be16(b, l4), kSenderBase + r.session);
    EXPECT_EQ(be16(b, l4 + 2), r.s.remote_port);
    EXPECT_TRUE(udp_ok(b, l3, l4, v4));
    EXPECT_EQ(be32(b, st), 0xabcdef01u);
    EXPECT_EQ(be64(b, st + 4), recs[0].t1) << "the record carries the T1 that was sent";
    EXPECT_EQ(be16(b, st + 12), 0x8a01);
    EXPECT_EQ(be16(b, st + 14), 0x0101);
    EXPECT_EQ(slice(b, st + 16, 28), Bytes(28, 0)) << "MBZ";
    if (r.length >= 48) {
      EXPECT_EQ(b[st + 44], 0) << "TLV flags";
      EXPECT_EQ(b[st + 45], 1) << "Extra Padding TLV";
      EXPECT_EQ(be16(b, st + 46), r.length - 48) << "TLV length";
      EXPECT_EQ(slice(b, st + 48, r.length - 48u), Bytes(r.length - 48u, 0)) << "padding";
    } else {
      EXPECT_EQ(slice(b, st + 44, r.length - 44u), Bytes(r.length - 44u, 0)) << "padding";
    }
    // T1 comes from the TSC read while building: between `before` and now.
    TscClock c = rig.clock.load();
    EXPECT_GE(ntp_diff_ns(recs[0].t1, c.ntp(before)), 0);
    EXPECT_LE(ntp_diff_ns(recs[0].t1, c.ntp(rte_rdtsc())), 0);
    EXPECT_EQ(md.out_port, kWanPort);
    EXPECT_EQ(md.l3_total, b.size() - 14);
    EXPECT_EQ(rig.stage->stats().probes_sent, 1u);
  }
}

TEST(ProbeStage, UnresolvedGatewayIsAskedFor) {
  Rig rig(ProbeConfig{}, true, 64, true);
  ASSERT_FALSE(rig.sessions.set(0, {1, ip(kPeer4), kStampPort}));
  StampRequest rq;
  ASSERT_EQ(rte_ring_enqueue_elem(rig.requests, &rq, sizeof rq), 0);
  rig.h->idle(rte_rdtsc());
  EXPECT_EQ(rig.site->uplinks[1]->neighbors->incomplete(), 1u) << "the resolver will ask";
  EXPECT_EQ(rig.stage->stats().send_failed[static_cast<unsigned>(StampSendFailure::kNoNeighbor)],
            1u);
}

// The remote end of an end-to-end test: one "fiber" interface (uplink 0) owning kPeer4.
std::unique_ptr<Site> peer_site() {
  auto far_site = std::make_unique<Site>();
  auto far = make_iface("fiber", kWanPort, kGwMac, kPeer4, nullptr);
  far->uplink = 0;
  far_site->uplinks.push_back(far.get());
  far_site->by_port[kWanPort] = far.get();
  far_site->ifaces.push_back(std::move(far));
  return far_site;
}

// A hub's probe stage: `clock` anchored now, the overlay's sites and paths in `sites`.
ProbeDeps hub_deps(SharedTscClock& clock, OverlaySites& sites) {
  clock.store(TscClock::anchor(rte_rdtsc(), kUnix0, rte_get_tsc_hz()));
  ProbeDeps fd{&clock};
  fd.overlay = &sites;
  fd.overlay_hub = true;
  return fd;
}

// `rq` sent by the edge's rig, reflected by the hub's stage `hh`, the reply consumed by the
// edge: the size of the probe it sent (when `sent_len`) and the records it wrote.
void hub_exchange(Rig& us, StageHarness& hh, StampRequest rq, size_t* sent_len,
                  std::vector<StampRecord>* recs) {
  ASSERT_EQ(rte_ring_enqueue_elem(us.requests, &rq, sizeof rq), 0);
  auto sent = us.h->idle(rte_rdtsc());
  ASSERT_EQ(sent.size(), 1u);
  if (sent_len != nullptr) *sent_len = traboule::testing::from_mbuf(sent[0].pkt).size();
  auto refl = hh.run({load(Frame{traboule::testing::from_mbuf(sent[0].pkt)}, kWanPort)});
  ASSERT_EQ(refl[0].where, "edge:reply");
  auto got = us.h->run({load(Frame{traboule::testing::from_mbuf(refl[0].pkt)}, kWanPort)});
  ASSERT_EQ(got[0].where, "edge:consumed");
  *recs = us.drain();
}

TEST(ProbeStage, ProbeReflectedAndRecordedEndToEnd) {
  // Our box sends session 0's probe; a second probe stage plays the remote reflector (its
  // "fiber" interface owns 198.51.100.7); the reply comes back to us and becomes a record.
  Rig us(ProbeConfig{}, true, 64, true);
  ASSERT_FALSE(us.sessions.set(0, {0, ip(kPeer4), kStampPort}));
  auto far_site = peer_site();
  SharedTscClock far_clock;
  far_clock.store(TscClock::anchor(rte_rdtsc(), kUnix0 + 5 * kNs, rte_get_tsc_hz(),
                                   ErrorEstimate{false, false, 20, 3}));
  ProbeStage reflector(*far_site, {}, ProbeDeps{&far_clock});
  StageHarness rh(reflector);

  for (uint32_t seq = 10; seq < 13; ++seq) {
    StampRequest rq;
    rq.seq = seq;
    rq.length = 64;
    ASSERT_EQ(rte_ring_enqueue_elem(us.requests, &rq, sizeof rq), 0);
    auto sent = us.h->idle(rte_rdtsc());
    ASSERT_EQ(sent.size(), 1u);
    // The wire: the probe leaves our fiber port and arrives on the far end's.
    rte_mbuf* at_far = load(Frame{traboule::testing::from_mbuf(sent[0].pkt)}, kWanPort);
    auto refl = rh.run({at_far});
    ASSERT_EQ(refl[0].where, "edge:reply");
    rte_mbuf* back = load(Frame{traboule::testing::from_mbuf(refl[0].pkt)}, kWanPort);
    auto got = us.h->run({back});
    ASSERT_EQ(got[0].where, "edge:consumed");
  }
  auto recs = us.drain();
  ASSERT_EQ(recs.size(), 6u);  // sent, reply, sent, reply, sent, reply
  for (uint32_t i = 0; i < 3; ++i) {
    const StampRecord& sent = recs[2 * i];
    const StampRecord& r = recs[2 * i + 1];
    SCOPED_TRACE(i);
    EXPECT_EQ(sent.kind, StampRecordKind::kSent);
    EXPECT_EQ(r.kind, StampRecordKind::kReply);
    EXPECT_EQ(r.seq, 10 + i);
    EXPECT_EQ(r.reflector_seq, i) << "stateful reflector counts from 0";
    EXPECT_EQ(r.t1, sent.t1);
    EXPECT_EQ(r.sender_ttl, 255) << "no router between the two";
    EXPECT_EQ(r.reply_ttl, 255);
    EXPECT_EQ(r.length, 64);
    EXPECT_EQ(r.reflector_error, 0x1403);
    EXPECT_EQ(r.sender_error, 0x8a01);
    // The far clock runs 5 s ahead: T2 − T1 ≈ 5 s; T4 − T1 is a real (tiny) round trip.
    EXPECT_NEAR(static_cast<double>(ntp_diff_ns(r.t2, r.t1)), 5e9, 1e8);
    EXPECT_GE(ntp_diff_ns(r.t3, r.t2), 0);
    EXPECT_GE(ntp_diff_ns(r.t4, r.t1), 0);
    EXPECT_LT(ntp_diff_ns(r.t4, r.t1), 1'000'000'000);
  }
}

// ---------------------------------------------------------------------------------------------
// Reflector table under attack (issue 11, 6d): per-source quotas, eviction of idle sessions only,
// and on a hub sessions for known site paths only.

// Runs `pkts` in bursts of 32; the verdicts in order.
std::vector<std::string> run_all(Rig& rig, const std::vector<Frame>& frames) {
  std::vector<std::string> where;
  for (size_t i = 0; i < frames.size(); i += 32) {
    std::vector<rte_mbuf*> pkts;
    for (size_t j = i; j < frames.size() && j < i + 32; ++j)
      pkts.push_back(load(frames[j], kWanPort));
    for (const auto& v : rig.h->run(pkts)) where.push_back(v.where);
  }
  return where;
}
size_t count(const std::vector<std::string>& v, const std::string& what) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), what));
}
// The reflected sequence number of a single probe run alone.
uint32_t reflect_seq(Rig& rig, const Frame& f, std::string* where = nullptr) {
  auto v = rig.h->run({load(f, kWanPort)});
  if (where != nullptr) *where = v[0].where;
  if (v[0].pkt == nullptr) return 0xffffffffu;
  return be32(traboule::testing::from_mbuf(v[0].pkt), 14 + (f.bytes[12] == 0x86 ? 40 : 20) + 8);
}
Frame probe4(const std::string& src, uint16_t sport, const Bytes& stamp = kSender) {
  return to_reflector4(src.c_str(), sport).payload(stamp).build();
}
Frame probe6(const char* src, uint16_t sport) {
  Ipv6Opts o;
  o.hop_limit = 60;
  return PacketBuilder()
      .eth(kWanMac, kPeerMac)
      .ipv6(src, kWan6, o)
      .udp(sport, kStampPort)
      .payload(kSender)
      .build();
}

TEST(ProbeStage, FloodFromOneSourceTakesItsQuotaOnly) {
  struct QuotaRow {
    const char* what;
    std::function<Frame(unsigned)> flood;  // the i-th packet of the flood
    std::function<Frame()> other;          // another sender, served during the flood
  };
  const QuotaRow rows[] = {
      {"IPv4: one address, 40 source ports",
       [](unsigned i) { return probe4(kPeer4, static_cast<uint16_t>(50000 + i)); },
       [] { return probe4("198.51.100.8", 50000); }},
      {"IPv6: 40 addresses of one /64 count as one source",
       [](unsigned i) {
         const std::string a = "2001:db8:99::" + std::to_string(1000 + i);
         return probe6(a.c_str(), 50000);
       },
       [] { return probe6("2001:db8:98::7", 50000); }},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.what);
    Rig rig;  // 1024 slots, 8 per source
    std::vector<Frame> flood;
    for (unsigned i = 0; i < 40; ++i) flood.push_back(r.flood(i));
    const auto v = run_all(rig, flood);
    EXPECT_EQ(count(v, "edge:reply"), 8u) << "the source's quota";
    EXPECT_EQ(count(v, "drop:reflector_source_limit"), 32u);
    EXPECT_EQ(rig.h->drop_count("reflector_source_limit"), 32u);
    std::string where;
    EXPECT_EQ(reflect_seq(rig, r.other(), &where), 0u) << "another sender still gets a session";
    EXPECT_EQ(where, "edge:reply");
    EXPECT_EQ(reflect_seq(rig, r.flood(0)), 1u) << "the flooder's own sessions keep counting";
    EXPECT_EQ(rig.stage->stats().reflector_evictions, 0u);
  }
}

TEST(ProbeStage, SourceAtItsQuotaReplacesItsOwnIdleSession) {
  ProbeConfig cfg;
  cfg.reflector_evict_idle_ms = 0;  // any session idle since an earlier burst may be replaced
  Rig rig(cfg);
  std::vector<Frame> first;
  for (unsigned i = 0; i < 9; ++i)
    first.push_back(probe4(kPeer4, static_cast<uint16_t>(40000 + i)));
  first.push_back(probe4("198.51.100.8", 50000));
  auto v = run_all(rig, first);
  EXPECT_EQ(count(v, "edge:reply"), 9u);
  EXPECT_EQ(v[8], "drop:reflector_source_limit") << "nothing idle yet in the same burst";
  rte_delay_us_block(2);
  // A restarted sender (new ports): its old sessions give their slots, one by one.
  EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 41000)), 0u);
  EXPECT_EQ(rig.stage->stats().reflector_evictions, 1u);
  EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 41000)), 1u);
  EXPECT_EQ(reflect_seq(rig, probe4("198.51.100.8", 50000)), 1u)
      << "another source's session is never the one replaced at a quota";
}

TEST(ProbeStage, FloodOfManySourcesCannotEvictActiveSessions) {
  ProbeConfig cfg;
  cfg.reflector_sessions = 64;
  Rig rig(cfg);  // no site table: any source may hold sessions, within its quota
  EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 40000)), 0u);
  std::vector<Frame> flood;
  for (unsigned i = 0; i < 600; ++i) flood.push_back(probe4(peer4(i + 1), 50000));
  const auto v = run_all(rig, flood);
  EXPECT_EQ(count(v, "edge:reply") + count(v, "drop:reflector_full"), 600u);
  EXPECT_LE(count(v, "edge:reply"), 63u) << "the flood took at most the free slots";
  EXPECT_EQ(rig.stage->stats().reflector_evictions, 0u) << "every session was active";
  EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 40000)), 1u) << "the edge's session kept its count";

  // Once the flood's sessions are idle past the bound, a new sender takes one of their slots.
  ProbeConfig quick = cfg;
  quick.reflector_evict_idle_ms = 0;
  Rig rig2(quick);
  run_all(rig2, flood);  // (its later bursts already replace its earlier, idle, sessions)
  const uint64_t before = rig2.stage->stats().reflector_evictions;
  rte_delay_us_block(2);
  std::string where;
  EXPECT_EQ(reflect_seq(rig2, probe4(kPeer4, 40000), &where), 0u);
  EXPECT_EQ(where, "edge:reply");
  EXPECT_EQ(rig2.stage->stats().reflector_evictions, before + 1);
}

constexpr uint16_t kEdgeSite = 7;

// A hub that learned site 7's path 0 at kPeer4 and path 1 at 198.51.100.9.
struct HubSites {
  OverlaySites sites;
  HubSites() {
    sites.learn(kEdgeSite, 0, ip(kPeer4), 4500, rte_rdtsc(), rte_get_tsc_hz());
    sites.learn(kEdgeSite, 1, ip("198.51.100.9"), 4500, rte_rdtsc(), rte_get_tsc_hz());
  }
};

Bytes edge_probe(uint32_t seq, uint8_t path, uint16_t site = kEdgeSite) {
  return sender_bytes(seq, 0xe1e2e3e4e5e6e7e8ULL, 0x8001, stamp_overlay_ssid(site, path));
}

TEST(ProbeStage, HubGivesSessionsToKnownPeersOnly) {
  for (const bool stateless : {true, false}) {
    SCOPED_TRACE(stateless ? "unknown peers answered statelessly" : "unknown peers refused");
    HubSites hs;
    ProbeConfig cfg;
    cfg.unknown_peers_stateless = stateless;
    Rig rig(cfg, true, 64, false, &hs.sites, /*hub=*/true);
    // Hostile: many random sources, with random SSIDs and with site 7's SSID (forged).
    std::vector<Frame> flood;
    for (unsigned i = 0; i < 300; ++i) {
      const uint16_t ssid = i % 3 == 0   ? static_cast<uint16_t>(i * 2654435761u >> 16)
                            : i % 3 == 1 ? stamp_overlay_ssid(kEdgeSite, 0)
                                         : stamp_overlay_ssid(static_cast<uint16_t>(i), 1);
      flood.push_back(probe4(peer4(i + 1), static_cast<uint16_t>(50000 + i),
                             sender_bytes(1000 + i, 1, 0x0001, ssid)));
    }
    // Site 7's own SSID from its path 1's address but claiming path 0: not that path's source.
    flood.push_back(probe4("198.51.100.9", 40000, edge_probe(5, 0)));
    const auto v = run_all(rig, flood);
    EXPECT_EQ(rig.stage->stats().reflector_sessions_new, 0u) << "no session for any of them";
    if (stateless) {
      EXPECT_EQ(count(v, "edge:reply"), flood.size());
      EXPECT_EQ(rig.stage->stats().reflector_stateless, flood.size());
      EXPECT_EQ(reflect_seq(rig, probe4(peer4(1), 50000, sender_bytes(77, 1, 1, 0))), 77u)
          << "a stateless answer: the sender's own sequence number";
    } else {
      EXPECT_EQ(count(v, "drop:reflector_unknown_peer"), flood.size());
    }
    // The known edge's paths get sessions, counted from 0.
    EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 40000, edge_probe(100, 0))), 0u);
    EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 40000, edge_probe(101, 0))), 1u);
    EXPECT_EQ(reflect_seq(rig, probe4("198.51.100.9", 40001, edge_probe(9, 1))), 0u);
    EXPECT_EQ(rig.stage->stats().reflector_sessions_new, 2u);
  }
}

TEST(ProbeStage, KnownEdgeRestartingGetsItsSessionDuringAFlood) {
  HubSites hs;
  ProbeConfig cfg;
  cfg.reflector_sessions = 64;  // small, to make a full table likely if the flood could fill it
  Rig rig(cfg, true, 64, false, &hs.sites, /*hub=*/true);
  for (uint32_t s = 0; s < 5; ++s)
    EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 40000, edge_probe(s, 0))), s);
  // ~17 packets/s for a minute from one address with new ports, and random sources besides.
  std::vector<Frame> flood;
  for (unsigned i = 0; i < 1020; ++i)
    flood.push_back(i % 2 ? probe4("192.0.2.66", static_cast<uint16_t>(1024 + i))
                          : probe4(peer4(i), 50000));
  auto v = run_all(rig, flood);
  EXPECT_EQ(count(v, "edge:reply"), flood.size()) << "answered, statelessly";
  EXPECT_EQ(rig.stage->stats().reflector_sessions_new, 1u);
  // The edge restarts: its probes now come from another port, a new session counting from 0,
  // while its old session (not idle yet) still holds a slot.
  for (uint32_t s = 0; s < 3; ++s)
    EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 40002, edge_probe(s, 0))), s);
  v = run_all(rig, flood);
  EXPECT_EQ(reflect_seq(rig, probe4(kPeer4, 40002, edge_probe(3, 0))), 3u);
  EXPECT_EQ(rig.h->drop_count("reflector_full"), 0u);
  EXPECT_EQ(rig.h->drop_count("reflector_source_limit"), 0u);
}

// ---------------------------------------------------------------------------------------------
// Direct measurement (RFC 8972 §4.5): the TLV's encoding, the hub's reflector filling it from the
// decap and encap counters, the edge's probes carrying it and its records reading it.

// A DM TLV by hand: flags, type 5, length, S_TxC, R_RxC, R_TxC.
Bytes dm_tlv(uint8_t flags, uint32_t s_txc, uint32_t r_rxc = 0, uint32_t r_txc = 0,
             uint16_t len = 12) {
  Bytes t(4 + 12, 0);
  t[0] = flags;
  t[1] = 5;
  put16(t, 2, len);
  put32(t, 4, s_txc);
  put32(t, 8, r_rxc);
  put32(t, 12, r_txc);
  return t;
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(StampFormat, DirectMeasurementTlvEncodes) {
  StampSenderPacket s{0x01020304, 0x1122334455667788ULL, ErrorEstimate{true, false, 0, 1}, 0x8007};
  const StampDm dm{0xa1a2a3a4, 0, 0};
  const Bytes base = sender_bytes(0x01020304, 0x1122334455667788ULL, 0x8001, 0x8007);
  struct EncRow {
    size_t len;
    StampStatus want;
    Bytes tail;  // bytes past 44
  };
  const EncRow rows[] = {
      {44, StampStatus::kTooShort, {}},
      {59, StampStatus::kTooShort, {}},
      {60, StampStatus::kOk, dm_tlv(0x80, 0xa1a2a3a4)},
      {62, StampStatus::kOk, cat(dm_tlv(0x80, 0xa1a2a3a4), Bytes(2, 0))},  // no room for padding
      {64, StampStatus::kOk, cat(dm_tlv(0x80, 0xa1a2a3a4), Bytes{0, 1, 0, 0})},
      {100, StampStatus::kOk, cat(cat(dm_tlv(0x80, 0xa1a2a3a4), Bytes{0, 1, 0, 36}), Bytes(36, 0))},
      {kStampMaxPacketLen + 1, StampStatus::kTooLong, {}},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.len);
    Bytes out(r.len, 0xee);
    EXPECT_EQ(encode_sender(s, out, &dm), r.want);
    if (r.want != StampStatus::kOk) {
      EXPECT_EQ(out, Bytes(r.len, 0xee)) << "nothing written";
      continue;
    }
    EXPECT_EQ(out, cat(base, r.tail));
    StampDm back;
    EXPECT_EQ(decode_dm(out, &back), StampDmStatus::kNotFilled) << "U set by the sender";
  }
}

TEST(StampFormat, DirectMeasurementTlvDecodeHostileRows) {
  const Bytes base = sender_bytes(1, 2, 3, 4);
  struct DecRow {
    const char* what;
    Bytes tail;
    StampDmStatus want;
    StampDm dm = {};
  };
  const DecRow rows[] = {
      {"plain 44 bytes", {}, StampDmStatus::kAbsent},
      {"filled", dm_tlv(0, 10, 20, 30), StampDmStatus::kOk, {10, 20, 30}},
      {"filled, after an Extra Padding TLV",
       cat(Bytes{0, 1, 0, 4, 0, 0, 0, 0}, dm_tlv(0, 10, 20, 30)),
       StampDmStatus::kOk,
       {10, 20, 30}},
      {"after an unknown type",
       cat(Bytes{0, 77, 0, 2, 9, 9}, dm_tlv(0, 1, 2, 3)),
       StampDmStatus::kOk,
       {1, 2, 3}},
      {"U set: not understood, or not measured", dm_tlv(0x80, 10), StampDmStatus::kNotFilled},
      {"M set by the reflector", dm_tlv(0x40, 10, 20, 30), StampDmStatus::kMalformed},
      {"wrong length (8), fits the packet", Bytes{0, 5, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2},
       StampDmStatus::kMalformed},
      {"wrong length (16)", cat(dm_tlv(0, 1, 2, 3, 16), Bytes(4, 0)), StampDmStatus::kMalformed},
      {"truncated TLV header", Bytes{0, 5}, StampDmStatus::kAbsent},
      {"truncated value", slice(dm_tlv(0, 1, 2, 3), 0, 12), StampDmStatus::kAbsent},
      {"length 0xffff", Bytes{0, 5, 0xff, 0xff, 0, 0, 0, 0}, StampDmStatus::kAbsent},
      {"an unknown type overrunning the packet hides what follows",
       cat(Bytes{0, 77, 0, 40}, dm_tlv(0, 1, 2, 3)), StampDmStatus::kAbsent},
      {"RFC 8762 padding of zeros: type 0, length 0, repeated", Bytes(40, 0),
       StampDmStatus::kAbsent},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.what);
    const Bytes pkt = cat(base, r.tail);
    StampDm dm{0xdead, 0xbeef, 0xf00d};
    EXPECT_EQ(decode_dm(pkt, &dm), r.want);
    if (r.want == StampDmStatus::kOk) {
      EXPECT_EQ(dm, r.dm);
    }
    EXPECT_EQ(decode_dm(std::span<const uint8_t>(pkt.data(), 43), &dm), StampDmStatus::kAbsent)
        << "shorter than a STAMP packet";
  }
}

TEST(StampFormat, ReflectDmRows) {
  const Bytes base = sender_bytes(1, 2, 3, 4);
  const StampDm c{0, 0x11111111, 0x22222222};
  struct ReflDmRow {
    const char* what;
    Bytes tail;
    bool counters;
    StampDmStatus want;
    Bytes after;
  };
  const ReflDmRow rows[] = {
      {"filled: U cleared, S_TxC kept", dm_tlv(0x80, 7), true, StampDmStatus::kOk,
       dm_tlv(0, 7, 0x11111111, 0x22222222)},
      {"M cleared too", dm_tlv(0xc0, 7), true, StampDmStatus::kOk,
       dm_tlv(0, 7, 0x11111111, 0x22222222)},
      {"no counters: U set, values as sent", dm_tlv(0, 7, 1, 2), false, StampDmStatus::kNotFilled,
       dm_tlv(0x80, 7, 1, 2)},
      {"wrong length: M set, nothing else", Bytes{0x80, 5, 0, 4, 1, 2, 3, 4}, true,
       StampDmStatus::kMalformed, Bytes{0xc0, 5, 0, 4, 1, 2, 3, 4}},
      {"absent: untouched", Bytes{0, 1, 0, 4, 9, 9, 9, 9}, true, StampDmStatus::kAbsent,
       Bytes{0, 1, 0, 4, 9, 9, 9, 9}},
      {"overrunning: untouched", Bytes{0x80, 5, 0, 12, 1, 2}, true, StampDmStatus::kAbsent,
       Bytes{0x80, 5, 0, 12, 1, 2}},
      {"unknown TLV before it is echoed untouched", cat(Bytes{0x80, 99, 0, 0}, dm_tlv(0x80, 7)),
       true, StampDmStatus::kOk, cat(Bytes{0x80, 99, 0, 0}, dm_tlv(0, 7, 0x11111111, 0x22222222))},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.what);
    Bytes pkt = cat(base, r.tail);
    EXPECT_EQ(reflect_dm(pkt, r.counters ? &c : nullptr), r.want);
    EXPECT_EQ(pkt, cat(base, r.after));
  }
}

// Decap counters as the hub's workers would have them: two workers' tables, site 7's path 0
// received 1000 + 234 packets; the hub's encap sent 999 to that path.
struct HubCounters {
  HubSites hs;
  std::vector<PassivePath> w0, w1;
  HubCounters() : w0((kMaxSiteId + 1) * kMaxUplinks), w1((kMaxSiteId + 1) * kMaxUplinks) {
    w0[kEdgeSite * kMaxUplinks + 0].received = 1000;
    w1[kEdgeSite * kMaxUplinks + 0].received = 234;
    w0[kEdgeSite * kMaxUplinks + 1].received = 5;
    hs.sites.attach_rx(w0.data(), kMaxSiteId + 1);
    hs.sites.attach_rx(w1.data(), kMaxSiteId + 1);
    hs.sites.path(kEdgeSite, 0).tx_seq.store(999);
    hs.sites.path(kEdgeSite, 1).tx_seq.store(0xfffffffe);
  }
  ~HubCounters() {
    hs.sites.detach_rx(w0.data());
    hs.sites.detach_rx(w1.data());
  }
};

TEST(ProbeStage, HubReflectorFillsDirectMeasurement) {
  constexpr size_t kTlv = 14 + 20 + 8 + 44;  // the TLV in the reflected IPv4 frame
  struct HubDmRow {
    const char* what;
    bool hub, stateful;
    std::string src;
    Bytes stamp;
    std::string want;
    Bytes tlv_after;  // empty: no TLV to look at
  };
  const HubDmRow rows[] = {
      {"known path 0: R_RxC from both workers' decap, R_TxC from encap", true, true, kPeer4,
       cat(edge_probe(1, 0), dm_tlv(0x80, 1300)), "edge:reply", dm_tlv(0, 1300, 1234, 999)},
      {"known path 1, counters near the wrap", true, true, "198.51.100.9",
       cat(edge_probe(1, 1), dm_tlv(0x80, 4)), "edge:reply", dm_tlv(0, 4, 5, 0xfffffffe)},
      {"padded past the TLV: same length, padding echoed", true, true, kPeer4,
       cat(cat(edge_probe(1, 0), dm_tlv(0x80, 1)), Bytes{0, 1, 0, 4, 0, 0, 0, 0}), "edge:reply",
       cat(dm_tlv(0, 1, 1234, 999), Bytes{0, 1, 0, 4, 0, 0, 0, 0})},
      {"stateless reflector on a hub still fills it", true, false, kPeer4,
       cat(edge_probe(1, 0), dm_tlv(0x80, 1)), "edge:reply", dm_tlv(0, 1, 1234, 999)},
      {"unknown source: U set, nothing of ours", true, true, "192.0.2.66",
       cat(edge_probe(1, 0), dm_tlv(0x80, 1)), "edge:reply", dm_tlv(0x80, 1)},
      {"SSID of a path never learned", true, true, kPeer4, cat(edge_probe(1, 2), dm_tlv(0x80, 1)),
       "edge:reply", dm_tlv(0x80, 1)},
      {"a sender that left U clear gets it set", true, true, "192.0.2.66",
       cat(edge_probe(1, 0), dm_tlv(0, 1, 5, 6)), "edge:reply", dm_tlv(0x80, 1, 5, 6)},
      {"wrong length: M set", true, true, kPeer4,
       cat(edge_probe(1, 0), Bytes{0x80, 5, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2}), "edge:reply",
       Bytes{0xc0, 5, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2}},
      {"truncated TLV: echoed as it came", true, true, kPeer4,
       cat(edge_probe(1, 0), Bytes{0x80, 5, 0, 12, 0, 0}), "edge:reply",
       Bytes{0x80, 5, 0, 12, 0, 0}},
      {"edge reflector (no site table): U set", false, true, kPeer4,
       cat(edge_probe(1, 0), dm_tlv(0x80, 1)), "edge:reply", dm_tlv(0x80, 1)},
      {"TLV on a stateless edge reflector: U set, same length", false, false, kPeer4,
       cat(edge_probe(1, 0), dm_tlv(0x80, 1)), "edge:reply", dm_tlv(0x80, 1)},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.what);
    HubCounters hc;
    ProbeConfig cfg;
    cfg.stateful = r.stateful;
    Rig rig(cfg, true, 64, false, r.hub ? &hc.hs.sites : nullptr, r.hub);
    auto v = rig.h->run({load(probe4(r.src, 40000, r.stamp), kWanPort)});
    ASSERT_EQ(v[0].where, r.want);
    const Bytes b = traboule::testing::from_mbuf(v[0].pkt);
    ASSERT_EQ(b.size(), kTlv - 44 + r.stamp.size()) << "symmetric size";
    EXPECT_TRUE(udp_ok(b, 14, 34, true)) << "checksum over the filled TLV";
    EXPECT_EQ(slice(b, kTlv, r.tlv_after.size()), r.tlv_after);
    EXPECT_EQ(be16(b, kTlv - 44 + 14), be16(r.stamp, 14)) << "SSID copied";
  }
  HubCounters hc;
  Rig rig(ProbeConfig{}, true, 64, false, &hc.hs.sites, true);
  rig.h->run({load(probe4(kPeer4, 40000, cat(edge_probe(1, 0), dm_tlv(0x80, 1))), kWanPort)});
  rig.h->run({load(probe4("192.0.2.66", 40000, cat(edge_probe(1, 0), dm_tlv(0x80, 1))), kWanPort)});
  EXPECT_EQ(rig.stage->stats().dm_filled, 1u);
  EXPECT_EQ(rig.stage->stats().dm_unattributed, 1u);
}

TEST(ProbeStage, EdgeProbesCarryDirectMeasurement) {
  OverlaySites sites;  // the edge's: tx_seq of [0][uplink] is what encap sent on the uplink
  sites.path(0, 0).tx_seq.store(4242);
  sites.path(0, 1).tx_seq.store(17);
  Rig rig(ProbeConfig{}, true, 64, /*sender=*/true, &sites, /*hub=*/false, kEdgeSite);
  ASSERT_FALSE(rig.sessions.set(0, {0, ip(kPeer4), kStampPort}));
  ASSERT_FALSE(rig.sessions.set(1, {1, ip(kPeer4), kStampPort}));  // on "lte"
  rig.site->uplinks[1]->neighbors->set_static(ip("100.64.9.1"), traboule::testing::mac(kGwMac));
  ASSERT_FALSE(
      rig.sessions.set(2, StampSession{0, ip("198.51.100.10"), 0, StampProbeKind::kIcmpEcho}));
  struct EdgeDmRow {
    uint16_t session, length, ssid;
    uint32_t s_txc;
    size_t want_len;
  };
  const EdgeDmRow rows[] = {
      {0, 44, 3, 4242, 60},    // grown to hold the TLV
      {1, 44, 3, 17, 60},      // the other uplink's counter and path
      {0, 100, 3, 4242, 100},  // long enough already: TLV then padding
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.session);
    StampRequest rq;
    rq.session = r.session;
    rq.seq = 9;
    rq.length = r.length;
    rq.ssid = r.ssid;
    ASSERT_EQ(rte_ring_enqueue_elem(rig.requests, &rq, sizeof rq), 0);
    auto sent = rig.h->idle(rte_rdtsc());
    ASSERT_EQ(sent.size(), 1u);
    ASSERT_EQ(sent[0].where, "edge:sent");
    const Bytes b = traboule::testing::from_mbuf(sent[0].pkt);
    const size_t st = 14 + 20 + 8;
    ASSERT_EQ(b.size(), st + r.want_len);
    EXPECT_TRUE(udp_ok(b, 14, 34, true));
    EXPECT_EQ(be16(b, st + 14), stamp_overlay_ssid(kEdgeSite, rig.site->uplinks[r.session]->uplink))
        << "the overlay SSID: site and path, whatever the request said";
    EXPECT_EQ(slice(b, st + 44, 16), dm_tlv(0x80, r.s_txc));
    if (r.want_len > 64) {
      EXPECT_EQ(slice(b, st + 60, 4), (Bytes{0, 1, 0, static_cast<uint8_t>(r.want_len - 64)}));
    }
    auto recs = rig.drain();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].kind, StampRecordKind::kSent);
    EXPECT_TRUE(recs[0].dm);
    EXPECT_EQ(recs[0].dm_s_txc, r.s_txc);
    EXPECT_EQ(recs[0].length, r.want_len) << "the bytes that left (volume caps count them)";
    EXPECT_EQ(recs[0].ssid, be16(b, st + 14));
  }
  // ICMP echo probes carry nothing of this.
  StampRequest rq;
  rq.session = 2;
  rq.seq = 1;
  ASSERT_EQ(rte_ring_enqueue_elem(rig.requests, &rq, sizeof rq), 0);
  auto sent = rig.h->idle(rte_rdtsc());
  ASSERT_EQ(sent.size(), 1u);
  auto recs = rig.drain();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_FALSE(recs[0].dm);
  EXPECT_EQ(recs[0].length, 44);
  // Without a site table (or site id) probes stay plain RFC 8762, 44 bytes, the request's SSID.
  Rig plain(ProbeConfig{}, true, 64, true);
  ASSERT_FALSE(plain.sessions.set(0, {0, ip(kPeer4), kStampPort}));
  rq = StampRequest{};
  rq.ssid = 3;
  ASSERT_EQ(rte_ring_enqueue_elem(plain.requests, &rq, sizeof rq), 0);
  sent = plain.h->idle(rte_rdtsc());
  ASSERT_EQ(sent.size(), 1u);
  const Bytes b = traboule::testing::from_mbuf(sent[0].pkt);
  EXPECT_EQ(b.size(), 14u + 20 + 8 + 44);
  EXPECT_EQ(be16(b, 14 + 20 + 8 + 14), 3);
  EXPECT_FALSE(plain.drain().at(0).dm);
}

TEST(ProbeStage, EdgeRecordsReadTheFilledTlvAndTheirOwnReceiveCount) {
  OverlaySites sites;
  std::vector<PassivePath> w0(kMaxUplinks * kMaxUplinks), w1(kMaxUplinks * kMaxUplinks);
  w0[0 * kMaxUplinks + 0].received = 70;  // on our uplink 0, from the hub's path 0
  w1[0 * kMaxUplinks + 2].received = 7;   // and from its path 2, on another worker
  w0[1 * kMaxUplinks + 0].received = 1;   // on our uplink 1: not this session's
  sites.attach_rx(w0.data(), kMaxUplinks);
  sites.attach_rx(w1.data(), kMaxUplinks);
  Rig rig(ProbeConfig{}, true, 64, false, &sites, false, kEdgeSite);
  ASSERT_FALSE(rig.sessions.set(3, {0, ip(kPeer4), kStampPort}));
  const uint64_t t1 = ntp_from_unix_ns(kUnix0 + 1000);
  struct RecDmRow {
    const char* what;
    Bytes tail;
    bool dm;
    StampDm want;
  };
  const RecDmRow rows[] = {
      {"filled by the hub", dm_tlv(0, 100, 98, 80), true, {100, 98, 80}},
      {"U still set: the far end did not fill it", dm_tlv(0x80, 100), false, {}},
      {"M set", dm_tlv(0x40, 100, 98, 80), false, {}},
      {"truncated", Bytes{0, 5, 0, 12, 0}, false, {}},
      {"no TLV (an RFC 8762 reflector answering 44 bytes)", {}, false, {}},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.what);
    const Bytes reply = cat(reflector_reply(77, 12, t1, t1 + 10, t1 + 20), r.tail);
    auto v = rig.h->run({load(from_reflector4().payload(reply).build(), kWanPort)});
    ASSERT_EQ(v[0].where, "edge:consumed");
    auto recs = rig.drain();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].dm, r.dm);
    EXPECT_EQ(recs[0].dm_s_txc, r.want.s_txc);
    EXPECT_EQ(recs[0].dm_r_rxc, r.want.r_rxc);
    EXPECT_EQ(recs[0].dm_r_txc, r.want.r_txc);
    EXPECT_EQ(recs[0].dm_s_rxc, r.dm ? 77u : 0u) << "our decap's count on uplink 0, all paths";
    EXPECT_EQ(recs[0].length, reply.size());
  }
  sites.detach_rx(w0.data());
  sites.detach_rx(w1.data());
}

TEST(ProbeStage, DirectMeasurementEndToEnd) {
  // The edge (site 7) probes its hub on uplink 0; the hub's probe stage knows site 7's path 0 at
  // the edge's fiber address and has counters for it; the reply becomes a record with both
  // directions' counters.
  OverlaySites edge_sites;
  edge_sites.path(0, 0).tx_seq.store(500);  // the edge sent 500 data packets on fiber
  std::vector<PassivePath> edge_rx(kMaxUplinks * kMaxUplinks);
  edge_rx[0].received = 380;  // and received 380 from the hub on it
  edge_sites.attach_rx(edge_rx.data(), kMaxUplinks);
  Rig us(ProbeConfig{}, true, 64, true, &edge_sites, false, kEdgeSite);
  ASSERT_FALSE(us.sessions.set(0, {0, ip(kPeer4), kStampPort}));

  auto far_site = peer_site();
  OverlaySites hub_sites;
  hub_sites.learn(kEdgeSite, 0, ip(kWan4), 4500, rte_rdtsc(), rte_get_tsc_hz());
  std::vector<PassivePath> hub_rx((kMaxSiteId + 1) * kMaxUplinks);
  hub_rx[kEdgeSite * kMaxUplinks].received = 490;  // 10 of the edge's 500 lost on the way up
  hub_sites.attach_rx(hub_rx.data(), kMaxSiteId + 1);
  hub_sites.path(kEdgeSite, 0).tx_seq.store(400);  // 20 of the hub's 400 lost on the way down
  SharedTscClock far_clock;
  ProbeStage hub(*far_site, {}, hub_deps(far_clock, hub_sites));
  StageHarness hh(hub);

  StampRequest rq;
  rq.seq = 1;
  std::vector<StampRecord> recs;
  ASSERT_NO_FATAL_FAILURE(hub_exchange(us, hh, rq, nullptr, &recs));
  ASSERT_EQ(recs.size(), 2u);
  const StampRecord& r = recs[1];
  EXPECT_EQ(r.kind, StampRecordKind::kReply);
  EXPECT_EQ(r.reflector_seq, 0u) << "a known peer: a stateful session";
  ASSERT_TRUE(r.dm);
  EXPECT_EQ(r.dm_s_txc, 500u);
  EXPECT_EQ(r.dm_r_rxc, 490u);
  EXPECT_EQ(r.dm_r_txc, 400u);
  EXPECT_EQ(r.dm_s_rxc, 380u);
  EXPECT_EQ(r.ssid, stamp_overlay_ssid(kEdgeSite, 0));
  EXPECT_EQ(hub.stats().dm_filled, 1u);
  edge_sites.detach_rx(edge_rx.data());
  hub_sites.detach_rx(hub_rx.data());
}

// Per-class direct measurement (our TLV 252 after the DM TLV): entries of S_TxC, R_RxC, R_TxC
// for the overlay's traffic classes 1..n.
Bytes class_tlv(uint8_t flags, std::vector<std::array<uint32_t, 3>> e, int len = -1) {
  Bytes t(4 + 12 * e.size(), 0);
  t[0] = flags;
  t[1] = 252;
  put16(t, 2, static_cast<uint16_t>(len < 0 ? 12 * e.size() : size_t(len)));
  for (size_t i = 0; i < e.size(); ++i)
    for (size_t k = 0; k < 3; ++k) put32(t, 4 + 12 * i + 4 * k, e[i][k]);
  return t;
}

TEST(StampFormat, ClassDmTlvEncodes) {
  StampSenderPacket s{1, 2, ErrorEstimate{}, 0x8007};
  StampDm dm{100, 0, 0};
  dm.classes = 2;
  dm.c_s_txc = {60, 40};
  const Bytes base = sender_bytes(1, 2, ErrorEstimate{}.encode(), 0x8007);
  const Bytes tlvs = cat(dm_tlv(0x80, 100), class_tlv(0x80, {{60, 0, 0}, {40, 0, 0}}));
  ASSERT_EQ(stamp_dm_packet_len(2), 44u + 16 + 4 + 24);
  struct EncCRow {
    size_t len;
    StampStatus want;
    Bytes tail;
  };
  const EncCRow rows[] = {
      {60, StampStatus::kTooShort, {}},
      {87, StampStatus::kTooShort, {}},
      {88, StampStatus::kOk, tlvs},
      {100, StampStatus::kOk, cat(tlvs, cat(Bytes{0, 1, 0, 8}, Bytes(8, 0)))},
  };
  for (const EncCRow& r : rows) {
    SCOPED_TRACE(r.len);
    Bytes out(r.len, 0xee);
    EXPECT_EQ(encode_sender(s, out, &dm), r.want);
    if (r.want != StampStatus::kOk) {
      EXPECT_EQ(out, Bytes(r.len, 0xee));
      continue;
    }
    EXPECT_EQ(out, cat(base, r.tail));
  }
  StampDm eight = dm;
  eight.classes = 8;
  Bytes out(200, 0xee);
  EXPECT_EQ(encode_sender(s, out, &eight), StampStatus::kTooLong) << "at most 7 classes";
  EXPECT_EQ(out, Bytes(200, 0xee));
}

TEST(StampFormat, ClassDmTlvDecodeHostileRows) {
  const Bytes base = cat(sender_bytes(1, 2, 3, 4), dm_tlv(0, 10, 20, 30));
  struct DecCRow {
    const char* what;
    Bytes tail;
    uint8_t classes;  // what decode_dm reports (its DM part is always kOk here)
    uint32_t first_r_rxc = 0;
  };
  const DecCRow rows[] = {
      {"none", {}, 0},
      {"two, filled", class_tlv(0, {{1, 2, 3}, {4, 5, 6}}), 2, 2},
      {"seven, filled", class_tlv(0, std::vector<std::array<uint32_t, 3>>(7, {7, 8, 9})), 7, 8},
      {"U set: the reflector could not fill it", class_tlv(0x80, {{1, 2, 3}}), 0},
      {"M set", class_tlv(0x40, {{1, 2, 3}}), 0},
      {"eight entries: more than there are classes",
       class_tlv(0, std::vector<std::array<uint32_t, 3>>(8, {1, 1, 1})), 0},
      {"length 13, not a multiple of 12", cat(class_tlv(0, {{1, 2, 3}}, 13), Bytes{0}), 0},
      {"length 0", class_tlv(0, {}, 0), 0},
      {"length past the packet", class_tlv(0, {{1, 2, 3}}, 24), 0},
      {"after an unknown TLV", cat(Bytes{0, 77, 0, 0}, class_tlv(0, {{1, 2, 3}})), 1, 2},
  };
  for (const DecCRow& r : rows) {
    SCOPED_TRACE(r.what);
    const Bytes pkt = cat(base, r.tail);
    StampDm dm;
    dm.classes = 99;
    EXPECT_EQ(decode_dm(pkt, &dm), StampDmStatus::kOk);
    EXPECT_EQ(dm.classes, r.classes);
    EXPECT_EQ(dm.s_txc, 10u);
    if (r.classes > 0) {
      EXPECT_EQ(dm.c_r_rxc[0], r.first_r_rxc);
    }
  }
}

TEST(StampFormat, ReflectClassDmRows) {
  const Bytes base = cat(sender_bytes(1, 2, 3, 4), dm_tlv(0x80, 7));
  StampDm c{0, 0x11, 0x22};
  c.classes = 7;
  for (uint8_t i = 0; i < 7; ++i) {
    c.c_r_rxc[i] = 100u + i;
    c.c_r_txc[i] = 200u + i;
  }
  StampDm two = c;
  two.classes = 2;
  struct ReflCRow {
    const char* what;
    Bytes tail;
    const StampDm* counters;
    Bytes after;
  };
  const ReflCRow rows[] = {
      {"filled: U cleared, S_TxC kept", class_tlv(0x80, {{5, 0, 0}, {6, 0, 0}}), &c,
       class_tlv(0, {{5, 100, 200}, {6, 101, 201}})},
      {"no counters: U set, values as sent", class_tlv(0, {{5, 1, 1}}), nullptr,
       class_tlv(0x80, {{5, 1, 1}})},
      {"asks for more classes than counted: U set", class_tlv(0, {{5, 1, 1}, {6, 1, 1}, {7, 1, 1}}),
       &two, class_tlv(0x80, {{5, 1, 1}, {6, 1, 1}, {7, 1, 1}})},
      {"bad length: M set", cat(class_tlv(0x80, {{5, 1, 1}}, 8), Bytes{}), &c,
       class_tlv(0xc0, {{5, 1, 1}}, 8)},
      {"overrunning: untouched", class_tlv(0x80, {{5, 0, 0}}, 40), &c,
       class_tlv(0x80, {{5, 0, 0}}, 40)},
  };
  for (const ReflCRow& r : rows) {
    SCOPED_TRACE(r.what);
    Bytes pkt = cat(base, r.tail);
    reflect_dm(pkt, r.counters);
    EXPECT_EQ(slice(pkt, 44 + 16, r.after.size()), r.after);
  }
}

// Both ends of one path, per class: the edge's encap sent 300 voice packets on fiber and its
// qos stage dropped 10 of them afterwards; the hub received 280; the hub sent 100 voice packets
// back, the edge received 95. The record carries each, and the totals exclude our own drops.
TEST(ProbeStage, ClassDirectMeasurementEndToEnd) {
  OverlaySites edge_sites;
  edge_sites.path(0, 0).tx_seq.store(500);
  edge_sites.path(0, 0).tx_cls[1].store(300);
  edge_sites.path(0, 0).dropped_cls[1].store(10);
  edge_sites.path(0, 0).tx_cls[2].store(200);
  std::vector<PassivePath> edge_rx(kMaxUplinks * kMaxUplinks);
  edge_rx[0].received = 380;
  edge_rx[0].received_cls[1] = 95;
  edge_rx[0].received_cls[2] = 285;
  edge_sites.attach_rx(edge_rx.data(), kMaxUplinks);
  Rig us(ProbeConfig{}, true, 64, true, &edge_sites, false, kEdgeSite);
  ASSERT_FALSE(us.sessions.set(0, {0, ip(kPeer4), kStampPort}));

  auto far_site = peer_site();
  OverlaySites hub_sites;
  hub_sites.learn(kEdgeSite, 0, ip(kWan4), 4500, rte_rdtsc(), rte_get_tsc_hz());
  std::vector<PassivePath> hub_rx((kMaxSiteId + 1) * kMaxUplinks);
  hub_rx[kEdgeSite * kMaxUplinks].received = 470;
  hub_rx[kEdgeSite * kMaxUplinks].received_cls[1] = 280;
  hub_rx[kEdgeSite * kMaxUplinks].received_cls[2] = 190;
  hub_sites.attach_rx(hub_rx.data(), kMaxSiteId + 1);
  hub_sites.path(kEdgeSite, 0).tx_seq.store(400);
  hub_sites.path(kEdgeSite, 0).tx_cls[1].store(100);
  hub_sites.path(kEdgeSite, 0).tx_cls[2].store(300);
  hub_sites.path(kEdgeSite, 0).dropped_cls[2].store(5);
  SharedTscClock far_clock;
  ProbeStage hub(*far_site, {}, hub_deps(far_clock, hub_sites));
  StageHarness hh(hub);

  StampRequest rq;
  rq.seq = 1;
  rq.classes = 2;
  size_t sent_len = 0;
  std::vector<StampRecord> recs;
  ASSERT_NO_FATAL_FAILURE(hub_exchange(us, hh, rq, &sent_len, &recs));
  EXPECT_EQ(sent_len, 14u + 20 + 8 + 44 + 16 + 4 + 24);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].dm_classes, 2);
  EXPECT_EQ(recs[0].c_s_txc[0], 290u);
  const StampRecord& r = recs[1];
  ASSERT_TRUE(r.dm);
  EXPECT_EQ(r.dm_s_txc, 490u) << "500 encapsulated, 10 dropped by our own qos";
  EXPECT_EQ(r.dm_r_txc, 395u) << "the hub's own drops are out too";
  ASSERT_EQ(r.dm_classes, 2);
  EXPECT_EQ(r.c_s_txc[0], 290u);
  EXPECT_EQ(r.c_r_rxc[0], 280u);
  EXPECT_EQ(r.c_r_txc[0], 100u);
  EXPECT_EQ(r.c_s_rxc[0], 95u);
  EXPECT_EQ(r.c_s_txc[1], 200u);
  EXPECT_EQ(r.c_r_rxc[1], 190u);
  EXPECT_EQ(r.c_r_txc[1], 295u);
  EXPECT_EQ(r.c_s_rxc[1], 285u);
  edge_sites.detach_rx(edge_rx.data());
  hub_sites.detach_rx(hub_rx.data());
}

// ---------------------------------------------------------------------------------------------
// ICMP echo probes (breakout targets): requests built on the sending worker, replies to our
// probes recorded, every other echo reply left to the later stages (nat_in, local).

constexpr const char* kTarget4 = "198.51.100.10";
constexpr const char* kTarget6 = "2001:db8:99::10";

// RFC 1071 over the ICMP message; ICMPv6 adds the pseudo-header (RFC 4443 §2.3).
bool icmp_ok(const Bytes& b, size_t l3, size_t l4, bool v4) {
  const size_t len = b.size() - l4;
  uint32_t acc = 0;
  if (!v4) {
    acc = sum16(&b[l3 + 8], 32);
    acc += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff) + IPPROTO_ICMPV6;
  }
  return fold(sum16(&b[l4], len, acc)) == 0xffff;
}

// Our echo data, written here byte by byte: magic, 32-bit seq, T1, SSID, error estimate, zeros.
Bytes echo_data(uint32_t seq, uint64_t t1, uint16_t ssid = 0x0101, size_t len = 44,
                uint32_t magic = 0x54524231) {
  Bytes b(std::max<size_t>(len, 20), 0);
  put32(b, 0, magic);
  put32(b, 4, seq);
  put64(b, 8, t1);
  put16(b, 16, ssid);
  put16(b, 18, 0x8a01);
  b.resize(len);
  return b;
}
PacketBuilder echo_reply4(uint16_t id, uint16_t seq16, const char* src = kTarget4,
                          const char* dst = kWan4, Ipv4Opts o = {}) {
  if (o.ttl == 64) o.ttl = 57;
  return PacketBuilder().eth(kWanMac, kGwMac).ipv4(src, dst, o).icmp(0, 0, id, seq16);
}
Frame echo_reply6(uint16_t id, uint16_t seq16, const Bytes& data, uint8_t type = 129) {
  Bytes body(4, 0);
  put16(body, 0, id);
  put16(body, 2, seq16);
  body.insert(body.end(), data.begin(), data.end());
  Ipv6Opts o;
  o.hop_limit = 50;
  return PacketBuilder()
      .eth(kWanMac, kGw6Mac)
      .ipv6(kTarget6, kWan6, o)
      .icmpv6(type, 0, body)
      .build();
}

StampSession echo_session(uint8_t uplink, const char* remote) {
  StampSession s;
  s.uplink = uplink;
  s.remote = ip(remote);
  s.remote_port = 0;
  s.kind = StampProbeKind::kIcmpEcho;
  return s;
}

TEST(ProbeStage, EchoSessionsInTheTable) {
  StampSessionTable t(kSenderBase);
  struct TableRow {
    const char* name;
    StampSession s;
    const char* error;  // substring, or nullptr when accepted
  };
  StampSession with_port = echo_session(0, kTarget4);
  with_port.remote_port = 7;
  StampSession bad_kind = echo_session(0, kTarget4);
  bad_kind.kind = static_cast<StampProbeKind>(9);
  StampSession loopback = echo_session(0, "127.0.0.1");
  const TableRow rows[] = {
      {"IPv4 echo, port 0", echo_session(0, kTarget4), nullptr},
      {"IPv6 echo, port 0", echo_session(0, kTarget6), nullptr},
      {"echo with a port", with_port, "remote port 7 given for an ICMP echo session"},
      {"unknown kind", bad_kind, "kind 9 unknown"},
      {"loopback target", loopback, "remote 127.0.0.1 is not a unicast"},
  };
  uint16_t id = 0;
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    auto err = t.set(id, r.s);
    if (r.error == nullptr) {
      EXPECT_FALSE(err) << *err;
      StampSession got;
      ASSERT_TRUE(t.get(id, &got));
      EXPECT_EQ(got.kind, StampProbeKind::kIcmpEcho);
      EXPECT_EQ(got.remote, r.s.remote);
      EXPECT_EQ(got.remote_port, 0);
    } else {
      ASSERT_TRUE(err);
      EXPECT_NE(err->find(r.error), std::string::npos) << *err;
      StampSession got;
      EXPECT_FALSE(t.get(id, &got));
    }
    ++id;
  }
  // A STAMP session written over an echo slot reads back as STAMP.
  ASSERT_FALSE(t.set(0, {0, ip(kPeer4), kStampPort}));
  StampSession got;
  ASSERT_TRUE(t.get(0, &got));
  EXPECT_EQ(got.kind, StampProbeKind::kStamp);
  EXPECT_STREQ(to_string(StampProbeKind::kIcmpEcho), "icmp");
  EXPECT_STREQ(to_string(StampProbeKind::kStamp), "stamp");
}

TEST(ProbeStage, SenderBuildsEchoRequests) {
  struct EchoRow {
    const char* name;
    uint16_t session;
    uint8_t uplink;
    const char* target;
    uint16_t length;
    std::string want;  // "edge:sent" or "failed:<reason>"
    const char* dst_mac = nullptr;
  };
  const EchoRow rows[] = {
      {"IPv4 via the gateway", 20, 0, kTarget4, 44, "edge:sent", kGwMac},
      {"IPv4, 100 bytes of data", 21, 0, kTarget4, 100, "edge:sent", kGwMac},
      {"IPv4 on-link target: its own MAC", 22, 0, "203.0.113.50", 44, "edge:sent", kPeerMac},
      {"IPv6 via the link-local gateway", 23, 0, kTarget6, 44, "edge:sent", kGw6Mac},
      {"no IPv6 on lte", 24, 1, kTarget6, 44, "failed:no_source_address"},
      {"gateway of lte not resolved", 25, 1, kTarget4, 44, "failed:next_hop_unresolved"},
      {"43 bytes asked", 26, 0, kTarget4, 43, "failed:bad_length"},
      {"too long asked", 27, 0, kTarget4, kStampMaxPacketLen + 1, "failed:bad_length"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    Rig rig(ProbeConfig{}, true, 64, /*sender=*/true);
    ASSERT_FALSE(rig.sessions.set(r.session, echo_session(r.uplink, r.target)));
    StampRequest rq;
    rq.session = r.session;
    rq.seq = 0x0012abcd;  // the echo header carries the low 16 bits
    rq.length = r.length;
    rq.dscp = 46;
    rq.ssid = 0x0101;
    ASSERT_EQ(rte_ring_enqueue_elem(rig.requests, &rq, sizeof rq), 0);
    const uint64_t before = rte_rdtsc();
    auto v = rig.h->idle(rte_rdtsc());
    auto recs = rig.drain();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].session, r.session);
    EXPECT_EQ(recs[0].seq, 0x0012abcdu);
    if (r.want.rfind("failed:", 0) == 0) {
      EXPECT_TRUE(v.empty());
      EXPECT_EQ(recs[0].kind, StampRecordKind::kSendFailed);
      EXPECT_EQ(std::string("failed:") + to_string(recs[0].failure), r.want);
      EXPECT_EQ(rig.stage->stats().echo_sent, 0u);
      continue;
    }
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].where, r.want);
    EXPECT_EQ(recs[0].kind, StampRecordKind::kSent);
    const Bytes b = traboule::testing::from_mbuf(v[0].pkt);
    const PacketMeta& md = meta(v[0].pkt);
    const bool v4 = ip(r.target).is_v4();
    const size_t l3 = 14, l4 = l3 + (v4 ? 20 : 40), data = l4 + 8;
    ASSERT_EQ(b.size(), data + r.length);
    EXPECT_EQ(slice(b, 0, 6), mac_bytes(r.dst_mac));
    EXPECT_EQ(slice(b, 6, 6), mac_bytes(kWanMac));
    if (v4) {
      EXPECT_EQ(be16(b, 12), 0x0800);
      EXPECT_EQ(b[l3 + 1], 46 << 2) << "DSCP";
      EXPECT_EQ(be16(b, l3 + 2), 20 + 8 + r.length);
      EXPECT_EQ(be16(b, l3 + 6), 0x4000) << "DF";
      EXPECT_EQ(b[l3 + 8], 255);
      EXPECT_EQ(b[l3 + 9], IPPROTO_ICMP);
      EXPECT_TRUE(ipv4_header_ok(b, l3));
      EXPECT_EQ(slice(b, l3 + 12, 4), ip_bytes(kWan4));
      EXPECT_EQ(slice(b, l3 + 16, 4), ip_bytes(r.target));
      EXPECT_EQ(b[l4], 8) << "echo request";
    } else {
      EXPECT_EQ(be16(b, 12), 0x86dd);
      EXPECT_EQ(be32(b, l3), 0x6b800000u) << "version, DSCP 46";
      EXPECT_EQ(be16(b, l3 + 4), 8 + r.length);
      EXPECT_EQ(b[l3 + 6], IPPROTO_ICMPV6);
      EXPECT_EQ(b[l3 + 7], 255);
      EXPECT_EQ(slice(b, l3 + 8, 16), ip_bytes(kWan6));
      EXPECT_EQ(slice(b, l3 + 24, 16), ip_bytes(r.target));
      EXPECT_EQ(b[l4], 128) << "echo request";
    }
    EXPECT_EQ(b[l4 + 1], 0) << "code";
    EXPECT_TRUE(icmp_ok(b, l3, l4, v4)) << "ICMP checksum";
    EXPECT_EQ(be16(b, l4 + 4), kSenderBase + r.session) << "identifier = the session's port";
    EXPECT_EQ(be16(b, l4 + 6), 0xabcd) << "sequence = low 16 bits";
    EXPECT_EQ(be32(b, data), 0x54524231u) << "magic";
    EXPECT_EQ(be32(b, data + 4), 0x0012abcdu) << "the full sequence number";
    EXPECT_EQ(be64(b, data + 8), recs[0].t1) << "the record carries the T1 that was sent";
    EXPECT_EQ(be16(b, data + 16), 0x0101) << "SSID";
    EXPECT_EQ(be16(b, data + 18), 0x8a01) << "our error estimate";
    EXPECT_EQ(slice(b, data + 20, r.length - 20u), Bytes(r.length - 20u, 0)) << "zeros";
    TscClock c = rig.clock.load();
    EXPECT_GE(ntp_diff_ns(recs[0].t1, c.ntp(before)), 0);
    EXPECT_LE(ntp_diff_ns(recs[0].t1, c.ntp(rte_rdtsc())), 0);
    EXPECT_EQ(md.l4_proto, v4 ? uint8_t{IPPROTO_ICMP} : uint8_t{IPPROTO_ICMPV6});
    EXPECT_EQ(md.src_port, kSenderBase + r.session);
    EXPECT_EQ(md.dst_port, kSenderBase + r.session);
    EXPECT_EQ(md.out_port, kWanPort);
    EXPECT_EQ(md.dst, ip(r.target));
    EXPECT_EQ(md.l3_total, b.size() - 14);
    EXPECT_EQ(rig.stage->stats().probes_sent, 1u);
    EXPECT_EQ(rig.stage->stats().echo_sent, 1u);
  }
}

TEST(ProbeStage, EchoRepliesToOurProbesBecomeRecords) {
  Rig rig;
  ASSERT_FALSE(rig.sessions.set(3, echo_session(0, kTarget4)));
  ASSERT_FALSE(rig.sessions.set(4, echo_session(0, kTarget6)));
  ASSERT_FALSE(rig.sessions.set(5, {0, ip(kTarget4), kStampPort}));  // a STAMP session
  ASSERT_FALSE(rig.sessions.set(7, echo_session(1, kTarget4)));      // on "lte"
  const uint16_t id3 = kSenderBase + 3;
  const uint64_t t1 = ntp_from_unix_ns(kUnix0 + 1000);
  const uint32_t seq = 0x00070042;
  const Bytes data = echo_data(seq, t1);
  std::vector<Row> rows = {
      {"IPv4 reply to session 3",
       [&] { return load(echo_reply4(id3, 0x0042).payload(data).build(), kWanPort); },
       "edge:consumed"},
      {"IPv6 reply to session 4",
       [&] { return load(echo_reply6(kSenderBase + 4, 0x0042, data), kWanPort); }, "edge:consumed"},
      {"IPv4 reply with 200 bytes of data",
       [&] {
         return load(echo_reply4(id3, 0x0043).payload(echo_data(seq + 1, t1, 0x0101, 200)).build(),
                     kWanPort);
       },
       "edge:consumed"},
      // Not ours: on to nat_in / local, untouched.
      {"identifier in a NAT range (a LAN host's ping)",
       [&] { return load(echo_reply4(49152, 0x0042).payload(data).build(), kWanPort); },
       "edge:next"},
      {"identifier of a STAMP session",
       [&] { return load(echo_reply4(kSenderBase + 5, 0x0042).payload(data).build(), kWanPort); },
       "edge:next"},
      {"identifier of an inactive session",
       [&] { return load(echo_reply4(kSenderBase + 6, 0x0042).payload(data).build(), kWanPort); },
       "edge:next"},
      {"from another address",
       [&] {
         return load(echo_reply4(id3, 0x0042, "198.51.100.99").payload(data).build(), kWanPort);
       },
       "edge:next"},
      {"to another address (transit)",
       [&] {
         return load(echo_reply4(id3, 0x0042, kTarget4, "203.0.113.77").payload(data).build(),
                     kWanPort);
       },
       "edge:next"},
      {"to the LAN address, on the WAN port",
       [&] {
         return load(echo_reply4(id3, 0x0042, kTarget4, kLan4).payload(data).build(), kWanPort);
       },
       "edge:next"},
      {"session 7 belongs to lte, reply came on fiber",
       [&] { return load(echo_reply4(kSenderBase + 7, 0x0042).payload(data).build(), kWanPort); },
       "edge:next"},
      {"truncated: 12 bytes of data, no room for our header",
       [&] { return load(echo_reply4(id3, 0x0042).payload(slice(data, 0, 12)).build(), kWanPort); },
       "edge:next"},
      {"no data at all", [&] { return load(echo_reply4(id3, 0x0042).build(), kWanPort); },
       "edge:next"},
      {"another program's data (no magic)",
       [&] {
         return load(
             echo_reply4(id3, 0x0042).payload(echo_data(seq, t1, 1, 44, 0x01020304)).build(),
             kWanPort);
       },
       "edge:next"},
      {"echo sequence disagrees with ours",
       [&] { return load(echo_reply4(id3, 0x0041).payload(data).build(), kWanPort); }, "edge:next"},
      {"an echo request with our identifier",
       [&] {
         return load(PacketBuilder()
                         .eth(kWanMac, kGwMac)
                         .ipv4(kTarget4, kWan4)
                         .icmp(8, 0, id3, 0x0042)
                         .payload(data)
                         .build(),
                     kWanPort);
       },
       "edge:next"},
      {"ICMPv6 echo request with our identifier",
       [&] { return load(echo_reply6(kSenderBase + 4, 0x0042, data, 128), kWanPort); },
       "edge:next"},
      {"first fragment of a reply",
       [&] {
         Ipv4Opts o;
         o.mf = true;
         return load(echo_reply4(id3, 0x0042, kTarget4, kWan4, o).payload(data).build(), kWanPort);
       },
       "edge:next"},
      // Ours, damaged.
      {"bad ICMP checksum",
       [&] {
         Frame f = echo_reply4(id3, 0x0042).payload(data).build();
         f.set16(f.l4_off + 2, static_cast<uint16_t>(f.get16(f.l4_off + 2) + 1));
         return load(f, kWanPort);
       },
       "drop:bad_icmp_checksum"},
      {"bad ICMPv6 checksum",
       [&] {
         Frame f = echo_reply6(kSenderBase + 4, 0x0042, data);
         f.set16(f.l4_off + 2, static_cast<uint16_t>(f.get16(f.l4_off + 2) ^ 0x0100));
         return load(f, kWanPort);
       },
       "drop:bad_icmp_checksum"},
  };
  run_rows(rig, rows);
  auto recs = rig.drain();
  ASSERT_EQ(recs.size(), 3u);
  for (const StampRecord& r : recs) {
    EXPECT_EQ(r.kind, StampRecordKind::kReply);
    EXPECT_EQ(r.t1, t1) << "T1 as echoed";
    EXPECT_EQ(r.t2, 0u) << "no reflector timestamps";
    EXPECT_EQ(r.t3, 0u);
    EXPECT_GE(ntp_diff_ns(r.t4, ntp_from_unix_ns(kUnix0)), 0);
    EXPECT_EQ(r.reflector_error, 0) << "multiplier 0: never used for one-way figures";
    EXPECT_EQ(r.sender_error, 0x8a01);
    EXPECT_EQ(r.ssid, 0x0101);
    EXPECT_EQ(r.sender_ttl, 0) << "unknown";
    EXPECT_EQ(r.reflector_seq, r.seq) << "a stateless reflector";
  }
  EXPECT_EQ(recs[0].session, 3);
  EXPECT_EQ(recs[0].seq, seq) << "the full 32-bit sequence number, from the data";
  EXPECT_EQ(recs[0].reply_ttl, 57);
  EXPECT_EQ(recs[0].length, 44);
  EXPECT_EQ(recs[1].session, 4);
  EXPECT_EQ(recs[1].reply_ttl, 50);
  EXPECT_EQ(recs[2].seq, seq + 1);
  EXPECT_EQ(recs[2].length, 200);
  EXPECT_EQ(rig.stage->stats().echo_replies, 3u);
}

TEST(ProbeStage, EchoReplyWithoutClockOrRoom) {
  Rig no_clock(ProbeConfig{}, /*clock_set=*/false);
  ASSERT_FALSE(no_clock.sessions.set(3, echo_session(0, kTarget4)));
  const Bytes data = echo_data(9, 1);
  auto v = no_clock.h->run({load(echo_reply4(kSenderBase + 3, 9).payload(data).build(), kWanPort)});
  EXPECT_EQ(v[0].where, "drop:clock_unset");

  Rig full(ProbeConfig{}, true, /*ring_size=*/2);  // one usable slot
  ASSERT_FALSE(full.sessions.set(3, echo_session(0, kTarget4)));
  v = full.h->run({load(echo_reply4(kSenderBase + 3, 9).payload(data).build(), kWanPort),
                   load(echo_reply4(kSenderBase + 3, 9).payload(data).build(), kWanPort)});
  EXPECT_EQ(v[0].where, "edge:consumed");
  EXPECT_EQ(v[1].where, "drop:result_ring_full");
}

// The target as a Linux host answers: addresses swapped, type 0 (or 129), checksum redone, the
// rest (identifier, sequence, data) as it came.
Frame answer_echo(const Bytes& req) {
  Bytes b = req;
  const bool v4 = be16(b, 12) == 0x0800;
  const size_t l3 = 14, l4 = l3 + (v4 ? 20 : 40);
  for (size_t i = 0; i < 6; ++i) std::swap(b[i], b[6 + i]);
  if (v4) {
    for (size_t i = 0; i < 4; ++i) std::swap(b[l3 + 12 + i], b[l3 + 16 + i]);
    b[l3 + 8] = 61;
  } else {
    for (size_t i = 0; i < 16; ++i) std::swap(b[l3 + 8 + i], b[l3 + 24 + i]);
    b[l3 + 7] = 61;
  }
  b[l4] = v4 ? 0 : 129;
  put16(b, l4 + 2, 0);
  uint32_t acc = 0;
  const size_t len = b.size() - l4;
  if (!v4) acc = sum16(&b[l3 + 8], 32) + static_cast<uint32_t>(len) + IPPROTO_ICMPV6;
  put16(b, l4 + 2, static_cast<uint16_t>(~fold(sum16(&b[l4], len, acc))));
  Frame f;
  f.bytes = b;
  f.l3_off = l3;
  f.l4_off = l4;
  if (v4) f.fix_ipv4_checksum();
  return f;
}

TEST(ProbeStage, EchoProbeAnsweredEndToEnd) {
  struct E2eRow {
    const char* name;
    const char* target;
    uint32_t seq;
  };
  const E2eRow rows[] = {
      {"IPv4", kTarget4, 5},
      {"IPv6", kTarget6, 6},
      {"sequence past 16 bits", kTarget4, 0x12345},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    Rig us(ProbeConfig{}, true, 64, true);
    ASSERT_FALSE(us.sessions.set(9, echo_session(0, r.target)));
    StampRequest rq;
    rq.session = 9;
    rq.seq = r.seq;
    rq.length = 56;
    ASSERT_EQ(rte_ring_enqueue_elem(us.requests, &rq, sizeof rq), 0);
    auto sent = us.h->idle(rte_rdtsc());
    ASSERT_EQ(sent.size(), 1u);
    const Frame back = answer_echo(traboule::testing::from_mbuf(sent[0].pkt));
    auto got = us.h->run({load(back, kWanPort)});
    ASSERT_EQ(got[0].where, "edge:consumed");
    auto recs = us.drain();
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0].kind, StampRecordKind::kSent);
    EXPECT_EQ(recs[1].kind, StampRecordKind::kReply);
    EXPECT_EQ(recs[1].session, 9);
    EXPECT_EQ(recs[1].seq, r.seq);
    EXPECT_EQ(recs[1].t1, recs[0].t1) << "the T1 we stamped comes back";
    EXPECT_GE(ntp_diff_ns(recs[1].t4, recs[1].t1), 0);
    EXPECT_LT(ntp_diff_ns(recs[1].t4, recs[1].t1), 1'000'000'000);
    EXPECT_EQ(recs[1].length, 56);
    EXPECT_EQ(recs[1].reply_ttl, 61);
    // The same answer once the session is gone is nobody's probe any more: it goes on.
    us.sessions.clear(9);
    auto late = us.h->run({load(back, kWanPort)});
    EXPECT_EQ(late[0].where, "edge:next");
  }
}

}  // namespace
}  // namespace traboule::dp

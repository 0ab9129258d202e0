// SPDX-License-Identifier: Apache-2.0
// The FPM decoder on byte spans (frames as zebra's dplane_fpm_nl sends them, built here byte by
// byte), each hostile row with its own counter, the RIB's resync rule, and the server on a real
// TCP socket (split frames, reconnection with a partial replay, a stream out of step).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "controlplane/routing/fpm.h"
#include "controlplane/routing/fpm_server.h"
#include "controlplane/routing/rib.h"

namespace traboule::cp {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
  b.insert(b.end(), {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)});  // host (LE)
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v));
  put16(b, static_cast<uint16_t>(v >> 16));
}
void pad4(Bytes& b) {
  while (b.size() % 4 != 0) b.push_back(0);
}

Bytes ip(const char* text) {
  Bytes out(16);
  if (inet_pton(AF_INET, text, out.data()) == 1)
    out.resize(4);
  else
    EXPECT_EQ(inet_pton(AF_INET6, text, out.data()), 1) << text;
  return out;
}

// rtattr: len = 4 + payload (unless forced), payload, padding.
Bytes attr(uint16_t type, const Bytes& payload, int force_len = -1) {
  Bytes b;
  put16(b, static_cast<uint16_t>(force_len >= 0 ? force_len : 4 + payload.size()));
  put16(b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  pad4(b);
  return b;
}
Bytes u32(uint32_t v) {
  Bytes b;
  put32(b, v);
  return b;
}
Bytes rtnh(const char* gw, uint32_t ifindex, int force_len = -1) {
  Bytes gwa = attr(5, ip(gw));
  Bytes b;
  put16(b, static_cast<uint16_t>(force_len >= 0 ? force_len : 8 + gwa.size()));
  b.push_back(0);  // flags
  b.push_back(0);  // hops
  put32(b, ifindex);
  b.insert(b.end(), gwa.begin(), gwa.end());
  return b;
}

struct Msg {
  uint16_t nl_type = 24;
  uint8_t family = 2, dst_len = 24, protocol = 196, type = 1;
  std::vector<Bytes> attrs;
  int force_nl_len = -1;
  int cut_rtmsg = -1;  // keep only this many bytes of the rtmsg
};

Bytes netlink(const Msg& m) {
  Bytes body = {m.family, m.dst_len, 0, 0, 254, m.protocol, 0, m.type};
  put32(body, 0);
  if (m.cut_rtmsg >= 0) body.resize(static_cast<size_t>(m.cut_rtmsg));
  for (const Bytes& a : m.attrs) body.insert(body.end(), a.begin(), a.end());
  Bytes b;
  put32(b, static_cast<uint32_t>(m.force_nl_len >= 0 ? m.force_nl_len : 16 + body.size()));
  put16(b, m.nl_type);
  put16(b, 0x501);
  put32(b, 1);
  put32(b, 0);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

Bytes frame(const Bytes& payload, uint8_t version = 1, uint8_t type = 1, int force_len = -1) {
  const size_t len = force_len >= 0 ? static_cast<size_t>(force_len) : 4 + payload.size();
  // Sized once and filled: GCC 12 at -O3 reads an insert after a 4-byte initializer list as an
  // out-of-bounds copy (-Warray-bounds, a false positive that broke the release preset).
  Bytes b(4 + payload.size());
  b[0] = version;
  b[1] = type;
  b[2] = static_cast<uint8_t>(len >> 8);
  b[3] = static_cast<uint8_t>(len);
  std::copy(payload.begin(), payload.end(), b.begin() + 4);
  return b;
}

Msg static_v4() {
  return Msg{
      24,
      2,
      24,
      196,
      1,
      {attr(1, ip("172.31.250.0")), attr(6, u32(20)), attr(5, ip("10.201.12.2")), attr(4, u32(16))}};
}

std::vector<RouteUpdate> decode(const Bytes& b, FpmCounters* c, FrameStatus want) {
  std::vector<RouteUpdate> out;
  size_t used = 0;
  EXPECT_EQ(decode_fpm_frame(b, false, &used, &out, c), want);
  EXPECT_LE(used, b.size());
  return out;
}

TEST(Fpm, StaticRouteWithGateway) {
  FpmCounters c;
  auto out = decode(frame(netlink(static_v4())), &c, FrameStatus::kOk);
  ASSERT_EQ(out.size(), 1u);
  const Route& r = out[0].route;
  EXPECT_TRUE(out[0].add);
  EXPECT_EQ(r.prefix.str(), "172.31.250.0/24");
  EXPECT_EQ(r.family_len(), 24);
  EXPECT_EQ(route_protocol_name(r.protocol), "static");
  EXPECT_EQ(r.metric, 20u);
  EXPECT_EQ(r.table, 254u);
  ASSERT_EQ(r.next_hops.size(), 1u);
  EXPECT_EQ(r.next_hops[0].gateway.str(), "10.201.12.2");
  EXPECT_EQ(r.next_hops[0].ifindex, 16u);
  EXPECT_EQ(c[FpmCounter::kFrames], 1u);
  EXPECT_EQ(c[FpmCounter::kRoutesAdded], 1u);
}

TEST(Fpm, MultipathBlackholeV6AndTwoMessagesPerFrame) {
  Msg mp{24, 2, 16, 186, 1, {attr(1, ip("100.64.0.0"))}};
  Bytes hops = rtnh("10.201.12.2", 16);
  Bytes h2 = rtnh("10.201.12.3", 17);
  hops.insert(hops.end(), h2.begin(), h2.end());
  mp.attrs.push_back(attr(9, hops));
  Msg bh{24, 10, 64, 196, 6, {attr(1, ip("2001:db8:1::")), attr(15, u32(254))}};
  Msg del = static_v4();
  del.nl_type = 25;
  Bytes payload = netlink(del);
  for (const Msg* m : {&mp, &bh}) {
    Bytes n = netlink(*m);
    payload.insert(payload.end(), n.begin(), n.end());
  }
  FpmCounters c;
  auto out = decode(frame(payload), &c, FrameStatus::kOk);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].add);
  EXPECT_EQ(out[1].route.prefix.str(), "100.64.0.0/16");
  EXPECT_EQ(route_protocol_name(out[1].route.protocol), "bgp");
  ASSERT_EQ(out[1].route.next_hops.size(), 2u);
  EXPECT_EQ(out[1].route.next_hops[1].gateway.str(), "10.201.12.3");
  EXPECT_EQ(out[1].route.next_hops[1].ifindex, 17u);
  EXPECT_EQ(out[2].route.prefix.str(), "2001:db8:1::/64");
  EXPECT_STREQ(route_type_name(out[2].route.type), "blackhole");
  EXPECT_TRUE(out[2].route.next_hops.empty());
  EXPECT_EQ(c[FpmCounter::kRoutesDeleted], 1u);
  EXPECT_EQ(c[FpmCounter::kRoutesAdded], 2u);
}

struct HostileRow {
  const char* name;
  Bytes bytes;
  FrameStatus status;
  FpmCounter counter;
  size_t updates;
};

Msg with(Msg m, void (*f)(Msg&)) {
  f(m);
  return m;
}

std::vector<HostileRow> hostile_rows() {
  const Bytes good = netlink(static_v4());
  Bytes good_after_bad = netlink(Msg{24, 2, 33, 196, 1, {attr(1, ip("10.0.0.0"))}});
  good_after_bad.insert(good_after_bad.end(), good.begin(), good.end());
  Bytes nh_mp = attr(9, rtnh("10.0.0.1", 1, 4));
  Bytes nh_mp_long = attr(9, rtnh("10.0.0.1", 1, 100));
  return {
      {"empty buffer", {}, FrameStatus::kFatal, FpmCounter::kShortHeader, 0},
      {"3-byte header", {1, 1, 0}, FrameStatus::kFatal, FpmCounter::kShortHeader, 0},
      {"length 0", frame(good, 1, 1, 0), FrameStatus::kFatal, FpmCounter::kFrameTooShort, 0},
      {"length 3", frame(good, 1, 1, 3), FrameStatus::kFatal, FpmCounter::kFrameTooShort, 0},
      {"length > buffer", frame(good, 1, 1, 500), FrameStatus::kFatal, FpmCounter::kFrameTruncated,
       0},
      {"version 2", frame(good, 2), FrameStatus::kFatal, FpmCounter::kBadVersion, 0},
      {"version 0", frame(good, 0), FrameStatus::kFatal, FpmCounter::kBadVersion, 0},
      {"type protobuf", frame(good, 1, 2), FrameStatus::kSkipped, FpmCounter::kBadType, 0},
      {"nlmsg_len 0", frame(netlink(with(static_v4(), [](Msg& m) { m.force_nl_len = 0; }))),
       FrameStatus::kOk, FpmCounter::kNlZeroLength, 0},
      {"nlmsg_len 8", frame(netlink(with(static_v4(), [](Msg& m) { m.force_nl_len = 8; }))),
       FrameStatus::kOk, FpmCounter::kNlTruncated, 0},
      {"nlmsg_len overflow",
       frame(netlink(with(static_v4(), [](Msg& m) { m.force_nl_len = 4000; }))), FrameStatus::kOk,
       FpmCounter::kNlTruncated, 0},
      {"nlmsg_len 0xffffffff",
       frame(netlink(with(static_v4(), [](Msg& m) { m.force_nl_len = 0x7fffffff; }))),
       FrameStatus::kOk, FpmCounter::kNlTruncated, 0},
      {"2 stray bytes", frame(Bytes{1, 2}), FrameStatus::kOk, FpmCounter::kNlTruncated, 0},
      {"rtmsg cut", frame(netlink(Msg{24, 2, 24, 196, 1, {}, -1, 5})), FrameStatus::kOk,
       FpmCounter::kRtmsgTruncated, 0},
      {"family 7", frame(netlink(with(static_v4(), [](Msg& m) { m.family = 7; }))),
       FrameStatus::kOk, FpmCounter::kBadFamily, 0},
      {"v4 /33", frame(netlink(with(static_v4(), [](Msg& m) { m.dst_len = 33; }))),
       FrameStatus::kOk, FpmCounter::kBadPrefixLen, 0},
      {"v6 /129", frame(netlink(Msg{24, 10, 129, 196, 1, {attr(1, ip("2001:db8::"))}})),
       FrameStatus::kOk, FpmCounter::kBadPrefixLen, 0},
      {"attr len 200", frame(netlink(Msg{24, 2, 24, 196, 1, {attr(1, ip("10.0.0.0"), 200)}})),
       FrameStatus::kOk, FpmCounter::kAttrOverflow, 0},
      {"attr len 2", frame(netlink(Msg{24, 2, 24, 196, 1, {attr(1, ip("10.0.0.0"), 2)}})),
       FrameStatus::kOk, FpmCounter::kAttrOverflow, 0},
      {"RTA_DST 16 bytes in v4",
       frame(netlink(Msg{24, 2, 24, 196, 1, {attr(1, ip("2001:db8::"))}})), FrameStatus::kOk,
       FpmCounter::kAttrBadSize, 0},
      {"RTA_OIF 2 bytes", frame(netlink(Msg{24, 2, 24, 196, 1, {attr(4, Bytes{1, 0})}})),
       FrameStatus::kOk, FpmCounter::kAttrBadSize, 0},
      {"unknown attr skipped",
       frame(netlink(with(static_v4(), [](Msg& m) { m.attrs.push_back(attr(99, u32(7))); }))),
       FrameStatus::kOk, FpmCounter::kAttrUnknown, 1},
      {"rtnh_len 4", frame(netlink(Msg{24, 2, 24, 196, 1, {nh_mp}})), FrameStatus::kOk,
       FpmCounter::kMultipathBadLen, 0},
      {"rtnh_len 100", frame(netlink(Msg{24, 2, 24, 196, 1, {nh_mp_long}})), FrameStatus::kOk,
       FpmCounter::kMultipathBadLen, 0},
      {"multipath 3 bytes", frame(netlink(Msg{24, 2, 24, 196, 1, {attr(9, Bytes{8, 0, 0})}})),
       FrameStatus::kOk, FpmCounter::kMultipathBadLen, 0},
      {"host bits", frame(netlink(Msg{24, 2, 24, 196, 1, {attr(1, ip("10.1.2.3"))}})),
       FrameStatus::kOk, FpmCounter::kHostBitsCleared, 1},
      {"nexthop id only", frame(netlink(Msg{24, 2, 24, 196, 1, {attr(30, u32(12))}})),
       FrameStatus::kOk, FpmCounter::kNexthopIdRoute, 1},
      {"RTM_NEWNEXTHOP", frame(netlink(Msg{104, 2, 0, 0, 0, {}})), FrameStatus::kOk,
       FpmCounter::kNlIgnoredType, 0},
      {"bad then good", frame(good_after_bad), FrameStatus::kOk, FpmCounter::kBadPrefixLen, 1},
  };
}

TEST(Fpm, HostileRowsAreNamedNeverCrash) {
  for (const HostileRow& row : hostile_rows()) {
    FpmCounters c;
    auto out = decode(row.bytes, &c, row.status);
    EXPECT_EQ(c[row.counter], 1u) << row.name << ": " << fpm_counter_name(row.counter);
    EXPECT_EQ(out.size(), row.updates) << row.name;
  }
  FpmCounters c;
  auto out = decode(frame({}), &c, FrameStatus::kOk);  // a frame with no message at all
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(c[FpmCounter::kFrames], 1u);
  auto host = decode(frame(netlink(Msg{24, 2, 24, 196, 1, {attr(1, ip("10.1.2.3"))}})), &c,
                     FrameStatus::kOk);
  ASSERT_EQ(host.size(), 1u);
  EXPECT_EQ(host[0].route.prefix.str(), "10.1.2.0/24");
  EXPECT_STREQ(fpm_counter_name(FpmCounter::kMultipathBadLen), "multipath_bad_len");
}

// Random bytes, and every truncation of a real frame: no crash, never past the buffer.
TEST(Fpm, RandomAndTruncatedInputs) {
  std::mt19937 rng(16);
  FpmCounters c;
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 120);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() >= 4 && (i % 2) == 0)
      b[0] = 1, b[1] = 1, b[2] = 0, b[3] = static_cast<uint8_t>(b.size());
    std::vector<RouteUpdate> out;
    size_t used = 0;
    decode_fpm_frame(b, i % 3 == 0, &used, &out, &c);
    EXPECT_LE(used, b.size());
  }
  const Bytes f = frame(netlink(static_v4()));
  for (size_t n = 0; n < f.size(); ++n) {
    std::vector<RouteUpdate> out;
    size_t used = 0;
    EXPECT_EQ(decode_fpm_frame(std::span(f).first(n), true, &used, &out, &c),
              FrameStatus::kNeedMore);
    EXPECT_TRUE(out.empty());
  }
}

TEST(Fpm, ProtocolNames) {
  const std::pair<uint8_t, const char*> rows[] = {{186, "bgp"},  {196, "static"},
                                                  {188, "ospf"}, {2, "kernel"},
                                                  {187, "isis"}, {250, "proto-250"}};
  for (const auto& [p, name] : rows) EXPECT_EQ(route_protocol_name(p), name);
  EXPECT_STREQ(route_type_name(kRtnUnreachable), "unreachable");
}

RouteUpdate update(const char* prefix, bool add, uint32_t metric = 20) {
  RouteUpdate u;
  u.add = add;
  u.route.prefix = *dp::IpPrefix::parse(prefix);
  u.route.protocol = 196;
  u.route.metric = metric;
  return u;
}

TEST(Rib, ApplyRefreshDeleteAndResync) {
  Rib rib;
  const auto t0 = std::chrono::system_clock::now();
  EXPECT_TRUE(rib.apply(update("10.0.0.0/8", true), t0));
  EXPECT_TRUE(rib.apply(update("2001:db8::/32", true), t0));
  EXPECT_FALSE(rib.apply(update("10.0.0.0/8", true), t0 + std::chrono::seconds(5)));  // same
  EXPECT_EQ(rib.entries().front().learnt, t0);                 // an identical copy keeps the age
  EXPECT_TRUE(rib.apply(update("10.0.0.0/8", true, 30), t0));  // changed
  EXPECT_FALSE(rib.apply(update("192.0.2.0/24", false), t0));
  EXPECT_EQ(rib.stats().unknown_deletes, 1u);
  EXPECT_EQ(rib.size(), 2u);
  // Reconnection: only 10/8 is replayed; the v6 route is stale and goes at the sweep.
  rib.begin_resync();
  EXPECT_FALSE(rib.apply(update("10.0.0.0/8", true, 30), t0));
  EXPECT_TRUE(rib.apply(update("172.16.0.0/12", true), t0));
  EXPECT_EQ(rib.size(), 3u);  // nothing removed before the sweep: no blackhole meanwhile
  EXPECT_EQ(rib.sweep_stale(), 1u);
  ASSERT_EQ(rib.size(), 2u);
  EXPECT_EQ(rib.entries()[0].route.prefix.str(), "10.0.0.0/8");
  EXPECT_EQ(rib.entries()[1].route.prefix.str(), "172.16.0.0/12");
  EXPECT_EQ(rib.stats().stale_removed, 1u);
  EXPECT_EQ(rib.sweep_stale(), 0u);
}

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

void send_all(int fd, const Bytes& b) {
  ASSERT_EQ(::send(fd, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size()));
}

template <class Pred>
bool wait_for(Pred p, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return p();
}

TEST(FpmServer, StreamReconnectSweepAndFatalClose) {
  Rib rib;
  FpmServer server(rib, FpmServerOptions{"127.0.0.1", 0, std::chrono::milliseconds(300)});
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  std::atomic<int> changes{0};
  server.set_on_change([&] { ++changes; });
  int fd = connect_to(server.port());
  Bytes two = frame(netlink(static_v4()));
  Bytes v6 = frame(netlink(Msg{24, 10, 48, 186, 1, {attr(1, ip("2001:db8:7::"))}}));
  two.insert(two.end(), v6.begin(), v6.end());
  for (uint8_t byte : two) send_all(fd, Bytes{byte});  // one byte at a time
  ASSERT_TRUE(wait_for([&] { return rib.size() == 2; }));
  ::close(fd);
  ASSERT_TRUE(wait_for([&] { return !server.session().connected; }));
  EXPECT_EQ(rib.size(), 2u);  // zebra gone: its routes stay
  // zebra back, replaying only the IPv4 route: the IPv6 one goes after the grace period.
  fd = connect_to(server.port());
  send_all(fd, frame(netlink(static_v4())));
  ASSERT_TRUE(wait_for([&] { return server.session().sweeps == 1; }));
  ASSERT_EQ(rib.size(), 1u);
  EXPECT_EQ(rib.entries()[0].route.prefix.str(), "172.31.250.0/24");
  // A stream out of step (version 9) is closed, named, and the routes stay.
  send_all(fd, frame(netlink(static_v4()), 9));
  ASSERT_TRUE(wait_for([&] { return server.session().fatal_closes == 1; }));
  EXPECT_EQ(server.counters()[FpmCounter::kBadVersion], 1u);
  EXPECT_EQ(rib.size(), 1u);
  ::close(fd);
  server.stop();
  EXPECT_EQ(server.session().connections, 2u);
  EXPECT_GE(changes, 2);
}

TEST(FpmServer, RefusesABadAddress) {
  Rib rib;
  FpmServer server(rib, FpmServerOptions{"not-an-address", 0});
  std::string err;
  EXPECT_FALSE(server.start(&err));
  EXPECT_NE(err.find("not an IP address"), std::string::npos) << err;
}

}  // namespace
}  // namespace traboule::cp

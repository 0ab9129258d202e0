// SPDX-License-Identifier: Apache-2.0
// FlowTable and FlowStage: one entry for both directions, per-direction counters, the TCP state
// machine and the timeout it selects, expiry at exactly the timeout, table-full drops and
// recovery, lan_mac learning, hostile metadata, and a 1 M-flow table in the test EAL's memory.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_lcore.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/stages/flow.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"

namespace traboule::dp {
namespace {

using traboule::testing::Frame;
using traboule::testing::Ipv4Opts;
using traboule::testing::PacketBuilder;
using traboule::testing::pool_in_use;
using traboule::testing::StageHarness;
using traboule::testing::test_pool;
using traboule::testing::to_mbuf;
namespace tcpf = traboule::testing::tcpf;

constexpr uint8_t kSyn = tcpf::kSyn, kAck = tcpf::kAck, kFin = tcpf::kFin, kRst = tcpf::kRst,
                  kPsh = tcpf::kPsh;
constexpr uint8_t kEsp = 50, kGre = 47;

// A packet as the parse stage would leave it: frame plus the PacketMeta fields it fills.
struct P {
  std::string src;
  std::string dst;
  uint8_t proto = IPPROTO_UDP;
  uint16_t sport = 0;  // ICMP echo: the identifier
  uint16_t dport = 0;
  uint8_t tcp_flags = 0;
  size_t payload = 0;
  bool lan = false;
  std::string smac = "02:00:00:00:00:01";
  bool frag = false;        // a fragment: no L4 header in the meta, ports 0
  bool later_frag = false;  // offset != 0
  bool echo_reply = false;  // ICMP/ICMPv6 echo: reply instead of request
};

bool is_v6(const std::string& a) {
  return a.find(':') != std::string::npos;
}

struct Pkt {
  Frame frame;
  PacketMeta md;
};

Pkt build(const P& p) {
  const bool v6 = is_v6(p.src);
  PacketBuilder b;
  b.eth("02:00:00:00:00:fe", p.smac);
  if (v6) {
    b.ipv6(p.src, p.dst);
    if (p.frag) b.ipv6_fragment(p.later_frag ? 185 : 0, !p.later_frag);
  } else {
    Ipv4Opts o;
    if (p.frag) {
      o.frag_offset = p.later_frag ? 185 : 0;
      o.mf = !p.later_frag;
    }
    b.ipv4(p.src, p.dst, o);
  }
  bool has_l4 = !p.frag;
  switch (p.proto) {
    case IPPROTO_TCP:
      b.tcp(p.sport, p.dport, p.tcp_flags);
      break;
    case IPPROTO_UDP:
      b.udp(p.sport, p.dport);
      break;
    case IPPROTO_ICMP:
      b.icmp(p.echo_reply ? 0 : 8, 0, p.sport, 1);
      break;
    case IPPROTO_ICMPV6:
      b.icmpv6(p.echo_reply ? 129 : 128, 0, {0, static_cast<uint8_t>(p.sport), 0, 1});
      break;
    default:
      has_l4 = false;  // ESP, GRE...: the protocol number is patched in below
      break;
  }
  b.payload(p.payload);
  Pkt out;
  out.frame = b.build();
  Frame& f = out.frame;
  if (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP && p.proto != IPPROTO_ICMP &&
      p.proto != IPPROTO_ICMPV6) {
    if (v6) {
      f.set8(f.l3_off + 6, p.proto);
    } else {
      f.set8(f.l3_off + 9, p.proto);
      f.fix_ipv4_checksum();
    }
  }
  PacketMeta& m = out.md;
  m.l3 = v6 ? L3Kind::kIpv6 : L3Kind::kIpv4;
  m.src = *IpAddr::parse(p.src);
  m.dst = *IpAddr::parse(p.dst);
  m.l2_len = 14;
  m.l3_len = v6 ? (p.frag ? 48 : 40) : 20;
  m.l3_total = static_cast<uint16_t>(f.bytes.size() - f.l3_off);
  m.l4_proto = p.proto;
  m.ttl = 64;
  if (p.frag) m.flags |= meta_flag::kFragment | (p.later_frag ? meta_flag::kLaterFragment : 0);
  if (v6 && p.frag) m.flags |= meta_flag::kIpOptions;
  if (has_l4) {
    m.flags |= meta_flag::kHasL4;
    m.src_port = p.sport;
    m.dst_port = p.dport;
    if (p.proto == IPPROTO_TCP) m.tcp_flags = p.tcp_flags;
    if (p.proto == IPPROTO_ICMP) m.icmp_type = p.echo_reply ? 0 : 8;
    if (p.proto == IPPROTO_ICMPV6) m.icmp_type = p.echo_reply ? 129 : 128;
  }
  if (p.lan) m.flags |= meta_flag::kFromLan;
  return out;
}

rte_mbuf* mbuf_of(const Pkt& p) {
  rte_mbuf* m = to_mbuf(test_pool(), p.frame, p.md.in_port);
  EXPECT_NE(m, nullptr);
  meta(m) = p.md;
  return m;
}
rte_mbuf* mbuf_of(const P& p) {
  return mbuf_of(build(p));
}

// The reply: addresses and ports swapped.
P reply(P p, uint8_t tcp_flags = 0) {
  std::swap(p.src, p.dst);
  std::swap(p.sport, p.dport);
  p.tcp_flags = tcp_flags;
  p.lan = false;
  p.echo_reply = true;
  return p;
}

FlowTimeouts distinct_timeouts() {
  FlowTimeouts t;
  t.tcp_syn = 3;
  t.tcp_established = 5;
  t.tcp_closing = 7;
  t.tcp_closed = 11;
  t.udp = 13;
  t.icmp = 17;
  t.other = 19;
  return t;
}

// A table + stage + harness for one test; checks that no mbuf leaks when it goes away.
struct Rig {
  explicit Rig(uint32_t capacity = 1024, FlowTimeouts t = distinct_timeouts())
      : before(pool_in_use()),
        table(capacity, t, static_cast<int>(rte_socket_id())),
        stage(table),
        harness(std::make_unique<StageHarness>(stage)) {}
  ~Rig() {
    harness.reset();
    EXPECT_EQ(pool_in_use(), before) << "mbuf leak";
  }
  // Runs one packet; returns its verdict and (for edges) a copy of its meta.
  std::pair<std::string, PacketMeta> run(const P& p) { return run(build(p)); }
  std::pair<std::string, PacketMeta> run(const Pkt& p) {
    auto v = harness->run({mbuf_of(p)});
    EXPECT_EQ(v.size(), 1u);
    PacketMeta md{};
    if (v[0].pkt != nullptr) md = meta(v[0].pkt);
    return {v[0].where, md};
  }
  // Many packets, in slices the harness' edge buffers hold (kNodeInputMax each).
  std::vector<std::string> run_many(const std::vector<P>& ps) {
    std::vector<std::string> where;
    for (size_t off = 0; off < ps.size(); off += kNodeInputMax) {
      std::vector<rte_mbuf*> slice;
      for (size_t i = off; i < std::min(ps.size(), off + kNodeInputMax); ++i)
        slice.push_back(mbuf_of(ps[i]));
      for (auto& v : harness->run(slice)) where.push_back(v.where);
    }
    return where;
  }

  unsigned before;  // mbufs in use when the rig was built
  FlowTable table;
  FlowStage stage;
  std::unique_ptr<StageHarness> harness;
};

TEST(FlowStage, BothDirectionsShareOneEntry) {
  struct Row {
    const char* what;
    P pkt;
    const char* flow;  // rows with the same tag must land on the same flow id, others not
    uint8_t dir;
  };
  const P tcp4{"10.0.0.1", "192.0.2.1", IPPROTO_TCP, 40000, 443, kSyn};
  const P udp4{"10.0.0.1", "192.0.2.1", IPPROTO_UDP, 40000, 443};
  const P dns_in{"192.0.2.9", "10.0.0.1", IPPROTO_UDP, 53, 5353};  // opened by the `hi` side
  const P echo4{"10.0.0.1", "192.0.2.1", IPPROTO_ICMP, 7};
  const P tcp6{"2001:db8::1", "2001:db8:ff::1", IPPROTO_TCP, 40000, 443, kSyn};
  const P udp6{"2001:db8::1", "2001:db8:ff::1", IPPROTO_UDP, 5000, 5001};
  const P echo6{"2001:db8::1", "2001:db8:ff::1", IPPROTO_ICMPV6, 9};
  P frag4{"10.0.0.1", "192.0.2.1", IPPROTO_UDP, 0, 0};
  frag4.frag = true;
  P later4 = frag4;
  later4.later_frag = true;
  P frag6{"2001:db8::1", "2001:db8:ff::1", IPPROTO_UDP};
  frag6.frag = true;
  P later6 = frag6;
  later6.later_frag = true;
  const P esp{"10.0.0.1", "192.0.2.1", kEsp};
  const P self{"10.0.0.5", "10.0.0.5", IPPROTO_UDP, 1000, 2000};
  auto with_sport = [](P p, uint16_t s) {
    p.sport = s;
    return p;
  };
  auto with_dport = [](P p, uint16_t d) {
    p.dport = d;
    return p;
  };
  auto with_id = [](P p, uint16_t id) {
    p.sport = p.dport = id;
    return p;
  };

  std::vector<Row> rows = {
      {"tcp4 SYN out", tcp4, "tcp4", 0},
      {"tcp4 SYN+ACK back", reply(tcp4, kSyn | kAck), "tcp4", 1},
      {"tcp4 ACK out",
       [&] {
         P p = tcp4;
         p.tcp_flags = kAck;
         return p;
       }(),
       "tcp4", 0},
      {"tcp4 other source port", with_sport(tcp4, 40001), "tcp4_sport", 0},
      {"tcp4 other destination port", with_dport(tcp4, 80), "tcp4_dport", 0},
      {"udp4 with the tcp4 ports is another flow", udp4, "udp4", 0},
      {"udp4 reply", reply(udp4), "udp4", 1},
      {"udp4 opened by the higher address", dns_in, "dns_in", 0},
      {"udp4 answer from the lower address", reply(dns_in), "dns_in", 1},
      {"icmp echo request", with_id(echo4, 7), "echo4", 0},
      {"icmp echo reply", reply(with_id(echo4, 7)), "echo4", 1},
      {"icmp echo, other identifier", with_id(echo4, 8), "echo4_id8", 0},
      {"tcp6 SYN out", tcp6, "tcp6", 0},
      {"tcp6 SYN+ACK back", reply(tcp6, kSyn | kAck), "tcp6", 1},
      {"udp6 out", udp6, "udp6", 0},
      {"udp6 back", reply(udp6), "udp6", 1},
      {"icmpv6 echo request", with_id(echo6, 9), "echo6", 0},
      {"icmpv6 echo reply", reply(with_id(echo6, 9)), "echo6", 1},
      {"ipv4 first fragment", frag4, "frag4", 0},
      {"ipv4 later fragment", later4, "frag4", 0},
      {"ipv4 fragment back", reply(later4), "frag4", 1},
      {"ipv6 first fragment", frag6, "frag6", 0},
      {"ipv6 later fragment", later6, "frag6", 0},
      {"esp (no ports) out", esp, "esp", 0},
      {"esp back", reply(esp), "esp", 1},
      {"same address both ends", self, "self", 0},
      {"same address both ends, back", reply(self), "self", 1},
  };
  Rig rig;
  std::map<std::string, uint32_t> ids;
  for (const auto& r : rows) {
    auto [where, md] = rig.run(r.pkt);
    ASSERT_EQ(where, "edge:next") << r.what;
    EXPECT_EQ(md.flow_dir, r.dir) << r.what;
    ASSERT_NE(md.flow_id, kNoFlow) << r.what;
    auto it = ids.find(r.flow);
    if (it != ids.end()) {
      EXPECT_EQ(md.flow_id, it->second)
          << r.what << ": not the flow of the earlier '" << r.flow << "' rows";
    } else {
      for (auto& [tag, id] : ids) EXPECT_NE(md.flow_id, id) << r.what << ": shares " << tag;
      ids[r.flow] = md.flow_id;
    }
    EXPECT_EQ(md.flow_hash, flow_hash(rig.table.key(md.flow_id)) | 1u)
        << r.what << ": the dispatch stage's value";
  }
  EXPECT_EQ(rig.table.size(), ids.size());
  EXPECT_EQ(rig.table.created(), ids.size());
  EXPECT_EQ(rig.harness->edge_count("next"), rows.size());
}

TEST(FlowStage, CountsPerDirection) {
  struct Row {
    const char* what;
    bool back;
    size_t payload;
  };
  std::vector<Row> rows = {
      {"out 100", false, 100},   {"back 1000", true, 1000}, {"out 0", false, 0},
      {"back 1400", true, 1400}, {"out 10", false, 10},
  };
  const P out{"10.1.0.1", "198.51.100.7", IPPROTO_UDP, 1234, 4321};
  Rig rig;
  uint64_t pk[2] = {0, 0}, by[2] = {0, 0};
  uint32_t id = kNoFlow;
  for (const auto& r : rows) {
    P p = r.back ? reply(out) : out;
    p.payload = r.payload;
    Pkt pkt = build(p);
    auto [where, md] = rig.run(pkt);
    ASSERT_EQ(where, "edge:next") << r.what;
    id = md.flow_id;
    pk[r.back ? 1 : 0] += 1;
    by[r.back ? 1 : 0] += pkt.frame.bytes.size() - 14;  // IP octets: no Ethernet header
  }
  const FlowEntry& e = rig.table.entry(id);
  EXPECT_EQ(e.packets[0], pk[0]);
  EXPECT_EQ(e.packets[1], pk[1]);
  EXPECT_EQ(e.bytes[0], by[0]);
  EXPECT_EQ(e.bytes[1], by[1]);
  EXPECT_EQ(e.proto, IPPROTO_UDP);
  EXPECT_EQ(e.uplink, kNoUplink);
  EXPECT_LE(e.created_coarse, coarse_tsc(e.last_seen_tsc));

  // The control thread's view agrees.
  unsigned listed = 0;
  rig.table.for_each([&](const FlowView& v) {
    ++listed;
    EXPECT_EQ(v.id, id);
    EXPECT_EQ(v.entry.packets[0], pk[0]);
    EXPECT_EQ(v.entry.bytes[1], by[1]);
    EXPECT_EQ(v.key.proto, IPPROTO_UDP);
    EXPECT_EQ(v.key.lo, *IpAddr::parse("10.1.0.1"));
    EXPECT_EQ(v.key.lo_port, 1234);
  });
  EXPECT_EQ(listed, 1u);
}

TEST(FlowStage, TcpStateTransitions) {
  using T = TcpState;
  struct Step {
    bool from_server;
    uint8_t flags;
    TcpState state;                   // after the packet
    uint32_t FlowTimeouts::*timeout;  // the idle timeout that must apply now
    uint8_t dir;                      // the packet's flow_dir
  };
  struct Row {
    const char* what;
    std::vector<Step> steps;
  };
  constexpr auto syn_t = &FlowTimeouts::tcp_syn;
  constexpr auto est_t = &FlowTimeouts::tcp_established;
  constexpr auto closing_t = &FlowTimeouts::tcp_closing;
  constexpr auto closed_t = &FlowTimeouts::tcp_closed;
  const std::vector<Step> open = {
      {false, kSyn, T::kSynSent, syn_t, 0},
      {true, kSyn | kAck, T::kSynSent, syn_t, 1},
      {false, kAck, T::kEstablished, est_t, 0},
  };
  auto then = [&](std::vector<Step> more) {
    std::vector<Step> s = open;
    s.insert(s.end(), more.begin(), more.end());
    return s;
  };
  std::vector<Row> rows = {
      {"handshake, data, graceful close", then({{false, kPsh | kAck, T::kEstablished, est_t, 0},
                                                {true, kAck, T::kEstablished, est_t, 1},
                                                {false, kFin | kAck, T::kClosing, closing_t, 0},
                                                {true, kAck, T::kClosing, closing_t, 1},
                                                {true, kFin | kAck, T::kClosing, closing_t, 1},
                                                {false, kAck, T::kClosed, closed_t, 0}})},
      {"simultaneous close", then({{false, kFin | kAck, T::kClosing, closing_t, 0},
                                   {true, kFin | kAck, T::kClosing, closing_t, 1},
                                   {true, kAck, T::kClosed, closed_t, 1}})},
      {"RST after the handshake", then({{true, kRst, T::kClosed, closed_t, 1}})},
      {"RST+ACK refusing the SYN",
       {{false, kSyn, T::kSynSent, syn_t, 0}, {true, kRst | kAck, T::kClosed, closed_t, 1}}},
      {"retransmitted SYN stays SYN_SENT",
       {{false, kSyn, T::kSynSent, syn_t, 0}, {false, kSyn, T::kSynSent, syn_t, 0}}},
      {"ACK without SYN+ACK does not establish",
       {{false, kSyn, T::kSynSent, syn_t, 0}, {false, kAck, T::kSynSent, syn_t, 0}}},
      {"SYN after RST restarts the flow", then({{true, kRst, T::kClosed, closed_t, 1},
                                                {false, kSyn, T::kSynSent, syn_t, 0},
                                                {true, kSyn | kAck, T::kSynSent, syn_t, 1},
                                                {false, kAck, T::kEstablished, est_t, 0}})},
      {"SYN while closing restarts the flow", then({{false, kFin | kAck, T::kClosing, closing_t, 0},
                                                    {false, kSyn, T::kSynSent, syn_t, 0}})},
      {"SYN from the old server after close: it becomes the originator",
       then({{true, kRst, T::kClosed, closed_t, 1},
             {true, kSyn, T::kSynSent, syn_t, 0},
             {false, kSyn | kAck, T::kSynSent, syn_t, 1},
             {true, kAck, T::kEstablished, est_t, 0}})},
      {"SYN inside an established flow is ignored",
       then({{false, kSyn, T::kEstablished, est_t, 0}})},
      {"SYN+ACK inside a closed flow does not restart it",
       then({{true, kRst, T::kClosed, closed_t, 1}, {true, kSyn | kAck, T::kClosed, closed_t, 1}})},
      {"picked up mid-stream: data both ways establishes",
       {{false, kAck, T::kNone, syn_t, 0}, {true, kAck, T::kEstablished, est_t, 1}}},
      {"opened by a SYN+ACK (the SYN was missed)",
       {{true, kSyn | kAck, T::kSynSent, syn_t, 0}, {false, kAck, T::kEstablished, est_t, 1}}},
      {"first packet is a FIN", {{false, kFin | kAck, T::kClosing, closing_t, 0}}},
      {"first packet is a RST", {{false, kRst, T::kClosed, closed_t, 0}}},
  };
  const FlowTimeouts t = distinct_timeouts();
  const uint64_t hz = rte_get_tsc_hz();
  uint16_t port = 30000;
  Rig rig;
  for (const auto& r : rows) {
    const P client{"10.0.0.2", "203.0.113.5", IPPROTO_TCP, port++, 443};
    for (size_t i = 0; i < r.steps.size(); ++i) {
      const Step& s = r.steps[i];
      P p = s.from_server ? reply(client, s.flags) : client;
      p.tcp_flags = s.flags;
      auto [where, md] = rig.run(p);
      ASSERT_EQ(where, "edge:next") << r.what << " step " << i;
      const FlowEntry& e = rig.table.entry(md.flow_id);
      EXPECT_EQ(e.tcp_state, s.state) << r.what << " step " << i;
      EXPECT_EQ(md.flow_dir, s.dir) << r.what << " step " << i;
      EXPECT_EQ(rig.table.idle_timeout_tsc(e), uint64_t{t.*s.timeout} * hz)
          << r.what << " step " << i;
    }
  }
  EXPECT_EQ(rig.table.restarted(), 3u);
}

TEST(FlowStage, RestartResetsTheFlow) {
  Rig rig;
  const P c{"10.0.0.3", "203.0.113.5", IPPROTO_TCP, 41000, 443, kSyn};
  uint32_t id = rig.run(c).second.flow_id;
  rig.run(reply(c, kSyn | kAck));
  rig.table.entry(id).uplink = 2;  // as the route stage would
  rig.table.entry(id).rule = 5;
  rig.run(reply(c, kRst));
  auto [where, md] = rig.run(c);
  ASSERT_EQ(where, "edge:next");
  EXPECT_EQ(md.flow_id, id) << "same rte_hash entry";
  const FlowEntry& e = rig.table.entry(id);
  EXPECT_EQ(e.packets[0], 1u);
  EXPECT_EQ(e.packets[1], 0u);
  EXPECT_EQ(e.uplink, kNoUplink) << "the route stage decides again";
  EXPECT_EQ(e.rule, 0);
  EXPECT_EQ(rig.table.created(), 1u);
  EXPECT_EQ(rig.table.restarted(), 1u);
  EXPECT_EQ(rig.table.size(), 1u);
}

TEST(FlowStage, ExpiresAtExactlyTheTimeout) {
  struct Row {
    const char* what;
    std::vector<P> pkts;
    uint32_t FlowTimeouts::*timeout;
  };
  const P tcp{"10.0.0.4", "203.0.113.9", IPPROTO_TCP, 50000, 443, kSyn};
  auto with_flags = [](P p, uint8_t f) {
    p.tcp_flags = f;
    return p;
  };
  const P udp{"10.0.0.4", "203.0.113.9", IPPROTO_UDP, 50000, 53};
  const P icmp{"10.0.0.4", "203.0.113.9", IPPROTO_ICMP, 3, 3};
  const P icmp6{"2001:db8::4", "2001:db8:ff::9", IPPROTO_ICMPV6, 3, 3};
  const P esp{"10.0.0.4", "203.0.113.9", kEsp};
  const P gre6{"2001:db8::4", "2001:db8:ff::9", kGre};
  P frag{"10.0.0.4", "203.0.113.9", IPPROTO_UDP};
  frag.frag = true;
  std::vector<Row> rows = {
      {"tcp SYN only", {tcp}, &FlowTimeouts::tcp_syn},
      {"tcp established",
       {tcp, reply(tcp, kSyn | kAck), with_flags(tcp, kAck)},
       &FlowTimeouts::tcp_established},
      {"tcp closing",
       {tcp, reply(tcp, kSyn | kAck), with_flags(tcp, kAck), with_flags(tcp, kFin | kAck)},
       &FlowTimeouts::tcp_closing},
      {"tcp closed by RST", {tcp, reply(tcp, kRst)}, &FlowTimeouts::tcp_closed},
      {"udp", {udp, reply(udp)}, &FlowTimeouts::udp},
      {"icmp echo", {icmp, reply(icmp)}, &FlowTimeouts::icmp},
      {"icmpv6 echo", {icmp6}, &FlowTimeouts::icmp},
      {"esp", {esp}, &FlowTimeouts::other},
      {"gre over ipv6", {gre6}, &FlowTimeouts::other},
      {"udp fragment", {frag}, &FlowTimeouts::udp},
  };
  const FlowTimeouts t = distinct_timeouts();
  const uint64_t hz = rte_get_tsc_hz();
  for (const auto& r : rows) {
    Rig rig;
    uint32_t id = kNoFlow;
    for (const auto& p : r.pkts) id = rig.run(p).second.flow_id;
    ASSERT_NE(id, kNoFlow) << r.what;
    const FlowKey key = rig.table.key(id);
    const uint64_t last = rig.table.entry(id).last_seen_tsc;
    const uint64_t timeout = uint64_t{t.*r.timeout} * hz;
    EXPECT_EQ(rig.table.expire(last + timeout - 1, 1024), 0u) << r.what << ": one tick early";
    EXPECT_EQ(rig.table.size(), 1u) << r.what;
    EXPECT_EQ(rig.table.find(key), id) << r.what;
    // The stage's own timer slot: 256 slots per call, so four calls sweep 1024 slots.
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(rig.harness->idle(last + timeout).empty());
    EXPECT_EQ(rig.table.size(), 0u) << r.what << ": at exactly the timeout";
    EXPECT_EQ(rig.table.expired(), 1u) << r.what;
    EXPECT_EQ(rig.table.find(key), kNoFlow) << r.what;
    // The same flow comes back as a new one.
    auto [where, md] = rig.run(r.pkts.front());
    EXPECT_EQ(where, "edge:next") << r.what;
    EXPECT_EQ(md.flow_dir, 0) << r.what;
    EXPECT_EQ(rig.table.created(), 2u) << r.what;
  }
}

TEST(FlowStage, ExpiryScanIsBoundedAndResumes) {
  Rig rig;
  std::vector<P> pkts;
  for (uint16_t i = 0; i < 600; ++i)
    pkts.push_back(P{"10.0.0.6", "203.0.113.1", IPPROTO_UDP, static_cast<uint16_t>(1000 + i), 53});
  for (auto& w : rig.run_many(pkts)) ASSERT_EQ(w, "edge:next");
  uint64_t newest = 0;
  rig.table.for_each([&](const FlowView& v) { newest = std::max(newest, v.entry.last_seen_tsc); });
  const uint64_t later = newest + uint64_t{distinct_timeouts().udp} * rte_get_tsc_hz();
  uint32_t total = 0;
  for (int call = 0; call < 4; ++call) {
    uint32_t n = rig.table.expire(later, 256);
    EXPECT_LE(n, 256u);
    total += n;
  }
  EXPECT_EQ(total, 600u) << "four slices of 256 cover the 1024 slots";
  EXPECT_EQ(rig.table.size(), 0u);
}

TEST(FlowStage, TableFullDropsThenRecoversAfterExpiry) {
  Rig rig(1024);
  auto flow = [](uint16_t i) {
    return P{"10.2.0.1", "198.51.100.1", IPPROTO_UDP, static_cast<uint16_t>(2000 + i), 443};
  };
  std::vector<P> pkts;
  for (uint16_t i = 0; i < 1024; ++i) pkts.push_back(flow(i));
  for (auto& w : rig.run_many(pkts)) ASSERT_EQ(w, "edge:next");
  EXPECT_EQ(rig.table.size(), 1024u);

  struct Row {
    const char* what;
    P pkt;
    const char* verdict;
  };
  std::vector<Row> full = {
      {"a new flow when full", flow(5000), "drop:table_full"},
      {"an existing flow still passes", reply(flow(7)), "edge:next"},
      {"another new flow when full", flow(5001), "drop:table_full"},
  };
  for (const auto& r : full) EXPECT_EQ(rig.run(r.pkt).first, r.verdict) << r.what;
  EXPECT_EQ(rig.harness->drop_count("table_full"), 2u);

  uint64_t newest = 0;
  rig.table.for_each([&](const FlowView& v) { newest = std::max(newest, v.entry.last_seen_tsc); });
  EXPECT_EQ(rig.table.expire(newest + uint64_t{distinct_timeouts().udp} * rte_get_tsc_hz(), 1024),
            1024u);
  EXPECT_EQ(rig.table.size(), 0u);
  EXPECT_EQ(rig.run(flow(5000)).first, "edge:next") << "room again after expiry";
  EXPECT_EQ(rig.table.created(), 1025u);
  EXPECT_EQ(rig.table.expired(), 1024u);
}

TEST(FlowStage, SameNewFlowTwiceInOneBurst) {
  Rig rig;
  const P a{"10.3.0.1", "198.51.100.2", IPPROTO_TCP, 3333, 80, kSyn};
  const P b{"10.3.0.1", "198.51.100.2", IPPROTO_TCP, 3334, 80, kSyn};
  auto v = rig.harness->run({mbuf_of(a), mbuf_of(a), mbuf_of(reply(a, kSyn | kAck)), mbuf_of(b)});
  ASSERT_EQ(v.size(), 4u);
  for (auto& x : v) ASSERT_EQ(x.where, "edge:next");
  EXPECT_EQ(meta(v[0].pkt).flow_id, meta(v[1].pkt).flow_id);
  EXPECT_EQ(meta(v[0].pkt).flow_id, meta(v[2].pkt).flow_id);
  EXPECT_EQ(meta(v[2].pkt).flow_dir, 1);
  EXPECT_NE(meta(v[0].pkt).flow_id, meta(v[3].pkt).flow_id);
  EXPECT_EQ(rig.table.created(), 2u);
  EXPECT_EQ(rig.table.entry(meta(v[0].pkt).flow_id).packets[0], 2u);
}

TEST(FlowStage, RecordsLanMac) {
  struct Row {
    const char* what;
    P pkt;
    const char* lan_mac;  // expected on the flow after the packet
  };
  P out{"10.4.0.10", "198.51.100.3", IPPROTO_UDP, 6000, 443};
  out.lan = true;
  out.smac = "02:aa:00:00:00:01";
  P back = reply(out);
  back.smac = "02:ee:00:00:00:01";  // the uplink's gateway
  P moved = out;
  moved.smac = "02:aa:00:00:00:02";
  P inbound{"198.51.100.4", "10.4.0.11", IPPROTO_TCP, 7000, 22, kSyn};  // opened from the WAN
  inbound.smac = "02:ee:00:00:00:01";
  P answer = reply(inbound, kSyn | kAck);
  answer.lan = true;
  answer.smac = "02:bb:00:00:00:01";
  P lan_a{"10.4.0.20", "10.4.0.21", IPPROTO_UDP, 8000, 8001};  // LAN to LAN
  lan_a.lan = true;
  lan_a.smac = "02:cc:00:00:00:01";
  P lan_b = reply(lan_a);
  lan_b.lan = true;
  lan_b.smac = "02:dd:00:00:00:01";
  std::vector<Row> rows = {
      {"LAN host opens a flow", out, "02:aa:00:00:00:01"},
      {"reply from the WAN leaves it", back, "02:aa:00:00:00:01"},
      {"LAN host's MAC changed", moved, "02:aa:00:00:00:02"},
      {"flow opened from the WAN: none yet", inbound, "00:00:00:00:00:00"},
      {"the LAN host answers", answer, "02:bb:00:00:00:01"},
      {"LAN to LAN: the originator's", lan_a, "02:cc:00:00:00:01"},
      {"LAN to LAN reply keeps the originator's", lan_b, "02:cc:00:00:00:01"},
  };
  Rig rig;
  for (const auto& r : rows) {
    auto [where, md] = rig.run(r.pkt);
    ASSERT_EQ(where, "edge:next") << r.what;
    const rte_ether_addr want = traboule::testing::mac(r.lan_mac);
    EXPECT_TRUE(rte_is_same_ether_addr(&rig.table.entry(md.flow_id).lan_mac, &want)) << r.what;
  }
}

TEST(FlowStage, HostileMeta) {
  struct Row {
    const char* what;
    Pkt pkt;
    const char* verdict;
    const char* flow = nullptr;  // same tag → same flow id
  };
  auto arp = [] {
    Pkt p;
    p.frame = PacketBuilder()
                  .eth("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:09")
                  .arp(1, "02:00:00:00:00:09", "10.0.0.9", "00:00:00:00:00:00", "10.0.0.1")
                  .build();
    p.md.l3 = L3Kind::kArp;
    p.md.src = *IpAddr::parse("10.0.0.9");
    p.md.dst = *IpAddr::parse("10.0.0.1");
    return p;
  };
  auto with = [](Pkt p, auto fn) {
    fn(p);
    return p;
  };
  const P udp{"10.5.0.1", "198.51.100.5", IPPROTO_UDP, 1111, 2222};
  P frag{"10.5.0.1", "198.51.100.5", IPPROTO_UDP};
  frag.frag = true;
  const P gre{"10.5.0.1", "198.51.100.5", kGre};
  FlowKey frag_key;
  make_flow_key(build(frag).md, frag_key);

  std::vector<Row> rows = {
      {"ARP reached the flow stage", arp(), "drop:arp"},
      {"no L3 (unknown ethertype)", with(build(udp), [](Pkt& p) { p.md.l3 = L3Kind::kNone; }),
       "drop:not_ip"},
      {"L3 kind out of range", with(build(udp), [](Pkt& p) { p.md.l3 = static_cast<L3Kind>(9); }),
       "drop:not_ip"},
      {"empty frame with IPv4 meta from the LAN",
       with(build(udp),
            [](Pkt& p) {
              p.frame.bytes.clear();
              p.md.flags |= meta_flag::kFromLan;
            }),
       "edge:next", "udp"},
      {"10-byte frame from the LAN (no room for a MAC)",
       with(build(udp),
            [](Pkt& p) {
              p.frame.truncate(10);
              p.md.flags |= meta_flag::kFromLan;
            }),
       "edge:next", "udp"},
      {"clean fragment", build(frag), "edge:next", "frag"},
      {"fragment with stale ports in the meta",
       with(build(frag),
            [](Pkt& p) {
              p.md.src_port = 9;
              p.md.dst_port = 10;
            }),
       "edge:next", "frag"},
      {"fragment with stale ports and a dispatch hash over them",
       with(build(frag),
            [](Pkt& p) {
              p.md.src_port = 9;
              p.md.dst_port = 10;
              FlowKey k;
              make_flow_key(p.md, k);
              p.md.flow_hash = flow_hash(k) | 1u;
            }),
       "edge:next", "frag"},
      {"fragment with the dispatch hash",
       with(build(frag), [&](Pkt& p) { p.md.flow_hash = flow_hash(frag_key) | 1u; }), "edge:next",
       "frag"},
      {"gre", build(gre), "edge:next", "gre"},
      {"gre with ports but no kHasL4",
       with(build(gre),
            [](Pkt& p) {
              p.md.src_port = 1;
              p.md.dst_port = 2;
            }),
       "edge:next", "gre"},
      {"udp with the dispatch stage's hash",
       with(build(udp),
            [](Pkt& p) {
              FlowKey k;
              make_flow_key(p.md, k);
              p.md.flow_hash = flow_hash(k) | 1u;
            }),
       "edge:next", "udp"},
      {"tcp with every flag set",
       with(build(P{"10.5.0.1", "198.51.100.5", IPPROTO_TCP, 1, 2, 0xff}), [](Pkt&) {}),
       "edge:next", "tcp"},
      {"ports 0xffff and 0", build(P{"10.5.0.1", "198.51.100.5", IPPROTO_UDP, 0xffff, 0}),
       "edge:next", "udp_edge_ports"},
      {"all-zero addresses", build(P{"0.0.0.0", "0.0.0.0", IPPROTO_UDP, 0, 0}), "edge:next",
       "zero"},
  };
  Rig rig;
  std::map<std::string, uint32_t> ids;
  std::vector<rte_mbuf*> burst;
  for (const auto& r : rows) {
    auto [where, md] = rig.run(r.pkt);
    EXPECT_EQ(where, r.verdict) << r.what;
    if (r.flow == nullptr) continue;
    auto [it, fresh] = ids.try_emplace(r.flow, md.flow_id);
    if (!fresh) {
      EXPECT_EQ(md.flow_id, it->second) << r.what;
    }
    if (std::string(r.flow) == "udp") {
      EXPECT_EQ(rig.table.entry(md.flow_id).lan_mac.addr_bytes[0], 0) << r.what;
    }
  }
  EXPECT_EQ(rig.table.entry(ids["tcp"]).tcp_state, TcpState::kClosed) << "RST wins";
  EXPECT_EQ(rig.harness->drop_count("arp"), 1u);
  EXPECT_EQ(rig.harness->drop_count("not_ip"), 2u);

  // The same rows in one full node input (2 × kBurstMax): one verdict each, none lost.
  for (uint16_t i = 0; i < kNodeInputMax; ++i) burst.push_back(mbuf_of(rows[i % rows.size()].pkt));
  auto v = rig.harness->run(burst);
  ASSERT_EQ(v.size(), burst.size());
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(v[i].where, rows[i % rows.size()].verdict) << rows[i % rows.size()].what;
}

TEST(FlowTable, RejectsBadCapacity) {
  struct Row {
    uint32_t capacity;
    const char* message;
  };
  std::vector<Row> rows = {{0, "capacity 0 is out of range"},
                           {1023, "capacity 1023 is out of range"},
                           {(1u << 26) + 1, "out of range"}};
  for (const auto& r : rows) {
    try {
      FlowTable t(r.capacity, FlowTimeouts{}, static_cast<int>(rte_socket_id()));
      ADD_FAILURE() << r.capacity << ": accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(r.message), std::string::npos) << e.what();
    }
  }
}

TEST(FlowTable, LookupOrCreateTakesMoreThanOneBulkCall) {
  FlowTable t(1024, FlowTimeouts{}, static_cast<int>(rte_socket_id()));
  constexpr uint16_t kN = 150;  // > 2 × kLookupMax, with every key twice
  std::vector<FlowRequest> reqs(kN);
  std::vector<uint32_t> ids(kN, 12345);
  PacketMeta m;
  m.l3 = L3Kind::kIpv6;
  m.l4_proto = IPPROTO_UDP;
  m.flags = meta_flag::kHasL4;
  m.src = *IpAddr::parse("2001:db8::1");
  m.dst = *IpAddr::parse("2001:db8::2");
  for (uint16_t i = 0; i < kN; ++i) {
    m.src_port = static_cast<uint16_t>(100 + i % (kN / 2));
    flow_request(m, reqs[i]);
  }
  EXPECT_EQ(t.lookup_or_create(reqs.data(), kN, rte_rdtsc(), ids.data()), kN / 2);
  for (uint16_t i = 0; i < kN; ++i) {
    ASSERT_LT(ids[i], t.capacity()) << i;
    EXPECT_EQ(ids[i], ids[i % (kN / 2)]) << i;
    EXPECT_EQ(t.find(reqs[i].key), ids[i]) << i;
  }
  EXPECT_EQ(t.size(), kN / 2);
}

// for_each from another thread while this one creates, replaces and removes flows: every
// record shown must be self-consistent (key and entry of the same flow, in use).
TEST(FlowTable, ListingWhileTheWorkerWrites) {
  FlowTable t(4096, FlowTimeouts{}, static_cast<int>(rte_socket_id()));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> listed{0}, bad{0};
  std::thread lister([&] {
    while (!stop.load()) {
      t.for_each([&](const FlowView& v) {
        listed.fetch_add(1, std::memory_order_relaxed);
        if (v.key.proto != v.entry.proto || !v.entry.in_use() || v.key.hi_port != 443 ||
            v.entry.created_coarse != coarse_tsc(v.entry.last_seen_tsc))
          bad.fetch_add(1, std::memory_order_relaxed);
      });
    }
  });
  FlowRequest reqs[FlowTable::kLookupMax];
  uint32_t ids[FlowTable::kLookupMax];
  PacketMeta m;
  m.l3 = L3Kind::kIpv4;
  m.flags = meta_flag::kHasL4;
  m.dst = IpAddr::v4(0xc6336401);
  m.dst_port = 443;
  uint64_t now = 1000;
  for (int round = 0; round < 100; ++round, ++now) {
    // The same addresses and ports each round, another protocol: slots get reused.
    m.l4_proto = round % 2 ? IPPROTO_TCP : IPPROTO_UDP;
    for (uint32_t base = 0; base < 4096; base += FlowTable::kLookupMax) {
      for (uint16_t j = 0; j < FlowTable::kLookupMax; ++j) {
        m.src = IpAddr::v4(0x0a000000 | (base + j));
        m.src_port = 1000;
        flow_request(m, reqs[j]);
      }
      t.lookup_or_create(reqs, FlowTable::kLookupMax, now, ids);
    }
    ASSERT_EQ(t.size(), 4096u);
    ASSERT_EQ(t.expire(now + uint64_t{FlowTimeouts{}.tcp_established} * rte_get_tsc_hz(), 4096),
              4096u);
  }
  stop = true;
  lister.join();
  EXPECT_EQ(bad.load(), 0u);
  std::printf("listed %llu records while writing\n",
              static_cast<unsigned long long>(listed.load()));
}

// 1 M flows fit in the test EAL's 512 MB (no hugepages): fill the table to exactly its
// capacity, check the next flow is refused, then expire everything.
TEST(FlowTable, MillionFlows) {
  constexpr uint32_t kCap = 1u << 20;
  FlowTable t(kCap, FlowTimeouts{}, static_cast<int>(rte_socket_id()));
  EXPECT_EQ(t.capacity(), kCap);
  const double per_flow = static_cast<double>(t.memory_bytes()) / kCap;
  RecordProperty("memory_bytes", std::to_string(t.memory_bytes()));
  RecordProperty("bytes_per_flow", std::to_string(per_flow));
  std::printf("flow table: %u flows, %zu MiB (%.1f bytes/flow, rte_hash %.1f)\n", kCap,
              t.memory_bytes() >> 20, per_flow, static_cast<double>(t.hash_memory_bytes()) / kCap);
  EXPECT_GT(t.hash_memory_bytes(), size_t{kCap} * sizeof(FlowKey)) << "key store at least";
  EXPECT_LT(per_flow, 256.0);

  const uint64_t now = rte_rdtsc();
  FlowRequest reqs[FlowTable::kLookupMax];
  uint32_t ids[FlowTable::kLookupMax];
  PacketMeta m;
  m.l3 = L3Kind::kIpv4;
  m.l4_proto = IPPROTO_UDP;
  m.flags = meta_flag::kHasL4;
  m.dst = IpAddr::v4(0xc6336401);
  m.dst_port = 443;
  uint64_t created = 0;
  for (uint32_t base = 0; base < kCap; base += FlowTable::kLookupMax) {
    for (uint16_t j = 0; j < FlowTable::kLookupMax; ++j) {
      const uint32_t i = base + j;
      m.src = IpAddr::v4(0x0a000000 | (i >> 4));
      m.src_port = static_cast<uint16_t>(1024 + (i & 15));
      flow_request(m, reqs[j]);
    }
    created += t.lookup_or_create(reqs, FlowTable::kLookupMax, now, ids);
  }
  EXPECT_EQ(created, kCap);
  EXPECT_EQ(t.size(), kCap);
  m.src = IpAddr::v4(0x0b000000);
  flow_request(m, reqs[0]);
  EXPECT_EQ(t.lookup_or_create(reqs, 1, now, ids), 0u);
  EXPECT_EQ(ids[0], kNoFlow) << "full at exactly the capacity";
  // An existing flow is still found.
  m.src = IpAddr::v4(0x0a000000 | (12345 >> 4));
  m.src_port = static_cast<uint16_t>(1024 + (12345 & 15));
  flow_request(m, reqs[0]);
  EXPECT_EQ(t.lookup_or_create(reqs, 1, now, ids), 0u);
  EXPECT_NE(ids[0], kNoFlow);

  EXPECT_EQ(t.expire(now + uint64_t{FlowTimeouts{}.udp} * rte_get_tsc_hz(), kCap), kCap);
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// NAT answers landing on the wrong worker: with several workers each NatTable owns one port
// range, and an answer received by worker A for an external port of worker B's range (TCP/UDP
// destination port, echo reply identifier, source port quoted by an ICMP error) must reach B
// through the A→B ring, flagged kNatHandoff, untouched by A; B's nat_in translates it with B's
// mapping and clears the flag (it never sends it on again). Two workers' nat stages run on this
// thread over real rte_rings. Hostile rows: ports outside every range or in A's own, LAN
// traffic, fragments, truncated and malformed quotes, foreign addresses, packets already
// flagged, a full ring (named drop, no mbuf leaked) and a single worker (nothing handed off).
// The last test runs two whole pipelines and a Worker thread: its inbound ring feeds flagged
// packets to nat_in, the others to flow.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/stages/flow.h"
#include "dataplane/stages/nat.h"
#include "dataplane/stages/parse.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/checksum.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/nat_site.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/parse_frame.h"
#include "tests/testing/pipeline_counters.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using testing::Frame;
using testing::Ipv4Opts;
using testing::PacketBuilder;
using testing::StageHarness;
using Bytes = std::vector<uint8_t>;
namespace tcpf = testing::tcpf;

using testing::nat_site::ip;

// Two workers: worker 0 owns [20000, 21000), worker 1 [21000, 22000); nothing else is anyone's.
constexpr uint16_t kBase = 20000;
constexpr uint32_t kRange = 1000;

NatConfig worker_config(unsigned worker) {
  NatConfig c;
  c.capacity = 1024;
  c.port_base = kBase;
  c.port_range_size = kRange;
  c.worker = worker;
  return c;
}

using namespace testing::nat_site;
using testing::NatSite;
constexpr uint16_t kNoSuchPort = 9;
constexpr const char* kRouter4 = "198.51.100.254";
constexpr const char* kRouter6 = "2001:db8:ff::1";

std::atomic<uint32_t> g_now{1000};
// The stages' time (BurstContext::now_tsc): g_now seconds in TSC ticks.
uint64_t fake_tsc() noexcept {
  return uint64_t{g_now.load()} * rte_get_tsc_hz();
}

rte_mbuf* parsed(const Frame& f, uint16_t port) {
  return testing::parsed_frame(f, port, port == kLan);
}
rte_mbuf* outbound(const Frame& f) {
  rte_mbuf* m = parsed(f, kLan);
  meta(m).uplink = 0;
  meta(m).out_port = kFiber;
  return m;
}

PacketBuilder lan() {
  return PacketBuilder().eth(kLanMac, kHostMac);
}
PacketBuilder wan() {
  return PacketBuilder().eth(kFiberMac, kFiberGw);
}

// The first `n` bytes (0: all) of an IP packet, as an ICMP error quotes it.
Bytes quote(const Bytes& packet, size_t n) {
  if (n == 0 || n > packet.size()) n = packet.size();
  return Bytes(packet.begin(), packet.begin() + static_cast<long>(n));
}
Bytes l3_of(const Frame& f) {
  return Bytes(f.bytes.begin() + static_cast<long>(f.l3_off), f.bytes.end());
}
Frame v4_error(const char* dst, uint8_t type, uint8_t code, const Bytes& q) {
  return wan().ipv4(kRouter4, dst).icmp(type, code, 0, 0).payload(q).build();
}
Frame v6_error(const char* dst, uint8_t type, uint8_t code, const Bytes& q) {
  // The 4-byte ICMPv6 field (unused / MTU) then the quote; sized at once (GCC 12 -O3
  // -Warray-bounds false positive on vector::insert, see dp_nat_test.cc).
  Bytes body(4 + q.size(), 0);
  std::copy(q.begin(), q.end(), body.begin() + 4);
  return wan().ipv6(kRouter6, dst).icmpv6(type, code, body).build();
}

using testing::checksums_ok;

std::map<std::string, uint64_t> counters(const Stage& s) {
  std::vector<CounterValue> c;
  s.collect_extra(c);
  std::map<std::string, uint64_t> m;
  for (auto& v : c) m[v.name] = v.value;
  return m;
}

rte_ring* make_ring(unsigned size) {
  static std::atomic<unsigned> seq{0};
  char name[32];
  std::snprintf(name, sizeof name, "nat_ho_%u", seq++);
  rte_ring* r = rte_ring_create(name, size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  EXPECT_NE(r, nullptr) << name;
  return r;
}
void free_ring(rte_ring* r) {
  if (r == nullptr) return;
  void* m;
  while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  rte_ring_free(r);
}

// One worker's NAT: its table, nat_out (opens mappings), nat_in (under test), harnesses.
struct NatWorker {
  NatTable table;
  NatOutStage nat_out;
  NatInStage nat_in;
  StageHarness hout;
  StageHarness hin;
  NatWorker(const Site& site, unsigned w)
      : table(worker_config(w)),
        nat_out(site, table),
        nat_in(site, table),
        hout(nat_out, nullptr, fake_tsc),
        hin(nat_in, nullptr, fake_tsc) {}
  uint64_t nat_in_total() const {
    uint64_t n = 0;
    for (auto e : NatInStage::kEdges) n += hin.edge_count(std::string(e));
    for (auto d : NatInStage::kDrops) n += hin.drop_count(std::string(d));
    return n;
  }
};

// Two workers with rings both ways: ring[from][to].
struct TwoWorkers {
  NatSite s;
  rte_ring* ring[2][2] = {};
  std::unique_ptr<NatWorker> w[2];
  explicit TwoWorkers(unsigned ring_size = 64) {
    g_now = 1000;
    ring[0][1] = make_ring(ring_size);
    ring[1][0] = make_ring(ring_size);
    w[0] = std::make_unique<NatWorker>(s.site, 0);
    w[1] = std::make_unique<NatWorker>(s.site, 1);
    w[0]->nat_in.set_handoff(0, {nullptr, ring[0][1]}, kBase, kRange);
    w[1]->nat_in.set_handoff(1, {ring[1][0], nullptr}, kBase, kRange);
  }
  ~TwoWorkers() {
    w[0].reset();
    w[1].reset();
    free_ring(ring[0][1]);
    free_ring(ring[1][0]);
  }
  TwoWorkers(const TwoWorkers&) = delete;
  TwoWorkers& operator=(const TwoWorkers&) = delete;
};

// =============================================================================================
// The table

struct HandoffRow {
  const char* what;
  Frame out;  // LAN frame opening a mapping on worker `owner` (empty: none)
  // The answer from the internet, given the translated LAN packet (from its IP header on) and
  // the external port or identifier it was given.
  std::function<Frame(const Bytes& translated, uint16_t ext)> answer;
  bool handed_off;    // expected on the ring towards the other worker
  std::string where;  // verdict where it is finally processed (the other worker if handed off)
  std::function<Frame()> expect = nullptr;  // the bytes, for edge:translated
  unsigned owner = 1;                       // worker whose nat_out opens the mapping
  unsigned arrive = 0;                      // worker the answer is received by
  uint16_t port = kFiber;
  std::function<void(PacketMeta&)> tweak = nullptr;  // meta edits after parse
};

TEST(NatHandoff, AnswersReachTheWorkerOwningThePort) {
  const Frame tcp4 = lan().ipv4(kHost4, kSaas4).tcp(40000, 443, tcpf::kSyn, 7).build();
  const Frame udp4 = lan().ipv4(kHost4, kSaas4).udp(40001, 53).payload(40).build();
  const Frame udp4_opts =
      lan().ipv4(kHost4, kSaas4, Ipv4Opts{.options = {1, 1, 1, 0}}).udp(40002, 53).build();
  const Frame echo4 = lan().ipv4(kHost4, kSaas4).icmp(8, 0, 4242, 3).payload(56).build();
  const Frame tcp6 = lan().ipv6(kHost6, kSaas6).tcp(40003, 443, tcpf::kSyn).build();
  const Frame udp6 = lan().ipv6(kHost6, kSaas6).udp(40004, 443).payload(300).build();
  const Frame echo6 = lan().ipv6(kHost6, kSaas6).icmpv6(128, 0, {0xab, 0xcd, 0, 1}).build();
  const Frame udp6_dstopts =
      lan().ipv6(kHost6, kSaas6).ipv6_dest_opts().udp(40005, 443).payload(20).build();
  const Frame udp4_first = lan().ipv4(kHost4, kSaas4).udp(21000, 53).build();  // preserved
  const Frame udp4_last = lan().ipv4(kHost4, kSaas4).udp(21999, 53).build();   // preserved
  auto hi = [](uint16_t p) { return static_cast<uint8_t>(p >> 8); };
  auto lo = [](uint16_t p) { return static_cast<uint8_t>(p); };
  auto udp4_to = [](uint16_t port) {
    return [port](const Bytes&, uint16_t) {
      return wan().ipv4(kSaas4, kFiber4).udp(53, port).payload(10).build();
    };
  };
  auto udp4_reply = [](const Bytes&, uint16_t ext) {
    return wan().ipv4(kSaas4, kFiber4).udp(53, ext).payload(10).build();
  };
  // An ICMP error quoting the first `n` bytes of the translated packet, and the same error as
  // the router would have sent it to the LAN host directly (quoting the original packet).
  auto v4err = [](uint8_t type, uint8_t code, size_t n, std::function<void(Bytes&)> spoil = {}) {
    return [=](const Bytes& tr, uint16_t) {
      Bytes q = quote(tr, n);
      if (spoil) spoil(q);
      return v4_error(kFiber4, type, code, q);
    };
  };
  auto v4err_back = [&](const Frame& orig, uint8_t type, uint8_t code, size_t n) {
    return [=] { return v4_error(kHost4, type, code, quote(l3_of(orig), n)); };
  };
  auto v6err = [](uint8_t type, uint8_t code, size_t n) {
    return [=](const Bytes& tr, uint16_t) { return v6_error(kFiber6, type, code, quote(tr, n)); };
  };
  auto v6err_back = [&](const Frame& orig, uint8_t type, uint8_t code, size_t n) {
    return [=] { return v6_error(kHost6, type, code, quote(l3_of(orig), n)); };
  };

  std::vector<HandoffRow> rows = {
      // --- Handed over to worker 1 and translated there.
      {"v4 TCP SYN-ACK", tcp4,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv4(kSaas4, kFiber4).tcp(443, ext, tcpf::kSyn | tcpf::kAck, 9, 8).build();
       },
       true, "edge:translated",
       [] {
         return wan().ipv4(kSaas4, kHost4).tcp(443, 40000, tcpf::kSyn | tcpf::kAck, 9, 8).build();
       }},
      {"v4 UDP reply", udp4,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv4(kSaas4, kFiber4).udp(53, ext).payload(77).build();
       },
       true, "edge:translated",
       [] { return wan().ipv4(kSaas4, kHost4).udp(53, 40001).payload(77).build(); }},
      {"v4 UDP to the first port of worker 1's range", udp4_first, udp4_to(21000), true,
       "edge:translated",
       [] { return wan().ipv4(kSaas4, kHost4).udp(53, 21000).payload(10).build(); }},
      {"v4 UDP to the last port of worker 1's range", udp4_last, udp4_to(21999), true,
       "edge:translated",
       [] { return wan().ipv4(kSaas4, kHost4).udp(53, 21999).payload(10).build(); }},
      {"v6 TCP reply", tcp6,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv6(kSaas6, kFiber6).tcp(443, ext).payload(3).build();
       },
       true, "edge:translated",
       [] { return wan().ipv6(kSaas6, kHost6).tcp(443, 40003).payload(3).build(); }},
      {"v6 UDP reply", udp6,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv6(kSaas6, kFiber6).udp(443, ext).payload(500).build();
       },
       true, "edge:translated",
       [] { return wan().ipv6(kSaas6, kHost6).udp(443, 40004).payload(500).build(); }},
      {"v4 ICMP echo reply", echo4,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv4(kSaas4, kFiber4).icmp(0, 0, ext, 3).payload(56).build();
       },
       true, "edge:translated",
       [] { return wan().ipv4(kSaas4, kHost4).icmp(0, 0, 4242, 3).payload(56).build(); }},
      {"ICMPv6 echo reply", echo6,
       [=](const Bytes&, uint16_t ext) {
         return wan().ipv6(kSaas6, kFiber6).icmpv6(129, 0, {hi(ext), lo(ext), 0, 1}).build();
       },
       true, "edge:translated",
       [] {
         return wan().ipv6(kSaas6, kHost6).icmpv6(129, 0, {0xab, 0xcd, 0, 1}).build();
       }},
      {"v4 port unreachable quoting UDP (28 bytes)", udp4, v4err(3, 3, 28), true, "edge:translated",
       v4err_back(udp4, 3, 3, 28)},
      {"v4 port unreachable quoting the whole UDP datagram", udp4, v4err(3, 3, 0), true,
       "edge:translated", v4err_back(udp4, 3, 3, 0)},
      {"v4 time exceeded quoting a TCP SYN", tcp4, v4err(11, 0, 0), true, "edge:translated",
       v4err_back(tcp4, 11, 0, 0)},
      {"v4 unreachable quoting UDP with IP options", udp4_opts, v4err(3, 1, 0), true,
       "edge:translated", v4err_back(udp4_opts, 3, 1, 0)},
      {"v6 unreachable quoting TCP", tcp6, v6err(1, 4, 0), true, "edge:translated",
       v6err_back(tcp6, 1, 4, 0)},
      {"v6 time exceeded quoting UDP (48 bytes)", udp6, v6err(3, 0, 48), true, "edge:translated",
       v6err_back(udp6, 3, 0, 48)},
      {"reverse: mapping on worker 0, answer on worker 1", udp4,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv4(kSaas4, kFiber4).udp(53, ext).payload(5).build();
       },
       true, "edge:translated",
       [] { return wan().ipv4(kSaas4, kHost4).udp(53, 40001).payload(5).build(); }, 0, 1},

      // --- Handed over on the port alone: worker 1 decides.
      {"worker 1's port without a mapping: worker 1 passes it on",
       {},
       udp4_to(21500),
       true,
       "edge:next"},
      {"reply from a remote never contacted: filtered by worker 1", udp4,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv4("192.0.2.66", kFiber4).udp(53, ext).build();
       },
       true, "drop:filtered"},
      {"TCP to a UDP mapping's port: no mapping on worker 1", udp4,
       [](const Bytes&, uint16_t ext) { return wan().ipv4(kSaas4, kFiber4).tcp(53, ext).build(); },
       true, "edge:next"},
      {"ICMP error with a bad checksum: dropped by worker 1", udp4,
       [](const Bytes& tr, uint16_t) {
         Frame f = v4_error(kFiber4, 3, 3, quote(tr, 28));
         f.set8(f.l4_off + 2, static_cast<uint8_t>(f.get8(f.l4_off + 2) ^ 0xff));
         return f;
       },
       true, "drop:bad_icmp_checksum"},

      // --- Not handed over: worker 0 handles it as with a single worker.
      {"port below port_base", {}, udp4_to(19999), false, "edge:next"},
      {"port 0", {}, udp4_to(0), false, "edge:next"},
      {"port just past the last range", {}, udp4_to(22000), false, "edge:next"},
      {"port 65535", {}, udp4_to(65535), false, "edge:next"},
      {"echo reply with an identifier below the base",
       {},
       [](const Bytes&, uint16_t) { return wan().ipv4(kSaas4, kFiber4).icmp(0, 0, 7, 1).build(); },
       false,
       "edge:next"},
      {"worker 0's own range, live mapping: translated locally", udp4, udp4_reply, false,
       "edge:translated",
       [] { return wan().ipv4(kSaas4, kHost4).udp(53, 40001).payload(10).build(); }, 0},
      {"worker 0's own range, no mapping", {}, udp4_to(20999), false, "edge:next"},
      {"from the LAN port, to worker 1's port", udp4,
       [](const Bytes&, uint16_t ext) { return lan().ipv4(kSaas4, kFiber4).udp(53, ext).build(); },
       false, "edge:next", nullptr, 1, 0, kLan},
      {"v4 first fragment to worker 1's port", udp4,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv4(kSaas4, kFiber4, Ipv4Opts{.mf = true}).udp(53, ext).payload(64).build();
       },
       false, "edge:next"},
      {"v4 later fragment", udp4,
       [](const Bytes&, uint16_t) {
         return wan().ipv4(kSaas4, kFiber4, Ipv4Opts{.frag_offset = 8}).payload(64).build();
       },
       false, "edge:next"},
      {"v6 fragment to worker 1's port", udp6,
       [](const Bytes&, uint16_t ext) {
         return wan()
             .ipv6(kSaas6, kFiber6)
             .ipv6_fragment(0, true)
             .udp(443, ext)
             .payload(64)
             .build();
       },
       false, "edge:next"},
      {"v4 to an address that is not the uplink's", udp4,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv4(kSaas4, "100.64.1.3").udp(53, ext).build();
       },
       false, "edge:next"},
      {"v6 to an address that is not the uplink's", udp6,
       [](const Bytes&, uint16_t ext) {
         return wan().ipv6(kSaas6, "2001:db8:1::3").udp(443, ext).build();
       },
       false, "edge:next"},
      {"lte's address received on fiber", udp4,
       [](const Bytes&, uint16_t ext) { return wan().ipv4(kSaas4, kLte4).udp(53, ext).build(); },
       false, "edge:next"},
      {"received on a port that is no interface", udp4, udp4_reply, false, "edge:next", nullptr, 1,
       0, kNoSuchPort},
      {"echo request to the box with an id in worker 1's range",
       {},
       [](const Bytes&, uint16_t) {
         return wan().ipv4(kSaas4, kFiber4).icmp(8, 0, 21500, 1).build();
       },
       false,
       "edge:next"},
      {"already flagged kNatHandoff, on the wrong worker: local, not sent again", udp4, udp4_reply,
       false, "edge:next", nullptr, 1, 0, kFiber,
       [](PacketMeta& md) { md.flags |= meta_flag::kNatHandoff; }},
      {"already flagged ICMP error, on the wrong worker", udp4, v4err(3, 3, 28), false, "edge:next",
       nullptr, 1, 0, kFiber, [](PacketMeta& md) { md.flags |= meta_flag::kNatHandoff; }},
      {"L4 header not parsed", udp4, udp4_reply, false, "drop:truncated", nullptr, 1, 0, kFiber,
       [](PacketMeta& md) { md.flags &= static_cast<uint16_t>(~meta_flag::kHasL4); }},
      {"v4 quote cut inside the IP header", udp4, v4err(3, 3, 12), false,
       "drop:embedded_truncated"},
      {"v4 quote of the IP header alone", udp4, v4err(3, 3, 20), false, "drop:embedded_truncated"},
      {"v6 quote cut inside the IPv6 header", udp6, v6err(1, 4, 20), false,
       "drop:embedded_truncated"},
      {"v4 quote with an IHL past the quote", udp4, v4err(3, 3, 28, [](Bytes& q) { q[0] = 0x4f; }),
       false, "drop:embedded_truncated"},
      {"v4 quote with IHL 3 (the quoted address read as a port)", udp4,
       v4err(3, 3, 28, [](Bytes& q) { q[0] = 0x43; }), false, "drop:embedded_malformed"},
      {"v4 quote of an IPv6 header", udp4, v4err(3, 3, 28, [](Bytes& q) { q[0] = 0x65; }), false,
       "drop:embedded_malformed"},

      // --- Rows that found faults in NatInStage::owner_worker (fixed; kept as regressions).
      // A quote with less than 8 bytes of the transport header was handed over (2 were
      // enough); it is handled locally now, as icmp_error() does (`embedded_truncated`).
      {"v4 quote with 4 bytes of UDP", udp4, v4err(3, 3, 24), false, "drop:embedded_truncated"},
      {"v6 quote with 4 bytes of UDP", udp6, v6err(1, 4, 44), false, "drop:embedded_truncated"},
      // An error about an echo request (traceroute, PMTUD) stayed on the worker it arrived on:
      // only quoted TCP/UDP ports were read, not a quoted echo request's identifier.
      {"v4 time exceeded quoting an echo request", echo4, v4err(11, 0, 28), true, "edge:translated",
       v4err_back(echo4, 11, 0, 28)},
      {"ICMPv6 time exceeded quoting an echo request", echo6, v6err(3, 0, 0), true,
       "edge:translated", v6err_back(echo6, 3, 0, 0)},
      // IPv6 extension headers in the quote were not stepped over (icmp_error() does).
      {"v6 unreachable quoting UDP behind a destination-options header", udp6_dstopts,
       v6err(1, 4, 0), true, "edge:translated", v6err_back(udp6_dstopts, 1, 4, 0)},
  };

  const unsigned pool_before = testing::pool_in_use();
  for (auto& r : rows) {
    [&] {  // one row: an ASSERT ends the row, not the table
      TwoWorkers fx;
      const unsigned a = r.arrive, b = 1 - a;
      NatWorker& wa = *fx.w[a];
      NatWorker& wb = *fx.w[b];
      uint16_t ext = 0;
      Bytes translated;
      if (!r.out.bytes.empty()) {
        auto v = fx.w[r.owner]->hout.run({outbound(r.out)});
        ASSERT_EQ(v.size(), 1u) << r.what;
        ASSERT_EQ(v[0].where, "edge:next") << r.what;
        ext = meta(v[0].pkt).src_port;
        ASSERT_EQ(NatTable::worker_of_port(ext, kBase, kRange, 2), static_cast<int>(r.owner))
            << r.what << ": the mapping's port " << ext;
        const Bytes all = testing::from_mbuf(v[0].pkt);
        translated.assign(all.begin() + static_cast<long>(r.out.l3_off), all.end());
      }
      const Frame answer = r.answer(translated, ext);
      rte_mbuf* m = parsed(answer, r.port);
      if (r.tweak) r.tweak(meta(m));
      ++g_now;

      auto va = wa.hin.run({m});
      ASSERT_EQ(va.size(), 1u) << r.what;
      testing::Verdict final;
      if (r.handed_off) {
        // Neither an edge nor a drop on worker a: the packet is on the ring, untouched.
        EXPECT_EQ(va[0].where, "lost") << r.what << ": expected on the ring to worker " << b;
        EXPECT_EQ(wa.nat_in_total(), 0u) << r.what << ": worker " << a << " must not process it";
        EXPECT_EQ(rte_ring_count(fx.ring[b][a]), 0u) << r.what;
        ASSERT_EQ(rte_ring_count(fx.ring[a][b]), 1u) << r.what;
        void* p = nullptr;
        ASSERT_EQ(rte_ring_dequeue(fx.ring[a][b], &p), 0) << r.what;
        rte_mbuf* h = static_cast<rte_mbuf*>(p);
        EXPECT_EQ(h, m) << r.what;
        EXPECT_NE(meta(h).flags & meta_flag::kNatHandoff, 0) << r.what << ": flag";
        EXPECT_EQ(testing::from_mbuf(h), answer.bytes) << r.what << ": rewritten by worker " << a;
        EXPECT_EQ(wa.nat_in.icmp_errors_translated(), 0u) << r.what;
        EXPECT_EQ(counters(wa.nat_in)["nat_in.to_worker" + std::to_string(b)], 1u) << r.what;

        auto vb = wb.hin.run({h});
        ASSERT_EQ(vb.size(), 1u) << r.what;
        final = vb[0];
        EXPECT_EQ(rte_ring_count(fx.ring[b][a]), 0u) << r.what << ": sent back (ping-pong)";
        EXPECT_EQ(counters(wb.nat_in)["nat_in.to_worker" + std::to_string(a)], 0u) << r.what;
      } else {
        final = va[0];
        EXPECT_EQ(rte_ring_count(fx.ring[a][b]), 0u) << r.what << ": handed off";
        EXPECT_EQ(rte_ring_count(fx.ring[b][a]), 0u) << r.what;
        EXPECT_EQ(counters(wa.nat_in)["nat_in.to_worker" + std::to_string(b)], 0u) << r.what;
        EXPECT_EQ(wb.nat_in_total(), 0u) << r.what;
      }
      // Only the other worker is listed: no counter towards oneself.
      EXPECT_EQ(counters(wa.nat_in).count("nat_in.to_worker" + std::to_string(a)), 0u) << r.what;
      EXPECT_EQ(final.where, r.where) << r.what;
      if (final.pkt != nullptr) {
        EXPECT_EQ(meta(final.pkt).flags & meta_flag::kNatHandoff, 0) << r.what << ": flag kept";
        const Bytes got = testing::from_mbuf(final.pkt);
        if (final.where == "edge:translated" && r.expect) {
          EXPECT_EQ(got, r.expect().bytes) << r.what;
          EXPECT_TRUE(checksums_ok(got)) << r.what;
          const bool v4 = meta(final.pkt).l3 == L3Kind::kIpv4;
          EXPECT_EQ(meta(final.pkt).dst, ip(v4 ? kHost4 : kHost6)) << r.what;
        } else if (final.where == "edge:next") {
          EXPECT_EQ(got, answer.bytes) << r.what << ": must pass untouched";
        }
      }
    }();
    EXPECT_EQ(testing::pool_in_use(), pool_before) << r.what << ": mbuf leak";
  }
}

// One burst mixing answers for both workers and for no one: the hand-offs leave in input order
// on the one ring, the rest keeps its verdicts; worker 1 translates the whole ring burst.
TEST(NatHandoff, MixedBurstSplitsInOrder) {
  const unsigned pool_before = testing::pool_in_use();
  {
    TwoWorkers fx;
    auto open = [&](unsigned w, const Frame& f) {
      auto v = fx.w[w]->hout.run({outbound(f)});
      EXPECT_EQ(v[0].where, "edge:next");
      return meta(v[0].pkt).src_port;
    };
    const uint16_t t1 = open(1, lan().ipv4(kHost4, kSaas4).tcp(40000, 443).build());
    const uint16_t u0 = open(0, lan().ipv4(kHost4, kSaas4).udp(40001, 53).build());
    const uint16_t e1 = open(1, lan().ipv4(kHost4, kSaas4).icmp(8, 0, 99, 1).build());
    const uint16_t v1 = open(1, lan().ipv6(kHost6, kSaas6).udp(40002, 443).build());
    std::vector<rte_mbuf*> in = {
        parsed(wan().ipv4(kSaas4, kFiber4).tcp(443, t1).build(), kFiber),       // → 1
        parsed(wan().ipv4(kSaas4, kFiber4).udp(53, u0).build(), kFiber),        // local, translated
        parsed(wan().ipv4(kSaas4, kFiber4).udp(53, 19999).build(), kFiber),     // local, next
        parsed(wan().ipv4(kSaas4, kFiber4).icmp(0, 0, e1, 1).build(), kFiber),  // → 1
        parsed(wan().ipv6(kSaas6, kFiber6).udp(443, v1).build(), kFiber),       // → 1
    };
    auto v = fx.w[0]->hin.run(in);
    ASSERT_EQ(v.size(), 5u);
    EXPECT_EQ(v[0].where, "lost");
    EXPECT_EQ(v[1].where, "edge:translated");
    EXPECT_EQ(v[2].where, "edge:next");
    EXPECT_EQ(v[3].where, "lost");
    EXPECT_EQ(v[4].where, "lost");
    rte_mbuf* ring[8];
    const unsigned n =
        rte_ring_dequeue_burst(fx.ring[0][1], reinterpret_cast<void**>(ring), 8, nullptr);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(ring[0], in[0]);
    EXPECT_EQ(ring[1], in[3]);
    EXPECT_EQ(ring[2], in[4]);
    EXPECT_EQ(counters(fx.w[0]->nat_in)["nat_in.to_worker1"], 3u);
    auto w = fx.w[1]->hin.run(std::vector<rte_mbuf*>(ring, ring + n));
    ASSERT_EQ(w.size(), 3u);
    for (auto& x : w) {
      EXPECT_EQ(x.where, "edge:translated");
      if (x.pkt != nullptr) {
        EXPECT_EQ(meta(x.pkt).flags & meta_flag::kNatHandoff, 0);
        EXPECT_EQ(meta(x.pkt).dst, ip(meta(x.pkt).l3 == L3Kind::kIpv4 ? kHost4 : kHost6));
      }
    }
    EXPECT_EQ(meta(w[0].pkt).dst_port, 40000);
    EXPECT_EQ(meta(w[1].pkt).dst_port, 99);
    EXPECT_EQ(meta(w[2].pkt).dst_port, 40002);
    EXPECT_EQ(fx.w[1]->hin.edge_count("translated"), 3u);
    EXPECT_EQ(rte_ring_count(fx.ring[1][0]), 0u);
    EXPECT_EQ(counters(fx.w[1]->nat_in)["nat_in.to_worker0"], 0u);
  }
  EXPECT_EQ(testing::pool_in_use(), pool_before) << "mbuf leak";
}

// The ring towards the owner is full: a named drop, the mbufs go back to the pool, and only
// what was enqueued is counted in nat_in.to_worker1.
TEST(NatHandoff, FullRingIsANamedDropWithoutLeak) {
  const unsigned pool_before = testing::pool_in_use();
  {
    TwoWorkers fx(4);  // each ring holds 3
    auto v = fx.w[1]->hout.run({outbound(lan().ipv4(kHost4, kSaas4).udp(40000, 53).build())});
    ASSERT_EQ(v[0].where, "edge:next");
    const uint16_t ext = meta(v[0].pkt).src_port;
    auto answer = [&] { return parsed(wan().ipv4(kSaas4, kFiber4).udp(53, ext).build(), kFiber); };
    // Fill the ring (blank mbufs, as if other hand-offs were waiting).
    for (int i = 0; i < 3; ++i) {
      rte_mbuf* filler = rte_pktmbuf_alloc(testing::test_pool());
      ASSERT_NE(filler, nullptr);
      ASSERT_EQ(rte_ring_enqueue(fx.ring[0][1], filler), 0);
    }
    ASSERT_EQ(rte_ring_free_count(fx.ring[0][1]), 0u);
    auto full = fx.w[0]->hin.run({answer(), answer()});
    ASSERT_EQ(full.size(), 2u);
    EXPECT_EQ(full[0].where, "drop:handoff_ring_full");
    EXPECT_EQ(full[1].where, "drop:handoff_ring_full");
    EXPECT_EQ(fx.w[0]->hin.drop_count("handoff_ring_full"), 2u);
    EXPECT_EQ(counters(fx.w[0]->nat_in)["nat_in.to_worker1"], 0u);
    EXPECT_EQ(fx.w[0]->hin.edge_count("translated") + fx.w[0]->hin.edge_count("next"), 0u);
    // One slot free: of a burst of three, one goes, two are dropped.
    void* p = nullptr;
    ASSERT_EQ(rte_ring_dequeue(fx.ring[0][1], &p), 0);
    rte_pktmbuf_free(static_cast<rte_mbuf*>(p));
    rte_mbuf* first = answer();
    auto some = fx.w[0]->hin.run({first, answer(), answer()});
    ASSERT_EQ(some.size(), 3u);
    EXPECT_EQ(some[0].where, "lost");  // on the ring
    EXPECT_EQ(some[1].where, "drop:handoff_ring_full");
    EXPECT_EQ(some[2].where, "drop:handoff_ring_full");
    EXPECT_EQ(fx.w[0]->hin.drop_count("handoff_ring_full"), 4u);
    EXPECT_EQ(counters(fx.w[0]->nat_in)["nat_in.to_worker1"], 1u);
    EXPECT_EQ(rte_ring_count(fx.ring[0][1]), 3u);
    // The one that went is processed by worker 1 behind the two fillers.
    rte_mbuf* got[4];
    ASSERT_EQ(rte_ring_dequeue_burst(fx.ring[0][1], reinterpret_cast<void**>(got), 4, nullptr), 3u);
    EXPECT_EQ(got[2], first);
    rte_pktmbuf_free(got[0]);
    rte_pktmbuf_free(got[1]);
    auto w = fx.w[1]->hin.run({got[2]});
    EXPECT_EQ(w[0].where, "edge:translated");
  }
  EXPECT_EQ(testing::pool_in_use(), pool_before) << "mbuf leak";
}

// One worker: set_handoff never called (or with a single ring slot): an answer to a port of
// what would be worker 1's range is handled locally, nothing is counted as handed off.
TEST(NatHandoff, SingleWorkerHandsNothingOff) {
  const unsigned pool_before = testing::pool_in_use();
  {
    NatSite s;
    g_now = 1000;
    NatWorker other(s.site, 1);  // opens a mapping in worker 1's range
    auto v = other.hout.run({outbound(lan().ipv4(kHost4, kSaas4).udp(40000, 53).build())});
    ASSERT_EQ(v[0].where, "edge:next");
    const uint16_t ext = meta(v[0].pkt).src_port;
    ASSERT_EQ(NatTable::worker_of_port(ext, kBase, kRange, 2), 1);
    for (int variant = 0; variant < 2; ++variant) {
      NatWorker solo(s.site, 0);
      if (variant == 1) solo.nat_in.set_handoff(0, {nullptr}, kBase, kRange);
      const Frame answer = wan().ipv4(kSaas4, kFiber4).udp(53, ext).build();
      const Frame quoted = v4_error(kFiber4, 3, 3, quote(l3_of(answer), 28));  // any quote
      auto r =
          solo.hin.run({parsed(answer, kFiber), parsed(quoted, kFiber),
                        parsed(wan().ipv4(kSaas4, kFiber4).icmp(0, 0, ext, 1).build(), kFiber)});
      ASSERT_EQ(r.size(), 3u) << variant;
      EXPECT_EQ(r[0].where, "edge:next") << variant;
      EXPECT_EQ(r[1].where, "edge:next") << variant;
      EXPECT_EQ(r[2].where, "edge:next") << variant;
      for (auto& x : r) {
        if (x.pkt != nullptr) {
          EXPECT_EQ(meta(x.pkt).flags & meta_flag::kNatHandoff, 0) << variant;
        }
      }
      for (auto& [name, value] : counters(solo.nat_in))
        EXPECT_EQ(name.rfind("nat_in.to_worker", 0), std::string::npos) << variant << " " << name;
    }
  }
  EXPECT_EQ(testing::pool_in_use(), pool_before) << "mbuf leak";
}

uint64_t counter(const Pipeline& p, const std::string& name) {
  const auto v = testing::counter_value(p, name);
  if (!v) ADD_FAILURE() << "no counter " << name;
  return v.value_or(0);
}
template <typename S>
uint64_t stage_total(const Pipeline& p, const std::string& stage) {
  uint64_t n = 0;
  for (auto e : S::kEdges) n += counter(p, stage + ".out." + std::string(e));
  for (auto d : S::kDrops) n += counter(p, stage + "." + std::string(d));
  return n;
}

// The whole path: two pipelines as make_worker_pipeline builds them (the factory's
// set_handoff: port base from the table's own range), the answer enters worker 0 at parse and
// lands on the 0→1 ring; a real Worker 1 thread drains that ring and runs flagged packets from
// its nat_in, the others (a plain hand-off of the dispatch stage) from flow.
TEST(NatHandoff, WorkerRunsFlaggedRingPacketsFromNatIn) {
  testing::TestSite ts("natho");
  rte_ring* r01 = make_ring(1024);
  rte_ring* r10 = make_ring(1024);
  ASSERT_TRUE(r01 && r10);
  {
    NatTable n0(worker_config(0)), n1(worker_config(1));
    FlowTable f0(4096, ts.site.flows.timeouts, 0), f1(4096, ts.site.flows.timeouts, 0);
    std::array<bool, kMaxPorts> ready{};
    ready[ts.lan_port] = ready[ts.up_port] = true;
    WorkerDeps d0{0, &ts.site, &f0, testing::test_pool(), {nullptr, r01}, ready};
    WorkerDeps d1{1, &ts.site, &f1, testing::test_pool(), {r10, nullptr}, ready};
    d0.nat = &n0;
    d1.nat = &n1;
    auto p0 = make_worker_pipeline(d0);
    auto p1 = make_worker_pipeline(d1);

    // Worker 1's mapping (its table, its clock), for a remote the host sent to.
    NatFail fail;
    const uint32_t id = n1.out(0, IPPROTO_UDP, ip("192.168.10.10"), 40000, ip("203.0.113.10"), 0,
                               nat_now_s(), &fail);
    ASSERT_NE(id, kNoMapping);
    const uint16_t ext = n1.mapping(id).ext_port;
    ASSERT_EQ(NatTable::worker_of_port(ext, kBase, kRange, 2), 1);

    rte_mbuf* a = testing::to_mbuf(testing::test_pool(),
                                   PacketBuilder()
                                       .eth(testing::kSiteUplinkMac, testing::kSiteGatewayMac)
                                       .ipv4("203.0.113.10", "100.64.1.2")
                                       .udp(443, ext)
                                       .payload(20)
                                       .build(),
                                   ts.up_port);
    mark_rx(&a, 1, ts.up_port, false);
    p0->run(p0->node_index("parse"), &a, 1, ts.ctx());
    EXPECT_EQ(counter(*p0, "nat_in.to_worker1"), 1u);
    EXPECT_EQ(stage_total<NatInStage>(*p0, "nat_in"), 0u);
    ASSERT_EQ(rte_ring_count(r01), 1u);

    // A packet the dispatch stage would have handed over: parsed, unflagged, for flow.
    rte_mbuf* plain = testing::to_mbuf(testing::test_pool(),
                                       PacketBuilder()
                                           .eth(testing::kSiteLanMac, testing::kSiteHostMac)
                                           .ipv4("192.168.10.11", "203.0.113.20")
                                           .udp(5555, 443)
                                           .build(),
                                       ts.lan_port);
    mark_rx(&plain, 1, ts.lan_port, true);
    {  // parsed as the sending worker did (its edges are not needed here)
      ParseStage parse;
      Burst e[3], drops;
      Burst* ep[3] = {&e[0], &e[1], &e[2]};
      uint64_t ec[3] = {}, dc[ParseStage::kDrops.size()] = {}, of = 0;
      Trace tr;
      Output out;
      out.wire(0, ep, ec, &drops, dc, &of, &tr);
      parse.process(&plain, 1, BurstContext{}, out);
      ASSERT_EQ(drops.n, 0);
    }
    ASSERT_EQ(meta(plain).flags & meta_flag::kNatHandoff, 0);
    ASSERT_EQ(rte_ring_enqueue(r01, plain), 0);

    std::atomic<bool> stop{false};
    Worker w1(*p1, {}, {r01}, Polling::kBusy, stop, WorkerSync{});
    std::thread t([&w1] { w1.run(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline &&
           (rte_ring_count(r01) != 0 || stage_total<NatInStage>(*p1, "nat_in") == 0 ||
            stage_total<FlowStage>(*p1, "flow") == 0))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop = true;
    t.join();

    EXPECT_EQ(counter(*p1, "nat_in.out.translated"), 1u) << "the flagged answer, by nat_in";
    EXPECT_EQ(stage_total<NatInStage>(*p1, "nat_in"), 1u) << "the plain packet skips nat_in";
    // flow saw the plain packet plus whatever dispatch kept of the translated one.
    EXPECT_EQ(stage_total<FlowStage>(*p1, "flow"), counter(*p1, "dispatch.out.own") + 1)
        << "the plain packet enters at flow";
    EXPECT_EQ(counter(*p1, "nat_in.to_worker0"), 0u) << "never sent back";
    p0.reset();
    p1.reset();
  }
  free_ring(r01);
  free_ring(r10);
  ts.drain_lan();
  ts.drain_uplink();
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The whole worker pipeline against hostile traffic: valid frames of every kind, truncated at
// every length and with random bytes flipped (fixed seed), from the LAN and from the uplink.
// Nothing may crash, every packet must be accounted for exactly once (sent, consumed, or a named
// drop), and no mbuf may leak.
#include <gtest/gtest.h>

#include <random>

#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/edge_pipeline.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using testing::Frame;
using testing::Ipv4Opts;
using testing::PacketBuilder;
namespace tcpf = testing::tcpf;

std::vector<Frame> seeds() {
  const char* lan = testing::kSiteLanMac;
  const char* host = testing::kSiteHostMac;
  std::vector<Frame> v;
  v.push_back(PacketBuilder()
                  .eth(lan, host)
                  .ipv4("192.168.10.10", "203.0.113.1")
                  .udp(1000, 53)
                  .payload(30)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(lan, host)
                  .ipv4("192.168.10.10", "203.0.113.1")
                  .tcp(1000, 443, tcpf::kSyn, 1, 0, {2, 4, 5, 0xb4})
                  .build());
  v.push_back(
      PacketBuilder()
          .eth(lan, host)
          .vlan(10)
          .vlan(20, 0x8100)
          .ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.options = {1, 1, 7, 7, 4, 0, 0, 0, 0}})
          .udp(1, 2)
          .build());
  v.push_back(
      PacketBuilder()
          .eth(lan, host)
          .ipv4("192.168.10.10", "203.0.113.1", Ipv4Opts{.id = 7, .frag_offset = 3, .mf = true})
          .payload(24)
          .build());
  v.push_back(PacketBuilder()
                  .eth(lan, host)
                  .ipv6("fd00:10::10", "2001:db8::1")
                  .ipv6_hop_by_hop(1)
                  .ipv6_dest_opts()
                  .ipv6_routing()
                  .ipv6_fragment(0, true)
                  .udp(5, 6)
                  .payload(16)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(lan, host)
                  .ipv6("fd00:10::10", "2001:db8::1")
                  .tcp(7, 8, tcpf::kAck)
                  .payload(40)
                  .build());
  v.push_back(PacketBuilder()
                  .eth("ff:ff:ff:ff:ff:ff", host)
                  .arp(1, host, "192.168.10.10", "00:00:00:00:00:00", "192.168.10.1")
                  .build());
  v.push_back(PacketBuilder()
                  .eth("33:33:ff:00:00:01", host)
                  .ipv6("fd00:10::10", "ff02::1:ff00:1", {.hop_limit = 255})
                  .nd_solicit("fd00:10::1", host)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(lan, host)
                  .ipv4("192.168.10.10", "192.168.10.1")
                  .icmp(8, 0, 1, 1)
                  .payload(56)
                  .build());
  v.push_back(PacketBuilder()
                  .eth(lan, host)
                  .ipv6("fd00:10::10", "fd00:10::1")
                  .icmpv6(128, 0, {0, 1, 0, 1, 9, 9, 9, 9})
                  .build());
  v.push_back(PacketBuilder()
                  .eth(testing::kSiteUplinkMac, testing::kSiteGatewayMac)
                  .ipv4("203.0.113.1", "192.168.10.10")
                  .udp(53, 1000)
                  .payload(30)
                  .build());
  return v;
}

// Every seed truncated at every length, and 1500 random byte flips of each (some with extra
// garbage).
std::vector<Frame> corpus(std::mt19937& rng) {
  std::vector<Frame> cases;
  for (const Frame& f : seeds()) {
    for (size_t len = 0; len <= f.bytes.size(); ++len) {
      Frame t = f;
      t.truncate(len);
      cases.push_back(t);
    }
    for (int k = 0; k < 1500; ++k) {
      Frame t = f;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) t.bytes[rng() % t.bytes.size()] = static_cast<uint8_t>(rng());
      if (rng() % 8 == 0) t.bytes.resize(t.bytes.size() + rng() % 64, static_cast<uint8_t>(rng()));
      cases.push_back(t);
    }
  }
  return cases;
}

uint64_t sum_prefix(const std::vector<CounterValue>& cs, const std::string& suffix_or_name,
                    bool exact) {
  uint64_t s = 0;
  for (auto& c : cs)
    if (exact ? c.name == suffix_or_name : c.name.find(suffix_or_name) != std::string::npos)
      s += c.value;
  return s;
}

// The corpus' burst from `off` into the pipeline at parse: a random quarter received on the
// uplink, the rest on the LAN. Returns how many packets went in.
uint64_t feed_burst(Pipeline& pipeline, uint16_t parse, testing::TestSite& ts,
                    const std::vector<Frame>& cases, size_t off, std::mt19937& rng) {
  std::vector<rte_mbuf*> lan, wan;
  for (size_t i = off; i < std::min(cases.size(), off + kBurstMax); ++i) {
    bool from_wan = rng() % 4 == 0;
    (from_wan ? wan : lan)
        .push_back(
            testing::to_mbuf(testing::test_pool(), cases[i], from_wan ? ts.up_port : ts.lan_port));
  }
  mark_rx(lan.data(), static_cast<uint16_t>(lan.size()), ts.lan_port, true);
  pipeline.run(parse, lan.data(), static_cast<uint16_t>(lan.size()), ts.ctx());
  mark_rx(wan.data(), static_cast<uint16_t>(wan.size()), ts.up_port, false);
  pipeline.run(parse, wan.data(), static_cast<uint16_t>(wan.size()), ts.ctx());
  return lan.size() + wan.size();
}

TEST(PipelineHostile, EveryPacketAccountedForNoCrashNoLeak) {
  testing::TestSite ts("hostile");
  FlowTable flows(4096, ts.site.flows.timeouts, 0);
  std::array<bool, kMaxPorts> ready{};
  ready[ts.lan_port] = ready[ts.up_port] = true;
  const unsigned before = testing::pool_in_use();
  uint64_t sent = 0, fed = 0;
  {
    auto pipeline =
        make_worker_pipeline({0, &ts.site, &flows, testing::test_pool(), {nullptr}, ready});
    const uint16_t parse = pipeline->node_index("parse");
    std::mt19937 rng(20261128);
    const std::vector<Frame> cases = corpus(rng);
    for (size_t off = 0; off < cases.size(); off += kBurstMax) {
      fed += feed_burst(*pipeline, parse, ts, cases, off, rng);
      sent += ts.drain_lan() + ts.drain_uplink();
    }
    std::vector<CounterValue> cs;
    pipeline->collect(cs);
    const uint64_t consumed = sum_prefix(cs, "local.out.consumed", true);
    const uint64_t tx_in =
        sum_prefix(cs, "forward.out.egress", true) + sum_prefix(cs, "local.out.tx", true);
    const uint64_t tx_drops =
        sum_prefix(cs, "tx.bad_port", true) + sum_prefix(cs, "tx.queue_full", true);
    EXPECT_EQ(fed, pipeline->total_drops() + consumed + sent)
        << "each packet: sent, consumed, or one named drop";
    EXPECT_EQ(tx_in, sent + tx_drops);
    EXPECT_GT(sent, 1000u) << "the corpus is not all garbage: plenty still crosses";
    EXPECT_GT(pipeline->total_drops(), 1000u);
    std::printf("hostile corpus: %llu packets, %llu sent, %llu consumed, %llu dropped by name\n",
                static_cast<unsigned long long>(fed), static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(consumed),
                static_cast<unsigned long long>(pipeline->total_drops()));
  }
  EXPECT_EQ(testing::pool_in_use(), before) << "no mbuf leaked";
}

// The same corpus through the pipeline as the daemon runs it on an edge: overlay (decap,
// encap), breakout NAT, names, recognition (nDPI), QoS with classes. Copies (ICMP errors) and
// queues make the per-packet balance above inexact here; what must hold: no crash, plenty
// crosses, plenty is dropped by name, and once the pipeline is gone no mbuf is left.
TEST(PipelineHostile, TheProductionPipelineSurvivesTheCorpusWithoutLeaks) {
  testing::TestSite ts("hprod");
  FlowTable flows(4096, ts.site.flows.timeouts, 0);
  // The IPv6 seeds go through the overlay, the rest breaks out.
  ts.set_policy(testing::EdgePipeline::policy(*ts.policy, 50'000'000, "2001:db8::/32"));
  testing::EdgePipeline edge;
  const unsigned before = testing::pool_in_use();
  uint64_t sent = 0, fed = 0, drops = 0;
  {
    auto pipeline = edge.make(ts, flows);
    const uint16_t parse = pipeline->node_index("parse");
    std::mt19937 rng(20261207);
    const std::vector<Frame> cases = corpus(rng);
    uint64_t now = rte_rdtsc();
    for (size_t off = 0; off < cases.size(); off += kBurstMax) {
      fed += feed_burst(*pipeline, parse, ts, cases, off, rng);
      now += rte_get_tsc_hz() / 1000;
      pipeline->idle(ts.ctx(now));
      sent += ts.drain_lan() + ts.drain_uplink();
    }
    drops = pipeline->total_drops();
    EXPECT_GT(sent, 1000u) << "the corpus is not all garbage: plenty still crosses";
    EXPECT_GT(drops, 1000u);
    std::vector<CounterValue> cs;
    pipeline->collect(cs);
    EXPECT_GT(sum_prefix(cs, "encap.out.next", true), 0u) << "some of it took the overlay";
    std::printf("hostile corpus, production pipeline: %llu packets, %llu sent, %llu dropped\n",
                static_cast<unsigned long long>(fed), static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(drops));
  }
  ts.drain_lan();
  ts.drain_uplink();
  EXPECT_EQ(testing::pool_in_use(), before) << "no mbuf leaked";
}

}  // namespace
}  // namespace traboule::dp

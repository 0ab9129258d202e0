// SPDX-License-Identifier: Apache-2.0
// LocalStage cost: the transit check every data packet pays (IPv4 and IPv6, not for us →
// "forward", packets untouched so the same mbufs are reused), and ARP request → reply in place
// (learn + rewrite; each frame and its meta are restored from a template between bursts, outside
// the cycles_per_pkt measurement, which covers process() only).
#include <benchmark/benchmark.h>
#include <rte_cycles.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/stages/local.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"

namespace {

using traboule::dp::Burst;
using traboule::dp::Interface;
using traboule::dp::IpAddr;
using traboule::dp::kBurstMax;
using traboule::dp::L3Kind;
using traboule::dp::LocalStage;
using traboule::dp::Output;
using traboule::dp::PacketMeta;
using traboule::dp::Site;
using traboule::testing::Frame;
using traboule::testing::PacketBuilder;

constexpr const char* kLanMac = "02:00:00:00:00:10";
constexpr const char* kHostMac = "02:00:00:00:00:aa";

std::unique_ptr<Interface> iface(const char* name, uint16_t port, const char* mac, const char* v4,
                                 const char* v6) {
  auto ifc = std::make_unique<Interface>();
  ifc->name = name;
  ifc->port_id = port;
  ifc->mac = traboule::testing::mac(mac);
  ifc->v4 = traboule::dp::IfAddr{*IpAddr::parse(v4), 24};
  ifc->v6 = traboule::dp::IfAddr{*IpAddr::parse(v6), 64};
  ifc->v6_link_local = traboule::dp::link_local_from_mac(ifc->mac);
  ifc->neighbors = std::make_unique<traboule::dp::NeighborTable>(1024);
  return ifc;
}

std::unique_ptr<Site> make_site() {
  auto site = std::make_unique<Site>();
  auto lan = iface("lan", 0, kLanMac, "192.168.1.1", "2001:db8:1::1");
  lan->is_lan = true;
  auto wan = iface("fiber", 1, "02:00:00:00:00:20", "203.0.113.2", "2001:db8:ff::2");
  site->lan = lan.get();
  site->uplinks.push_back(wan.get());
  site->by_port[0] = lan.get();
  site->by_port[1] = wan.get();
  site->ifaces.push_back(std::move(lan));
  site->ifaces.push_back(std::move(wan));
  return site;
}

// The fields parse fills, for these untagged frames.
PacketMeta meta_of(const Frame& f) {
  PacketMeta md;
  md.in_port = 0;
  md.l2_len = 14;
  const uint8_t* l3 = f.bytes.data() + 14;
  if (f.get16(12) == RTE_ETHER_TYPE_ARP) {
    md.l3 = L3Kind::kArp;
    md.src = IpAddr::v4_bytes(l3 + 14);
    md.dst = IpAddr::v4_bytes(l3 + 24);
  } else if (f.get16(12) == RTE_ETHER_TYPE_IPV4) {
    md.l3 = L3Kind::kIpv4;
    md.l3_len = 20;
    md.l3_total = f.get16(16);
    md.ttl = l3[8];
    md.l4_proto = l3[9];
    md.src = IpAddr::v4_bytes(l3 + 12);
    md.dst = IpAddr::v4_bytes(l3 + 16);
  } else {
    md.l3 = L3Kind::kIpv6;
    md.l3_len = 40;
    md.l3_total = static_cast<uint16_t>(40 + f.get16(18));
    md.ttl = l3[7];
    md.l4_proto = l3[6];
    md.src = IpAddr::v6_bytes(l3 + 8);
    md.dst = IpAddr::v6_bytes(l3 + 24);
  }
  return md;
}

class Fixture {
 public:
  explicit Fixture(const std::vector<Frame>& frames)
      : site_(make_site()), stage_(*site_, nullptr, false) {
    for (uint16_t i = 0; i < kBurstMax; ++i) {
      frames_[i] = frames[i % frames.size()];
      metas_[i] = meta_of(frames_[i]);
      pkts_[i] = traboule::testing::to_mbuf(traboule::testing::test_pool(), frames_[i], 0);
      if (pkts_[i] == nullptr) std::abort();
      traboule::dp::meta(pkts_[i]) = metas_[i];
    }
    for (unsigned e = 0; e < edges_.size(); ++e) edge_ptrs_[e] = &edges_[e];
    out_.wire(0, edge_ptrs_.data(), edge_counts_.data(), &drops_, drop_counts_.data(), &overflow_,
              nullptr);
  }
  ~Fixture() { rte_pktmbuf_free_bulk(pkts_.data(), kBurstMax); }

  uint64_t run_once() {
    const uint64_t t0 = rte_rdtsc();
    stage_.process(pkts_.data(), kBurstMax, traboule::dp::BurstContext{.now_tsc = t0}, out_);
    const uint64_t t = rte_rdtsc() - t0;
    for (auto& e : edges_) e.n = 0;
    return t;
  }
  // Puts back the bytes and meta the stage rewrote (the frames here are never resized).
  void restore() {
    for (uint16_t i = 0; i < kBurstMax; ++i) {
      std::memcpy(rte_pktmbuf_mtod(pkts_[i], uint8_t*), frames_[i].bytes.data(),
                  frames_[i].bytes.size());
      traboule::dp::meta(pkts_[i]) = metas_[i];
    }
  }
  bool all_went_to(unsigned edge) const {
    for (unsigned e = 0; e < edge_counts_.size(); ++e)
      if (e != edge && edge_counts_[e] != 0) return false;
    for (uint64_t d : drop_counts_)
      if (d != 0) return false;
    return overflow_ == 0 && edge_counts_[edge] == kBurstMax;
  }

 private:
  std::unique_ptr<Site> site_;
  LocalStage stage_;
  std::array<Frame, kBurstMax> frames_;
  std::array<PacketMeta, kBurstMax> metas_{};
  std::array<rte_mbuf*, kBurstMax> pkts_{};
  std::array<Burst, LocalStage::kEdges.size()> edges_;
  std::array<Burst*, LocalStage::kEdges.size()> edge_ptrs_{};
  std::array<uint64_t, LocalStage::kEdges.size()> edge_counts_{};
  std::array<uint64_t, LocalStage::kDrops.size()> drop_counts_{};
  Burst drops_;
  uint64_t overflow_ = 0;
  Output out_;
};

void run(benchmark::State& state, const std::vector<Frame>& frames, unsigned edge, bool restore) {
  Fixture fx(frames);
  fx.run_once();  // warm up, and check the frames take the intended edge
  if (!fx.all_went_to(edge)) {
    state.SkipWithError("bench frames did not take the expected edge");
    return;
  }
  if (restore) fx.restore();
  uint64_t cycles = 0;
  uint64_t best = UINT64_MAX;
  for (auto _ : state) {
    const uint64_t dt = fx.run_once();
    cycles += dt;
    best = std::min(best, dt);
    if (restore) fx.restore();
  }
  const auto pkts = static_cast<double>(state.iterations()) * kBurstMax;
  state.SetItemsProcessed(static_cast<int64_t>(pkts));
  state.counters["cycles_per_pkt"] = static_cast<double>(cycles) / pkts;
  // The fastest burst: the stage's cost when nothing preempts it (shared, loaded hosts).
  state.counters["best_cycles_per_pkt"] = static_cast<double>(best) / kBurstMax;
}

std::vector<Frame> transit4() {
  std::vector<Frame> f;
  for (const char* dst : {"8.8.8.8", "1.1.1.1", "198.51.100.7", "203.0.113.77"})
    f.push_back(PacketBuilder()
                    .eth(kLanMac, kHostMac)
                    .ipv4("192.168.1.10", dst)
                    .udp(40000, 443)
                    .payload(64)
                    .build());
  return f;
}
std::vector<Frame> transit6() {
  std::vector<Frame> f;
  for (const char* dst : {"2606:4700::1111", "2001:4860:4860::8888"})
    f.push_back(PacketBuilder()
                    .eth(kLanMac, kHostMac)
                    .ipv6("2001:db8:1::10", dst)
                    .tcp(40000, 443)
                    .payload(64)
                    .build());
  return f;
}
std::vector<Frame> arp_requests() {
  std::vector<Frame> f;
  for (const char* spa : {"192.168.1.10", "192.168.1.11", "192.168.1.12", "192.168.1.13"})
    f.push_back(PacketBuilder()
                    .eth("ff:ff:ff:ff:ff:ff", kHostMac)
                    .arp(1, kHostMac, spa, "00:00:00:00:00:00", "192.168.1.1")
                    .payload(18, 0)
                    .build());
  return f;
}

void BM_LocalTransitIpv4(benchmark::State& state) {
  run(state, transit4(), LocalStage::kTransit, false);
}
void BM_LocalTransitIpv6(benchmark::State& state) {
  run(state, transit6(), LocalStage::kTransit, false);
}
void BM_LocalArpReply(benchmark::State& state) {
  run(state, arp_requests(), LocalStage::kTx, true);
}

BENCHMARK(BM_LocalTransitIpv4);
BENCHMARK(BM_LocalTransitIpv6);
BENCHMARK(BM_LocalArpReply);

}  // namespace

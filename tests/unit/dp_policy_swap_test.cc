// SPDX-License-Identifier: Apache-2.0
// Policy activation under traffic: a real worker loop forwards a stream of numbered packets while
// the control side publishes a new policy snapshot (RCU) more than a thousand times. Every packet
// must come out exactly once, on the uplink both policies agree on, with nothing dropped.
#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "dataplane/model/policy_snapshot.h"
#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/rcu.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"

namespace traboule::dp {
namespace {

using testing::PacketBuilder;

constexpr const char* kLanMac = "02:00:00:00:5a:01";
constexpr const char* kHostMac = "02:00:00:00:5a:10";
constexpr const char* kUpMac[2] = {"02:00:00:00:5b:01", "02:00:00:00:5c:01"};
constexpr const char* kGwMac[2] = {"02:00:00:00:5b:fe", "02:00:00:00:5c:fe"};

// A ring-backed port whose RX and TX are separate rings (so nothing loops back).
struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  uint16_t port = 0;
  std::string name;
  RingPort(const std::string& tag) : name("net_ring_sw" + tag) {
    rx = rte_ring_create(("sw_rx_" + tag).c_str(), 8192, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    tx = rte_ring_create(("sw_tx_" + tag).c_str(), 8192, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rx == nullptr || tx == nullptr) throw std::runtime_error("rings");
    int p = rte_eth_from_rings(("sw" + tag).c_str(), &rx, 1, &tx, 1, 0);
    if (p < 0) throw std::runtime_error("ring port");
    port = static_cast<uint16_t>(p);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(port, 0, 512, 0, nullptr, testing::test_pool()) != 0 ||
        rte_eth_tx_queue_setup(port, 0, 512, 0, nullptr) != 0 || rte_eth_dev_start(port) != 0)
      throw std::runtime_error("ring port start");
  }
  ~RingPort() {
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    rte_vdev_uninit(name.c_str());
    for (rte_ring* r : {rx, tx}) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(r);
    }
  }
};

std::shared_ptr<PolicySnapshot> base_policy() {
  auto p = std::make_shared<PolicySnapshot>();
  p->uplinks = {{.name = "fiber"}, {.name = "vdsl"}};
  return p;
}
CompiledRule rule(const char* name, std::vector<const char*> dst, std::vector<uint8_t> ups) {
  CompiledRule r;
  r.name = name;
  for (const char* d : dst) r.match.dst.push_back(*IpPrefix::parse(d));
  r.action.uplinks = std::move(ups);
  return r;
}

// Three policies written differently that route the test traffic identically:
// 203.0.113.0/24 → fiber, everything else → vdsl.
std::vector<std::shared_ptr<PolicySnapshot>> equivalent_policies() {
  auto a = base_policy();
  a->rules = {rule("dc", {"203.0.113.0/24"}, {0, 1}), rule("default", {}, {1, 0})};
  auto b = base_policy();
  b->rules = {rule("unused", {"198.18.0.0/15"}, {0}), rule("dc-low", {"203.0.113.0/25"}, {0}),
              rule("dc-high", {"203.0.113.128/25"}, {0, 1}), rule("default", {}, {1})};
  auto c = base_policy();
  CompiledRule voice = rule("voice", {}, {1, 0});
  voice.match.proto = 17;
  voice.match.dst_ports = {{5060, 5061}};  // never sent
  c->rules = {voice, rule("dc", {"203.0.113.0/24", "2001:db8::/32"}, {0}),
              rule("default", {}, {1, 0})};
  return {a, b, c};
}

TEST(PolicySwap, ThousandsOfSwapsUnderTrafficLoseAndMisrouteNothing) {
  const unsigned in_use_before = testing::pool_in_use();
  {
    RingPort lan("l"), up0("f"), up1("v");
    Site site;
    auto iface = [&](const char* name, uint16_t port, bool is_lan, const char* mac, uint8_t u) {
      auto i = std::make_unique<Interface>();
      i->name = name;
      i->port_id = port;
      i->is_lan = is_lan;
      i->uplink = u;
      i->mac = testing::mac(mac);
      i->neighbors = std::make_unique<NeighborTable>(256);
      i->link_up = true;
      site.by_port[port] = i.get();
      return i;
    };
    auto l = iface("lan", lan.port, true, kLanMac, kNoUplink);
    l->v4 = IfAddr{*IpAddr::parse("192.168.20.1"), 24};
    l->neighbors->learn(*IpAddr::parse("192.168.20.10"), testing::mac(kHostMac), 1);
    site.lan = l.get();
    site.lan_prefixes = {*IpPrefix::parse("192.168.20.0/24")};
    RingPort* ups[2] = {&up0, &up1};
    for (uint8_t u = 0; u < 2; ++u) {
      auto up = iface(u == 0 ? "fiber" : "vdsl", ups[u]->port, false, kUpMac[u], u);
      up->v4 = IfAddr{*IpAddr::parse(u == 0 ? "100.64.1.2" : "100.64.2.2"), 24};
      up->gw4 = *IpAddr::parse(u == 0 ? "100.64.1.1" : "100.64.2.1");
      up->neighbors->set_static(*up->gw4, testing::mac(kGwMac[u]));
      site.uplinks.push_back(up.get());
      site.ifaces.push_back(std::move(up));
    }
    site.ifaces.insert(site.ifaces.begin(), std::move(l));

    auto policies = equivalent_policies();
    for (auto& p : policies) p->prepare_hits();
    Rcu rcu(1);
    SnapshotSlot<PolicySnapshot> slot(rcu, policies[0]);
    WorkerView view;
    FlowTable flows(4096, FlowTimeouts{}, 0);
    std::array<bool, kMaxPorts> ready{};
    ready[lan.port] = ready[up0.port] = ready[up1.port] = true;
    auto pipeline =
        make_worker_pipeline({0, &site, &flows, testing::test_pool(), {nullptr}, ready});
    std::atomic<bool> stop{false};
    Worker worker(*pipeline, {{lan.port, 0, true}, {up0.port, 0, false}, {up1.port, 0, false}}, {},
                  Polling::kAdaptive, stop, WorkerSync{&rcu, 0, &slot, nullptr, &view});
    std::thread th([&] { worker.run(); });

    // 512 flows; odd ones go to the datacenter prefix (fiber), even ones elsewhere (vdsl).
    constexpr unsigned kFlows = 512;
    constexpr unsigned kSwaps = 1500;
    constexpr unsigned kPerSwap = 48;
    const unsigned total = kSwaps * kPerSwap;
    std::vector<uint8_t> seen(total, 0);
    unsigned received = 0, misrouted = 0, duplicated = 0, malformed = 0;
    auto drain = [&] {
      for (uint8_t u = 0; u < 2; ++u) {
        void* objs[64];
        unsigned n;
        while ((n = rte_ring_dequeue_burst(ups[u]->tx, objs, 64, nullptr)) != 0) {
          for (unsigned i = 0; i < n; ++i) {
            auto* m = static_cast<rte_mbuf*>(objs[i]);
            const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
            uint32_t seq;
            if (m->data_len < 14 + 20 + 8 + 4) {
              ++malformed;
            } else {
              std::memcpy(&seq, d + 42, 4);
              const bool to_dc = d[14 + 16] == 203;
              if (seq >= total) {
                ++malformed;
              } else {
                if (seen[seq]++) ++duplicated;
                ++received;
                if (to_dc != (u == 0)) ++misrouted;
                rte_ether_addr gw = testing::mac(kGwMac[u]);
                if (!rte_is_same_ether_addr(reinterpret_cast<const rte_ether_addr*>(d), &gw))
                  ++misrouted;
              }
            }
            rte_pktmbuf_free(m);
          }
        }
      }
    };
    uint32_t seq = 0;
    for (unsigned s = 0; s < kSwaps; ++s) {
      rte_mbuf* burst[kPerSwap];
      for (unsigned i = 0; i < kPerSwap; ++i, ++seq) {
        const unsigned f = seq % kFlows;
        std::string dst = (f & 1) ? "203.0.113." + std::to_string(f % 250 + 1)
                                  : "198.51.100." + std::to_string(f % 250 + 1);
        std::vector<uint8_t> body(4);
        std::memcpy(body.data(), &seq, 4);
        testing::Frame fr = PacketBuilder()
                                .eth(kLanMac, kHostMac)
                                .ipv4("192.168.20.10", dst)
                                .udp(static_cast<uint16_t>(10000 + f), 443)
                                .payload(body)
                                .build();
        burst[i] = testing::to_mbuf(testing::test_pool(), fr, lan.port);
      }
      while (rte_ring_enqueue_bulk(lan.rx, reinterpret_cast<void**>(burst), kPerSwap, nullptr) == 0)
        drain();
      slot.publish(policies[(s + 1) % policies.size()]);
      drain();
    }
    for (int i = 0; i < 2000 && received < total; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      drain();
    }
    stop = true;
    th.join();
    drain();

    EXPECT_EQ(received, total) << "lost " << total - received;
    EXPECT_EQ(misrouted, 0u);
    EXPECT_EQ(duplicated, 0u);
    EXPECT_EQ(malformed, 0u);
    uint64_t drops = pipeline->total_drops();
    EXPECT_EQ(drops, 0u);
    // Every policy really carried traffic (the worker saw each publication and re-evaluated).
    uint64_t per_policy[3] = {};
    for (size_t k = 0; k < policies.size(); ++k)
      for (size_t r = 0; r < policies[k]->rules.size(); ++r)
        per_policy[k] += policies[k]->total_hits(r).packets;
    EXPECT_EQ(per_policy[0] + per_policy[1] + per_policy[2], total);
    for (uint64_t n : per_policy) EXPECT_GT(n, 0u);
    EXPECT_GT(policies[1]->total_hits(1).packets + policies[1]->total_hits(2).packets, 0u);
    std::printf(
        "policy swaps: %u, packets: %u received of %u, misrouted %u; per policy %lu %lu %lu\n",
        kSwaps, received, total, misrouted, per_policy[0], per_policy[1], per_policy[2]);
  }
  EXPECT_EQ(testing::pool_in_use(), in_use_before) << "mbuf leak";
}

}  // namespace
}  // namespace traboule::dp

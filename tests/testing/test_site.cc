// SPDX-License-Identifier: Apache-2.0
#include "tests/testing/test_site.h"

#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>

#include <cstdio>
#include <cstdlib>

#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"

namespace traboule::testing {
namespace {

// One RX queue and kTxQueues TX queues (one per worker a test runs), all on the same ring.
constexpr uint16_t kTxQueues = 2;

uint16_t ring_port(rte_ring* r, const std::string& name) {
  rte_ring* rx[1] = {r};
  rte_ring* tx[kTxQueues] = {r, r};
  int p = rte_eth_from_rings(name.c_str(), rx, 1, tx, kTxQueues, 0);
  if (p < 0) {
    std::fprintf(stderr, "test site: cannot create ring port %s: %s\n", name.c_str(),
                 rte_strerror(rte_errno));
    std::abort();
  }
  auto port = static_cast<uint16_t>(p);
  rte_eth_conf conf{};
  bool ok = rte_eth_dev_configure(port, 1, kTxQueues, &conf) == 0 &&
            rte_eth_rx_queue_setup(port, 0, 512, 0, nullptr, test_pool()) == 0;
  for (uint16_t q = 0; q < kTxQueues; ++q)
    ok = ok && rte_eth_tx_queue_setup(port, q, 512, 0, nullptr) == 0;
  if (!ok || rte_eth_dev_start(port) != 0) {
    std::fprintf(stderr, "test site: cannot start ring port %u\n", port);
    std::abort();
  }
  return port;
}

unsigned drain(rte_ring* r) {
  unsigned n = 0;
  void* m;
  while (rte_ring_dequeue(r, &m) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    ++n;
  }
  return n;
}

}  // namespace

TestSite::TestSite(const std::string& tag) {
  lan_ring_ = rte_ring_create(("ts_lan_" + tag).c_str(), 4096, 0, 0);
  up_ring_ = rte_ring_create(("ts_up_" + tag).c_str(), 4096, 0, 0);
  if (lan_ring_ == nullptr || up_ring_ == nullptr) {
    std::fprintf(stderr, "test site: cannot create rings for %s\n", tag.c_str());
    std::abort();
  }
  lan_name_ = "net_ring_l" + tag;
  up_name_ = "net_ring_u" + tag;
  lan_port = ring_port(lan_ring_, lan_name_);
  up_port = ring_port(up_ring_, up_name_);

  auto lan = std::make_unique<dp::Interface>();
  lan->name = "lan";
  lan->is_lan = true;
  lan->port_id = lan_port;
  lan->mac = mac(kSiteLanMac);
  lan->v4 = dp::IfAddr{*dp::IpAddr::parse("192.168.10.1"), 24};
  lan->v6 = dp::IfAddr{*dp::IpAddr::parse("fd00:10::1"), 64};
  lan->v6_link_local = dp::link_local_from_mac(lan->mac);
  lan->neighbors = std::make_unique<dp::NeighborTable>(256);
  lan->link_up = true;
  auto up = std::make_unique<dp::Interface>();
  up->name = "fiber";
  up->uplink = 0;
  up->port_id = up_port;
  up->mac = mac(kSiteUplinkMac);
  up->v4 = dp::IfAddr{*dp::IpAddr::parse("100.64.1.2"), 24};
  up->gw4 = *dp::IpAddr::parse("100.64.1.1");
  up->v6 = dp::IfAddr{*dp::IpAddr::parse("fd00:64:1::2"), 64};
  up->gw6 = *dp::IpAddr::parse("fd00:64:1::1");
  up->v6_link_local = dp::link_local_from_mac(up->mac);
  up->neighbors = std::make_unique<dp::NeighborTable>(256);
  up->neighbors->set_static(*up->gw4, mac(kSiteGatewayMac));
  up->neighbors->want(*up->gw6);
  up->link_up = true;
  site.by_port[lan_port] = lan.get();
  site.by_port[up_port] = up.get();
  site.lan = lan.get();
  site.uplinks.push_back(up.get());
  site.lan_prefixes = {*dp::IpPrefix::parse("192.168.10.0/24"),
                       *dp::IpPrefix::parse("fd00:10::/64")};
  site.ifaces.push_back(std::move(lan));
  site.ifaces.push_back(std::move(up));
  site.flows.capacity = 4096;
  set_policy(default_policy(site, {0}));
}

std::shared_ptr<dp::PolicySnapshot> TestSite::default_policy(const dp::Site& s,
                                                             std::vector<uint8_t> uplinks) {
  auto p = std::make_shared<dp::PolicySnapshot>();
  for (const dp::Interface* u : s.uplinks) p->uplinks.push_back({.name = u->name});
  dp::CompiledRule def;
  def.name = "default";
  def.action.uplinks = std::move(uplinks);
  p->rules.push_back(def);
  return p;
}

void TestSite::set_policy(std::shared_ptr<dp::PolicySnapshot> p) {
  policy = std::move(p);
  policy->prepare_hits();
  view.policy = policy.get();
  view.policy_gen = static_cast<uint16_t>(view.policy_gen % 1000 + 1);
}

TestSite::~TestSite() {
  for (uint16_t p : {lan_port, up_port}) {
    rte_eth_dev_stop(p);
    rte_eth_dev_close(p);
  }
  // Remove the vdevs too, so a later fixture may reuse the tag (benchmarks rerun fixtures).
  rte_vdev_uninit(("net_ring_" + lan_name_).c_str());
  rte_vdev_uninit(("net_ring_" + up_name_).c_str());
  drain(lan_ring_);
  drain(up_ring_);
  rte_ring_free(lan_ring_);
  rte_ring_free(up_ring_);
}

unsigned TestSite::drain_lan() {
  return drain(lan_ring_);
}
unsigned TestSite::drain_uplink() {
  return drain(up_ring_);
}

std::vector<std::vector<uint8_t>> TestSite::uplink_frames() {
  std::vector<std::vector<uint8_t>> out;
  void* p;
  while (rte_ring_dequeue(up_ring_, &p) == 0) {
    auto* m = static_cast<rte_mbuf*>(p);
    const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
    out.emplace_back(d, d + rte_pktmbuf_data_len(m));
    rte_pktmbuf_free(m);
  }
  return out;
}

}  // namespace traboule::testing

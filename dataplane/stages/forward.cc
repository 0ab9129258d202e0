// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/forward.h"

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include "dataplane/proto/checksum.h"

namespace traboule::dp {

ForwardStage::ForwardStage(Site& site, FlowTable& flows) : site_(site), flows_(flows) {}

bool ForwardStage::gateway_mac(Interface& up, bool v4, rte_ether_addr* mac) noexcept {
  GatewayCache& c = gw_cache_[up.uplink][v4 ? 0 : 1];
  const uint64_t gen = up.neighbors->generation();
  if (gen != c.generation) [[unlikely]] {
    c.resolved = up.neighbors->lookup(v4 ? *up.gw4 : *up.gw6, &c.mac);
    c.generation = gen;
  }
  *mac = c.mac;
  return c.resolved;
}

void ForwardStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& /*ctx*/,
                           Output& out) noexcept {
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PacketMeta& md = meta(m);
    Interface* egress = site_.iface(md.out_port);
    const bool v4 = md.l3 == L3Kind::kIpv4;
    if (egress == nullptr || (md.l3 != L3Kind::kIpv4 && md.l3 != L3Kind::kIpv6)) [[unlikely]] {
      out.drop(kBadEgress, m);
      continue;
    }
    // A router must not forward a packet whose TTL would reach 0 (RFC 1812 5.3.1).
    if (md.ttl <= 1) {
      out.drop(kTtlExceeded, m);
      continue;
    }
    rte_ether_addr next_hop;
    if (egress->is_lan) {
      const FlowEntry* e = md.flow_id != kNoFlow ? &flows_.entry(md.flow_id) : nullptr;
      if (e != nullptr && !rte_is_zero_ether_addr(&e->lan_mac)) {
        next_hop = e->lan_mac;
      } else if (!egress->neighbors->lookup(md.dst, &next_hop)) {
        egress->neighbors->want(md.dst);
        out.drop(kNeighborUnresolved, m);
        continue;
      }
    } else {
      const auto& gw = v4 ? egress->gw4 : egress->gw6;
      if (!gw) [[unlikely]] {
        out.drop(kNoGateway, m);
        continue;
      }
      if (!gateway_mac(*egress, v4, &next_hop)) {
        egress->neighbors->want(*gw);
        out.drop(kGatewayUnresolved, m);
        continue;
      }
    }
    uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, md.l2_len);
    if (v4)
      decrement_ipv4_ttl(l3);
    else
      reinterpret_cast<rte_ipv6_hdr*>(l3)->hop_limits--;
    // Drop the ingress VLAN tags: the new Ethernet header sits right before L3.
    if (md.l2_len > sizeof(rte_ether_hdr))
      rte_pktmbuf_adj(m, static_cast<uint16_t>(md.l2_len - sizeof(rte_ether_hdr)));
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    eth->dst_addr = next_hop;
    eth->src_addr = egress->mac;
    eth->ether_type = rte_cpu_to_be_16(v4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
    md.l2_len = sizeof(rte_ether_hdr);
    md.vlan_count = 0;

    const uint32_t len = rte_pktmbuf_pkt_len(m);
    uint8_t wan = kNoUplink;
    if (!egress->is_lan) {
      wan = egress->uplink;
      UplinkCounters& c = per_uplink_[egress->uplink];
      bump(c.tx_packets);
      bump(c.tx_bytes, len);
    } else if (const Interface* in = site_.iface(md.in_port); in != nullptr && !in->is_lan) {
      wan = in->uplink;
      UplinkCounters& c = per_uplink_[in->uplink];
      bump(c.rx_packets);
      bump(c.rx_bytes, len);
    }
    if (wan < kMaxUplinks && md.flow_id != kNoFlow) {
      const uint16_t app = flows_.entry(md.flow_id).app;
      AppTraffic& t = per_app_[app < kAppSlots ? app : kAppSlots - 1];
      const int dir = egress->is_lan ? 1 : 0;
      bump(t.packets[wan][dir]);
      bump(t.bytes[wan][dir], len);
    }
    out.to(kEgress, m);
  }
}

ForwardStage::UplinkCounters ForwardStage::uplink_counters(uint8_t u) const noexcept {
  const UplinkCounters& c = per_uplink_[u];
  return {read_counter(c.tx_packets), read_counter(c.tx_bytes), read_counter(c.rx_packets),
          read_counter(c.rx_bytes)};
}

ForwardStage::AppTraffic ForwardStage::app_traffic(uint16_t slot) const noexcept {
  AppTraffic out;
  if (slot >= kAppSlots) return out;
  const AppTraffic& t = per_app_[slot];
  for (unsigned u = 0; u < kMaxUplinks; ++u)
    for (unsigned d = 0; d < 2; ++d) {
      out.packets[u][d] = read_counter(t.packets[u][d]);
      out.bytes[u][d] = read_counter(t.bytes[u][d]);
    }
  return out;
}

void ForwardStage::collect_extra(std::vector<CounterValue>& out) const {
  for (size_t u = 0; u < site_.uplinks.size(); ++u) {
    auto c = uplink_counters(static_cast<uint8_t>(u));
    const std::string base = "forward.uplink." + site_.uplinks[u]->name;
    out.push_back({base + ".tx_packets", c.tx_packets});
    out.push_back({base + ".tx_bytes", c.tx_bytes});
    out.push_back({base + ".rx_packets", c.rx_packets});
    out.push_back({base + ".rx_bytes", c.rx_bytes});
  }
}

}  // namespace traboule::dp

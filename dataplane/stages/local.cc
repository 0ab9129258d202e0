// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/local.h"

#include "dataplane/stages/local_internal.h"

namespace traboule::dp {

using namespace local_detail;  // the stage's own constants and helpers (local_internal.h)

static_assert(LocalStage::kDrops.size() == LocalStage::kEchoRateLimited + 1, "one name per drop");

LocalStage::LocalStage(Site& site, rte_mempool* pool, bool resolver)
    : site_(site), pool_(pool), resolver_(resolver), own_(site) {
  uint64_t hz = rte_get_tsc_hz();
  hz_ = hz;
  echo_tokens_milli_ = uint64_t{kWanEchoPerSecond} * 1000;
  period_tsc_ = hz * kResolvePeriodMs / 1000;
  retry_tsc_ = hz * kRetryMs / 1000;
  refresh_tsc_ = hz * kRefreshMs / 1000;
  for (uint16_t port = 0; port < kMaxPorts; ++port) {
    Interface* ifc = site.by_port[port];
    if (ifc == nullptr) continue;
    PortInfo& pi = ports_[port];
    if (const auto w = fill_port_addresses(pi, *ifc)) pi.mask4 = w->mask;
    if (ifc->gw4 && ifc->gw4->is_v4()) pi.gw4 = raw4(*ifc->gw4);
    if (ifc->gw6 && !ifc->gw6->is_v4() && !ifc->gw6->is_zero()) {
      pi.has_gw6 = true;
      pi.gw6 = *ifc->gw6;
    }
    if (pi.has_v6)
      pi.prefix6 = IpPrefix{ifc->v6->addr, ifc->v6->plen > 128 ? uint8_t{128} : ifc->v6->plen};
  }
}

bool LocalStage::on_link6(const PortInfo& pi, const IpAddr& a) const noexcept {
  return v6_link_local(a.b.data()) || (pi.has_v6 && pi.prefix6.contains(a)) ||
         (pi.has_gw6 && a == pi.gw6);
}

bool LocalStage::fits(rte_mbuf* m, uint16_t l2_len, uint32_t l3_need, Drop short_reason,
                      Output& out) noexcept {
  uint32_t need = uint32_t{l2_len} + l3_need;
  // Replies rewrite both MACs: an L2 header shorter than Ethernet's would overlap L3.
  if (rte_pktmbuf_data_len(m) >= need && l2_len >= kEthLen) [[likely]]
    return true;
  out.drop(rte_pktmbuf_pkt_len(m) >= need && l2_len >= kEthLen ? kChainedMbuf : short_reason, m);
  return false;
}

bool LocalStage::learn(Interface& ifc, const IpAddr& ip, const uint8_t* mac) noexcept {
  if (ifc.neighbors == nullptr) return true;  // nothing to keep on this interface
  rte_ether_addr a;
  std::memcpy(a.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
  return ifc.neighbors->learn(ip, a, now_tsc_);
}

void LocalStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                         Output& out) noexcept {
  now_tsc_ = ctx.now_tsc;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PacketMeta& md = meta(m);
    switch (md.l3) {
      case L3Kind::kIpv4:
        ipv4(m, md, out);
        break;
      case L3Kind::kIpv6:
        ipv6(m, md, out);
        break;
      case L3Kind::kArp:
        arp(m, md, out);
        break;
      default:
        out.to(kTransit, m);
        break;
    }
  }
}

void LocalStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"local.learn_failed", read_counter(stats_.learn_failed)});
  out.push_back({"local.arp_requests_sent", read_counter(stats_.arp_requests_sent)});
  out.push_back({"local.ns_sent", read_counter(stats_.ns_sent)});
  out.push_back({"local.resolver_no_mbuf", read_counter(stats_.resolver_no_mbuf)});
  out.push_back({"local.resolver_no_source", read_counter(stats_.resolver_no_source)});
  out.push_back({"local.resolver_deferred", read_counter(stats_.resolver_deferred)});
}

}  // namespace traboule::dp

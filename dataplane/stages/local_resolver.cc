// SPDX-License-Identifier: Apache-2.0
// The local stage: resolving gateways and neighbours (ARP requests, neighbour solicitations).
#include "dataplane/stages/local_internal.h"

namespace traboule::dp {

using namespace local_detail;  // the stage's own constants and helpers (local_internal.h)

rte_mbuf* LocalStage::make_arp_request(const Interface& ifc, const IpAddr& ip) noexcept {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) return nullptr;
  uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kMinFrame));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(p, 0, kMinFrame);
  std::memset(p, 0xff, RTE_ETHER_ADDR_LEN);
  std::memcpy(p + 6, ifc.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  put16(p + 12, RTE_ETHER_TYPE_ARP);
  uint8_t* a = p + kEthLen;
  put16(a, RTE_ARP_HRD_ETHER);
  put16(a + 2, RTE_ETHER_TYPE_IPV4);
  a[4] = RTE_ETHER_ADDR_LEN;
  a[5] = 4;
  put16(a + 6, RTE_ARP_OP_REQUEST);
  std::memcpy(a + 8, ifc.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  std::memcpy(a + 14, ifc.v4->addr.v4_ptr(), 4);
  std::memcpy(a + 24, ip.v4_ptr(), 4);  // target hardware address stays zero

  PacketMeta& md = meta(m);
  md = PacketMeta{};
  md.src = ifc.v4->addr;
  md.dst = ip;
  md.l2_len = kEthLen;
  md.l3 = L3Kind::kArp;
  md.out_port = ifc.port_id;
  return m;
}

rte_mbuf* LocalStage::make_ns(const Interface& ifc, const IpAddr& src,
                              const IpAddr& target) noexcept {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) return nullptr;
  constexpr uint32_t kLen = kEthLen + kIpv6Len + kNdLen;
  uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kLen));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  // Solicited-node multicast group of the target (RFC 4291 §2.7.1) and its MAC (RFC 2464 §7).
  uint8_t group[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  std::memcpy(group + 13, target.b.data() + 13, 3);
  p[0] = 0x33;
  p[1] = 0x33;
  std::memcpy(p + 2, group + 12, 4);
  std::memcpy(p + 6, ifc.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  put16(p + 12, RTE_ETHER_TYPE_IPV6);
  uint8_t* ip = p + kEthLen;
  write_ipv6_header(ip, {.payload_len = kNdLen,
                         .next = IPPROTO_ICMPV6,
                         .hop_limit = kNdHopLimit,
                         .src = src.b.data(),
                         .dst = group});
  uint8_t* ns = ip + kIpv6Len;
  ns[0] = kNdNs;
  ns[1] = 0;
  put16(ns + 2, 0);
  ns[4] = ns[5] = ns[6] = ns[7] = 0;
  std::memcpy(ns + 8, target.b.data(), 16);
  ns[24] = kOptSourceLla;
  ns[25] = 1;
  std::memcpy(ns + 26, ifc.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  put_cksum(ns + 2, icmp6_cksum(ip + 8, ip + 24, ns, kNdLen));

  PacketMeta& md = meta(m);
  md = PacketMeta{};
  md.src = src;
  md.dst = IpAddr::v6_bytes(group);
  md.l2_len = kEthLen;
  md.l3 = L3Kind::kIpv6;
  md.l3_len = kIpv6Len;
  md.l3_total = kIpv6Len + kNdLen;
  md.l4_proto = IPPROTO_ICMPV6;
  md.icmp_type = kNdNs;
  md.ttl = kNdHopLimit;
  md.out_port = ifc.port_id;
  return m;
}

void LocalStage::on_idle(const BurstContext& ctx, Output& out) noexcept {
  const uint64_t now_tsc = ctx.now_tsc;
  if (!resolver_ || now_tsc - last_resolve_tsc_ < period_tsc_) return;
  last_resolve_tsc_ = now_tsc;
  // Uplinks first (their gateways carry everything), each interface with its own budget, so
  // a LAN full of unanswered addresses cannot starve gateway resolution.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& up : site_.ifaces) {
      Interface& ifc = *up;
      if (ifc.neighbors == nullptr || ifc.port_id == kNoPort || ifc.is_lan != (pass == 1)) continue;
      unsigned budget = kResolveBudget;
      ifc.neighbors->due_requests(
          now_tsc, retry_tsc_, refresh_tsc_, [&](const IpAddr& ip) noexcept {
            bool v4 = ip.is_v4();
            // A link-local target is asked from our link-local address, anything else from the
            // global one when there is one.
            bool use_ll = v4 || v6_link_local(ip.b.data()) || !ifc.v6 || ifc.v6->addr.is_zero();
            const IpAddr& src6 = use_ll ? ifc.v6_link_local : ifc.v6->addr;
            if (v4 ? !ifc.v4 || !ifc.v4->addr.is_v4() : src6.is_zero()) {
              bump(stats_.resolver_no_source);
              return true;  // counts as a try: with no source address it can never resolve
            }
            if (budget == 0) {
              bump(stats_.resolver_deferred);
              return false;
            }
            rte_mbuf* m = v4 ? make_arp_request(ifc, ip) : make_ns(ifc, src6, ip);
            if (m == nullptr) {
              bump(stats_.resolver_no_mbuf);
              return false;
            }
            bump(v4 ? stats_.arp_requests_sent : stats_.ns_sent);
            --budget;
            out.to(kTx, m);
            return true;
          });
    }
  }
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The local stage: IPv6 neighbour discovery (RFC 4861).
#include "dataplane/stages/local_internal.h"

namespace traboule::dp {

using namespace local_detail;  // the stage's own constants and helpers (local_internal.h)

// Neighbour discovery (RFC 4861 §7.1 validity checks; RFC 6980: no fragmented ND).
void LocalStage::nd(rte_mbuf* m, PacketMeta& md, Output& out) noexcept {
  uint8_t type = md.icmp_type;
  if (type == kNdRs || type == kNdRa) return out.drop(kNdRouterIgnored, m);
  if (type == kNdRedirect) return out.drop(kNdRedirectIgnored, m);
  if (md.flags & meta_flag::kFragment) return out.drop(kNdMalformed, m);
  if (md.ttl != kNdHopLimit) return out.drop(kNdBadHopLimit, m);
  if (md.l3_len < kIpv6Len || md.l3_total < uint32_t{md.l3_len} + kNdFixedLen)
    return out.drop(kNdTruncated, m);
  if (!fits(m, md.l2_len, md.l3_total, kNdTruncated, out)) return;
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, md.l2_len);
  uint8_t* icmp = ip + md.l3_len;
  uint32_t icmp_len = md.l3_total - md.l3_len;
  if (icmp[1] != 0) return out.drop(kNdMalformed, m);
  if (icmp6_cksum(ip + 8, ip + 24, icmp, icmp_len) != 0) return out.drop(kNdBadChecksum, m);
  if (v6_multicast(icmp + 8)) return out.drop(kNdMalformed, m);
  const uint8_t* lla = nullptr;
  if (!nd_options(icmp + kNdFixedLen, icmp_len - kNdFixedLen,
                  type == kNdNs ? kOptSourceLla : kOptTargetLla, &lla))
    return out.drop(kNdBadOption, m);
  const PortInfo* pi = port_info(md.in_port);
  if (pi == nullptr) return out.drop(kNdUnknownPort, m);
  if (type == kNdNs) return ns(m, md, *pi, icmp, lla, out);
  na(m, md, *pi, icmp, lla, out);
}

void LocalStage::ns(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, uint8_t* icmp,
                    const uint8_t* sll, Output& out) noexcept {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint8_t* ip = p + md.l2_len;
  bool dad = v6_unspecified(ip + 8);
  if (dad && (sll != nullptr || !v6_solicited_node(ip + 24))) return out.drop(kNdMalformed, m);
  IpAddr target = IpAddr::v6_bytes(icmp + 8);
  if (!((pi.has_v6 && target == pi.v6) || (pi.has_ll && target == pi.ll)))
    return out.drop(kNdTargetNotOurs, m);
  if (sll != nullptr && !mac_usable(sll)) return out.drop(kNdBadOption, m);
  IpAddr solicitor = IpAddr::v6_bytes(ip + 8);
  if (!dad && own6(solicitor)) return out.drop(kAddrConflict, m);
  if (!dad && sll != nullptr && on_link6(pi, solicitor) && !learn(*pi.iface, solicitor, sll))
    bump(stats_.learn_failed);
  if (m->nb_segs != 1) return out.drop(kChainedMbuf, m);

  // The advertisement, built over the solicitation: to the solicitor, or to all nodes when it
  // was a duplicate address detection probe (then not "solicited", RFC 4861 §7.2.4).
  static constexpr uint8_t kAllNodesMac[RTE_ETHER_ADDR_LEN] = {0x33, 0x33, 0, 0, 0, 0x01};
  static constexpr uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                            0,    0,    0, 0, 0, 0, 0, 0x01};
  uint8_t dst_mac[RTE_ETHER_ADDR_LEN];
  std::memcpy(dst_mac,
              dad              ? kAllNodesMac
              : sll != nullptr ? sll
                               : p + RTE_ETHER_ADDR_LEN,
              sizeof dst_mac);
  IpAddr dst_ip = dad ? IpAddr::v6_bytes(kAllNodes) : solicitor;
  uint32_t len = uint32_t{md.l2_len} + kIpv6Len + kNdLen;
  if (!set_len(m, len)) return out.drop(kNoRoom, m);
  p = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* oip = p + md.l2_len;
  uint8_t* na = oip + kIpv6Len;
  const uint8_t* our_mac = pi.iface->mac.addr_bytes;
  write_ipv6_header(oip, {.payload_len = kNdLen,
                          .next = IPPROTO_ICMPV6,
                          .hop_limit = kNdHopLimit,
                          .src = target.b.data(),
                          .dst = dst_ip.b.data()});
  na[0] = kNdNa;
  na[1] = 0;
  put16(na + 2, 0);
  na[4] = static_cast<uint8_t>(kNaRouter | kNaOverride | (dad ? 0 : kNaSolicited));
  na[5] = na[6] = na[7] = 0;
  std::memcpy(na + 8, target.b.data(), 16);
  na[24] = kOptTargetLla;
  na[25] = 1;
  std::memcpy(na + 26, our_mac, RTE_ETHER_ADDR_LEN);
  put_cksum(na + 2, icmp6_cksum(oip + 8, oip + 24, na, kNdLen));
  std::memcpy(p, dst_mac, RTE_ETHER_ADDR_LEN);
  std::memcpy(p + RTE_ETHER_ADDR_LEN, our_mac, RTE_ETHER_ADDR_LEN);

  md.src = target;
  md.dst = dst_ip;
  md.l3_len = kIpv6Len;
  md.l3_total = kIpv6Len + kNdLen;
  md.ttl = kNdHopLimit;
  md.icmp_type = kNdNa;
  md.icmp_code = 0;
  md.flags &= static_cast<uint16_t>(
      ~(meta_flag::kIpOptions | meta_flag::kFragment | meta_flag::kLaterFragment));
  md.out_port = md.in_port;
  out.to(kTx, m);
}

void LocalStage::na(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, uint8_t* icmp,
                    const uint8_t* tll, Output& out) noexcept {
  const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, md.l2_len);
  if (v6_multicast(ip + 24) && (icmp[4] & kNaSolicited)) return out.drop(kNdMalformed, m);
  IpAddr target = IpAddr::v6_bytes(icmp + 8);
  if ((pi.has_v6 && target == pi.v6) || (pi.has_ll && target == pi.ll))
    return out.drop(kAddrConflict, m);
  if (tll != nullptr) {
    if (!mac_usable(tll)) return out.drop(kNdBadOption, m);
    if (on_link6(pi, target) && !learn(*pi.iface, target, tll)) return out.drop(kNeighTableFull, m);
  }
  if (punt_) return out.to(kToKernel, m);
  out.to(kConsumed, m);
}

}  // namespace traboule::dp

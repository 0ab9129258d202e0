// SPDX-License-Identifier: Apache-2.0
// The local stage: ARP (RFC 826, RFC 5227 probes and announcements).
#include "dataplane/stages/local_internal.h"

namespace traboule::dp {

using namespace local_detail;  // the stage's own constants and helpers (local_internal.h)

void LocalStage::arp(rte_mbuf* m, PacketMeta& md, Output& out) noexcept {
  if (!fits(m, md.l2_len, kArpLen, kArpMalformed, out)) return;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* a = p + md.l2_len;
  if (get16(a) != RTE_ARP_HRD_ETHER || get16(a + 2) != RTE_ETHER_TYPE_IPV4 || a[4] != 6 ||
      a[5] != 4)
    return out.drop(kArpMalformed, m);
  uint16_t op = get16(a + 6);
  if (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY) return out.drop(kArpUnsupportedOp, m);
  const PortInfo* pi = port_info(md.in_port);
  if (pi == nullptr) return out.drop(kArpUnknownPort, m);
  const uint8_t* sha = a + 8;
  if (!mac_usable(sha)) return out.drop(kArpBadSender, m);
  uint32_t spa = load_raw32(a + 14);
  uint32_t tpa = load_raw32(a + 24);
  if (pi->has_v4 && spa == pi->v4) return out.drop(kAddrConflict, m);
  // The gateway counts as on-link even outside the prefix (a /32 on a point-to-point uplink).
  bool on_link = pi->has_v4 && spa != 0 && (((spa ^ pi->v4) & pi->mask4) == 0 || spa == pi->gw4);
  IpAddr sender = IpAddr::v4_bytes(a + 14);

  if (op == RTE_ARP_OP_REPLY || spa == tpa) {  // reply or gratuitous announcement
    if (on_link && !learn(*pi->iface, sender, sha)) return out.drop(kNeighTableFull, m);
    if (punt_ && op == RTE_ARP_OP_REPLY && pi->has_v4 && tpa == pi->v4 && spa != tpa)
      return out.to(kToKernel, m);
    return out.to(kConsumed, m);
  }
  if (on_link && !learn(*pi->iface, sender, sha)) bump(stats_.learn_failed);
  if (!pi->has_v4 || tpa != pi->v4) return out.drop(kArpNotForUs, m);

  // The reply, in place: VLAN tags and any trailing padding stay as received.
  uint8_t req_mac[RTE_ETHER_ADDR_LEN];
  uint8_t req_ip[4];
  std::memcpy(req_mac, sha, sizeof req_mac);
  std::memcpy(req_ip, a + 14, sizeof req_ip);
  const uint8_t* our_mac = pi->iface->mac.addr_bytes;
  put16(a + 6, RTE_ARP_OP_REPLY);
  std::memcpy(a + 8, our_mac, RTE_ETHER_ADDR_LEN);
  std::memcpy(a + 14, &pi->v4, 4);
  std::memcpy(a + 18, req_mac, RTE_ETHER_ADDR_LEN);
  std::memcpy(a + 24, req_ip, 4);
  std::memcpy(p, req_mac, RTE_ETHER_ADDR_LEN);
  std::memcpy(p + RTE_ETHER_ADDR_LEN, our_mac, RTE_ETHER_ADDR_LEN);
  md.src = IpAddr::v4_bytes(&pi->v4);
  md.dst = sender;
  md.out_port = md.in_port;
  out.to(kTx, m);
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The local stage: IPv4 and IPv6 to the box, echo requests answered.
#include "dataplane/stages/local_internal.h"

namespace traboule::dp {

using namespace local_detail;  // the stage's own constants and helpers (local_internal.h)

void LocalStage::ipv4(rte_mbuf* m, PacketMeta& md, Output& out) noexcept {
  uint32_t dst = raw4(md.dst);
  if (own4(dst)) [[unlikely]] {
    const PortInfo* pi = port_info(md.in_port);
    if (pi != nullptr && pi->has_v4 && dst == pi->v4 && md.l4_proto == IPPROTO_ICMP &&
        md.icmp_type == kIcmpEchoRequest && !(md.flags & meta_flag::kFragment))
      return echo4(m, md, *pi, out);
    if (punt_) return out.to(kToKernel, m);
    return out.drop(kLocalUnhandled, m);
  }
  if ((first_octet(dst) & 0xf0) == 0xe0) [[unlikely]]
    return out.drop(kIpv4Multicast, m);
  if (dst == 0xffffffffu) [[unlikely]]
    return out.drop(kIpv4Broadcast, m);
  if (md.in_port < kMaxPorts) {
    const PortInfo& pi = ports_[md.in_port];
    if (pi.has_v4 && pi.bcast4 != 0 && dst == pi.bcast4) [[unlikely]]
      return out.drop(kIpv4Broadcast, m);
  }
  out.to(kTransit, m);
}

// The part of an echo reply both families share: MACs swapped to answer the requester, the
// metadata made true to the rewritten packet, out the port it came in on.
void LocalStage::echo_reply_done(rte_mbuf* m, uint8_t* eth, PacketMeta& md, const PortInfo& pi,
                                 uint8_t type, uint16_t ip_len, uint16_t icmp_len,
                                 Output& out) noexcept {
  std::memcpy(eth, eth + RTE_ETHER_ADDR_LEN, RTE_ETHER_ADDR_LEN);
  std::memcpy(eth + RTE_ETHER_ADDR_LEN, pi.iface->mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  std::swap(md.src, md.dst);
  md.ttl = kEchoTtl;
  md.icmp_type = type;
  md.l3_len = ip_len;
  md.l3_total = static_cast<uint16_t>(ip_len + icmp_len);
  md.flags &= static_cast<uint16_t>(~meta_flag::kIpOptions);
  md.out_port = md.in_port;
  out.to(kTx, m);
}

bool LocalStage::wan_echo_allowed(uint64_t now_tsc) noexcept {
  const uint64_t burst = uint64_t{kWanEchoPerSecond} * 1000;
  if (now_tsc > echo_tsc_ && hz_ != 0) {
    const uint64_t add = (now_tsc - echo_tsc_) * kWanEchoPerSecond * 1000 / hz_;
    if (add != 0) {
      echo_tokens_milli_ = std::min(burst, echo_tokens_milli_ + add);
      echo_tsc_ = now_tsc;
    }
  }
  if (echo_tokens_milli_ < 1000) return false;
  echo_tokens_milli_ -= 1000;
  return true;
}

uint8_t* LocalStage::echo_start(rte_mbuf* m, PacketMeta& md, uint32_t min_l3,
                                Output& out) noexcept {
  if ((md.flags & meta_flag::kFromLan) == 0 && !wan_echo_allowed(now_tsc_)) [[unlikely]] {
    out.drop(kEchoRateLimited, m);
    return nullptr;
  }
  if (md.l3_len < min_l3 || md.l3_total < uint32_t{md.l3_len} + 8) {
    out.drop(kEchoMalformed, m);
    return nullptr;
  }
  if (!fits(m, md.l2_len, md.l3_total, kEchoMalformed, out)) return nullptr;
  if (m->nb_segs != 1) {
    out.drop(kChainedMbuf, m);
    return nullptr;
  }
  return rte_pktmbuf_mtod(m, uint8_t*) + md.l2_len;
}

void LocalStage::echo4(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, Output& out) noexcept {
  uint8_t* ip = echo_start(m, md, kIpv4Len, out);
  if (ip == nullptr) return;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  uint32_t icmp_len = md.l3_total - md.l3_len;
  if (icmp4_cksum(ip + md.l3_len, icmp_len) != 0) return out.drop(kEchoBadChecksum, m);
  uint32_t src = load_raw32(ip + 12);
  uint8_t s0 = first_octet(src);
  if (s0 == 0 || s0 == 127 || s0 >= 224 || src == pi.bcast4 || own4(src))
    return out.drop(kEchoBadSource, m);

  // Options are not echoed (a source route or record route would be wrong on the way back).
  uint8_t hdr[kIpv4Len];
  std::memcpy(hdr, ip, sizeof hdr);
  p = strip_between(m, md.l2_len, static_cast<uint16_t>(md.l3_len - kIpv4Len));
  set_len(m, md.l2_len + kIpv4Len + icmp_len);  // drops Ethernet padding; never grows
  ip = p + md.l2_len;
  uint8_t* icmp = ip + kIpv4Len;
  write_ipv4_header(ip, {.tos = hdr[1],
                         .total_len = static_cast<uint16_t>(kIpv4Len + icmp_len),
                         .id = get16(hdr + 4),
                         .frag = 0,
                         .ttl = kEchoTtl,
                         .proto = IPPROTO_ICMP,
                         .src = hdr + 16,
                         .dst = hdr + 12});
  icmp[0] = kIcmpEchoReply;
  put16(icmp + 2, 0);
  put_cksum(icmp + 2, icmp4_cksum(icmp, icmp_len));
  echo_reply_done(m, p, md, pi, kIcmpEchoReply, kIpv4Len, icmp_len, out);
}

void LocalStage::ipv6(rte_mbuf* m, PacketMeta& md, Output& out) noexcept {
  if (md.l4_proto == IPPROTO_ICMPV6 && md.icmp_type >= kNdRs && md.icmp_type <= kNdRedirect &&
      !(md.flags & meta_flag::kLaterFragment)) [[unlikely]]
    return nd(m, md, out);
  const IpAddr& dst = md.dst;
  if (v6_multicast(dst.b.data())) [[unlikely]]
    return out.drop(kIpv6Multicast, m);
  if (own6(dst)) [[unlikely]] {
    const PortInfo* pi = port_info(md.in_port);
    if (pi != nullptr && ((pi->has_v6 && dst == pi->v6) || (pi->has_ll && dst == pi->ll)) &&
        md.l4_proto == IPPROTO_ICMPV6 && md.icmp_type == kIcmp6EchoRequest &&
        !(md.flags & meta_flag::kFragment))
      return echo6(m, md, *pi, out);
    if (punt_) return out.to(kToKernel, m);
    return out.drop(kLocalUnhandled, m);
  }
  // Link-local scope never crosses a router (RFC 4291 §2.5.6).
  if (v6_link_local(dst.b.data())) [[unlikely]]
    return out.drop(kIpv6LinkLocal, m);
  out.to(kTransit, m);
}

void LocalStage::echo6(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, Output& out) noexcept {
  uint8_t* ip = echo_start(m, md, kIpv6Len, out);
  if (ip == nullptr) return;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  uint32_t icmp_len = md.l3_total - md.l3_len;
  if (icmp6_cksum(ip + 8, ip + 24, ip + md.l3_len, icmp_len) != 0)
    return out.drop(kEchoBadChecksum, m);
  if (v6_multicast(ip + 8) || v6_unspecified(ip + 8) || own6(IpAddr::v6_bytes(ip + 8)))
    return out.drop(kEchoBadSource, m);

  // Extension headers are not echoed; the base header is rebuilt in front of the ICMPv6 message.
  uint8_t hdr[kIpv6Len];
  std::memcpy(hdr, ip, sizeof hdr);
  p = strip_between(m, md.l2_len, static_cast<uint16_t>(md.l3_len - kIpv6Len));
  set_len(m, md.l2_len + kIpv6Len + icmp_len);
  ip = p + md.l2_len;
  uint8_t* icmp = ip + kIpv6Len;
  write_ipv6_header(ip, {.tclass = static_cast<uint8_t>(get32(hdr) >> 20),
                         .flow_label = get32(hdr),
                         .payload_len = static_cast<uint16_t>(icmp_len),
                         .next = IPPROTO_ICMPV6,
                         .hop_limit = kEchoTtl,
                         .src = hdr + 24,
                         .dst = hdr + 8});
  icmp[0] = kIcmp6EchoReply;
  put16(icmp + 2, 0);
  put_cksum(icmp + 2, icmp6_cksum(ip + 8, ip + 24, icmp, icmp_len));
  echo_reply_done(m, p, md, pi, kIcmp6EchoReply, kIpv6Len, icmp_len, out);
}

}  // namespace traboule::dp

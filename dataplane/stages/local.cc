// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/local.h"

#include <netinet/in.h>
#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/ip_header.h"

namespace traboule::dp {

static_assert(LocalStage::kDrops.size() == LocalStage::kEchoRateLimited + 1, "one name per drop");
namespace {

constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmp6EchoRequest = 128;
constexpr uint8_t kIcmp6EchoReply = 129;
constexpr uint8_t kNdRs = 133;
constexpr uint8_t kNdRa = 134;
constexpr uint8_t kNdNs = 135;
constexpr uint8_t kNdNa = 136;
constexpr uint8_t kNdRedirect = 137;
constexpr uint8_t kOptSourceLla = 1;
constexpr uint8_t kOptTargetLla = 2;
constexpr uint8_t kNaRouter = 0x80;
constexpr uint8_t kNaSolicited = 0x40;
constexpr uint8_t kNaOverride = 0x20;
constexpr uint8_t kNdHopLimit = 255;  // RFC 4861: proves the sender is on-link
constexpr uint8_t kEchoTtl = 64;

constexpr uint32_t kEthLen = RTE_ETHER_HDR_LEN;
constexpr uint32_t kArpLen = 28;
constexpr uint32_t kIpv4Len = 20;
constexpr uint32_t kIpv6Len = 40;
constexpr uint32_t kNdFixedLen = 24;          // type, code, checksum, flags/reserved, target
constexpr uint32_t kNdLen = kNdFixedLen + 8;  // plus one link-layer address option
constexpr uint32_t kMinFrame = 60;            // Ethernet minimum without FCS

bool v6_multicast(const uint8_t* a) noexcept {
  return a[0] == 0xff;
}
bool v6_link_local(const uint8_t* a) noexcept {
  return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}
bool v6_unspecified(const uint8_t* a) noexcept {
  static constexpr uint8_t kZero[16] = {};
  return std::memcmp(a, kZero, 16) == 0;
}
// ff02::1:ffXX:XXXX, the only destination RFC 4861 allows for a DAD solicitation.
bool v6_solicited_node(const uint8_t* a) noexcept {
  static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  return std::memcmp(a, kPrefix, 13) == 0;
}

// Checksums: DPDK's raw sums work in memory byte order, so results are stored as they are.
uint16_t store_cksum(uint32_t sum) noexcept {
  return static_cast<uint16_t>(~__rte_raw_cksum_reduce(sum));
}
// Sum of the IPv6 pseudo-header (RFC 8200 §8.1); the payload may follow extension headers,
// which rte_ipv6_phdr_cksum (it reads payload_len) cannot describe.
uint32_t pseudo6_sum(const uint8_t* src, const uint8_t* dst, uint32_t upper_len) noexcept {
  uint8_t ph[40];
  std::memcpy(ph, src, 16);
  std::memcpy(ph + 16, dst, 16);
  ph[32] = static_cast<uint8_t>(upper_len >> 24);
  ph[33] = static_cast<uint8_t>(upper_len >> 16);
  ph[34] = static_cast<uint8_t>(upper_len >> 8);
  ph[35] = static_cast<uint8_t>(upper_len);
  ph[36] = ph[37] = ph[38] = 0;
  ph[39] = IPPROTO_ICMPV6;
  return __rte_raw_cksum(ph, sizeof ph, 0);
}
// The ICMPv6 checksum of msg (checksum field zeroed), or 0 when verifying a received message.
uint16_t icmp6_cksum(const uint8_t* src, const uint8_t* dst, const uint8_t* msg,
                     uint32_t len) noexcept {
  return store_cksum(__rte_raw_cksum(msg, len, pseudo6_sum(src, dst, len)));
}
uint16_t icmp4_cksum(const uint8_t* msg, uint32_t len) noexcept {
  return store_cksum(__rte_raw_cksum(msg, len, 0));
}
void put_cksum(uint8_t* field, uint16_t c) noexcept {
  std::memcpy(field, &c, 2);
}

// Walks ND options (RFC 4861 §4.6); false on a zero-length option or one running past the
// end. *lla points at the address of the last link-layer option of type `want`, if any.
bool nd_options(const uint8_t* p, uint32_t len, uint8_t want, const uint8_t** lla) noexcept {
  while (len > 0) {
    if (len < 2) return false;
    uint32_t olen = p[1] * 8u;
    if (olen == 0 || olen > len) return false;
    if (p[0] == want && olen >= 8) *lla = p + 2;
    p += olen;
    len -= olen;
  }
  return true;
}

// Removes `extra` bytes between L2 and L3 (IPv4 options, IPv6 extension headers) by sliding the
// L2 header forward: replies carry none of them back.
uint8_t* strip_between(rte_mbuf* m, uint16_t l2_len, uint16_t extra) noexcept {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  if (extra == 0) return p;
  std::memmove(p + extra, p, l2_len);
  return reinterpret_cast<uint8_t*>(rte_pktmbuf_adj(m, extra));
}

// Sets a single-segment mbuf's length; false when the buffer has no room.
bool set_len(rte_mbuf* m, uint32_t len) noexcept {
  uint32_t cur = rte_pktmbuf_data_len(m);
  if (len > cur) return rte_pktmbuf_append(m, static_cast<uint16_t>(len - cur)) != nullptr;
  if (len < cur) rte_pktmbuf_trim(m, static_cast<uint16_t>(cur - len));
  return true;
}

bool mac_usable(const uint8_t* mac) noexcept {
  return (mac[0] & 0x01) == 0 && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) != 0;
}

}  // namespace

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
    pi.iface = ifc;
    if (const auto w = v4_words(*ifc)) {
      pi.has_v4 = true;
      pi.v4 = w->addr;
      pi.mask4 = w->mask;
      pi.bcast4 = w->bcast;
    }
    if (ifc->gw4 && ifc->gw4->is_v4()) pi.gw4 = raw4(*ifc->gw4);
    if (ifc->gw6 && !ifc->gw6->is_v4() && !ifc->gw6->is_zero()) {
      pi.has_gw6 = true;
      pi.gw6 = *ifc->gw6;
    }
    if (ifc->v6 && !ifc->v6->addr.is_v4() && !ifc->v6->addr.is_zero()) {
      pi.has_v6 = true;
      pi.v6 = ifc->v6->addr;
      pi.prefix6 = IpPrefix{ifc->v6->addr, ifc->v6->plen > 128 ? uint8_t{128} : ifc->v6->plen};
    }
    if (!ifc->v6_link_local.is_zero()) {
      pi.has_ll = true;
      pi.ll = ifc->v6_link_local;
    }
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

// ---------------------------------------------------------------------------------------------
// ARP (RFC 826, RFC 5227 probes and announcements)

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

// ---------------------------------------------------------------------------------------------
// IPv4

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

// ---------------------------------------------------------------------------------------------
// IPv6

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

// ---------------------------------------------------------------------------------------------
// Resolver

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

void LocalStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"local.learn_failed", read_counter(stats_.learn_failed)});
  out.push_back({"local.arp_requests_sent", read_counter(stats_.arp_requests_sent)});
  out.push_back({"local.ns_sent", read_counter(stats_.ns_sent)});
  out.push_back({"local.resolver_no_mbuf", read_counter(stats_.resolver_no_mbuf)});
  out.push_back({"local.resolver_no_source", read_counter(stats_.resolver_no_source)});
  out.push_back({"local.resolver_deferred", read_counter(stats_.resolver_deferred)});
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/encap.h"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstring>

#include "dataplane/proto/checksum.h"
#include "dataplane/proto/ip_header.h"
#include "dataplane/select/overlay_endpoint.h"

namespace traboule::dp {
namespace {

constexpr unsigned kEthLen = sizeof(rte_ether_hdr);
constexpr unsigned kUdpLen = 8;
constexpr uint8_t kTcpSyn = 0x02;

}  // namespace

EncapStage::EncapStage(const Site& site, const OverlayConfig& cfg, OverlaySites& sites,
                       rte_mempool* pool, const EspSas* esp)
    : site_(site), cfg_(cfg), sites_(sites), pool_(pool), esp_(esp) {
  const uint64_t hz = rte_get_tsc_hz();
  us_per_tick_ = hz != 0 ? 1e6 / static_cast<double>(hz) : 0;
}

bool EncapStage::target(const PolicySnapshot* p, const PacketMeta& md, uint8_t u, Target& t,
                        Drop& why) const noexcept {
  if (u >= site_.uplinks.size()) {
    why = kNoAddress;
    return false;
  }
  const Interface& up = *site_.uplinks[u];
  if (cfg_.hub) {
    if (!sites_.endpoint(md.overlay_site, md.overlay_path, t.dst, t.port)) {
      why = kNoSitePath;
      return false;
    }
    if (t.dst.is_v4() ? !up.v4 : !up.v6) {
      why = kNoAddress;
      return false;
    }
    return true;
  }
  if (p == nullptr || p->peers.empty()) {
    why = kNoPeer;
    return false;
  }
  const IpAddr* e = overlay_endpoint(p->peers.front().endpoints, up);
  if (e == nullptr) {
    why = kNoAddress;
    return false;
  }
  t.dst = *e;
  t.port = p->peers.front().port;
  return true;
}

// The overlay header of the next packet on (slot, tx_path), counted as sent there.
OverlayHeader EncapStage::next_header(const PacketMeta& md, uint8_t u, uint16_t slot,
                                      uint8_t tx_path, uint32_t dup_seq,
                                      uint64_t now_tsc) noexcept {
  OverlayHeader h;
  h.inner = md.l3 == L3Kind::kIpv4 ? 4 : 6;
  h.path = u;
  h.cls = md.overlay_cls < kClassTags ? md.overlay_cls : 0;
  h.site = cfg_.hub ? md.overlay_site : cfg_.site_id;
  h.seq = sites_.path(slot, tx_path).tx_seq.fetch_add(1, std::memory_order_relaxed) + 1;
  sites_.count_tx(slot, tx_path, h.cls);
  h.tx_us =
      static_cast<uint32_t>(static_cast<uint64_t>(static_cast<double>(now_tsc) * us_per_tick_));
  if (dup_seq != 0) {
    h.flags |= overlay_flag::kDuplicate;
    h.dup_seq = dup_seq;
  }
  return h;
}

// Ethernet (MACs left to forward), outer IPv4/IPv6 and UDP headers at p, for a UDP payload of
// udp_len - 8 bytes already in place after them.
void EncapStage::write_outer(uint8_t* p, uint8_t dscp, uint32_t flow_hash, const IpAddr& src,
                             const Target& t, uint16_t udp_len) const noexcept {
  const bool v4out = t.dst.is_v4();
  const uint16_t ip_len = v4out ? 20 : 40;
  std::memset(p, 0, 12);  // MACs: the forward stage writes them
  put16(p + 12, v4out ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
  uint8_t* ip = p + kEthLen;
  uint8_t* udp = ip + ip_len;
  // The outer header carries the inner DSCP, so operators' queues see the class (ECN not).
  const uint8_t tos = static_cast<uint8_t>(dscp << 2);
  if (v4out) {
    // DF: we fit packets to the MTU rather than fragment them.
    write_ipv4_header(ip, {.tos = tos,
                           .total_len = static_cast<uint16_t>(ip_len + udp_len),
                           .proto = IPPROTO_UDP,
                           .src = src.v4_ptr(),
                           .dst = t.dst.v4_ptr()});
  } else {
    write_ipv6_header(ip, {.tclass = tos,
                           .flow_label = flow_hash,
                           .payload_len = udp_len,
                           .next = IPPROTO_UDP,
                           .src = src.b.data(),
                           .dst = t.dst.b.data()});
  }
  put16(udp, cfg_.port);
  put16(udp + 2, t.port);
  put16(udp + 4, udp_len);
  put16(udp + 6, 0);  // IPv4: no checksum (RFC 768); IPv6 gets one below (RFC 8200 §8.1)
  if (!v4out) {
    const uint16_t c = rte_ipv6_udptcp_cksum(reinterpret_cast<const rte_ipv6_hdr*>(ip), udp);
    std::memcpy(udp + 6, &c, 2);
  }
}

bool EncapStage::encap(rte_mbuf* m, uint8_t u, const Target& t, uint32_t dup_seq, uint64_t now_tsc,
                       Drop& why) noexcept {
  PacketMeta& md = meta(m);
  const Interface& up = *site_.uplinks[u];
  const bool v4out = t.dst.is_v4();
  const IpAddr src = v4out ? up.v4->addr : up.v6->addr;
  // The sender counters of the path (an edge: its uplink; a hub: the site's path).
  const uint16_t slot = cfg_.hub ? md.overlay_site : 0;
  const uint8_t tx_path = cfg_.hub ? md.overlay_path : u;
  EspOutbound* sa = nullptr;
  if (cfg_.encrypt) {
    sa = esp_ != nullptr ? esp_->outbound(slot, tx_path) : nullptr;
    if (sa == nullptr) {
      why = kNoSa;
      return false;
    }
  }
  const uint16_t ip_len = v4out ? 20 : 40;
  const uint32_t outer_len = kEthLen + ip_len + kUdpLen;
  const uint32_t esp_len = sa != nullptr ? kEspPrefixLen : 0;
  if (rte_pktmbuf_headroom(m) + md.l2_len < outer_len + kOverlayHdrLen + esp_len) {
    why = kNoHeadroom;
    return false;
  }
  rte_pktmbuf_adj(m, md.l2_len);
  // Ethernet padding after a short inner packet does not travel (nor get sealed).
  if (rte_pktmbuf_data_len(m) > md.l3_total)
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - md.l3_total));
  auto* oh = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kOverlayHdrLen));
  const OverlayHeader h = next_header(md, u, slot, tx_path, dup_seq, now_tsc);
  write_overlay_header(oh, h);
  if (sa != nullptr && sa->protect(m, kEspNextOverlay) != EspOutbound::Result::kOk) {
    sites_.own_drop(slot, tx_path, h.cls);  // next_header counted it as sent
    why = kSealFailed;
    return false;
  }
  const auto udp_len = static_cast<uint16_t>(kUdpLen + rte_pktmbuf_data_len(m));
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(outer_len)));
  write_outer(p, md.dscp, md.flow_hash, src, t, udp_len);

  md.l2_len = kEthLen;
  md.vlan_count = 0;
  md.l3 = v4out ? L3Kind::kIpv4 : L3Kind::kIpv6;
  md.l3_len = ip_len;
  md.l3_total = static_cast<uint16_t>(ip_len + udp_len);
  md.src = src;
  md.dst = t.dst;
  md.src_port = cfg_.port;
  md.dst_port = t.port;
  md.l4_proto = IPPROTO_UDP;
  md.ttl = 64;
  md.flags = static_cast<uint16_t>((md.flags & (meta_flag::kFromLan | meta_flag::kTrace)) |
                                   meta_flag::kHasL4 | meta_flag::kOverlayOut);
  md.overlay_site = slot;
  md.overlay_path = tx_path;
  md.overlay_cls = h.cls;
  md.out_port = up.port_id;
  md.uplink = u;
  PerUplink& c = per_uplink_[u];
  bump(c.packets);
  bump(c.bytes, rte_pktmbuf_pkt_len(m));
  return true;
}

rte_mbuf* EncapStage::too_big(const rte_mbuf* m, uint16_t mtu) noexcept {
  const PacketMeta& md = meta(m);
  const Interface* lan = site_.lan;
  if (pool_ == nullptr || lan == nullptr) return nullptr;
  const bool v4 = md.l3 == L3Kind::kIpv4;
  const uint8_t* l3 = rte_pktmbuf_mtod_offset(m, const uint8_t*, md.l2_len);
  if (v4 && (get16(l3 + 6) & 0x4000) == 0) return nullptr;  // no DF
  if (v4 ? !lan->v4 : !lan->v6) return nullptr;
  // RFC 792/1812: the IPv4 header and at least 8 bytes; RFC 4443: as much as fits in 1280.
  const uint32_t quote =
      std::min<uint32_t>(md.l3_total, v4 ? uint32_t{md.l3_len} + 8 : 1280 - 40 - 8);
  const uint32_t ip_len = v4 ? 20 : 40;
  const uint32_t total = ip_len + 8 + quote;
  rte_mbuf* r = rte_pktmbuf_alloc(pool_);
  if (r == nullptr) return nullptr;
  uint8_t* p =
      reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(kEthLen + total)));
  if (p == nullptr) {
    rte_pktmbuf_free(r);
    return nullptr;
  }
  std::memset(p, 0, kEthLen + ip_len + 8);
  put16(p + 12, v4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
  uint8_t* ip = p + kEthLen;
  uint8_t* icmp = ip + ip_len;
  std::memcpy(icmp + 8, l3, quote);
  const IpAddr src = v4 ? lan->v4->addr : lan->v6->addr;
  if (v4) {
    write_ipv4_header(ip, {.total_len = static_cast<uint16_t>(total),
                           .frag = 0,
                           .proto = IPPROTO_ICMP,
                           .src = src.v4_ptr(),
                           .dst = md.src.v4_ptr()});
    icmp[0] = 3;  // destination unreachable
    icmp[1] = 4;  // fragmentation needed and DF set (RFC 1191: next-hop MTU in bytes 6-7)
    put16(icmp + 6, mtu);
    const uint16_t c = static_cast<uint16_t>(~rte_raw_cksum(icmp, 8 + quote));
    std::memcpy(icmp + 2, &c, 2);
  } else {
    write_ipv6_header(ip, {.payload_len = static_cast<uint16_t>(8 + quote),
                           .next = IPPROTO_ICMPV6,
                           .src = src.b.data(),
                           .dst = md.src.b.data()});
    icmp[0] = 2;  // packet too big (RFC 4443 §3.2)
    put32(icmp + 4, mtu);
    const uint16_t c = rte_ipv6_udptcp_cksum(reinterpret_cast<const rte_ipv6_hdr*>(ip), icmp);
    std::memcpy(icmp + 2, &c, 2);
  }
  PacketMeta& rm = meta(r);
  rm = PacketMeta{};
  rm.in_port = md.in_port;
  rm.out_port = lan->port_id;
  rm.flow_id = md.flow_id;  // forward takes the LAN host's MAC from the flow
  rm.l2_len = kEthLen;
  rm.l3 = md.l3;
  rm.l3_len = static_cast<uint16_t>(ip_len);
  rm.l3_total = static_cast<uint16_t>(total);
  rm.src = src;
  rm.dst = md.src;
  rm.l4_proto = static_cast<uint8_t>(v4 ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6});
  rm.icmp_type = icmp[0];
  rm.icmp_code = icmp[1];
  rm.ttl = 65;  // forward decrements it
  rm.flags = meta_flag::kHasL4;
  return r;
}

void EncapStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                         Output& out) noexcept {
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PacketMeta& md = meta(m);
    if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < uint32_t{md.l2_len} + md.l3_total) {
      out.drop(kChainedMbuf, m);
      continue;
    }
    if (md.ttl <= 1) {
      out.drop(kTtlExceeded, m);
      continue;
    }
    const uint8_t u = md.uplink;
    Target t;
    Drop why = kDropCount;
    if (!target(ctx.policy(), md, u, t, why)) {
      out.drop(why, m);
      continue;
    }
    const unsigned overhead = (t.dst.is_v4() ? kOverlayOverhead4 : kOverlayOverhead6) +
                              (cfg_.encrypt ? kEspMaxOverhead : 0);
    const bool v4in = md.l3 == L3Kind::kIpv4;
    if (md.l3_total + overhead > cfg_.mtu) {
      if (rte_mbuf* icmp = too_big(m, static_cast<uint16_t>(cfg_.mtu - overhead))) {
        bump(per_uplink_[u < kMaxUplinks ? u : 0].too_big_sent);
        out.to(kIcmp, icmp);
      }
      out.drop(kTooBig, m);
      continue;
    }
    uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, md.l2_len);
    if (md.l4_proto == IPPROTO_TCP && (md.flags & meta_flag::kHasL4) && (md.tcp_flags & kTcpSyn)) {
      const uint16_t max_mss = static_cast<uint16_t>(cfg_.mtu - overhead - (v4in ? 40 : 60));
      if (clamp_tcp_mss(l3 + md.l3_len, md.l3_total - md.l3_len, max_mss))
        bump(per_uplink_[u].mss_clamped);
    }
    if (v4in)
      decrement_ipv4_ttl(l3);
    else
      reinterpret_cast<rte_ipv6_hdr*>(l3)->hop_limits--;
    --md.ttl;

    rte_mbuf* copy = nullptr;
    Target t2;
    uint32_t dup_seq = 0;
    const uint8_t u2 = md.dup_uplink;
    Drop why2 = kDropCount;
    if (u2 != kNoUplink && u2 != u && target(ctx.policy(), md, u2, t2, why2) &&
        t2.dst.is_v4() == t.dst.is_v4()) {
      copy = pool_ != nullptr ? rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX) : nullptr;
      if (copy == nullptr) {
        bump(per_uplink_[u2].copy_failed);
      } else {
        meta(copy) = md;
        dup_seq = sites_.path(cfg_.hub ? md.overlay_site : 0, 0)
                      .dup_seq.fetch_add(1, std::memory_order_relaxed) +
                  1;
        if (dup_seq == 0) dup_seq = 1;  // 0 means "not duplicated"
      }
    }
    if (!encap(m, u, t, dup_seq, ctx.now_tsc, why)) {
      out.drop(why, m);
    } else {
      out.to(kNext, m);
    }
    if (copy != nullptr) {
      if (!encap(copy, u2, t2, dup_seq, ctx.now_tsc, why)) {
        out.drop(why, copy);
      } else {
        bump(per_uplink_[u2].copies);
        out.to(kNext, copy);
      }
    }
  }
}

void EncapStage::collect_extra(std::vector<CounterValue>& out) const {
  for (size_t u = 0; u < site_.uplinks.size() && u < kMaxUplinks; ++u) {
    const PerUplink& c = per_uplink_[u];
    const std::string base = "encap.uplink." + site_.uplinks[u]->name;
    out.push_back({base + ".packets", read_counter(c.packets)});
    out.push_back({base + ".bytes", read_counter(c.bytes)});
    out.push_back({base + ".copies", read_counter(c.copies)});
    out.push_back({base + ".copy_failed", read_counter(c.copy_failed)});
    out.push_back({base + ".mss_clamped", read_counter(c.mss_clamped)});
    out.push_back({base + ".too_big_sent", read_counter(c.too_big_sent)});
  }
}

}  // namespace traboule::dp

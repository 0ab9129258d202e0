// SPDX-License-Identifier: Apache-2.0
#include "dataplane/firewall/reject.h"

#include <netinet/in.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstring>

#include "dataplane/proto/bytes.h"

namespace traboule::dp {
namespace {

constexpr uint8_t kTtl = 64;
constexpr uint32_t kIcmpQuote4 = 20 + 8;  // the IPv4 header and 8 bytes (RFC 792)
constexpr uint32_t kIcmpQuote6 = 40 + 8;  // kept as small (RFC 4443 allows up to the MTU)

void swap_macs(uint8_t* eth) noexcept {
  uint8_t tmp[RTE_ETHER_ADDR_LEN];
  std::memcpy(tmp, eth, RTE_ETHER_ADDR_LEN);
  std::memcpy(eth, eth + RTE_ETHER_ADDR_LEN, RTE_ETHER_ADDR_LEN);
  std::memcpy(eth + RTE_ETHER_ADDR_LEN, tmp, RTE_ETHER_ADDR_LEN);
}

// Sets the mbuf's length to `len` (shrinking, or growing into the tailroom).
bool resize(rte_mbuf* m, uint32_t len) noexcept {
  const uint32_t cur = rte_pktmbuf_data_len(m);
  if (len <= cur) return rte_pktmbuf_trim(m, static_cast<uint16_t>(cur - len)) == 0;
  return rte_pktmbuf_append(m, static_cast<uint16_t>(len - cur)) != nullptr;
}

void ipv4_header(uint8_t* ip, const uint8_t* src, const uint8_t* dst, uint8_t proto,
                 uint16_t total) noexcept {
  ip[0] = 0x45;
  ip[1] = 0;
  put16(ip + 2, total);
  put16(ip + 4, 0);
  put16(ip + 6, 0x4000);  // DF
  ip[8] = kTtl;
  ip[9] = proto;
  put16(ip + 10, 0);
  uint8_t s[4], d[4];
  std::memcpy(s, src, 4);
  std::memcpy(d, dst, 4);
  std::memcpy(ip + 12, s, 4);
  std::memcpy(ip + 16, d, 4);
  auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
  h->hdr_checksum = rte_ipv4_cksum(h);
}

void ipv6_header(uint8_t* ip, const uint8_t* src, const uint8_t* dst, uint8_t proto,
                 uint16_t payload) noexcept {
  uint8_t s[16], d[16];
  std::memcpy(s, src, 16);
  std::memcpy(d, dst, 16);
  put32(ip, 0x60000000u);
  put16(ip + 4, payload);
  ip[6] = proto;
  ip[7] = kTtl;
  std::memcpy(ip + 8, s, 16);
  std::memcpy(ip + 24, d, 16);
}

uint16_t l4_checksum(const uint8_t* ip, bool v4, const uint8_t* l4) noexcept {
  if (v4) return rte_ipv4_udptcp_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip), l4);
  return rte_ipv6_udptcp_cksum(reinterpret_cast<const rte_ipv6_hdr*>(ip), l4);
}

}  // namespace

bool make_reject(rte_mbuf* m, PacketMeta& md) noexcept {
  const bool v4 = md.l3 == L3Kind::kIpv4;
  if (!v4 && md.l3 != L3Kind::kIpv6) return false;
  if (m->nb_segs != 1 || (md.flags & (meta_flag::kFragment | meta_flag::kIpOptions)) != 0)
    return false;
  const uint32_t ip_len = v4 ? 20 : 40;
  if (md.l3_len != ip_len) return false;
  const uint32_t l3 = md.l2_len, l4 = l3 + ip_len;
  const uint32_t end = std::min<uint32_t>(rte_pktmbuf_data_len(m), l3 + uint32_t{md.l3_total});
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = p + l3;
  const uint8_t* src = ip + (v4 ? 12 : 8);
  const uint8_t* dst = ip + (v4 ? 16 : 24);
  const uint32_t alen = v4 ? 4 : 16;

  if (md.l4_proto == IPPROTO_TCP) {
    if ((md.flags & meta_flag::kHasL4) == 0 || l4 + 20 > end) return false;
    const uint8_t* tcp = p + l4;
    const uint8_t flags = tcp[13];
    if (flags & 0x04) return false;  // never answer a RST
    const uint32_t doff = (tcp[12] >> 4) * 4u;
    const uint32_t seg_len = end - l4 >= doff ? end - l4 - doff : 0;
    const uint32_t seq = get32(tcp + 4), ack = get32(tcp + 8);
    const uint16_t sport = get16(tcp), dport = get16(tcp + 2);
    uint8_t s[16], d[16];
    std::memcpy(s, src, alen);
    std::memcpy(d, dst, alen);
    if (!resize(m, l4 + 20)) return false;
    p = rte_pktmbuf_mtod(m, uint8_t*);
    ip = p + l3;
    if (v4) {
      ipv4_header(ip, d, s, IPPROTO_TCP, 40);
    } else {
      ipv6_header(ip, d, s, IPPROTO_TCP, 20);
    }
    uint8_t* t = p + l4;
    put16(t, dport);
    put16(t + 2, sport);
    if (flags & 0x10) {  // it carried an ACK: RST from that sequence number
      put32(t + 4, ack);
      put32(t + 8, 0);
      t[13] = 0x04;
    } else {  // RST+ACK acknowledging what it carried (SYN and FIN count one)
      put32(t + 4, 0);
      put32(t + 8, seq + seg_len + ((flags & 0x02) ? 1 : 0) + ((flags & 0x01) ? 1 : 0));
      t[13] = 0x14;
    }
    t[12] = 5 << 4;
    put16(t + 14, 0);
    put16(t + 16, 0);
    put16(t + 18, 0);
    const uint16_t c = l4_checksum(ip, v4, t);
    std::memcpy(t + 16, &c, 2);
    md.l3_total = static_cast<uint16_t>(ip_len + 20);
    md.tcp_flags = t[13];
    std::swap(md.src_port, md.dst_port);
  } else {
    const uint8_t icmp_proto = v4 ? uint8_t{IPPROTO_ICMP} : uint8_t{IPPROTO_ICMPV6};
    if (md.l4_proto == icmp_proto) {
      // Errors are never answered with errors (RFC 1122 3.2.2, RFC 4443 2.4 e).
      const bool error =
          v4 ? (md.icmp_type != 8 && md.icmp_type != 13 && md.icmp_type != 15 && md.icmp_type != 17)
             : md.icmp_type < 128;
      if (error) return false;
    }
    const uint32_t quote = std::min<uint32_t>(end - l3, v4 ? kIcmpQuote4 : kIcmpQuote6);
    uint8_t q[kIcmpQuote6];
    std::memcpy(q, ip, quote);
    uint8_t s[16], d[16];
    std::memcpy(s, src, alen);
    std::memcpy(d, dst, alen);
    if (!resize(m, l4 + 8 + quote)) return false;
    p = rte_pktmbuf_mtod(m, uint8_t*);
    ip = p + l3;
    uint8_t* icmp = p + l4;
    icmp[0] = v4 ? 3 : 1;   // destination unreachable
    icmp[1] = v4 ? 13 : 1;  // administratively prohibited
    put16(icmp + 2, 0);
    put32(icmp + 4, 0);
    std::memcpy(icmp + 8, q, quote);
    const uint16_t icmp_len = static_cast<uint16_t>(8 + quote);
    if (v4) {
      ipv4_header(ip, d, s, IPPROTO_ICMP, static_cast<uint16_t>(20 + icmp_len));
      const uint16_t c = static_cast<uint16_t>(~rte_raw_cksum(icmp, icmp_len));
      std::memcpy(icmp + 2, &c, 2);
    } else {
      ipv6_header(ip, d, s, IPPROTO_ICMPV6, icmp_len);
      const uint16_t c = l4_checksum(ip, false, icmp);
      std::memcpy(icmp + 2, &c, 2);
    }
    md.l4_proto = icmp_proto;
    md.icmp_type = icmp[0];
    md.icmp_code = icmp[1];
    md.src_port = md.dst_port = 0;
    md.l3_total = static_cast<uint16_t>(ip_len + icmp_len);
  }
  swap_macs(p);
  std::swap(md.src, md.dst);
  md.ttl = kTtl;
  md.out_port = md.in_port;
  return true;
}

}  // namespace traboule::dp

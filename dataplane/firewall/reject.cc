// SPDX-License-Identifier: Apache-2.0
#include "dataplane/firewall/reject.h"

#include <netinet/in.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstring>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/ip_header.h"

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

// The reply's IP header, from `from` to `to` (the offender's addresses swapped), `l4_len`
// bytes of transport after it.
void reply_ip_header(uint8_t* ip, bool v4, const uint8_t* from, const uint8_t* to, uint8_t proto,
                     uint16_t l4_len) noexcept {
  if (v4)
    write_ipv4_header(ip, {.total_len = static_cast<uint16_t>(kIpv4HeaderLen + l4_len),
                           .ttl = kTtl,
                           .proto = proto,
                           .src = from,
                           .dst = to});
  else
    write_ipv6_header(
        ip, {.payload_len = l4_len, .next = proto, .hop_limit = kTtl, .src = from, .dst = to});
}

uint16_t l4_checksum(const uint8_t* ip, bool v4, const uint8_t* l4) noexcept {
  if (v4) return rte_ipv4_udptcp_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip), l4);
  return rte_ipv6_udptcp_cksum(reinterpret_cast<const rte_ipv6_hdr*>(ip), l4);
}

// The offending packet as make_reject reads it: where its headers are, and its addresses.
struct Offender {
  bool v4;
  uint32_t ip_len, l3, l4, end;  // end: of the datagram, within the first segment
  uint8_t src[16], dst[16];      // copied: the reply is written over the packet
};

// A TCP segment gets a RST (RFC 9293 §3.10.7.1): from its ACK, or acknowledging what it carried.
bool tcp_reset(rte_mbuf* m, PacketMeta& md, const Offender& o) noexcept {
  if ((md.flags & meta_flag::kHasL4) == 0 || o.l4 + 20 > o.end) return false;
  const uint8_t* tcp = rte_pktmbuf_mtod(m, uint8_t*) + o.l4;
  const uint8_t flags = tcp[13];
  if (flags & 0x04) return false;  // never answer a RST
  const uint32_t doff = (tcp[12] >> 4) * 4u;
  const uint32_t seg_len = o.end - o.l4 >= doff ? o.end - o.l4 - doff : 0;
  const uint32_t seq = get32(tcp + 4), ack = get32(tcp + 8);
  const uint16_t sport = get16(tcp), dport = get16(tcp + 2);
  if (!resize(m, o.l4 + 20)) return false;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = p + o.l3;
  reply_ip_header(ip, o.v4, o.dst, o.src, IPPROTO_TCP, 20);
  uint8_t* t = p + o.l4;
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
  const uint16_t c = l4_checksum(ip, o.v4, t);
  std::memcpy(t + 16, &c, 2);
  md.l3_total = static_cast<uint16_t>(o.ip_len + 20);
  md.tcp_flags = t[13];
  std::swap(md.src_port, md.dst_port);
  return true;
}

// Anything else gets an ICMP "administratively prohibited", quoting its start; ICMP errors
// are never answered with errors (RFC 1122 3.2.2, RFC 4443 2.4 e).
bool icmp_prohibited(rte_mbuf* m, PacketMeta& md, const Offender& o) noexcept {
  const uint8_t icmp_proto = o.v4 ? uint8_t{IPPROTO_ICMP} : uint8_t{IPPROTO_ICMPV6};
  if (md.l4_proto == icmp_proto) {
    const bool error =
        o.v4 ? (md.icmp_type != 8 && md.icmp_type != 13 && md.icmp_type != 15 && md.icmp_type != 17)
             : md.icmp_type < 128;
    if (error) return false;
  }
  const uint32_t quote = std::min<uint32_t>(o.end - o.l3, o.v4 ? kIcmpQuote4 : kIcmpQuote6);
  uint8_t q[kIcmpQuote6];
  std::memcpy(q, rte_pktmbuf_mtod(m, uint8_t*) + o.l3, quote);
  if (!resize(m, o.l4 + 8 + quote)) return false;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = p + o.l3;
  uint8_t* icmp = p + o.l4;
  icmp[0] = o.v4 ? 3 : 1;   // destination unreachable
  icmp[1] = o.v4 ? 13 : 1;  // administratively prohibited
  put16(icmp + 2, 0);
  put32(icmp + 4, 0);
  std::memcpy(icmp + 8, q, quote);
  const uint16_t icmp_len = static_cast<uint16_t>(8 + quote);
  reply_ip_header(ip, o.v4, o.dst, o.src, icmp_proto, icmp_len);
  const uint16_t c =
      o.v4 ? static_cast<uint16_t>(~rte_raw_cksum(icmp, icmp_len)) : l4_checksum(ip, false, icmp);
  std::memcpy(icmp + 2, &c, 2);
  md.l4_proto = icmp_proto;
  md.icmp_type = icmp[0];
  md.icmp_code = icmp[1];
  md.src_port = md.dst_port = 0;
  md.l3_total = static_cast<uint16_t>(o.ip_len + icmp_len);
  return true;
}

}  // namespace

bool make_reject(rte_mbuf* m, PacketMeta& md) noexcept {
  Offender o{};
  o.v4 = md.l3 == L3Kind::kIpv4;
  if (!o.v4 && md.l3 != L3Kind::kIpv6) return false;
  if (m->nb_segs != 1 || (md.flags & (meta_flag::kFragment | meta_flag::kIpOptions)) != 0)
    return false;
  o.ip_len = o.v4 ? kIpv4HeaderLen : kIpv6HeaderLen;
  if (md.l3_len != o.ip_len) return false;
  o.l3 = md.l2_len;
  o.l4 = o.l3 + o.ip_len;
  o.end = std::min<uint32_t>(rte_pktmbuf_data_len(m), o.l3 + uint32_t{md.l3_total});
  const uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*) + o.l3;
  const uint32_t alen = o.v4 ? 4 : 16;
  std::memcpy(o.src, ip + (o.v4 ? 12 : 8), alen);
  std::memcpy(o.dst, ip + (o.v4 ? 16 : 24), alen);
  const bool made = md.l4_proto == IPPROTO_TCP ? tcp_reset(m, md, o) : icmp_prohibited(m, md, o);
  if (!made) return false;
  swap_macs(rte_pktmbuf_mtod(m, uint8_t*));
  std::swap(md.src, md.dst);
  md.ttl = kTtl;
  md.out_port = md.in_port;
  return true;
}

}  // namespace traboule::dp

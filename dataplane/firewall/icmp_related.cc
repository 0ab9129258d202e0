// SPDX-License-Identifier: Apache-2.0
#include "dataplane/firewall/icmp_related.h"

#include <netinet/in.h>

#include <cstring>

namespace traboule::dp {

bool icmp_error_inner_key(const rte_mbuf* m, const PacketMeta& md, FlowKey& key,
                          IpAddr* quoted_src) noexcept {
  if (!icmp_error_type(md) || (md.flags & meta_flag::kFragment) != 0) return false;
  const bool v4 = md.l3 == L3Kind::kIpv4;
  if (!v4 && md.l3 != L3Kind::kIpv6) return false;
  // The ICMP header is 8 bytes; the quote follows it, inside the datagram.
  const uint32_t q = uint32_t{md.l2_len} + md.l3_len + 8;
  const uint32_t end =
      std::min<uint32_t>(uint32_t{md.l2_len} + md.l3_total, rte_pktmbuf_pkt_len(m));
  uint8_t buf[40 + 8];
  PacketMeta inner;
  if (v4) {
    if (q + 20 > end) return false;
    const auto* h = static_cast<const uint8_t*>(rte_pktmbuf_read(m, q, 20, buf));
    if (h == nullptr || (h[0] >> 4) != 4) return false;
    const uint32_t ihl = (h[0] & 0x0f) * 4u;
    if (ihl < 20) return false;
    uint32_t a, b;
    std::memcpy(&a, h + 12, 4);
    std::memcpy(&b, h + 16, 4);
    inner.src = IpAddr::v4(rte_be_to_cpu_32(a));
    inner.dst = IpAddr::v4(rte_be_to_cpu_32(b));
    inner.l4_proto = h[9];
    const uint16_t frag = static_cast<uint16_t>((h[6] << 8) | h[7]);
    if ((frag & 0x1fff) != 0) return false;  // a later fragment: the flow stage keyed it port-less
    const bool first_fragment = (frag & 0x2000) != 0;
    if (first_fragment) inner.flags |= meta_flag::kFragment;
    inner.l3 = L3Kind::kIpv4;
    const uint32_t l4 = q + ihl;
    const uint8_t proto = inner.l4_proto;
    if (!first_fragment &&
        (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_ICMP)) {
      if (l4 + 8 > end) return false;
      const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, l4, 8, buf));
      if (p == nullptr) return false;
      if (proto == IPPROTO_ICMP) {
        if (p[0] != 8 && p[0] != 0) return false;  // errors about errors are not followed
        inner.src_port = inner.dst_port = static_cast<uint16_t>((p[4] << 8) | p[5]);
      } else {
        inner.src_port = static_cast<uint16_t>((p[0] << 8) | p[1]);
        inner.dst_port = static_cast<uint16_t>((p[2] << 8) | p[3]);
      }
    }
  } else {
    if (q + 40 > end) return false;
    const auto* h = static_cast<const uint8_t*>(rte_pktmbuf_read(m, q, 40, buf));
    if (h == nullptr || (h[0] >> 4) != 6) return false;
    std::memcpy(inner.src.b.data(), h + 8, 16);
    std::memcpy(inner.dst.b.data(), h + 24, 16);
    inner.l3 = L3Kind::kIpv6;
    const uint8_t proto = h[6];
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMPV6) return false;
    inner.l4_proto = proto;
    const uint32_t l4 = q + 40;
    if (l4 + 8 > end) return false;
    const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, l4, 8, buf));
    if (p == nullptr) return false;
    if (proto == IPPROTO_ICMPV6) {
      if (p[0] != 128 && p[0] != 129) return false;
      inner.src_port = inner.dst_port = static_cast<uint16_t>((p[4] << 8) | p[5]);
    } else {
      inner.src_port = static_cast<uint16_t>((p[0] << 8) | p[1]);
      inner.dst_port = static_cast<uint16_t>((p[2] << 8) | p[3]);
    }
  }
  make_flow_key(inner, key);
  if (quoted_src != nullptr) *quoted_src = inner.src;
  return true;
}

}  // namespace traboule::dp

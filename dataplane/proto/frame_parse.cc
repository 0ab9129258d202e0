// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proto/frame_parse.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/checksum.h"

namespace traboule::dp {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherArp = 0x0806;

using P = FrameCodes;

// Every step returns an edge, or kDropBase + a drop reason: one small integer.
constexpr unsigned kDropBase = P::kDropBase;
constexpr unsigned drop(P::Drop d) {
  return kDropBase + d;
}

constexpr uint16_t kPreservedFlags = meta_flag::kFromLan | meta_flag::kTrace;
constexpr unsigned kEthHdrLen = 14;
constexpr unsigned kVlanTagLen = 4;
constexpr unsigned kArpLen = 28;  // Ethernet/IPv4 ARP
constexpr unsigned kIpv4MinHdrLen = 20;
constexpr unsigned kIpv6HdrLen = 40;
constexpr unsigned kTcpMinHdrLen = 20;
constexpr unsigned kUdpHdrLen = 8;
constexpr unsigned kIcmpHdrLen = 8;  // type, code, checksum + the 4-byte rest (echo id/seq)

// IpAddr::v4_bytes without the temporary: two 8-byte stores (this runs twice per IPv4 packet).
inline void set_v4(IpAddr& a, const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  const uint64_t lo = 0,
                 hi = 0xffff0000ull | uint64_t{v} << 32;  // bytes 8..15: 00 00 ff ff a.b.c.d
  std::memcpy(a.b.data(), &lo, 8);
  std::memcpy(a.b.data() + 8, &hi, 8);
#else
  a = IpAddr::v4_bytes(&v);
#endif
}

inline bool is_vlan_tpid(uint16_t raw) {
  return raw == host_to_be16(0x8100) || raw == host_to_be16(0x88a8) || raw == host_to_be16(0x9100);
}

// A header ending at `end` is not readable in the first segment. When the frame (or datagram)
// that bounds it is long enough the bytes exist but sit in a later segment of a chain.
inline unsigned shortfall(uint32_t end, uint32_t bound, P::Drop truncated) {
  return end > bound ? drop(truncated) : drop(P::kNotFirstSegment);
}

// EOL ends the list (the rest is padding); NOP is one byte; every other option is
// type, length (>= 2, counting itself) and must end inside the header.
bool ipv4_options_ok(const uint8_t* o, uint32_t n) {
  uint32_t i = 0;
  while (i < n) {
    const uint8_t type = o[i];
    if (type == 0) return true;
    if (type == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= n) return false;
    const uint8_t len = o[i + 1];
    if (len < 2 || i + len > n) return false;
    i += len;
  }
  return true;
}

// The transport header at `l4` of a non-fragment. `lim` = min(first segment, datagram end).
inline unsigned parse_l4(PacketMeta& md, const uint8_t* p, uint32_t l4, uint32_t lim,
                         uint32_t dgram_end, uint8_t proto, uint8_t icmp_proto) {
  const uint8_t* h = p + l4;
  if (proto == IPPROTO_UDP) {
    if (l4 + kUdpHdrLen > lim) [[unlikely]]
      return shortfall(l4 + kUdpHdrLen, dgram_end, P::kUdpTruncated);
    const uint16_t ulen = get16(h + 4);
    if (ulen < kUdpHdrLen || l4 + ulen > dgram_end) [[unlikely]]
      return drop(P::kUdpBadLen);
    md.src_port = get16(h);
    md.dst_port = get16(h + 2);
    md.flags |= meta_flag::kHasL4;
    return 0;
  }
  if (proto == IPPROTO_TCP) {
    if (l4 + kTcpMinHdrLen > lim) [[unlikely]]
      return shortfall(l4 + kTcpMinHdrLen, dgram_end, P::kTcpTruncated);
    const uint32_t doff = (h[12] >> 4) * 4u;
    if (doff < kTcpMinHdrLen) [[unlikely]]
      return drop(P::kTcpBadOffset);
    if (l4 + doff > lim) [[unlikely]]
      return shortfall(l4 + doff, dgram_end, P::kTcpBadOffset);
    md.src_port = get16(h);
    md.dst_port = get16(h + 2);
    md.tcp_flags = h[13];
    md.flags |= meta_flag::kHasL4;
    return 0;
  }
  if (proto == icmp_proto) {
    if (l4 + kIcmpHdrLen > lim) [[unlikely]]
      return shortfall(l4 + kIcmpHdrLen, dgram_end,
                       proto == IPPROTO_ICMP ? P::kIcmpTruncated : P::kIcmpv6Truncated);
    const uint8_t type = h[0];
    md.icmp_type = type;
    md.icmp_code = h[1];
    // Echo request and reply share the identifier: one flow, whichever way it goes.
    const bool echo =
        proto == IPPROTO_ICMP ? (type == 8 || type == 0) : (type == 128 || type == 129);
    if (echo) md.src_port = md.dst_port = get16(h + 4);
    md.flags |= meta_flag::kHasL4;
    return 0;
  }
  return 0;
}

// IHL != 5 or a version other than 4: the rare IPv4 header checks, out of the hot path.
// Returns 0 and sets ihl, or a drop.
[[gnu::noinline]] unsigned ipv4_check_ihl(const uint8_t* ip, uint32_t off, uint32_t frame_len,
                                          uint32_t hdr_lim, uint32_t& ihl) {
  const uint8_t vihl = ip[0];
  if ((vihl >> 4) != 4) return drop(P::kIpv4BadVersion);
  ihl = (vihl & 0x0f) * 4u;
  if (ihl < kIpv4MinHdrLen) return drop(P::kIpv4BadIhl);
  if (off + ihl > hdr_lim) return shortfall(off + ihl, frame_len, P::kIpv4BadIhl);
  return 0;
}

// Header with options: checksum over the whole header, then the options themselves.
[[gnu::noinline]] unsigned ipv4_check_options(L3Csum csum, const uint8_t* ip, uint32_t ihl) {
  if (csum == L3Csum::kUnknown && ones_sum(ip, ihl) != 0xffff) return drop(P::kIpv4BadChecksum);
  if (csum == L3Csum::kBad) return drop(P::kIpv4BadChecksum);
  if (!ipv4_options_ok(ip + kIpv4MinHdrLen, ihl - kIpv4MinHdrLen)) return drop(P::kIpv4BadOptions);
  return 0;
}

inline unsigned parse_ipv4(L3Csum csum, PacketMeta& md, const uint8_t* p, uint32_t off,
                           uint32_t frame_len, uint32_t hdr_lim, uint32_t* dgram_out) {
  const uint8_t* ip = p + off;
  if (off + kIpv4MinHdrLen > hdr_lim) [[unlikely]]
    return shortfall(off + kIpv4MinHdrLen, frame_len, P::kIpv4Truncated);
  uint32_t ihl = kIpv4MinHdrLen;
  if (ip[0] != 0x45) [[unlikely]] {
    const unsigned r = ipv4_check_ihl(ip, off, frame_len, hdr_lim, ihl);
    if (r != 0) return r;
  }
  const uint32_t total = get16(ip + 2);
  const uint32_t dgram_end = off + total;
  if (total < ihl || dgram_end > frame_len) [[unlikely]]
    return drop(P::kIpv4BadTotalLen);
  if (ihl == kIpv4MinHdrLen) [[likely]] {
    // A NIC that checked the header says so; otherwise verify it here (fixed size: unrolled).
    if (csum == L3Csum::kUnknown) [[likely]] {
      if (ones_sum(ip, kIpv4MinHdrLen) != 0xffff) [[unlikely]]
        return drop(P::kIpv4BadChecksum);
    } else if (csum == L3Csum::kBad) [[unlikely]] {
      return drop(P::kIpv4BadChecksum);
    }
  } else {
    const unsigned r = ipv4_check_options(csum, ip, ihl);
    if (r != 0) return r;
    md.flags |= meta_flag::kIpOptions;
  }

  md.l3 = L3Kind::kIpv4;
  md.l3_len = static_cast<uint16_t>(ihl);
  md.l3_total = static_cast<uint16_t>(total);
  set_v4(md.src, ip + 12);
  set_v4(md.dst, ip + 16);
  md.dscp = ip[1] >> 2;
  md.ttl = ip[8];
  const uint8_t proto = ip[9];
  md.l4_proto = proto;
  const uint16_t frag =
      load_raw16(ip + 6) & host_to_be16(0x3fff);  // MF + offset; DF is no fragment
  if (frag != 0) [[unlikely]] {
    md.flags |= meta_flag::kFragment;
    if (frag & host_to_be16(0x1fff)) md.flags |= meta_flag::kLaterFragment;
  } else {
    const unsigned r =
        parse_l4(md, p, off + ihl, std::min(hdr_lim, dgram_end), dgram_end, proto, IPPROTO_ICMP);
    if (r != 0) [[unlikely]]
      return r;
  }
  *dgram_out = dgram_end;
  return P::kIpv4;
}

// Walks the extension header chain from `pos` (the first header after the fixed one, type nh).
// Returns 0 with pos/nh at the upper layer, 1 when a fragment ends the walk, or a drop.
[[gnu::noinline]] unsigned ipv6_walk(PacketMeta& md, const uint8_t* p, uint32_t& pos, uint8_t& nh,
                                     uint32_t lim, uint32_t dgram_end) {
  unsigned n_ext = 0;
  for (;;) {
    uint32_t len;
    switch (nh) {
      case IPPROTO_HOPOPTS:
        if (n_ext != 0) return drop(P::kIpv6HbhNotFirst);
        [[fallthrough]];
      case IPPROTO_ROUTING:
      case IPPROTO_DSTOPTS:
        len = 0;  // read below, once the first 8 bytes are known to be there
        break;
      case IPPROTO_AH:
        len = 1;
        break;
      case IPPROTO_FRAGMENT:
        len = 8;
        break;
      default:  // upper layer, ESP, no-next-header or anything unknown: the chain ends here
        if (n_ext != 0) md.flags |= meta_flag::kIpOptions;
        return 0;
    }
    if (n_ext == P::kMaxIpv6ExtHeaders) return drop(P::kIpv6ExtTooLong);
    // Every extension header is at least 8 bytes; the second byte holds its length.
    if (pos + 8 > lim) return shortfall(pos + 8, dgram_end, P::kIpv6ExtTruncated);
    const uint8_t* h = p + pos;
    if (len == 0)
      len = (h[1] + 1u) * 8;
    else if (len == 1)
      len = (h[1] + 2u) * 4;  // AH counts 4-byte units, minus 2
    if (pos + len > lim) return shortfall(pos + len, dgram_end, P::kIpv6ExtTruncated);
    ++n_ext;
    pos += len;
    if (nh == IPPROTO_FRAGMENT) {
      const uint16_t off_m = get16(h + 2);  // offset << 3 | reserved | M
      // An atomic fragment (offset 0, M 0) is a whole datagram: keep walking (RFC 6946).
      if (off_m & 0xfff9) {
        // The walk stops at the fragment header for every fragment, so all of them agree on
        // l4_proto (the fragmentable part's first header) and map to one flow.
        md.flags |= meta_flag::kFragment | meta_flag::kIpOptions;
        if (off_m & 0xfff8) md.flags |= meta_flag::kLaterFragment;
        nh = h[0];
        return 1;
      }
    }
    nh = h[0];
  }
}

inline bool is_ipv6_ext(uint8_t nh) {
  return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
         nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH;
}

inline unsigned parse_ipv6(PacketMeta& md, const uint8_t* p, uint32_t off, uint32_t frame_len,
                           uint32_t hdr_lim, uint32_t* dgram_out) {
  const uint8_t* ip = p + off;
  if (off + kIpv6HdrLen > hdr_lim) [[unlikely]]
    return shortfall(off + kIpv6HdrLen, frame_len, P::kIpv6Truncated);
  const uint32_t vtc_flow = get32(ip);
  if ((vtc_flow >> 28) != 6) [[unlikely]]
    return drop(P::kIpv6BadVersion);
  const uint32_t total = kIpv6HdrLen + get16(ip + 4);
  const uint32_t dgram_end = off + total;
  if (dgram_end > frame_len) [[unlikely]]
    return drop(P::kIpv6BadPayloadLen);
  const uint32_t lim = std::min(hdr_lim, dgram_end);

  uint8_t nh = ip[6];
  uint32_t pos = off + kIpv6HdrLen;
  unsigned fragment = 0;
  if (is_ipv6_ext(nh)) [[unlikely]] {
    fragment = ipv6_walk(md, p, pos, nh, lim, dgram_end);
    if (fragment > 1) return fragment;
  }
  md.l3 = L3Kind::kIpv6;
  md.l3_len = static_cast<uint16_t>(pos - off);
  md.l3_total = static_cast<uint16_t>(total);
  md.src = IpAddr::v6_bytes(ip + 8);
  md.dst = IpAddr::v6_bytes(ip + 24);
  md.dscp = static_cast<uint8_t>((vtc_flow >> 22) & 0x3f);
  md.ttl = ip[7];
  md.l4_proto = nh;
  if (fragment == 0 && nh != IPPROTO_ESP && nh != IPPROTO_NONE) {
    const unsigned r = parse_l4(md, p, pos, lim, dgram_end, nh, IPPROTO_ICMPV6);
    if (r != 0) [[unlikely]]
      return r;
  }
  *dgram_out = dgram_end;
  return P::kIpv6;
}

[[gnu::noinline]] unsigned parse_arp(PacketMeta& md, const uint8_t* p, uint32_t off,
                                     uint32_t frame_len, uint32_t hdr_lim) {
  if (off + kArpLen > hdr_lim) return shortfall(off + kArpLen, frame_len, P::kArpTruncated);
  const uint8_t* a = p + off;
  // Only Ethernet/IPv4 ARP has the sender/target addresses where we read them.
  if (load_raw16(a + 2) != host_to_be16(kEtherIpv4) || a[4] != 6 || a[5] != 4)
    return drop(P::kArpUnsupported);
  md.l3 = L3Kind::kArp;
  md.l3_len = kArpLen;
  md.l3_total = kArpLen;
  set_v4(md.src, a + 14);
  set_v4(md.dst, a + 24);
  md.l4_proto = 0;
  md.ttl = 0;
  md.dscp = 0;
  return P::kArp;
}

// 802.1Q/802.1ad tags from `off`; returns 0 with off/type after the last tag, or a drop.
inline unsigned parse_vlans(PacketMeta& md, const uint8_t* p, uint32_t& off, uint16_t& type,
                            uint32_t frame_len, uint32_t hdr_lim) {
  unsigned tags = 0;
  do {
    if (tags == P::kMaxVlanTags) return drop(P::kVlanTooMany);
    if (off + kVlanTagLen > hdr_lim)
      return shortfall(off + kVlanTagLen, frame_len, P::kVlanTruncated);
    (tags == 0 ? md.vlan_outer : md.vlan_inner) = get16(p + off);
    type = load_raw16(p + off + 2);
    off += kVlanTagLen;
    ++tags;
  } while (is_vlan_tpid(type));
  md.vlan_count = static_cast<uint8_t>(tags);
  return 0;
}

// Later stages' per-packet decisions go back to "none". in_port and trace_id (set at RX) are not
// written at all; the fields every edge sets (addresses, lengths, l3, ttl...) are left to it.
inline void reset_meta(PacketMeta& md) {
  md.out_port = kNoPort;
  md.flags &= kPreservedFlags;
  md.src_port = 0;
  md.dst_port = 0;
  md.vlan_outer = 0;
  md.vlan_inner = 0;
  md.vlan_count = 0;
  md.tcp_flags = 0;
  md.icmp_type = 0;
  md.icmp_code = 0;
  md.uplink = kNoUplink;
  md.flow_dir = 0;
  md.flow_id = kNoFlow;
  md.flow_hash = 0;
  md.rule = 0;
  md.overlay_site = 0;
  md.overlay_path = kNoUplink;
  md.overlay_cls = 0;
  md.dup_uplink = kNoUplink;
}

}  // namespace

unsigned parse_frame(const uint8_t* p, uint32_t readable, uint32_t frame_len, L3Csum csum,
                     PacketMeta& md, uint32_t* dgram_end) noexcept {
  reset_meta(md);
  *dgram_end = frame_len;
  const uint32_t hdr_lim = std::min(readable, frame_len);
  if (kEthHdrLen > hdr_lim) [[unlikely]]
    return shortfall(kEthHdrLen, frame_len, P::kEthTruncated);
  uint32_t off = kEthHdrLen;
  uint16_t type = load_raw16(p + 12);
  if (is_vlan_tpid(type)) [[unlikely]] {
    const unsigned r = parse_vlans(md, p, off, type, frame_len, hdr_lim);
    if (r != 0) return r;
  }
  md.l2_len = static_cast<uint16_t>(off);
  if (type == host_to_be16(kEtherIpv4)) [[likely]]
    return parse_ipv4(csum, md, p, off, frame_len, hdr_lim, dgram_end);
  if (type == host_to_be16(kEtherIpv6))
    return parse_ipv6(md, p, off, frame_len, hdr_lim, dgram_end);
  if (type == host_to_be16(kEtherArp)) return parse_arp(md, p, off, frame_len, hdr_lim);
  return drop(P::kEthertypeUnsupported);
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/nat.h"

#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "dataplane/proto/bytes.h"

namespace traboule::dp {
namespace {

static_assert(NatTable::kUplinkSlots >= kMaxUplinks, "the NAT table must cover every uplink");
static_assert(NatOutStage::kDrops.size() == NatOutStage::kTableFull + 1, "one name per drop");
static_assert(NatInStage::kDrops.size() == NatInStage::kHandoffRingFull + 1, "one name per drop");

constexpr unsigned kDropBase = 64;
constexpr uint32_t kTcpHdrLen = 20;
constexpr uint32_t kUdpHdrLen = 8;
constexpr uint32_t kIcmpHdrLen = 8;
constexpr uint32_t kIpv4HdrLen = 20;
constexpr uint32_t kIpv6HdrLen = 40;
constexpr unsigned kMaxEmbeddedExt = 8;

// All arithmetic below is on 16-bit words as they sit in memory (load_raw16: the one's
// complement sum is byte-order independent, RFC 1071 §2(B)), so no swapping is needed anywhere.
//
// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the ~m + m' terms of every changed word are summed
// here, then applied to each checksum that covers them.
struct Delta {
  uint32_t acc = 0;
  void add(const uint8_t* old_bytes, const uint8_t* new_bytes, uint32_t n) noexcept {
    for (uint32_t i = 0; i < n; i += 2) {
      acc += static_cast<uint16_t>(~load_raw16(old_bytes + i));
      acc += load_raw16(new_bytes + i);
    }
  }
  void add16(uint16_t old_raw, uint16_t new_raw) noexcept {
    acc += static_cast<uint16_t>(~old_raw);
    acc += new_raw;
  }
  void add(const Delta& d) noexcept { acc += (d.acc & 0xffff) + (d.acc >> 16); }
};

inline uint16_t fold(uint32_t s) noexcept {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// Applies `d` to the checksum at `field`; returns the old raw value (for an outer checksum
// that covers this one). UDP's "0 means none" is kept by writing 0xffff instead of 0.
inline uint16_t apply(uint8_t* field, const Delta& d, bool udp = false) noexcept {
  const uint16_t old = load_raw16(field);
  uint32_t s = static_cast<uint16_t>(~old);
  s += (d.acc & 0xffff) + (d.acc >> 16);
  uint16_t v = static_cast<uint16_t>(~fold(s));
  if (udp && v == 0) v = 0xffff;
  store_raw16(field, v);
  return old;
}

struct L4Info {
  uint32_t need = 0;      // header bytes that must be present
  uint32_t port_off = 0;  // offset of the translated port / identifier within it
  uint32_t csum_off = 0;
};

// Rewrites one side (source or destination) of a packet's address and port, with the IPv4
// header, transport and ICMP checksums. The port field is at l4 + port_off.
void rewrite(uint8_t* l3, bool v4, uint8_t* l4, uint8_t proto, uint32_t addr_off, uint32_t port_off,
             const IpAddr& addr, uint16_t port) noexcept {
  const uint8_t* new_addr = v4 ? addr.v4_ptr() : addr.b.data();
  const uint32_t alen = v4 ? 4 : 16;
  Delta da, dp;
  da.add(l3 + addr_off, new_addr, alen);
  const uint16_t new_port = rte_cpu_to_be_16(port);
  dp.add16(load_raw16(l4 + port_off), new_port);
  if (v4) apply(l3 + 10, da);
  Delta both = da;
  both.add(dp);
  switch (proto) {
    case IPPROTO_TCP:
      apply(l4 + 16, both);
      break;
    case IPPROTO_UDP:
      if (load_raw16(l4 + 6) != 0) apply(l4 + 6, both, true);  // 0: no checksum, stays 0
      break;
    case IPPROTO_ICMP:
      apply(l4 + 2, dp);  // ICMPv4 has no pseudo-header
      break;
    default:  // ICMPv6: pseudo-header
      apply(l4 + 2, both);
      break;
  }
  std::memcpy(l3 + addr_off, new_addr, alen);
  store_raw16(l4 + port_off, new_port);
}

inline uint8_t icmp_proto(bool v4) noexcept {
  return v4 ? uint8_t{IPPROTO_ICMP} : uint8_t{IPPROTO_ICMPV6};
}
inline bool is_echo_request(uint8_t proto, uint8_t type) noexcept {
  return proto == IPPROTO_ICMP ? type == 8 : type == 128;
}
inline bool is_echo_reply(uint8_t proto, uint8_t type) noexcept {
  return proto == IPPROTO_ICMP ? type == 0 : type == 129;
}
inline bool is_icmp_error(bool v4, uint8_t type) noexcept {
  return v4 ? (type == 3 || type == 11 || type == 12) : (type >= 1 && type <= 4);
}

// Header length and where the port sits for a translatable protocol; need == 0 otherwise.
inline L4Info l4_info(uint8_t proto) noexcept {
  switch (proto) {
    case IPPROTO_TCP:
      return {kTcpHdrLen, 0, 16};
    case IPPROTO_UDP:
      return {kUdpHdrLen, 0, 6};
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return {kIcmpHdrLen, 4, 2};
    default:
      return {};
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// nat_out

NatOutStage::NatOutStage(const Site& site, NatTable& table) : site_(site), table_(table) {}

void NatOutStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                          Output& out) noexcept {
  if (n == 0) return;
  const uint32_t now_s = nat_seconds(ctx.now_tsc);
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PacketMeta& md = meta(m);
    if (md.uplink >= site_.uplinks.size()) [[unlikely]] {
      out.drop(kNoUplink, m);
      continue;
    }
    const bool v4 = md.l3 == L3Kind::kIpv4;
    if (!v4 && md.l3 != L3Kind::kIpv6) [[unlikely]] {
      out.drop(kUnsupportedProto, m);
      continue;
    }
    const Interface& up = *site_.uplinks[md.uplink];
    const auto& ext = v4 ? up.v4 : up.v6;
    if (!ext) [[unlikely]] {
      out.drop(kNoUplinkAddress, m);
      continue;
    }
    if (md.flags & meta_flag::kFragment) [[unlikely]] {
      out.drop(kFragment, m);
      continue;
    }
    const uint8_t proto = md.l4_proto;
    const L4Info li = l4_info(proto);
    const bool icmp = proto == icmp_proto(v4);
    if (li.need == 0 || (li.port_off != 0 && !icmp) ||
        (icmp && !is_echo_request(proto, md.icmp_type))) [[unlikely]] {
      out.drop(kUnsupportedProto, m);
      continue;
    }
    const uint32_t l3_off = md.l2_len, l4_off = l3_off + md.l3_len;
    const uint32_t bound = std::min<uint32_t>(rte_pktmbuf_data_len(m), l3_off + md.l3_total);
    if ((md.flags & meta_flag::kHasL4) == 0 || l4_off + li.need > bound) [[unlikely]] {
      out.drop(kTruncated, m);
      continue;
    }
    uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, l3_off);
    uint8_t* l4 = l3 + md.l3_len;
    if (md.flags & meta_flag::kPortForward) {
      // A LAN host answering through a port forward: from the forward's public port.
      rewrite(l3, v4, l4, proto, v4 ? 12 : 8, li.port_off, ext->addr, md.fwd_port);
      md.src = ext->addr;
      md.src_port = md.fwd_port;
      out.to(kNext, m);
      continue;
    }
    const uint16_t int_port = get16(l4 + li.port_off);
    NatFail fail;
    const uint32_t id =
        table_.out(md.uplink, proto, md.src, int_port, md.dst, md.tcp_flags, now_s, &fail);
    if (id == kNoMapping) [[unlikely]] {
      out.drop(fail == NatFail::kPortExhausted ? kPortExhausted
               : fail == NatFail::kTableFull   ? kTableFull
                                               : kUnsupportedProto,
               m);
      continue;
    }
    const uint16_t ext_port = table_.mapping(id).ext_port;
    rewrite(l3, v4, l4, proto, v4 ? 12 : 8, li.port_off, ext->addr, ext_port);
    md.src = ext->addr;
    md.src_port = ext_port;
    if (icmp) md.dst_port = ext_port;  // echo: both ports hold the identifier (parse)
    out.to(kNext, m);
  }
}

void NatOutStage::on_idle(const BurstContext& ctx, Output& /*out*/) noexcept {
  table_.expire(nat_seconds(ctx.now_tsc), kExpireBudget);
  const LinkSnapshot* links = ctx.links();
  for (size_t u = 0; u < site_.uplinks.size() && u < kMaxUplinks; ++u) {
    const auto ui = static_cast<uint8_t>(u);
    const bool down = !site_.uplink_usable(ui) || (links != nullptr && links->down(ui));
    if (down && !was_down_[u]) table_.expire_uplink(ui);
    was_down_[u] = down;
  }
}

void NatOutStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"nat_out.mappings_created", table_.created()});
  out.push_back({"nat_out.mappings_expired", table_.expired()});
  out.push_back({"nat_out.mappings_active", table_.active()});
  out.push_back({"nat_out.mappings_flushed", table_.flushed()});
  out.push_back({"nat_out.port_exhausted", table_.exhausted()});
  out.push_back({"nat_out.table_full", table_.table_full()});
  out.push_back({"nat_out.permissions_active", table_.permissions_active()});
  for (size_t u = 0; u < site_.uplinks.size(); ++u)
    out.push_back({"nat_out.uplink." + site_.uplinks[u]->name + ".flushed",
                   table_.flushed(static_cast<uint8_t>(u))});
}

// ---------------------------------------------------------------------------------------------
// nat_in

NatInStage::NatInStage(const Site& site, NatTable& table)
    : site_(site), table_(table), own_(site) {}

// The worker owning the external port an answer is addressed to (TCP/UDP destination port, echo
// reply identifier, or the source port an ICMP error quotes), or -1 when it is none of ours.
int NatInStage::owner_worker(const rte_mbuf* m, const PacketMeta& md) const noexcept {
  if (md.flags & (meta_flag::kFromLan | meta_flag::kFragment | meta_flag::kNatHandoff)) return -1;
  const bool v4 = md.l3 == L3Kind::kIpv4;
  if ((!v4 && md.l3 != L3Kind::kIpv6) || (md.flags & meta_flag::kHasL4) == 0) return -1;
  const Interface* in = site_.iface(md.in_port);
  if (in == nullptr || in->is_lan) return -1;
  const auto& ours = v4 ? in->v4 : in->v6;
  if (!ours || md.dst != ours->addr) return -1;
  uint16_t port = 0;
  const uint8_t proto = md.l4_proto;
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
    port = md.dst_port;
  } else if (proto == icmp_proto(v4) && is_echo_reply(proto, md.icmp_type)) {
    port = md.dst_port;  // parse puts the identifier in both ports
  } else if (proto == icmp_proto(v4) && is_icmp_error(v4, md.icmp_type)) {
    // The quoted packet left from our address: its source port is the external one.
    const uint32_t l4_off = uint32_t{md.l2_len} + md.l3_len;
    const uint32_t len = rte_pktmbuf_data_len(m);
    const uint8_t* b = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint32_t q = l4_off + 8;
    uint32_t ql4 = 0;
    uint8_t qproto = 0;
    if (v4 && q + 20 <= len && (b[q] >> 4) == 4) {
      ql4 = q + (b[q] & 0x0fu) * 4u;
      qproto = b[q + 9];
    } else if (!v4 && q + 40 <= len && (b[q] >> 4) == 6) {
      ql4 = q + 40;
      qproto = b[q + 6];
      // Extension headers as icmp_error() walks them (hop-by-hop, routing, destination
      // options; a fragment header ends it: a quoted later fragment has no ports).
      for (int i = 0; i < 8 && (qproto == 0 || qproto == 43 || qproto == 60); ++i) {
        if (ql4 + 2 > len) return -1;
        qproto = b[ql4];
        ql4 += (uint32_t{b[ql4 + 1]} + 1) * 8;
      }
    }
    // RFC 5508/4443: the quote holds at least 8 bytes of the transport header.
    if (ql4 == 0 || ql4 + 8 > len) return -1;
    if (qproto == IPPROTO_TCP || qproto == IPPROTO_UDP)
      port = get16(b + ql4);  // the quoted packet's source port: the external one
    else if ((v4 && qproto == IPPROTO_ICMP && b[ql4] == 8) ||
             (!v4 && qproto == IPPROTO_ICMPV6 && b[ql4] == 128))
      port = get16(b + ql4 + 4);  // a quoted echo request: its identifier
    else
      return -1;
  } else {
    return -1;
  }
  return NatTable::worker_of_port(port, port_base_, port_range_size_,
                                  static_cast<unsigned>(to_worker_.size()));
}

void NatInStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                         Output& out) noexcept {
  if (n == 0) return;
  const uint32_t now_s = nat_seconds(ctx.now_tsc);
  rte_mbuf* away[kNodeInputMax];
  uint8_t away_to[kNodeInputMax];
  uint16_t n_away = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PacketMeta& md = meta(m);
    if (to_worker_.size() > 1) {
      const int w = owner_worker(m, md);
      if (w >= 0 && static_cast<unsigned>(w) != self_) [[unlikely]] {
        md.flags |= meta_flag::kNatHandoff;
        away[n_away] = m;
        away_to[n_away++] = static_cast<uint8_t>(w);
        continue;
      }
    }
    md.flags &= static_cast<uint16_t>(~meta_flag::kNatHandoff);
    const unsigned r = handle(m, md, ctx.policy(), now_s);
    if (r >= kDropBase) [[unlikely]]
      out.drop(static_cast<Drop>(r - kDropBase), m);
    else if (r == kTranslated && punt_ &&
             (md.l3 == L3Kind::kIpv4 ? own_.has4(raw4(md.dst)) : own_.has6(md.dst))) [[unlikely]]
      out.to(kToBox, m);
    else
      out.to(static_cast<Edge>(r), m);
  }
  for (unsigned w = 0; w < to_worker_.size() && n_away != 0; ++w) {
    rte_mbuf* batch[kNodeInputMax];
    unsigned cnt = 0;
    for (uint16_t i = 0; i < n_away; ++i)
      if (away_to[i] == w) batch[cnt++] = away[i];
    if (cnt == 0) continue;
    const unsigned sent =
        rte_ring_enqueue_burst(to_worker_[w], reinterpret_cast<void**>(batch), cnt, nullptr);
    bump(handed_off_[w], sent);
    for (unsigned i = sent; i < cnt; ++i) out.drop(kHandoffRingFull, batch[i]);
  }
}

unsigned NatInStage::handle(rte_mbuf* m, PacketMeta& md, const PolicySnapshot* policy,
                            uint32_t now_s) noexcept {
  if (md.flags & (meta_flag::kFromLan | meta_flag::kFragment)) return kNext;
  const Interface* in = site_.iface(md.in_port);
  if (in == nullptr || in->is_lan || in->uplink >= site_.uplinks.size()) return kNext;
  const bool v4 = md.l3 == L3Kind::kIpv4;
  if (!v4 && md.l3 != L3Kind::kIpv6) return kNext;
  const auto& ours = v4 ? in->v4 : in->v6;
  if (!ours || md.dst != ours->addr) return kNext;

  const uint8_t proto = md.l4_proto;
  const L4Info li = l4_info(proto);
  const bool icmp = proto == icmp_proto(v4);
  if (li.need == 0 || (li.port_off != 0 && !icmp)) return kNext;  // ICMPv6 in IPv4 and the like
  const uint32_t l3_off = md.l2_len, l4_off = l3_off + md.l3_len;
  const uint32_t bound = std::min<uint32_t>(rte_pktmbuf_data_len(m), l3_off + md.l3_total);
  if ((md.flags & meta_flag::kHasL4) == 0 || l4_off + li.need > bound)
    return kDropBase + kTruncated;
  if (icmp && is_icmp_error(v4, md.icmp_type))
    return icmp_error(m, md, in->uplink, ours->addr, l4_off, bound);
  if (icmp && !is_echo_reply(proto, md.icmp_type)) return kNext;  // echo requests: the box's

  uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, l3_off);
  uint8_t* l4 = l3 + md.l3_len;
  // TCP/UDP: the destination port; echo reply: the identifier.
  const uint32_t port_off = icmp ? li.port_off : 2;
  const uint32_t id = table_.in(in->uplink, proto, v4, get16(l4 + port_off));
  if (id == kNoMapping) {
    if (icmp || policy == nullptr) return kNext;
    const uint16_t port = get16(l4 + 2);
    const PortForward* f = policy->firewall.find_forward(in->uplink, proto, port, v4);
    if (f == nullptr) return kNext;
    if (!f->src.empty()) {
      bool ok = false;
      for (const auto& p : f->src) ok |= p.contains(md.src, v4);
      if (!ok) return kDropBase + kForwardSource;
    }
    rewrite(l3, v4, l4, proto, v4 ? 16 : 24, 2, f->to, f->to_port);
    md.dst = f->to;
    md.dst_port = f->to_port;
    md.fwd_port = port;
    md.flags |= meta_flag::kNatIn | meta_flag::kPortForward;
    bump(forwarded_);
    return kTranslated;
  }
  if (!table_.permitted(id, md.src)) return kDropBase + kFiltered;
  const NatMapping& map = table_.mapping(id);
  rewrite(l3, v4, l4, proto, v4 ? 16 : 24, port_off, map.int_addr, map.int_port);
  md.dst = map.int_addr;
  md.dst_port = map.int_port;
  if (icmp) md.src_port = map.int_port;
  table_.refresh_in(id, md.src, md.tcp_flags, now_s);
  md.flags |= meta_flag::kNatIn;
  return kTranslated;
}

namespace {

constexpr unsigned kGoOn = ~0u;  // the steps below: no verdict yet

// RFC 5508 REQ-3: an error with a bad checksum is dropped (it may sit in a chained mbuf).
unsigned check_icmp_sum(const rte_mbuf* m, const uint8_t* l3, bool v4, uint32_t l4_off,
                        uint32_t icmp_len) noexcept {
  uint16_t raw = 0;
  if (rte_raw_cksum_mbuf(m, l4_off, icmp_len, &raw) != 0) return kDropBase + NatInStage::kTruncated;
  uint32_t sum = raw;
  if (!v4) {
    uint8_t ph[40] = {};
    std::memcpy(ph, l3 + 8, 32);
    ph[34] = static_cast<uint8_t>(icmp_len >> 8);
    ph[35] = static_cast<uint8_t>(icmp_len);
    ph[39] = IPPROTO_ICMPV6;
    sum += rte_raw_cksum(ph, sizeof ph);
  }
  return fold(sum) != 0xffff ? kDropBase + NatInStage::kBadIcmpChecksum : kGoOn;
}

// The IP header an ICMP error quotes (at `e`, e_off in the frame, readable up to `bound`).
struct Quoted {
  uint32_t hl = 0;  // its length, extension headers included
  uint8_t proto = 0;
  uint32_t src_off = 0, dst_off = 0;  // of its addresses, within it
};

unsigned read_quoted(const uint8_t* e, uint32_t e_off, uint32_t bound, bool v4,
                     Quoted* q) noexcept {
  using S = NatInStage;
  if (v4) {
    if (e_off + kIpv4HdrLen > bound) return kDropBase + S::kEmbeddedTruncated;
    if ((e[0] >> 4) != 4) return kDropBase + S::kEmbeddedMalformed;
    q->hl = (e[0] & 0x0f) * 4u;
    if (q->hl < kIpv4HdrLen) return kDropBase + S::kEmbeddedMalformed;
    if (e_off + q->hl > bound) return kDropBase + S::kEmbeddedTruncated;
    if (rte_raw_cksum(e, q->hl) != 0xffff) return kDropBase + S::kEmbeddedMalformed;  // REQ-3a
    if ((get16(e + 6) & 0x1fff) != 0) return S::kNext;  // a later fragment: no ports to match
    *q = Quoted{q->hl, e[9], 12, 16};
    return kGoOn;
  }
  if (e_off + kIpv6HdrLen > bound) return kDropBase + S::kEmbeddedTruncated;
  if ((e[0] >> 4) != 6) return kDropBase + S::kEmbeddedMalformed;
  uint8_t nh = e[6];
  uint32_t pos = kIpv6HdrLen;
  for (unsigned k = 0;; ++k) {  // REQ-3b: step over the quoted extension headers
    if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
        nh != IPPROTO_FRAGMENT)
      break;
    if (k == kMaxEmbeddedExt) return kDropBase + S::kEmbeddedMalformed;
    if (e_off + pos + 8 > bound) return kDropBase + S::kEmbeddedTruncated;
    const uint8_t* h = e + pos;
    if (nh == IPPROTO_FRAGMENT && (get16(h + 2) & 0xfff8) != 0) return S::kNext;
    const uint32_t len = nh == IPPROTO_FRAGMENT ? 8 : (h[1] + 1u) * 8;
    nh = h[0];
    pos += len;
  }
  *q = Quoted{pos, nh, 8, 24};
  return kGoOn;
}

// Reverts the quoted source to the LAN host's address and port, with the quoted checksums that
// are present; returns the change to every word inside the ICMP message (for its checksum).
Delta revert_quoted(uint8_t* e, uint8_t* el4, bool tcp_sum_quoted, bool v4, const Quoted& q,
                    uint32_t port_off, const uint8_t* new_addr, uint16_t new_port) noexcept {
  const uint32_t alen = v4 ? 4 : 16;
  Delta da, dp, outer;
  da.add(e + q.src_off, new_addr, alen);
  dp.add16(load_raw16(el4 + port_off), new_port);
  Delta both = da;
  both.add(dp);
  auto track = [&outer](uint8_t* field, uint16_t old) { outer.add16(old, load_raw16(field)); };
  if (v4) track(e + 10, apply(e + 10, da));
  switch (q.proto) {
    case IPPROTO_TCP:
      if (tcp_sum_quoted) track(el4 + 16, apply(el4 + 16, both));  // often not quoted
      break;
    case IPPROTO_UDP:
      if (load_raw16(el4 + 6) != 0) track(el4 + 6, apply(el4 + 6, both, true));
      break;
    case IPPROTO_ICMP:
      track(el4 + 2, apply(el4 + 2, dp));
      break;
    default:
      track(el4 + 2, apply(el4 + 2, both));
      break;
  }
  outer.add(da);
  outer.add(dp);
  std::memcpy(e + q.src_off, new_addr, alen);
  store_raw16(el4 + port_off, new_port);
  return outer;
}

}  // namespace

// An ICMP error about a packet we translated: the quoted packet left as uplink-address:ext-port
// → remote. RFC 5508 REQ-4: revert the quoted source (address, port, the quoted checksums that
// are present), set the outer destination to the LAN host, fix the outer checksums.
unsigned NatInStage::icmp_error(rte_mbuf* m, PacketMeta& md, uint8_t uplink, const IpAddr& ours,
                                uint32_t l4_off, uint32_t bound) noexcept {
  const bool v4 = md.l3 == L3Kind::kIpv4;
  uint8_t* base = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* l3 = base + md.l2_len;
  uint8_t* icmp = base + l4_off;
  const uint32_t icmp_len = md.l2_len + uint32_t{md.l3_total} - l4_off;
  if (const unsigned r = check_icmp_sum(m, l3, v4, l4_off, icmp_len); r != kGoOn) return r;
  const uint32_t e_off = l4_off + kIcmpHdrLen;
  uint8_t* e = base + e_off;
  Quoted q;
  if (const unsigned r = read_quoted(e, e_off, bound, v4, &q); r != kGoOn) return r;

  const L4Info li = l4_info(q.proto);
  const bool e_icmp = q.proto == icmp_proto(v4);
  if (li.need == 0 || (li.port_off != 0 && !e_icmp)) return kNext;
  const uint32_t el4_off = e_off + q.hl;
  // RFC 792 / 4443 quote at least 8 bytes of the transport header: the ports or echo id.
  if (el4_off + 8 > bound) return kDropBase + kEmbeddedTruncated;
  uint8_t* el4 = base + el4_off;
  if (std::memcmp(e + q.src_off, v4 ? ours.v4_ptr() : ours.b.data(), v4 ? 4 : 16) != 0)
    return kNext;
  if (e_icmp && !is_echo_request(q.proto, el4[0])) return kNext;
  const uint32_t port_off = e_icmp ? li.port_off : 0;
  const uint32_t id = table_.in(uplink, q.proto, v4, get16(el4 + port_off));
  if (id == kNoMapping) return kNext;
  // The quoted destination is the remote the host sent to: filtering applies to it (the error
  // itself may come from any router on the path).
  const IpAddr e_dst = v4 ? IpAddr::v4_bytes(e + q.dst_off) : IpAddr::v6_bytes(e + q.dst_off);
  if (!table_.permitted(id, e_dst)) return kDropBase + kFiltered;
  const NatMapping& map = table_.mapping(id);

  const uint8_t* new_addr = v4 ? map.int_addr.v4_ptr() : map.int_addr.b.data();
  const uint32_t alen = v4 ? 4 : 16;
  Delta outer = revert_quoted(e, el4, el4_off + 18 <= bound, v4, q, port_off, new_addr,
                              rte_cpu_to_be_16(map.int_port));
  uint8_t* o_dst = l3 + (v4 ? 16 : 24);
  Delta dd;
  dd.add(o_dst, new_addr, alen);
  if (v4) {
    apply(l3 + 10, dd);
  } else {
    outer.add(dd);  // ICMPv6's pseudo-header holds the destination
  }
  apply(icmp + 2, outer);
  std::memcpy(o_dst, new_addr, alen);
  md.dst = map.int_addr;
  md.flags |= meta_flag::kNatIn;
  bump(icmp_errors_);
  return kTranslated;
}

void NatInStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"nat_in.icmp_errors_translated", read_counter(icmp_errors_)});
  out.push_back({"nat_in.port_forwarded", read_counter(forwarded_)});
  for (size_t w = 0; w < handed_off_.size(); ++w)
    if (w != self_)
      out.push_back({"nat_in.to_worker" + std::to_string(w), read_counter(handed_off_[w])});
}

}  // namespace traboule::dp

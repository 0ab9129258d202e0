// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/probe.h"

#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_ring_elem.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/ip_header.h"

namespace traboule::dp {

static_assert(kStampMaxClasses == kClassTagged, "one class DM entry per overlay class tag");
namespace {

constexpr uint32_t kEthLen = RTE_ETHER_HDR_LEN;
constexpr uint32_t kIpv4Len = 20;
constexpr uint32_t kIpv6Len = 40;
constexpr uint32_t kUdpLen = 8;
constexpr unsigned kMaxFailure = 10;

bool v6_link_local(const uint8_t* a) noexcept {
  return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

// One's complement sum of the pseudo-header and the transport datagram, in memory byte order
// (the pseudo-header has an even length, so the datagram's 16-bit words stay aligned with it).
uint32_t l4_sum(bool v4, const uint8_t* src, const uint8_t* dst, uint8_t proto, const uint8_t* l4,
                uint32_t len) noexcept {
  uint8_t ph[40] = {};
  uint32_t ph_len;
  if (v4) {
    std::memcpy(ph, src, 4);
    std::memcpy(ph + 4, dst, 4);
    ph[9] = proto;
    put16(ph + 10, static_cast<uint16_t>(len));
    ph_len = 12;
  } else {
    std::memcpy(ph, src, 16);
    std::memcpy(ph + 16, dst, 16);
    put32(ph + 32, len);
    ph[39] = proto;
    ph_len = 40;
  }
  return __rte_raw_cksum(l4, len, __rte_raw_cksum(ph, ph_len, 0));
}
uint32_t udp_sum(bool v4, const uint8_t* src, const uint8_t* dst, const uint8_t* udp,
                 uint32_t len) noexcept {
  return l4_sum(v4, src, dst, IPPROTO_UDP, udp, len);
}
// ICMP (RFC 792) sums the message alone; ICMPv6 (RFC 4443 §2.3) adds the pseudo-header.
uint32_t icmp_sum(bool v4, const uint8_t* src, const uint8_t* dst, const uint8_t* icmp,
                  uint32_t len) noexcept {
  return v4 ? __rte_raw_cksum(icmp, len, 0) : l4_sum(v4, src, dst, IPPROTO_ICMPV6, icmp, len);
}
bool is_echo_reply(const PacketMeta& md) noexcept {
  if (md.icmp_code != 0 || (md.flags & meta_flag::kFragment)) return false;
  if (md.l3 == L3Kind::kIpv4) return md.l4_proto == IPPROTO_ICMP && md.icmp_type == 0;
  return md.l3 == L3Kind::kIpv6 && md.l4_proto == IPPROTO_ICMPV6 && md.icmp_type == 129;
}
// RFC 768: zero means "no checksum" over IPv4; RFC 8200 §8.1: never valid over IPv6.
bool udp_ok(bool v4, const uint8_t* src, const uint8_t* dst, const uint8_t* udp,
            uint32_t len) noexcept {
  if (udp[6] == 0 && udp[7] == 0) return v4;
  return __rte_raw_cksum_reduce(udp_sum(v4, src, dst, udp, len)) == 0xffff;
}
void udp_fill(bool v4, const uint8_t* src, const uint8_t* dst, uint8_t* udp,
              uint32_t len) noexcept {
  udp[6] = udp[7] = 0;
  uint16_t c = static_cast<uint16_t>(~__rte_raw_cksum_reduce(udp_sum(v4, src, dst, udp, len)));
  if (c == 0) c = 0xffff;  // a computed zero is sent as all ones (RFC 768)
  std::memcpy(udp + 6, &c, 2);
}

// Removes `extra` bytes between L2 and L3 (IPv4 options, IPv6 extension headers) by sliding the
// L2 header forward: the reply carries none of them (a source route would be wrong backwards).
uint8_t* strip_between(rte_mbuf* m, uint16_t l2_len, uint16_t extra) noexcept {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  if (extra == 0) return p;
  std::memmove(p + extra, p, l2_len);
  return reinterpret_cast<uint8_t*>(rte_pktmbuf_adj(m, extra));
}

uint64_t mix(uint64_t x) noexcept {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

ProbeStage::ProbeStage(Site& site, ProbeConfig cfg, ProbeDeps deps)
    : site_(site), cfg_(cfg), deps_(deps), own_(site) {
  if (deps_.clock == nullptr) throw std::invalid_argument("probe stage: no shared TSC clock");
  if (deps_.sessions != nullptr && deps_.results == nullptr)
    throw std::invalid_argument("probe stage: STAMP sessions configured but no result ring");
  if (deps_.requests != nullptr && (deps_.pool == nullptr || deps_.sessions == nullptr))
    throw std::invalid_argument("probe stage: a request ring needs a packet pool and sessions");
  if (deps_.sessions != nullptr && cfg_.reflector_port != 0 &&
      deps_.sessions->session_of_port(cfg_.reflector_port) >= 0)
    throw std::invalid_argument("probe stage: reflector port " +
                                std::to_string(cfg_.reflector_port) +
                                " lies in the Session-Sender port range");
  uint32_t cap = 16;
  while (cap < cfg_.reflector_sessions && cap < (1u << 24)) cap <<= 1;
  if (cfg_.reflector_per_source == 0 || cfg_.reflector_per_source > kReflectorProbeLimit)
    throw std::invalid_argument("probe stage: reflector_per_source " +
                                std::to_string(cfg_.reflector_per_source) + ": must be 1.." +
                                std::to_string(kReflectorProbeLimit));
  refl_.resize(cap);
  refl_mask_ = cap - 1;
  idle_tsc_ = rte_get_tsc_hz() * uint64_t{cfg_.reflector_idle_ms} / 1000;
  evict_tsc_ = rte_get_tsc_hz() * uint64_t{cfg_.reflector_evict_idle_ms} / 1000;
  hub_ = deps_.overlay != nullptr && deps_.overlay_hub;
  edge_dm_ = deps_.overlay != nullptr && !deps_.overlay_hub && deps_.overlay_site_id != 0 &&
             deps_.overlay_site_id <= kMaxSiteId;

  for (uint16_t port = 0; port < kMaxPorts; ++port) {
    Interface* ifc = site.by_port[port];
    if (ifc == nullptr) continue;
    fill_port_addresses(ports_[port], *ifc);
  }
}

void ProbeStage::burst_time() noexcept {
  if (have_time_) return;
  clock_ = deps_.clock->load();
  have_time_ = true;
}

void ProbeStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                         Output& out) noexcept {
  have_time_ = false;
  rx_tsc_ = ctx.now_tsc;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PacketMeta& md = meta(m);
    if (!(md.flags & meta_flag::kHasL4) || md.l4_proto != IPPROTO_UDP) [[likely]] {
      // Echo replies: ours only when the identifier is a session's port (NAT never hands out
      // those), and then only if echo_reply() finds our probe in it.
      if ((md.flags & meta_flag::kHasL4) && deps_.sessions != nullptr && is_echo_reply(md))
          [[unlikely]] {
        const int session = deps_.sessions->session_of_port(md.dst_port);
        if (session >= 0 && echo_reply(m, md, session, out)) continue;
      }
      out.to(kNext, m);
      continue;
    }
    const bool refl = cfg_.reflector_port != 0 && md.dst_port == cfg_.reflector_port;
    const int session =
        deps_.sessions != nullptr ? deps_.sessions->session_of_port(md.dst_port) : -1;
    if (!refl && session < 0) [[likely]] {
      out.to(kNext, m);
      continue;
    }
    const bool own = md.l3 == L3Kind::kIpv4 ? own4(raw4(md.dst)) : own6(md.dst);
    if (!own) {  // transit traffic that happens to use these ports
      out.to(kNext, m);
      continue;
    }
    handle(m, md, refl, session, out);
  }
}

void ProbeStage::handle(rte_mbuf* m, PacketMeta& md, bool refl, int session, Output& out) noexcept {
  const bool v4 = md.l3 == L3Kind::kIpv4;
  const PortInfo* pi = md.in_port < kMaxPorts ? &ports_[md.in_port] : nullptr;
  const bool on_port = pi != nullptr && pi->iface != nullptr &&
                       (v4 ? pi->has_v4 && raw4(md.dst) == pi->v4
                           : (pi->has_v6 && md.dst == pi->v6) || (pi->has_ll && md.dst == pi->ll));
  if (!on_port) return out.drop(kNotOnPort, m);
  const uint32_t end = uint32_t{md.l2_len} + md.l3_total;
  if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < end || md.l2_len < kEthLen)
    return out.drop(kChainedMbuf, m);
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, md.l2_len);
  uint8_t* udp = ip + md.l3_len;
  // Parse checked the UDP length against the datagram; check again, this stage may be fed
  // by a test or a future stage without that promise.
  const uint32_t udp_len = get16(udp + 4);
  if (uint32_t{md.l3_len} + kUdpLen > md.l3_total || udp_len < kUdpLen ||
      uint32_t{md.l3_len} + udp_len > md.l3_total)
    return out.drop(kTruncated, m);
  if (udp_len - kUdpLen < kStampPacketLen) return out.drop(kTruncated, m);
  if (!udp_ok(v4, ip + (v4 ? 12 : 8), ip + (v4 ? 16 : 24), udp, udp_len))
    return out.drop(kBadChecksum, m);
  burst_time();
  if (!clock_.set()) return out.drop(kClockUnset, m);
  if (refl) return reflect(m, md, *pi, udp, udp_len, out);
  record_reply(m, md, session, udp, udp_len, out);
}

// Sessions are placed by their source alone (IPv4 address, IPv6 /64), so all the sessions of
// one source lie in the kReflectorProbeLimit slots this lookup walks: its quota is counted on
// the way, and a flood from one source can only ever compete for that window.
ProbeStage::ReflSeq ProbeStage::reflector_seq(const PacketMeta& md, uint16_t ssid,
                                              uint32_t* seq) noexcept {
  const bool v4 = md.src.is_v4();
  const uint64_t h = mix(v4 ? md.src.word(1) : md.src.word(0) ^ 0x9e3779b97f4a7c15ULL);
  auto same_source = [&](const IpAddr& a) {
    return v4 ? a == md.src : !a.is_v4() && a.word(0) == md.src.word(0);
  };
  const uint64_t now = rx_tsc_;
  ReflSlot* spare = nullptr;      // free, or idle past reflector_idle_ms
  ReflSlot* own_lru = nullptr;    // this source's least recently used live session
  ReflSlot* other_lru = nullptr;  // the least recently used live session of another source
  unsigned own = 0;
  for (unsigned i = 0; i < kReflectorProbeLimit; ++i) {
    ReflSlot& s = refl_[(h + i) & refl_mask_];
    const bool live = s.used && now - s.last_tsc <= idle_tsc_;
    if (s.used && s.peer == md.src && s.local == md.dst && s.peer_port == md.src_port &&
        s.ssid == ssid) {
      if (!live) {  // idle too long: a new session as far as counting goes
        s.next_seq = 0;
        bump(stats_.reflector_sessions_new);
      }
      *seq = s.next_seq++;
      s.last_tsc = now;
      return ReflSeq::kOk;
    }
    if (!live) {
      if (spare == nullptr) spare = &s;
    } else if (same_source(s.peer)) {
      ++own;
      if (own_lru == nullptr || s.last_tsc < own_lru->last_tsc) own_lru = &s;
    } else if (other_lru == nullptr || s.last_tsc < other_lru->last_tsc) {
      other_lru = &s;
    }
  }
  ReflSlot* slot = spare;
  if (own >= cfg_.reflector_per_source) {
    // At its quota: only the source's own idle session makes room (a restarted sender's old
    // ports), never another source's.
    if (now - own_lru->last_tsc <= evict_tsc_) return ReflSeq::kSourceLimit;
    slot = own_lru;
    bump(stats_.reflector_evictions);
  } else if (slot == nullptr) {
    if (other_lru == nullptr || now - other_lru->last_tsc <= evict_tsc_) return ReflSeq::kFull;
    slot = other_lru;
    bump(stats_.reflector_evictions);
  }
  slot->peer = md.src;
  slot->local = md.dst;
  slot->peer_port = md.src_port;
  slot->ssid = ssid;
  slot->used = true;
  slot->next_seq = 1;
  slot->last_tsc = now;
  *seq = 0;
  bump(stats_.reflector_sessions_new);
  return ReflSeq::kOk;
}

bool ProbeStage::known_peer(const PacketMeta& md, uint16_t ssid, uint16_t* site,
                            uint8_t* path) const noexcept {
  IpAddr at;
  uint16_t port;
  return stamp_overlay_ssid_parse(ssid, site, path) &&
         deps_.overlay->endpoint(*site, *path, at, port) && at == md.src;
}

uint32_t ProbeStage::edge_rx(uint8_t uplink, uint8_t tag) const noexcept {
  uint64_t n = 0;  // an edge's decap counts per (our uplink, the hub's path)
  for (uint8_t p = 0; p < kMaxUplinks; ++p) n += deps_.overlay->rx_packets(uplink, p, tag);
  return static_cast<uint32_t>(n);
}

// Never answer what cannot be a real sender, nor another reflector (two reflectors would
// answer each other forever).
bool ProbeStage::answerable(const PacketMeta& md, const PortInfo& pi,
                            const uint8_t* ip) const noexcept {
  if (md.l3 == L3Kind::kIpv4) {
    const uint32_t src = load_raw32(ip + 12);
    const uint8_t s0 = first_octet(src);
    if (s0 == 0 || s0 == 127 || s0 >= 224 || (pi.bcast4 != 0 && src == pi.bcast4) || own4(src))
      return false;
  } else {
    static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t* src = ip + 8;
    if (src[0] == 0xff || md.src.is_zero() || std::memcmp(src, kLoopback, 16) == 0 || own6(md.src))
      return false;
  }
  return md.src_port != 0 && md.src_port != cfg_.reflector_port;
}

// The reflected Sequence Number (RFC 8762 §4.2), or the drop reason (kDropCount: none).
ProbeStage::Drop ProbeStage::reflected_seq(const PacketMeta& md, const uint8_t* payload, bool known,
                                           uint32_t* seq) noexcept {
  const uint16_t ssid = get16(payload + stamp_off::kSsid);
  if (cfg_.stateful && hub_ && !known) {
    if (!cfg_.unknown_peers_stateless) return kUnknownPeer;
    *seq = get32(payload + stamp_off::kSeq);
    bump(stats_.reflector_stateless);
  } else if (cfg_.stateful) {
    switch (reflector_seq(md, ssid, seq)) {
      case ReflSeq::kOk:
        break;
      case ReflSeq::kFull:
        return kReflectorFull;
      case ReflSeq::kSourceLimit:
        return kSourceLimit;
    }
  } else {
    *seq = get32(payload + stamp_off::kSeq);
  }
  return kDropCount;
}

namespace {

// The reply's IP header over the request's (`hdr`, a copy): addresses swapped, DSCP kept and ECN
// cleared, TTL 255, no options; IPv4 keeps the identification, IPv6 the flow label.
void reflected_ip_header(uint8_t* ip, const uint8_t* hdr, bool v4, uint32_t udp_len) noexcept {
  if (v4)
    write_ipv4_header(ip, {.tos = static_cast<uint8_t>(hdr[1] & 0xfc),
                           .total_len = static_cast<uint16_t>(kIpv4Len + udp_len),
                           .id = get16(hdr + 4),
                           .ttl = kStampTtl,
                           .proto = IPPROTO_UDP,
                           .src = hdr + 16,
                           .dst = hdr + 12});
  else
    write_ipv6_header(ip, {.tclass = static_cast<uint8_t>((get32(hdr) >> 20) & 0xfc),
                           .flow_label = get32(hdr),
                           .payload_len = static_cast<uint16_t>(udp_len),
                           .next = IPPROTO_UDP,
                           .hop_limit = kStampTtl,
                           .src = hdr + 24,
                           .dst = hdr + 8});
}

}  // namespace

// Direct measurement: what this box received from, and sent to, the probe's site path.
void ProbeStage::fill_dm(uint8_t* payload, uint32_t len, bool known, uint16_t site,
                         uint8_t path) noexcept {
  if (len < kStampPacketLen + kStampTlvHeaderLen) return;
  StampDm c;
  if (known) {
    c.r_rxc = static_cast<uint32_t>(deps_.overlay->rx_packets(site, path));
    c.r_txc = deps_.overlay->tx_packets(site, path);
    c.classes = kStampMaxClasses;
    for (uint8_t i = 0; i < kStampMaxClasses; ++i) {
      const auto tag = static_cast<uint8_t>(i + 1);
      c.c_r_rxc[i] = static_cast<uint32_t>(deps_.overlay->rx_packets(site, path, tag));
      c.c_r_txc[i] = deps_.overlay->tx_packets(site, path, tag);
    }
  }
  const StampDmStatus st = reflect_dm({payload, len}, known ? &c : nullptr);
  if (st == StampDmStatus::kOk) bump(stats_.dm_filled);
  if (st == StampDmStatus::kNotFilled) bump(stats_.dm_unattributed);
}

void ProbeStage::reflect(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, uint8_t* udp,
                         uint32_t udp_len, Output& out) noexcept {
  const bool v4 = md.l3 == L3Kind::kIpv4;
  uint8_t* ip = udp - md.l3_len;
  if (!answerable(md, pi, ip)) return out.drop(kBadSource, m);
  uint8_t* payload = udp + kUdpLen;
  uint16_t site = 0;
  uint8_t path = 0;
  const bool known = hub_ && known_peer(md, get16(payload + stamp_off::kSsid), &site, &path);
  uint32_t seq = 0;
  if (const Drop why = reflected_seq(md, payload, known, &seq); why != kDropCount)
    return out.drop(why, m);

  const uint32_t base = v4 ? kIpv4Len : kIpv6Len;
  uint8_t hdr[kIpv6Len];
  std::memcpy(hdr, ip, base);
  uint8_t* p = strip_between(m, md.l2_len, static_cast<uint16_t>(md.l3_len - base));
  const uint32_t len = uint32_t{md.l2_len} + base + udp_len;
  if (rte_pktmbuf_data_len(m) > len)  // bytes after the UDP datagram are not echoed
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - len));
  ip = p + md.l2_len;  // udp has not moved: only the L2 header slid forward
  reflected_ip_header(ip, hdr, v4, udp_len);
  const uint16_t sport = get16(udp);
  put16(udp, get16(udp + 2));
  put16(udp + 2, sport);
  ErrorEstimate ours = clock_.error;
  ours.ptp = false;
  reflect_in_place({payload, udp_len - kUdpLen}, seq, clock_.ntp(rx_tsc_), ours, md.ttl, nullptr);
  fill_dm(payload, udp_len - kUdpLen, known, site, path);
  std::memcpy(p, p + RTE_ETHER_ADDR_LEN, RTE_ETHER_ADDR_LEN);
  std::memcpy(p + RTE_ETHER_ADDR_LEN, pi.iface->mac.addr_bytes, RTE_ETHER_ADDR_LEN);

  std::swap(md.src, md.dst);
  std::swap(md.src_port, md.dst_port);
  md.ttl = kStampTtl;
  md.l3_len = static_cast<uint16_t>(base);
  md.l3_total = static_cast<uint16_t>(base + udp_len);
  md.flags &= static_cast<uint16_t>(
      ~(meta_flag::kIpOptions | meta_flag::kFragment | meta_flag::kLaterFragment));
  md.out_port = md.in_port;

  // T3 as late as this stage can: after every other byte, just before the checksum over it.
  stamp_put_timestamp(payload, clock_.ntp(rte_rdtsc()));
  udp_fill(v4, ip + (v4 ? 12 : 8), ip + (v4 ? 16 : 24), udp, udp_len);
  out.to(kReply, m);
}

void ProbeStage::record_reply(rte_mbuf* m, PacketMeta& md, int session, const uint8_t* udp,
                              uint32_t udp_len, Output& out) noexcept {
  StampSession s;
  const auto id = static_cast<uint16_t>(session);
  if (!deps_.sessions->get(id, &s)) return out.drop(kUnknownSession, m);
  if (md.src != s.remote || md.src_port != s.remote_port || s.uplink >= site_.uplinks.size() ||
      site_.uplinks[s.uplink]->port_id != md.in_port)
    return out.drop(kSessionMismatch, m);
  StampReflectorPacket r;
  decode_reflector({udp + kUdpLen, udp_len - kUdpLen}, &r);  // length checked by handle()
  StampRecord rec;
  rec.kind = StampRecordKind::kReply;
  rec.session = id;
  rec.sender_ttl = r.sender_ttl;
  rec.reply_ttl = md.ttl;
  rec.length = static_cast<uint16_t>(udp_len - kUdpLen);
  rec.seq = r.sender_seq;
  rec.reflector_seq = r.seq;
  rec.sender_error = r.sender_error.encode();
  rec.reflector_error = r.error.encode();
  rec.ssid = r.ssid;
  rec.t1 = stamp_ts_to_ntp(r.sender_ts, r.sender_error);
  rec.t2 = stamp_ts_to_ntp(r.receive_ts, r.error);
  rec.t3 = stamp_ts_to_ntp(r.timestamp, r.error);
  rec.t4 = clock_.ntp(rx_tsc_);
  StampDm dm;
  if (decode_dm({udp + kUdpLen, udp_len - kUdpLen}, &dm) == StampDmStatus::kOk) {
    rec.dm = true;
    rec.dm_s_txc = dm.s_txc;
    rec.dm_r_rxc = dm.r_rxc;
    rec.dm_r_txc = dm.r_txc;
    if (edge_dm_) rec.dm_s_rxc = edge_rx(s.uplink);
    rec.dm_classes = dm.classes;
    rec.c_s_txc = dm.c_s_txc;
    rec.c_r_rxc = dm.c_r_rxc;
    rec.c_r_txc = dm.c_r_txc;
    for (uint8_t c = 0; edge_dm_ && c < dm.classes; ++c)
      rec.c_s_rxc[c] = edge_rx(s.uplink, static_cast<uint8_t>(c + 1));
    bump(stats_.dm_replies);
  }
  if (rte_ring_enqueue_elem(deps_.results, &rec, sizeof rec) != 0)
    return out.drop(kResultRingFull, m);
  out.to(kConsumed, m);
}

bool ProbeStage::echo_reply(rte_mbuf* m, PacketMeta& md, int session, Output& out) noexcept {
  StampSession s;
  const auto id = static_cast<uint16_t>(session);
  if (!deps_.sessions->get(id, &s) || s.kind != StampProbeKind::kIcmpEcho) return false;
  // Ours only from the target, on the session's uplink, to that uplink's own address: anything
  // else with this identifier (the kernel's own ping, a LAN host's) goes on untouched.
  if (md.src != s.remote || s.uplink >= site_.uplinks.size() ||
      site_.uplinks[s.uplink]->port_id != md.in_port || md.in_port >= kMaxPorts)
    return false;
  const PortInfo& pi = ports_[md.in_port];
  const bool v4 = md.l3 == L3Kind::kIpv4;
  const bool to_us = v4 ? pi.has_v4 && raw4(md.dst) == pi.v4
                        : (pi.has_v6 && md.dst == pi.v6) || (pi.has_ll && md.dst == pi.ll);
  if (!to_us) return false;
  const uint32_t end = uint32_t{md.l2_len} + md.l3_total;
  if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < end || md.l2_len < kEthLen ||
      uint32_t{md.l3_len} + kIcmpEchoHdrLen + kEchoHeaderLen > md.l3_total)
    return false;  // too short to hold our echo header: not one of our probes
  const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, md.l2_len);
  const uint8_t* icmp = ip + md.l3_len;
  const uint32_t icmp_len = md.l3_total - uint32_t{md.l3_len};
  const uint8_t* data = icmp + kIcmpEchoHdrLen;
  const uint32_t seq = get32(data + echo_off::kSeq);
  if (get32(data + echo_off::kMagic) != kEchoMagic || (seq & 0xffff) != get16(icmp + 6))
    return false;
  // From here on it is our probe's answer: damaged or not, nobody else wants it.
  if (__rte_raw_cksum_reduce(
          icmp_sum(v4, ip + (v4 ? 12 : 8), ip + (v4 ? 16 : 24), icmp, icmp_len)) != 0xffff) {
    out.drop(kBadIcmpChecksum, m);
    return true;
  }
  burst_time();
  if (!clock_.set()) {
    out.drop(kClockUnset, m);
    return true;
  }
  // A stateless reflector with no clock: the target's sequence number is ours, T2 = T3 = 0 and
  // its error estimate 0 (multiplier 0: invalid), so no one-way figure is ever taken from it.
  StampRecord rec;
  rec.kind = StampRecordKind::kReply;
  rec.session = id;
  rec.sender_ttl = 0;  // unknown: the target does not report it
  rec.reply_ttl = md.ttl;
  rec.length = static_cast<uint16_t>(icmp_len - kIcmpEchoHdrLen);
  rec.seq = seq;
  rec.reflector_seq = seq;
  rec.sender_error = get16(data + echo_off::kError);
  rec.reflector_error = 0;
  rec.ssid = get16(data + echo_off::kSsid);
  rec.t1 =
      uint64_t{get32(data + echo_off::kTimestamp)} << 32 | get32(data + echo_off::kTimestamp + 4);
  rec.t4 = clock_.ntp(rx_tsc_);
  if (rte_ring_enqueue_elem(deps_.results, &rec, sizeof rec) != 0) {
    out.drop(kResultRingFull, m);
    return true;
  }
  bump(stats_.echo_replies);
  out.to(kConsumed, m);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Session-Sender

namespace {

// The uplink's address to send to `dst` from: IPv4, the link-local address towards a link-local
// destination, else the global IPv6 address.
StampSendFailure pick_source(const Interface& uplink, const IpAddr& dst, IpAddr* src) noexcept {
  if (dst.is_v4()) {
    if (!uplink.v4 || !uplink.v4->addr.is_v4()) return StampSendFailure::kNoSource;
    *src = uplink.v4->addr;
  } else if (v6_link_local(dst.b.data())) {
    if (uplink.v6_link_local.is_zero()) return StampSendFailure::kNoSource;
    *src = uplink.v6_link_local;
  } else {
    if (!uplink.v6 || uplink.v6->addr.is_v4() || uplink.v6->addr.is_zero())
      return StampSendFailure::kNoSource;
    *src = uplink.v6->addr;
  }
  return StampSendFailure::kNone;
}

// Why a probe of `rq` to `dst` cannot be built (clock unset, length out of range, no source
// address), checked in that order; else kNone with the source address in `src`.
StampSendFailure probe_preconditions(const Interface& uplink, const IpAddr& dst,
                                     const StampRequest& rq, const TscClock& clock,
                                     IpAddr* src) noexcept {
  if (!clock.set()) return StampSendFailure::kClockUnset;
  if (rq.length < kStampPacketLen || rq.length > kStampMaxPacketLen)
    return StampSendFailure::kBadLength;
  return pick_source(uplink, dst, src);
}

// Ethernet + IPv4/IPv6 header of a probe (TTL 255, DF, DSCP), `l4_len` bytes of transport after.
void write_headers(uint8_t* p, const Interface& uplink, const rte_ether_addr& next_hop_mac,
                   const IpAddr& src, const IpAddr& dst, uint8_t proto, uint8_t dscp,
                   uint32_t l4_len) noexcept {
  const bool v4 = dst.is_v4();
  std::memcpy(p, next_hop_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  std::memcpy(p + RTE_ETHER_ADDR_LEN, uplink.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  put16(p + 12, v4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
  uint8_t* ip = p + kEthLen;
  const uint8_t tos = static_cast<uint8_t>((dscp & 0x3f) << 2);
  if (v4)
    write_ipv4_header(ip, {.tos = tos,
                           .total_len = static_cast<uint16_t>(kIpv4Len + l4_len),
                           .ttl = kStampTtl,
                           .proto = proto,
                           .src = src.v4_ptr(),
                           .dst = dst.v4_ptr()});
  else
    write_ipv6_header(ip, {.tclass = tos,
                           .payload_len = static_cast<uint16_t>(l4_len),
                           .next = proto,
                           .hop_limit = kStampTtl,
                           .src = src.b.data(),
                           .dst = dst.b.data()});
}

void set_probe_meta(rte_mbuf* m, const Interface& uplink, const IpAddr& src, const IpAddr& dst,
                    uint8_t proto, uint16_t sport, uint16_t dport, uint8_t dscp,
                    uint32_t l4_len) noexcept {
  const bool v4 = dst.is_v4();
  const uint32_t l3 = v4 ? kIpv4Len : kIpv6Len;
  PacketMeta& md = meta(m);
  md = PacketMeta{};
  md.src = src;
  md.dst = dst;
  md.l2_len = kEthLen;
  md.l3 = v4 ? L3Kind::kIpv4 : L3Kind::kIpv6;
  md.l3_len = static_cast<uint16_t>(l3);
  md.l3_total = static_cast<uint16_t>(l3 + l4_len);
  md.l4_proto = proto;
  md.src_port = sport;
  md.dst_port = dport;
  md.flags = meta_flag::kHasL4;
  md.ttl = kStampTtl;
  md.dscp = static_cast<uint8_t>(dscp & 0x3f);
  md.uplink = uplink.uplink;
  md.out_port = uplink.port_id;
}

}  // namespace

StampSendFailure build_stamp_probe(rte_mbuf* m, const Interface& uplink,
                                   const rte_ether_addr& next_hop_mac, const IpAddr& dst,
                                   uint16_t dst_port, uint16_t src_port, const StampRequest& rq,
                                   const TscClock& clock, uint64_t* t1,
                                   const StampDm* dm) noexcept {
  const bool v4 = dst.is_v4();
  IpAddr src;
  if (const StampSendFailure f = probe_preconditions(uplink, dst, rq, clock, &src);
      f != StampSendFailure::kNone)
    return f;
  const uint32_t l3 = v4 ? kIpv4Len : kIpv6Len;
  const uint32_t dm_len = dm != nullptr ? uint32_t(stamp_dm_packet_len(dm->classes)) : 0;
  const uint32_t stamp_len = rq.length < dm_len ? dm_len : rq.length;
  const uint32_t udp_len = kUdpLen + stamp_len;
  const uint32_t total = kEthLen + l3 + udp_len;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(total)));
  if (p == nullptr) return StampSendFailure::kNoMbuf;

  write_headers(p, uplink, next_hop_mac, src, dst, IPPROTO_UDP, rq.dscp, udp_len);
  uint8_t* ip = p + kEthLen;
  uint8_t* udp = ip + l3;
  put16(udp, src_port);
  put16(udp + 2, dst_port);
  put16(udp + 4, static_cast<uint16_t>(udp_len));
  put16(udp + 6, 0);
  uint8_t* payload = udp + kUdpLen;
  StampSenderPacket s;
  s.seq = rq.seq;
  s.error = clock.error;
  s.error.ptp = false;  // we write NTP timestamps
  s.ssid = rq.ssid;
  encode_sender(s, {payload, stamp_len}, dm);
  set_probe_meta(m, uplink, src, dst, IPPROTO_UDP, src_port, dst_port, rq.dscp, udp_len);

  const uint64_t t = clock.ntp(rte_rdtsc());
  stamp_put_timestamp(payload, t);
  udp_fill(v4, ip + (v4 ? 12 : 8), ip + (v4 ? 16 : 24), udp, udp_len);
  *t1 = t;
  return StampSendFailure::kNone;
}

StampSendFailure build_icmp_echo_probe(rte_mbuf* m, const Interface& uplink,
                                       const rte_ether_addr& next_hop_mac, const IpAddr& dst,
                                       uint16_t ident, const StampRequest& rq,
                                       const TscClock& clock, uint64_t* t1) noexcept {
  const bool v4 = dst.is_v4();
  IpAddr src;
  if (const StampSendFailure f = probe_preconditions(uplink, dst, rq, clock, &src);
      f != StampSendFailure::kNone)
    return f;
  const uint8_t proto = v4 ? uint8_t{IPPROTO_ICMP} : uint8_t{IPPROTO_ICMPV6};
  const uint32_t l3 = v4 ? kIpv4Len : kIpv6Len;
  const uint32_t icmp_len = kIcmpEchoHdrLen + rq.length;
  const uint32_t total = kEthLen + l3 + icmp_len;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(total)));
  if (p == nullptr) return StampSendFailure::kNoMbuf;

  write_headers(p, uplink, next_hop_mac, src, dst, proto, rq.dscp, icmp_len);
  uint8_t* ip = p + kEthLen;
  uint8_t* icmp = ip + l3;
  icmp[0] = v4 ? 8 : 128;  // echo request
  icmp[1] = 0;
  put16(icmp + 2, 0);
  put16(icmp + 4, ident);
  put16(icmp + 6, static_cast<uint16_t>(rq.seq));
  uint8_t* data = icmp + kIcmpEchoHdrLen;
  std::memset(data, 0, rq.length);
  put32(data + echo_off::kMagic, kEchoMagic);
  put32(data + echo_off::kSeq, rq.seq);
  put16(data + echo_off::kSsid, rq.ssid);
  ErrorEstimate e = clock.error;
  e.ptp = false;
  put16(data + echo_off::kError, e.encode());
  set_probe_meta(m, uplink, src, dst, proto, ident, ident, rq.dscp, icmp_len);
  meta(m).icmp_type = icmp[0];

  const uint64_t t = clock.ntp(rte_rdtsc());
  put32(data + echo_off::kTimestamp, static_cast<uint32_t>(t >> 32));
  put32(data + echo_off::kTimestamp + 4, static_cast<uint32_t>(t));
  const uint16_t c = static_cast<uint16_t>(~__rte_raw_cksum_reduce(
      icmp_sum(v4, ip + (v4 ? 12 : 8), ip + (v4 ? 16 : 24), icmp, icmp_len)));
  std::memcpy(icmp + 2, &c, 2);
  *t1 = t;
  return StampSendFailure::kNone;
}

void ProbeStage::push_failure(const StampRequest& rq, StampSendFailure f) noexcept {
  const auto i = static_cast<unsigned>(f);
  if (i < kMaxFailure) bump(stats_.send_failed[i]);
  StampRecord rec;
  rec.kind = StampRecordKind::kSendFailed;
  rec.failure = f;
  rec.session = rq.session;
  rec.seq = rq.seq;
  rec.ssid = rq.ssid;
  rec.length = rq.length;
  if (rte_ring_enqueue_elem(deps_.results, &rec, sizeof rec) != 0) bump(stats_.records_lost);
}

namespace {

// Next hop: the remote itself when on-link, else the uplink's gateway of its family.
StampSendFailure probe_next_hop(const Interface& ifc, const IpAddr& remote, IpAddr* nh) noexcept {
  if (remote.is_v4()) {
    if (!ifc.v4 || !ifc.v4->addr.is_v4()) return StampSendFailure::kNoSource;
    IpPrefix net{ifc.v4->addr, static_cast<uint8_t>(96 + (ifc.v4->plen > 32 ? 32 : ifc.v4->plen)),
                 true};
    if (net.contains(remote, true))
      *nh = remote;
    else if (ifc.gw4 && ifc.gw4->is_v4())
      *nh = *ifc.gw4;
    else
      return StampSendFailure::kNoRoute;
  } else {
    const bool ll = v6_link_local(remote.b.data());
    const bool has_v6 = ifc.v6 && !ifc.v6->addr.is_v4() && !ifc.v6->addr.is_zero();
    if (ll ? ifc.v6_link_local.is_zero() : !has_v6) return StampSendFailure::kNoSource;
    IpPrefix net{};
    if (has_v6) net = IpPrefix{ifc.v6->addr, ifc.v6->plen > 128 ? uint8_t{128} : ifc.v6->plen};
    if (ll || (has_v6 && net.contains(remote, false)))
      *nh = remote;
    else if (ifc.gw6 && !ifc.gw6->is_v4() && !ifc.gw6->is_zero())
      *nh = *ifc.gw6;
    else
      return StampSendFailure::kNoRoute;
  }
  return StampSendFailure::kNone;
}

}  // namespace

void ProbeStage::send_one(const StampRequest& rq, const TscClock& clock, Output& out) noexcept {
  if (!clock.set()) return push_failure(rq, StampSendFailure::kClockUnset);
  StampSession s;
  if (!deps_.sessions->get(rq.session, &s) || s.uplink >= site_.uplinks.size())
    return push_failure(rq, StampSendFailure::kNoSession);
  Interface& ifc = *site_.uplinks[s.uplink];
  if (!ifc.link_up.load(std::memory_order_relaxed))
    return push_failure(rq, StampSendFailure::kLinkDown);
  if (rq.length < kStampPacketLen || rq.length > kStampMaxPacketLen)
    return push_failure(rq, StampSendFailure::kBadLength);

  IpAddr nh;
  if (const StampSendFailure f = probe_next_hop(ifc, s.remote, &nh); f != StampSendFailure::kNone)
    return push_failure(rq, f);
  rte_ether_addr mac;
  if (ifc.neighbors == nullptr) return push_failure(rq, StampSendFailure::kNoNeighbor);
  if (!ifc.neighbors->lookup(nh, &mac)) {
    ifc.neighbors->want(nh);  // the resolver on this worker asks for it
    return push_failure(rq, StampSendFailure::kNoNeighbor);
  }
  rte_mbuf* m = rte_pktmbuf_alloc(deps_.pool);
  if (m == nullptr) return push_failure(rq, StampSendFailure::kNoMbuf);
  uint64_t t1 = 0;
  const bool echo = s.kind == StampProbeKind::kIcmpEcho;
  const uint16_t local = deps_.sessions->local_port(rq.session);
  // An edge's STAMP probes (all to its hub) say which site and path they measure, and carry
  // what our encap sent on that uplink so far (direct measurement, docs/links.md).
  StampRequest wire = rq;
  StampDm dm;
  const bool with_dm = edge_dm_ && !echo;
  if (with_dm) {
    wire.ssid = stamp_overlay_ssid(deps_.overlay_site_id, s.uplink);
    dm.classes = std::min(rq.classes, kStampMaxClasses);
    if (wire.length < stamp_dm_packet_len(dm.classes))
      wire.length = static_cast<uint16_t>(stamp_dm_packet_len(dm.classes));
    // What left on this uplink towards the hub: encapsulated, less our own later drops.
    dm.s_txc = deps_.overlay->tx_packets(0, s.uplink);
    for (uint8_t c = 0; c < dm.classes; ++c)
      dm.c_s_txc[c] = deps_.overlay->tx_packets(0, s.uplink, static_cast<uint8_t>(c + 1));
  }
  const StampSendFailure f =
      echo ? build_icmp_echo_probe(m, ifc, mac, s.remote, local, rq, clock, &t1)
           : build_stamp_probe(m, ifc, mac, s.remote, s.remote_port, local, wire, clock, &t1,
                               with_dm ? &dm : nullptr);
  if (f != StampSendFailure::kNone) {
    rte_pktmbuf_free(m);
    return push_failure(rq, f);
  }
  StampRecord rec;
  rec.kind = StampRecordKind::kSent;
  rec.session = rq.session;
  rec.seq = rq.seq;
  rec.ssid = wire.ssid;
  rec.length = wire.length;
  rec.dm = with_dm;
  rec.dm_s_txc = dm.s_txc;
  rec.dm_classes = dm.classes;
  rec.c_s_txc = dm.c_s_txc;
  ErrorEstimate e = clock.error;
  e.ptp = false;
  rec.sender_error = e.encode();
  rec.t1 = t1;
  // Before the packet leaves: the record of a probe precedes any record of its reply.
  if (rte_ring_enqueue_elem(deps_.results, &rec, sizeof rec) != 0) bump(stats_.records_lost);
  bump(stats_.probes_sent);
  if (echo) bump(stats_.echo_sent);
  out.to(kSent, m);
}

void ProbeStage::on_idle(const BurstContext& /*ctx*/, Output& out) noexcept {
  if (deps_.requests == nullptr) return;
  StampRequest rq[kSendBudget];
  const unsigned n =
      rte_ring_dequeue_burst_elem(deps_.requests, rq, sizeof(StampRequest), kSendBudget, nullptr);
  if (n == 0) return;
  const TscClock clock = deps_.clock->load();
  for (unsigned i = 0; i < n; ++i) send_one(rq[i], clock, out);
}

void ProbeStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"probe.reflector_sessions_new", read_counter(stats_.reflector_sessions_new)});
  out.push_back({"probe.reflector_evictions", read_counter(stats_.reflector_evictions)});
  out.push_back({"probe.reflector_stateless", read_counter(stats_.reflector_stateless)});
  out.push_back({"probe.dm_filled", read_counter(stats_.dm_filled)});
  out.push_back({"probe.dm_unattributed", read_counter(stats_.dm_unattributed)});
  out.push_back({"probe.dm_replies", read_counter(stats_.dm_replies)});
  out.push_back({"probe.probes_sent", read_counter(stats_.probes_sent)});
  out.push_back({"probe.records_lost", read_counter(stats_.records_lost)});
  out.push_back({"probe.echo_sent", read_counter(stats_.echo_sent)});
  out.push_back({"probe.echo_replies", read_counter(stats_.echo_replies)});
  for (unsigned i = 1; i < kMaxFailure; ++i)
    out.push_back({std::string("probe.send_failed.") + to_string(static_cast<StampSendFailure>(i)),
                   read_counter(stats_.send_failed[i])});
}

rte_ring* make_stamp_result_ring(const char* name, unsigned count, int socket_id) {
  return rte_ring_create_elem(name, sizeof(StampRecord), rte_align32pow2(count), socket_id,
                              RING_F_SC_DEQ);
}

rte_ring* make_stamp_request_ring(const char* name, unsigned count, int socket_id) {
  return rte_ring_create_elem(name, sizeof(StampRequest), rte_align32pow2(count), socket_id,
                              RING_F_SP_ENQ | RING_F_SC_DEQ);
}

}  // namespace traboule::dp

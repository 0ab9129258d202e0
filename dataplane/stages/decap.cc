// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/decap.h"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_ether.h>

#include <cstring>

#include "dataplane/graph/mbuf_parse.h"
#include "dataplane/graph/worker_view.h"

namespace traboule::dp {
namespace {

constexpr unsigned kEthLen = sizeof(rte_ether_hdr);
constexpr unsigned kUdpLen = 8;

}  // namespace

DecapStage::DecapStage(const Site& site, const OverlayConfig& cfg, OverlaySites* sites,
                       const EspSas* esp)
    : site_(site), cfg_(cfg), sites_(sites), esp_(esp) {
  const size_t slots = cfg.hub ? kMaxSiteId + 1 : kMaxUplinks;
  passive_.resize(slots * kMaxUplinks);
  dup_.resize(slots);
  tsc_hz_ = rte_get_tsc_hz();
  us_per_tick_ = tsc_hz_ != 0 ? 1e6 / static_cast<double>(tsc_hz_) : 0;
  if (sites_ != nullptr) sites_->attach_rx(passive_.data(), slots);
}

DecapStage::~DecapStage() {
  if (sites_ != nullptr) sites_->detach_rx(passive_.data());
}

bool DecapStage::from_peer(const PolicySnapshot* p, const IpAddr& src) noexcept {
  if (p == nullptr) return false;
  for (const OverlayPeerDp& peer : p->peers)
    for (const IpAddr& a : peer.endpoints)
      if (a == src) return true;
  return false;
}

void DecapStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                         Output& out) noexcept {
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const PacketMeta& md = meta(m);
    if (cfg_.port == 0 || !(md.flags & meta_flag::kHasL4) || md.l4_proto != IPPROTO_UDP ||
        md.dst_port != cfg_.port || (md.flags & meta_flag::kFromLan)) [[likely]] {
      out.to(kNext, m);
      continue;
    }
    // Ours only when addressed to the uplink it came in on: transit traffic using the port
    // (and overlay packets to another of our addresses) goes on.
    const Interface* in = site_.iface(md.in_port);
    const bool v4 = md.l3 == L3Kind::kIpv4;
    const bool own = in != nullptr && !in->is_lan &&
                     (v4 ? in->v4 && in->v4->addr == md.dst : in->v6 && in->v6->addr == md.dst);
    if (!own) {
      out.to(kNext, m);
      continue;
    }
    handle(m, ctx, out);
  }
}

const EspInbound* DecapStage::open_esp(rte_mbuf* m, Drop& why) const noexcept {
  if (rte_pktmbuf_data_len(m) < kEspHdrLen) {
    why = kEspMalformed;
    return nullptr;
  }
  EspInbound* sa = esp_ != nullptr ? esp_->inbound(get32(rte_pktmbuf_mtod(m, uint8_t*))) : nullptr;
  if (sa == nullptr) {
    why = kEspUnknownSpi;
    return nullptr;
  }
  uint8_t next = 0;
  switch (sa->open(m, next)) {
    case EspInbound::Result::kOk:
      if (next == kEspNextOverlay) return sa;
      why = kEspNotOverlay;
      return nullptr;
    case EspInbound::Result::kReplayed:
      why = kEspReplayed;
      return nullptr;
    case EspInbound::Result::kTooOld:
      why = kEspTooOld;
      return nullptr;
    case EspInbound::Result::kAuthFailed:
      why = kEspAuthFailed;
      return nullptr;
    case EspInbound::Result::kBadTrailer:
      why = kEspBadTrailer;
      return nullptr;
    case EspInbound::Result::kNotWritable:
    case EspInbound::Result::kTooShort:
    case EspInbound::Result::kMisaligned:
      break;
  }
  why = kEspMalformed;
  return nullptr;
}

// Keeps the outer MACs in `macs` (route checks the destination is ours) and makes the UDP payload
// the mbuf's data; false when the datagram is cut short.
bool DecapStage::strip_outer(rte_mbuf* m, uint8_t* macs) noexcept {
  const PacketMeta& md = meta(m);
  const uint32_t udp_off = uint32_t{md.l2_len} + md.l3_len;
  const uint32_t end = uint32_t{md.l2_len} + md.l3_total;
  if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < end || md.l2_len < kEthLen ||
      udp_off + kUdpLen > end)
    return false;
  const uint8_t* base = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t udp_len = get16(base + udp_off + 4);
  if (udp_len < kUdpLen || udp_off + udp_len > end) return false;
  std::memcpy(macs, base, 2 * RTE_ETHER_ADDR_LEN);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - (udp_off + udp_len)));
  rte_pktmbuf_adj(m, static_cast<uint16_t>(udp_off + kUdpLen));
  return true;
}

void DecapStage::handle(rte_mbuf* m, const BurstContext& ctx, Output& out) noexcept {
  PacketMeta& md = meta(m);
  uint8_t macs[2 * RTE_ETHER_ADDR_LEN];
  if (!strip_outer(m, macs)) return out.drop(kTruncated, m);
  const EspInbound* sa = nullptr;
  if (cfg_.encrypt) {
    Drop why = kDropCount;
    sa = open_esp(m, why);
    if (sa == nullptr) return out.drop(why, m);
  }
  if (rte_pktmbuf_data_len(m) < kOverlayHdrLen) return out.drop(kTruncated, m);
  uint8_t* oh = rte_pktmbuf_mtod(m, uint8_t*);
  OverlayHeader h;
  switch (read_overlay_header(oh, h)) {
    case OverlayParse::kOk:
      break;
    case OverlayParse::kBadVersion:
      return out.drop(kBadVersion, m);
    case OverlayParse::kBadInner:
      return out.drop(kBadInner, m);
    case OverlayParse::kEncrypted:
      return out.drop(kEncrypted, m);
    case OverlayParse::kBadSite:
      return out.drop(kBadSite, m);
  }
  const Interface* in = site_.iface(md.in_port);
  const uint8_t in_uplink = in->uplink < kMaxUplinks ? in->uplink : 0;
  // An SA carries one path of one site (a hub: the site's uplink the header names; an edge: the
  // uplink it arrives on): a site cannot speak for another with its own keys.
  if (sa != nullptr &&
      (cfg_.hub ? sa->site() != h.site || sa->path() != h.path : sa->path() != in_uplink))
    return out.drop(kEspWrongPath, m);
  uint16_t slot;
  if (cfg_.hub) {
    slot = h.site;
    if (sites_ != nullptr) sites_->learn(h.site, h.path, md.src, md.src_port, ctx.now_tsc, tsc_hz_);
  } else {
    if (h.site != cfg_.site_id) return out.drop(kWrongSite, m);
    if (!from_peer(ctx.policy(), md.src)) return out.drop(kUnknownPeer, m);
    slot = in_uplink;
  }
  // The path carried it, whether or not it is the second copy of a duplicate-strategy packet:
  // measured before the filter (a dropped copy is no gap in its path's sequence, and the direct
  // measurement's received count must match what the sender counted as sent on that path).
  const uint32_t rx_us =
      static_cast<uint32_t>(static_cast<uint64_t>(static_cast<double>(ctx.now_tsc) * us_per_tick_));
  PassivePath& pp = passive_[size_t{slot} * kMaxUplinks + h.path];
  pp.on_packet(h.seq, h.tx_us, rx_us);
  bump(pp.received_cls[h.cls]);
  if (h.flags & overlay_flag::kDuplicate) {
    switch (dup_[slot].check(h.dup_seq)) {
      case DupFilter::Verdict::kFirst:
        break;
      case DupFilter::Verdict::kDuplicate:
        return out.drop(kDuplicate, m);
      case DupFilter::Verdict::kTooOld:
        return out.drop(kTooOld, m);
    }
  }

  // The inner packet with an Ethernet header of the outer MACs over the overlay header's end, so
  // parse reads it as if it came in this port (outer VLAN tags, IP and UDP are gone).
  uint8_t* eth = oh + kOverlayHdrLen - kEthLen;
  std::memcpy(eth, macs, sizeof macs);
  put16(eth + 12, h.inner == 4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
  rte_pktmbuf_adj(m, static_cast<uint16_t>(kOverlayHdrLen - kEthLen));
  // The NIC's checksum verdicts were about the outer headers: the inner ones are checked anew.
  m->ol_flags &= ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK);
  const unsigned r = parse_mbuf(m);
  if (r >= FrameCodes::kDropBase) return out.drop(kInnerMalformed, m);
  md.flags |= meta_flag::kFromOverlay;
  md.overlay_site = h.site;
  md.overlay_path = h.path;
  md.overlay_cls = h.cls;
  out.to(kNext, m);
}

void DecapStage::collect_extra(std::vector<CounterValue>& out) const {
  const size_t slots = passive_.size() / kMaxUplinks;
  for (size_t s = 0; s < slots; ++s)
    for (uint8_t p = 0; p < kMaxUplinks; ++p) {
      const PassivePath& pp = passive_[s * kMaxUplinks + p];
      const uint64_t rx = read_counter(pp.received);
      if (rx == 0) continue;
      std::string where;
      if (cfg_.hub)
        where = "site" + std::to_string(s);
      else
        where = s < site_.uplinks.size() ? site_.uplinks[s]->name : "uplink" + std::to_string(s);
      const std::string base = "decap.passive." + where + ".path" + std::to_string(p);
      out.push_back({base + ".received", rx});
      out.push_back({base + ".lost", read_counter(pp.lost)});
      out.push_back({base + ".reordered", read_counter(pp.reordered)});
      out.push_back({base + ".duplicates", read_counter(pp.duplicates)});
      out.push_back({base + ".jitter_us", read_counter(pp.jitter_us16) / 16});
      out.push_back({base + ".seq_jumps", read_counter(pp.seq_jumps)});
      out.push_back({base + ".resyncs", read_counter(pp.resyncs)});
    }
}

}  // namespace traboule::dp

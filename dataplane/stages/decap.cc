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

DecapStage::DecapStage(const Site& site, const OverlayConfig& cfg, OverlaySites* sites)
    : site_(site), cfg_(cfg), sites_(sites) {
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

void DecapStage::handle(rte_mbuf* m, const BurstContext& ctx, Output& out) noexcept {
  PacketMeta& md = meta(m);
  const uint32_t udp_off = uint32_t{md.l2_len} + md.l3_len;
  const uint32_t end = uint32_t{md.l2_len} + md.l3_total;
  if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < end || md.l2_len < kEthLen ||
      udp_off + kUdpLen + kOverlayHdrLen > end)
    return out.drop(kTruncated, m);
  uint8_t* base = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t udp_len = get16(base + udp_off + 4);
  if (udp_len < kUdpLen + kOverlayHdrLen || udp_off + udp_len > end) return out.drop(kTruncated, m);
  OverlayHeader h;
  switch (read_overlay_header(base + udp_off + kUdpLen, h)) {
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
  uint16_t slot;
  if (cfg_.hub) {
    slot = h.site;
    if (sites_ != nullptr) sites_->learn(h.site, h.path, md.src, md.src_port, ctx.now_tsc, tsc_hz_);
  } else {
    if (h.site != cfg_.site_id) return out.drop(kWrongSite, m);
    if (!from_peer(ctx.policy(), md.src)) return out.drop(kUnknownPeer, m);
    const Interface* in = site_.iface(md.in_port);
    slot = in->uplink < kMaxUplinks ? in->uplink : 0;
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

  // Keep the outer MACs (route checks the destination is ours), drop the outer VLAN tags, IP,
  // UDP and overlay header, and let parse read the inner packet as if it came in this port.
  const uint32_t inner_off = udp_off + kUdpLen + kOverlayHdrLen;
  const uint32_t inner_end = udp_off + udp_len;
  uint8_t* eth = base + inner_off - kEthLen;
  std::memmove(eth, base, 2 * RTE_ETHER_ADDR_LEN);
  put16(eth + 12, h.inner == 4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - inner_end));
  rte_pktmbuf_adj(m, static_cast<uint16_t>(inner_off - kEthLen));
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

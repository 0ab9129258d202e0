// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/punt.h"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_ether.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace traboule::dp {

static_assert(PuntStage::kDrops.size() == PuntStage::kPolicedLast + 1, "one name per drop");

namespace {
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kNdNa = 136;
constexpr uint16_t kBgpPort = 179;
constexpr uint8_t kOspf = 89;
}  // namespace

PuntStage::PuntStage(const Site& site, const PuntSettings& settings, const PuntDeps& deps)
    : site_(site),
      own_(site),
      allow_(settings.allow),
      allow_overlay_(settings.allow_overlay),
      deps_(deps),
      hz_(rte_get_tsc_hz()) {
  start_tsc_ = rte_rdtsc();
  for (unsigned c = 0; c < kPuntClasses; ++c) {
    Bucket& b = buckets_[c];
    b.per_s = settings.rates.pps[c];
    b.max_milli = std::max<uint64_t>(16, b.per_s / 4) * 1000;
    b.milli = b.max_milli;
    b.last_tsc = start_tsc_;
  }
}

bool PuntStage::allowed(const IpAddr& src) const noexcept {
  const bool v4 = src.is_v4();
  for (const IpPrefix& p : allow_)
    if (p.contains(src, v4)) return true;
  return false;
}

PuntStage::Verdict PuntStage::judge(rte_mbuf* m, uint64_t now_tsc, PuntClass& cls,
                                    uint16_t& twin) const noexcept {
  const PacketMeta& md = meta(m);
  cls = PuntClass::kBox;
  twin = kNoPort;
  // Neighbour copies go to the twin of the port they came in on; the rest to the twin of the
  // interface that owns the destination (a LAN address reached through the overlay included).
  int owner = -1;
  if (md.l3 == L3Kind::kArp ||
      (md.l4_proto == IPPROTO_ICMPV6 && md.icmp_type == kNdNa && md.l3 == L3Kind::kIpv6)) {
    cls = PuntClass::kArpNd;
    const Interface* ifc = site_.iface(md.in_port);
    if (ifc != nullptr)
      for (size_t i = 0; i < site_.ifaces.size(); ++i)
        if (site_.ifaces[i].get() == ifc) owner = static_cast<int>(i);
  } else {
    owner = own_.owner(md.dst);
  }
  if (owner < 0) return Verdict::kNoTwin;
  const uint16_t port = site_.ifaces[static_cast<size_t>(owner)]->port_id;
  twin = port < kMaxPorts ? deps_.twin_of[port] : kNoPort;
  if (twin == kNoPort) return Verdict::kNoTwin;
  if (cls == PuntClass::kArpNd) return Verdict::kPass;

  const bool l4 = (md.flags & meta_flag::kHasL4) != 0;
  const uint8_t proto = md.l4_proto;
  // Echo requests local did not answer and redirects are not answers to the box's packets:
  // they need an allowed source like any other opening.
  const bool echo_request =
      l4 && ((proto == IPPROTO_ICMP && (md.icmp_type == 8 || md.icmp_type == 5)) ||
             (proto == IPPROTO_ICMPV6 && md.icmp_type == 128));
  // A later fragment (no ICMP header) goes along: alone it is only buffered for reassembly.
  if ((proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) && !echo_request) {
    cls = PuntClass::kIcmp;  // errors about the box's own packets, answers to its pings
    return Verdict::kPass;
  }
  if (proto == IPPROTO_UDP && l4 &&
      ((md.src_port == 67 && md.dst_port == 68) || (md.src_port == 547 && md.dst_port == 546))) {
    cls = PuntClass::kDhcp;
    return Verdict::kPass;
  }
  const bool ok_source =
      allowed(md.src) || (allow_overlay_ && (md.flags & meta_flag::kFromOverlay) != 0);
  if (proto == kOspf ||
      (proto == IPPROTO_TCP && l4 && (md.src_port == kBgpPort || md.dst_port == kBgpPort))) {
    cls = PuntClass::kRouting;
    return ok_source ? Verdict::kPass : Verdict::kNotAllowed;
  }
  if (ok_source) {
    cls = PuntClass::kManagement;
    return Verdict::kPass;
  }
  if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && l4) {
    const bool tcp = proto == IPPROTO_TCP;
    // A bare SYN opens a connection: only allowed sources may (a SYN to a port the box uses
    // as a client is a simultaneous open at best, a scan at worst).
    if (tcp && (md.tcp_flags & 0x12) == kTcpSyn) return Verdict::kNotAllowed;
    if (deps_.box_ports != nullptr &&
        deps_.box_ports->open(static_cast<unsigned>(owner), tcp, md.dst_port,
                              deps_.box_ports->seconds(now_tsc))) {
      cls = PuntClass::kBox;
      return Verdict::kPass;
    }
    return Verdict::kClosed;
  }
  return Verdict::kNotAllowed;
}

// The kernel takes a frame for its twin's MAC, untagged: a packet that came through the overlay
// or from an uplink still carries the outer MACs, a LAN one may carry VLAN tags.
void PuntStage::to_twin_frame(rte_mbuf* m, PacketMeta& md) noexcept {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  if (md.l2_len > RTE_ETHER_HDR_LEN) {
    const uint16_t extra = static_cast<uint16_t>(md.l2_len - RTE_ETHER_HDR_LEN);
    std::memmove(p + extra, p, 2 * RTE_ETHER_ADDR_LEN);  // the inner EtherType stays in place
    rte_pktmbuf_adj(m, extra);
    p += extra;
    md.l2_len = RTE_ETHER_HDR_LEN;
    md.vlan_count = 0;
  }
  if (md.l3 == L3Kind::kArp) return;  // addressed to this port's MAC (or broadcast) already
  const int owner = own_.owner(md.dst);
  if (owner >= 0) std::memcpy(p, site_.ifaces[static_cast<size_t>(owner)]->mac.addr_bytes, 6);
}

bool PuntStage::take(PuntClass c, uint64_t now_tsc) noexcept {
  Bucket& b = buckets_[static_cast<unsigned>(c)];
  if (now_tsc > b.last_tsc) {
    // At most a second's worth: the bucket holds a quarter second, and dt × rate × 1000 must
    // not overflow after a long idle time.
    const uint64_t dt = std::min<uint64_t>(now_tsc - b.last_tsc, hz_);
    // Refill in whole milli-tokens; keep the remainder of the time for the next call.
    const uint64_t add = dt * b.per_s * 1000 / hz_;
    if (add > 0) {
      b.milli = std::min(b.max_milli, b.milli + add);
      b.last_tsc = now_tsc;
    }
  }
  if (b.milli < 1000) return false;
  b.milli -= 1000;
  return true;
}

void PuntStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                        Output& out) noexcept {
  const uint64_t now = ctx.now_tsc;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PuntClass cls = PuntClass::kBox;
    uint16_t twin = kNoPort;
    switch (judge(m, now, cls, twin)) {
      case Verdict::kNoTwin:
        out.drop(kNoTwin, m);
        continue;
      case Verdict::kNotAllowed:
        out.drop(kNotAllowed, m);
        continue;
      case Verdict::kClosed:
        out.drop(kClosed, m);
        continue;
      case Verdict::kPass:
        break;
    }
    if (!take(cls, now)) {
      out.drop(static_cast<Drop>(kPoliced0 + static_cast<unsigned>(cls)), m);
      continue;
    }
    bump(passed_[static_cast<unsigned>(cls)]);
    PacketMeta& md = meta(m);
    to_twin_frame(m, md);
    md.out_port = twin;
    out.to(kTx, m);
  }
}

void PuntStage::collect_extra(std::vector<CounterValue>& out) const {
  for (unsigned c = 0; c < kPuntClasses; ++c)
    out.push_back({"punt.passed_" + std::string(kPuntClassNames[c]), read_counter(passed_[c])});
}

}  // namespace traboule::dp

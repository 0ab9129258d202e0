// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/route.h"

#include <rte_cycles.h>
#include <rte_ether.h>

#include "dataplane/proto/checksum.h"
#include "dataplane/select/overlay_endpoint.h"

namespace traboule::dp {
namespace {

// Link-local addresses (169.254/16, fe80::/10) never leave their link (RFC 3927, RFC 4291).
inline bool link_local(const IpAddr& a, bool v4) noexcept {
  return v4 ? (a.b[12] == 169 && a.b[13] == 254) : (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80);
}

}  // namespace

RouteStage::RouteStage(const Site& site, FlowTable& flows, unsigned worker,
                       const OverlayConfig& overlay)
    : site_(site), flows_(flows), worker_(worker), overlay_(overlay) {}

bool RouteStage::usable(uint8_t u, bool v4) const noexcept {
  if (!site_.uplink_usable(u)) return false;
  const Interface& up = *site_.uplinks[u];
  const auto& gw = v4 ? up.gw4 : up.gw6;
  // A new flow only goes where the gateway answers: an unresolved one would drop it all.
  rte_ether_addr mac;
  return gw && up.neighbors->lookup(*gw, &mac);
}

std::array<PathCandidate, kMaxUplinks> RouteStage::candidates(const PolicySnapshot& p,
                                                              uint16_t rule,
                                                              bool v4) const noexcept {
  std::array<PathCandidate, kMaxUplinks> c{};
  if (rule >= p.rules.size()) return c;
  const RuleAction& a = p.rules[rule].action;
  const SlaClass* sla = a.sla_class < p.sla_classes.size() ? &p.sla_classes[a.sla_class] : nullptr;
  const bool critical = a.qos_class < p.qos_classes.size() && p.qos_classes[a.qos_class].critical;
  const LinkSnapshot* links = burst_.links;
  // An edge's overlay packets leave in the family of the hub endpoint encap picks for the
  // uplink (overlay_endpoint), not the inner packet's: an IPv6 flow over an IPv4-only underlay
  // is fine.
  const bool overlay = a.egress == Egress::kOverlay && !overlay_.hub && !p.peers.empty();
  for (uint8_t u : a.uplinks) {
    if (u >= kMaxUplinks || u >= site_.uplinks.size()) continue;
    PathCandidate& k = c[u];
    if (overlay) {
      const IpAddr* e = overlay_endpoint(p.peers.front().endpoints, *site_.uplinks[u]);
      k.usable = e != nullptr && usable(u, e->is_v4());
    } else {
      k.usable = usable(u, v4);
    }
    k.alive = alive(u);
    if (u < p.uplinks.size()) {
      k.role = p.uplinks[u].role;
      k.cost = p.uplinks[u].cost;
    }
    if (links != nullptr) {
      const UplinkHealth& h = links->uplinks[u];
      // Breakout goes to the internet, not to the hub: the internet probes (breakout targets)
      // say whether it is reachable that way.
      if (a.egress == Egress::kBreakout && h.internet == LinkHealth::kDown) k.alive = false;
      k.sla = sla == nullptr || links->meets(u, a.sla_class);
      k.cap_ok = !h.cap_reached || critical;
      k.score = path_score(h.rtt_us, h.jitter_us, h.loss_ppm, sla);
    }
  }
  return c;
}

bool RouteStage::keeps(const PolicySnapshot& p, const RuleAction& a, uint8_t u) const noexcept {
  if (u >= kMaxUplinks || !alive(u) || a.strategy == PathStrategy::kDuplicate) return false;
  if (u < p.uplinks.size() && p.uplinks[u].role != UplinkRole::kPrimary) return false;
  const LinkSnapshot* links = burst_.links;
  if (links == nullptr) return true;
  if (a.sla_class < p.sla_classes.size() && !links->meets(u, a.sla_class)) return false;
  if (links->uplinks[u].cap_reached) return false;
  if (a.egress == Egress::kBreakout && links->uplinks[u].internet == LinkHealth::kDown)
    return false;
  return true;
}

void RouteStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                         Output& out) noexcept {
  burst_ = BurstView{ctx.policy(), ctx.links(), ctx.now_tsc, ctx.policy_gen()};
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    PacketMeta& md = meta(m);
    const Interface* in = site_.iface(md.in_port);
    if (in == nullptr) [[unlikely]] {
      out.drop(kUnknownPort, m);
      continue;
    }
    // Promiscuous ports (and AF_PACKET) see frames for other hosts: we route only our own.
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (!rte_is_same_ether_addr(&eth->dst_addr, &in->mac)) [[unlikely]] {
      out.drop(kNotOurMac, m);
      continue;
    }
    const bool v4 = md.l3 == L3Kind::kIpv4;
    if (link_local(md.src, v4) || link_local(md.dst, v4)) [[unlikely]] {
      out.drop(kNotRoutable, m);
      continue;
    }
    if (md.flags & meta_flag::kFromLan) {
      from_lan(m, md, v4, out);
    } else {
      to_lan(m, md, *in, v4, out);
    }
  }
}

void RouteStage::from_lan(rte_mbuf* m, PacketMeta& md, bool v4, Output& out) noexcept {
  if (site_.is_lan_dst(md.dst, v4)) [[unlikely]] {
    out.drop(kLanToLan, m);
    return;
  }
  FlowEntry* e = md.flow_id != kNoFlow ? &flows_.entry(md.flow_id) : nullptr;
  // FlowPath lives in its own array: read it only when needed (one more cache miss per packet
  // at a million flows otherwise). The duplicate strategy's second uplink is chosen anew for
  // every packet (keeps() sends those flows to the selector).
  FlowPath* fp = md.flow_id != kNoFlow ? &flows_.path(md.flow_id) : nullptr;
  LanPath lp;
  if (!choose_uplink(m, md, v4, e, fp, lp, out)) return;
  if (lp.uplink == kNoUplink) {
    out.drop(kNoUsableUplink, m);
    return;
  }
  md.uplink = lp.uplink;
  md.rule = lp.rule;
  md.out_port = site_.uplinks[lp.uplink]->port_id;
  const bool from_site =
      fp != nullptr && (lp.wan_opened || (overlay_.port != 0 && overlay_.hub)) && fp->site != 0;
  Edge edge = kUplink;
  if (!lan_edge(m, md, fp, lp, from_site, edge, out)) return;
  mark_class_dscp(m, md, v4);
  if (edge == kOverlay) tag_overlay(md, fp, from_site);
  out.to(edge, m);
}

bool RouteStage::choose_uplink(rte_mbuf* m, PacketMeta& md, bool v4, FlowEntry* e, FlowPath* fp,
                               LanPath& lp, Output& out) noexcept {
  const PolicySnapshot* p = burst_.policy;
  const uint16_t gen = burst_.gen;
  lp.uplink = e != nullptr ? e->uplink : kNoUplink;
  lp.rule = e != nullptr ? e->rule : 0;
  const uint16_t fgen = e != nullptr ? e->policy_gen : kGenNone;
  lp.wan_opened = fgen == kGenWanOpened && lp.uplink != kNoUplink;
  const bool fresh = fgen == gen || lp.wan_opened;
  if (fresh && lp.uplink == kUplinkPolicyDrop) {
    if (p != nullptr) p->count_packet(lp.rule, worker_, md.l3_total);
    out.drop(kPolicyDrop, m);
    return false;
  }
  if (lp.wan_opened) {
    // Answers go back the way the flow came in (BCP 38 upstream); through the overlay if that
    // is how it came.
    if (alive(lp.uplink)) return true;
    out.drop(kNoUsableUplink, m);
    return false;
  }
  if (p == nullptr || p->rules.empty()) [[unlikely]] {
    out.drop(kNoPolicy, m);
    return false;
  }
  if (fresh && keeps(*p, p->rules[lp.rule < p->rules.size() ? lp.rule : 0].action, lp.uplink))
    return true;
  return reselect(m, md, v4, e, fp, fgen, lp, out);
}

[[gnu::noinline]] bool RouteStage::reselect(rte_mbuf* m, PacketMeta& md, bool v4, FlowEntry* e,
                                            FlowPath* fp, uint16_t fgen, LanPath& lp,
                                            Output& out) noexcept {
  const PolicySnapshot& p = *burst_.policy;
  const uint16_t gen = burst_.gen;
  const uint8_t u = lp.uplink;
  if (fgen != gen) {
    const uint16_t app = e != nullptr ? e->app : kAppUnknown;
    const uint16_t cat =
        app < p.apps.size() && p.apps[app].id == app ? p.apps[app].category_id : kCategoryUnknown;
    lp.rule = p.match(md, app, cat);
  }
  const RuleAction& a = p.rules[lp.rule].action;
  uint8_t chosen = kUplinkPolicyDrop;
  if (a.egress != Egress::kDrop) {
    // A new policy keeps the flow's uplink if the new rule still allows it.
    const PathChoice pc =
        select_path(a, candidates(p, lp.rule, v4), u, md.flow_hash, a.egress == Egress::kBreakout);
    bump(reasons_[static_cast<unsigned>(pc.reason)]);
    chosen = pc.reason == PathReason::kSlaDrop ? kNoUplink : pc.uplink;
    lp.second = pc.second;
    if (chosen != kNoUplink && (u == kNoUplink || fgen != gen)) p.count_flow(lp.rule, worker_);
    if (fp != nullptr && u < kMaxUplinks && chosen != u && chosen < kMaxUplinks) {
      ++fp->moves;
      log_move(md, lp.rule, u, chosen, pc.reason);
    }
    if (pc.reason == PathReason::kSlaDrop) {
      if (e != nullptr) {
        e->rule = lp.rule;
        e->policy_gen = gen;
        e->uplink = kNoUplink;
      }
      p.count_packet(lp.rule, worker_, md.l3_total);
      out.drop(kSlaDrop, m);
      return false;
    }
  }
  lp.uplink = chosen;
  if (e != nullptr) {
    e->uplink = chosen;
    e->rule = lp.rule;
    e->policy_gen = gen;
  }
  if (fp != nullptr && fp->dup_uplink != lp.second) fp->dup_uplink = lp.second;
  if (chosen == kUplinkPolicyDrop) {
    p.count_packet(lp.rule, worker_, md.l3_total);
    out.drop(kPolicyDrop, m);
    return false;
  }
  return true;
}

void RouteStage::log_move(const PacketMeta& md, uint16_t rule, uint8_t from, uint8_t to,
                          PathReason why) noexcept {
  PathEvent ev;
  ev.tsc = burst_.now_tsc;
  ev.src = md.src;
  ev.dst = md.dst;
  ev.src_port = md.src_port;
  ev.dst_port = md.dst_port;
  ev.proto = md.l4_proto;
  ev.rule = rule;
  ev.from = from;
  ev.to = to;
  ev.reason = why;
  events_.push(ev);
}

bool RouteStage::lan_edge(rte_mbuf* m, PacketMeta& md, const FlowPath* fp, const LanPath& lp,
                          bool from_site, Edge& edge, Output& out) noexcept {
  const bool overlay_on = overlay_.port != 0;
  if (lp.wan_opened) {
    if (from_site && overlay_on) {
      edge = kOverlay;
    } else if (fp != nullptr && fp->fwd_port != 0) {
      // An answer through a port forward: nat_out sends it from the public port.
      md.fwd_port = fp->fwd_port;
      md.flags |= meta_flag::kPortForward;
      edge = kBreakout;
    }
    return true;
  }
  const PolicySnapshot& p = *burst_.policy;
  p.count_packet(lp.rule, worker_, md.l3_total);
  if (p.rules[lp.rule].action.egress == Egress::kBreakout) {
    edge = kBreakout;
  } else if (overlay_on && overlay_.hub) {
    if (!from_site) {
      out.drop(kNoOverlaySite, m);
      return false;
    }
    edge = kOverlay;
  } else if (overlay_on && !p.peers.empty()) {
    edge = kOverlay;
    md.dup_uplink = lp.second;
  }
  return true;
}

void RouteStage::mark_class_dscp(rte_mbuf* m, PacketMeta& md, bool v4) noexcept {
  const PolicySnapshot* p = burst_.policy;
  if (p == nullptr || md.rule >= p->rules.size()) return;
  const uint8_t q = p->rules[md.rule].action.qos_class;
  if (q >= p->qos_classes.size()) return;
  const int dscp = p->qos_classes[q].dscp;
  if (dscp < 0 || dscp == md.dscp) return;
  set_dscp(rte_pktmbuf_mtod_offset(m, uint8_t*, md.l2_len), v4, static_cast<uint8_t>(dscp));
  md.dscp = static_cast<uint8_t>(dscp);
}

void RouteStage::tag_overlay(PacketMeta& md, const FlowPath* fp, bool from_site) const noexcept {
  if (from_site) {
    md.overlay_site = fp->site;
    md.overlay_path = fp->remote_path;
    md.overlay_cls = fp->cls;  // the site's tag for this flow: its class is counted both ways
    return;
  }
  md.overlay_cls = 0;
  const PolicySnapshot* p = burst_.policy;
  if (p != nullptr && md.rule < p->rules.size()) {
    const uint8_t c = p->rules[md.rule].action.sla_class;
    if (c < kClassTagged) md.overlay_cls = static_cast<uint8_t>(c + 1);
  }
}

void RouteStage::to_lan(rte_mbuf* m, PacketMeta& md, const Interface& in, bool v4,
                        Output& out) noexcept {
  if (!site_.is_lan_dst(md.dst, v4)) {
    out.drop(kNoRoute, m);
    return;
  }
  // A flow opened from the WAN answers on the uplink it came in by: upstream anti-spoofing
  // (BCP 38) would drop replies sourced from that uplink's addresses on another one.
  if (md.flow_id != kNoFlow) {
    FlowEntry& e = flows_.entry(md.flow_id);
    if (e.uplink == kUplinkPolicyDrop) [[unlikely]] {
      // The policy drops this flow (its rule, or the firewall revoked it): both ways.
      out.drop(kPolicyDrop, m);
      return;
    }
    if (e.uplink == kNoUplink && e.policy_gen == kGenNone) {
      e.uplink = in.uplink;
      e.policy_gen = kGenWanOpened;
    }
    // Answers to a flow the LAN opened carry its rule (the qos stage polices by class).
    if (e.policy_gen == burst_.gen) md.rule = e.rule;
    // Through the overlay: remember the site and its path, where answers go (a hub follows the
    // edge's own choice, so a failover moves both directions at once).
    if (md.flags & meta_flag::kFromOverlay) {
      FlowPath& fp = flows_.path(md.flow_id);
      fp.site = md.overlay_site;
      fp.remote_path = md.overlay_path;
      fp.cls = md.overlay_cls;
    }
  }
  md.uplink = in.uplink;
  md.out_port = site_.lan->port_id;
  out.to(kLan, m);
}

void RouteStage::collect_extra(std::vector<CounterValue>& out) const {
  for (unsigned r = 0; r < kPathReasonCount; ++r)
    out.push_back({std::string("route.path.") + kPathReasonNames[r], read_counter(reasons_[r])});
}

}  // namespace traboule::dp

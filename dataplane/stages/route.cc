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

RouteStage::RouteStage(const Site& site, FlowTable& flows, const WorkerView& view, unsigned worker,
                       const OverlayConfig& overlay)
    : site_(site), flows_(flows), view_(view), worker_(worker), overlay_(overlay) {}

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
  const LinkSnapshot* links = view_.links;
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
  const LinkSnapshot* links = view_.links;
  if (links == nullptr) return true;
  if (a.sla_class < p.sla_classes.size() && !links->meets(u, a.sla_class)) return false;
  if (links->uplinks[u].cap_reached) return false;
  if (a.egress == Egress::kBreakout && links->uplinks[u].internet == LinkHealth::kDown)
    return false;
  return true;
}

void RouteStage::process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept {
  const PolicySnapshot* p = view_.policy;
  const uint16_t gen = view_.policy_gen;
  const bool overlay_on = overlay_.port != 0;
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
      if (site_.is_lan_dst(md.dst, v4)) [[unlikely]] {
        out.drop(kLanToLan, m);
        continue;
      }
      FlowEntry* e = md.flow_id != kNoFlow ? &flows_.entry(md.flow_id) : nullptr;
      // FlowPath lives in its own array: read it only when needed (one more cache miss per
      // packet at a million flows otherwise). The duplicate strategy's second uplink is chosen
      // anew for every packet (keeps() sends those flows to the selector).
      FlowPath* fp = md.flow_id != kNoFlow ? &flows_.path(md.flow_id) : nullptr;
      uint8_t u = e != nullptr ? e->uplink : kNoUplink;
      uint8_t u2 = kNoUplink;
      uint16_t rule = e != nullptr ? e->rule : 0;
      const uint16_t fgen = e != nullptr ? e->policy_gen : kGenNone;
      const bool wan_opened = fgen == kGenWanOpened && u != kNoUplink;
      const bool fresh = fgen == gen || wan_opened;
      if (fresh && u == kUplinkPolicyDrop) {
        if (p != nullptr) p->count_packet(rule, worker_, md.l3_total);
        out.drop(kPolicyDrop, m);
        continue;
      }
      if (wan_opened) {
        // Answers go back the way the flow came in (BCP 38 upstream); through the overlay if
        // that is how it came.
        if (!alive(u)) {
          out.drop(kNoUsableUplink, m);
          continue;
        }
      } else {
        if (p == nullptr || p->rules.empty()) [[unlikely]] {
          out.drop(kNoPolicy, m);
          continue;
        }
        if (!fresh || !keeps(*p, p->rules[rule < p->rules.size() ? rule : 0].action, u)) {
          if (!fresh) {
            const uint16_t app = e != nullptr ? e->app : kAppUnknown;
            const uint16_t cat = app < p->apps.size() && p->apps[app].id == app
                                     ? p->apps[app].category_id
                                     : kCategoryUnknown;
            rule = p->match(md, app, cat);
          }
          const RuleAction& a = p->rules[rule].action;
          uint8_t chosen = kUplinkPolicyDrop;
          if (a.egress != Egress::kDrop) {
            // A new policy keeps the flow's uplink if the new rule still allows it.
            const PathChoice pc = select_path(a, candidates(*p, rule, v4), u, md.flow_hash,
                                              a.egress == Egress::kBreakout);
            bump(reasons_[static_cast<unsigned>(pc.reason)]);
            chosen = pc.uplink;
            u2 = pc.second;
            if (pc.reason == PathReason::kSlaDrop) chosen = kNoUplink;
            if (chosen != kNoUplink && (u == kNoUplink || fgen != gen))
              p->count_flow(rule, worker_);
            if (fp != nullptr && u < kMaxUplinks && chosen != u && chosen < kMaxUplinks) {
              ++fp->moves;
              PathEvent ev;
              ev.tsc = rte_rdtsc();
              ev.src = md.src;
              ev.dst = md.dst;
              ev.src_port = md.src_port;
              ev.dst_port = md.dst_port;
              ev.proto = md.l4_proto;
              ev.rule = rule;
              ev.from = u;
              ev.to = chosen;
              ev.reason = pc.reason;
              events_.push(ev);
            }
            if (pc.reason == PathReason::kSlaDrop) {
              if (e != nullptr) {
                e->rule = rule;
                e->policy_gen = gen;
                e->uplink = kNoUplink;
              }
              p->count_packet(rule, worker_, md.l3_total);
              out.drop(kSlaDrop, m);
              continue;
            }
          }
          u = chosen;
          if (e != nullptr) {
            e->uplink = u;
            e->rule = rule;
            e->policy_gen = gen;
          }
          if (fp != nullptr && fp->dup_uplink != u2) fp->dup_uplink = u2;
          if (u == kUplinkPolicyDrop) {
            p->count_packet(rule, worker_, md.l3_total);
            out.drop(kPolicyDrop, m);
            continue;
          }
        }
      }
      if (u == kNoUplink) {
        out.drop(kNoUsableUplink, m);
        continue;
      }
      md.uplink = u;
      md.rule = rule;
      md.out_port = site_.uplinks[u]->port_id;
      unsigned edge = kUplink;
      const bool from_site =
          fp != nullptr && (wan_opened || (overlay_on && overlay_.hub)) && fp->site != 0;
      if (wan_opened) {
        if (from_site && overlay_on) {
          edge = kOverlay;
        } else if (fp != nullptr && fp->fwd_port != 0) {
          // An answer through a port forward: nat_out sends it from the public port.
          md.fwd_port = fp->fwd_port;
          md.flags |= meta_flag::kPortForward;
          edge = kBreakout;
        }
      } else {
        p->count_packet(rule, worker_, md.l3_total);
        const RuleAction& a = p->rules[rule].action;
        if (a.egress == Egress::kBreakout) {
          edge = kBreakout;
        } else if (overlay_on && overlay_.hub) {
          if (!from_site) {
            out.drop(kNoOverlaySite, m);
            continue;
          }
          edge = kOverlay;
        } else if (overlay_on && !p->peers.empty()) {
          edge = kOverlay;
          md.dup_uplink = u2;
        }
      }
      // The rule's QoS class marks the packet (before encapsulation: the overlay's outer header
      // copies the inner DSCP).
      if (p != nullptr && md.rule < p->rules.size()) {
        const uint8_t q = p->rules[md.rule].action.qos_class;
        if (q < p->qos_classes.size() && p->qos_classes[q].dscp >= 0 &&
            p->qos_classes[q].dscp != md.dscp) {
          set_dscp(rte_pktmbuf_mtod_offset(m, uint8_t*, md.l2_len), v4,
                   static_cast<uint8_t>(p->qos_classes[q].dscp));
          md.dscp = static_cast<uint8_t>(p->qos_classes[q].dscp);
        }
      }
      if (edge == kOverlay && from_site) {
        md.overlay_site = fp->site;
        md.overlay_path = fp->remote_path;
        md.overlay_cls = fp->cls;  // the site's tag for this flow: its class is counted both ways
      } else if (edge == kOverlay) {
        md.overlay_cls = 0;
        if (p != nullptr && md.rule < p->rules.size()) {
          const uint8_t c = p->rules[md.rule].action.sla_class;
          if (c < kClassTagged) md.overlay_cls = static_cast<uint8_t>(c + 1);
        }
      }
      out.to(edge, m);
    } else {
      if (!site_.is_lan_dst(md.dst, v4)) {
        out.drop(kNoRoute, m);
        continue;
      }
      // A flow opened from the WAN answers on the uplink it came in by: upstream anti-spoofing
      // (BCP 38) would drop replies sourced from that uplink's addresses on another one.
      if (md.flow_id != kNoFlow) {
        FlowEntry& e = flows_.entry(md.flow_id);
        if (e.uplink == kUplinkPolicyDrop) [[unlikely]] {
          // The policy drops this flow (its rule, or the firewall revoked it): both ways.
          out.drop(kPolicyDrop, m);
          continue;
        }
        if (e.uplink == kNoUplink && e.policy_gen == kGenNone) {
          e.uplink = in->uplink;
          e.policy_gen = kGenWanOpened;
        }
        // Answers to a flow the LAN opened carry its rule (the qos stage polices by class).
        if (e.policy_gen == gen) md.rule = e.rule;
        // Through the overlay: remember the site and its path, where answers go (a hub
        // follows the edge's own choice, so a failover moves both directions at once).
        if (md.flags & meta_flag::kFromOverlay) {
          FlowPath& fp = flows_.path(md.flow_id);
          fp.site = md.overlay_site;
          fp.remote_path = md.overlay_path;
          fp.cls = md.overlay_cls;
        }
      }
      md.uplink = in->uplink;
      md.out_port = site_.lan->port_id;
      out.to(kLan, m);
    }
  }
}

void RouteStage::collect_extra(std::vector<CounterValue>& out) const {
  for (unsigned r = 0; r < kPathReasonCount; ++r)
    out.push_back({std::string("route.path.") + kPathReasonNames[r], read_counter(reasons_[r])});
}

}  // namespace traboule::dp

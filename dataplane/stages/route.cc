#include "dataplane/stages/route.h"

#include <rte_ether.h>

namespace traboule::dp {
namespace {

// Link-local addresses (169.254/16, fe80::/10) never leave their link (RFC 3927, RFC 4291).
inline bool link_local(const IpAddr& a, bool v4) noexcept {
  return v4 ? (a.b[12] == 169 && a.b[13] == 254) : (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80);
}

}  // namespace

RouteStage::RouteStage(const Site& site, FlowTable& flows, const WorkerView& view, unsigned worker)
    : site_(site), flows_(flows), view_(view), worker_(worker) {}

bool RouteStage::usable(uint8_t u, bool v4, bool measured) const noexcept {
  if (measured ? !alive(u) : !site_.uplink_usable(u)) return false;
  const Interface& up = *site_.uplinks[u];
  const auto& gw = v4 ? up.gw4 : up.gw6;
  // A new flow only goes where the gateway answers: an unresolved one would drop it all.
  rte_ether_addr mac;
  return gw && up.neighbors->lookup(*gw, &mac);
}

uint8_t RouteStage::pick_uplink(const PolicySnapshot& p, uint16_t rule, bool v4,
                                uint8_t current) const noexcept {
  if (rule >= p.rules.size()) return kNoUplink;
  const RuleAction& a = p.rules[rule].action;
  auto role = [&p](uint8_t u) {
    return u < p.uplinks.size() ? p.uplinks[u].role : UplinkRole::kPrimary;
  };
  // Measured-down uplinks are avoided; when every allowed uplink is measured down (a hub that
  // stopped answering probes, say), traffic still goes out rather than nowhere.
  for (bool measured : {true, false}) {
    if (current < site_.uplinks.size())
      for (uint8_t u : a.uplinks)
        if (u == current && usable(u, v4, measured)) return u;
    for (UplinkRole want : {UplinkRole::kPrimary, UplinkRole::kBackup})
      for (uint8_t u : a.uplinks)
        if (role(u) == want && usable(u, v4, measured)) return u;
  }
  return kNoUplink;
}

void RouteStage::process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept {
  const PolicySnapshot* p = view_.policy;
  const uint16_t gen = view_.policy_gen;
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
      uint8_t u = e != nullptr ? e->uplink : kNoUplink;
      uint16_t rule = e != nullptr ? e->rule : 0;
      const uint16_t fgen = e != nullptr ? e->policy_gen : kGenNone;
      bool fresh = fgen == gen || (fgen == kGenWanOpened && u != kNoUplink);
      if (fresh && u == kUplinkPolicyDrop) {
        if (p != nullptr) p->count_packet(rule, worker_, md.l3_total);
        out.drop(kPolicyDrop, m);
        continue;
      }
      // Sticky: a flow keeps its uplink while that uplink is up and the policy is unchanged.
      if (!fresh || !alive(u)) {
        if (p == nullptr || p->rules.empty()) [[unlikely]] {
          out.drop(kNoPolicy, m);
          continue;
        }
        const uint16_t app = e != nullptr ? e->app : kAppUnknown;
        const uint16_t cat = app < p->apps.size() && p->apps[app].id == app
                                 ? p->apps[app].category_id
                                 : kCategoryUnknown;
        if (fgen != kGenWanOpened) rule = p->match(md, app, cat);
        const bool dropped = fgen != kGenWanOpened && p->rules[rule].action.egress == Egress::kDrop;
        if (dropped) {
          u = kUplinkPolicyDrop;
        } else if (fgen == kGenWanOpened) {
          u = alive(u) ? u : kNoUplink;
        } else {
          u = pick_uplink(*p, rule, v4, u);
          if (u != kNoUplink) p->count_flow(rule, worker_);
        }
        if (e != nullptr) {
          e->uplink = u;
          e->rule = rule;
          if (fgen != kGenWanOpened) e->policy_gen = gen;
        }
        if (dropped) {
          p->count_packet(rule, worker_, md.l3_total);
          out.drop(kPolicyDrop, m);
          continue;
        }
      }
      if (u == kNoUplink) {
        out.drop(kNoUsableUplink, m);
        continue;
      }
      if (fgen != kGenWanOpened && p != nullptr) p->count_packet(rule, worker_, md.l3_total);
      md.uplink = u;
      md.rule = rule;
      md.out_port = site_.uplinks[u]->port_id;
      out.to(kUplink, m);
    } else {
      if (!site_.is_lan_dst(md.dst, v4)) {
        out.drop(kNoRoute, m);
        continue;
      }
      // A flow opened from the WAN answers on the uplink it came in by: upstream anti-spoofing
      // (BCP 38) would drop replies sourced from that uplink's addresses on another one.
      if (md.flow_id != kNoFlow) {
        FlowEntry& e = flows_.entry(md.flow_id);
        if (e.uplink == kNoUplink) {
          e.uplink = in->uplink;
          e.policy_gen = kGenWanOpened;
        }
      }
      md.uplink = in->uplink;
      md.out_port = site_.lan->port_id;
      out.to(kLan, m);
    }
  }
}

}  // namespace traboule::dp

#include "dataplane/stages/route.h"

#include <rte_ether.h>

namespace traboule::dp {
namespace {

// Link-local addresses (169.254/16, fe80::/10) never leave their link (RFC 3927, RFC 4291).
inline bool link_local(const IpAddr& a, bool v4) noexcept {
  return v4 ? (a.b[12] == 169 && a.b[13] == 254) : (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80);
}

}  // namespace

RouteStage::RouteStage(const Site& site, FlowTable& flows)
    : site_(site), flows_(flows), rule_flows_(site.rules.rules.size() + 1, 0) {}

uint8_t RouteStage::pick_uplink(uint16_t rule, bool v4) const noexcept {
  if (rule >= site_.rules.rules.size()) return kNoUplink;
  for (uint8_t u : site_.rules.rules[rule].uplinks) {
    if (!site_.uplink_usable(u)) continue;
    const Interface& up = *site_.uplinks[u];
    const auto& gw = v4 ? up.gw4 : up.gw6;
    // A new flow only goes where the gateway answers: an unresolved one would drop it all.
    rte_ether_addr mac;
    if (gw && up.neighbors->lookup(*gw, &mac)) return u;
  }
  return kNoUplink;
}

void RouteStage::process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept {
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
      // Sticky: a flow keeps its uplink while that uplink is up.
      if (u == kNoUplink || !site_.uplink_usable(u)) {
        rule = site_.rules.match(md);
        u = pick_uplink(rule, v4);
        if (u != kNoUplink && rule < rule_flows_.size()) bump(rule_flows_[rule]);
        if (e != nullptr) {
          e->uplink = u;
          e->rule = rule;
        }
      }
      if (u == kNoUplink) {
        out.drop(kNoUsableUplink, m);
        continue;
      }
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
        if (e.uplink == kNoUplink) e.uplink = in->uplink;
      }
      md.uplink = in->uplink;
      md.out_port = site_.lan->port_id;
      out.to(kLan, m);
    }
  }
}

void RouteStage::collect_extra(std::vector<CounterValue>& out) const {
  for (size_t r = 0; r < site_.rules.rules.size(); ++r)
    out.push_back(
        {"route.rule." + site_.rules.rules[r].name + ".flows", read_counter(rule_flows_[r])});
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/names.h"

#include <netinet/in.h>
#include <rte_cycles.h>

namespace traboule::dp {
namespace {

constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kHttpsPort = 443;

}  // namespace

NamesStage::NamesStage(FlowTable& flows, uint32_t cache_entries)
    : flows_(flows), cache_(cache_entries), tsc_hz_(rte_get_tsc_hz()) {}

void NamesStage::snoop_dns(const PolicySnapshot& p, const uint8_t* payload, uint32_t len) noexcept {
  if (parse_dns_response(payload, len, &dns_) != DnsStatus::kOk) {
    bump(c_.dns_bad);
    return;
  }
  bump(c_.dns_answers);
  const uint16_t app = p.domains ? p.domains->match(dns_.name()) : kAppUnknown;
  if (app == kAppUnknown) return;
  bump(c_.dns_known);
  for (unsigned i = 0; i < dns_.n_answers; ++i)
    cache_.insert(dns_.answers[i].addr, dns_.name(), app, dns_.answers[i].ttl_s, now_s_);
}

uint16_t NamesStage::custom_app(const PolicySnapshot& p, const PacketMeta& md) const noexcept {
  // Policy order: the first custom application whose every given set matches.
  for (const AppDef& a : p.apps) {
    if (!a.custom || (a.prefixes.empty() && a.ports.empty() && a.proto == 0)) continue;
    if (a.proto != 0 && a.proto != md.l4_proto) continue;
    if (!a.ports.empty()) {
      if (!(md.flags & meta_flag::kHasL4)) continue;
      bool any = false;
      for (const PortRange& r : a.ports) any = any || r.contains(md.dst_port);
      if (!any) continue;
    }
    if (!a.prefixes.empty()) {
      bool any = false;
      for (const IpPrefix& pr : a.prefixes) any = any || pr.contains(md.dst);
      if (!any) continue;
    }
    return a.id;
  }
  return kAppUnknown;
}

void NamesStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                         Output& out) noexcept {
  const PolicySnapshot* p = ctx.policy();
  now_s_ = static_cast<uint32_t>(tsc_hz_ != 0 ? ctx.now_tsc / tsc_hz_ : 0);
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const PacketMeta& md = meta(m);
    out.to(kNext, m);
    if (p == nullptr || md.flow_id == kNoFlow || !(md.flags & meta_flag::kHasL4) ||
        md.flow_id >= flows_.capacity())
      continue;
    const uint32_t payload_off = uint32_t{md.l2_len} + md.l3_len;
    const uint32_t end = uint32_t{md.l2_len} + md.l3_total;
    if (end > rte_pktmbuf_data_len(m)) continue;  // not in the first segment: not read
    const uint8_t* base = rte_pktmbuf_mtod(m, const uint8_t*);
    // DNS answers, whichever way they cross (a LAN resolver answering, or one beyond the WAN).
    if (md.l4_proto == IPPROTO_UDP && md.src_port == kDnsPort && end > payload_off + 8) {
      snoop_dns(*p, base + payload_off + 8, end - payload_off - 8);
      continue;
    }
    FlowEntry& e = flows_.entry(md.flow_id);
    if (e.app != kAppUnknown || md.flow_dir != 0 || !(e.flags & flow_flag::kOrigFromLan) ||
        e.packets[0] > kFirstPackets)
      continue;
    uint16_t app = kAppUnknown;
    if (e.packets[0] == 1) {
      app = custom_app(*p, md);
      if (app != kAppUnknown) {
        bump(c_.by_custom);
      } else if (auto hit = cache_.lookup(md.dst, now_s_)) {
        app = hit->app;
        bump(c_.by_dns);
      }
    }
    if (app == kAppUnknown && p->domains && md.dst_port == kHttpsPort) {
      if (md.l4_proto == IPPROTO_TCP && payload_off + 20 <= end) {
        const uint32_t tcp_len = static_cast<uint32_t>(base[payload_off + 12] >> 4) * 4;
        if (tcp_len >= 20 && payload_off + tcp_len < end)
          if (auto name = sni_.tls(base + payload_off + tcp_len, end - payload_off - tcp_len)) {
            app = p->domains->match(*name);
            if (app != kAppUnknown) bump(c_.by_sni);
          }
      } else if (md.l4_proto == IPPROTO_UDP && end > payload_off + 8) {
        if (auto name = sni_.quic(base + payload_off + 8, end - payload_off - 8)) {
          app = p->domains->match(*name);
          if (app != kAppUnknown) bump(c_.by_quic);
        }
      }
      // Named by its first data packet: its handshake already went where the rules said for
      // an unknown application; the route stage decides again now (keeping the uplink if the
      // new rule allows it).
      if (app != kAppUnknown && e.policy_gen != 0xffff) e.policy_gen = 0;
    }
    if (app != kAppUnknown && app < p->apps.size()) e.app = app;
  }
}

void NamesStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"names.dns_answers", read_counter(c_.dns_answers)});
  out.push_back({"names.dns_bad", read_counter(c_.dns_bad)});
  out.push_back({"names.dns_known_names", read_counter(c_.dns_known)});
  out.push_back({"names.app_by_custom", read_counter(c_.by_custom)});
  out.push_back({"names.app_by_dns", read_counter(c_.by_dns)});
  out.push_back({"names.app_by_sni", read_counter(c_.by_sni)});
  out.push_back({"names.app_by_quic", read_counter(c_.by_quic)});
  const NameCacheCounters& k = cache_.counters();
  out.push_back({"names.cache_inserts", read_counter(k.inserts)});
  out.push_back({"names.cache_evictions", read_counter(k.evictions)});
  out.push_back({"names.cache_hits", read_counter(k.hits)});
  out.push_back({"names.cache_misses", read_counter(k.misses)});
}

}  // namespace traboule::dp

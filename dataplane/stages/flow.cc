// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/flow.h"

#include <rte_cycles.h>
#include <rte_ether.h>

#include <algorithm>
#include <cstddef>
#include <new>

#include "dataplane/firewall/icmp_related.h"
#include "dataplane/firewall/reject.h"

namespace traboule::dp {
namespace {

static_assert(FlowStage::kDrops.size() == FlowStage::kWanFlood + 1, "one name per drop");
static_assert(!FlowStage::kVerdictNames.back().empty(), "one name per verdict");

inline Zone zone_of(const PacketMeta& md) noexcept {
  if (md.flags & meta_flag::kFromLan) return Zone::kLan;
  if (md.flags & meta_flag::kFromOverlay) return Zone::kOverlay;
  return Zone::kWan;
}

inline bool pure_syn(const PacketMeta& md) noexcept {
  return md.l4_proto == IPPROTO_TCP && (md.flags & meta_flag::kHasL4) != 0 &&
         (md.tcp_flags & 0x17) == 0x02;
}

}  // namespace

FlowStage::FlowStage(FlowTable& table, const FirewallDeps& fw, uint32_t expire_scan)
    : table_(table), expire_scan_(expire_scan), fw_(fw) {
  fw_on_ = fw.site != nullptr;
  if (fw_on_) {
    sources_.resize(kRateSlots);
    dests_.resize(kRateSlots);
    rejects_.resize(1);
  }
  tsc_hz_ = rte_get_tsc_hz();
}

void FlowStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                        Output& out) noexcept {
  policy_ = ctx.policy();
  for (uint16_t off = 0; off < n; off += FlowTable::kLookupMax)
    process_chunk(pkts + off, std::min<uint16_t>(FlowTable::kLookupMax, n - off), ctx.now_tsc, out);
}

void FlowStage::verdict(Verdict v, const PacketMeta& md, Zone from, Zone to, int16_t rule,
                        uint64_t now_tsc, int16_t forward) noexcept {
  bump(verdicts_[v]);
  const bool denied = v != kAllowedRule && v != kAllowedDefault && v != kAllowedNat &&
                      v != kAllowedForward && v != kRelated;
  if (denied) bump(denied_[static_cast<unsigned>(from)][static_cast<unsigned>(to)]);
  const FirewallPolicy* fp = policy_ != nullptr ? &policy_->firewall : nullptr;
  const bool log_rule = rule != kNoFwRule && fp != nullptr &&
                        static_cast<size_t>(rule) < fp->rules.size() && fp->rules[rule].log;
  if (rule != kNoFwRule && policy_ != nullptr)
    policy_->count_fw_hit(static_cast<uint16_t>(rule), fw_.worker);
  bool log_forward = false;
  if (forward >= 0 && fp != nullptr && static_cast<size_t>(forward) < fp->forwards.size()) {
    policy_->count_fwd_hit(static_cast<uint16_t>(forward), fw_.worker);
    log_forward = fp->forwards[static_cast<size_t>(forward)].log;
  }
  if (!denied && !log_rule && !log_forward) return;
  FwEvent e;
  e.tsc = now_tsc;
  e.src = md.src;
  e.dst = md.dst;
  e.src_port = md.src_port;
  e.dst_port = md.dst_port;
  e.proto = md.l4_proto;
  e.from = from;
  e.to = to;
  e.rule = rule;
  e.forward = forward;
  e.verdict = v;
  fw_log_.push(e);
}

bool FlowStage::take(std::vector<RateBucket>& table, const IpAddr& key, uint16_t port,
                     uint32_t per_second, uint64_t now_tsc) noexcept {
  if (per_second == 0) return true;
  const uint32_t slot =
      (static_cast<uint32_t>(key.word(0) * 0x9e3779b97f4a7c15ull >> 40) ^
       static_cast<uint32_t>((key.word(1) + port) * 0xc2b2ae3d27d4eb4full >> 40)) %
      static_cast<uint32_t>(table.size());
  RateBucket& b = table[slot];
  const uint64_t burst_milli = uint64_t{per_second} * 2 * 1000;
  if (!(b.key == key) || b.port != port || b.last_tsc == 0) {
    b.key = key;
    b.port = port;
    b.last_tsc = now_tsc;
    b.tokens_milli = static_cast<uint32_t>(std::min<uint64_t>(burst_milli, UINT32_MAX));
  } else if (now_tsc > b.last_tsc && tsc_hz_ != 0) {
    const uint64_t add = (now_tsc - b.last_tsc) * per_second * 1000 / tsc_hz_;
    if (add > 0) {
      b.tokens_milli = static_cast<uint32_t>(
          std::min<uint64_t>({burst_milli, uint64_t{b.tokens_milli} + add, UINT32_MAX}));
      b.last_tsc = now_tsc;
    }
  }
  if (b.tokens_milli < 1000) return false;
  b.tokens_milli -= 1000;
  return true;
}

FlowStage::Verdict FlowStage::wan_limits(const PacketMeta& md, bool v4, uint64_t now_tsc) noexcept {
  IpAddr src = md.src;
  if (v4) {
    src.b[15] = 0;  // the /24
  } else {
    std::fill(src.b.begin() + 8, src.b.end(), uint8_t{0});  // the /64
  }
  static const FloodLimits kDefaults;
  const FloodLimits& lim = policy_ != nullptr ? policy_->firewall.flood : kDefaults;
  // A source: one noisy source is refused without spending the destination's budget. A
  // destination (LAN host and port, after a forward's rewrite): a SYN flood from random sources
  // at one service is held to its rate and cannot use up the WAN's share for every other one.
  if (!take(sources_, src, 0, lim.new_per_source, now_tsc)) return kFloodSource;
  if (!take(dests_, md.dst, md.dst_port, lim.new_per_destination, now_tsc)) return kFloodDest;
  const uint64_t cap =
      uint64_t{table_.capacity()} * std::min<uint32_t>(lim.wan_share_percent, 100) / 100;
  if (table_.wan_opened() >= cap) return kFloodShare;
  return kVerdictCount;
}

namespace {

// The policy's firewall rule for a packet towards the LAN, or kNoFwRule.
int16_t match_rule(const FirewallPolicy& fp, const PacketMeta& md, Zone from, bool v4) noexcept {
  if (fp.rules.empty()) return kNoFwRule;
  FwPacket fpk;
  fpk.from = from;
  fpk.src = md.src;
  fpk.dst = md.dst;
  fpk.v4 = v4;
  fpk.proto = md.l4_proto;
  fpk.has_ports = (md.flags & meta_flag::kHasL4) != 0 && (md.flags & meta_flag::kFragment) == 0 &&
                  (md.l4_proto == IPPROTO_TCP || md.l4_proto == IPPROTO_UDP);
  fpk.dst_port = md.dst_port;
  return fp.match(fpk);
}

}  // namespace

// The flow an ICMP error is about, when the table knows it; else kNoFlow.
uint32_t FlowStage::related_flow(rte_mbuf* m, const PacketMeta& md) noexcept {
  FlowKey inner;
  if (!icmp_error_type(md) || !icmp_error_inner_key(m, md, inner)) return kNoFlow;
  return table_.find(inner);
}

uint32_t FlowStage::admit_forward(const FlowRequest& r, const PacketMeta& md, uint64_t now_tsc,
                                  unsigned* drop) noexcept {
  const bool v4 = md.l3 == L3Kind::kIpv4;
  if (const Verdict v = wan_limits(md, v4, now_tsc); v != kVerdictCount) {
    verdict(v, md, Zone::kWan, Zone::kLan, kNoFwRule, now_tsc);
    *drop = kWanFlood;
    return kNoFlow;
  }
  const uint32_t id = table_.create(r, now_tsc);
  if (id == kNoFlow) {
    *drop = kTableFull;
    return id;
  }
  table_.path(id).fwd_port = md.fwd_port;
  table_.path(id).opened_by = WanOpenedBy::kForward;
  const PolicySnapshot* p = policy_;
  const FirewallPolicy* fp = p != nullptr ? &p->firewall : nullptr;
  const Interface* in = fw_.site->iface(md.in_port);
  const PortForward* pf = fp != nullptr && in != nullptr
                              ? fp->find_forward(in->uplink, md.l4_proto, md.fwd_port, v4)
                              : nullptr;
  verdict(kAllowedForward, md, Zone::kWan, Zone::kLan, kNoFwRule, now_tsc,
          pf != nullptr ? static_cast<int16_t>(pf - fp->forwards.data()) : -1);
  return id;
}

// A denied packet: counted; a reject rule answers what comes from an uplink (the overlay's
// senders are behind a tunnel: dropped), the answers rate-limited per worker.
void FlowStage::deny(rte_mbuf* m, PacketMeta& md, const FirewallPolicy* fp, int16_t rule, Zone from,
                     Zone to, uint64_t now_tsc, unsigned* drop) noexcept {
  verdict(rule != kNoFwRule ? kDeniedRule : kDeniedDefault, md, from, to, rule, now_tsc);
  *drop = kFirewall;
  if (rule == kNoFwRule || fp->rules[rule].action != FwAction::kReject || from != Zone::kWan)
    return;
  if (!take(rejects_, IpAddr{}, 0, kRejectsPerSecond, now_tsc)) {
    bump(rejects_limited_);
  } else if (make_reject(m, md)) {
    bump(rejects_sent_);
    *drop = kRejectAnswer;
  }
}

uint32_t FlowStage::admit(rte_mbuf* m, const FlowRequest& r, uint64_t now_tsc, bool* related,
                          unsigned* drop) noexcept {
  *related = false;
  if (!fw_on_) {
    const uint32_t id = table_.create(r, now_tsc);
    if (id == kNoFlow) *drop = kTableFull;
    return id;
  }
  PacketMeta& md = meta(m);
  const Site& site = *fw_.site;
  const PolicySnapshot* p = policy_;
  const FirewallPolicy* fp = p != nullptr ? &p->firewall : nullptr;
  const bool v4 = md.l3 == L3Kind::kIpv4;
  const Zone from = zone_of(md);
  const bool to_lan = site.is_lan_dst(md.dst, v4);
  // Not to the LAN: from the LAN it goes out (wan or overlay, the route stage decides); from
  // the WAN it is transit towards the overlay or elsewhere, denied; from the overlay, likewise.
  const Zone to = to_lan ? Zone::kLan : (from == Zone::kWan ? Zone::kOverlay : Zone::kWan);
  auto create = [&]() {
    const uint32_t id = table_.create(r, now_tsc);
    if (id == kNoFlow) *drop = kTableFull;
    return id;
  };

  if (from == Zone::kLan) {
    const int32_t vid = md.vlan_count != 0 ? (md.vlan_outer & 0x0fff) : -1;
    const bool ok = fp != nullptr ? fp->lan_source_ok(md.src, v4, vid, site.lan_prefixes)
                                  : site.is_lan_dst(md.src, v4);
    if (!ok) [[unlikely]] {
      verdict(kSpoofedLan, md, from, to, kNoFwRule, now_tsc);
      *drop = kSpoofedSource;
      return kNoFlow;
    }
    verdict(kAllowedDefault, md, from, to, kNoFwRule, now_tsc);
    return create();
  }

  // From outside (wan or overlay). An ICMP error about a flow the table knows goes with it.
  if (const uint32_t id = related_flow(m, md); id != kNoFlow) {
    verdict(kRelated, md, from, to, kNoFwRule, now_tsc);
    *related = true;
    return id;
  }
  // A port forward of the policy (nat_in rewrote it to the LAN host; the forward's own source
  // list was checked there): open, within the WAN's limits.
  if (from == Zone::kWan && (md.flags & meta_flag::kPortForward) != 0 && to_lan)
    return admit_forward(r, md, now_tsc, drop);
  // Translated by nat_in: the packet matched a mapping a LAN host opened, and passed its
  // filtering (address-dependent by default, endpoint-independent when the policy says so).
  if (from == Zone::kWan && (md.flags & meta_flag::kNatIn) != 0 && to_lan) {
    verdict(kAllowedNat, md, from, to, kNoFwRule, now_tsc);
    const uint32_t id = create();
    if (id != kNoFlow) table_.path(id).opened_by = WanOpenedBy::kNatMapping;
    return id;
  }
  if (from == Zone::kWan && (fp != nullptr ? fp->is_inside(md.src, v4, site.lan_prefixes)
                                           : site.is_lan_dst(md.src, v4))) [[unlikely]] {
    verdict(kSpoofedWan, md, from, to, kNoFwRule, now_tsc);
    *drop = kSpoofedSource;
    return kNoFlow;
  }
  const int16_t rule = to_lan && fp != nullptr ? match_rule(*fp, md, from, v4) : kNoFwRule;
  // Zone defaults: overlay → lan allowed; wan → lan, wan → overlay and transit denied.
  const bool allow = rule != kNoFwRule ? fp->rules[rule].action == FwAction::kAllow
                                       : from == Zone::kOverlay && to_lan;
  if (!allow) {
    deny(m, md, fp, rule, from, to, now_tsc, drop);
    return kNoFlow;
  }
  if (from == Zone::kWan) {
    if (const Verdict v = wan_limits(md, v4, now_tsc); v != kVerdictCount) {
      verdict(v, md, from, to, rule, now_tsc);
      *drop = kWanFlood;
      return kNoFlow;
    }
  }
  verdict(rule != kNoFwRule ? kAllowedRule : kAllowedDefault, md, from, to, rule, now_tsc);
  const uint32_t id = create();
  if (id != kNoFlow && from == Zone::kWan) table_.path(id).opened_by = WanOpenedBy::kRule;
  return id;
}

bool FlowStage::still_allowed(uint32_t id) const noexcept {
  const FlowPath& path = table_.path(id);
  if (path.opened_by != WanOpenedBy::kRule && path.opened_by != WanOpenedBy::kForward) return true;
  const PolicySnapshot* p = policy_;
  if (p == nullptr) return true;  // no policy: nothing to say
  const FirewallPolicy& fp = p->firewall;
  const FlowEntry& e = table_.entry(id);
  const FlowKey& k = table_.key(id);
  const bool orig_hi = (e.flags & flow_flag::kOrigHi) != 0;
  FwPacket pk;
  pk.from = Zone::kWan;
  pk.src = orig_hi ? k.hi : k.lo;
  pk.dst = orig_hi ? k.lo : k.hi;
  pk.v4 = pk.dst.is_v4();
  pk.proto = k.proto;
  pk.has_ports = k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP;
  pk.dst_port = orig_hi ? k.lo_port : k.hi_port;
  if (path.opened_by == WanOpenedBy::kForward) {
    const PortForward* f = fp.find_forward(e.uplink, k.proto, path.fwd_port, pk.v4);
    if (f == nullptr || !(f->to == pk.dst) || f->to_port != pk.dst_port) return false;
    if (f->src.empty()) return true;
    for (const auto& s : f->src)
      if (s.contains(pk.src, pk.v4)) return true;
    return false;
  }
  const int16_t r = fp.match(pk);
  return r != kNoFwRule && fp.rules[static_cast<size_t>(r)].action == FwAction::kAllow;
}

void FlowStage::sweep(uint32_t max_scan) noexcept {
  const uint32_t cap = table_.capacity();
  for (uint32_t s = 0; s < max_scan && sweep_pos_ < cap; ++s, ++sweep_pos_) {
    FlowEntry& e = table_.entry(sweep_pos_);
    if (!e.in_use() || e.uplink == kUplinkPolicyDrop || !table_.path(sweep_pos_).wan_opened)
      continue;
    if (!still_allowed(sweep_pos_)) {
      e.uplink = kUplinkPolicyDrop;
      bump(revoked_);
    }
  }
  if (sweep_pos_ >= cap) {
    swept_gen_ = sweep_gen_;
    sweep_gen_ = 0;
  }
}

void FlowStage::process_chunk(rte_mbuf** pkts, uint16_t n, uint64_t now_tsc, Output& out) noexcept {
  // Raw storage: value-initialising 64 requests would memset 3.5 KB per chunk.
  alignas(FlowRequest) std::byte req_buf[sizeof(FlowRequest) * FlowTable::kLookupMax];
  auto* reqs = reinterpret_cast<FlowRequest*>(req_buf);
  rte_mbuf* ok[FlowTable::kLookupMax];
  uint32_t ids[FlowTable::kLookupMax];
  uint16_t k = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const PacketMeta& md = meta(m);
    if (md.l3 != L3Kind::kIpv4 && md.l3 != L3Kind::kIpv6) [[unlikely]] {
      out.drop(md.l3 == L3Kind::kArp ? kArp : kNotIp, m);
      continue;
    }
    flow_request_key(md, *new (&reqs[k]) FlowRequest);
    ok[k++] = m;
  }
  for (uint16_t j = 0; j < k; ++j) {
    flow_request_hash(reqs[j]);
    // Back to the dispatch stage's form (flow_hash(key) | 1) for later stages.
    meta(ok[j]).flow_hash = (reqs[j].hash << 1) | (reqs[j].hash >> 31);
  }
  if (k == 0) return;
  table_.lookup(reqs, k, ids);

  for (uint16_t j = 0; j < k; ++j) {
    rte_mbuf* m = ok[j];
    PacketMeta& md = meta(m);
    bool related = false;
    if (ids[j] == kNoFlow) [[unlikely]] {
      unsigned drop = kTableFull;  // a Drop, or kRejectAnswer
      ids[j] = admit(m, reqs[j], now_tsc, &related, &drop);
      if (ids[j] == kNoFlow) {
        md.flow_id = kNoFlow;
        if (drop == kRejectAnswer) {
          out.to(kReject, m);
        } else {
          out.drop(static_cast<Drop>(drop), m);
        }
        continue;
      }
    } else if (fw_on_ && reqs[j].from_wan && pure_syn(md)) [[unlikely]] {
      // A SYN restarts a closing or closed TCP flow (port reuse): from the WAN, only if the
      // firewall would let it open a new one.
      const FlowEntry& e = table_.entry(ids[j]);
      if ((e.tcp_state == TcpState::kClosing || e.tcp_state == TcpState::kClosed) &&
          !table_.path(ids[j]).wan_opened) {
        verdict(kSynReuse, md, Zone::kWan, Zone::kLan, kNoFwRule, now_tsc);
        md.flow_id = kNoFlow;
        out.drop(kFirewall, m);
        continue;
      }
    }
    if (related) {
      // Goes where the quoted flow's replies go; its counters and TCP state are left alone.
      md.flow_id = ids[j];
      md.flow_dir = 1;
      out.to(kNext, m);
      continue;
    }
    // IP octets (the datagram, as IPFIX and conntrack count them): no L2 header or padding.
    const uint8_t dir = table_.track(ids[j], reqs[j], md, md.l3_total, now_tsc);
    md.flow_id = ids[j];
    md.flow_dir = dir;
    if (reqs[j].from_lan) {
      // The LAN host's MAC, for the return path. A flow opened from the WAN learns it from
      // the LAN host's replies instead.
      FlowEntry& e = table_.entry(ids[j]);
      const bool lan_side = dir == 0 || (e.flags & flow_flag::kOrigFromLan) == 0;
      if (lan_side && rte_pktmbuf_data_len(m) >= sizeof(rte_ether_hdr)) [[likely]] {
        const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
        e.lan_mac = eth->src_addr;
      }
    }
    out.to(kNext, m);
  }
}

void FlowStage::on_idle(const BurstContext& ctx, Output& /*out*/) noexcept {
  table_.expire(ctx.now_tsc, expire_scan_);
  if (!fw_on_) return;
  policy_ = ctx.policy();
  const uint16_t gen = ctx.policy_gen();
  if (gen != swept_gen_ && gen != sweep_gen_) {  // a new policy: (re)start the sweep
    sweep_gen_ = gen;
    sweep_pos_ = 0;
  }
  if (sweep_gen_ != 0) sweep(kSweepScan);
}

void FlowStage::collect_extra(std::vector<CounterValue>& out) const {
  out.push_back({"flow.created", table_.created()});
  out.push_back({"flow.expired", table_.expired()});
  out.push_back({"flow.restarted", table_.restarted()});
  out.push_back({"flow.active", table_.size()});
  out.push_back({"flow.wan_opened", table_.wan_opened()});
  if (!fw_on_) return;
  out.push_back({"firewall.rejects_sent", read_counter(rejects_sent_)});
  out.push_back({"firewall.revoked", read_counter(revoked_)});
  out.push_back({"firewall.rejects_rate_limited", read_counter(rejects_limited_)});
  for (unsigned v = 0; v < kVerdictCount; ++v)
    out.push_back({"firewall." + std::string(kVerdictNames[v]), read_counter(verdicts_[v])});
  for (unsigned f = 0; f < kZoneCount; ++f)
    for (unsigned t = 0; t < kZoneCount; ++t)
      if (f != static_cast<unsigned>(Zone::kBox) && t != static_cast<unsigned>(Zone::kBox) &&
          f != t)
        out.push_back(
            {"firewall.denied." + std::string(kZoneNames[f]) + "_" + std::string(kZoneNames[t]),
             read_counter(denied_[f][t])});
}

}  // namespace traboule::dp

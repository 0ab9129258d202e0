// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/classify.h"

#include <rte_cycles.h>

#include <string>

namespace traboule::dp {

ClassifyStage::ClassifyStage(FlowTable& flows, uint32_t slots, uint32_t max_packets)
    : flows_(flows),
      classifier_(slots, max_packets),
      state_(flows.capacity(), kIdle),
      tag_(flows.capacity(), 0) {
  const uint64_t hz = rte_get_tsc_hz();
  tsc_per_ms_ = hz >= 1000 ? hz / 1000 : 1;
}

bool ClassifyStage::done(uint32_t flow_id) const noexcept {
  return flow_id < state_.size() && state_[flow_id] == kDone &&
         tag_[flow_id] == flows_.entry(flow_id).created_coarse;
}

void ClassifyStage::forget(uint32_t flow_id) noexcept {
  if (flow_id >= state_.size()) return;
  classifier_.release(flow_id);
  state_[flow_id] = kIdle;
}

void ClassifyStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx,
                            Output& out) noexcept {
  const PolicySnapshot* p = ctx.policy();
  if (p != nullptr && (!ids_ready_ || ctx.policy_gen() != ids_gen_)) {
    ids_ = resolve_app_ids(p->apps);
    ids_gen_ = ctx.policy_gen();
    ids_ready_ = true;
  }
  const uint64_t now_ms = ctx.now_tsc / tsc_per_ms_;
  const uint64_t attempt_limit = kAttemptPacketsFactor * classifier_.max_packets();
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const PacketMeta& md = meta(m);
    const uint32_t id = md.flow_id;
    // Without a policy no rule can ask for an application: flows wait for one.
    if (id >= state_.size() || p == nullptr) {
      out.to(kNext, m);
      continue;
    }
    FlowEntry& e = flows_.entry(id);
    if (e.app != kAppUnknown || (e.flags & flow_flag::kAppSettled)) {  // the steady state
      out.to(kNext, m);
      continue;
    }
    // Every slot taken: a flow not yet under classification tries for one only on 1 packet in
    // 64 (the try may take back an idle slot; trying on every packet of a flood of new flows
    // cost ~500 cycles per packet at a million flows).
    if (state_[id] == kIdle && classifier_.full() && (++full_skips_ & 63) != 0) {
      out.to(kNext, m);
      continue;
    }
    const uint32_t tag = e.created_coarse;
    if (state_[id] != kIdle && tag_[id] != tag) {  // the id was reused by a new flow
      classifier_.release(id);
      state_[id] = kIdle;
    }
    if (state_[id] == kDone || (md.flags & meta_flag::kLaterFragment) != 0 ||
        (md.l3 != L3Kind::kIpv4 && md.l3 != L3Kind::kIpv6)) {
      out.to(kNext, m);
      continue;
    }
    const uint32_t seg = rte_pktmbuf_data_len(m);
    const uint32_t avail = seg > md.l2_len ? seg - md.l2_len : 0;
    const uint16_t l3_len = static_cast<uint16_t>(avail < md.l3_total ? avail : md.l3_total);
    const AppVerdict v = classifier_.feed(id, rte_pktmbuf_mtod_offset(m, const uint8_t*, md.l2_len),
                                          l3_len, now_ms, md.flow_dir == 0);
    tag_[id] = tag;
    if (v.final()) {
      e.app = ids_.app_for(v.app_row);
      if (e.app == kAppUnknown && v.app_row != kNoAppRow) bump(unresolved_);
      // The route stage matches the rules again on this very packet (generation 0 = never
      // evaluated); it keeps the flow's uplink if the new rule allows it. Flows opened from the
      // WAN (0xffff) stay pinned to their ingress uplink.
      if (e.app != kAppUnknown && e.policy_gen != 0xffff) e.policy_gen = 0;
      state_[id] = kDone;
      settle(e);
    } else if (v.state == AppVerdict::State::kPending) {
      state_[id] = kClassifying;
    } else if (e.packets[0] + e.packets[1] >= attempt_limit) {
      classifier_.release(id);  // no slot or unreadable packets for too long: stay unknown
      state_[id] = kDone;
      settle(e);
      bump(abandoned_);
    }
    out.to(kNext, m);
  }
}

void ClassifyStage::collect_extra(std::vector<CounterValue>& out) const {
  const Classifier::Stats s = classifier_.stats();
  const Classifier::Memory mem = classifier_.memory();
  auto add = [&out](const char* what, uint64_t v) {
    out.push_back({std::string("classify.") + what, v});
  };
  add("classified", s.classified);
  add("given_up", s.given_up);
  add("slot_exhausted", s.slot_exhausted);
  add("packets_inspected", s.packets);
  add("bad_packets", s.bad_packets);
  add("released", s.released);
  add("reclaimed", s.reclaimed);
  add("ndpi_allocs", s.ndpi_allocs);
  add("slots_in_use", s.slots_in_use);
  add("slots", s.slots);
  add("unresolved_app", read_counter(unresolved_));
  add("abandoned", read_counter(abandoned_));
  add("memory.per_flow_state_bytes", mem.per_flow_state_bytes);
  add("memory.per_flow_after_bytes", mem.per_flow_after_bytes);
  add("memory.pool_bytes", mem.pool_bytes);
  add("memory.ndpi_flow_heap_bytes",
      mem.ndpi_flow_heap_bytes > 0 ? static_cast<uint64_t>(mem.ndpi_flow_heap_bytes) : 0);
  add("memory.ndpi_flow_heap_peak_bytes",
      mem.ndpi_flow_heap_peak_bytes > 0 ? static_cast<uint64_t>(mem.ndpi_flow_heap_peak_bytes) : 0);
  add("memory.module_heap_bytes",
      mem.module_heap_bytes > 0 ? static_cast<uint64_t>(mem.module_heap_bytes) : 0);
  add("memory.per_flow_tracking_bytes", sizeof(uint8_t) + sizeof(uint32_t));
}

}  // namespace traboule::dp

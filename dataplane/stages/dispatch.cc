// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/dispatch.h"

#include "dataplane/firewall/icmp_related.h"
#include "dataplane/tables/flow_key.h"

namespace traboule::dp {

DispatchStage::DispatchStage(unsigned self, std::vector<rte_ring*> to_worker)
    : self_(self), to_worker_(std::move(to_worker)), handed_off_(to_worker_.size(), 0) {}

void DispatchStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& /*ctx*/,
                            Output& out) noexcept {
  const auto workers = static_cast<unsigned>(to_worker_.size());
  // Per-target staging, on the stack: at most kNodeInputMax packets in all.
  rte_mbuf* away[kNodeInputMax];
  uint8_t away_to[kNodeInputMax];
  uint16_t n_away = 0;
  for (uint16_t i = 0; i < n; ++i) {
    PacketMeta& md = meta(pkts[i]);
    FlowKey key;
    make_flow_key(md, key);
    md.flow_hash = flow_hash(key) | 1u;  // never 0: 0 means "not computed yet" downstream
    unsigned w = workers <= 1 ? self_ : worker_of(md.flow_hash, workers);
    // An ICMP error goes to the worker of the flow it quotes (the firewall lets it in as
    // related to that flow); the flow stage then hashes its own key itself.
    if (workers > 1 && icmp_error_type(md)) [[unlikely]] {
      FlowKey inner;
      if (icmp_error_inner_key(pkts[i], md, inner)) {
        w = worker_of(flow_hash(inner) | 1u, workers);
        md.flow_hash = 0;
      }
    }
    if (w == self_) {
      out.to(kOwn, pkts[i]);
    } else {
      away[n_away] = pkts[i];
      away_to[n_away++] = static_cast<uint8_t>(w);
    }
  }
  for (unsigned w = 0; w < workers && n_away != 0; ++w) {
    rte_mbuf* batch[kNodeInputMax];
    unsigned cnt = 0;
    for (uint16_t i = 0; i < n_away; ++i)
      if (away_to[i] == w) batch[cnt++] = away[i];
    if (cnt == 0) continue;
    unsigned sent =
        rte_ring_enqueue_burst(to_worker_[w], reinterpret_cast<void**>(batch), cnt, nullptr);
    bump(handed_off_[w], sent);
    for (unsigned i = sent; i < cnt; ++i) out.drop(kRingFull, batch[i]);
  }
}

void DispatchStage::collect_extra(std::vector<CounterValue>& out) const {
  for (size_t w = 0; w < handed_off_.size(); ++w)
    if (w != self_)
      out.push_back({"dispatch.to_worker" + std::to_string(w), read_counter(handed_off_[w])});
}

}  // namespace traboule::dp

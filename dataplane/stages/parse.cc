// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/parse.h"

#include <rte_prefetch.h>

#include "dataplane/graph/mbuf_parse.h"

namespace traboule::dp {

void ParseStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& /*ctx*/,
                         Output& out) noexcept {
  constexpr uint16_t kPrefetchAhead = 3;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) {
      rte_mbuf* ahead = pkts[i + kPrefetchAhead];
      rte_prefetch0(rte_pktmbuf_mtod(ahead, void*));
      rte_prefetch0(rte_mbuf_to_priv(ahead));
    }
    rte_mbuf* m = pkts[i];
    if (any_vlan_) [[unlikely]] {
      const uint16_t port = meta(m).in_port;
      const uint16_t vid = port < kMaxPorts ? vlans_[port] : 0;
      if (vid != 0 && !vlan_strip(m, vid)) {
        out.drop(kVlanForeign, m);
        continue;
      }
    }
    const unsigned r = parse_mbuf(m);
    if (r < kDropBase) [[likely]]
      out.to(static_cast<Edge>(r), m);
    else
      out.drop(static_cast<Drop>(r - kDropBase), m);
  }
}

}  // namespace traboule::dp

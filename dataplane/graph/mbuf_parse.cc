// SPDX-License-Identifier: Apache-2.0
#include "dataplane/graph/mbuf_parse.h"

namespace traboule::dp {

void trim_chain(rte_mbuf* m, uint32_t keep) noexcept {
  rte_mbuf* seg = m;
  uint16_t nb_segs = 1;
  uint32_t left = keep;
  while (left > seg->data_len && seg->next != nullptr) {
    left -= seg->data_len;
    seg = seg->next;
    ++nb_segs;
  }
  seg->data_len = static_cast<uint16_t>(std::min<uint32_t>(left, seg->data_len));
  rte_mbuf* rest = seg->next;
  seg->next = nullptr;
  while (rest != nullptr) {
    rte_mbuf* next = rest->next;
    rte_pktmbuf_free_seg(rest);
    rest = next;
  }
  m->nb_segs = nb_segs;
  m->pkt_len = keep;
}

}  // namespace traboule::dp

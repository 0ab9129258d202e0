#include "dataplane/stages/tx.h"

#include <rte_ethdev.h>

namespace traboule::dp {

void TxStage::process(rte_mbuf** pkts, uint16_t n, Output& out) noexcept {
  // Usually one or two ports per burst: one pass per distinct port keeps the order per port.
  rte_mbuf* batch[kNodeInputMax];
  bool done[kNodeInputMax] = {};
  for (uint16_t i = 0; i < n; ++i) {
    if (done[i]) continue;
    uint16_t port = meta(pkts[i]).out_port;
    if (port >= kMaxPorts || !ready_[port]) {
      out.drop(kBadPort, pkts[i]);
      continue;
    }
    uint16_t cnt = 0;
    for (uint16_t j = i; j < n; ++j)
      if (!done[j] && meta(pkts[j]).out_port == port) {
        batch[cnt++] = pkts[j];
        done[j] = true;
      }
    uint16_t sent = rte_eth_tx_burst(port, queue_, batch, cnt);
    bump(sent_[port], sent);
    for (uint16_t k = sent; k < cnt; ++k) out.drop(kQueueFull, batch[k]);
  }
}

void TxStage::collect_extra(std::vector<CounterValue>& out) const {
  for (uint16_t p = 0; p < kMaxPorts; ++p)
    if (ready_[p]) out.push_back({"tx.port" + std::to_string(p) + ".sent", read_counter(sent_[p])});
}

}  // namespace traboule::dp

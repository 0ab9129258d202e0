// SPDX-License-Identifier: Apache-2.0
#include "dataplane/stages/tx.h"

#include <rte_ethdev.h>

#include <stdexcept>
#include <string>

namespace traboule::dp {

TxStage::TxStage(uint16_t queue, std::array<bool, kMaxPorts> ports_ready, const PortVlans& vlans)
    : queue_(queue), ready_(ports_ready), vlans_(vlans) {
  for (uint16_t p = 0; p < kMaxPorts; ++p) {
    if (!ready_[p]) continue;
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(p, &info) != 0 || info.nb_tx_queues <= queue)
      throw std::invalid_argument(
          "tx: port " + std::to_string(p) + " has " + std::to_string(info.nb_tx_queues) +
          " TX queue(s); worker queue " + std::to_string(queue) + " does not exist");
  }
}

void TxStage::process(rte_mbuf** pkts, uint16_t n, const BurstContext& /*ctx*/,
                      Output& out) noexcept {
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
    const uint16_t vid = vlans_[port];
    for (uint16_t j = i; j < n; ++j)
      if (!done[j] && meta(pkts[j]).out_port == port) {
        done[j] = true;
        if (vid != 0 && !vlan_insert(pkts[j], vid)) [[unlikely]] {
          out.drop(kVlanNoRoom, pkts[j]);
          continue;
        }
        batch[cnt++] = pkts[j];
      }
    if (cnt == 0) continue;
    uint16_t sent = rte_eth_tx_burst(port, queue_, batch, cnt);
    bump(sent_[port], sent);
    for (uint16_t k = sent; k < cnt; ++k) {
      const PacketMeta& md = meta(batch[k]);
      if (own_drops_ != nullptr && (md.flags & meta_flag::kOverlayOut))
        own_drops_->own_drop(md.overlay_site, md.overlay_path, md.overlay_cls);
      out.drop(kQueueFull, batch[k]);
    }
  }
}

void TxStage::collect_extra(std::vector<CounterValue>& out) const {
  for (uint16_t p = 0; p < kMaxPorts; ++p)
    if (ready_[p]) out.push_back({"tx.port" + std::to_string(p) + ".sent", read_counter(sent_[p])});
}

}  // namespace traboule::dp

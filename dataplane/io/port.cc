// SPDX-License-Identifier: Apache-2.0
#include "dataplane/io/port.h"

#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <stdexcept>

namespace traboule::dp {
namespace {

// A repeated 0x6d5a key makes Toeplitz symmetric: (a,b) and (b,a) hash alike.
uint8_t kSymmetricRssKey[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

[[noreturn]] void fail(const PortSetup& s, const std::string& what, int rc) {
  throw std::runtime_error("port " + s.label + " (" + s.device_name + "): " + what + ": " +
                           rte_strerror(rc < 0 ? -rc : rc));
}

}  // namespace

PortInfo start_port(const PortSetup& s, rte_mempool* pool) {
  PortInfo info;
  if (rte_eth_dev_get_port_by_name(s.device_name.c_str(), &info.port_id) != 0)
    throw std::runtime_error("port " + s.label + ": no DPDK device named '" + s.device_name +
                             "' (was the device string probed? check its arguments)");
  rte_eth_dev_info dev{};
  if (int rc = rte_eth_dev_info_get(info.port_id, &dev); rc != 0)
    fail(s, "cannot read device info", rc);
  info.driver = dev.driver_name ? dev.driver_name : "?";
  if (dev.max_tx_queues < s.workers)
    throw std::runtime_error(
        "port " + s.label + " (" + s.device_name + "): driver " + info.driver + " offers " +
        std::to_string(dev.max_tx_queues) + " TX queue(s) but " + std::to_string(s.workers) +
        " workers each need one (for net_af_packet add qpairs=" + std::to_string(s.workers) +
        " to the device string)");

  // From here on a failure closes the port again: a half-configured port must not stay open.
  struct CloseOnThrow {
    uint16_t port;
    bool armed = true;
    ~CloseOnThrow() {
      if (armed) {
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
      }
    }
  } guard{info.port_id};
  rte_eth_conf conf{};
  info.rss = s.workers > 1 && dev.max_rx_queues >= s.workers && dev.flow_type_rss_offloads != 0;
  if (info.rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = kSymmetricRssKey;
    conf.rx_adv_conf.rss_conf.rss_key_len = sizeof kSymmetricRssKey;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & dev.flow_type_rss_offloads;
    if (dev.hash_key_size != 0 && dev.hash_key_size != sizeof kSymmetricRssKey)
      conf.rx_adv_conf.rss_conf.rss_key = nullptr;  // driver default key; dispatch still pins flows
  }
  // One RX queue per worker whenever the device has them, RSS or not: some drivers spread
  // frames over every queue they were given (AF_PACKET's fanout), and a queue nobody polls
  // loses them. The dispatch stage pins flows to workers whatever queue they arrive on.
  info.rx_queues = dev.max_rx_queues >= s.workers ? s.workers : 1;
  info.tx_queues = s.workers;
  if (int rc = rte_eth_dev_configure(info.port_id, info.rx_queues, info.tx_queues, &conf); rc != 0)
    fail(s, "configure", rc);
  uint16_t rxd = s.rx_desc, txd = s.tx_desc;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(info.port_id, &rxd, &txd); rc != 0)
    fail(s, "descriptor counts", rc);
  int socket = rte_eth_dev_socket_id(info.port_id);
  if (socket < 0) socket = SOCKET_ID_ANY;
  for (uint16_t q = 0; q < info.rx_queues; ++q)
    if (int rc = rte_eth_rx_queue_setup(info.port_id, q, rxd, socket, nullptr, pool); rc != 0)
      fail(s, "RX queue " + std::to_string(q), rc);
  for (uint16_t q = 0; q < info.tx_queues; ++q)
    if (int rc = rte_eth_tx_queue_setup(info.port_id, q, txd, socket, nullptr); rc != 0)
      fail(s, "TX queue " + std::to_string(q), rc);
  bool mac_refused = false;
  if (s.mac) {
    rte_ether_addr mac = *s.mac;
    int rc = rte_eth_dev_default_mac_addr_set(info.port_id, &mac);
    if (rc != 0 && rc != -ENOTSUP) fail(s, "set MAC address", rc);
    mac_refused = rc != 0;
  }
  if (int rc = rte_eth_dev_start(info.port_id); rc != 0) fail(s, "start", rc);
  // A driver that cannot take our MAC still has to deliver frames sent to it. The route stage
  // drops frames not addressed to us, so promiscuous mode does not turn us into a bridge.
  if (mac_refused) rte_eth_promiscuous_enable(info.port_id);
  if (s.mac)
    info.mac = *s.mac;
  else if (int rc = rte_eth_macaddr_get(info.port_id, &info.mac); rc != 0)
    fail(s, "read MAC address", rc);
  guard.armed = false;
  return info;
}

void stop_port(uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace traboule::dp

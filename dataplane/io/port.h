// SPDX-License-Identifier: Apache-2.0
// Ethernet ports: configure, start and stop a DPDK port with one RX queue per worker where the
// device has enough (RSS with a symmetric key where it has RSS) and one TX queue per worker,
// so workers never share a queue.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <optional>
#include <string>

namespace traboule::dp {

struct PortSetup {
  std::string label;                  // "lan", "fiber": for error messages
  std::string device_name;            // "net_af_packet0" or "0000:01:00.0"
  std::optional<rte_ether_addr> mac;  // set this MAC on the port (net_ring/net_null have none)
  uint16_t workers = 1;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
};

struct PortInfo {
  uint16_t port_id = 0;
  uint16_t rx_queues = 1;  // one per worker when the device has enough, else 1
  uint16_t tx_queues = 1;
  bool rss = false;
  rte_ether_addr mac{};
  std::string driver;
};

// Throws std::runtime_error naming the port and what failed (start-up only).
PortInfo start_port(const PortSetup& setup, rte_mempool* pool);
void stop_port(uint16_t port_id);

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Packet buffer pools: every pool of ours reserves the private area that holds PacketMeta.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>

namespace traboule::dp {

// Creates a pktmbuf pool of `count` buffers with PacketMeta room; nullptr + rte_errno on failure.
rte_mempool* make_packet_pool(const std::string& name, uint32_t count, int socket_id);

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Where a packet's PacketMeta lives: the private area of its mbuf.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/model/packet_meta.h"

namespace traboule::dp {

inline constexpr uint16_t kMetaPrivSize = static_cast<uint16_t>(
    (sizeof(PacketMeta) + RTE_MBUF_PRIV_ALIGN - 1) & ~(RTE_MBUF_PRIV_ALIGN - 1));

// Every mempool of ours is created with priv_size >= kMetaPrivSize (see io/mempool.h).
inline PacketMeta& meta(rte_mbuf* m) {
  return *static_cast<PacketMeta*>(rte_mbuf_to_priv(m));
}
inline const PacketMeta& meta(const rte_mbuf* m) {
  return *static_cast<const PacketMeta*>(rte_mbuf_to_priv(const_cast<rte_mbuf*>(m)));
}

}  // namespace traboule::dp

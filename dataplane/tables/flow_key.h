// SPDX-License-Identifier: Apache-2.0
// The flow key: one key for both directions of a connection (endpoints in canonical order),
// and the symmetric hash that pins a flow to one worker and indexes the flow table.
#pragma once

#include <rte_hash_crc.h>

#include <cstdint>
#include <cstring>

#include "dataplane/graph/mbuf_meta.h"

namespace traboule::dp {

struct FlowKey {
  IpAddr lo;  // the smaller (address, port) endpoint
  IpAddr hi;
  uint16_t lo_port = 0;
  uint16_t hi_port = 0;
  uint8_t proto = 0;
  // Zeroed: the hash and compare read all 48 bytes. 48, not 40: rte_hash compares 16/32/48/64
  // byte keys with vector code and anything else with memcmp().
  uint8_t pad[11] = {};
};
static_assert(sizeof(FlowKey) == 48);

// Fills key from parsed metadata; returns the direction: 0 when src is the `lo` endpoint.
inline uint8_t make_flow_key(const PacketMeta& m, FlowKey& k) noexcept {
  // Order the endpoints by (address, port) as big-endian numbers, without a memcmp call.
  const uint64_t s0 = __builtin_bswap64(m.src.word(0)), d0 = __builtin_bswap64(m.dst.word(0));
  const uint64_t s1 = __builtin_bswap64(m.src.word(1)), d1 = __builtin_bswap64(m.dst.word(1));
  const bool src_lo = s0 != d0 ? s0 < d0 : s1 != d1 ? s1 < d1 : m.src_port <= m.dst_port;
  k.lo = src_lo ? m.src : m.dst;
  k.hi = src_lo ? m.dst : m.src;
  k.lo_port = src_lo ? m.src_port : m.dst_port;
  k.hi_port = src_lo ? m.dst_port : m.src_port;
  k.proto = m.l4_proto;
  std::memset(k.pad, 0, sizeof k.pad);
  return src_lo ? 0 : 1;
}

inline uint32_t flow_hash(const FlowKey& k) noexcept {
  return rte_hash_crc(&k, sizeof k, 0x7ab0u);
}

}  // namespace traboule::dp

// The flow key: one key for both directions of a connection (endpoints in canonical order),
// and the symmetric hash that pins a flow to one worker and indexes the flow table.
#pragma once

#include <rte_hash_crc.h>

#include <cstdint>
#include <cstring>

#include "dataplane/core/packet_meta.h"

namespace traboule::dp {

struct FlowKey {
  IpAddr lo;  // the smaller (address, port) endpoint
  IpAddr hi;
  uint16_t lo_port = 0;
  uint16_t hi_port = 0;
  uint8_t proto = 0;
  uint8_t pad[3] = {0, 0, 0};  // zeroed: the hash and compare read all 40 bytes
};
static_assert(sizeof(FlowKey) == 40);

// Fills key from parsed metadata; returns the direction: 0 when src is the `lo` endpoint.
inline uint8_t make_flow_key(const PacketMeta& m, FlowKey& k) noexcept {
  int c = std::memcmp(m.src.b.data(), m.dst.b.data(), 16);
  bool src_lo = c < 0 || (c == 0 && m.src_port <= m.dst_port);
  k.lo = src_lo ? m.src : m.dst;
  k.hi = src_lo ? m.dst : m.src;
  k.lo_port = src_lo ? m.src_port : m.dst_port;
  k.hi_port = src_lo ? m.dst_port : m.src_port;
  k.proto = m.l4_proto;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  return src_lo ? 0 : 1;
}

inline uint32_t flow_hash(const FlowKey& k) noexcept { return rte_hash_crc(&k, sizeof k, 0x7ab0u); }

}  // namespace traboule::dp

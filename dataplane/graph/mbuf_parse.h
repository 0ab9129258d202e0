// SPDX-License-Identifier: Apache-2.0
// The frame parser (proto/frame_parse.h) on an mbuf: the NIC's IPv4 checksum verdict in, the
// Ethernet padding past the IP datagram trimmed out. The parse stage runs it on every received
// frame, decap on every inner packet.
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>

#include "dataplane/graph/mbuf_meta.h"
#include "dataplane/proto/frame_parse.h"

namespace traboule::dp {

// Shortens a chained frame to `keep` bytes (the padding does not all sit in the last segment).
void trim_chain(rte_mbuf* m, uint32_t keep) noexcept;

// FrameCodes::Edge, or FrameCodes::kDropBase + a drop reason; meta(m) filled.
inline unsigned parse_mbuf(rte_mbuf* m) noexcept {
  const uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  const L3Csum csum = ck == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN ? L3Csum::kUnknown
                      : ck == RTE_MBUF_F_RX_IP_CKSUM_BAD   ? L3Csum::kBad
                                                           : L3Csum::kVerified;
  const uint32_t frame_len = rte_pktmbuf_pkt_len(m);
  uint32_t dgram_end = frame_len;
  const unsigned r = parse_frame(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m),
                                 frame_len, csum, meta(m), &dgram_end);
  // Ethernet padding (or any trailer) past the IP datagram must never be forwarded.
  if ((r == FrameCodes::kIpv4 || r == FrameCodes::kIpv6) && frame_len > dgram_end) [[unlikely]] {
    const uint32_t excess = frame_len - dgram_end;  // a chain can exceed 64 KiB
    if (excess > UINT16_MAX || rte_pktmbuf_trim(m, static_cast<uint16_t>(excess)) != 0)
      trim_chain(m, dgram_end);
  }
  return r;
}

}  // namespace traboule::dp

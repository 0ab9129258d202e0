// SPDX-License-Identifier: Apache-2.0
// An uplink on a VLAN (`"vlan": 832`, docs/kernel.md "VLANs"): the tag comes off as the frame
// enters (parse) and goes back on as it leaves (tx, and what the kernel twin sends), so every
// stage between sees the uplink's frames untagged, as on a plain port.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/runtime/site.h"

namespace traboule::dp {

// Per port: the VLAN id its frames carry on the wire, 0 for an untagged port.
using PortVlans = std::array<uint16_t, kMaxPorts>;

inline constexpr uint16_t kVlanTpid = 0x8100;
inline constexpr uint16_t kVlanIdMask = 0x0fff;

// Takes the outer 802.1Q tag off when it carries `vid` (the priority bits are not ours to
// judge); false, untouched, for an untagged frame, another VLAN, an 802.1ad outer tag or a
// frame too short to hold the tag. A tag the driver already took off (a NIC's VLAN strip, or
// AF_PACKET's auxiliary data when the driver did not put it back) is judged from the mbuf.
inline bool vlan_strip(rte_mbuf* m, uint16_t vid) noexcept {
  if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) {
    if ((m->vlan_tci & kVlanIdMask) != vid) return false;
    m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
    return true;
  }
  if (rte_pktmbuf_data_len(m) < 18) return false;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint16_t tpid = static_cast<uint16_t>(p[12] << 8 | p[13]);
  const uint16_t tci = static_cast<uint16_t>(p[14] << 8 | p[15]);
  if (tpid != kVlanTpid || (tci & kVlanIdMask) != vid) return false;
  std::memmove(p + 4, p, 12);
  rte_pktmbuf_adj(m, 4);
  return true;
}

// Puts an 802.1Q tag with `vid` (priority 0) after the MACs. False, untouched, when the frame
// has no room in front of it, is shorter than its MACs or shares its data with another mbuf
// (writing would change the other one's frame too).
inline bool vlan_insert(rte_mbuf* m, uint16_t vid) noexcept {
  if (rte_pktmbuf_data_len(m) < 12 || rte_pktmbuf_headroom(m) < 4 || !RTE_MBUF_DIRECT(m) ||
      rte_mbuf_refcnt_read(m) != 1)
    return false;
  uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, 4));
  if (p == nullptr) return false;
  std::memmove(p, p + 4, 12);
  p[12] = kVlanTpid >> 8;
  p[13] = kVlanTpid & 0xff;
  p[14] = static_cast<uint8_t>((vid >> 8) & 0x0f);
  p[15] = static_cast<uint8_t>(vid & 0xff);
  return true;
}

}  // namespace traboule::dp

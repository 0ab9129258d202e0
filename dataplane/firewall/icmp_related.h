// SPDX-License-Identifier: Apache-2.0
// ICMP errors (destination unreachable, time exceeded, parameter problem, packet too big) are
// "related" to the flow of the packet they quote: they are let in when that flow is, and the
// dispatch stage sends them to the worker that owns it. This reads the quoted header.
#pragma once

#include <rte_mbuf.h>

#include "dataplane/graph/mbuf_meta.h"
#include "dataplane/tables/flow_key.h"

namespace traboule::dp {

inline bool icmp_error_type(const PacketMeta& m) noexcept {
  if (m.l4_proto == 1) return m.icmp_type == 3 || m.icmp_type == 11 || m.icmp_type == 12;
  if (m.l4_proto == 58) return m.icmp_type >= 1 && m.icmp_type <= 4;
  return false;
}

// For an ICMP/ICMPv6 error (icmp_error_type), the flow key of the quoted packet as the flow
// stage keyed it when that packet went by (TCP/UDP ports, the echo identifier, or ports 0).
// `quoted_src` gets the quoted packet's source (the inside host that sent it). False when the
// quote is too short, of the other family, a later fragment, or an IPv6 packet whose quoted
// transport sits behind extension headers (not followed: such errors are not let in).
bool icmp_error_inner_key(const rte_mbuf* m, const PacketMeta& md, FlowKey& key,
                          IpAddr* quoted_src = nullptr) noexcept;

}  // namespace traboule::dp

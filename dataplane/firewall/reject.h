// SPDX-License-Identifier: Apache-2.0
// A firewall rule's `reject`: the refused packet is turned, in place, into the answer its
// sender gets from a closed port, sent back out the port it came in on: a TCP RST (RFC 9293
// 3.10.7.1) for TCP, otherwise ICMP destination unreachable, administratively prohibited
// (IPv4 type 3 code 13, RFC 1812 5.2.7.1; ICMPv6 type 1 code 1, RFC 4443) quoting the packet.
#pragma once

#include <rte_mbuf.h>

#include "dataplane/graph/mbuf_meta.h"

namespace traboule::dp {

// Rewrites `m` into the reject answer (Ethernet addresses swapped, our address as the source
// of the ICMP error: the refused packet's destination, as a host would answer). Returns false,
// leaving the packet for a plain drop, when no answer is due or possible: a RST or an ICMP
// error is never answered, nor a fragment, a packet with IPv4 options or IPv6 extension
// headers, a chained mbuf, or a packet without room for the quote.
bool make_reject(rte_mbuf* m, PacketMeta& md) noexcept;

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Completes the TCP/UDP checksum of a frame captured before its sender computed it (the
// kernel flags such frames TP_STATUS_CSUMNOTREADY: checksum offload on veths and NICs leaves
// only the pseudo-header sum). Forwarded as is, the receiver would drop them as corrupt.
#pragma once

#include <cstdint>

namespace traboule::wanem {

enum class FixupResult {
  kFixed,      // the TCP or UDP checksum was written
  kNotTcpUdp,  // not IPv4/IPv6 TCP/UDP (ARP, ICMP, ...), or a fragment: left alone
  kMalformed,  // headers truncated or inconsistent: left alone
};

// frame: a whole Ethernet frame (802.1Q/802.1ad tags allowed), len its length in bytes.
FixupResult complete_l4_checksum(uint8_t* frame, uint32_t len);

}  // namespace traboule::wanem

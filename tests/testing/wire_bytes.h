// SPDX-License-Identifier: Apache-2.0
// Addresses as the bytes a frame carries, from their text: for tests that compare header fields
// byte by byte.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/proto/ip_addr.h"
#include "tests/testing/packet_builder.h"

namespace traboule::testing {

// The 6 bytes of a MAC address ("02:00:00:00:00:10").
inline std::vector<uint8_t> mac_bytes(const char* text) {
  auto m = mac(text);
  return std::vector<uint8_t>(m.addr_bytes, m.addr_bytes + 6);
}

// The 4 bytes of an IPv4 address or the 16 of an IPv6 address (the text must parse).
inline std::vector<uint8_t> ip_bytes(const char* text) {
  dp::IpAddr a = *dp::IpAddr::parse(text);
  return a.is_v4() ? std::vector<uint8_t>(a.b.begin() + 12, a.b.end())
                   : std::vector<uint8_t>(a.b.begin(), a.b.end());
}

}  // namespace traboule::testing

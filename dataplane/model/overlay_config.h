// SPDX-License-Identifier: Apache-2.0
// The box's overlay settings, as the daemon config gives them to the data plane.
#pragma once

#include <cstdint>

namespace traboule::dp {

// The box's overlay settings (daemon config). port 0: no overlay (encap and decap off).
struct OverlayConfig {
  uint16_t port = 0;     // our UDP port: edges send from it, hubs listen on it
  uint16_t site_id = 0;  // an edge's id (1..4095); a hub's own is unused
  bool hub = false;      // learns sites from what it receives and answers on their paths
  uint16_t mtu = 1500;   // uplink IP MTU: inner packets are clamped to mtu - overhead
  // ESP (docs/security.md): every overlay packet sealed and opened with the SAs the control
  // sessions install; nothing in clear text either way, with or without an SA.
  bool encrypt = false;
};

}  // namespace traboule::dp

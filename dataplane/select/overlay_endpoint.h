// SPDX-License-Identifier: Apache-2.0
// Which hub endpoint an edge's uplink sends overlay packets to (encap sends there; route judges
// the uplink by that endpoint's family).
#pragma once

#include <vector>

#include "dataplane/proto/ip_addr.h"
#include "dataplane/runtime/site.h"

namespace traboule::dp {

// The hub endpoint an edge's uplink sends its overlay packets to: the first one whose family the
// uplink has an address and a gateway for (encap sends there; route judges the uplink by that
// family's gateway). Null: none.
inline const IpAddr* overlay_endpoint(const std::vector<IpAddr>& endpoints,
                                      const Interface& up) noexcept {
  for (const IpAddr& e : endpoints)
    if (e.is_v4() ? (up.v4 && up.gw4) : (up.v6 && up.gw6)) return &e;
  return nullptr;
}

}  // namespace traboule::dp

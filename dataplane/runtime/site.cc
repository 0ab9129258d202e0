// SPDX-License-Identifier: Apache-2.0
#include "dataplane/runtime/site.h"

namespace traboule::dp {

IpAddr link_local_from_mac(const rte_ether_addr& mac) {
  IpAddr a;
  a.b[0] = 0xfe;
  a.b[1] = 0x80;
  a.b[8] = mac.addr_bytes[0] ^ 0x02;
  a.b[9] = mac.addr_bytes[1];
  a.b[10] = mac.addr_bytes[2];
  a.b[11] = 0xff;
  a.b[12] = 0xfe;
  a.b[13] = mac.addr_bytes[3];
  a.b[14] = mac.addr_bytes[4];
  a.b[15] = mac.addr_bytes[5];
  return a;
}

}  // namespace traboule::dp

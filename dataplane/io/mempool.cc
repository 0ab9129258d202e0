// SPDX-License-Identifier: Apache-2.0
#include "dataplane/io/mempool.h"

#include <rte_mbuf.h>

#include "dataplane/graph/mbuf_meta.h"

namespace traboule::dp {

rte_mempool* make_packet_pool(const std::string& name, uint32_t count, int socket_id) {
  return rte_pktmbuf_pool_create(name.c_str(), count, 256, kMetaPrivSize, RTE_MBUF_DEFAULT_BUF_SIZE,
                                 socket_id);
}

}  // namespace traboule::dp

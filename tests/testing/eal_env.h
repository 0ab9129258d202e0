// SPDX-License-Identifier: Apache-2.0
// EAL for test binaries: initialised once per binary without hugepages (--no-huge --no-shconf,
// a unique --file-prefix), plus a shared packet pool. Link tests with traboule_testing_main.
#pragma once

#include <rte_mempool.h>

namespace traboule::testing {

// Initialises EAL (once per process) and the test pool; exits the process on failure.
void init_test_eal();
void cleanup_test_eal();
// The pool every test allocates packets from (PacketMeta room reserved).
rte_mempool* test_pool();
// Number of mbufs currently handed out of test_pool() (leak checks).
unsigned pool_in_use();

}  // namespace traboule::testing

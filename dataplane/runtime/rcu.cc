// SPDX-License-Identifier: Apache-2.0
#include "dataplane/runtime/rcu.h"

#include <rte_malloc.h>

#include <stdexcept>
#include <string>

namespace traboule::dp {

Rcu::Rcu(unsigned readers) : readers_(readers) {
  const size_t size = rte_rcu_qsbr_get_memsize(readers);
  v_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("traboule_rcu", size, RTE_CACHE_LINE_SIZE));
  if (v_ == nullptr) throw std::runtime_error("RCU: cannot allocate the QSBR variable");
  if (rte_rcu_qsbr_init(v_, readers) != 0) {
    rte_free(v_);
    throw std::runtime_error("RCU: rte_rcu_qsbr_init failed for " + std::to_string(readers) +
                             " readers");
  }
  for (unsigned i = 0; i < readers; ++i) rte_rcu_qsbr_thread_register(v_, i);
}

Rcu::~Rcu() {
  rte_free(v_);
}

void Rcu::online(unsigned id) noexcept {
  rte_rcu_qsbr_thread_online(v_, id);
}
void Rcu::offline(unsigned id) noexcept {
  rte_rcu_qsbr_thread_offline(v_, id);
}

void Rcu::synchronize() noexcept {
  rte_rcu_qsbr_synchronize(v_, RTE_QSBR_THRID_INVALID);
}

}  // namespace traboule::dp

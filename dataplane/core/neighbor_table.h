// IP → MAC for one port (ARP for IPv4, ND for IPv6). Written rarely (ARP/ND replies, static
// entries) under a writer spinlock; read on the hot path lock-free through a per-entry seqlock.
#pragma once

#include <rte_ether.h>
#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/core/ip_addr.h"

namespace traboule::dp {

enum class NeighState : uint8_t { kFree = 0, kIncomplete, kReachable, kStatic };

struct NeighborView {
  IpAddr ip;
  rte_ether_addr mac{};
  NeighState state = NeighState::kFree;
  uint64_t updated_tsc = 0;
  uint64_t requested_tsc = 0;
};

class NeighborTable {
 public:
  explicit NeighborTable(uint32_t capacity = 1024);

  // Hot path: true and *mac when the address is resolved (reachable or static).
  bool lookup(const IpAddr& ip, rte_ether_addr* mac) const noexcept;
  // Learn (ARP/NA seen). Static entries are never overwritten. False when the table is full.
  bool learn(const IpAddr& ip, const rte_ether_addr& mac, uint64_t now_tsc) noexcept;
  bool set_static(const IpAddr& ip, const rte_ether_addr& mac) noexcept;
  // Ask for resolution: creates an incomplete entry the resolver will send requests for.
  // Cheap when the entry already exists. False when full.
  bool want(const IpAddr& ip) noexcept;
  // Resolver (worker 0 timer): entries needing a request now (incomplete, or reachable but
  // older than refresh_tsc), at most one request per retry_tsc each. Marks them requested.
  template <class Fn>
  void due_requests(uint64_t now_tsc, uint64_t retry_tsc, uint64_t refresh_tsc, Fn&& fn) noexcept;
  std::vector<NeighborView> dump() const;
  // Changes whenever an entry is written: readers may cache a lookup while it stays the same.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  uint32_t capacity() const noexcept { return static_cast<uint32_t>(slots_.size()); }

 private:
  struct Slot {
    std::atomic<uint32_t> seq{0};  // odd while being written
    IpAddr ip;
    rte_ether_addr mac{};
    NeighState state = NeighState::kFree;
    uint64_t updated_tsc = 0;
    uint64_t requested_tsc = 0;
  };
  uint32_t home(const IpAddr& ip) const noexcept;
  Slot* find_or_claim(const IpAddr& ip) noexcept;  // writer lock held
  void write(Slot& s, const IpAddr& ip, const rte_ether_addr& mac, NeighState st,
             uint64_t now) noexcept;

  std::vector<Slot> slots_;
  uint32_t mask_;
  std::atomic<uint64_t> generation_{0};
  rte_spinlock_t lock_ = RTE_SPINLOCK_INITIALIZER;
};

template <class Fn>
void NeighborTable::due_requests(uint64_t now, uint64_t retry_tsc, uint64_t refresh_tsc,
                                 Fn&& fn) noexcept {
  rte_spinlock_lock(&lock_);
  for (auto& s : slots_) {
    bool due = false;
    if (s.state == NeighState::kIncomplete)
      due = now - s.requested_tsc >= retry_tsc;
    else if (s.state == NeighState::kReachable)
      due = now - s.updated_tsc >= refresh_tsc && now - s.requested_tsc >= retry_tsc;
    if (!due) continue;
    s.requested_tsc = now;
    fn(s.ip);
  }
  rte_spinlock_unlock(&lock_);
}

}  // namespace traboule::dp

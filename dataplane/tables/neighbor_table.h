// SPDX-License-Identifier: Apache-2.0
// IP → MAC for one port (ARP for IPv4, ND for IPv6). Written rarely (ARP/ND replies, static
// entries) under a writer spinlock; read on the hot path lock-free through a per-entry seqlock.
#pragma once

#include <rte_ether.h>
#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

// kDeleted is a tombstone: the slot is reusable, but probe chains run on past it.
enum class NeighState : uint8_t { kFree = 0, kIncomplete, kReachable, kStatic, kDeleted };

// Unanswered requests before an incomplete entry is dropped, or a reachable one is demoted.
inline constexpr uint8_t kNeighMaxTries = 3;

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
  // Lock-free when the address is already known or being resolved (the hot path calls it for
  // every packet to an unresolved next hop). Incomplete entries are capped at a quarter of the
  // table, and dropped after kNeighMaxTries unanswered requests, so traffic towards unused
  // addresses cannot fill the table. False when refused.
  bool want(const IpAddr& ip) noexcept;
  // Resolver (worker 0 timer): entries needing a request now (incomplete, or reachable but
  // older than refresh_tsc), at most one request per retry_tsc each. `fn(ip)` returns true when
  // it sent the request; only then is the entry marked requested and its try counted. An
  // incomplete entry past kNeighMaxTries is dropped; a reachable one is demoted to incomplete.
  template <class Fn>
  void due_requests(uint64_t now_tsc, uint64_t retry_tsc, uint64_t refresh_tsc, Fn&& fn) noexcept;
  uint32_t incomplete() const noexcept { return incomplete_.load(std::memory_order_relaxed); }
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
    uint8_t tries = 0;  // requests sent without an answer (writer lock held)
    uint64_t updated_tsc = 0;
    uint64_t requested_tsc = 0;
  };
  uint32_t home(const IpAddr& ip) const noexcept;
  NeighState state_of(const IpAddr& ip) const noexcept;  // lock-free; kFree when absent
  Slot* find_or_claim(const IpAddr& ip) noexcept;        // writer lock held
  void write(Slot& s, const IpAddr& ip, const rte_ether_addr& mac, NeighState st,
             uint64_t now) noexcept;

  void set_state(Slot& s, NeighState st) noexcept;  // writer lock held

  std::vector<Slot> slots_;
  uint32_t mask_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint32_t> incomplete_{0};
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
    if (s.tries >= kNeighMaxTries) {
      // No answer to the last requests: forget an unresolved address; a reachable one is
      // asked again as incomplete (its MAC may have changed), with a fresh try count.
      set_state(
          s, s.state == NeighState::kIncomplete ? NeighState::kDeleted : NeighState::kIncomplete);
      s.tries = 0;
      if (s.state == NeighState::kDeleted) continue;
    }
    if (!fn(s.ip)) continue;  // not sent (budget, pool): due again on the next round
    s.requested_tsc = now;
    ++s.tries;
  }
  rte_spinlock_unlock(&lock_);
}

}  // namespace traboule::dp

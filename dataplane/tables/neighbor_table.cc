// SPDX-License-Identifier: Apache-2.0
#include "dataplane/tables/neighbor_table.h"

#include <rte_hash_crc.h>

#include <bit>

namespace traboule::dp {

NeighborTable::NeighborTable(uint32_t capacity)
    : slots_(std::bit_ceil(capacity < 16 ? 16u : capacity)),
      mask_(static_cast<uint32_t>(slots_.size() - 1)) {}

uint32_t NeighborTable::home(const IpAddr& ip) const noexcept {
  return rte_hash_crc(ip.b.data(), 16, 0x5eed) & mask_;
}

namespace {
bool live(NeighState st) {
  return st != NeighState::kFree && st != NeighState::kDeleted;
}
}  // namespace

bool NeighborTable::lookup(const IpAddr& ip, rte_ether_addr* mac) const noexcept {
  uint32_t i = home(ip);
  for (uint32_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    for (;;) {
      uint32_t s1 = s.seq.load(std::memory_order_acquire);
      if (s1 & 1) continue;  // writer in progress: retry this slot
      NeighState st = s.state;
      bool match = live(st) && s.ip == ip;
      rte_ether_addr m = s.mac;
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) != s1) continue;
      if (st == NeighState::kFree) return false;  // end of the probe chain
      if (!match) break;  // another address, or a tombstone: the chain goes on
      if (st == NeighState::kReachable || st == NeighState::kStatic) {
        *mac = m;
        return true;
      }
      return false;
    }
  }
  return false;
}

NeighState NeighborTable::state_of(const IpAddr& ip) const noexcept {
  uint32_t i = home(ip);
  for (uint32_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    for (;;) {
      uint32_t s1 = s.seq.load(std::memory_order_acquire);
      if (s1 & 1) continue;
      NeighState st = s.state;
      bool match = live(st) && s.ip == ip;
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) != s1) continue;
      if (st == NeighState::kFree) return NeighState::kFree;
      if (!match) break;
      return st;
    }
  }
  return NeighState::kFree;
}

NeighborTable::Slot* NeighborTable::find_or_claim(const IpAddr& ip) noexcept {
  // The address' own slot if it has one, else the first tombstone or free slot of its chain.
  Slot* reuse = nullptr;
  uint32_t i = home(ip);
  for (uint32_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (live(s.state) && s.ip == ip) return &s;
    if (s.state == NeighState::kDeleted && reuse == nullptr) reuse = &s;
    if (s.state == NeighState::kFree) return reuse != nullptr ? reuse : &s;
  }
  return reuse;
}

void NeighborTable::set_state(Slot& s, NeighState st) noexcept {
  write(s, s.ip, s.mac, st, s.updated_tsc);
}

void NeighborTable::write(Slot& s, const IpAddr& ip, const rte_ether_addr& mac, NeighState st,
                          uint64_t now) noexcept {
  if (s.state == NeighState::kIncomplete && st != NeighState::kIncomplete)
    incomplete_.fetch_sub(1, std::memory_order_relaxed);
  else if (s.state != NeighState::kIncomplete && st == NeighState::kIncomplete)
    incomplete_.fetch_add(1, std::memory_order_relaxed);
  s.seq.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_release);
  s.ip = ip;
  s.mac = mac;
  s.state = st;
  s.updated_tsc = now;
  std::atomic_thread_fence(std::memory_order_release);
  s.seq.fetch_add(1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
}

bool NeighborTable::learn(const IpAddr& ip, const rte_ether_addr& mac, uint64_t now) noexcept {
  rte_spinlock_lock(&lock_);
  Slot* s = find_or_claim(ip);
  bool ok = s != nullptr;
  if (ok && s->state != NeighState::kStatic) {
    write(*s, ip, mac, NeighState::kReachable, now);
    s->tries = 0;
  }
  rte_spinlock_unlock(&lock_);
  return ok;
}

bool NeighborTable::set_static(const IpAddr& ip, const rte_ether_addr& mac) noexcept {
  rte_spinlock_lock(&lock_);
  Slot* s = find_or_claim(ip);
  if (s != nullptr) write(*s, ip, mac, NeighState::kStatic, 0);
  rte_spinlock_unlock(&lock_);
  return s != nullptr;
}

bool NeighborTable::want(const IpAddr& ip) noexcept {
  if (state_of(ip) != NeighState::kFree) return true;  // known or being resolved: no lock
  if (incomplete_.load(std::memory_order_relaxed) >= slots_.size() / 4) return false;
  rte_spinlock_lock(&lock_);
  Slot* s = find_or_claim(ip);
  bool ok = s != nullptr;
  if (ok && !live(s->state)) {
    write(*s, ip, rte_ether_addr{}, NeighState::kIncomplete, 0);
    s->requested_tsc = 0;
    s->tries = 0;
  }
  rte_spinlock_unlock(&lock_);
  return ok;
}

std::vector<NeighborView> NeighborTable::dump() const {
  std::vector<NeighborView> out;
  for (auto& s : slots_) {
    uint32_t s1 = s.seq.load(std::memory_order_acquire);
    NeighborView v{s.ip, s.mac, s.state, s.updated_tsc, s.requested_tsc};
    std::atomic_thread_fence(std::memory_order_acquire);
    if ((s1 & 1) || s.seq.load(std::memory_order_relaxed) != s1) continue;
    if (live(v.state)) out.push_back(v);
  }
  return out;
}

}  // namespace traboule::dp

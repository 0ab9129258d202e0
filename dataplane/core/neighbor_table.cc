#include "dataplane/core/neighbor_table.h"

#include <rte_hash_crc.h>

#include <bit>

namespace traboule::dp {

NeighborTable::NeighborTable(uint32_t capacity)
    : slots_(std::bit_ceil(capacity < 16 ? 16u : capacity)),
      mask_(static_cast<uint32_t>(slots_.size() - 1)) {}

uint32_t NeighborTable::home(const IpAddr& ip) const noexcept {
  return rte_hash_crc(ip.b.data(), 16, 0x5eed) & mask_;
}

bool NeighborTable::lookup(const IpAddr& ip, rte_ether_addr* mac) const noexcept {
  uint32_t i = home(ip);
  for (uint32_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    for (;;) {
      uint32_t s1 = s.seq.load(std::memory_order_acquire);
      if (s1 & 1) continue;  // writer in progress: retry this slot
      NeighState st = s.state;
      bool match = st != NeighState::kFree && s.ip == ip;
      rte_ether_addr m = s.mac;
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) != s1) continue;
      if (st == NeighState::kFree) return false;  // end of the probe chain
      if (!match) break;
      if (st == NeighState::kReachable || st == NeighState::kStatic) {
        *mac = m;
        return true;
      }
      return false;
    }
  }
  return false;
}

NeighborTable::Slot* NeighborTable::find_or_claim(const IpAddr& ip) noexcept {
  uint32_t i = home(ip);
  for (uint32_t probes = 0; probes <= mask_; ++probes, i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.state == NeighState::kFree || s.ip == ip) return &s;
  }
  return nullptr;
}

void NeighborTable::write(Slot& s, const IpAddr& ip, const rte_ether_addr& mac, NeighState st,
                          uint64_t now) noexcept {
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
  if (ok && s->state != NeighState::kStatic) write(*s, ip, mac, NeighState::kReachable, now);
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
  rte_ether_addr unused;
  if (lookup(ip, &unused)) return true;
  rte_spinlock_lock(&lock_);
  Slot* s = find_or_claim(ip);
  if (s != nullptr && s->state == NeighState::kFree) {
    write(*s, ip, rte_ether_addr{}, NeighState::kIncomplete, 0);
    s->requested_tsc = 0;
  }
  rte_spinlock_unlock(&lock_);
  return s != nullptr;
}

std::vector<NeighborView> NeighborTable::dump() const {
  std::vector<NeighborView> out;
  for (auto& s : slots_) {
    uint32_t s1 = s.seq.load(std::memory_order_acquire);
    NeighborView v{s.ip, s.mac, s.state, s.updated_tsc, s.requested_tsc};
    if ((s1 & 1) || s.seq.load(std::memory_order_acquire) != s1) continue;
    if (v.state != NeighState::kFree) out.push_back(v);
  }
  return out;
}

}  // namespace traboule::dp

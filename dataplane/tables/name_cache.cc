// SPDX-License-Identifier: Apache-2.0
#include "dataplane/tables/name_cache.h"

#include <algorithm>
#include <cstring>

#include "dataplane/model/counter.h"

namespace traboule::dp {

NameCache::NameCache(uint32_t capacity) {
  uint32_t sets = 1;
  while (uint64_t{sets} * kWays < capacity && sets < (1u << 24)) sets <<= 1;
  slots_.resize(size_t{sets} * kWays);
  set_mask_ = sets - 1;
}

NameCache::Slot* NameCache::set_of(const IpAddr& addr) noexcept {
  uint64_t h = (addr.word(0) * 0x9e3779b97f4a7c15ull) ^ addr.word(1);
  h *= 0xc2b2ae3d27d4eb4full;
  h ^= h >> 29;
  return &slots_[size_t(h & set_mask_) * kWays];
}

bool NameCache::insert(const IpAddr& addr, std::string_view name, uint16_t app, uint32_t ttl_s,
                       uint32_t now_s) noexcept {
  if (name.size() > kNameMax) {
    bump(counters_.name_too_long);
    return false;
  }
  const uint32_t ttl = std::clamp(ttl_s, kMinTtlS, kMaxTtlS);
  if (ttl != ttl_s) bump(counters_.ttl_clamped);
  Slot* set = set_of(addr);
  Slot* slot = nullptr;
  Slot* free_slot = nullptr;
  Slot* expired = nullptr;
  Slot* oldest = set;
  for (unsigned w = 0; w < kWays; ++w) {
    Slot& s = set[w];
    if (s.used == 0) {
      if (!free_slot) free_slot = &s;
      continue;
    }
    if (s.addr == addr) {
      slot = &s;
      break;
    }
    if (!expired && s.expiry_s <= now_s) expired = &s;
    if (s.used < oldest->used || oldest->used == 0) oldest = &s;
  }
  if (slot) {
    bump(counters_.updates);
  } else if (free_slot) {
    slot = free_slot;
    ++occupied_;
    bump(counters_.inserts);
  } else if (expired) {
    slot = expired;
    bump(counters_.inserts);
  } else {
    slot = oldest;
    bump(counters_.evictions);
  }
  slot->addr = addr;
  slot->app = app;
  slot->expiry_s = now_s + ttl;
  slot->name_len = static_cast<uint8_t>(name.size());
  std::memcpy(slot->name, name.data(), name.size());
  slot->name[name.size()] = '\0';
  if (++tick_ == 0) tick_ = 1;
  slot->used = tick_;
  return true;
}

std::optional<NameCache::Hit> NameCache::lookup(const IpAddr& addr, uint32_t now_s) noexcept {
  Slot* set = set_of(addr);
  for (unsigned w = 0; w < kWays; ++w) {
    Slot& s = set[w];
    if (s.used == 0 || !(s.addr == addr)) continue;
    if (s.expiry_s <= now_s) {
      s.used = 0;
      --occupied_;
      bump(counters_.expired);
      return std::nullopt;
    }
    if (++tick_ == 0) tick_ = 1;
    s.used = tick_;
    bump(counters_.hits);
    return Hit{s.app, s.expiry_s, std::string_view(s.name, s.name_len)};
  }
  bump(counters_.misses);
  return std::nullopt;
}

}  // namespace traboule::dp

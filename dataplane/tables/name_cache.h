// SPDX-License-Identifier: Apache-2.0
// Per-worker address → (application, name, expiry) cache, filled from the DNS answers that
// cross the box: a SYN to an address a SaaS name resolved to is recognised before any payload.
// Set-associative, LRU inside a set; never allocates after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

struct NameCacheCounters {
  uint64_t inserts = 0;    // new entries (free or expired slot)
  uint64_t updates = 0;    // an address already present, refreshed
  uint64_t evictions = 0;  // a live entry replaced (set full)
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t expired = 0;        // lookups that found the address but past its expiry
  uint64_t name_too_long = 0;  // inserts refused: name longer than kNameMax
  uint64_t ttl_clamped = 0;    // TTLs raised to kMinTtlS or lowered to kMaxTtlS
};

class NameCache {
 public:
  static constexpr size_t kNameMax = 127;      // longer names are refused (counted)
  static constexpr uint32_t kMinTtlS = 30;     // short TTLs still cover the connect
  static constexpr uint32_t kMaxTtlS = 86400;  // a stale answer cannot pin an address forever
  static constexpr unsigned kWays = 8;         // set-associative; LRU inside a set

  // capacity is rounded up to a power-of-two number of sets of kWays entries (at least one).
  explicit NameCache(uint32_t capacity);

  struct Hit {
    uint16_t app;
    uint32_t expiry_s;
    std::string_view name;  // valid until the next insert
  };

  // Records that `name` (resolved now, TTL ttl_s) maps to `addr` and application `app`. The
  // latest answer wins for an address shared by several names. False when refused.
  bool insert(const IpAddr& addr, std::string_view name, uint16_t app, uint32_t ttl_s,
              uint32_t now_s) noexcept;
  // The live entry for addr (and marks it recently used), or nullopt (absent or expired).
  std::optional<Hit> lookup(const IpAddr& addr, uint32_t now_s) noexcept;

  uint32_t capacity() const noexcept { return static_cast<uint32_t>(slots_.size()); }
  uint32_t occupied() const noexcept { return occupied_; }  // includes expired, not yet reused
  const NameCacheCounters& counters() const noexcept { return counters_; }

 private:
  struct Slot {
    IpAddr addr;
    uint32_t expiry_s = 0;
    uint32_t used = 0;  // LRU stamp (a per-cache tick); 0: free
    uint16_t app = 0;
    uint8_t name_len = 0;
    char name[kNameMax + 1] = {};
  };
  Slot* set_of(const IpAddr& addr) noexcept;

  std::vector<Slot> slots_;
  uint32_t set_mask_ = 0;
  uint32_t tick_ = 0;
  uint32_t occupied_ = 0;
  NameCacheCounters counters_;
};

}  // namespace traboule::dp

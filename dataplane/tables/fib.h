// SPDX-License-Identifier: Apache-2.0
// The forwarding table: IPv4/IPv6 longest-prefix match (DPDK rte_fib DIR24_8, rte_fib6 TRIE) from
// a destination to a next-hop id, and the next-hop table saying *where* that is. Built whole on
// a control thread from a route snapshot, immutable afterwards, published to workers by RCU
// (SnapshotSlot<Fib>, like the policy); readers only look up. docs/routing.md.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/proto/ip_addr.h"

struct rte_fib;
struct rte_fib6;

namespace traboule::dp {

// Where a destination is. Policy decides *how* (uplinks, class); the FIB decides *where*.
enum class NextHopKind : uint8_t {
  kLan,          // a LAN segment (port), directly or via a gateway behind an L3 switch
  kOverlaySite,  // hub side: a site, through its overlay paths
  kHub,          // edge side: the hub, through the overlay
  kInternet,     // local breakout through an uplink
  kBlackhole,    // drop (a blackhole/unreachable route)
};
const char* next_hop_kind_name(NextHopKind k) noexcept;

struct NextHop {
  NextHopKind kind = NextHopKind::kBlackhole;
  uint16_t port = 0;     // kLan: the segment's port index; kInternet: the uplink index
  IpAddr gateway{};      // kLan: the router behind the segment; zero when directly connected
  uint32_t site_id = 0;  // kOverlaySite

  friend bool operator==(const NextHop&, const NextHop&) = default;
};

// One row of the snapshot: prefix length in the address' own family (0..32 or 0..128).
struct FibRoute {
  IpAddr addr;  // IPv4 as IpAddr::v4 (mapped form), IPv6 otherwise
  uint8_t prefix_len = 0;
  uint32_t next_hop = 0;  // index into the next-hop table
};

// Why rows were left out of a build, one named counter each; the build goes on without them.
struct FibBuildReport {
  uint32_t installed_v4 = 0;
  uint32_t installed_v6 = 0;
  uint32_t bad_prefix_len = 0;    // > 32 for IPv4, > 128 for IPv6
  uint32_t host_bits_set = 0;     // bits beyond the prefix length: ambiguous, refused
  uint32_t duplicate_prefix = 0;  // the first row for a prefix wins
  uint32_t bad_next_hop = 0;      // id outside the next-hop table
  std::string error;              // set when the whole build failed (EAL memory); fib is null
};

class Fib {
 public:
  // Lookup answer when nothing matches (no default route).
  static constexpr uint32_t kNoRoute = 0x7fff;
  // Ids are stored in 15 bits (2-byte DIR24_8/TRIE entries keep the tables at 32 MB per family).
  static constexpr uint32_t kMaxNextHops = kNoRoute;

  // Builds a FIB from a snapshot; nullptr (and report->error) when DPDK could not allocate it.
  // A family with no route gets no DPDK table at all (lookups answer kNoRoute).
  static std::shared_ptr<const Fib> build(std::vector<NextHop> next_hops,
                                          std::span<const FibRoute> routes, FibBuildReport* report);
  ~Fib();
  Fib(const Fib&) = delete;
  Fib& operator=(const Fib&) = delete;

  // Hot path (any number of concurrent readers). `out[i]` is a next-hop id or kNoRoute.
  void lookup_v4_bulk(const uint32_t* ips_host_order, uint32_t* out, unsigned n) const noexcept;
  void lookup_v6_bulk(const uint8_t (*ips)[16], uint32_t* out, unsigned n) const noexcept;
  // Mixed families (a burst as parsed): split per family, looked up in bulk, merged back.
  void lookup_bulk(const IpAddr* addrs, uint32_t* out, unsigned n) const noexcept;
  uint32_t lookup(const IpAddr& a) const noexcept;

  // nullptr for kNoRoute or an id outside the table.
  const NextHop* next_hop(uint32_t id) const noexcept {
    return id < next_hops_.size() ? &next_hops_[id] : nullptr;
  }
  const std::vector<NextHop>& next_hops() const noexcept { return next_hops_; }
  uint32_t routes_v4() const noexcept { return routes_v4_; }
  uint32_t routes_v6() const noexcept { return routes_v6_; }

 private:
  Fib() = default;
  bool create_tables(uint32_t v4, uint32_t tbl8_v4, uint32_t v6, uint32_t tbl8_v6,
                     std::string* error);

  rte_fib* v4_ = nullptr;
  rte_fib6* v6_ = nullptr;
  std::vector<NextHop> next_hops_;
  uint32_t routes_v4_ = 0;
  uint32_t routes_v6_ = 0;
};

}  // namespace traboule::dp

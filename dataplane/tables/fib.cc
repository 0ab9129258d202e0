// SPDX-License-Identifier: Apache-2.0
#include "dataplane/tables/fib.h"

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_memory.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <utility>

namespace traboule::dp {
namespace {

// EAL names its objects globally: every FIB gets its own names, even two alive during a swap.
std::atomic<uint32_t> g_fib_serial{0};

constexpr unsigned kChunk = 64;

bool host_bits_clear(const FibRoute& r, bool v4) {
  if (v4) {
    const uint32_t mask = r.prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - r.prefix_len);
    return (r.addr.v4_host() & ~mask) == 0;
  }
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned start = i * 8;
    uint8_t keep = 0;
    if (r.prefix_len >= start + 8)
      keep = 0xff;
    else if (r.prefix_len > start)
      keep = static_cast<uint8_t>(0xff00 >> (r.prefix_len - start));
    if ((r.addr.b[i] & ~keep) != 0) return false;
  }
  return true;
}

// tbl8 groups a route may need below the first 24 bits (one per further 8 bits).
uint32_t tbl8_needed(uint8_t prefix_len) {
  return prefix_len > 24 ? (prefix_len - 24 + 7) / 8 : 0;
}

// The rows that will be installed, after validation (each refusal counted in the report).
struct Accepted {
  std::vector<const FibRoute*> v4, v6;
  uint32_t tbl8_v4 = 0, tbl8_v6 = 0;
};

Accepted validate(std::span<const FibRoute> routes, size_t next_hops, FibBuildReport* rep) {
  Accepted acc;
  std::set<std::pair<IpAddr, uint8_t>> seen;
  for (const FibRoute& r : routes) {
    const bool v4 = r.addr.is_v4();
    if (r.prefix_len > (v4 ? 32 : 128)) {
      ++rep->bad_prefix_len;
    } else if (!host_bits_clear(r, v4)) {
      ++rep->host_bits_set;
    } else if (r.next_hop >= next_hops || r.next_hop >= Fib::kMaxNextHops) {
      ++rep->bad_next_hop;
    } else if (!seen.emplace(r.addr, r.prefix_len).second) {
      ++rep->duplicate_prefix;
    } else if (v4) {
      acc.v4.push_back(&r);
      acc.tbl8_v4 += r.prefix_len > 24 ? 1 : 0;
    } else {
      acc.v6.push_back(&r);
      acc.tbl8_v6 += tbl8_needed(r.prefix_len);
    }
  }
  return acc;
}

int max_routes(uint32_t n) {
  return static_cast<int>(std::min<uint64_t>(uint64_t{n} * 2 + 16, 1u << 30));
}

uint32_t tbl8_groups(uint32_t needed) {
  return std::min<uint32_t>(needed + 32, Fib::kMaxNextHops);
}

}  // namespace

const char* next_hop_kind_name(NextHopKind k) noexcept {
  switch (k) {
    case NextHopKind::kLan:
      return "lan";
    case NextHopKind::kOverlaySite:
      return "overlay_site";
    case NextHopKind::kHub:
      return "hub";
    case NextHopKind::kInternet:
      return "internet";
    case NextHopKind::kBlackhole:
      return "blackhole";
  }
  return "?";
}

bool Fib::create_tables(uint32_t v4, uint32_t tbl8_v4, uint32_t v6, uint32_t tbl8_v6,
                        std::string* error) {
  const uint32_t serial = g_fib_serial.fetch_add(1, std::memory_order_relaxed);
  char name[32];
  if (v4 > 0) {
    rte_fib_conf conf{};
    conf.type = RTE_FIB_DIR24_8;
    conf.default_nh = kNoRoute;
    conf.max_routes = max_routes(v4);
    conf.dir24_8.nh_sz = RTE_FIB_DIR24_8_2B;
    conf.dir24_8.num_tbl8 = tbl8_groups(tbl8_v4);
    std::snprintf(name, sizeof name, "tbfib4_%u", serial);
    v4_ = rte_fib_create(name, SOCKET_ID_ANY, &conf);
    if (v4_ == nullptr) {
      *error = std::string("rte_fib_create: ") + rte_strerror(rte_errno);
      return false;
    }
  }
  if (v6 > 0) {
    rte_fib6_conf conf{};
    conf.type = RTE_FIB6_TRIE;
    conf.default_nh = kNoRoute;
    conf.max_routes = max_routes(v6);
    conf.trie.nh_sz = RTE_FIB6_TRIE_2B;
    conf.trie.num_tbl8 = tbl8_groups(tbl8_v6);
    std::snprintf(name, sizeof name, "tbfib6_%u", serial);
    v6_ = rte_fib6_create(name, SOCKET_ID_ANY, &conf);
    if (v6_ == nullptr) {
      *error = std::string("rte_fib6_create: ") + rte_strerror(rte_errno);
      return false;
    }
  }
  return true;
}

std::shared_ptr<const Fib> Fib::build(std::vector<NextHop> next_hops,
                                      std::span<const FibRoute> routes, FibBuildReport* report) {
  FibBuildReport local;
  FibBuildReport* rep = report != nullptr ? report : &local;
  *rep = FibBuildReport{};
  const Accepted acc = validate(routes, next_hops.size(), rep);
  std::shared_ptr<Fib> fib(new Fib());
  fib->next_hops_ = std::move(next_hops);
  const uint32_t n4 = static_cast<uint32_t>(acc.v4.size());
  const uint32_t n6 = static_cast<uint32_t>(acc.v6.size());
  if (!fib->create_tables(n4, acc.tbl8_v4, n6, acc.tbl8_v6, &rep->error)) return nullptr;
  for (const FibRoute* r : acc.v4) {
    if (rte_fib_add(fib->v4_, r->addr.v4_host(), r->prefix_len, r->next_hop) != 0) {
      rep->error = std::string("rte_fib_add: ") + rte_strerror(rte_errno);
      return nullptr;
    }
  }
  for (const FibRoute* r : acc.v6) {
    if (rte_fib6_add(fib->v6_, r->addr.b.data(), r->prefix_len, r->next_hop) != 0) {
      rep->error = std::string("rte_fib6_add: ") + rte_strerror(rte_errno);
      return nullptr;
    }
  }
  fib->routes_v4_ = rep->installed_v4 = n4;
  fib->routes_v6_ = rep->installed_v6 = n6;
  return fib;
}

Fib::~Fib() {
  rte_fib_free(v4_);
  rte_fib6_free(v6_);
}

void Fib::lookup_v4_bulk(const uint32_t* ips, uint32_t* out, unsigned n) const noexcept {
  if (v4_ == nullptr) {
    std::fill(out, out + n, kNoRoute);
    return;
  }
  uint64_t nh[kChunk];
  for (unsigned done = 0; done < n; done += kChunk) {
    const unsigned k = std::min(kChunk, n - done);
    // rte_fib_lookup_bulk only reads the addresses; its prototype is not const.
    rte_fib_lookup_bulk(v4_, const_cast<uint32_t*>(ips + done), nh, static_cast<int>(k));
    for (unsigned i = 0; i < k; ++i) out[done + i] = static_cast<uint32_t>(nh[i]);
  }
}

void Fib::lookup_v6_bulk(const uint8_t (*ips)[16], uint32_t* out, unsigned n) const noexcept {
  if (v6_ == nullptr) {
    std::fill(out, out + n, kNoRoute);
    return;
  }
  uint64_t nh[kChunk];
  for (unsigned done = 0; done < n; done += kChunk) {
    const unsigned k = std::min(kChunk, n - done);
    rte_fib6_lookup_bulk(v6_, const_cast<uint8_t(*)[16]>(ips + done), nh, static_cast<int>(k));
    for (unsigned i = 0; i < k; ++i) out[done + i] = static_cast<uint32_t>(nh[i]);
  }
}

void Fib::lookup_bulk(const IpAddr* addrs, uint32_t* out, unsigned n) const noexcept {
  uint32_t ip4[kChunk], res4[kChunk], res6[kChunk];
  uint8_t ip6[kChunk][16];
  uint8_t idx4[kChunk], idx6[kChunk];
  for (unsigned done = 0; done < n; done += kChunk) {
    const unsigned k = std::min(kChunk, n - done);
    unsigned n4 = 0, n6 = 0;
    for (unsigned i = 0; i < k; ++i) {
      const IpAddr& a = addrs[done + i];
      if (a.is_v4()) {
        idx4[n4] = static_cast<uint8_t>(i);
        ip4[n4++] = a.v4_host();
      } else {
        idx6[n6] = static_cast<uint8_t>(i);
        std::copy(a.b.begin(), a.b.end(), ip6[n6++]);
      }
    }
    lookup_v4_bulk(ip4, res4, n4);
    lookup_v6_bulk(ip6, res6, n6);
    for (unsigned i = 0; i < n4; ++i) out[done + idx4[i]] = res4[i];
    for (unsigned i = 0; i < n6; ++i) out[done + idx6[i]] = res6[i];
  }
}

uint32_t Fib::lookup(const IpAddr& a) const noexcept {
  uint32_t out = kNoRoute;
  lookup_bulk(&a, &out, 1);
  return out;
}

}  // namespace traboule::dp

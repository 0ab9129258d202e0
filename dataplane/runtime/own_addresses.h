// SPDX-License-Identifier: Apache-2.0
// The box's own addresses (every interface's IPv4, IPv6 and link-local address), for the stages
// that answer or consume what is sent to the box itself (local, probe). Built once from the
// Site at start-up; lookups are a short linear scan (a few interfaces).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/runtime/site.h"

namespace traboule::dp {

// An IPv4-mapped address as the 4 bytes of the wire, in network order (compared, never printed).
inline uint32_t raw4(const IpAddr& a) noexcept {
  uint32_t v;
  std::memcpy(&v, a.v4_ptr(), 4);
  return v;
}

// An interface's IPv4 address as stages compare it with packet words (network order, as
// load_raw32 reads them), with its mask and directed broadcast (0 for /31 and /32, RFC 3021).
struct V4Words {
  uint32_t addr = 0;
  uint32_t mask = 0;
  uint32_t bcast = 0;
};
inline std::optional<V4Words> v4_words(const Interface& ifc) noexcept {
  if (!ifc.v4 || !ifc.v4->addr.is_v4()) return std::nullopt;
  const uint8_t plen = ifc.v4->plen > 32 ? 32 : ifc.v4->plen;
  uint8_t mask[4];
  put32(mask, plen == 0 ? 0 : ~uint32_t{0} << (32 - plen));
  V4Words w;
  w.addr = raw4(ifc.v4->addr);
  w.mask = load_raw32(mask);
  w.bcast = plen <= 30 ? (w.addr | ~w.mask) : 0;
  return w;
}

// The addresses a stage's per-port record keeps (fields iface, has_v4, v4, bcast4, has_v6, v6,
// has_ll, ll) filled from `ifc`: its IPv4 address and directed broadcast, global IPv6 and
// link-local addresses. Returns the IPv4 words, for the stages that keep more of them.
template <typename PortRecord>
std::optional<V4Words> fill_port_addresses(PortRecord& pi, Interface& ifc) noexcept {
  pi.iface = &ifc;
  const auto w = v4_words(ifc);
  if (w) {
    pi.has_v4 = true;
    pi.v4 = w->addr;
    pi.bcast4 = w->bcast;
  }
  if (ifc.v6 && !ifc.v6->addr.is_v4() && !ifc.v6->addr.is_zero()) {
    pi.has_v6 = true;
    pi.v6 = ifc.v6->addr;
  }
  if (!ifc.v6_link_local.is_zero()) {
    pi.has_ll = true;
    pi.ll = ifc.v6_link_local;
  }
  return w;
}

class OwnAddresses {
 public:
  explicit OwnAddresses(const Site& site) noexcept {
    for (size_t i = 0; i < site.ifaces.size(); ++i) {
      const Interface& ifc = *site.ifaces[i];
      const auto idx = static_cast<uint8_t>(i);
      if (ifc.v4 && ifc.v4->addr.is_v4() && n4_ < v4_.size()) {
        owner4_[n4_] = idx;
        v4_[n4_++] = raw4(ifc.v4->addr);
      }
      if (ifc.v6 && !ifc.v6->addr.is_v4() && !ifc.v6->addr.is_zero() && n6_ < v6_.size()) {
        owner6_[n6_] = idx;
        v6_[n6_++] = ifc.v6->addr;
      }
      if (!ifc.v6_link_local.is_zero() && n6_ < v6_.size()) {
        owner6_[n6_] = idx;
        v6_[n6_++] = ifc.v6_link_local;
      }
    }
  }
  bool has4(uint32_t raw) const noexcept {  // network order
    for (unsigned i = 0; i < n4_; ++i)
      if (v4_[i] == raw) return true;
    return false;
  }
  bool has6(const IpAddr& a) const noexcept {
    for (unsigned i = 0; i < n6_; ++i)
      if (v6_[i] == a) return true;
    return false;
  }
  // The index in site.ifaces of the interface that holds the address, or -1.
  int owner(const IpAddr& a) const noexcept {
    if (a.is_v4()) {
      const uint32_t raw = raw4(a);
      for (unsigned i = 0; i < n4_; ++i)
        if (v4_[i] == raw) return owner4_[i];
      return -1;
    }
    for (unsigned i = 0; i < n6_; ++i)
      if (v6_[i] == a) return owner6_[i];
    return -1;
  }

 private:
  std::array<uint32_t, kMaxPorts> v4_{};
  std::array<IpAddr, 2 * kMaxPorts> v6_{};
  std::array<uint8_t, kMaxPorts> owner4_{};
  std::array<uint8_t, 2 * kMaxPorts> owner6_{};
  unsigned n4_ = 0;
  unsigned n6_ = 0;
};

}  // namespace traboule::dp

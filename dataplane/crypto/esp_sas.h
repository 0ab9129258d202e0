// SPDX-License-Identifier: Apache-2.0
// The SAs the data plane seals and opens the overlay with, installed by the control plane (from
// the control sessions, docs/security.md): inbound SAs found by SPI with one array read (the
// SPI's low 16 bits index the table, its high 16 bits are random and never 0, so every SPI is at
// least 65536 and a stale or guessed one misses), outbound SAs by (slot, path) where slot is 0
// on an edge and the site on a hub, and path the edge's uplink.
//
// Workers only read pointers. The control thread swaps them and frees what it replaced after
// `synchronize` (the data plane's RCU grace period), so a worker never opens with a freed SA.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/crypto/esp_sa.h"
#include "dataplane/model/site_settings.h"
#include "dataplane/proto/overlay_header.h"

namespace traboule::dp {

class EspSas {
 public:
  static constexpr unsigned kIndexBits = 16;
  static constexpr unsigned kInbound = 1U << kIndexBits;

  // dev outlives this; synchronize returns once no worker can hold a pointer it read before.
  EspSas(CryptoDevice& dev, std::function<void()> synchronize);
  ~EspSas();
  EspSas(const EspSas&) = delete;
  EspSas& operator=(const EspSas&) = delete;

  // Control thread. A fresh inbound SPI (0 when every index is taken); it stays reserved until
  // remove_inbound.
  uint32_t reserve_spi();
  // Installs the inbound SA of a reserved SPI for (site, path); false with the reason.
  bool add_inbound(uint32_t spi, uint16_t site, uint8_t path, const EspKey& key,
                   std::string& error);
  bool remove_inbound(uint32_t spi);
  // Installs (or replaces: rekey) the SA that seals towards (slot, path).
  bool set_outbound(uint16_t slot, uint8_t path, uint32_t spi, const EspKey& key,
                    std::string& error);
  bool remove_outbound(uint16_t slot, uint8_t path);
  size_t inbound_count() const;

  // Workers.
  EspInbound* inbound(uint32_t spi) const noexcept {
    EspInbound* sa = in_[spi & (kInbound - 1)].load(std::memory_order_acquire);
    return sa != nullptr && sa->spi() == spi ? sa : nullptr;
  }
  EspOutbound* outbound(uint16_t slot, uint8_t path) const noexcept {
    if (slot > kMaxSiteId || path >= kMaxUplinks) return nullptr;
    return out_[size_t{slot} * kMaxUplinks + path].load(std::memory_order_acquire);
  }

 private:
  template <class T>
  void retire(std::atomic<T*>& slot, T* next);

  CryptoDevice& dev_;
  std::function<void()> synchronize_;
  std::unique_ptr<std::atomic<EspInbound*>[]> in_;
  std::unique_ptr<std::atomic<EspOutbound*>[]> out_;
  mutable std::mutex mu_;         // control threads
  std::vector<uint32_t> spi_of_;  // reserved SPI per index, 0: free
  uint32_t next_index_ = 0;
};

}  // namespace traboule::dp

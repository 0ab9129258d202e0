// SPDX-License-Identifier: Apache-2.0
#include "dataplane/crypto/esp_sas.h"

#include <rte_random.h>

namespace traboule::dp {

EspSas::EspSas(CryptoDevice& dev, std::function<void()> synchronize)
    : dev_(dev),
      synchronize_(std::move(synchronize)),
      in_(std::make_unique<std::atomic<EspInbound*>[]>(kInbound)),
      out_(std::make_unique<std::atomic<EspOutbound*>[]>(size_t{kMaxSiteId + 1} * kMaxUplinks)),
      spi_of_(kInbound, 0) {}

EspSas::~EspSas() {
  for (unsigned i = 0; i < kInbound; ++i) delete in_[i].load();
  for (size_t i = 0; i < size_t{kMaxSiteId + 1} * kMaxUplinks; ++i) delete out_[i].load();
}

// Swaps `next` in and frees what was there once no worker can still hold it.
template <class T>
void EspSas::retire(std::atomic<T*>& slot, T* next) {
  T* old = slot.exchange(next, std::memory_order_acq_rel);
  if (old == nullptr) return;
  if (synchronize_) synchronize_();
  delete old;  // its session is freed and zeroed by the driver
}

uint32_t EspSas::reserve_spi() {
  std::lock_guard lock(mu_);
  for (unsigned n = 0; n < kInbound; ++n) {
    const uint32_t index = (next_index_ + n) % kInbound;
    if (spi_of_[index] != 0) continue;
    // A random high half, never 0: SPIs of a reused index differ, and none is below 65536.
    const auto tag = static_cast<uint32_t>(rte_rand_max(0xffff) + 1);
    const uint32_t spi = tag << kIndexBits | index;
    spi_of_[index] = spi;
    next_index_ = index + 1;
    return spi;
  }
  return 0;
}

bool EspSas::add_inbound(uint32_t spi, uint16_t site, uint8_t path, const EspKey& key,
                         std::string& error) {
  std::lock_guard lock(mu_);
  const uint32_t index = spi & (kInbound - 1);
  if (spi == 0 || spi_of_[index] != spi) {
    error = "inbound SPI " + std::to_string(spi) + " was not reserved here";
    return false;
  }
  if (in_[index].load() != nullptr) {
    error = "inbound SPI " + std::to_string(spi) + " already has its SA";
    return false;
  }
  if (path >= kMaxUplinks || site > kMaxSiteId) {
    error = "inbound SA for site " + std::to_string(site) + " path " + std::to_string(path) +
            ": out of range";
    return false;
  }
  auto session = GcmSession::make(dev_, key, false, error);
  if (!session) return false;
  in_[index].store(new EspInbound(spi, key.salt, std::move(session), site, path),
                   std::memory_order_release);
  return true;
}

bool EspSas::remove_inbound(uint32_t spi) {
  std::lock_guard lock(mu_);
  const uint32_t index = spi & (kInbound - 1);
  if (spi == 0 || spi_of_[index] != spi) return false;
  retire(in_[index], static_cast<EspInbound*>(nullptr));
  spi_of_[index] = 0;
  return true;
}

bool EspSas::set_outbound(uint16_t slot, uint8_t path, uint32_t spi, const EspKey& key,
                          std::string& error) {
  if (slot > kMaxSiteId || path >= kMaxUplinks || spi < kEspMinSpi) {
    error = "outbound SA for slot " + std::to_string(slot) + " path " + std::to_string(path) +
            " SPI " + std::to_string(spi) + ": out of range";
    return false;
  }
  auto session = GcmSession::make(dev_, key, true, error);
  if (!session) return false;
  std::lock_guard lock(mu_);
  retire(out_[size_t{slot} * kMaxUplinks + path],
         new EspOutbound(spi, key.salt, std::move(session)));
  return true;
}

bool EspSas::remove_outbound(uint16_t slot, uint8_t path) {
  if (slot > kMaxSiteId || path >= kMaxUplinks) return false;
  std::lock_guard lock(mu_);
  retire(out_[size_t{slot} * kMaxUplinks + path], static_cast<EspOutbound*>(nullptr));
  return true;
}

size_t EspSas::inbound_count() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (unsigned i = 0; i < kInbound; ++i) n += in_[i].load() != nullptr ? 1 : 0;
  return n;
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The transport ports the box's own kernel used lately, per interface and protocol: what the
// punt path lets in from sources outside management.allow (the answers to connections the box
// opened itself: DNS, NTP, a TLS control session), so the WAN side stays closed otherwise.
// Written by every worker when the kernel sends (relaxed atomics: a lost update only delays a
// port's opening by one packet), read by every worker when a packet for the box arrives.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace traboule::dp {

class BoxPorts {
 public:
  // How long a port stays open after the kernel's last packet from it.
  static constexpr uint32_t kOpenSeconds = 300;

  // `tsc_hz` and `epoch_tsc`: the clock every worker passes to seconds().
  BoxPorts(unsigned interfaces, uint64_t tsc_hz, uint64_t epoch_tsc)
      : hz_(tsc_hz == 0 ? 1 : tsc_hz),
        epoch_(epoch_tsc),
        n_(interfaces),
        last_(std::make_unique<std::atomic<uint32_t>[]>(size_t{n_} * 2 * 65536)) {
    for (size_t i = 0; i < size_t{n_} * 2 * 65536; ++i)
      last_[i].store(0, std::memory_order_relaxed);
  }
  // The seconds count used() and open() take, from a TSC reading.
  uint32_t seconds(uint64_t tsc) const noexcept {
    return static_cast<uint32_t>((tsc - epoch_) / hz_) + kOpenSeconds + 1;
  }
  // `now_s`: any monotonic seconds count that starts above kOpenSeconds (0 means never).
  void used(unsigned iface, bool tcp, uint16_t port, uint32_t now_s) noexcept {
    if (iface < n_) slot(iface, tcp, port).store(now_s, std::memory_order_relaxed);
  }
  bool open(unsigned iface, bool tcp, uint16_t port, uint32_t now_s) const noexcept {
    if (iface >= n_) return false;
    uint32_t t = slot(iface, tcp, port).load(std::memory_order_relaxed);
    return t != 0 && now_s - t <= kOpenSeconds;
  }

 private:
  std::atomic<uint32_t>& slot(unsigned iface, bool tcp, uint16_t port) const noexcept {
    return last_[(size_t{iface} * 2 + (tcp ? 1 : 0)) * 65536 + port];
  }
  uint64_t hz_;
  uint64_t epoch_;
  unsigned n_;
  std::unique_ptr<std::atomic<uint32_t>[]> last_;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Memory that holds key material (issue 15 item 4: "memory holding them is wiped on removal"):
// SecretBytes<N> for one key or salt, WipedBuffer for a frame that carries keys. Both wipe
// themselves with OPENSSL_cleanse on destruction and when moved from, cannot be copied by
// accident (clone() says it), and have no operator<< so a key never reaches a log.
#pragma once

#include <openssl/crypto.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace traboule::cp {

// Test hook: called after each wipe with the wiped range, before the memory is released, so a
// test can see that the bytes are zero. nullptr (the default) in the daemon.
using WipeObserver = void (*)(const uint8_t* data, size_t size);
void set_wipe_observer(WipeObserver observer) noexcept;
void notify_wiped(const uint8_t* data, size_t size) noexcept;

template <size_t N>
class SecretBytes {
 public:
  static constexpr size_t kSize = N;
  SecretBytes() noexcept { bytes_.fill(0); }
  explicit SecretBytes(std::span<const uint8_t, N> from) noexcept {
    for (size_t i = 0; i < N; ++i) bytes_[i] = from[i];
  }
  ~SecretBytes() { wipe(); }
  SecretBytes(SecretBytes&& o) noexcept : bytes_(o.bytes_) { o.wipe(); }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      bytes_ = o.bytes_;
      o.wipe();
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes clone() const noexcept { return SecretBytes(std::span<const uint8_t, N>(bytes_)); }
  std::span<const uint8_t, N> view() const noexcept { return bytes_; }
  uint8_t* data() noexcept { return bytes_.data(); }
  bool operator==(const SecretBytes& o) const noexcept {
    return CRYPTO_memcmp(bytes_.data(), o.bytes_.data(), N) == 0;
  }
  bool is_zero() const noexcept {
    uint8_t acc = 0;
    for (uint8_t b : bytes_) acc |= b;
    return acc == 0;
  }
  void wipe() noexcept {
    OPENSSL_cleanse(bytes_.data(), N);
    notify_wiped(bytes_.data(), N);
  }

 private:
  std::array<uint8_t, N> bytes_;
};

// A growable byte buffer for frames that may hold keys: wiped (its whole capacity) on
// destruction, clear() and move-from.
class WipedBuffer {
 public:
  WipedBuffer() = default;
  ~WipedBuffer() { wipe(); }
  WipedBuffer(WipedBuffer&& o) noexcept : bytes_(std::move(o.bytes_)) { o.bytes_.clear(); }
  WipedBuffer& operator=(WipedBuffer&& o) noexcept {
    if (this != &o) {
      wipe();
      bytes_ = std::move(o.bytes_);
      o.bytes_.clear();
    }
    return *this;
  }
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;

  // Reserve up front: a reallocation would leave a copy of the bytes in freed memory.
  void reserve(size_t n) {
    if (n <= bytes_.capacity()) return;
    WipedBuffer bigger;
    bigger.bytes_.reserve(n);
    bigger.bytes_.assign(bytes_.begin(), bytes_.end());
    *this = std::move(bigger);
  }
  void append(std::span<const uint8_t> b) {
    if (bytes_.size() + b.size() > bytes_.capacity()) reserve(2 * (bytes_.size() + b.size()));
    bytes_.insert(bytes_.end(), b.begin(), b.end());
  }
  void push_back(uint8_t b) { append(std::span<const uint8_t>(&b, 1)); }
  void resize(size_t n) {
    reserve(n);
    bytes_.resize(n);
  }
  void clear() noexcept {
    wipe();
    bytes_.clear();
  }
  std::span<const uint8_t> view() const noexcept { return bytes_; }
  uint8_t* data() noexcept { return bytes_.data(); }
  size_t size() const noexcept { return bytes_.size(); }

 private:
  void wipe() noexcept {
    if (bytes_.capacity() == 0) return;
    OPENSSL_cleanse(bytes_.data(), bytes_.capacity());
    notify_wiped(bytes_.data(), bytes_.capacity());
  }
  std::vector<uint8_t> bytes_;
};

}  // namespace traboule::cp

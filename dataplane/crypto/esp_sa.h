// SPDX-License-Identifier: Apache-2.0
// ESP security associations on DPDK's cryptodev: AES-256-GCM run synchronously on the worker's
// own core through the device's CPU-crypto entry (`crypto_aesni_gcm`, Intel's ipsec-mb with
// AES-NI), in place in the mbuf. The framing is ours (dataplane/proto/esp.h), not rte_ipsec's:
// docs/security.md "Why not rte_ipsec" says why.
//
// An outbound SA numbers and seals; an inbound SA checks the replay window, opens, and only then
// moves the window. Several workers may use one SA: the sequence number is atomic, the window is
// checked under a lock before the cipher and again before it moves (the cipher runs unlocked),
// and the counters are atomic adds.
#pragma once

#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/proto/esp.h"

struct rte_mbuf;
struct rte_mempool;

namespace traboule::dp {

// An AES-256-GCM key and its salt; zeroed when destroyed (and when moved from).
struct EspKey {
  std::array<uint8_t, kEspKeyLen> key{};
  uint32_t salt = 0;
  EspKey() = default;
  EspKey(const EspKey&) = default;
  EspKey& operator=(const EspKey&) = default;
  EspKey(EspKey&& o) noexcept;
  EspKey& operator=(EspKey&& o) noexcept;
  ~EspKey();
  void wipe() noexcept;
};

// A cryptodev with CPU crypto, opened (its vdev created if the EAL command line did not) and
// started, with a pool for its sessions.
class CryptoDevice {
 public:
  // name: a cryptodev name, e.g. "crypto_aesni_gcm0" (a vdev of that name is created when no
  // device has it). Null with the reason in `error` when it cannot be used.
  static std::unique_ptr<CryptoDevice> open(const std::string& name, unsigned max_sessions,
                                            std::string& error);
  ~CryptoDevice();
  CryptoDevice(const CryptoDevice&) = delete;
  CryptoDevice& operator=(const CryptoDevice&) = delete;

  uint8_t id() const noexcept { return id_; }
  rte_mempool* session_pool() const noexcept { return pool_; }
  const std::string& driver() const noexcept { return driver_; }

 private:
  CryptoDevice(uint8_t id, rte_mempool* pool, std::string driver, bool created);
  uint8_t id_;
  rte_mempool* pool_;
  std::string driver_;
  bool created_;  // the vdev is ours to remove
};

// One AES-256-GCM session on a device, in one direction; freed with the object.
class GcmSession {
 public:
  static std::unique_ptr<GcmSession> make(CryptoDevice& dev, const EspKey& key, bool encrypt,
                                          std::string& error);
  ~GcmSession();
  GcmSession(const GcmSession&) = delete;
  GcmSession& operator=(const GcmSession&) = delete;

  // Seals or opens `len` bytes at `data` in place; the tag is written to / checked against
  // `tag`. False when the tag does not match (open) or the device refused.
  bool run(uint8_t* data, uint32_t len, const uint8_t* nonce, const uint8_t* aad,
           uint8_t* tag) const noexcept;

 private:
  GcmSession(uint8_t dev, void* sess) : dev_(dev), sess_(sess) {}
  uint8_t dev_;
  void* sess_;
};

struct EspSaCounters {  // read with read_counter (dataplane/model/counter.h) while running
  uint64_t packets = 0;
  uint64_t bytes = 0;  // payload bytes (before sealing / after opening)
};

class EspOutbound {
 public:
  enum class Result : uint8_t { kOk, kNotWritable, kNoRoom, kSeqExhausted, kCryptoFailed };
  EspOutbound(uint32_t spi, uint32_t salt, std::unique_ptr<GcmSession> session)
      : spi_(spi), salt_(salt), session_(std::move(session)) {}

  // The mbuf's data is the payload (overlay header and inner packet); on kOk it is the ESP
  // packet (header, IV, cipher text, trailer, tag), ready for the outer UDP/IP headers.
  Result protect(rte_mbuf* m, uint8_t next_header) noexcept;

  uint32_t spi() const noexcept { return spi_; }
  // The last sequence number used.
  uint64_t sent() const noexcept { return seq_.load(std::memory_order_relaxed); }
  const EspSaCounters& counters() const noexcept { return counters_; }
  // For tests: where the next packet's number starts (after `seq`).
  void set_sequence_for_test(uint64_t seq) noexcept { seq_.store(seq); }

 private:
  uint32_t spi_;
  uint32_t salt_;
  std::unique_ptr<GcmSession> session_;
  std::atomic<uint64_t> seq_{0};
  EspSaCounters counters_;
};

struct EspInboundCounters : EspSaCounters {
  uint64_t replayed = 0;     // a number already accepted
  uint64_t too_old = 0;      // below the window (or read past a wrap and then not authentic)
  uint64_t auth_failed = 0;  // the tag did not match
  uint64_t bad_trailer = 0;  // the tag matched but the padding is not ours
};

class EspInbound {
 public:
  enum class Result : uint8_t {
    kOk,
    kNotWritable,
    kTooShort,
    kMisaligned,
    kReplayed,
    kTooOld,
    kAuthFailed,
    kBadTrailer
  };
  // site, path: whose packets this SA carries (the overlay header inside must say the same).
  EspInbound(uint32_t spi, uint32_t salt, std::unique_ptr<GcmSession> session, uint16_t site = 0,
             uint8_t path = 0)
      : spi_(spi), salt_(salt), session_(std::move(session)), site_(site), path_(path) {
    rte_spinlock_init(&lock_);
  }

  // The mbuf's data starts at the ESP header (the outer headers removed) and its SPI is this
  // SA's. On kOk the data is the payload and `next_header` is set; on any other result the mbuf
  // is unchanged apart from the cipher text (which is then garbage) and the window did not move.
  Result open(rte_mbuf* m, uint8_t& next_header) noexcept;

  uint32_t spi() const noexcept { return spi_; }
  uint16_t site() const noexcept { return site_; }
  uint8_t path() const noexcept { return path_; }
  const ReplayWindow& window() const noexcept { return window_; }
  // For tests: a receiver that has already accepted up to some number (2^32 packets cannot be
  // walked one by one).
  ReplayWindow& window_for_test() noexcept { return window_; }
  const EspInboundCounters& counters() const noexcept { return counters_; }

 private:
  uint32_t spi_;
  uint32_t salt_;
  std::unique_ptr<GcmSession> session_;
  // kOk for a number that may be new, else the drop counted.
  Result refuse(ReplayWindow::Verdict v) noexcept;

  uint16_t site_;
  uint8_t path_;
  rte_spinlock_t lock_;  // the window's
  ReplayWindow window_;
  EspInboundCounters counters_;
};

const char* to_string(EspOutbound::Result r) noexcept;
const char* to_string(EspInbound::Result r) noexcept;

}  // namespace traboule::dp

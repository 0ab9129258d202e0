// SPDX-License-Identifier: Apache-2.0
// The overlay's receive-side tables: passive measurement per received path, the hub's table of
// where each site's paths end (and per-path send sequences), the duplicate filter.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include "dataplane/model/counter.h"
#include "dataplane/model/site_settings.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/proto/overlay_header.h"

namespace traboule::dp {

// Passive measurement of one received path (one sender uplink towards us), per worker: the
// sequence numbers and transmit times of live traffic. Written by the decap stage only,
// read by control threads with read_counter().
//
// Nothing in an overlay packet is authenticated yet, so one forged packet must not be able to
// say much: a sequence more than kPassiveWindow (1024) ahead of or behind the highest is not
// loss nor reordering but an outlier (`seq_jumps`), and it does not move the highest either.
// Only kPassiveResync consecutive outliers agreeing on a new sequence space (each one the
// previous + 1, with no packet of the old space between them) move the path there (`resyncs`):
// a sender that restarted (its sequence begins at 1 again) is followed after 3 packets, without
// counting the jump as loss. 1024 is also the duplicate filter's window: beyond it a receiver
// cannot tell a late packet from a replayed one. A real outage of more than 1024 packets on a
// busy path is then not counted here either; the direct measurement counters (received, against
// what the sender says it sent, docs/links.md) and the probes see it.
inline constexpr uint32_t kPassiveWindow = 1024;
inline constexpr uint8_t kPassiveResync = 3;

struct alignas(64) PassivePath {
  uint64_t received = 0;  // every packet of the path that passed the header checks
  std::array<uint32_t, kClassTags> received_cls{};  // ... by class tag (wrapping, like DM)
  uint64_t lost = 0;         // sequence gaps (later filled by reordered packets are subtracted)
  uint64_t reordered = 0;    // arrived with a sequence below the highest seen (RFC 4737)
  uint64_t duplicates = 0;   // a sequence already received (the highest, or one of the 63 below)
  uint64_t jitter_us16 = 0;  // RFC 3550 interarrival jitter of tx_us vs arrival, µs × 16
  uint64_t seq_jumps = 0;    // outliers: more than kPassiveWindow ahead or behind (not loss)
  uint64_t resyncs = 0;      // the path followed its sender to a new sequence space
  uint64_t seen = 0;         // bit i: highest_seq − i was received (late duplicates, i < 64)
  uint32_t highest_seq = 0;
  uint32_t cand_seq = 0;  // last outlier; the next one agreeing with it extends the run
  uint8_t cand_run = 0;
  bool started = false;
  int64_t last_transit_us = 0;

  // RFC 3550 §6.4.1 with the sender's and our microseconds; their offset cancels out.
  void on_packet(uint32_t seq, uint32_t tx_us, uint32_t rx_us) noexcept {
    bump(received);
    const int64_t transit = static_cast<int32_t>(rx_us - tx_us);
    if (!started) {
      started = true;
      restart(seq, 1, transit);
      return;
    }
    const int32_t ahead = static_cast<int32_t>(seq - highest_seq);
    if (ahead > static_cast<int32_t>(kPassiveWindow) ||
        ahead < -static_cast<int32_t>(kPassiveWindow)) {
      outlier(seq, transit);
      return;
    }
    cand_run = 0;  // the current space goes on: forget a candidate new one
    if (ahead > 0) {
      if (ahead > 1) bump(lost, static_cast<uint64_t>(ahead - 1));
      seen = ahead >= 64 ? 1 : (seen << ahead | 1);
      highest_seq = seq;
    } else if (ahead == 0) {
      bump(duplicates);
    } else {
      const auto back = static_cast<uint32_t>(-ahead);
      if (back < 64 && (seen >> back & 1)) {
        bump(duplicates);  // a late copy of one already counted: fills no gap
      } else {
        // A late packet filling a gap (beyond 64 below the highest a late duplicate cannot be
        // told apart, and undercounts loss by one).
        if (back < 64) seen |= uint64_t{1} << back;
        bump(reordered);
        if (read_counter(lost) > 0)
          std::atomic_ref<uint64_t>(lost).fetch_sub(1, std::memory_order_relaxed);
      }
    }
    int64_t d = transit - last_transit_us;
    if (d < 0) d = -d;
    last_transit_us = transit;
    // J += (|D| - J) / 16, kept as J × 16.
    const int64_t j16 = static_cast<int64_t>(jitter_us16);
    std::atomic_ref<uint64_t>(jitter_us16)
        .store(static_cast<uint64_t>(j16 + d - (j16 >> 4)), std::memory_order_relaxed);
  }

 private:
  void restart(uint32_t seq, uint8_t run, int64_t transit) noexcept {
    highest_seq = seq;
    seen = run >= 64 ? ~uint64_t{0} : (uint64_t{1} << run) - 1;
    last_transit_us = transit;
    cand_run = 0;
  }
  // Neither loss nor jitter: a forged or mangled packet, or the first ones of a restarted sender.
  void outlier(uint32_t seq, int64_t transit) noexcept {
    bump(seq_jumps);
    if (cand_run != 0 && seq == cand_seq + 1) {
      ++cand_run;
    } else {
      cand_run = 1;
    }
    cand_seq = seq;
    if (cand_run >= kPassiveResync) {
      bump(resyncs);
      restart(seq, kPassiveResync, transit);
    }
  }
};

// A hub's view of where each site's paths end: written by whichever worker decapsulates a
// packet of that path (only on a change, and the receive time at most once a millisecond),
// read by every worker that encapsulates towards the site. Fields are independent relaxed
// atomics: a reader racing an address change may send one packet to the old address.
class OverlaySites {
 public:
  struct Path {
    std::atomic<uint64_t> addr_hi{0}, addr_lo{0};  // IpAddr bytes 0-7, 8-15
    std::atomic<uint16_t> port{0};                 // 0: never seen
    std::atomic<uint64_t> last_rx_tsc{0};
    // Sender side: our sequence towards this path ([0][uplink] on an edge, [site][path] on a
    // hub), and ([site][0]) the duplicate-strategy sequence towards the site.
    std::atomic<uint32_t> tx_seq{0};
    std::atomic<uint32_t> dup_seq{0};
    // Sender side, per class tag: packets encapsulated, and those of them our own qos or tx
    // stage dropped afterwards (a loss the path did not cause: direct measurement subtracts it).
    std::array<std::atomic<uint32_t>, kClassTags> tx_cls{};
    std::array<std::atomic<uint32_t>, kClassTags> dropped_cls{};
  };

  OverlaySites() : sites_(std::make_unique<std::array<Path, kMaxUplinks>[]>(kMaxSiteId + 1)) {}

  void learn(uint16_t site, uint8_t path, const IpAddr& addr, uint16_t port, uint64_t tsc,
             uint64_t tsc_hz) noexcept {
    if (site == 0 || site > kMaxSiteId || path >= kMaxUplinks) return;
    Path& p = sites_[site][path];
    uint64_t hi, lo;
    std::memcpy(&hi, addr.b.data(), 8);
    std::memcpy(&lo, addr.b.data() + 8, 8);
    if (p.addr_hi.load(std::memory_order_relaxed) != hi)
      p.addr_hi.store(hi, std::memory_order_relaxed);
    if (p.addr_lo.load(std::memory_order_relaxed) != lo)
      p.addr_lo.store(lo, std::memory_order_relaxed);
    if (p.port.load(std::memory_order_relaxed) != port)
      p.port.store(port, std::memory_order_release);
    if (tsc - p.last_rx_tsc.load(std::memory_order_relaxed) > tsc_hz / 1000)
      p.last_rx_tsc.store(tsc, std::memory_order_relaxed);
  }
  // Where to send to `site` on its path `path`; false when that path was never seen.
  bool endpoint(uint16_t site, uint8_t path, IpAddr& addr, uint16_t& port) const noexcept {
    if (site == 0 || site > kMaxSiteId || path >= kMaxUplinks) return false;
    const Path& p = sites_[site][path];
    port = p.port.load(std::memory_order_acquire);
    if (port == 0) return false;
    const uint64_t hi = p.addr_hi.load(std::memory_order_relaxed);
    const uint64_t lo = p.addr_lo.load(std::memory_order_relaxed);
    std::memcpy(addr.b.data(), &hi, 8);
    std::memcpy(addr.b.data() + 8, &lo, 8);
    return true;
  }
  const Path& path(uint16_t site, uint8_t p) const noexcept { return sites_[site][p]; }
  Path& path(uint16_t site, uint8_t p) noexcept { return sites_[site][p]; }

  // The encap stage counts what it sent on a path (slot: 0 on an edge, the site on a hub);
  // a later stage of ours that drops one of those packets says so here.
  void count_tx(uint16_t slot, uint8_t path, uint8_t tag) noexcept {
    if (slot > kMaxSiteId || path >= kMaxUplinks || tag >= kClassTags) return;
    sites_[slot][path].tx_cls[tag].fetch_add(1, std::memory_order_relaxed);
  }
  void own_drop(uint16_t slot, uint8_t path, uint8_t tag) noexcept {
    if (slot > kMaxSiteId || path >= kMaxUplinks || tag >= kClassTags) return;
    sites_[slot][path].dropped_cls[tag].fetch_add(1, std::memory_order_relaxed);
  }
  // Packets that left on a path (direct measurement's S_TxC / R_TxC): encapsulated minus our own
  // later drops, for one class tag or (tag kClassTags) all of them. 32-bit, wrapping.
  uint32_t tx_packets(uint16_t slot, uint8_t path, uint8_t tag = kClassTags) const noexcept {
    if (slot > kMaxSiteId || path >= kMaxUplinks) return 0;
    const Path& p = sites_[slot][path];
    if (tag < kClassTags)
      return p.tx_cls[tag].load(std::memory_order_relaxed) -
             p.dropped_cls[tag].load(std::memory_order_relaxed);
    uint32_t dropped = 0;
    for (const auto& d : p.dropped_cls) dropped += d.load(std::memory_order_relaxed);
    return p.tx_seq.load(std::memory_order_relaxed) - dropped;
  }

  // Direct measurement (docs/links.md): each worker's decap stage registers its passive figures
  // (slots × kMaxUplinks, at start-up, before the workers run; it unregisters when destroyed),
  // so that the probe stage of any worker can add up what the box received on a path. false
  // when every entry is taken (that worker's packets are then not counted).
  static constexpr unsigned kMaxRxTables = 64;
  bool attach_rx(const PassivePath* table, size_t slots) noexcept {
    for (RxTable& t : rx_) {
      const PassivePath* none = nullptr;
      if (!t.paths.compare_exchange_strong(none, table, std::memory_order_acq_rel)) continue;
      t.slots.store(slots, std::memory_order_release);  // a reader seeing 0 skips the table
      return true;
    }
    return false;
  }
  void detach_rx(const PassivePath* table) noexcept {  // once the workers have stopped
    for (RxTable& t : rx_)
      if (t.paths.load(std::memory_order_relaxed) == table) {
        t.slots.store(0, std::memory_order_relaxed);
        t.paths.store(nullptr, std::memory_order_release);
      }
  }
  // Overlay data packets received on `path` of `slot` (an edge: slot = our uplink; a hub: slot =
  // site), summed over the workers; relaxed reads of counters each worker writes alone.
  // With a class tag (< kClassTags): only that class's packets, 32-bit wrapping.
  uint64_t rx_packets(uint16_t slot, uint8_t path, uint8_t tag = kClassTags) const noexcept {
    if (path >= kMaxUplinks) return 0;
    uint64_t n = 0;
    for (const RxTable& t : rx_) {
      const PassivePath* p = t.paths.load(std::memory_order_acquire);
      if (p == nullptr || slot >= t.slots.load(std::memory_order_acquire)) continue;
      const PassivePath& pp = p[size_t{slot} * kMaxUplinks + path];
      n += tag < kClassTags ? uint64_t{read_counter(pp.received_cls[tag])}
                            : read_counter(pp.received);
    }
    return tag < kClassTags ? uint32_t(n) : n;
  }

 private:
  struct RxTable {
    std::atomic<const PassivePath*> paths{nullptr};
    std::atomic<size_t> slots{0};
  };
  std::unique_ptr<std::array<Path, kMaxUplinks>[]> sites_;
  std::array<RxTable, kMaxRxTables> rx_{};
};

// The receiver side of the duplicate strategy: each packet sent on two paths carries one
// dup_seq; the first copy passes, the second is dropped. A window of the last 1024 sequence
// numbers per site, per worker; anything older than the window is dropped as a duplicate of
// something we cannot tell apart any more (counted as too_old by the stage).
class DupFilter {
 public:
  enum class Verdict : uint8_t { kFirst, kDuplicate, kTooOld };
  Verdict check(uint32_t seq) noexcept {
    if (!started_) {
      started_ = true;
      top_ = seq;
      bits_.fill(0);
      set(seq);
      return Verdict::kFirst;
    }
    const int32_t ahead = static_cast<int32_t>(seq - top_);
    if (ahead > 0) {
      if (static_cast<uint32_t>(ahead) >= kWindow) {
        bits_.fill(0);
      } else {
        for (uint32_t s = top_ + 1; s != seq; ++s) clear(s);
      }
      top_ = seq;
      clear(seq);
      set(seq);
      return Verdict::kFirst;
    }
    if (top_ - seq >= kWindow) return Verdict::kTooOld;  // unsigned: no overflow at 2^31
    if (test(seq)) return Verdict::kDuplicate;
    set(seq);
    return Verdict::kFirst;
  }

 private:
  static constexpr uint32_t kWindow = 1024;
  void set(uint32_t s) noexcept { bits_[(s % kWindow) / 64] |= 1ull << (s % 64); }
  void clear(uint32_t s) noexcept { bits_[(s % kWindow) / 64] &= ~(1ull << (s % 64)); }
  bool test(uint32_t s) const noexcept { return (bits_[(s % kWindow) / 64] >> (s % 64)) & 1; }
  std::array<uint64_t, kWindow / 64> bits_{};
  uint32_t top_ = 0;
  bool started_ = false;
};

}  // namespace traboule::dp

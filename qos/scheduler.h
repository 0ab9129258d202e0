// SPDX-License-Identifier: Apache-2.0
// Egress scheduler for one uplink: up to 8 classes in strict-priority levels, deficit round robin
// by weight inside a level, optional per-class cap (policed or shaped) and guaranteed minimum,
// and a port shaper at the uplink rate so queues build here and not in the modem.
// Templated on the queued item (the data plane uses rte_mbuf*); no allocation after
// construction, no exceptions after construction, the caller supplies the time.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "qos/token_bucket.h"

namespace traboule::qos {

inline constexpr size_t kMaxSchedClasses = 8;
inline constexpr uint8_t kMaxPriority = 7;  // levels 0 (highest) .. 7
inline constexpr uint16_t kMaxWeight = 1000;
inline constexpr uint32_t kMaxQueuePackets = 1u << 20;
// Items above this are refused at enqueue: bounds the DRR rounds a single item can need.
inline constexpr uint64_t kMaxSchedItemBytes = 256 * 1024;
inline constexpr uint32_t kMinQuantumBytes = 64;
inline constexpr uint64_t kDefaultMinBurstBytes = 2 * 1514;

// What a class cap does with traffic above it. kAuto: police a class that has strict priority
// over another class (dropping at enqueue keeps its latency low and stops it starving the
// levels below), shape a class of the lowest level in use (hold it in its queue).
enum class CapMode : uint8_t { kAuto, kPolice, kShape };

struct SchedClassConfig {
  uint8_t priority = 0;          // 0 highest; strict priority between levels
  uint16_t weight = 1;           // 1..1000, DRR share inside the level
  uint64_t min_rate_bps = 0;     // guaranteed, served ahead of the levels; 0: none
  uint64_t max_rate_bps = 0;     // cap; 0: none
  uint64_t cap_burst_bytes = 0;  // cap bucket depth; 0: max(3028, 10 ms at the cap)
  CapMode cap_mode = CapMode::kAuto;
  uint32_t queue_packets = 256;  // ring capacity (allocated at construction)
  uint64_t queue_bytes = 0;      // byte limit of the queue; 0: none
};

struct SchedulerConfig {
  uint64_t port_rate_bps = 0;             // uplink rate; 0: not shaped
  uint64_t port_burst_bytes = 0;          // 0: max(3028, 1 ms at the port rate)
  uint32_t quantum_bytes = 1514;          // DRR quantum of weight 1
  uint64_t rate_window_ns = 100'000'000;  // rate estimate window
  std::vector<SchedClassConfig> classes;  // 1..8, index = class id

  // "" when valid, else an error naming the field ("classes[2].weight") and its value.
  std::string validate() const;
};

enum class EnqueueResult : uint8_t {
  kAccepted,
  kUnknownClass,      // class index out of range (counted on the scheduler)
  kTooLarge,          // item above kMaxSchedItemBytes
  kQueueFullPackets,  // tail drop: ring full
  kQueueFullBytes,    // tail drop: byte limit
  kOverCap,           // policed class above its max rate
};
inline constexpr size_t kDropReasonCount = 5;  // every result but kAccepted
std::string_view enqueue_result_name(EnqueueResult r) noexcept;

struct ClassStats {
  uint64_t enqueued_packets = 0, enqueued_bytes = 0;
  uint64_t dequeued_packets = 0, dequeued_bytes = 0;
  // Indexed by EnqueueResult - 1 (kUnknownClass never counts on a class).
  std::array<uint64_t, kDropReasonCount> dropped_packets{};
  uint64_t dropped_bytes = 0;
  uint32_t depth_packets = 0;
  uint64_t depth_bytes = 0;
  double arrival_rate_bps = 0;    // offered (accepted or not), over the last window
  double departure_rate_bps = 0;  // dequeued, over the last window
  uint64_t dropped(EnqueueResult r) const noexcept {
    size_t i = static_cast<size_t>(r);
    return i == 0 || i > kDropReasonCount ? 0 : dropped_packets[i - 1];
  }
};

inline std::string_view enqueue_result_name(EnqueueResult r) noexcept {
  switch (r) {
    case EnqueueResult::kAccepted:
      return "accepted";
    case EnqueueResult::kUnknownClass:
      return "unknown_class";
    case EnqueueResult::kTooLarge:
      return "too_large";
    case EnqueueResult::kQueueFullPackets:
      return "queue_full_packets";
    case EnqueueResult::kQueueFullBytes:
      return "queue_full_bytes";
    case EnqueueResult::kOverCap:
      return "over_cap";
  }
  return "?";
}

inline std::string SchedulerConfig::validate() const {
  auto bad = [](const std::string& field, uint64_t v, std::string_view why) {
    return field + " " + std::to_string(v) + ": " + std::string(why);
  };
  if (port_rate_bps > kMaxRateBps) return bad("port_rate_bps", port_rate_bps, "above 400 Gbit/s");
  if (port_burst_bytes > kMaxBurstBytes)
    return bad("port_burst_bytes", port_burst_bytes, "above 512 MiB");
  if (quantum_bytes < kMinQuantumBytes || quantum_bytes > 1'000'000)
    return bad("quantum_bytes", quantum_bytes, "must be 64..1000000");
  if (rate_window_ns == 0) return bad("rate_window_ns", 0, "must be positive");
  if (classes.empty() || classes.size() > kMaxSchedClasses)
    return bad("classes (count)", classes.size(), "must be 1..8");
  for (size_t i = 0; i < classes.size(); ++i) {
    const SchedClassConfig& c = classes[i];
    std::string f = "classes[" + std::to_string(i) + "].";
    if (c.priority > kMaxPriority) return bad(f + "priority", c.priority, "must be 0..7");
    if (c.weight < 1 || c.weight > kMaxWeight)
      return bad(f + "weight", c.weight, "must be 1..1000");
    if (c.min_rate_bps > kMaxRateBps)
      return bad(f + "min_rate_bps", c.min_rate_bps, "above 400 Gbit/s");
    if (c.max_rate_bps > kMaxRateBps)
      return bad(f + "max_rate_bps", c.max_rate_bps, "above 400 Gbit/s");
    if (c.max_rate_bps != 0 && c.min_rate_bps > c.max_rate_bps)
      return bad(f + "min_rate_bps", c.min_rate_bps,
                 "above max_rate_bps " + std::to_string(c.max_rate_bps));
    if (c.cap_burst_bytes > kMaxBurstBytes)
      return bad(f + "cap_burst_bytes", c.cap_burst_bytes, "above 512 MiB");
    if (c.queue_packets < 1 || c.queue_packets > kMaxQueuePackets)
      return bad(f + "queue_packets", c.queue_packets, "must be 1..1048576");
  }
  return "";
}

// SizeFn: a nothrow callable giving an item's size in bytes (what the shapers charge).
// Ownership: an accepted item belongs to the scheduler until dequeue() or drain() hands it back;
// a refused item stays with the caller (free the mbuf on any result but kAccepted).
template <typename Item, typename SizeFn>
class Scheduler {
  static_assert(std::is_nothrow_invocable_r_v<uint64_t, SizeFn&, const Item&>,
                "SizeFn must be a noexcept callable returning the item's size in bytes");
  static_assert(std::is_nothrow_move_assignable_v<Item> &&
                std::is_nothrow_default_constructible_v<Item>);

 public:
  // Throws std::invalid_argument with SchedulerConfig::validate()'s message (start-up only).
  explicit Scheduler(const SchedulerConfig& config, SizeFn size_fn = SizeFn{}, uint64_t now_ns = 0)
      : size_fn_(std::move(size_fn)), window_ns_(config.rate_window_ns) {
    if (std::string err = config.validate(); !err.empty()) throw std::invalid_argument(err);
    n_classes_ = config.classes.size();
    shaped_ = config.port_rate_bps != 0;
    if (shaped_) {
      uint64_t burst = config.port_burst_bytes;
      if (burst == 0) burst = std::max(kDefaultMinBurstBytes, config.port_rate_bps / 8 / 1000);
      port_ = TokenBucket({config.port_rate_bps, std::min(burst, kMaxBurstBytes)}, now_ns);
    }
    uint8_t lowest = 0;
    for (const SchedClassConfig& c : config.classes) lowest = std::max(lowest, c.priority);
    size_t total_slots = 0;
    for (const SchedClassConfig& c : config.classes) total_slots += c.queue_packets;
    slots_.resize(total_slots);
    size_t offset = 0;
    for (size_t i = 0; i < n_classes_; ++i) {
      const SchedClassConfig& c = config.classes[i];
      Class& k = classes_[i];
      k.offset = offset;
      k.capacity = c.queue_packets;
      offset += c.queue_packets;
      k.byte_limit = c.queue_bytes;
      k.quantum = uint64_t{c.weight} * config.quantum_bytes;
      if (c.max_rate_bps != 0) {
        uint64_t burst = c.cap_burst_bytes;
        if (burst == 0) burst = std::max(kDefaultMinBurstBytes, c.max_rate_bps / 8 / 100);
        k.cap = TokenBucket({c.max_rate_bps, std::min(burst, kMaxBurstBytes)}, now_ns);
        bool police =
            c.cap_mode == CapMode::kPolice || (c.cap_mode == CapMode::kAuto && c.priority < lowest);
        k.police = police;
        k.shape = !police;
      }
      if (c.min_rate_bps != 0) {
        uint64_t burst = std::max<uint64_t>(config.quantum_bytes, c.min_rate_bps / 8 / 1000);
        k.min = TokenBucket({c.min_rate_bps, std::min(burst, kMaxBurstBytes)}, now_ns);
        k.has_min = true;
        any_min_ = true;
      }
      k.window_start_ns = now_ns;
      Level& l = levels_[c.priority];
      l.members[l.n++] = static_cast<uint8_t>(i);
    }
  }

  size_t class_count() const noexcept { return n_classes_; }
  bool shaped() const noexcept { return shaped_; }
  uint32_t depth_packets() const noexcept { return total_packets_; }
  uint64_t unknown_class_drops() const noexcept { return unknown_class_drops_; }
  // True if the class's cap is enforced by dropping at enqueue (see CapMode).
  // (The size test is also against the array: GCC 12 at -O2 warns of a constant index past it.)
  bool policed(size_t cls) const noexcept {
    return cls < n_classes_ && cls < classes_.size() && classes_[cls].police;
  }

  EnqueueResult enqueue(size_t cls, Item item, uint64_t now_ns) noexcept {
    if (cls >= n_classes_ || cls >= classes_.size()) {
      ++unknown_class_drops_;
      return EnqueueResult::kUnknownClass;
    }
    Class& k = classes_[cls];
    uint64_t bytes = size_fn_(item);
    roll(k, now_ns);
    k.win_in_bytes += bytes;
    EnqueueResult r = EnqueueResult::kAccepted;
    if (bytes > kMaxSchedItemBytes)
      r = EnqueueResult::kTooLarge;
    else if (k.count == k.capacity)
      r = EnqueueResult::kQueueFullPackets;
    else if (k.byte_limit != 0 && k.bytes + bytes > k.byte_limit)
      r = EnqueueResult::kQueueFullBytes;
    else if (k.police && !k.cap.try_consume(bytes, now_ns))
      r = EnqueueResult::kOverCap;
    if (r != EnqueueResult::kAccepted) {
      ++k.stats.dropped_packets[static_cast<size_t>(r) - 1];
      k.stats.dropped_bytes += bytes;
      return r;
    }
    size_t tail = k.head + k.count;
    if (tail >= k.capacity) tail -= k.capacity;
    Slot& s = slots_[k.offset + tail];
    s.item = std::move(item);
    s.bytes = static_cast<uint32_t>(bytes);
    ++k.count;
    k.bytes += bytes;
    ++total_packets_;
    ++k.stats.enqueued_packets;
    k.stats.enqueued_bytes += bytes;
    return r;
  }

  // Releases up to min(max, out.size()) items while the port shaper has credit; returns how
  // many were written to `out`, in sending order.
  size_t dequeue(uint64_t now_ns, std::span<Item> out,
                 size_t max = std::numeric_limits<size_t>::max()) noexcept {
    size_t limit = std::min(max, out.size()), n = 0;
    while (n < limit && total_packets_ != 0) {
      if (shaped_ && !port_.has_credit(now_ns)) break;
      int cls = pick(now_ns);
      if (cls < 0) break;
      out[n++] = pop(static_cast<size_t>(cls), now_ns);
    }
    return n;
  }

  // Earliest time at which dequeue() may release something: now_ns if it can now, kNever when
  // every queue is empty. Exact for the shapers; the data plane sleeps or polls until then.
  uint64_t next_release_ns(uint64_t now_ns) noexcept {
    if (total_packets_ == 0) return kNever;
    uint64_t wait_class = kNever;
    for (size_t i = 0; i < n_classes_ && wait_class != 0; ++i) {
      Class& k = classes_[i];
      if (k.count == 0) continue;
      wait_class = std::min(wait_class, k.shape ? k.cap.ns_until(0, now_ns) : 0);
    }
    uint64_t wait_port = shaped_ ? port_.ns_until(0, now_ns) : 0;
    uint64_t wait = std::max(wait_class, wait_port);
    return wait >= kNever - now_ns ? kNever : now_ns + wait;
  }

  // Counters of class `cls` (zeros for an unknown index); rates over the last window at now_ns.
  ClassStats class_stats(size_t cls, uint64_t now_ns) const noexcept {
    if (cls >= n_classes_ || cls >= classes_.size()) return {};
    const Class& k = classes_[cls];
    ClassStats s = k.stats;
    s.depth_packets = k.count;
    s.depth_bytes = k.bytes;
    uint64_t elapsed = now_ns > k.window_start_ns ? now_ns - k.window_start_ns : 0;
    if (elapsed >= window_ns_) {  // the current window is complete: it is the newest estimate
      s.arrival_rate_bps = rate(k.win_in_bytes, elapsed);
      s.departure_rate_bps = rate(k.win_out_bytes, elapsed);
    } else {
      s.arrival_rate_bps = k.in_rate_bps;
      s.departure_rate_bps = k.out_rate_bps;
    }
    return s;
  }

  // Hands every queued item to fn (shutdown, uplink removed, a new configuration taking the
  // backlog over): nothing is leaked. fn(item) or fn(item, class index).
  template <typename Fn>
  void drain(Fn&& fn) {
    for (size_t i = 0; i < n_classes_; ++i) {
      Class& k = classes_[i];
      while (k.count != 0) {
        Slot& s = slots_[k.offset + k.head];
        k.head = k.head + 1 == k.capacity ? 0 : k.head + 1;
        --k.count;
        --total_packets_;
        k.bytes -= s.bytes;
        if constexpr (std::is_invocable_v<Fn&, Item, size_t>)
          fn(std::move(s.item), i);
        else
          fn(std::move(s.item));
      }
      k.deficit = 0;
    }
  }

 private:
  struct Slot {
    Item item{};
    uint32_t bytes = 0;
  };
  struct Class {
    size_t offset = 0, capacity = 0, head = 0, count = 0;
    uint64_t bytes = 0, byte_limit = 0;
    uint64_t quantum = 0, deficit = 0;
    bool police = false, shape = false, has_min = false;
    TokenBucket cap, min;
    ClassStats stats;
    uint64_t window_start_ns = 0, win_in_bytes = 0, win_out_bytes = 0;
    double in_rate_bps = 0, out_rate_bps = 0;
  };
  struct Level {
    std::array<uint8_t, kMaxSchedClasses> members{};
    uint8_t n = 0, cursor = 0;
    bool visited = false;  // the cursor's class got its quantum for this visit
  };

  static double rate(uint64_t bytes, uint64_t elapsed_ns) noexcept {
    return elapsed_ns == 0 ? 0.0
                           : static_cast<double>(bytes) * 8e9 / static_cast<double>(elapsed_ns);
  }

  void roll(Class& k, uint64_t now_ns) noexcept {
    if (now_ns <= k.window_start_ns || now_ns - k.window_start_ns < window_ns_) return;
    uint64_t elapsed = now_ns - k.window_start_ns;
    k.in_rate_bps = rate(k.win_in_bytes, elapsed);
    k.out_rate_bps = rate(k.win_out_bytes, elapsed);
    k.win_in_bytes = k.win_out_bytes = 0;
    k.window_start_ns = now_ns;
  }

  bool cap_open(Class& k, uint64_t now_ns) noexcept { return !k.shape || k.cap.has_credit(now_ns); }

  uint64_t head_bytes(const Class& k) const noexcept { return slots_[k.offset + k.head].bytes; }

  // The class to serve next, or -1 if every backlogged class is held by its cap.
  int pick(uint64_t now_ns) noexcept {
    // Guarantees first: a class under its min rate goes ahead of the strict levels, so an
    // uncapped higher level cannot take its minimum away.
    if (any_min_) {
      for (size_t j = 0; j < n_classes_; ++j) {
        size_t i = min_cursor_ + j;
        if (i >= n_classes_) i -= n_classes_;
        Class& k = classes_[i];
        if (!k.has_min || k.count == 0 || !cap_open(k, now_ns) || !k.min.has_credit(now_ns))
          continue;
        k.min.charge(head_bytes(k));
        min_cursor_ = i + 1 == n_classes_ ? 0 : i + 1;
        return static_cast<int>(i);
      }
    }
    for (Level& l : levels_) {
      bool any = false;
      for (uint8_t m = 0; m < l.n && !any; ++m) {
        Class& k = classes_[l.members[m]];
        any = k.count != 0 && cap_open(k, now_ns);
      }
      if (!any) continue;
      // Deficit round robin; terminates: some member is backlogged and open, and each turn
      // round the level adds its quantum until its head item fits.
      for (;;) {
        size_t i = l.members[l.cursor];
        Class& k = classes_[i];
        if (k.count != 0 && cap_open(k, now_ns)) {
          if (!l.visited) {
            k.deficit += k.quantum;
            l.visited = true;
          }
          uint64_t b = head_bytes(k);
          if (b <= k.deficit) {
            k.deficit -= b;
            if (k.has_min) {
              k.min.refill(now_ns);
              k.min.drain(b);  // service above the minimum still counts towards it
            }
            return static_cast<int>(i);
          }
        } else if (k.count == 0) {
          k.deficit = 0;  // an idle class keeps no credit (DRR)
        }
        l.cursor = l.cursor + 1 == l.n ? 0 : l.cursor + 1;
        l.visited = false;
      }
    }
    return -1;
  }

  Item pop(size_t cls, uint64_t now_ns) noexcept {
    Class& k = classes_[cls];
    Slot& s = slots_[k.offset + k.head];
    uint64_t b = s.bytes;
    Item item = std::move(s.item);
    k.head = k.head + 1 == k.capacity ? 0 : k.head + 1;
    --k.count;
    --total_packets_;
    k.bytes -= b;
    if (k.count == 0) k.deficit = 0;
    if (k.shape) k.cap.charge(b);
    if (shaped_) port_.charge(b);
    roll(k, now_ns);
    k.win_out_bytes += b;
    ++k.stats.dequeued_packets;
    k.stats.dequeued_bytes += b;
    return item;
  }

  SizeFn size_fn_;
  uint64_t window_ns_;
  size_t n_classes_ = 0;
  bool shaped_ = false, any_min_ = false;
  TokenBucket port_;
  std::array<Class, kMaxSchedClasses> classes_{};
  std::array<Level, kMaxPriority + 1> levels_{};
  std::vector<Slot> slots_;
  uint32_t total_packets_ = 0;
  uint64_t unknown_class_drops_ = 0;
  size_t min_cursor_ = 0;
};

}  // namespace traboule::qos

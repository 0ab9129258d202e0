// SPDX-License-Identifier: Apache-2.0
// A flight recorder of flow path changes: the route stage of each worker appends one record when
// it moves a flow to another uplink (the old and new uplink and why), and the control thread
// reads the records it has not seen yet. One writer, any number of readers, no locks: each slot
// carries a sequence number written before and after the record (a seqlock per slot).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/model/packet_meta.h"
#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

// Why a flow is on its uplink (the path selector's answer, select/path_select.h).
enum class PathReason : uint8_t {
  kKept,         // the flow's uplink still qualifies
  kNew,          // first choice for the flow
  kCurrentDown,  // its uplink went down (link or probes)
  kCurrentSla,   // its uplink stopped meeting the SLA class
  kPrimaryBack,  // it was on a backup and a primary meets the SLA again
  kFallback,     // nothing meets the SLA: best available (rule's fallback)
  kSlaDrop,      // nothing meets the SLA and the rule's fallback is drop
  kNone,         // no uplink at all
};
inline constexpr unsigned kPathReasonCount = 8;
inline constexpr std::array<const char*, kPathReasonCount> kPathReasonNames{
    "kept", "new", "current_down", "current_sla", "primary_back", "fallback", "sla_drop", "none"};

struct PathEvent {
  uint64_t tsc = 0;
  IpAddr src, dst;
  uint16_t src_port = 0, dst_port = 0;
  uint16_t rule = 0;
  uint8_t proto = 0;
  uint8_t from = kNoUplink;
  uint8_t to = kNoUplink;
  PathReason reason = PathReason::kNone;
};

// A flight recorder of fixed-size records: one writer (a worker), readers on control threads.
template <class Event>
class EventLog {
 public:
  static constexpr uint32_t kSlots = 256;

  // Worker only.
  void push(const Event& e) noexcept {
    const uint64_t n = next_.load(std::memory_order_relaxed);
    Slot& s = slots_[n % kSlots];
    s.seq.store(2 * n + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s.event = e;
    s.seq.store(2 * n + 2, std::memory_order_release);
    next_.store(n + 1, std::memory_order_release);
  }

  // Records numbered >= `from` still in the log, oldest first; returns the number to pass next
  // time. Records overwritten before they were read are counted in `lost`.
  uint64_t read(uint64_t from, std::vector<Event>& out, uint64_t& lost) const {
    const uint64_t end = next_.load(std::memory_order_acquire);
    if (end > kSlots && from < end - kSlots) {
      lost += end - kSlots - from;
      from = end - kSlots;
    }
    for (uint64_t n = from; n < end; ++n) {
      const Slot& s = slots_[n % kSlots];
      if (s.seq.load(std::memory_order_acquire) != 2 * n + 2) {
        ++lost;
        continue;
      }
      Event e = s.event;
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) != 2 * n + 2) {
        ++lost;
        continue;
      }
      out.push_back(e);
    }
    return end;
  }

 private:
  struct Slot {
    std::atomic<uint64_t> seq{0};
    Event event;
  };
  std::array<Slot, kSlots> slots_{};
  std::atomic<uint64_t> next_{0};
};
using PathEventLog = EventLog<PathEvent>;

}  // namespace traboule::dp

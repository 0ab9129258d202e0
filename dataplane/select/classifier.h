// SPDX-License-Identifier: Apache-2.0
// Application recognition with nDPI, one Classifier per worker (nDPI's module holds per-packet
// scratch state: never shared between threads). Flows under classification borrow a slot from
// a pool preallocated at construction; when nDPI decides, or gives up after kMaxPackets, the
// verdict goes back to the caller, which caches it in the flow, and the slot is freed. Classified
// flows cost nothing here. nDPI itself may allocate inside its dissectors: counted, not avoided.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataplane/model/app_ids.h"
#include "dataplane/model/counter.h"

struct ndpi_detection_module_struct;
struct ndpi_flow_struct;

namespace traboule::dp {

struct AppVerdict {
  enum class State : uint8_t {
    kPending,     // needs more packets of the flow
    kClassified,  // nDPI recognised the flow
    kGaveUp,      // kMaxPackets without a decision: ndpi_detection_giveup's best answer
    kNoSlot,      // pool exhausted: the packet was not inspected (the flow may try again)
    kBadPacket,   // not an IPv4/IPv6 datagram nDPI can read: not inspected
  };
  State state = State::kPending;
  uint16_t master = 0;    // nDPI master protocol id (TLS in "TLS.Teams"), 0: none
  uint16_t app = 0;       // nDPI application protocol id (Teams), 0: unknown
  uint16_t category = 0;  // nDPI category id
  // Gave up and nDPI only guessed from the port: not trusted (port 5355 is not always LLMNR).
  // A guess from nDPI's address lists (guessed_host_protocol_id) is kept.
  bool by_port = false;
  int16_t app_row = kNoAppRow;  // kNdpiApps row for the catalog (see Classifier::app_row)
  // Static strings owned by the detection module (valid while the Classifier lives).
  const char* master_name = "";
  const char* app_name = "";
  const char* category_name = "";

  bool final() const noexcept { return state == State::kClassified || state == State::kGaveUp; }
};

class Classifier {
 public:
  static constexpr uint32_t kDefaultMaxPackets = 12;
  static constexpr uint32_t kMaxSlots = 65535;  // slot ids are 16-bit
  // A slot whose flow sent nothing for this long may be taken by a new flow when the pool is
  // full: the flow expired without release() (a missed release must not leak the slot forever).
  static constexpr uint64_t kSlotIdleMs = 30'000;

  struct Stats {
    uint64_t classified = 0;      // final verdicts from detection
    uint64_t given_up = 0;        // final verdicts from ndpi_detection_giveup
    uint64_t slot_exhausted = 0;  // packets not inspected for want of a slot
    uint64_t packets = 0;         // packets handed to nDPI
    uint64_t bad_packets = 0;     // refused before nDPI (truncated, not IP)
    uint64_t released = 0;        // release() of a flow still under classification
    uint64_t reclaimed = 0;       // idle slots taken back for a new flow
    uint64_t ndpi_allocs = 0;     // nDPI heap allocations made while inspecting packets
    uint32_t slots_in_use = 0;
    uint32_t slots = 0;
  };
  struct Memory {
    size_t per_flow_state_bytes = 0;  // ndpi_flow_struct, rounded to a cache line
    size_t per_flow_after_bytes = 0;  // 0: the caller caches the verdict in its flow entry
    size_t pool_bytes = 0;            // slots * per_flow_state_bytes + bookkeeping
    // nDPI heap allocated while inspecting packets and not freed yet: the pool's flows, plus
    // caches the module creates on first use (TLS certificate LRU: 8 KiB, once).
    int64_t ndpi_flow_heap_bytes = 0;
    int64_t ndpi_flow_heap_peak_bytes = 0;
    int64_t module_heap_bytes = 0;  // the detection module (measured at construction)
    uint64_t module_heap_allocs = 0;
  };

  // Throws std::invalid_argument naming the value when slots is 0 or above kMaxSlots, or
  // max_packets is 0 or above 255; std::runtime_error if nDPI cannot initialise (start-up only).
  explicit Classifier(uint32_t slots, uint32_t max_packets = kDefaultMaxPackets);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // Inspects one packet of flow `flow_id` (any id the caller's flow table uses; kNoFlow is
  // refused as a bad packet). l3 points at the IPv4/IPv6 header, l3_len bytes are readable.
  // from_originator: the packet goes the way the flow's first packet went (nDPI's direction 0).
  // A final verdict frees the flow's slot: the next feed() for the same id starts afresh.
  AppVerdict feed(uint32_t flow_id, const uint8_t* l3, uint16_t l3_len, uint64_t time_ms,
                  bool from_originator) noexcept;
  // The flow ended (expiry, reuse of its id) while under classification. No-op otherwise.
  void release(uint32_t flow_id) noexcept;
  bool classifying(uint32_t flow_id) const noexcept { return find(flow_id) != kNoSlot; }

  // Control-thread safe (relaxed reads of worker-written counters).
  Stats stats() const noexcept;
  // Every slot taken (a new flow would only get one by taking back an idle slot).
  bool full() const noexcept { return free_.empty(); }
  Memory memory() const noexcept;
  uint32_t max_packets() const noexcept { return max_packets_; }

  // nDPI's name for a protocol id ("Unknown" when out of range).
  const char* proto_name(uint16_t ndpi_id) const noexcept;
  // The kNdpiApps row a (master, app) pair maps to: name resolution (DNS, mDNS) keeps the
  // master, whatever name it resolved; otherwise the application, else the master.
  int16_t app_row(uint16_t master, uint16_t app) const noexcept;

 private:
  static constexpr uint16_t kNoSlot = 0xffff;
  static constexpr uint32_t kEmptyKey = 0xffffffffu;
  struct Slot {
    uint32_t flow_id = kEmptyKey;
    uint32_t packets = 0;
    uint64_t last_ms = 0;
  };

  ndpi_flow_struct* flow_state(uint16_t s) const noexcept {
    return reinterpret_cast<ndpi_flow_struct*>(pool_ + size_t{s} * stride_);
  }
  uint16_t find(uint32_t flow_id) const noexcept;
  uint16_t allocate(uint32_t flow_id, uint64_t time_ms) noexcept;
  void free_slot(uint16_t s) noexcept;
  void map_insert(uint32_t flow_id, uint16_t s) noexcept;
  void map_erase(uint32_t flow_id) noexcept;
  size_t map_pos(uint32_t flow_id) const noexcept { return (flow_id * 0x9e3779b1u) & map_mask_; }
  AppVerdict finish(uint16_t s, uint16_t master, uint16_t app, uint16_t category,
                    AppVerdict::State state, bool by_port) noexcept;

  ndpi_detection_module_struct* module_ = nullptr;
  uint32_t max_packets_;
  size_t stride_ = 0;
  uint8_t* pool_ = nullptr;  // slots * stride_, cache-line aligned, zeroed
  std::vector<Slot> slots_;
  std::vector<uint16_t> free_;      // stack of free slot ids
  std::vector<uint32_t> map_keys_;  // flow id → slot, open addressing (2x slots, power of 2)
  std::vector<uint16_t> map_vals_;
  size_t map_mask_ = 0;
  uint16_t hand_ = 0;               // next slot the reclaimer looks at
  std::vector<int16_t> row_by_id_;  // nDPI protocol id → kNdpiApps row
  uint16_t dns_ids_[2] = {0, 0};    // DNS and MDNS: name resolution keeps its master

  // Worker-written, control-read.
  uint64_t classified_ = 0, given_up_ = 0, slot_exhausted_ = 0, packets_ = 0, bad_packets_ = 0,
           released_ = 0, reclaimed_ = 0, ndpi_allocs_ = 0, in_use_ = 0;
  uint64_t flow_heap_bytes_ = 0, flow_heap_peak_ = 0;  // int64 stored as uint64 bit pattern
  int64_t module_heap_bytes_ = 0;
  uint64_t module_heap_allocs_ = 0;
};

}  // namespace traboule::dp

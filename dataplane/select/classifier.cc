// SPDX-License-Identifier: Apache-2.0
#include "dataplane/select/classifier.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

extern "C" {
#include <ndpi_api.h>
}

namespace traboule::dp {
namespace {

// nDPI's allocator hooks are process-wide; the counts are per thread so each worker's
// Classifier measures its own module by taking differences around its calls into nDPI.
struct HeapCount {
  uint64_t allocs = 0;
  int64_t bytes = 0;
};
thread_local HeapCount tl_heap;

void* counting_malloc(size_t n) {
  void* p = std::malloc(n);
  if (p != nullptr) {
    ++tl_heap.allocs;
    tl_heap.bytes += static_cast<int64_t>(malloc_usable_size(p));
  }
  return p;
}
void counting_free(void* p) {
  if (p == nullptr) return;
  tl_heap.bytes -= static_cast<int64_t>(malloc_usable_size(p));
  std::free(p);
}

void install_ndpi_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    set_ndpi_malloc(counting_malloc);
    set_ndpi_free(counting_free);
    set_ndpi_flow_malloc(counting_malloc);
    set_ndpi_flow_free(counting_free);
  });
}

// A scope that adds nDPI's heap traffic on this thread to the Classifier's counters.
class HeapScope {
 public:
  HeapScope(uint64_t& allocs, uint64_t& bytes, uint64_t& peak)
      : allocs_(allocs), bytes_(bytes), peak_(peak), a0_(tl_heap.allocs), b0_(tl_heap.bytes) {}
  ~HeapScope() {
    bump(allocs_, tl_heap.allocs - a0_);
    const uint64_t now = read_counter(bytes_) + static_cast<uint64_t>(tl_heap.bytes - b0_);
    std::atomic_ref<uint64_t>(bytes_).store(now, std::memory_order_relaxed);
    if (static_cast<int64_t>(now) > static_cast<int64_t>(read_counter(peak_)))
      std::atomic_ref<uint64_t>(peak_).store(now, std::memory_order_relaxed);
  }
  HeapScope(const HeapScope&) = delete;
  HeapScope& operator=(const HeapScope&) = delete;

 private:
  uint64_t& allocs_;
  uint64_t& bytes_;
  uint64_t& peak_;
  uint64_t a0_;
  int64_t b0_;
};

void store(uint64_t& c, uint64_t v) noexcept {
  std::atomic_ref<uint64_t>(c).store(v, std::memory_order_relaxed);
}

// The readable datagram length: at most what the header claims, 0 when nDPI cannot use it.
uint16_t datagram_len(const uint8_t* l3, uint16_t len) noexcept {
  if (l3 == nullptr || len < 20) return 0;
  const unsigned version = l3[0] >> 4;
  if (version == 4) {
    const unsigned ihl = (l3[0] & 0x0f) * 4u;
    const unsigned total = unsigned{l3[2]} << 8 | l3[3];
    // nDPI ignores a datagram longer than what it is given (a capture cut short, or the tail
    // in another mbuf segment): refuse it here, where it is counted.
    if (ihl < 20 || ihl > len || total < ihl || total > len) return 0;
    return static_cast<uint16_t>(total);
  }
  if (version == 6 && len >= 40) {
    const unsigned total = 40u + (unsigned{l3[4]} << 8 | l3[5]);
    return total <= len ? static_cast<uint16_t>(total) : 0;
  }
  return 0;
}

}  // namespace

Classifier::Classifier(uint32_t slots, uint32_t max_packets) : max_packets_(max_packets) {
  if (slots == 0 || slots > kMaxSlots)
    throw std::invalid_argument("classifier slots: " + std::to_string(slots) +
                                " is out of range 1.." + std::to_string(kMaxSlots));
  if (max_packets == 0 || max_packets > 255)
    throw std::invalid_argument("classifier max_packets: " + std::to_string(max_packets) +
                                " is out of range 1..255");
  install_ndpi_hooks();
  const HeapCount h0 = tl_heap;
  module_ = ndpi_init_detection_module(ndpi_no_prefs);
  if (module_ == nullptr) throw std::runtime_error("nDPI: ndpi_init_detection_module failed");
  NDPI_PROTOCOL_BITMASK all;
  NDPI_BITMASK_SET_ALL(all);
  ndpi_set_protocol_detection_bitmask2(module_, &all);
  // Direction comes from our flow table (from_originator), not from address order.
  ndpi_set_detection_preferences(module_, ndpi_pref_direction_detect_disable, 1);
  ndpi_finalize_initialization(module_);
  module_heap_allocs_ = tl_heap.allocs - h0.allocs;
  module_heap_bytes_ = tl_heap.bytes - h0.bytes;

  const size_t flow_size = ndpi_detection_get_sizeof_ndpi_flow_struct();
  stride_ = (flow_size + 63) & ~size_t{63};
  pool_ = static_cast<uint8_t*>(std::aligned_alloc(64, stride_ * slots));
  if (pool_ == nullptr) {
    ndpi_exit_detection_module(module_);
    throw std::runtime_error("classifier: cannot allocate " + std::to_string(stride_ * slots) +
                             " bytes for " + std::to_string(slots) + " flow states");
  }
  std::memset(pool_, 0, stride_ * slots);
  slots_.resize(slots);
  free_.reserve(slots);
  for (uint32_t s = slots; s-- > 0;) free_.push_back(static_cast<uint16_t>(s));
  size_t map_size = 16;
  while (map_size < 2 * size_t{slots}) map_size <<= 1;
  map_keys_.assign(map_size, kEmptyKey);
  map_vals_.assign(map_size, kNoSlot);
  map_mask_ = map_size - 1;

  const unsigned n = ndpi_get_num_supported_protocols(module_);
  row_by_id_.assign(n, kNoAppRow);
  for (unsigned id = 0; id < n; ++id) {
    const char* name = ndpi_get_proto_name(module_, static_cast<uint16_t>(id));
    if (name != nullptr) row_by_id_[id] = ndpi_app_row(name);
  }
  dns_ids_[0] = NDPI_PROTOCOL_DNS;
  dns_ids_[1] = NDPI_PROTOCOL_MDNS;
}

Classifier::~Classifier() {
  for (uint16_t s = 0; s < slots_.size(); ++s)
    if (slots_[s].flow_id != kEmptyKey) ndpi_free_flow_data(flow_state(s));
  std::free(pool_);
  if (module_ != nullptr) ndpi_exit_detection_module(module_);
}

uint16_t Classifier::find(uint32_t flow_id) const noexcept {
  for (size_t i = map_pos(flow_id);; i = (i + 1) & map_mask_) {
    if (map_keys_[i] == flow_id) return map_vals_[i];
    if (map_keys_[i] == kEmptyKey) return kNoSlot;
  }
}

void Classifier::map_insert(uint32_t flow_id, uint16_t s) noexcept {
  size_t i = map_pos(flow_id);
  while (map_keys_[i] != kEmptyKey) i = (i + 1) & map_mask_;
  map_keys_[i] = flow_id;
  map_vals_[i] = s;
}

// Linear probing with backward-shift deletion: no tombstones, so lookups stay short under churn.
void Classifier::map_erase(uint32_t flow_id) noexcept {
  size_t i = map_pos(flow_id);
  while (map_keys_[i] != flow_id) {
    if (map_keys_[i] == kEmptyKey) return;
    i = (i + 1) & map_mask_;
  }
  for (size_t j = (i + 1) & map_mask_;; j = (j + 1) & map_mask_) {
    if (map_keys_[j] == kEmptyKey) break;
    const size_t home = map_pos(map_keys_[j]);
    // Move j back into the hole at i unless its home lies cyclically in (i, j].
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    map_keys_[i] = map_keys_[j];
    map_vals_[i] = map_vals_[j];
    i = j;
  }
  map_keys_[i] = kEmptyKey;
  map_vals_[i] = kNoSlot;
}

void Classifier::free_slot(uint16_t s) noexcept {
  {
    HeapScope h(ndpi_allocs_, flow_heap_bytes_, flow_heap_peak_);
    ndpi_free_flow_data(flow_state(s));
  }
  // nDPI expects a zeroed flow struct for a new flow.
  std::memset(static_cast<void*>(flow_state(s)), 0, stride_);
  map_erase(slots_[s].flow_id);
  slots_[s] = Slot{};
  free_.push_back(s);
  store(in_use_, read_counter(in_use_) - 1);
}

uint16_t Classifier::allocate(uint32_t flow_id, uint64_t time_ms) noexcept {
  if (free_.empty()) {
    // A flow that expired without release() would hold its slot forever: take back the first
    // long-idle slot among a few (bounded work per packet, even under a flood of new flows).
    const uint16_t n = static_cast<uint16_t>(slots_.size());
    for (unsigned k = 0; k < 8 && k < n; ++k) {
      const uint16_t s = hand_;
      hand_ = static_cast<uint16_t>(hand_ + 1 == n ? 0 : hand_ + 1);
      const uint64_t last = slots_[s].last_ms;
      if (time_ms >= last && time_ms - last >= kSlotIdleMs) {
        free_slot(s);
        bump(reclaimed_);
        break;
      }
    }
    if (free_.empty()) return kNoSlot;
  }
  const uint16_t s = free_.back();
  free_.pop_back();
  slots_[s] = Slot{flow_id, 0, time_ms};
  map_insert(flow_id, s);
  store(in_use_, read_counter(in_use_) + 1);
  return s;
}

AppVerdict Classifier::finish(uint16_t s, uint16_t master, uint16_t app, uint16_t category,
                              AppVerdict::State state, bool by_port) noexcept {
  AppVerdict v;
  v.state = state;
  v.master = master;
  v.app = app;
  v.category = category;
  v.by_port = by_port;
  v.app_row = by_port ? kNoAppRow : app_row(master, app);
  v.master_name = proto_name(master);
  v.app_name = proto_name(app);
  const char* c = ndpi_category_get_name(module_, static_cast<ndpi_protocol_category_t>(category));
  v.category_name = c != nullptr ? c : "";
  bump(state == AppVerdict::State::kClassified ? classified_ : given_up_);
  free_slot(s);
  return v;
}

AppVerdict Classifier::feed(uint32_t flow_id, const uint8_t* l3, uint16_t l3_len, uint64_t time_ms,
                            bool from_originator) noexcept {
  AppVerdict v;
  const uint16_t len = datagram_len(l3, l3_len);
  if (len == 0 || flow_id == kEmptyKey) {
    bump(bad_packets_);
    v.state = AppVerdict::State::kBadPacket;
    return v;
  }
  uint16_t s = find(flow_id);
  if (s == kNoSlot) {
    s = allocate(flow_id, time_ms);
    if (s == kNoSlot) {
      bump(slot_exhausted_);
      v.state = AppVerdict::State::kNoSlot;
      return v;
    }
  }
  Slot& slot = slots_[s];
  ndpi_flow_struct* f = flow_state(s);
  f->packet_direction = from_originator ? 0 : 1;
  ndpi_protocol p;
  {
    HeapScope h(ndpi_allocs_, flow_heap_bytes_, flow_heap_peak_);
    p = ndpi_detection_process_packet(module_, f, l3, len, time_ms);
  }
  bump(packets_);
  ++slot.packets;
  slot.last_ms = time_ms;
  if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN || p.master_protocol != NDPI_PROTOCOL_UNKNOWN)
    return finish(s, p.master_protocol, p.app_protocol, p.category, AppVerdict::State::kClassified,
                  false);
  if (slot.packets < max_packets_) return v;
  uint8_t guessed = 0;
  ndpi_protocol g;
  {
    HeapScope h(ndpi_allocs_, flow_heap_bytes_, flow_heap_peak_);
    g = ndpi_detection_giveup(module_, f, 1, &guessed);
  }
  const uint16_t by_addr = f->guessed_host_protocol_id;
  const bool from_list = by_addr != NDPI_PROTOCOL_UNKNOWN &&
                         (g.app_protocol == by_addr || g.master_protocol == by_addr);
  return finish(s, g.master_protocol, g.app_protocol, g.category, AppVerdict::State::kGaveUp,
                guessed != 0 && !from_list);
}

void Classifier::release(uint32_t flow_id) noexcept {
  const uint16_t s = find(flow_id);
  if (s == kNoSlot) return;
  free_slot(s);
  bump(released_);
}

const char* Classifier::proto_name(uint16_t ndpi_id) const noexcept {
  if (ndpi_id >= row_by_id_.size()) return "Unknown";
  const char* n = ndpi_get_proto_name(module_, ndpi_id);
  return n != nullptr ? n : "Unknown";
}

int16_t Classifier::app_row(uint16_t master, uint16_t app) const noexcept {
  auto row = [this](uint16_t id) { return id < row_by_id_.size() ? row_by_id_[id] : kNoAppRow; };
  if (master == dns_ids_[0] || master == dns_ids_[1]) return row(master);
  const int16_t r = row(app);
  return r != kNoAppRow ? r : row(master);
}

Classifier::Stats Classifier::stats() const noexcept {
  Stats s;
  s.classified = read_counter(classified_);
  s.given_up = read_counter(given_up_);
  s.slot_exhausted = read_counter(slot_exhausted_);
  s.packets = read_counter(packets_);
  s.bad_packets = read_counter(bad_packets_);
  s.released = read_counter(released_);
  s.reclaimed = read_counter(reclaimed_);
  s.ndpi_allocs = read_counter(ndpi_allocs_);
  s.slots_in_use = static_cast<uint32_t>(read_counter(in_use_));
  s.slots = static_cast<uint32_t>(slots_.size());
  return s;
}

Classifier::Memory Classifier::memory() const noexcept {
  Memory m;
  m.per_flow_state_bytes = stride_;
  m.per_flow_after_bytes = 0;
  m.pool_bytes = stride_ * slots_.size() + slots_.size() * (sizeof(Slot) + sizeof(uint16_t)) +
                 map_keys_.size() * (sizeof(uint32_t) + sizeof(uint16_t));
  m.ndpi_flow_heap_bytes = static_cast<int64_t>(read_counter(flow_heap_bytes_));
  m.ndpi_flow_heap_peak_bytes = static_cast<int64_t>(read_counter(flow_heap_peak_));
  m.module_heap_bytes = module_heap_bytes_;
  m.module_heap_allocs = module_heap_allocs_;
  return m;
}

}  // namespace traboule::dp

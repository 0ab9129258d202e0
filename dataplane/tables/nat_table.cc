// SPDX-License-Identifier: Apache-2.0
#include "dataplane/tables/nat_table.h"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_hash_crc.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace traboule::dp {
namespace {

using namespace nat_flag;

constexpr uint32_t kSeed = 0x4e41u;

uint32_t pow2_at_least(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return static_cast<uint32_t>(p);
}

[[noreturn]] void bad(const char* field, uint64_t value, const char* why) {
  throw std::invalid_argument(std::string("nat: ") + field + " = " + std::to_string(value) + ": " +
                              why);
}

template <class T>
void store_relaxed(T& field, T v) noexcept {
  std::atomic_ref<T>(field).store(v, std::memory_order_relaxed);
}

}  // namespace

int NatTable::proto_class(uint8_t proto) noexcept {
  switch (proto) {
    case IPPROTO_TCP:
      return kTcp;
    case IPPROTO_UDP:
      return kUdp;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return kIcmp;
    default:
      return -1;
  }
}

NatTable::NatTable(const NatConfig& cfg) : cfg_(cfg) {
  if (cfg.capacity < kMinCapacity || cfg.capacity > kMaxCapacity)
    bad("capacity", cfg.capacity, "must be between 16 and 4194304");
  const uint64_t perms = cfg.permissions == 0 ? uint64_t{2} * cfg.capacity : cfg.permissions;
  if (perms > uint64_t{2} * kMaxCapacity) bad("permissions", perms, "must be at most 8388608");
  if (cfg.port_range_size == 0 || cfg.port_range_size > 65536)
    bad("port_range_size", cfg.port_range_size, "must be between 1 and 65536");
  const uint64_t lo = cfg.port_base + uint64_t{cfg.worker} * cfg.port_range_size;
  if (lo + cfg.port_range_size > 65536)
    bad("port_base", cfg.port_base, "with this worker's range the ports would pass 65535");
  if (cfg.port_base == 0) bad("port_base", 0, "port 0 is not a valid source port");
  const NatTimeouts& t = cfg.timeouts;
  if (t.udp_s == 0) bad("timeouts.udp_s", 0, "must be positive");
  if (t.tcp_established_s == 0) bad("timeouts.tcp_established_s", 0, "must be positive");
  if (t.tcp_transitory_s == 0) bad("timeouts.tcp_transitory_s", 0, "must be positive");
  if (t.icmp_s == 0) bad("timeouts.icmp_s", 0, "must be positive");

  capacity_ = cfg.capacity;
  perm_capacity_ = static_cast<uint32_t>(perms);
  port_lo_ = static_cast<uint16_t>(lo);
  port_count_ = cfg.port_range_size;
  bitmap_words_ = (port_count_ + 63) / 64;
  const uint32_t map_slots = pow2_at_least(uint64_t{2} * capacity_);
  const uint32_t perm_slots = pow2_at_least(uint64_t{2} * std::max<uint32_t>(perm_capacity_, 1));
  map_mask_ = map_slots - 1;
  perm_mask_ = perm_slots - 1;

  maps_ = std::make_unique<NatMapping[]>(capacity_);
  perms_ = std::make_unique<Permission[]>(perm_capacity_ == 0 ? 1 : perm_capacity_);
  out_slots_ = std::make_unique<Slot[]>(map_slots);
  in_slots_ = std::make_unique<Slot[]>(map_slots);
  perm_slots_ = std::make_unique<Slot[]>(perm_slots);
  const size_t nbm = size_t{kUplinkSlots} * 2 * kProtoClasses;
  bitmaps_ = std::make_unique<uint64_t[]>(nbm * bitmap_words_);
  // Bits past the range read as taken: the search never has to check the range's end.
  const uint32_t tail = port_count_ % 64;
  for (size_t b = 0; b < nbm; ++b) {
    uint64_t* bm = &bitmaps_[b * bitmap_words_];
    for (uint32_t w = 0; w < bitmap_words_; ++w) bm[w] = 0;
    if (tail != 0) bm[bitmap_words_ - 1] = ~uint64_t{0} << tail;
  }
  free_maps_ = std::make_unique<uint32_t[]>(capacity_);
  for (uint32_t i = 0; i < capacity_; ++i) free_maps_[i] = capacity_ - 1 - i;  // pops 0 first
  free_maps_n_ = capacity_;
  free_perms_ = std::make_unique<uint32_t[]>(perm_capacity_ == 0 ? 1 : perm_capacity_);
  for (uint32_t i = 0; i < perm_capacity_; ++i) free_perms_[i] = perm_capacity_ - 1 - i;
  free_perms_n_ = perm_capacity_;
  rng_ ^= static_cast<uint32_t>(rte_rdtsc()) * 2654435761u + cfg.worker;
  if (rng_ == 0) rng_ = 1;
  memory_bytes_ = sizeof(NatMapping) * capacity_ + sizeof(Permission) * perm_capacity_ +
                  sizeof(Slot) * (2 * size_t{map_slots} + perm_slots) +
                  sizeof(uint64_t) * nbm * bitmap_words_ +
                  sizeof(uint32_t) * (size_t{capacity_} + perm_capacity_);
}

NatTable::~NatTable() = default;

uint64_t* NatTable::bitmap(uint8_t uplink, bool v4, unsigned pc) noexcept {
  return &bitmaps_[((size_t{uplink} * 2 + (v4 ? 0 : 1)) * kProtoClasses + pc) * bitmap_words_];
}
const uint64_t* NatTable::bitmap(uint8_t uplink, bool v4, unsigned pc) const noexcept {
  return &bitmaps_[((size_t{uplink} * 2 + (v4 ? 0 : 1)) * kProtoClasses + pc) * bitmap_words_];
}

uint32_t NatTable::next_random() noexcept {
  uint32_t x = rng_;  // xorshift32: unpredictable enough to spread ports, not a secret
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  rng_ = x;
  return x;
}

int64_t NatTable::pick_port(const uint64_t* bm, uint16_t want_port) noexcept {
  // Port preservation first (RFC 4787 §4.2.1): applications that predict ports keep working.
  if (want_port >= port_lo_ && uint32_t{want_port} - port_lo_ < port_count_) {
    const uint32_t off = want_port - port_lo_;
    if (!port_used(bm, off)) return off;
  }
  // Otherwise a pseudo-random start, then the first free port after it, with the wanted port's
  // parity if there is one (RFC 4787 REQ-4), else any. At most two passes over the bitmap.
  const uint32_t start = next_random() % port_count_;
  const uint32_t start_w = start / 64, start_b = start % 64;
  const uint32_t odd_offsets = ((want_port ^ port_lo_) & 1) != 0;
  const uint64_t parity_mask = odd_offsets ? 0xaaaaaaaaaaaaaaaaull : 0x5555555555555555ull;
  for (uint64_t pmask : {parity_mask, ~uint64_t{0}}) {
    for (uint32_t step = 0; step <= bitmap_words_; ++step) {
      const uint32_t w = (start_w + step) % bitmap_words_;
      uint64_t avail = ~bm[w] & pmask;
      if (step == 0) avail &= ~uint64_t{0} << start_b;  // from start on
      if (step == bitmap_words_) avail &= start_b == 0 ? 0 : ~(~uint64_t{0} << start_b);
      if (avail != 0) return int64_t{w} * 64 + __builtin_ctzll(avail);
    }
  }
  return -1;
}

uint32_t NatTable::hash_out(uint8_t uplink, uint8_t proto, const IpAddr& a,
                            uint16_t port) noexcept {
  uint32_t h = rte_hash_crc_8byte(a.word(0), kSeed);
  h = rte_hash_crc_8byte(a.word(1), h);
  return rte_hash_crc_4byte(uint32_t{uplink} << 24 | uint32_t{proto} << 16 | port, h);
}
uint32_t NatTable::hash_in(uint8_t uplink, uint8_t proto, bool v4, uint16_t port) noexcept {
  return rte_hash_crc_4byte(uint32_t{uplink} << 24 | uint32_t{proto} << 16 | port,
                            kSeed + (v4 ? 1u : 2u));
}
uint32_t NatTable::hash_perm(uint32_t map_id, uint32_t gen, const IpAddr& remote) noexcept {
  uint32_t h = rte_hash_crc_8byte(remote.word(0), kSeed ^ gen);
  h = rte_hash_crc_8byte(remote.word(1), h);
  return rte_hash_crc_4byte(map_id, h);
}

void NatTable::slot_insert(Slot* s, uint32_t mask, uint32_t h, uint32_t id) noexcept {
  uint32_t i = h & mask;
  while (s[i].id != kNoMapping) i = (i + 1) & mask;
  s[i].hash = h;
  s[i].id = id;
}

// Linear probing with backward-shift deletion (no tombstones): later entries of the probe
// run move up so every lookup still stops at the first empty slot.
void NatTable::slot_erase(Slot* s, uint32_t mask, uint32_t h, uint32_t id) noexcept {
  uint32_t i = h & mask;
  while (s[i].id != id) {
    if (s[i].id == kNoMapping) return;  // not there (cannot happen for a live record)
    i = (i + 1) & mask;
  }
  for (;;) {
    uint32_t j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (s[j].id == kNoMapping) {
        s[i].id = kNoMapping;
        s[i].hash = 0;
        return;
      }
      const uint32_t home = s[j].hash & mask;
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays) break;
    }
    s[i] = s[j];
    i = j;
  }
}

uint32_t NatTable::find_out(uint32_t h, uint8_t uplink, uint8_t proto, const IpAddr& a,
                            uint16_t port) const noexcept {
  for (uint32_t i = h & map_mask_;; i = (i + 1) & map_mask_) {
    const Slot& s = out_slots_[i];
    if (s.id == kNoMapping) return kNoMapping;
    if (s.hash != h) continue;
    const NatMapping& m = maps_[s.id];
    if (m.int_port == port && m.uplink == uplink && m.proto == proto && m.int_addr == a)
      return s.id;
  }
}

uint32_t NatTable::in(uint8_t uplink, uint8_t proto, bool v4, uint16_t ext_port) const noexcept {
  const uint32_t h = hash_in(uplink, proto, v4, ext_port);
  for (uint32_t i = h & map_mask_;; i = (i + 1) & map_mask_) {
    const Slot& s = in_slots_[i];
    if (s.id == kNoMapping) return kNoMapping;
    if (s.hash != h) continue;
    const NatMapping& m = maps_[s.id];
    if (m.ext_port == ext_port && m.uplink == uplink && m.proto == proto && m.v4() == v4)
      return s.id;
  }
}

uint32_t NatTable::find_perm(uint32_t h, uint32_t map_id, uint32_t gen,
                             const IpAddr& remote) const noexcept {
  for (uint32_t i = h & perm_mask_;; i = (i + 1) & perm_mask_) {
    const Slot& s = perm_slots_[i];
    if (s.id == kNoMapping) return kNoMapping;
    if (s.hash != h) continue;
    const Permission& p = perms_[s.id];
    if (p.map_id == map_id && p.map_gen == gen && p.remote == remote) return s.id;
  }
}

void NatTable::touch_perm(uint32_t id, const IpAddr& remote, uint32_t now_s, bool create) noexcept {
  const NatMapping& m = maps_[id];
  const uint32_t h = hash_perm(id, m.gen, remote);
  uint32_t pid = find_perm(h, id, m.gen, remote);
  if (pid == kNoMapping) {
    if (!create || free_perms_n_ == 0) return;
    pid = free_perms_[--free_perms_n_];
    Permission& p = perms_[pid];
    p.remote = remote;
    p.map_id = id;
    p.map_gen = m.gen;
    slot_insert(perm_slots_.get(), perm_mask_, h, pid);
    bump(perm_active_);
  }
  perms_[pid].last_s = now_s;
}

bool NatTable::permitted(uint32_t id, const IpAddr& remote) const noexcept {
  if (cfg_.filtering == NatFiltering::kEndpointIndependent) return true;
  const NatMapping& m = maps_[id];
  return find_perm(hash_perm(id, m.gen, remote), id, m.gen, remote) != kNoMapping;
}

void NatTable::tcp_track(NatMapping& m, NatDir dir, uint8_t tcp_flags) noexcept {
  constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
  if (tcp_flags & (kFin | kRst)) {
    m.flags |= kClosing;
    return;
  }
  // A new connection reusing a closing mapping (same internal port): start over.
  if ((tcp_flags & (kSyn | kAck)) == kSyn && dir == NatDir::kOut && (m.flags & kClosing))
    m.flags &= static_cast<uint8_t>(~(kClosing | kAckOut | kAckIn));
  if (tcp_flags & kAck) m.flags |= dir == NatDir::kOut ? kAckOut : kAckIn;
}

uint32_t NatTable::timeout_s(const NatMapping& m) const noexcept {
  const NatTimeouts& t = cfg_.timeouts;
  switch (m.proto) {
    case IPPROTO_TCP:
      return (m.flags & (kAckOut | kAckIn | kClosing)) == (kAckOut | kAckIn) ? t.tcp_established_s
                                                                             : t.tcp_transitory_s;
    case IPPROTO_UDP:
      return t.udp_s;
    default:
      return t.icmp_s;
  }
}

uint32_t NatTable::out(uint8_t uplink, uint8_t proto, const IpAddr& int_addr, uint16_t int_port,
                       const IpAddr& remote, uint8_t tcp_flags, uint32_t now_s,
                       NatFail* fail) noexcept {
  const int pc = proto_class(proto);
  if (pc < 0 || uplink >= kUplinkSlots) [[unlikely]] {
    *fail = NatFail::kUnsupportedProto;
    return kNoMapping;
  }
  const uint32_t h = hash_out(uplink, proto, int_addr, int_port);
  uint32_t id = find_out(h, uplink, proto, int_addr, int_port);
  if (id == kNoMapping) {
    if (free_maps_n_ == 0) [[unlikely]] {
      bump(table_full_);
      *fail = NatFail::kTableFull;
      return kNoMapping;
    }
    const bool v4 = int_addr.is_v4();
    uint64_t* bm = bitmap(uplink, v4, static_cast<unsigned>(pc));
    const int64_t off = pick_port(bm, int_port);
    if (off < 0) [[unlikely]] {
      bump(exhausted_);
      *fail = NatFail::kPortExhausted;
      return kNoMapping;
    }
    bm[off >> 6] |= uint64_t{1} << (off & 63);
    id = free_maps_[--free_maps_n_];
    NatMapping& m = maps_[id];
    m.int_addr = int_addr;
    m.int_port = int_port;
    m.ext_port = static_cast<uint16_t>(port_lo_ + off);
    m.uplink = uplink;
    m.proto = proto;
    m.last_s = now_s;
    m.flags = static_cast<uint8_t>(kInUse | (v4 ? kV4 : 0));
    slot_insert(out_slots_.get(), map_mask_, h, id);
    slot_insert(in_slots_.get(), map_mask_, hash_in(uplink, proto, v4, m.ext_port), id);
    bump(created_);
    store_relaxed(active_, active_ + 1);
  }
  NatMapping& m = maps_[id];
  m.last_s = now_s;
  if (proto == IPPROTO_TCP) tcp_track(m, NatDir::kOut, tcp_flags);
  if (cfg_.filtering == NatFiltering::kAddressDependent) {
    touch_perm(id, remote, now_s, true);
    if (!permitted(id, remote)) [[unlikely]] {
      // No room to remember this remote: its replies would be filtered, so do not send.
      bump(table_full_);
      *fail = NatFail::kTableFull;
      return kNoMapping;
    }
  }
  *fail = NatFail::kNone;
  return id;
}

void NatTable::refresh_in(uint32_t id, const IpAddr& remote, uint8_t tcp_flags,
                          uint32_t now_s) noexcept {
  NatMapping& m = maps_[id];
  m.last_s = now_s;
  if (m.proto == IPPROTO_TCP) tcp_track(m, NatDir::kIn, tcp_flags);
  if (cfg_.filtering == NatFiltering::kAddressDependent) touch_perm(id, remote, now_s, false);
}

void NatTable::free_mapping(uint32_t id) noexcept {
  NatMapping& m = maps_[id];
  const bool v4 = m.v4();
  slot_erase(out_slots_.get(), map_mask_, hash_out(m.uplink, m.proto, m.int_addr, m.int_port), id);
  slot_erase(in_slots_.get(), map_mask_, hash_in(m.uplink, m.proto, v4, m.ext_port), id);
  uint64_t* bm = bitmap(m.uplink, v4, static_cast<unsigned>(proto_class(m.proto)));
  const uint32_t off = m.ext_port - port_lo_;
  bm[off >> 6] &= ~(uint64_t{1} << (off & 63));
  m.flags = 0;
  ++m.gen;  // its permissions no longer match anything; the sweep frees them
  free_maps_[free_maps_n_++] = id;
  store_relaxed(active_, active_ - 1);
}

void NatTable::free_perm(uint32_t pid) noexcept {
  Permission& p = perms_[pid];
  slot_erase(perm_slots_.get(), perm_mask_, hash_perm(p.map_id, p.map_gen, p.remote), pid);
  p.map_id = kNoMapping;
  free_perms_[free_perms_n_++] = pid;
  store_relaxed(perm_active_, perm_active_ - 1);
}

uint32_t NatTable::expire(uint32_t now_s, uint32_t budget) noexcept {
  uint32_t freed = 0;
  for (uint32_t n = 0; n < budget && n < capacity_; ++n) {
    const uint32_t id = map_cursor_;
    map_cursor_ = map_cursor_ + 1 == capacity_ ? 0 : map_cursor_ + 1;
    const NatMapping& m = maps_[id];
    if (m.in_use() && now_s - m.last_s >= timeout_s(m)) {
      free_mapping(id);
      bump(expired_);
      ++freed;
    }
  }
  for (uint32_t n = 0; n < budget && n < perm_capacity_; ++n) {
    const uint32_t pid = perm_cursor_;
    perm_cursor_ = perm_cursor_ + 1 == perm_capacity_ ? 0 : perm_cursor_ + 1;
    const Permission& p = perms_[pid];
    if (p.map_id == kNoMapping) continue;
    const NatMapping& m = maps_[p.map_id];
    if (!m.in_use() || m.gen != p.map_gen || now_s - p.last_s >= timeout_s(m)) free_perm(pid);
  }
  return freed;
}

uint32_t NatTable::expire_uplink(uint8_t uplink) noexcept {
  if (uplink >= kUplinkSlots) return 0;
  uint32_t freed = 0;
  for (uint32_t id = 0; id < capacity_; ++id) {
    if (maps_[id].in_use() && maps_[id].uplink == uplink) {
      free_mapping(id);
      ++freed;
    }
  }
  bump(flushed_, freed);
  bump(flushed_by_uplink_[uplink], freed);
  return freed;
}

uint64_t NatTable::flushed(uint8_t uplink) const noexcept {
  return uplink < kUplinkSlots ? read_counter(flushed_by_uplink_[uplink]) : 0;
}

int NatTable::worker_of_port(uint16_t port, uint16_t port_base, uint32_t port_range_size,
                             unsigned workers) noexcept {
  if (port < port_base || port_range_size == 0) return -1;
  const uint32_t w = (uint32_t{port} - port_base) / port_range_size;
  return w < workers ? static_cast<int>(w) : -1;
}

uint32_t nat_seconds(uint64_t tsc) noexcept {
  const uint64_t hz = rte_get_tsc_hz();  // 0 before EAL init
  return static_cast<uint32_t>(tsc / (hz == 0 ? 1 : hz));
}

uint32_t nat_now_s() noexcept {
  return nat_seconds(rte_rdtsc());
}

}  // namespace traboule::dp

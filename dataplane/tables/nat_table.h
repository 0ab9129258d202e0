// SPDX-License-Identifier: Apache-2.0
// The per-worker source NAT table for local internet breakout (NAT44 and NAT66, one code path):
// endpoint-independent mappings (uplink, proto, internal address:port) → external port on the
// uplink's address, a port range per worker so replies can be steered by port, idle timeouts
// per RFC 4787/5382/5508, and bounded expiry. One writer (the owning worker), no locks, no
// allocation after construction. Memory: see NatTable::kBytesPerMapping.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "dataplane/model/counter.h"
#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

// Filtering (RFC 4787 §5, REQ-8; RFC 5382 REQ-3): which inbound packets a live mapping lets in.
// Address-dependent is the default: a reply is accepted only from an address the internal host
// has sent to through that mapping, so a mapping opened for one SaaS server is not an open port
// for the whole internet. Endpoint-independent (any remote) helps peer-to-peer applications and
// is the administrator's choice. Address-and-port dependent would break STUN-style traversal
// for no security gain over address-dependent and is not offered.
enum class NatFiltering : uint8_t { kAddressDependent = 0, kEndpointIndependent };

// Idle timeouts, seconds. Defaults are the RFC minimums the issue asks for.
struct NatTimeouts {
  uint32_t udp_s = 120;               // RFC 4787 REQ-5: at least 2 min
  uint32_t tcp_established_s = 7440;  // RFC 5382 REQ-5: at least 2 h 4 min
  uint32_t tcp_transitory_s = 240;    // RFC 5382 REQ-5: at least 4 min (handshake, FIN, RST)
  uint32_t icmp_s = 60;               // RFC 5508 REQ-2: ICMP query sessions at least 60 s
};

struct NatConfig {
  uint32_t capacity = 1 << 14;  // mappings per worker
  uint32_t permissions = 0;     // remote addresses remembered for filtering; 0: 2 × capacity
  // This worker's external ports on every uplink: [port_base + worker × port_range_size,
  // port_base + (worker + 1) × port_range_size). Ports the box itself listens on (STAMP,
  // overlay) must lie outside every worker's range: replies to them would be translated.
  uint16_t port_base = 1024;
  uint32_t port_range_size = 4096;
  unsigned worker = 0;
  NatFiltering filtering = NatFiltering::kAddressDependent;
  NatTimeouts timeouts;
};

// Outcome of NatTable::out() when no mapping is returned.
enum class NatFail : uint8_t { kNone = 0, kUnsupportedProto, kPortExhausted, kTableFull };

// A packet's direction relative to the mapping, for the TCP state.
enum class NatDir : uint8_t { kOut = 0, kIn = 1 };

struct NatMapping {
  IpAddr int_addr;
  uint32_t last_s = 0;  // last refresh, caller's seconds
  uint32_t gen = 0;     // bumped when the slot is freed: permissions of an old mapping go stale
  uint16_t int_port = 0;
  uint16_t ext_port = 0;
  uint8_t uplink = 0;
  uint8_t proto = 0;  // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP or IPPROTO_ICMPV6
  uint8_t flags = 0;  // nat_flag::*
  uint8_t pad = 0;
  bool in_use() const noexcept;
  bool v4() const noexcept;
};
static_assert(sizeof(NatMapping) == 32);

namespace nat_flag {
inline constexpr uint8_t kInUse = 1 << 0;
inline constexpr uint8_t kV4 = 1 << 1;
inline constexpr uint8_t kAckOut = 1 << 2;   // TCP: a segment with ACK seen each way, no FIN/RST
inline constexpr uint8_t kAckIn = 1 << 3;    //      since: established
inline constexpr uint8_t kClosing = 1 << 4;  // TCP: FIN or RST seen: transitory
}  // namespace nat_flag

inline bool NatMapping::in_use() const noexcept {
  return (flags & nat_flag::kInUse) != 0;
}
inline bool NatMapping::v4() const noexcept {
  return (flags & nat_flag::kV4) != 0;
}

inline constexpr uint32_t kNoMapping = 0xffffffffu;

// Time is the caller's monotonic clock in whole seconds (uint32: wraps after 136 years of
// uptime; differences are taken modulo 2^32). Seconds, not TSC: the timeouts are minutes long,
// the tests drive time directly, and the stages convert once per burst (nat_now_s()).
class NatTable {
 public:
  // Mapping record + one slot in each of the two hash indexes (at most half full): 32 + 2×2×8.
  // Each remembered remote address (address-dependent filtering) costs 32 + 2×8 more; the port
  // bitmaps cost port_range_size / 8 bytes per uplink, family and protocol (24 bitmaps).
  static constexpr size_t kBytesPerMapping = 64;
  static constexpr size_t kBytesPerPermission = 48;
  static constexpr uint32_t kMinCapacity = 16;
  static constexpr uint32_t kMaxCapacity = 1u << 22;

  // Throws std::invalid_argument naming the field and value (capacity, permissions,
  // port_range_size, port_base + worker range beyond 65535, timeouts of 0). Start-up only.
  explicit NatTable(const NatConfig& cfg);
  ~NatTable();
  NatTable(const NatTable&) = delete;
  NatTable& operator=(const NatTable&) = delete;

  // Outbound: the mapping of (uplink, proto, internal address:port), created if missing (port
  // preserved when free in this worker's range, else pseudo-random, same parity first), and
  // refreshed. `remote` is remembered for address-dependent filtering. The TCP state advances
  // with tcp_flags (ignored for other protocols). kNoMapping with *fail set on failure.
  uint32_t out(uint8_t uplink, uint8_t proto, const IpAddr& int_addr, uint16_t int_port,
               const IpAddr& remote, uint8_t tcp_flags, uint32_t now_s, NatFail* fail) noexcept;

  // Inbound: the live mapping owning external port `ext_port` of `uplink` for this protocol and
  // family, or kNoMapping. No refresh and no filtering: see permitted() and refresh().
  uint32_t in(uint8_t uplink, uint8_t proto, bool v4, uint16_t ext_port) const noexcept;

  // Filtering decision for a packet from `remote` to mapping `id`.
  bool permitted(uint32_t id, const IpAddr& remote) const noexcept;

  // Marks an accepted inbound packet: refreshes the mapping (RFC 4787 REQ-6 allows inbound
  // refresh) and the remote's permission, and advances the TCP state.
  void refresh_in(uint32_t id, const IpAddr& remote, uint8_t tcp_flags, uint32_t now_s) noexcept;

  // Frees mappings idle past their timeout (and stale permissions), looking at no more than
  // `budget` mapping slots and `budget` permission slots from where the last call stopped, so
  // at most `budget` mappings are freed per call. Returns the number of mappings freed.
  uint32_t expire(uint32_t now_s, uint32_t budget) noexcept;

  // Uplink failure: frees every mapping of `uplink` at once (a walk of the whole table; the
  // owning worker calls it when the uplink goes down, not per packet). Returns the count.
  uint32_t expire_uplink(uint8_t uplink) noexcept;

  // The idle timeout that applies to the mapping now, seconds.
  uint32_t timeout_s(const NatMapping& m) const noexcept;
  const NatMapping& mapping(uint32_t id) const noexcept { return maps_[id]; }

  // External port range of this worker, and the worker owning an external port for a given
  // configuration (how replies are steered); -1 when the port is in no worker's range.
  uint16_t port_lo() const noexcept { return port_lo_; }
  uint32_t port_count() const noexcept { return port_count_; }
  static int worker_of_port(uint16_t port, uint16_t port_base, uint32_t port_range_size,
                            unsigned workers) noexcept;

  NatFiltering filtering() const noexcept { return cfg_.filtering; }
  uint32_t capacity() const noexcept { return capacity_; }
  size_t memory_bytes() const noexcept { return memory_bytes_; }

  // Counters (control threads may read them while the worker runs).
  uint32_t active() const noexcept {
    return std::atomic_ref<const uint32_t>(active_).load(std::memory_order_relaxed);
  }
  uint64_t created() const noexcept { return read_counter(created_); }
  uint64_t expired() const noexcept { return read_counter(expired_); }
  uint64_t exhausted() const noexcept { return read_counter(exhausted_); }
  uint64_t table_full() const noexcept { return read_counter(table_full_); }
  uint64_t flushed() const noexcept { return read_counter(flushed_); }
  uint64_t flushed(uint8_t uplink) const noexcept;
  uint64_t permissions_active() const noexcept { return read_counter(perm_active_); }

  static constexpr unsigned kUplinkSlots = 4;  // uplink indexes 0..3 (Site's kMaxUplinks)

 private:
  struct Slot {  // one open-addressing slot: full hash (for moves) and the record index
    uint32_t hash = 0;
    uint32_t id = kNoMapping;
  };
  struct Permission {
    IpAddr remote;
    uint32_t map_id = kNoMapping;
    uint32_t map_gen = 0;
    uint32_t last_s = 0;
    uint32_t pad = 0;
  };
  static_assert(sizeof(Permission) == 32);
  enum ProtoClass : unsigned { kTcp = 0, kUdp, kIcmp, kProtoClasses };

  static int proto_class(uint8_t proto) noexcept;
  uint64_t* bitmap(uint8_t uplink, bool v4, unsigned pc) noexcept;
  const uint64_t* bitmap(uint8_t uplink, bool v4, unsigned pc) const noexcept;
  bool port_used(const uint64_t* bm, uint32_t off) const noexcept {
    return (bm[off >> 6] >> (off & 63)) & 1;
  }
  // Offset of a free port in the range (preferring `want`, then the parity of `want_port`),
  // or -1 when all are taken.
  int64_t pick_port(const uint64_t* bm, uint16_t want_port) noexcept;
  uint32_t next_random() noexcept;

  static uint32_t hash_out(uint8_t uplink, uint8_t proto, const IpAddr& a, uint16_t port) noexcept;
  static uint32_t hash_in(uint8_t uplink, uint8_t proto, bool v4, uint16_t port) noexcept;
  static uint32_t hash_perm(uint32_t map_id, uint32_t gen, const IpAddr& remote) noexcept;
  uint32_t find_out(uint32_t h, uint8_t uplink, uint8_t proto, const IpAddr& a,
                    uint16_t port) const noexcept;
  uint32_t find_perm(uint32_t h, uint32_t map_id, uint32_t gen,
                     const IpAddr& remote) const noexcept;
  void touch_perm(uint32_t id, const IpAddr& remote, uint32_t now_s, bool create) noexcept;
  static void slot_insert(Slot* s, uint32_t mask, uint32_t h, uint32_t id) noexcept;
  static void slot_erase(Slot* s, uint32_t mask, uint32_t h, uint32_t id) noexcept;
  void tcp_track(NatMapping& m, NatDir dir, uint8_t tcp_flags) noexcept;
  void free_mapping(uint32_t id) noexcept;
  void free_perm(uint32_t pid) noexcept;

  NatConfig cfg_;
  uint32_t capacity_ = 0;
  uint32_t perm_capacity_ = 0;
  uint16_t port_lo_ = 0;
  uint32_t port_count_ = 0;
  uint32_t bitmap_words_ = 0;
  std::unique_ptr<NatMapping[]> maps_;
  std::unique_ptr<Permission[]> perms_;
  std::unique_ptr<Slot[]> out_slots_;  // by (uplink, proto, internal address, internal port)
  std::unique_ptr<Slot[]> in_slots_;   // by (uplink, proto, family, external port)
  std::unique_ptr<Slot[]> perm_slots_;
  std::unique_ptr<uint64_t[]> bitmaps_;    // kUplinkSlots × 2 families × kProtoClasses
  std::unique_ptr<uint32_t[]> free_maps_;  // stack of free mapping ids
  std::unique_ptr<uint32_t[]> free_perms_;
  uint32_t free_maps_n_ = 0;
  uint32_t free_perms_n_ = 0;
  uint32_t map_mask_ = 0;   // out/in slot arrays
  uint32_t perm_mask_ = 0;  // permission slot array
  uint32_t map_cursor_ = 0;
  uint32_t perm_cursor_ = 0;
  uint32_t rng_ = 0x9e3779b9u;
  size_t memory_bytes_ = 0;
  uint32_t active_ = 0;
  uint64_t created_ = 0;
  uint64_t expired_ = 0;
  uint64_t exhausted_ = 0;
  uint64_t table_full_ = 0;
  uint64_t flushed_ = 0;
  uint64_t flushed_by_uplink_[kUplinkSlots] = {};
  uint64_t perm_active_ = 0;
};

// Monotonic seconds from a TSC reading (tsc / rte_get_tsc_hz()): the stages' time, from their
// burst's BurstContext::now_tsc; nat_now_s() is the same of rte_rdtsc().
uint32_t nat_seconds(uint64_t tsc) noexcept;
uint32_t nat_now_s() noexcept;

}  // namespace traboule::dp

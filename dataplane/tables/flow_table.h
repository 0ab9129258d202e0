// SPDX-License-Identifier: Apache-2.0
// The per-worker flow table: one entry per connection (both directions) found by FlowKey
// through DPDK's cuckoo hash, with per-direction counters, a small TCP state machine and idle
// expiry. Exactly one writer, the worker that owns it; route/forward stages of that worker read
// and annotate entries by flow id; control threads may only list it (for_each, best-effort).
#pragma once

#include <netinet/in.h>
#include <rte_ether.h>
#include <rte_hash.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/graph/mbuf_meta.h"
#include "dataplane/model/counter.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/flow_key.h"

namespace traboule::dp {

enum class TcpState : uint8_t { kNone = 0, kSynSent, kEstablished, kClosing, kClosed };

namespace flow_flag {
inline constexpr uint8_t kInUse = 1 << 0;
inline constexpr uint8_t kOrigHi = 1 << 1;       // the originator is the key's `hi` endpoint
inline constexpr uint8_t kOrigFromLan = 1 << 2;  // the packet that created it came from the LAN
// TCP handshake/teardown progress, per flow direction (0 = original, 1 = reply).
inline constexpr uint8_t kSynAck0 = 1 << 3;
inline constexpr uint8_t kSynAck1 = 1 << 4;
inline constexpr uint8_t kFin0 = 1 << 5;
inline constexpr uint8_t kFin1 = 1 << 6;
// Application recognition is over for this flow (recognised, given up or abandoned): the
// classify stage looks no further, without touching its own per-flow tables.
inline constexpr uint8_t kAppSettled = 1 << 7;
}  // namespace flow_flag

// FlowEntry::policy_gen values that are not policy generations.
inline constexpr uint16_t kGenNone = 0;            // never evaluated
inline constexpr uint16_t kGenWanOpened = 0xffff;  // opened from the WAN: pinned to its uplink
// FlowEntry::uplink for a flow the policy drops (both directions: the route stage's rule, or
// the firewall revoking a flow opened from the WAN).
inline constexpr uint8_t kUplinkPolicyDrop = 0xfe;

// Why the firewall let a flow opened from the WAN in (FlowPath::opened_by): what it checks
// again when the policy changes.
enum class WanOpenedBy : uint8_t { kNone = 0, kRule, kForward, kNatMapping };

// One cache line. Direction 0 is the direction of the packet that created (or restarted) the
// flow, 1 the reply. Counters and last_seen_tsc are written with bump()/relaxed stores so the
// control thread can read them with read_counter() while the worker runs.
struct alignas(64) FlowEntry {
  uint64_t last_seen_tsc = 0;
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
  rte_ether_addr lan_mac{};  // the LAN host's MAC (00:00:00:00:00:00 until seen)
  uint16_t rule = 0;         // set by the route stage
  uint32_t hash = 0;         // signature the key was inserted with: deletion must use the same
  // Creation time as rte_rdtsc() >> kCoarseShift: ages up to ~32 h at 2.4 GHz read right, and
  // 32 bits leave room in the cache line for the policy generation and the application.
  uint32_t created_coarse = 0;
  uint16_t policy_gen = 0;  // generation of the policy `rule` was matched under (route stage)
  uint16_t app = 0;         // application id (0: unknown), set by recognition
  uint8_t proto = 0;
  uint8_t uplink = kNoUplink;  // set by the route stage
  TcpState tcp_state = TcpState::kNone;
  uint8_t flags = 0;  // flow_flag::*

  bool in_use() const noexcept { return (flags & flow_flag::kInUse) != 0; }
};
static_assert(sizeof(FlowEntry) == 64, "FlowEntry must stay one cache line");
// Beside each entry (FlowEntry has no byte left): where an overlay flow's packets come from and
// go to. On a hub, the site and the site's path the flow last arrived on, which is where its
// replies go (the edge's choice, so both directions move together on a failover).
struct FlowPath {
  uint16_t site = 0;                // overlay site id (0: not an overlay flow)
  uint8_t remote_path = kNoUplink;  // the site's uplink index (the overlay header's path)
  uint8_t cls = 0;                  // the site's class tag for the flow (a hub tags answers)
  uint8_t dup_uplink = kNoUplink;   // duplicate strategy: the second uplink chosen
  uint32_t moves = 0;               // times the route stage moved the flow to another uplink
  bool wan_opened = false;          // created by a packet from an uplink (firewall share cap)
  uint16_t fwd_port = 0;            // opened through a port forward: its public port
  WanOpenedBy opened_by = WanOpenedBy::kNone;
  uint8_t dscp = 0;  // DSCP of the packet that created the flow (IPFIX ipClassOfService)
};
inline constexpr unsigned kCoarseShift = 16;
inline uint32_t coarse_tsc(uint64_t tsc) noexcept {
  return static_cast<uint32_t>(tsc >> kCoarseShift);
}

// The signature the table stores a key under, from flow_hash(key) | 1 (the dispatch stage's
// meta.flow_hash). rte_hash takes the primary bucket from the low bits, so the forced bit 0
// would leave half the primary buckets unused (inserts slow down ~10x past half load): rotate
// it up into the short signature instead, where it costs one bit of the 16.
inline uint32_t table_hash(uint32_t dispatch_hash) noexcept {
  return (dispatch_hash >> 1) | (dispatch_hash << 31);
}

// What the lookup needs per packet; built by the flow stage (see flow_request()).
struct FlowRequest {
  FlowKey key;
  uint32_t hash = 0;    // table_hash() of the key: what rte_hash stores the key under
  uint8_t key_dir = 0;  // make_flow_key's result: 0 when the sender is the key's `lo` endpoint
  bool from_lan = false;
  bool from_wan = false;  // from an uplink, not decapsulated from the overlay
  uint8_t dscp = 0;       // the packet's DSCP (kept by a flow it creates)
};

// Fills `r` for a parsed IP packet in two steps the flow stage runs as two loops over a burst
// (hashing a key right after writing it in small pieces stalls on store forwarding).
// Packets with no L4 header (fragments, ESP, GRE...) are keyed on addresses + protocol with
// ports 0. A non-zero meta.flow_hash (the dispatch stage's flow_hash(key) | 1) is reused
// unless the key had to be normalised here; otherwise r.hash is left 0 for the second step.
inline void flow_request_key(const PacketMeta& m, FlowRequest& r) noexcept {
  uint8_t dir = make_flow_key(m, r.key);
  bool reuse = m.flow_hash != 0;
  if ((m.flags & meta_flag::kHasL4) == 0 || (m.flags & meta_flag::kFragment) != 0) [[unlikely]] {
    if ((r.key.lo_port | r.key.hi_port) != 0) {
      r.key.lo_port = r.key.hi_port = 0;
      if (r.key.lo == r.key.hi) dir = 0;
      reuse = false;
    }
  }
  r.key_dir = dir;
  r.hash = reuse ? table_hash(m.flow_hash) : 0;  // never 0 once computed: bit 31 is set
  r.from_lan = (m.flags & meta_flag::kFromLan) != 0;
  r.from_wan = (m.flags & (meta_flag::kFromLan | meta_flag::kFromOverlay)) == 0;
  r.dscp = m.dscp;
}
inline void flow_request_hash(FlowRequest& r) noexcept {
  if (r.hash == 0) r.hash = table_hash(flow_hash(r.key) | 1u);
}
inline void flow_request(const PacketMeta& m, FlowRequest& r) noexcept {
  flow_request_key(m, r);
  flow_request_hash(r);
}

// Advances the entry's TCP state for a packet with `tcp_flags` in flow direction `dir`:
// NONE → SYN_SENT (SYN) → ESTABLISHED (SYN+ACK then ACK the other way, or packets both ways)
// → CLOSING (FIN) → CLOSED (FIN both ways then ACK, or RST at any point). Restarts on SYN are
// FlowTable::track's job. Loose on purpose: we forward, we do not police sequence numbers.
void tcp_advance(FlowEntry& e, uint8_t dir, uint8_t tcp_flags) noexcept;

// What for_each hands to the control thread: a copy taken while the worker may be writing.
struct FlowView {
  uint32_t id = 0;
  FlowKey key;
  FlowEntry entry;
  FlowPath path;
};

class FlowTable {
 public:
  static constexpr uint32_t kMinCapacity = 1024;
  static constexpr uint32_t kMaxCapacity = 1u << 26;
  static constexpr uint16_t kLookupMax = RTE_HASH_LOOKUP_BULK_MAX;  // keys per bulk call

  // Throws std::runtime_error naming the cause when the capacity is out of range or the hash
  // or the entry arrays cannot be allocated (start-up only). socket_id may be SOCKET_ID_ANY.
  FlowTable(uint32_t capacity, const FlowTimeouts& timeouts, int socket_id);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Finds the flow of each request, creating the missing ones (stamped now_tsc). ids[i] is the
  // flow id, or kNoFlow when the table is full. Returns the number created. Bulk lookups take
  // kLookupMax keys at a time: larger n is split.
  // Requests for the same new key in one call share the entry created by the first.
  uint16_t lookup_or_create(const FlowRequest* reqs, uint16_t n, uint64_t now_tsc,
                            uint32_t* ids) noexcept;
  // The two halves of lookup_or_create, for a caller that decides which misses become flows
  // (the firewall): ids[i] is the flow or kNoFlow (n <= kLookupMax); then create() one request
  // (kNoFlow when the table is full; the flow of an identical key created earlier otherwise).
  void lookup(const FlowRequest* reqs, uint16_t n, uint32_t* ids) noexcept;
  uint32_t create(const FlowRequest& r, uint64_t now_tsc) noexcept;

  // Accounts one packet of `bytes` (IP octets) on flow `id` and advances its TCP state. A pure SYN
  // on a closing/closed TCP flow restarts it (port reuse): counters, route and originator reset.
  // Returns the packet's flow direction (0 = as the packet that created the flow).
  inline uint8_t track(uint32_t id, const FlowRequest& r, const PacketMeta& m, uint32_t bytes,
                       uint64_t now_tsc) noexcept;

  // Owning worker only: the flow of `key`, or kNoFlow.
  uint32_t find(const FlowKey& key) const noexcept;

  // Removes flows idle for at least their timeout, visiting at most max_scan slots from where
  // the previous call stopped. Returns the number removed.
  uint32_t expire(uint64_t now_tsc, uint32_t max_scan) noexcept;

  FlowEntry& entry(uint32_t id) noexcept { return entries_[id]; }
  const FlowEntry& entry(uint32_t id) const noexcept { return entries_[id]; }
  const FlowKey& key(uint32_t id) const noexcept { return keys_[id]; }
  FlowPath& path(uint32_t id) noexcept { return paths_[id]; }
  const FlowPath& path(uint32_t id) const noexcept { return paths_[id]; }

  // The idle timeout that applies to the entry now (per protocol and TCP state), in TSC ticks.
  uint64_t idle_timeout_tsc(const FlowEntry& e) const noexcept;

  uint32_t size() const noexcept { return read_counter32(size_); }
  uint32_t capacity() const noexcept { return capacity_; }
  // rte_hash (measured from the heap at creation) + entries + keys.
  size_t memory_bytes() const noexcept {
    return hash_bytes_ + entries_bytes_ + keys_bytes_ + paths_bytes_;
  }
  size_t hash_memory_bytes() const noexcept { return hash_bytes_; }
  uint64_t created() const noexcept { return read_counter(created_); }
  uint64_t expired() const noexcept { return read_counter(expired_); }
  uint64_t restarted() const noexcept { return read_counter(restarted_); }
  // Flows opened by a packet from an uplink, now in the table.
  uint32_t wan_opened() const noexcept { return read_counter32(wan_opened_); }

  // Calls fn(const FlowView&) for every flow in use. Safe from a control thread while the
  // worker runs, but best-effort: a flow created or removed during the walk may be missed or
  // shown, a flow replaced while being copied is skipped, and fields other than the counters
  // and last_seen_tsc may be one packet stale. It never touches the rte_hash.
  template <class Fn>
  void for_each(Fn&& fn) const;

 private:
  enum TimeoutClass : unsigned {
    kTcpSyn = 0,
    kTcpEstablished,
    kTcpClosing,
    kTcpClosed,
    kUdp,
    kIcmp,
    kOther,
    kClassCount
  };
  static uint32_t read_counter32(const uint32_t& c) noexcept {
    return std::atomic_ref<const uint32_t>(c).load(std::memory_order_relaxed);
  }
  void init_entry(uint32_t id, const FlowRequest& r, uint64_t now_tsc) noexcept;
  void restart(uint32_t id, const FlowRequest& r, uint64_t now_tsc) noexcept;
  void remove(uint32_t id) noexcept;

  rte_hash* hash_ = nullptr;
  FlowEntry* entries_ = nullptr;
  FlowKey* keys_ = nullptr;  // written at creation only; lets listing avoid the rte_hash
  FlowPath* paths_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  uint32_t wan_opened_ = 0;
  uint32_t cursor_ = 0;  // next slot expire() looks at
  uint64_t timeout_tsc_[kClassCount] = {};
  size_t hash_bytes_ = 0;
  size_t entries_bytes_ = 0;
  size_t keys_bytes_ = 0;
  size_t paths_bytes_ = 0;
  uint64_t created_ = 0;
  uint64_t expired_ = 0;
  uint64_t restarted_ = 0;
};

// Inline: once per packet, from the flow stage.
uint8_t FlowTable::track(uint32_t id, const FlowRequest& r, const PacketMeta& m, uint32_t bytes,
                         uint64_t now_tsc) noexcept {
  FlowEntry& e = entries_[id];
  const bool tcp_l4 = e.proto == IPPROTO_TCP && (m.flags & meta_flag::kHasL4) != 0 &&
                      (m.flags & meta_flag::kFragment) == 0;
  if (tcp_l4 && (m.tcp_flags & 0x17) == 0x02 &&  // a pure SYN: no ACK, RST or FIN
      (e.tcp_state == TcpState::kClosing || e.tcp_state == TcpState::kClosed)) [[unlikely]]
    restart(id, r, now_tsc);
  const uint8_t dir = r.key_dir ^ ((e.flags & flow_flag::kOrigHi) != 0 ? 1 : 0);
  std::atomic_ref<uint64_t>(e.last_seen_tsc).store(now_tsc, std::memory_order_relaxed);
  bump(e.packets[dir]);
  bump(e.bytes[dir], bytes);
  if (tcp_l4) tcp_advance(e, dir, m.tcp_flags);
  return dir;
}

template <class Fn>
void FlowTable::for_each(Fn&& fn) const {
  auto flags_of = [](const FlowEntry& e) {
    return std::atomic_ref<const uint8_t>(e.flags).load(std::memory_order_acquire);
  };
  FlowView v;
  for (uint32_t i = 0; i < capacity_; ++i) {
    const FlowEntry& e = entries_[i];
    const uint8_t f0 = flags_of(e);
    if ((f0 & flow_flag::kInUse) == 0) continue;
    const uint32_t c0 =
        std::atomic_ref<const uint32_t>(e.created_coarse).load(std::memory_order_relaxed);
    v.id = i;
    v.key = keys_[i];
    v.entry = e;
    v.path = paths_[i];
    v.entry.last_seen_tsc = read_counter(e.last_seen_tsc);
    for (int d = 0; d < 2; ++d) {
      v.entry.packets[d] = read_counter(e.packets[d]);
      v.entry.bytes[d] = read_counter(e.bytes[d]);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    // Removed and possibly reused while copying: skip rather than show a mixed record.
    if ((flags_of(e) & flow_flag::kInUse) == 0 ||
        std::atomic_ref<const uint32_t>(e.created_coarse).load(std::memory_order_relaxed) != c0)
      continue;
    fn(static_cast<const FlowView&>(v));
  }
}

}  // namespace traboule::dp

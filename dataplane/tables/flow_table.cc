// SPDX-License-Identifier: Apache-2.0
#include "dataplane/tables/flow_table.h"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace traboule::dp {
namespace {

using namespace flow_flag;

// flow_key.h's seed. We always pass precomputed signatures; rte_hash's own function only
// serves rte_hash_hash(), kept equal to table_hash(flow_hash(key) | 1), checked at start-up.
constexpr uint32_t kFlowHashSeed = 0x7ab0u;
uint32_t table_hash_func(const void* key, uint32_t key_len, uint32_t init_val) {
  return table_hash(rte_hash_crc(key, key_len, init_val) | 1u);
}

std::atomic<uint32_t> g_instances{0};

// Bytes allocated from the DPDK heaps of every socket (rte_hash gives no size of its own).
size_t heap_allocated_bytes() {
  size_t total = 0;
  for (unsigned i = 0; i < rte_socket_count(); ++i) {
    rte_malloc_socket_stats st{};
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0)
      total += st.heap_allocsz_bytes;
  }
  return total;
}

template <class T>
void store_relaxed(T& field, T v) noexcept {
  std::atomic_ref<T>(field).store(v, std::memory_order_relaxed);
}
void set_flags(FlowEntry& e, uint8_t f) noexcept {
  std::atomic_ref<uint8_t>(e.flags).store(f, std::memory_order_release);
}

constexpr uint8_t fin_bit(uint8_t dir) {
  return dir == 0 ? kFin0 : kFin1;
}
constexpr uint8_t synack_bit(uint8_t dir) {
  return dir == 0 ? kSynAck0 : kSynAck1;
}

}  // namespace

void tcp_advance(FlowEntry& e, uint8_t dir, uint8_t tcp_flags) noexcept {
  constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
  const bool syn = tcp_flags & kSyn, ack = tcp_flags & kAck, fin = tcp_flags & kFin;
  uint8_t f = e.flags;
  TcpState s = e.tcp_state;
  if (tcp_flags & kRst) {
    s = TcpState::kClosed;
  } else {
    switch (s) {
      case TcpState::kNone:
      case TcpState::kSynSent:
        if (syn) {
          s = TcpState::kSynSent;
          if (ack) f |= synack_bit(dir);
        } else if (fin) {
          s = TcpState::kClosing;
          f |= fin_bit(dir);
        } else if (ack && (f & synack_bit(dir ^ 1))) {
          s = TcpState::kEstablished;  // the handshake's final ACK
        } else if (e.packets[0] != 0 && e.packets[1] != 0) {
          s = TcpState::kEstablished;  // picked up mid-stream: traffic both ways
        }
        break;
      case TcpState::kEstablished:
        if (fin) {
          s = TcpState::kClosing;
          f |= fin_bit(dir);
        }
        break;
      case TcpState::kClosing:
        if (fin) {
          f |= fin_bit(dir);
        } else if (ack && (f & kFin0) && (f & kFin1)) {
          s = TcpState::kClosed;  // the last ACK after FINs both ways
        }
        break;
      case TcpState::kClosed:
        break;
    }
  }
  e.tcp_state = s;
  if (f != e.flags) set_flags(e, f);
}

FlowTable::FlowTable(uint32_t capacity, const FlowTimeouts& timeouts, int socket_id)
    : capacity_(capacity) {
  if (capacity < kMinCapacity || capacity > kMaxCapacity)
    throw std::runtime_error("flow table: capacity " + std::to_string(capacity) +
                             " is out of range [" + std::to_string(kMinCapacity) + ", " +
                             std::to_string(kMaxCapacity) + "]");
  const std::string name = "flows" + std::to_string(g_instances.fetch_add(1));
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity;
  p.key_len = sizeof(FlowKey);
  p.hash_func = table_hash_func;
  p.hash_func_init_val = kFlowHashSeed;
  p.socket_id = socket_id;
  // Single writer: no multi-writer or reader/writer concurrency flags. The extendable bucket
  // table lets the table hold exactly `capacity` keys instead of failing at ~90 % load.
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  const size_t heap_before = heap_allocated_bytes();
  hash_ = rte_hash_create(&p);
  if (hash_ == nullptr)
    throw std::runtime_error("flow table: rte_hash_create(" + name + ", " +
                             std::to_string(capacity) +
                             " entries) failed: " + rte_strerror(rte_errno));
  const size_t heap_after = heap_allocated_bytes();
  hash_bytes_ = heap_after > heap_before ? heap_after - heap_before : 0;

  entries_bytes_ = size_t{capacity} * sizeof(FlowEntry);
  keys_bytes_ = size_t{capacity} * sizeof(FlowKey);
  paths_bytes_ = size_t{capacity} * sizeof(FlowPath);
  entries_ = static_cast<FlowEntry*>(
      rte_zmalloc_socket("flow_entries", entries_bytes_, RTE_CACHE_LINE_SIZE, socket_id));
  keys_ = static_cast<FlowKey*>(
      rte_zmalloc_socket("flow_keys", keys_bytes_, RTE_CACHE_LINE_SIZE, socket_id));
  paths_ = static_cast<FlowPath*>(
      rte_zmalloc_socket("flow_paths", paths_bytes_, RTE_CACHE_LINE_SIZE, socket_id));
  if (entries_ == nullptr || keys_ == nullptr || paths_ == nullptr) {
    rte_free(entries_);
    rte_free(keys_);
    rte_free(paths_);
    rte_hash_free(hash_);
    throw std::runtime_error("flow table: cannot allocate " +
                             std::to_string((entries_bytes_ + keys_bytes_ + paths_bytes_) >> 20) +
                             " MiB of DPDK memory for " + std::to_string(capacity) +
                             " flows on socket " + std::to_string(socket_id));
  }
  std::uninitialized_value_construct_n(entries_, capacity);
  std::uninitialized_value_construct_n(keys_, capacity);
  std::uninitialized_value_construct_n(paths_, capacity);

  FlowKey probe;
  probe.lo = IpAddr::v4(0x0a000001);
  probe.hi = IpAddr::v4(0x0a000002);
  probe.lo_port = 1;
  probe.hi_port = 2;
  probe.proto = 17;
  if (rte_hash_hash(hash_, &probe) != table_hash(flow_hash(probe) | 1u)) {
    rte_free(entries_);
    rte_free(keys_);
    rte_hash_free(hash_);
    throw std::runtime_error("flow table: rte_hash and flow_hash() disagree (hash seed changed?)");
  }

  const uint64_t hz = rte_get_tsc_hz();
  timeout_tsc_[kTcpSyn] = uint64_t{timeouts.tcp_syn} * hz;
  timeout_tsc_[kTcpEstablished] = uint64_t{timeouts.tcp_established} * hz;
  timeout_tsc_[kTcpClosing] = uint64_t{timeouts.tcp_closing} * hz;
  timeout_tsc_[kTcpClosed] = uint64_t{timeouts.tcp_closed} * hz;
  timeout_tsc_[kUdp] = uint64_t{timeouts.udp} * hz;
  timeout_tsc_[kIcmp] = uint64_t{timeouts.icmp} * hz;
  timeout_tsc_[kOther] = uint64_t{timeouts.other} * hz;
}

FlowTable::~FlowTable() {
  rte_free(entries_);
  rte_free(keys_);
  rte_free(paths_);
  rte_hash_free(hash_);
}

void FlowTable::init_entry(uint32_t id, const FlowRequest& r, uint64_t now_tsc) noexcept {
  FlowEntry& e = entries_[id];
  set_flags(e, 0);  // listing skips it while it is rewritten
  keys_[id] = r.key;
  store_relaxed(e.created_coarse, coarse_tsc(now_tsc));
  store_relaxed(e.last_seen_tsc, now_tsc);
  for (int d = 0; d < 2; ++d) {
    store_relaxed(e.packets[d], uint64_t{0});
    store_relaxed(e.bytes[d], uint64_t{0});
  }
  e.lan_mac = rte_ether_addr{};
  e.rule = 0;
  e.policy_gen = 0;
  e.app = 0;
  e.hash = r.hash;
  e.proto = r.key.proto;
  e.uplink = kNoUplink;
  e.tcp_state = TcpState::kNone;
  paths_[id] = FlowPath{};
  paths_[id].dscp = r.dscp;
  if (r.from_wan) {
    paths_[id].wan_opened = true;
    store_relaxed(wan_opened_, wan_opened_ + 1);
  }
  set_flags(e, static_cast<uint8_t>(kInUse | (r.key_dir != 0 ? kOrigHi : 0) |
                                    (r.from_lan ? kOrigFromLan : 0)));
}

void FlowTable::lookup(const FlowRequest* reqs, uint16_t n, uint32_t* ids) noexcept {
  if (n == 0) return;
  const void* keys[kLookupMax];
  hash_sig_t sigs[kLookupMax];
  int32_t pos[kLookupMax];
  for (uint16_t i = 0; i < n; ++i) {
    keys[i] = &reqs[i].key;
    sigs[i] = reqs[i].hash;
  }
  // One bulk call pipelines the bucket and key-store misses of the whole burst.
  if (rte_hash_lookup_with_hash_bulk(hash_, keys, sigs, n, pos) != 0) [[unlikely]] {
    for (uint16_t i = 0; i < n; ++i) pos[i] = -ENOENT;
  }
  for (uint16_t i = 0; i < n; ++i) {
    // A key in the hash always has its entry in use (remove() deletes the key first), so the
    // entry is not touched here: its prefetch gets until track() to land.
    if (pos[i] >= 0) [[likely]] {
      rte_prefetch0(&entries_[pos[i]]);
      ids[i] = static_cast<uint32_t>(pos[i]);
    } else {
      ids[i] = kNoFlow;
    }
  }
}

uint32_t FlowTable::create(const FlowRequest& r, uint64_t now_tsc) noexcept {
  // Also returns the position of a key added earlier in this burst.
  const int32_t p = rte_hash_add_key_with_hash(hash_, &r.key, r.hash);
  if (p < 0 || static_cast<uint32_t>(p) >= capacity_) [[unlikely]] {
    if (p >= 0) rte_hash_del_key_with_hash(hash_, &r.key, r.hash);  // cannot happen
    return kNoFlow;
  }
  const auto id = static_cast<uint32_t>(p);
  if (!entries_[id].in_use()) {
    init_entry(id, r, now_tsc);
    store_relaxed(size_, size_ + 1);
    bump(created_);
  }
  return id;
}

uint16_t FlowTable::lookup_or_create(const FlowRequest* reqs, uint16_t n, uint64_t now_tsc,
                                     uint32_t* ids) noexcept {
  if (n > kLookupMax) [[unlikely]] {  // one bulk call takes at most kLookupMax keys
    const uint16_t first = lookup_or_create(reqs, kLookupMax, now_tsc, ids);
    return first + lookup_or_create(reqs + kLookupMax, n - kLookupMax, now_tsc, ids + kLookupMax);
  }
  lookup(reqs, n, ids);
  uint16_t created = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (ids[i] != kNoFlow) [[likely]]
      continue;
    const uint64_t before = created_;
    ids[i] = create(reqs[i], now_tsc);
    created += static_cast<uint16_t>(created_ - before);
  }
  return created;
}

void FlowTable::restart(uint32_t id, const FlowRequest& r, uint64_t now_tsc) noexcept {
  FlowEntry& e = entries_[id];
  const uint32_t hash = e.hash;
  if (paths_[id].wan_opened) store_relaxed(wan_opened_, wan_opened_ - 1);
  init_entry(id, r, now_tsc);
  e.hash = hash;  // the rte_hash entry is unchanged
  bump(restarted_);
}

uint32_t FlowTable::find(const FlowKey& key) const noexcept {
  const int32_t p = rte_hash_lookup_with_hash(hash_, &key, table_hash(flow_hash(key) | 1u));
  if (p < 0 || static_cast<uint32_t>(p) >= capacity_ || !entries_[p].in_use()) return kNoFlow;
  return static_cast<uint32_t>(p);
}

uint64_t FlowTable::idle_timeout_tsc(const FlowEntry& e) const noexcept {
  switch (e.proto) {
    case IPPROTO_TCP:
      switch (e.tcp_state) {
        case TcpState::kEstablished:
          return timeout_tsc_[kTcpEstablished];
        case TcpState::kClosing:
          return timeout_tsc_[kTcpClosing];
        case TcpState::kClosed:
          return timeout_tsc_[kTcpClosed];
        case TcpState::kNone:
        case TcpState::kSynSent:
          return timeout_tsc_[kTcpSyn];
      }
      return timeout_tsc_[kTcpSyn];
    case IPPROTO_UDP:
      return timeout_tsc_[kUdp];
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return timeout_tsc_[kIcmp];
    default:
      return timeout_tsc_[kOther];
  }
}

void FlowTable::remove(uint32_t id) noexcept {
  FlowEntry& e = entries_[id];
  // The signature stored at insertion, not a recomputed one: a dispatch-provided hash may be
  // what the key went in with.
  rte_hash_del_key_with_hash(hash_, &keys_[id], e.hash);
  if (paths_[id].wan_opened) store_relaxed(wan_opened_, wan_opened_ - 1);
  set_flags(e, 0);
  store_relaxed(size_, size_ - 1);
}

uint32_t FlowTable::expire(uint64_t now_tsc, uint32_t max_scan) noexcept {
  if (max_scan > capacity_) max_scan = capacity_;
  uint32_t removed = 0;
  uint32_t c = cursor_;
  for (uint32_t s = 0; s < max_scan; ++s) {
    FlowEntry& e = entries_[c];
    if (e.in_use() && now_tsc >= e.last_seen_tsc &&
        now_tsc - e.last_seen_tsc >= idle_timeout_tsc(e)) {
      remove(c);
      ++removed;
    }
    if (++c == capacity_) c = 0;
  }
  cursor_ = c;
  if (removed != 0) bump(expired_, removed);
  return removed;
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// What the probe stage and the link monitor exchange through rte_rings: a record per probe
// event (sent, send failed, reply) and the control plane's send requests. Trivially copyable,
// sizes multiples of 4 (rte_ring elements).
#pragma once

#include <cstdint>
#include <type_traits>

#include "dataplane/proto/ip_addr.h"
#include "dataplane/proto/stamp.h"

namespace traboule::dp {

// Data plane → control plane: one record per probe event, through a multi-producer rte_ring
// (elements of sizeof(StampRecord) bytes) that a control thread drains.

enum class StampRecordKind : uint8_t {
  kSent = 1,    // worker 0 sent probe `seq` of `session`, stamped t1
  kSendFailed,  // worker 0 could not send it: `failure` says why
  kReply,       // a reflected packet (or an echo reply) for one of our sessions arrived, at t4
};

enum class StampSendFailure : uint8_t {
  kNone = 0,
  kNoSession,   // the session slot is not active
  kLinkDown,    // the uplink's port is down
  kNoSource,    // no address of the remote's family on the uplink
  kNoRoute,     // remote not on-link and no gateway of its family
  kNoNeighbor,  // next hop's MAC not resolved yet (resolution was asked for)
  kNoMbuf,      // packet pool empty
  kBadLength,   // asked payload length outside 44..kStampMaxPacketLen
  kClockUnset,  // no TSC → NTP mapping published yet
  kQueueFull,   // control plane side: the request ring to the sending worker was full
};
const char* to_string(StampSendFailure f) noexcept;

struct StampRecord {
  StampRecordKind kind = StampRecordKind::kReply;
  StampSendFailure failure = StampSendFailure::kNone;
  uint8_t sender_ttl = 0;  // kReply: the TTL the reflector saw on our probe
  uint8_t reply_ttl = 0;   // kReply: the TTL of the reply as it reached us
  uint16_t session = 0;
  uint16_t length = 0;  // kReply: STAMP payload bytes; kSent: bytes sent
  uint32_t seq = 0;     // our (Session-Sender) sequence number
  uint32_t reflector_seq = 0;
  uint16_t sender_error = 0;     // raw error estimate of t1 (ours, as the reflector echoed it)
  uint16_t reflector_error = 0;  // raw error estimate of t2 and t3
  uint16_t ssid = 0;
  uint16_t reserved = 0;
  uint64_t t1 = 0;  // NTP: we sent (kSent: as stamped; kReply: as echoed)
  uint64_t t2 = 0;  // NTP: reflector received (converted from PTP when its Z bit is set)
  uint64_t t3 = 0;  // NTP: reflector sent
  uint64_t t4 = 0;  // NTP: we received
  // Direct measurement (RFC 8972 §4.5) of the overlay data packets on the probe's path, 32-bit
  // wrapping counters (docs/links.md). kSent: dm = the probe carried a DM TLV, dm_s_txc what it
  // said. kReply: dm = the reflector filled it (U and M clear, length 12), and then all four:
  uint32_t dm_s_txc = 0;  // our encap's packets sent on this uplink to the hub, at T1
  uint32_t dm_r_rxc = 0;  // the hub's decap's packets received from this site on this path, at T2
  uint32_t dm_r_txc = 0;  // the hub's encap's packets sent to this site on this path, at T2
  uint32_t dm_s_rxc = 0;  // our decap's packets received from the hub on this uplink, at T4
  bool dm = false;
  // Per traffic class 1..dm_classes (kStampTlvClassDm), entry i is class i + 1: kSent what the
  // probe said (c_s_txc), kReply the four counters once the reflector filled them (else 0).
  uint8_t dm_classes = 0;
  uint8_t dm_reserved[2] = {};
  std::array<uint32_t, kStampMaxClasses> c_s_txc{}, c_r_rxc{}, c_r_txc{}, c_s_rxc{};
};
static_assert(std::is_trivially_copyable_v<StampRecord>);
static_assert(sizeof(StampRecord) % 4 == 0, "rte_ring element sizes are multiples of 4");

// Control plane → worker 0: send one probe now (rte_ring of sizeof(StampRequest) elements).
struct StampRequest {
  uint16_t session = 0;
  uint16_t length = kStampPacketLen;  // STAMP payload bytes (44 + padding)
  uint32_t seq = 0;
  uint16_t ssid = 0;
  uint8_t dscp = 0;
  uint8_t classes = 0;  // per-class direct measurement entries an edge's probe carries (0..7)
};
static_assert(std::is_trivially_copyable_v<StampRequest>);
static_assert(sizeof(StampRequest) % 4 == 0, "rte_ring element sizes are multiples of 4");

}  // namespace traboule::dp

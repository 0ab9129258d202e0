// SPDX-License-Identifier: Apache-2.0
// The probe stage: STAMP (RFC 8762) for the box's own addresses, between parse and local. As
// Session-Reflector it rewrites a test packet into its reply in place (stateful: a sequence
// counter per session) and sends it back out of its ingress port; as Session-Sender it stamps
// replies to our sessions (and ICMP echo replies to our echo sessions) and hands them to the
// control thread through a ring, and on worker 0 it builds the probes the control thread asks for.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/model/stamp_clock.h"
#include "dataplane/model/stamp_ring.h"
#include "dataplane/model/stamp_sessions.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/proto/overlay_header.h"
#include "dataplane/proto/stamp.h"
#include "dataplane/runtime/own_addresses.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/overlay_sites.h"

namespace traboule::dp {

struct ProbeConfig {
  uint16_t reflector_port = kStampPort;  // 0: no reflector
  bool stateful = true;  // false: reflected Sequence Number = the sender's (RFC 8762 §4.2)
  uint32_t reflector_sessions = 1024;  // per worker; rounded up to a power of two
  uint32_t reflector_idle_ms = 60000;  // a session idle this long restarts its counter at 0
  // Sessions one source (an IPv4 address, an IPv6 /64) may hold per worker: an edge has at most
  // 4 uplinks (one address each) × one session per hub endpoint. 1..kReflectorProbeLimit.
  uint32_t reflector_per_source = 8;
  // When a new session finds no free slot, a session idle at least this long may give up its
  // own (the source's own least recently used one first): longer than any probe interval, so
  // a flood can only take slots nobody is using.
  uint32_t reflector_evict_idle_ms = 2000;
  // A hub with a site table gives sessions to known peers only (docs/links.md). Other sources
  // are answered statelessly (their own sequence number, no slot taken), so a new or renumbered
  // edge path is measured before its first overlay packet; false: refused
  // (`reflector_unknown_peer`).
  bool unknown_peers_stateless = true;
};

// Shared objects, owned by whoever builds the pipelines (one of each per box).
struct ProbeDeps {
  const SharedTscClock* clock = nullptr;        // required
  const StampSessionTable* sessions = nullptr;  // nullptr: no Session-Sender on this box
  rte_ring* results = nullptr;   // StampRecord elements, multi-producer; required with sessions
  rte_ring* requests = nullptr;  // StampRequest elements; on the worker that sends (worker 0)
  rte_mempool* pool = nullptr;   // for the probes; required with requests
  // Overlay (direct measurement, docs/links.md): the box's site table. An edge (site id set)
  // puts the overlay SSID and a Direct Measurement TLV on its STAMP probes and reads its own
  // counters into the records; a hub's reflector gives sessions to known peers only and fills
  // the TLVs. nullptr: none of this (plain RFC 8762 probes, per-source limits only).
  const OverlaySites* overlay = nullptr;
  uint16_t overlay_site_id = 0;  // an edge's site id (0 on a hub)
  bool overlay_hub = false;
};

class ProbeStage final : public Stage {
 public:
  enum Edge : unsigned {
    kNext,       // not STAMP for us, nor an echo reply to our probes: on to local
    kReply,      // a reflected test packet; meta.out_port = meta.in_port
    kSent,       // a Session-Sender packet or echo request built here (on_idle); out_port set
    kConsumed,   // a reply to our session (STAMP or echo), recorded in the result ring: free it
    kEdgeCount,  // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 4> kEdges{"next", "reply", "sent", "consumed"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }

  enum Drop : unsigned {
    kTruncated,        // UDP payload shorter than the 44-byte STAMP packet
    kChainedMbuf,      // the datagram does not sit in the first segment
    kBadChecksum,      // wrong UDP checksum (or none over IPv6)
    kBadSource,        // reflector: a source never answered (see docs/links.md)
    kNotOnPort,        // to one of our addresses, but not one of the ingress interface's
    kReflectorFull,    // no slot for a new reflector session (per worker table)
    kUnknownSession,   // to a Session-Sender port whose session is not active
    kSessionMismatch,  // to an active session's port, from elsewhere than its reflector
    kResultRingFull,   // the control thread is not draining: the reply is lost to it
    kClockUnset,       // no TSC → NTP mapping published yet: no timestamp to give
    kBadIcmpChecksum,  // an echo reply to one of our echo probes, with a wrong checksum
    kSourceLimit,      // reflector: the source holds its quota of active sessions
    kUnknownPeer,      // reflector on a hub: not a known site path (unknown_peers_stateless off)
    kDropCount,        // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 13> kDrops{
      "stamp_truncated",
      "chained_mbuf",
      "bad_udp_checksum",
      "bad_source",
      "not_on_port",
      "reflector_full",
      "unknown_session",
      "session_mismatch",
      "result_ring_full",
      "clock_unset",
      "bad_icmp_checksum",
      "reflector_source_limit",
      "reflector_unknown_peer",
  };
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  struct Stats {
    uint64_t reflector_sessions_new = 0;     // counters started (new sender, or idle restart)
    uint64_t reflector_evictions = 0;        // idle sessions that gave their slot to a new one
    uint64_t reflector_stateless = 0;        // hub: unknown sources answered without a session
    uint64_t dm_filled = 0;                  // reflector: DM TLVs filled with our counters
    uint64_t dm_unattributed = 0;            // reflector: DM TLVs of no known path (U set)
    uint64_t dm_replies = 0;                 // sender: replies whose DM TLV the far end filled
    uint64_t probes_sent = 0;                // probes built (STAMP and ICMP echo)
    uint64_t echo_sent = 0;                  // of which ICMP/ICMPv6 echo requests
    uint64_t echo_replies = 0;               // echo replies recorded (also in the ring)
    uint64_t records_lost = 0;               // kSent/kSendFailed records the ring refused
    std::array<uint64_t, 10> send_failed{};  // by StampSendFailure value
  };

  // Throws std::invalid_argument naming the missing dependency (start-up only).
  ProbeStage(Site& site, ProbeConfig cfg, ProbeDeps deps);

  std::string_view name() const noexcept override { return "probe"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }

  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  // With a request ring: sends up to kSendBudget requested probes per call.
  void on_idle(const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;
  const Stats& stats() const noexcept { return stats_; }

  static constexpr unsigned kSendBudget = 32;
  static constexpr unsigned kReflectorProbeLimit = 16;  // slots tried per lookup

 private:
  struct PortInfo {
    Interface* iface = nullptr;
    bool has_v4 = false;
    bool has_v6 = false;
    bool has_ll = false;
    uint32_t v4 = 0;      // network order
    uint32_t bcast4 = 0;  // network order; 0 when none
    IpAddr v6;
    IpAddr ll;
  };
  struct ReflSlot {
    IpAddr peer;   // sender address
    IpAddr local;  // our address it was sent to
    uint16_t peer_port = 0;
    uint16_t ssid = 0;
    bool used = false;
    uint32_t next_seq = 0;
    uint64_t last_tsc = 0;
  };

  bool own4(uint32_t a) const noexcept { return own_.has4(a); }
  bool own6(const IpAddr& a) const noexcept { return own_.has6(a); }
  void handle(rte_mbuf* m, PacketMeta& md, bool reflect, int session, Output& out) noexcept;
  bool answerable(const PacketMeta& md, const PortInfo& pi, const uint8_t* ip) const noexcept;
  Drop reflected_seq(const PacketMeta& md, const uint8_t* payload, bool known,
                     uint32_t* seq) noexcept;
  void fill_dm(uint8_t* payload, uint32_t len, bool known, uint16_t site, uint8_t path) noexcept;
  void reflect(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, uint8_t* udp, uint32_t udp_len,
               Output& out) noexcept;
  void record_reply(rte_mbuf* m, PacketMeta& md, int session, const uint8_t* udp, uint32_t udp_len,
                    Output& out) noexcept;
  // An echo reply whose identifier is a session port: true when it answered one of our echo
  // probes (then it was recorded, or dropped with a reason); false leaves it to later stages.
  bool echo_reply(rte_mbuf* m, PacketMeta& md, int session, Output& out) noexcept;
  enum class ReflSeq : uint8_t { kOk, kFull, kSourceLimit };
  ReflSeq reflector_seq(const PacketMeta& md, uint16_t ssid, uint32_t* seq) noexcept;
  // Hub: the overlay site and path a probe's SSID names, when that path's learned outer address
  // is the probe's source.
  bool known_peer(const PacketMeta& md, uint16_t ssid, uint16_t* site,
                  uint8_t* path) const noexcept;
  uint32_t edge_rx(uint8_t uplink, uint8_t tag = kClassTags)
      const noexcept;  // edge: overlay packets from the hub on it
  void send_one(const StampRequest& rq, const TscClock& clock, Output& out) noexcept;
  void push_failure(const StampRequest& rq, StampSendFailure f) noexcept;
  void burst_time() noexcept;

  Site& site_;
  ProbeConfig cfg_;
  ProbeDeps deps_;
  uint64_t idle_tsc_;
  uint64_t evict_tsc_;
  bool hub_ = false;      // a hub with a site table: known peers only, DM filled
  bool edge_dm_ = false;  // an edge with a site id: our probes carry the SSID and DM TLV
  std::array<PortInfo, kMaxPorts> ports_{};
  OwnAddresses own_;  // every interface's addresses (what is sent to the box itself)
  std::vector<ReflSlot> refl_;
  uint32_t refl_mask_ = 0;
  // Per burst: the reception time (T2 of a reflected probe, T4 of an answer) is the burst's
  // BurstContext::now_tsc; the clock is read once, at the first STAMP packet. T1 and T3 are the
  // exception to "stages read the time from their context": they are read at the last moment.
  bool have_time_ = false;
  uint64_t rx_tsc_ = 0;
  TscClock clock_;
  Stats stats_;
};

// Builds a STAMP Session-Sender packet (Ethernet, IPv4 or IPv6 by `dst`'s family, UDP, the
// 44-byte packet then padding up to rq.length, see encode_sender; with `dm`, a Direct Measurement
// TLV first and the packet at least kStampDmPacketLen long) into the empty mbuf `m`, from
// `uplink`'s MAC and address to `next_hop_mac` / dst:dst_port, from src_port, with rq.seq, rq.ssid
// and rq.dscp; TTL 255, DF. T1 is read from rte_rdtsc() after everything else is written and
// stamped just before the UDP checksum; *t1 gets it. Sets PacketMeta (out_port = uplink.port_id).
// kNone on success; kNoSource (no address of that family), kBadLength, kNoMbuf (no room),
// kClockUnset.
StampSendFailure build_stamp_probe(rte_mbuf* m, const Interface& uplink,
                                   const rte_ether_addr& next_hop_mac, const IpAddr& dst,
                                   uint16_t dst_port, uint16_t src_port, const StampRequest& rq,
                                   const TscClock& clock, uint64_t* t1,
                                   const StampDm* dm = nullptr) noexcept;

// Builds an ICMP (IPv4) or ICMPv6 echo request into the empty mbuf `m`, from `uplink`'s MAC and
// address (chosen as build_stamp_probe does) to `next_hop_mac` / dst, identifier `ident`,
// sequence number the low 16 bits of rq.seq, and rq.length bytes of echo data that start with
// the echo header of core/stamp.h (magic, rq.seq, T1, rq.ssid, our error estimate) followed by
// zeros; TTL 255, DF, rq.dscp. T1 is read last, just before the ICMP checksum; *t1 gets it.
// Sets PacketMeta (l4_proto ICMP/ICMPv6, src_port = dst_port = ident, out_port). Failures as
// build_stamp_probe (rq.length has the same bounds).
StampSendFailure build_icmp_echo_probe(rte_mbuf* m, const Interface& uplink,
                                       const rte_ether_addr& next_hop_mac, const IpAddr& dst,
                                       uint16_t ident, const StampRequest& rq,
                                       const TscClock& clock, uint64_t* t1) noexcept;

// The rings, sized for `count` elements (rounded up to a power of two): results are
// multi-producer / single-consumer, requests single-producer / single-consumer.
// nullptr + rte_errno on failure.
rte_ring* make_stamp_result_ring(const char* name, unsigned count, int socket_id);
rte_ring* make_stamp_request_ring(const char* name, unsigned count, int socket_id);

}  // namespace traboule::dp

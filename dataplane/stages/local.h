// SPDX-License-Identifier: Apache-2.0
// The local stage: answers what is addressed to the box itself (ARP, IPv6 neighbour discovery,
// ICMP echo) in place, learns neighbours from what it sees, and on the resolver worker sends the
// ARP requests / neighbour solicitations the neighbour tables ask for. Everything that is not
// for the box goes on to the data path untouched.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/runtime/own_addresses.h"
#include "dataplane/runtime/site.h"

namespace traboule::dp {

class LocalStage final : public Stage {
 public:
  enum Edge : unsigned {
    kTransit,    // not for us: continue to the data path
    kTx,         // a complete frame built here (reply or request); meta.out_port is set
    kConsumed,   // handled (e.g. an ARP reply we learned from): free it
    kToKernel,   // for the box, not answered here: to the punt stage (only with set_punt(true))
    kEdgeCount,  // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 4> kEdges{"transit", "tx", "consumed", "to_kernel"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }

  enum Drop : unsigned {
    kArpMalformed,
    kArpUnsupportedOp,
    kArpBadSender,
    kArpUnknownPort,
    kArpNotForUs,
    kAddrConflict,
    kNdTruncated,
    kNdBadChecksum,
    kNdBadHopLimit,
    kNdBadOption,
    kNdMalformed,
    kNdUnknownPort,
    kNdTargetNotOurs,
    kNdRouterIgnored,
    kNdRedirectIgnored,
    kEchoMalformed,
    kEchoBadChecksum,
    kEchoBadSource,
    kIpv4Multicast,
    kIpv4Broadcast,
    kIpv6Multicast,
    kIpv6LinkLocal,
    kLocalUnhandled,
    kNeighTableFull,
    kChainedMbuf,
    kNoRoom,
    kEchoRateLimited,
    kDropCount,  // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 27> kDrops{
      "arp_malformed",       "arp_unsupported_op",
      "arp_bad_sender",      "arp_unknown_port",
      "arp_not_for_us",      "addr_conflict",
      "nd_truncated",        "nd_bad_checksum",
      "nd_bad_hop_limit",    "nd_bad_option",
      "nd_malformed",        "nd_unknown_port",
      "nd_target_not_ours",  "nd_router_ignored",
      "nd_redirect_ignored", "echo_malformed",
      "echo_bad_checksum",   "echo_bad_source",
      "ipv4_multicast",      "ipv4_broadcast",
      "ipv6_multicast",      "ipv6_link_local",
      "local_unhandled",     "neigh_table_full",
      "chained_mbuf",        "no_room",
      "echo_rate_limited",
  };
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }
  // Echo requests to the box from an uplink (the firewall's wan → box): answered up to this
  // many per second per worker, bursts of as many; the LAN is not limited.
  static constexpr uint32_t kWanEchoPerSecond = 50;

  // Events that have no packet to drop (resolver side) or that do not change a packet's fate.
  // Written by the owning worker only; other threads read them with read_counter().
  struct Stats {
    uint64_t learn_failed = 0;        // neighbour table full while answering a request
    uint64_t arp_requests_sent = 0;   // resolver
    uint64_t ns_sent = 0;             // resolver
    uint64_t resolver_no_mbuf = 0;    // pool empty: the entry is retried after the retry period
    uint64_t resolver_no_source = 0;  // no address of that family on the interface
    uint64_t resolver_deferred = 0;   // over the per-call budget: retried after the retry period
  };

  // `site` must be complete (addresses are indexed here, Site is immutable after start-up).
  // `pool` feeds the resolver's requests; `resolver` is true on worker 0 only.
  LocalStage(Site& site, rte_mempool* pool, bool resolver);

  std::string_view name() const noexcept override { return "local"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }

  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  // Resolver: at most every kResolvePeriodMs, sends the requests the neighbour tables want.
  void on_idle(const BurstContext& ctx, Output& out) noexcept override;

  const Stats& stats() const noexcept { return stats_; }
  // With kernel twins: what is for the box and not answered here goes to `to_kernel` instead
  // of being dropped (local_unhandled), and ARP replies / neighbour advertisements for the box
  // go there too after we learned from them (the kernel resolves its own neighbours).
  void set_punt(bool on) noexcept { punt_ = on; }
  // Takes one token of the WAN echo budget; false when it is spent.
  bool wan_echo_allowed(uint64_t now_tsc) noexcept;
  void collect_extra(std::vector<CounterValue>& out) const override;

  static constexpr uint64_t kResolvePeriodMs = 100;
  static constexpr uint64_t kRetryMs = 1000;
  static constexpr uint64_t kRefreshMs = 30000;
  // Requests emitted per on_idle call at most, so one call never overflows the tx node's input.
  static constexpr unsigned kResolveBudget = kBurstMax;

 private:
  // What the hot path needs to know about the interface behind a port, in packet byte order.
  struct PortInfo {
    Interface* iface = nullptr;
    bool has_v4 = false;
    bool has_v6 = false;
    bool has_ll = false;
    uint32_t v4 = 0;      // network order, as loaded from a packet
    uint32_t mask4 = 0;   // network order
    uint32_t bcast4 = 0;  // directed broadcast (network order); 0 when the prefix has none
    uint32_t gw4 = 0;     // network order; 0 when none
    bool has_gw6 = false;
    IpAddr gw6;
    IpAddr v6;
    IpPrefix prefix6;
    IpAddr ll;
  };

  const PortInfo* port_info(uint16_t port) const noexcept {
    return port < kMaxPorts && ports_[port].iface != nullptr ? &ports_[port] : nullptr;
  }
  bool own4(uint32_t a) const noexcept { return own_.has4(a); }
  bool own6(const IpAddr& a) const noexcept { return own_.has6(a); }
  bool on_link6(const PortInfo& pi, const IpAddr& a) const noexcept;
  // True when the first segment holds the L2 header and l3_need bytes after it; otherwise drops
  // the packet (chained_mbuf, or short_reason).
  bool fits(rte_mbuf* m, uint16_t l2_len, uint32_t l3_need, Drop short_reason,
            Output& out) noexcept;
  bool learn(Interface& ifc, const IpAddr& ip, const uint8_t* mac) noexcept;

  void arp(rte_mbuf* m, PacketMeta& md, Output& out) noexcept;
  void ipv4(rte_mbuf* m, PacketMeta& md, Output& out) noexcept;
  void ipv6(rte_mbuf* m, PacketMeta& md, Output& out) noexcept;
  void nd(rte_mbuf* m, PacketMeta& md, Output& out) noexcept;
  void ns(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, uint8_t* icmp, const uint8_t* sll,
          Output& out) noexcept;
  void na(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, uint8_t* icmp, const uint8_t* tll,
          Output& out) noexcept;
  // What echo4 and echo6 check first (WAN rate limit, lengths, one segment): the IP header, or
  // null when the packet was dropped.
  uint8_t* echo_start(rte_mbuf* m, PacketMeta& md, uint32_t min_l3, Output& out) noexcept;
  void echo4(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, Output& out) noexcept;
  void echo6(rte_mbuf* m, PacketMeta& md, const PortInfo& pi, Output& out) noexcept;
  void echo_reply_done(rte_mbuf* m, uint8_t* eth, PacketMeta& md, const PortInfo& pi, uint8_t type,
                       uint16_t ip_len, uint16_t icmp_len, Output& out) noexcept;

  rte_mbuf* make_arp_request(const Interface& ifc, const IpAddr& ip) noexcept;
  rte_mbuf* make_ns(const Interface& ifc, const IpAddr& src, const IpAddr& target) noexcept;

  Site& site_;
  rte_mempool* pool_;
  bool resolver_;
  uint64_t period_tsc_;
  uint64_t retry_tsc_;
  uint64_t refresh_tsc_;
  uint64_t last_resolve_tsc_ = 0;
  uint64_t now_tsc_ = 0;  // the burst being processed (BurstContext::now_tsc)

  std::array<PortInfo, kMaxPorts> ports_{};
  OwnAddresses own_;  // every interface's addresses (what is sent to the box itself)
  uint64_t echo_tsc_ = 0;
  uint64_t echo_tokens_milli_ = 0;
  uint64_t hz_ = 0;
  Stats stats_;
  bool punt_ = false;
};

}  // namespace traboule::dp

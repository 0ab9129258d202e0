// SPDX-License-Identifier: Apache-2.0
// The encap stage: traffic the route stage sends to the overlay leaves in a UDP datagram from
// the chosen uplink's address to the hub (an edge: its policy's first peer; a hub: the site's
// path the flow last came in on), with the overlay header (proto/overlay_header.h), sealed in
// ESP when encryption is on (docs/security.md). It decrements the
// inner TTL, clamps the TCP MSS of SYNs to what fits, refuses what does not fit (counted), and
// for the duplicate strategy sends a copy on the second uplink with the same dup_seq.
#pragma once

#include <rte_mempool.h>

#include <array>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/crypto/esp_sas.h"
#include "dataplane/graph/stage.h"
#include "dataplane/model/overlay_config.h"
#include "dataplane/proto/overlay_header.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/overlay_sites.h"

namespace traboule::dp {

class EncapStage final : public Stage {
 public:
  // icmp: an ICMP "fragmentation needed" / ICMPv6 "packet too big" for the LAN sender of a
  // packet that does not fit (meta.out_port = the LAN port).
  enum Edge : unsigned { kNext, kIcmp, kEdgeCount };
  static constexpr std::array<std::string_view, 2> kEdges{"next", "icmp"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  enum Drop : unsigned {
    kNoPeer,       // an edge whose policy has no peer endpoint for the uplink's family
    kNoSitePath,   // a hub that never heard from the site on that path
    kNoAddress,    // the uplink has no address of the endpoint's family
    kTooBig,       // inner packet + overhead exceeds the uplink MTU (docs/overlay.md)
    kTtlExceeded,  // inner TTL/hop limit would reach 0
    kNoHeadroom,   // not enough mbuf headroom for the outer headers
    kChainedMbuf,  // the packet does not sit in one segment
    kNoSa,         // encryption on and no SA towards that path yet: never sent in clear text
    kSealFailed,   // the SA refused it (no tailroom, sequence numbers exhausted, device error)
    kDropCount,    // the number of them (checked against the names)
  };
  // (No mbuf for a duplicate copy is not a drop: the original goes; encap.uplink.X.copy_failed.)
  static constexpr std::array<std::string_view, 9> kDrops{
      "no_peer",     "no_site_path", "no_address", "too_big",    "ttl_exceeded",
      "no_headroom", "chained_mbuf", "no_sa",      "seal_failed"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  // `esp`: the SAs when cfg.encrypt (nullptr then: everything is no_sa).
  EncapStage(const Site& site, const OverlayConfig& cfg, OverlaySites& sites, rte_mempool* pool,
             const EspSas* esp = nullptr);

  std::string_view name() const noexcept override { return "encap"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

 private:
  struct Target {
    IpAddr dst;
    uint16_t port = 0;
  };
  // Encapsulates m for uplink u towards t; false (with the drop reason) on failure.
  OverlayHeader next_header(const PacketMeta& md, uint8_t u, uint16_t slot, uint8_t tx_path,
                            uint32_t dup_seq, uint64_t now_tsc) noexcept;
  bool encap(rte_mbuf* m, uint8_t u, const Target& t, uint32_t dup_seq, uint64_t now_tsc,
             Drop& why) noexcept;
  void write_outer(uint8_t* p, uint8_t dscp, uint32_t flow_hash, const IpAddr& src, const Target& t,
                   uint16_t udp_len) const noexcept;
  bool target(const PolicySnapshot* p, const PacketMeta& md, uint8_t u, Target& t,
              Drop& why) const noexcept;
  // The too-big message for `m` (left untouched), advertising `mtu` for the inner packet; nullptr
  // when none is due (IPv4 without DF: RFC 1191 senders set it) or possible.
  rte_mbuf* too_big(const rte_mbuf* m, uint16_t mtu) noexcept;

  const Site& site_;
  OverlayConfig cfg_;
  OverlaySites& sites_;
  rte_mempool* pool_;
  const EspSas* esp_;
  double us_per_tick_ = 0;
  struct PerUplink {
    uint64_t packets = 0, bytes = 0, copies = 0, copy_failed = 0, mss_clamped = 0, too_big_sent = 0;
  };
  std::array<PerUplink, kMaxUplinks> per_uplink_{};
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// Source NAT for local internet breakout, as two stages over one per-worker NatTable: nat_out
// rewrites LAN → internet packets to the uplink's address and an external port; nat_in turns
// replies (and ICMP errors about our translated packets) back to the LAN host. Checksums are
// updated incrementally (RFC 1624); which packets get here is the pipeline's decision.
#pragma once

#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/runtime/own_addresses.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/nat_table.h"

namespace traboule::dp {

// Translates every packet it gets: meta.uplink names the breakout uplink (out_port already
// set). TCP, UDP and ICMP/ICMPv6 echo requests only; the translated source is written back to
// meta.src / meta.src_port. Fragments are dropped (`fragment`): later fragments carry no port
// to translate, and reassembly is not done here (see docs/nat.md).
class NatOutStage final : public Stage {
 public:
  enum Edge : unsigned { kNext, kEdgeCount };
  enum Drop : unsigned {
    kNoUplink,          // meta.uplink is not an uplink of the site
    kNoUplinkAddress,   // the uplink has no address of the packet's family
    kFragment,          // IPv4 or IPv6 fragment
    kUnsupportedProto,  // not TCP, UDP or an ICMP/ICMPv6 echo request (GRE, ESP, ICMP errors...)
    kTruncated,         // transport header not in the first segment / past the datagram
    kPortExhausted,     // no free external port in this worker's range
    kTableFull,         // no free mapping (or no room to remember the remote for filtering)
    kDropCount,         // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 1> kEdges{"next"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 7> kDrops{
      "no_uplink", "no_uplink_address", "fragment",  "unsupported_proto",
      "truncated", "port_exhausted",    "table_full"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  // The table is shared with this worker's NatInStage; this stage runs its expiry (on_idle).
  // Time: nat_seconds(BurstContext::now_tsc).
  NatOutStage(const Site& site, NatTable& table);

  std::string_view name() const noexcept override { return "nat_out"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  // Frees up to kExpireBudget idle mappings per call.
  void on_idle(const BurstContext& ctx, Output& out) noexcept override;
  // nat_out.mappings_{created,expired,active,flushed}, nat_out.port_exhausted,
  // nat_out.table_full, nat_out.permissions_active, nat_out.uplink.<name>.flushed.
  void collect_extra(std::vector<CounterValue>& out) const override;

  static constexpr uint32_t kExpireBudget = 64;

  // on_idle also flushes every mapping of an uplink the moment it goes down (at the driver, or
  // measured by the probes: BurstContext::links()): its public address is gone, so its flows
  // cannot live on; they take a new mapping on the uplink the route stage moves them to.
  // Counted in nat_out.uplink.<name>.flushed.

 private:
  const Site& site_;
  NatTable& table_;
  std::array<bool, kMaxUplinks> was_down_{};
};

// For packets received on an uplink (not from the LAN) and addressed to that uplink's own
// address. A reply to a live mapping (TCP, UDP, ICMP/ICMPv6 echo reply) allowed by the
// filtering goes out `translated` with destination, checksums and meta.dst / meta.dst_port
// restored, and refreshes the mapping; an ICMP error quoting one of our translated packets is
// translated too (quoted source, outer destination) without refreshing anything (RFC 5508
// REQ-6). Everything else leaves on `next` untouched: it may be for the box itself.
class NatInStage final : public Stage {
 public:
  // to_box: translated to one of the box's own addresses (the kernel's own connections through
  // the breakout, docs/kernel.md): for the punt stage, not the LAN.
  enum Edge : unsigned { kNext, kTranslated, kToBox, kEdgeCount };
  enum Drop : unsigned {
    kFiltered,           // a live mapping, but the remote is not one the host has sent to
    kTruncated,          // transport / ICMP header not in the first segment or the datagram
    kBadIcmpChecksum,    // ICMP error with a wrong checksum (RFC 5508 REQ-3)
    kEmbeddedTruncated,  // ICMP error quoting less than the IP header + 8 bytes
    kEmbeddedMalformed,  // quoted IP header: wrong version, bad length or checksum
    kForwardSource,      // a port forward's port, from a source the forward does not allow
    kHandoffRingFull,    // the ring to the worker owning the port was full
    kDropCount,          // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 3> kEdges{"next", "translated", "to_box"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 7> kDrops{
      "filtered",           "truncated",          "bad_icmp_checksum",
      "embedded_truncated", "embedded_malformed", "forward_source_denied",
      "handoff_ring_full"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  // Port forwards (the policy's firewall.port_forwards) are read from BurstContext::policy();
  // without one there are none.
  NatInStage(const Site& site, NatTable& table);
  // With kernel twins: answers translated to one of the box's addresses leave on to_box.
  void set_punt(bool on) noexcept { punt_ = on; }
  // Several workers: an answer to a port of another worker's range (NatConfig) goes to that
  // worker through `to_worker[w]` (nullptr for `self`), flagged kNatHandoff; the receiving
  // worker runs it from its nat_in. Without this a reply landing on the wrong worker found no
  // mapping and was lost.
  void set_handoff(unsigned self, std::vector<rte_ring*> to_worker, uint16_t port_base,
                   uint32_t port_range_size) {
    self_ = self;
    to_worker_ = std::move(to_worker);
    port_base_ = port_base;
    port_range_size_ = port_range_size;
    handed_off_.assign(to_worker_.size(), 0);
  }

  std::string_view name() const noexcept override { return "nat_in"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  // nat_in.icmp_errors_translated.
  void collect_extra(std::vector<CounterValue>& out) const override;
  uint64_t icmp_errors_translated() const noexcept { return read_counter(icmp_errors_); }

 private:
  // Returns an edge, or kDropBase + a drop reason.
  unsigned handle(rte_mbuf* m, PacketMeta& md, const PolicySnapshot* policy,
                  uint32_t now_s) noexcept;
  unsigned icmp_error(rte_mbuf* m, PacketMeta& md, uint8_t uplink, const IpAddr& ours,
                      uint32_t l4_off, uint32_t bound) noexcept;

  const Site& site_;
  NatTable& table_;
  uint64_t icmp_errors_ = 0;
  uint64_t forwarded_ = 0;
  OwnAddresses own_;
  bool punt_ = false;
  // Hand-off to the worker owning the external port (set_handoff).
  int owner_worker(const rte_mbuf* m, const PacketMeta& md) const noexcept;
  unsigned self_ = 0;
  std::vector<rte_ring*> to_worker_;
  uint16_t port_base_ = 0;
  uint32_t port_range_size_ = 0;
  std::vector<uint64_t> handed_off_;
};

}  // namespace traboule::dp

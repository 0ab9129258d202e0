// SPDX-License-Identifier: Apache-2.0
// The punt stage: what is addressed to the box and that the data plane does not answer itself
// (local's leftovers, copies of ARP replies and neighbour advertisements) goes to the kernel
// twin of the interface that owns the address (docs/kernel.md). Each packet gets a class
// (punt_rates.h); TCP/UDP must come from a management.allow source, or answer a port the box's
// kernel used lately (BoxPorts), or it is dropped; each class is policed per worker by a token
// bucket, so a flood at the box costs the workers one lookup per packet and the kernel at most
// its class's rate. Passed packets leave on `tx` with meta.out_port set to the twin port.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/model/box_ports.h"
#include "dataplane/model/punt_rates.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/runtime/own_addresses.h"
#include "dataplane/runtime/site.h"

namespace traboule::dp {

struct PuntSettings {
  bool enabled = false;
  PuntRates rates;
  std::vector<IpPrefix> allow;  // sources that may open connections to the box
  bool allow_overlay = false;   // and anything that came through the overlay (decapsulated)
};

// What the stage needs besides the Site: per data-plane port, its twin port (kNoPort: none),
// and the ports the box's kernel uses (may be null: only allowed sources get in).
struct PuntDeps {
  std::array<uint16_t, kMaxPorts> twin_of{};
  BoxPorts* box_ports = nullptr;
};

class PuntStage final : public Stage {
 public:
  enum Edge : unsigned { kTx, kEdgeCount };
  static constexpr std::array<std::string_view, 1> kEdges{"tx"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  enum Drop : unsigned {
    kNoTwin,      // the owning interface has no twin
    kNotAllowed,  // a connection from a source outside management.allow
    kClosed,      // TCP/UDP to a port the box did not use lately, from outside the allow list
    kPoliced0,    // one per class, in PuntClass order
    kPolicedLast = kPoliced0 + kPuntClasses - 1,
    kDropCount,  // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 3 + kPuntClasses> kDrops{
      "no_twin",        "not_allowed",        "closed",
      "policed_arp_nd", "policed_dhcp",       "policed_routing",
      "policed_icmp",   "policed_management", "policed_box"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  PuntStage(const Site& site, const PuntSettings& settings, const PuntDeps& deps);

  std::string_view name() const noexcept override { return "punt"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  // The class and fate of one packet, without policing (tests, and process()).
  enum class Verdict : uint8_t { kPass, kNoTwin, kNotAllowed, kClosed };
  Verdict judge(rte_mbuf* m, uint64_t now_tsc, PuntClass& cls, uint16_t& twin) const noexcept;

 private:
  bool allowed(const IpAddr& src) const noexcept;
  bool take(PuntClass c, uint64_t now_tsc) noexcept;
  void to_twin_frame(rte_mbuf* m, PacketMeta& md) noexcept;

  const Site& site_;
  OwnAddresses own_;
  std::vector<IpPrefix> allow_;
  bool allow_overlay_;
  PuntDeps deps_;
  uint64_t hz_;
  uint64_t start_tsc_;
  struct Bucket {
    uint64_t milli = 0;  // tokens × 1000
    uint64_t max_milli = 0;
    uint64_t per_s = 0;
    uint64_t last_tsc = 0;
  };
  std::array<Bucket, kPuntClasses> buckets_{};
  std::array<uint64_t, kPuntClasses> passed_{};
};

}  // namespace traboule::dp

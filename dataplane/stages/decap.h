// SPDX-License-Identifier: Apache-2.0
// The decap stage: overlay packets addressed to one of our uplinks (UDP to the overlay port)
// are checked, measured (per path: loss, reordering, RFC 3550 jitter of live traffic), filtered
// of duplicate-strategy copies, stripped of the outer headers and parsed again, so the rest of
// the pipeline sees the inner packet (meta.kFromOverlay, overlay_site, overlay_path). A hub
// also learns from them where each site's paths end (tables/overlay_sites.h). With encryption on,
// each is an ESP packet opened first (docs/security.md): only what an SA authenticates is
// measured or learnt from.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/crypto/esp_sas.h"
#include "dataplane/graph/stage.h"
#include "dataplane/model/overlay_config.h"
#include "dataplane/runtime/own_addresses.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/overlay_sites.h"

namespace traboule::dp {

class DecapStage final : public Stage {
 public:
  enum Edge : unsigned { kNext, kEdgeCount };
  static constexpr std::array<std::string_view, 1> kEdges{"next"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  enum Drop : unsigned {
    kTruncated,       // UDP payload shorter than the overlay header, or chained mbuf
    kBadVersion,      // overlay version we do not speak
    kBadInner,        // inner type neither IPv4 nor IPv6
    kEncrypted,       // encrypted (key id set): not supported yet
    kBadSite,         // site id 0 or > 4095, or path id >= 4
    kWrongSite,       // an edge got a packet for another site
    kUnknownPeer,     // an edge got overlay traffic from an address that is not its hub
    kDuplicate,       // the second copy of a duplicate-strategy packet
    kTooOld,          // a duplicate-strategy packet older than the filter's window
    kInnerMalformed,  // the inner packet failed parsing (its reason is not split further)
    // Encrypted overlay (OverlayConfig::encrypt), in the order they are judged:
    kEspUnknownSpi,  // no SA has that SPI (a forged, stale or clear-text datagram)
    kEspMalformed,   // too short, not 4-byte aligned, or a chained/shared buffer
    kEspReplayed,    // a sequence number this SA already accepted
    kEspTooOld,      // below the replay window
    kEspAuthFailed,  // the tag does not match: forged or damaged
    kEspBadTrailer,  // authentic but padded against RFC 4303 (not our sender)
    kEspNotOverlay,  // authentic but its next header is not the overlay's
    kEspWrongPath,   // authentic, but the overlay header names another site or path than the SA
    kDropCount,      // the number of them (checked against the names)
  };
  static constexpr std::array<std::string_view, 18> kDrops{
      "truncated",       "bad_version",     "bad_inner",     "encrypted",   "bad_site",
      "wrong_site",      "unknown_peer",    "duplicate",     "too_old",     "inner_malformed",
      "esp_unknown_spi", "esp_malformed",   "esp_replayed",  "esp_too_old", "esp_auth_failed",
      "esp_bad_trailer", "esp_not_overlay", "esp_wrong_path"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }

  // `sites`: the box's overlay table: a hub learns its sites' paths into it, and on both roles
  // the stage registers its passive figures there for direct measurement (the probe stage reads
  // the received counts); nullptr: neither. An edge checks the sender against its policy's
  // peers (BurstContext::policy()).
  // `esp`: the SAs when cfg.encrypt (nullptr then: everything is esp_unknown_spi).
  DecapStage(const Site& site, const OverlayConfig& cfg, OverlaySites* sites,
             const EspSas* esp = nullptr);
  ~DecapStage() override;
  DecapStage(const DecapStage&) = delete;
  DecapStage& operator=(const DecapStage&) = delete;

  std::string_view name() const noexcept override { return "decap"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  // Passive figures of the path `path` of `slot` (an edge: slot = our uplink index; a hub:
  // slot = site id).
  const PassivePath& passive(uint16_t slot, uint8_t path) const noexcept {
    return passive_[size_t{slot} * kMaxUplinks + path];
  }

 private:
  void handle(rte_mbuf* m, const BurstContext& ctx, Output& out) noexcept;
  static bool strip_outer(rte_mbuf* m, uint8_t* macs) noexcept;
  // Opens the ESP packet the mbuf's data starts with; the SA, or nullptr with the drop reason.
  const EspInbound* open_esp(rte_mbuf* m, Drop& why) const noexcept;
  static bool from_peer(const PolicySnapshot* p, const IpAddr& src) noexcept;

  const Site& site_;
  OverlayConfig cfg_;
  OverlaySites* sites_;
  const EspSas* esp_;
  std::vector<PassivePath> passive_;  // slots × kMaxUplinks
  std::vector<DupFilter> dup_;        // per slot
  double us_per_tick_ = 0;
  uint64_t tsc_hz_ = 0;
};

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The names stage: recognises SaaS and custom applications from the first packet of a flow,
// before nDPI has seen anything. DNS answers crossing the box are read (name → addresses, with
// their TTL) and kept per worker when the name belongs to a known application; a new flow to
// one of those addresses, to a custom application's prefix/port, or whose TLS ClientHello /
// QUIC Initial names a known domain, gets its application at once, so the route stage sends
// its very first packet (the SYN) where the policy wants that application.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/proto/dns.h"
#include "dataplane/proto/tls_sni.h"
#include "dataplane/tables/flow_table.h"
#include "dataplane/tables/name_cache.h"

namespace traboule::dp {

class NamesStage final : public Stage {
 public:
  enum Edge : unsigned { kNext, kEdgeCount };
  static constexpr std::array<std::string_view, 1> kEdges{"next"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 0> kDrops{};
  // A flow's first packets in its original direction are looked at, no more.
  static constexpr uint64_t kFirstPackets = 4;

  NamesStage(FlowTable& flows, uint32_t cache_entries);

  std::string_view name() const noexcept override { return "names"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  void collect_extra(std::vector<CounterValue>& out) const override;

  const NameCache& cache() const noexcept { return cache_; }

 private:
  void snoop_dns(const PolicySnapshot& p, const uint8_t* payload, uint32_t len) noexcept;
  uint16_t custom_app(const PolicySnapshot& p, const PacketMeta& md) const noexcept;

  FlowTable& flows_;
  NameCache cache_;
  SniReader sni_;
  DnsResponse dns_;  // scratch (large: kept out of the stack)
  uint32_t now_s_ = 0;
  uint64_t tsc_hz_ = 0;
  struct Counters {
    uint64_t dns_answers = 0, dns_bad = 0, dns_known = 0;
    uint64_t by_custom = 0, by_dns = 0, by_sni = 0, by_quic = 0;
  } c_;
};

}  // namespace traboule::dp

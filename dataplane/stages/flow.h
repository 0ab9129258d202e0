// SPDX-License-Identifier: Apache-2.0
// FlowStage: finds or creates each packet's flow in the worker's FlowTable, stamps meta.flow_id
// and meta.flow_dir, counts the packet per direction and tracks TCP state. Later stages of the
// same worker (route, forward) read and annotate the entry through meta.flow_id, valid until
// the end of the burst. Expiry runs from on_idle, a bounded slice at a time.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/model/firewall_policy.h"
#include "dataplane/model/path_events.h"
#include "dataplane/runtime/site.h"
#include "dataplane/tables/flow_table.h"

namespace traboule::dp {

// The stateful firewall rides on the flow lookup: a packet of a known flow pays nothing more
// than before, and only a packet that would create a flow is judged (zone defaults, the
// policy's inbound rules, the source checks, the WAN flood limits; see firewall_policy.h).
// Without FirewallDeps (unit tests, benchmarks of the bare table) every miss creates a flow.
struct FirewallDeps {
  const Site* site = nullptr;
  unsigned worker = 0;
  // The WAN flood limits come from the policy (FirewallPolicy::flood; its defaults without one).
};

// One firewall decision worth a log line (denied, or allowed by a rule with log on).
struct FwEvent {
  uint64_t tsc = 0;
  IpAddr src, dst;
  uint16_t src_port = 0, dst_port = 0;
  uint8_t proto = 0;
  Zone from = Zone::kWan;
  Zone to = Zone::kLan;
  int16_t rule = kNoFwRule;  // the policy's firewall rule, or kNoFwRule (zone default)
  int16_t forward = -1;      // the policy's port forward (kAllowedForward), or -1
  uint8_t verdict = 0;       // FlowStage::Verdict
};
using FwEventLog = EventLog<FwEvent>;

class FlowStage final : public Stage {
 public:
  // reject: a refused packet a `reject` rule answers (TCP RST, ICMP unreachable), rewritten in
  // place and sent back out the port it came in on.
  enum Edge : unsigned { kNext = 0, kReject, kEdgeCount };
  // table_full: no room for a new flow. Dropped, not forwarded statelessly: the return path
  // (de-NAT, the LAN host's MAC, the uplink the reply must match) needs the flow.
  // firewall: a new flow the zone defaults or a rule deny (details in firewall.* counters);
  // spoofed_source: a LAN source outside its segment, or a WAN source inside the site;
  // wan_flood: over the WAN's share of the table or its source's new-flow rate.
  enum Drop : unsigned {
    kTableFull = 0,
    kNotIp,
    kArp,
    kFirewall,
    kSpoofedSource,
    kWanFlood,
    kDropCount
  };
  static constexpr std::array<std::string_view, 2> kEdges{"next", "reject"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  // Reject answers per second per worker (bursts of as many); beyond, a plain drop.
  static constexpr uint32_t kRejectsPerSecond = 100;
  static constexpr std::array<std::string_view, 6> kDrops{
      "table_full", "not_ip", "arp", "firewall", "spoofed_source", "wan_flood"};
  static_assert(kDrops.size() == kDropCount, "one name per enumerator");
  friend constexpr bool stage_drop(Drop) noexcept { return true; }
  // What the firewall did with a packet that would open a flow (counted, and logged when a
  // rule says so or it is a denial).
  enum Verdict : uint8_t {
    kAllowedRule = 0,  // an inbound rule allowed it
    kAllowedDefault,   // zone default (lan → anywhere, overlay → lan)
    kDeniedDefault,    // zone default (wan → lan, wan → overlay)
    kDeniedRule,       // an inbound rule denied or rejected it
    kRelated,          // an ICMP error about a known flow
    kAllowedNat,       // translated by a NAT mapping a LAN host opened (its filtering applies)
    kAllowedForward,   // a port forward of the policy
    kSpoofedLan,       // LAN source outside its segment
    kSpoofedWan,       // WAN source inside the site
    kSynReuse,         // a SYN from the WAN reusing a closed inside flow's ports
    kFloodShare,       // the WAN's share of the table is full
    kFloodSource,      // the source's new-flow rate is spent
    kFloodDest,        // the destination's new-flow rate is spent
    kVerdictCount
  };
  static constexpr std::array<std::string_view, kVerdictCount> kVerdictNames{
      "allowed_rule",          "allowed_default",     "denied_default",       "denied_rule",
      "related_icmp",          "allowed_nat_mapping", "allowed_port_forward", "spoofed_lan_source",
      "spoofed_wan_source",    "syn_reuse_denied",    "flood_table_share",    "flood_source_rate",
      "flood_destination_rate"};
  // Slots visited per on_idle call: a full sweep takes capacity / 256 calls (the worker's
  // timer runs every millisecond: 0.26 s for 64 k flows, 4 s for 1 M).
  static constexpr uint32_t kExpireScanDefault = 256;
  // Slots the post-policy-change sweep visits per on_idle call (4 s for 1 M slots at 1 ms).
  static constexpr uint32_t kSweepScan = 256;

  // The table outlives the stage; route/forward stages of the same worker share it.
  explicit FlowStage(FlowTable& table, uint32_t expire_scan = kExpireScanDefault)
      : table_(table), expire_scan_(expire_scan) {}
  FlowStage(FlowTable& table, const FirewallDeps& fw, uint32_t expire_scan = kExpireScanDefault);

  std::string_view name() const noexcept override { return "flow"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  // Expiry; and after a policy change, a sweep (bounded slices) that revokes flows opened from
  // the WAN by a rule or a port forward the new policy no longer has.
  void on_idle(const BurstContext& ctx, Output& out) noexcept override;
  // flow.created, flow.expired, flow.restarted, flow.active, flow.wan_opened; with the
  // firewall: firewall.<verdict> and firewall.denied.<from>_<to> per zone pair.
  void collect_extra(std::vector<CounterValue>& out) const override;

  FlowTable& table() noexcept { return table_; }
  const FwEventLog& fw_events() const noexcept { return fw_log_; }

 private:
  void process_chunk(rte_mbuf** pkts, uint16_t n, uint64_t now_tsc, Output& out) noexcept;
  // A packet with no flow: the firewall's decision. Returns the flow id to use (a new flow, or
  // for an ICMP error the flow it is about, with *related set), or kNoFlow with *drop set.
  // kReject in *drop: the packet was rewritten into a reject answer (edge reject).
  uint32_t related_flow(rte_mbuf* m, const PacketMeta& md) noexcept;
  uint32_t admit_forward(const FlowRequest& r, const PacketMeta& md, uint64_t now_tsc,
                         unsigned* drop) noexcept;
  void deny(rte_mbuf* m, PacketMeta& md, const FirewallPolicy* fp, int16_t rule, Zone from, Zone to,
            uint64_t now_tsc, unsigned* drop) noexcept;
  uint32_t admit(rte_mbuf* m, const FlowRequest& r, uint64_t now_tsc, bool* related,
                 unsigned* drop) noexcept;
  static constexpr unsigned kRejectAnswer = 0x100;
  // Per-source, per-destination and table-share limits on a new WAN-opened flow: the verdict
  // that refuses it, or kVerdictCount.
  Verdict wan_limits(const PacketMeta& md, bool v4, uint64_t now_tsc) noexcept;
  void verdict(Verdict v, const PacketMeta& md, Zone from, Zone to, int16_t rule, uint64_t now_tsc,
               int16_t forward = -1) noexcept;

  FlowTable& table_;
  uint32_t expire_scan_;
  FirewallDeps fw_;
  bool fw_on_ = false;
  // The policy of the burst being processed (BurstContext::policy(), set first by process() and
  // on_idle()): the firewall's rules, forwards and flood limits.
  const PolicySnapshot* policy_ = nullptr;
  uint64_t verdicts_[kVerdictCount] = {};
  uint64_t denied_[kZoneCount][kZoneCount] = {};
  // Token buckets for new WAN-opened flows, per source prefix and per destination: bounded
  // direct-mapped tables (a collision resets the slot: a flood from many sources cannot grow
  // them).
  struct RateBucket {
    IpAddr key;
    uint64_t last_tsc = 0;
    uint32_t tokens_milli = 0;
    uint16_t port = 0;
  };
  static constexpr uint32_t kRateSlots = 4096;
  bool take(std::vector<RateBucket>& table, const IpAddr& key, uint16_t port, uint32_t per_second,
            uint64_t now_tsc) noexcept;
  std::vector<RateBucket> sources_;
  std::vector<RateBucket> dests_;
  std::vector<RateBucket> rejects_;  // one bucket: the worker's reject answers
  uint64_t rejects_sent_ = 0, rejects_limited_ = 0;
  // Whether flow `id` (opened from the WAN) is still allowed by the running policy.
  bool still_allowed(uint32_t id) const noexcept;
  void sweep(uint32_t max_scan) noexcept;
  uint16_t swept_gen_ = 0;  // policy generation the last finished sweep checked
  uint16_t sweep_gen_ = 0;  // the one being checked (0: none)
  uint32_t sweep_pos_ = 0;
  uint64_t revoked_ = 0;
  uint64_t tsc_hz_ = 0;
  FwEventLog fw_log_;
};

}  // namespace traboule::dp

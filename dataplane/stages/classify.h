// SPDX-License-Identifier: Apache-2.0
// Recognises each flow's application from its first packets (core/classifier.h, nDPI) and
// caches the policy's application id in FlowEntry::app, so the route stage matches rules on it
// and later packets pay one flow-entry read. Never drops: an unrecognised flow goes on as
// "unknown". nDPI names map to policy ids through core/app_ids.h, resolved per policy generation.
#pragma once

#include <array>
#include <vector>

#include "dataplane/graph/stage.h"
#include "dataplane/model/app_ids.h"
#include "dataplane/select/classifier.h"
#include "dataplane/tables/flow_table.h"

namespace traboule::dp {

class ClassifyStage final : public Stage {
 public:
  enum Edge : unsigned { kNext, kEdgeCount };
  static constexpr std::array<std::string_view, 1> kEdges{"next"};
  static_assert(kEdges.size() == kEdgeCount, "one name per enumerator");
  friend constexpr bool stage_edge(Edge) noexcept { return true; }
  static constexpr std::array<std::string_view, 0> kDrops{};
  // A flow that got no verdict (pool exhausted, unreadable packets) within this many of its
  // packets is left unknown for good: bounded cost for a flood of new flows.
  static constexpr uint64_t kAttemptPacketsFactor = 4;  // x max_packets

  // Throws like Classifier's constructor (start-up only). One stage per worker.
  ClassifyStage(FlowTable& flows, uint32_t slots,
                uint32_t max_packets = Classifier::kDefaultMaxPackets);

  std::string_view name() const noexcept override { return "classify"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return kDrops; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext& ctx, Output& out) noexcept override;
  // classify.<counter> for the classifier's counters and memory figures.
  void collect_extra(std::vector<CounterValue>& out) const override;

  // The flow ended (expiry hook): frees its nDPI state if it was under classification.
  void forget(uint32_t flow_id) noexcept;

  const Classifier& classifier() const noexcept { return classifier_; }
  // Where the flow stands: recognition finished (app cached, possibly unknown) for this
  // incarnation of the flow id.
  bool done(uint32_t flow_id) const noexcept;

 private:
  // Per flow id (FlowPath has no spare byte yet): 0 never fed, 1 under classification, 2 done;
  // tag_ is the flow's created_coarse when the state was set, so a reused id starts afresh.
  enum : uint8_t { kIdle = 0, kClassifying = 1, kDone = 2 };

  FlowTable& flows_;
  Classifier classifier_;
  AppIdMap ids_;
  uint16_t ids_gen_ = 0;
  bool ids_ready_ = false;
  uint64_t tsc_per_ms_ = 1;
  std::vector<uint8_t> state_;
  uint64_t full_skips_ = 0;
  static void settle(FlowEntry& e) noexcept {
    std::atomic_ref<uint8_t>(e.flags).store(e.flags | flow_flag::kAppSettled,
                                            std::memory_order_release);
  }
  std::vector<uint32_t> tag_;
  uint64_t unresolved_ = 0;  // verdicts whose application the policy does not name
  uint64_t abandoned_ = 0;   // flows left unknown after kAttemptPacketsFactor * max_packets
};

}  // namespace traboule::dp

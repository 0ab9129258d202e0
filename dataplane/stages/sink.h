// SPDX-License-Identifier: Apache-2.0
// A terminal stage that frees what reaches it: the end of the "consumed" edge (packets the box
// handled itself, like ARP replies it learned from). Not a drop: nothing went wrong.
#pragma once

#include <string>

#include "dataplane/graph/stage.h"

namespace traboule::dp {

class SinkStage final : public Stage {
 public:
  explicit SinkStage(std::string name) : name_(std::move(name)) {}
  std::string_view name() const noexcept override { return name_; }
  std::span<const std::string_view> edge_names() const noexcept override { return {}; }
  std::span<const std::string_view> drop_names() const noexcept override { return {}; }
  void process(rte_mbuf** pkts, uint16_t n, const BurstContext&, Output&) noexcept override {
    rte_pktmbuf_free_bulk(pkts, n);
  }

 private:
  std::string name_;
};

}  // namespace traboule::dp

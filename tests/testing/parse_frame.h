// SPDX-License-Identifier: Apache-2.0
// A test frame in an mbuf with its PacketMeta filled by the real parse stage, as the pipeline
// does before the stage under test.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/graph/stage.h"
#include "dataplane/graph/trace.h"
#include "dataplane/stages/parse.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"

namespace traboule::testing {

// Received on `port`, from the LAN when `from_lan`; the frame must parse.
inline rte_mbuf* parsed_frame(const Frame& f, uint16_t port, bool from_lan) {
  rte_mbuf* m = to_mbuf(test_pool(), f, port);
  dp::meta(m).in_port = port;
  dp::meta(m).flags = from_lan ? dp::meta_flag::kFromLan : 0;
  dp::ParseStage parse;
  dp::Burst e[3], drops;
  dp::Burst* ep[3] = {&e[0], &e[1], &e[2]};
  uint64_t ec[3] = {}, dc[dp::ParseStage::kDrops.size()] = {}, of = 0;
  dp::Trace tr;
  dp::Output out;
  out.wire(0, ep, ec, &drops, dc, &of, &tr);
  rte_mbuf* pkts[1] = {m};
  parse.process(pkts, 1, dp::BurstContext{}, out);
  EXPECT_EQ(drops.n, 0) << "test frame must parse";
  return m;
}

}  // namespace traboule::testing

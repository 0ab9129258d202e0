// SPDX-License-Identifier: Apache-2.0
// Neighbour table: learning, static entries, and the defences against traffic towards unused
// addresses (incomplete entries capped, dropped after unanswered requests, chains intact
// across deleted slots), plus demotion of a neighbour that stopped answering.
#include <gtest/gtest.h>

#include "dataplane/tables/neighbor_table.h"
#include "tests/testing/packet_builder.h"

namespace traboule::dp {
namespace {

IpAddr v4(uint32_t x) {
  return IpAddr::v4(0xc0a80000u + x);
}
const rte_ether_addr kMac = testing::mac("02:00:00:00:00:42");

// Runs the resolver once at `now`, answering nothing; returns how many requests it "sent".
unsigned resolve(NeighborTable& t, uint64_t now, bool can_send = true) {
  unsigned sent = 0;
  t.due_requests(now, 10, 1000, [&](const IpAddr&) {
    sent += can_send;
    return can_send;
  });
  return sent;
}

TEST(Neighbor, LearnLookupStatic) {
  NeighborTable t(64);
  rte_ether_addr m;
  EXPECT_FALSE(t.lookup(v4(1), &m));
  EXPECT_TRUE(t.learn(v4(1), kMac, 5));
  ASSERT_TRUE(t.lookup(v4(1), &m));
  EXPECT_TRUE(rte_is_same_ether_addr(&m, &kMac));
  const rte_ether_addr other = testing::mac("02:00:00:00:00:43");
  EXPECT_TRUE(t.set_static(v4(2), other));
  EXPECT_TRUE(t.learn(v4(2), kMac, 6));  // a static entry is never overwritten
  ASSERT_TRUE(t.lookup(v4(2), &m));
  EXPECT_TRUE(rte_is_same_ether_addr(&m, &other));
  const uint64_t g = t.generation();
  t.learn(v4(3), kMac, 7);
  EXPECT_NE(t.generation(), g) << "writes change the generation readers cache by";
}

TEST(Neighbor, UnansweredAddressesAreCappedAndForgotten) {
  NeighborTable t(64);  // cap: 16 incomplete
  unsigned accepted = 0;
  for (uint32_t i = 0; i < 40; ++i) accepted += t.want(v4(100 + i));
  EXPECT_EQ(accepted, 16u);
  EXPECT_EQ(t.incomplete(), 16u);
  EXPECT_TRUE(t.learn(v4(7), kMac, 1)) << "real neighbours still find room";
  // Three unanswered requests each, then the entries go.
  uint64_t now = 100;
  for (int round = 0; round < 3; ++round, now += 100) EXPECT_EQ(resolve(t, now), 16u);
  EXPECT_EQ(resolve(t, now), 0u);
  EXPECT_EQ(t.incomplete(), 0u);
  EXPECT_EQ(t.dump().size(), 1u) << "only the learned neighbour is left";
  rte_ether_addr m;
  EXPECT_TRUE(t.lookup(v4(7), &m)) << "chains stay intact across deleted slots";
  EXPECT_TRUE(t.want(v4(200))) << "and the room is usable again";
}

TEST(Neighbor, RequestsNotSentAreNotCounted) {
  NeighborTable t(64);
  ASSERT_TRUE(t.want(v4(1)));
  for (uint64_t now = 100; now < 1000; now += 100) EXPECT_EQ(resolve(t, now, false), 0u);
  EXPECT_EQ(t.incomplete(), 1u) << "never asked, so never given up on";
  EXPECT_EQ(resolve(t, 2000), 1u);
}

TEST(Neighbor, SilentNeighbourIsDemotedThenForgotten) {
  NeighborTable t(64);
  t.learn(v4(1), kMac, 0);
  rte_ether_addr m;
  uint64_t now = 2000;  // past the refresh age (1000)
  for (int i = 0; i < 3; ++i, now += 100) EXPECT_EQ(resolve(t, now), 1u);
  EXPECT_TRUE(t.lookup(v4(1), &m)) << "still usable while being refreshed";
  resolve(t, now);  // three refreshes unanswered: asked again as incomplete
  EXPECT_FALSE(t.lookup(v4(1), &m));
  EXPECT_EQ(t.incomplete(), 1u);
  t.learn(v4(1), kMac, now);  // it answers
  EXPECT_TRUE(t.lookup(v4(1), &m));
  EXPECT_EQ(t.incomplete(), 0u);
}

TEST(Neighbor, CollidingAddressesAllFound) {
  NeighborTable t(16);
  for (uint32_t i = 0; i < 16; ++i) ASSERT_TRUE(t.learn(v4(i), kMac, 1));
  EXPECT_FALSE(t.learn(v4(99), kMac, 1)) << "full";
  rte_ether_addr m;
  for (uint32_t i = 0; i < 16; ++i) EXPECT_TRUE(t.lookup(v4(i), &m)) << i;
  EXPECT_FALSE(t.lookup(v4(99), &m));
  EXPECT_FALSE(t.want(v4(99))) << "full table: refused, not a crash";
}

}  // namespace
}  // namespace traboule::dp

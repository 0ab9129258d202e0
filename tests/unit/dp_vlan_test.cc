// SPDX-License-Identifier: Apache-2.0
// An uplink on a VLAN (docs/kernel.md "VLANs"): parse takes the port's tag off and refuses
// every other frame on that port (vlan_foreign), tx puts it back on, the helpers refuse what
// they cannot do in place. Tables with hostile rows: untagged, another VLAN, 802.1ad, QinQ,
// truncated tags, shared and headroom-less mbufs.
#include <gtest/gtest.h>
#include <rte_ether.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/stages/parse.h"
#include "dataplane/stages/tx.h"
#include "dataplane/stages/vlan_tag.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/test_site.h"

namespace traboule::dp {
namespace {

using traboule::testing::Frame;
using traboule::testing::PacketBuilder;
using traboule::testing::pool_in_use;
using traboule::testing::StageHarness;
using traboule::testing::test_pool;
using traboule::testing::to_mbuf;

constexpr uint16_t kVlanPort = 2;
constexpr uint16_t kPlainPort = 1;
constexpr uint16_t kVid = 832;

PacketBuilder udp_on(PacketBuilder b) {
  return b.ipv4("100.64.1.9", "100.64.1.2").udp(4500, 4500);
}

TEST(VlanParse, OnlyThePortsTagIsTakenAndItComesOff) {
  struct Row {
    std::string what;
    uint16_t port;
    Frame frame;
    std::string expect;  // "edge:ipv4", "drop:vlan_foreign", ...
    uint8_t vlan_count_after = 0;
  };
  const std::vector<Row> table = {
      {"the port's tag", kVlanPort, udp_on(PacketBuilder().eth().vlan(kVid)).build(), "edge:ipv4"},
      {"the port's tag with priority 6 (FTTH DHCP)", kVlanPort,
       udp_on(PacketBuilder().eth().vlan(kVid, RTE_ETHER_TYPE_VLAN, 6)).build(), "edge:ipv4"},
      {"ARP on the port's tag", kVlanPort,
       PacketBuilder()
           .eth("ff:ff:ff:ff:ff:ff")
           .vlan(kVid)
           .arp(1, "02:00:00:00:00:01", "100.64.1.9", "00:00:00:00:00:00", "100.64.1.2")
           .build(),
       "edge:arp"},
      {"QinQ: the port's tag outside, another inside", kVlanPort,
       udp_on(PacketBuilder().eth().vlan(kVid).vlan(7)).build(), "edge:ipv4", 1},
      {"hostile: untagged on a VLAN port", kVlanPort, udp_on(PacketBuilder().eth()).build(),
       "drop:vlan_foreign"},
      {"hostile: another VLAN (IPTV 840)", kVlanPort,
       udp_on(PacketBuilder().eth().vlan(840)).build(), "drop:vlan_foreign"},
      {"hostile: id 832 under an 802.1ad TPID", kVlanPort,
       udp_on(PacketBuilder().eth().vlan(kVid, RTE_ETHER_TYPE_QINQ)).build(), "drop:vlan_foreign"},
      {"hostile: priority tag (id 0)", kVlanPort, udp_on(PacketBuilder().eth().vlan(0)).build(),
       "drop:vlan_foreign"},
      {"hostile: the tag cut short", kVlanPort,
       [] {
         Frame f = udp_on(PacketBuilder().eth().vlan(kVid)).build();
         f.bytes.resize(16);
         return f;
       }(),
       "drop:vlan_foreign"},
      {"plain port: untagged as always", kPlainPort, udp_on(PacketBuilder().eth()).build(),
       "edge:ipv4"},
      {"plain port: a tagged frame keeps its tag in the metadata", kPlainPort,
       udp_on(PacketBuilder().eth().vlan(kVid)).build(), "edge:ipv4", 1},
  };
  PortVlans vlans{};
  vlans[kVlanPort] = kVid;
  ParseStage stage(vlans);
  const unsigned before = pool_in_use();
  {
    StageHarness h(stage);
    for (const Row& row : table) {
      rte_mbuf* m = to_mbuf(test_pool(), row.frame, row.port);
      ASSERT_NE(m, nullptr) << row.what;
      const auto v = h.run({m});
      ASSERT_EQ(v.size(), 1u) << row.what;
      EXPECT_EQ(v[0].where, row.expect) << row.what;
      if (!row.expect.starts_with("edge:")) continue;
      const PacketMeta& md = meta(v[0].pkt);
      EXPECT_EQ(md.vlan_count, row.vlan_count_after) << row.what;
      const uint32_t tags = row.port == kVlanPort ? row.vlan_count_after : md.vlan_count;
      EXPECT_EQ(md.l2_len, 14u + 4u * tags) << row.what;
      if (row.port == kVlanPort) {
        // The tag is gone from the frame itself, the MACs are where they were.
        EXPECT_EQ(rte_pktmbuf_pkt_len(v[0].pkt) + 4, row.frame.bytes.size()) << row.what;
        EXPECT_EQ(
            0, std::memcmp(rte_pktmbuf_mtod(v[0].pkt, const uint8_t*), row.frame.bytes.data(), 12))
            << row.what;
      }
    }
    EXPECT_EQ(h.drop_count("vlan_foreign"), 5u);
  }
  EXPECT_EQ(pool_in_use(), before) << "mbuf leak";
}

TEST(VlanTag, InsertRefusesWhatItCannotWriteInPlace) {
  const Frame f = udp_on(PacketBuilder().eth()).build();
  {  // the normal case: tag after the MACs, priority 0, the rest untouched
    rte_mbuf* m = to_mbuf(test_pool(), f, kVlanPort);
    ASSERT_TRUE(vlan_insert(m, kVid));
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    EXPECT_EQ(0, std::memcmp(p, f.bytes.data(), 12));
    EXPECT_EQ(p[12], 0x81);
    EXPECT_EQ(p[13], 0x00);
    EXPECT_EQ((p[14] << 8 | p[15]), kVid);
    EXPECT_EQ(0, std::memcmp(p + 16, f.bytes.data() + 12, f.bytes.size() - 12));
    ASSERT_TRUE(vlan_strip(m, kVid));
    EXPECT_EQ(rte_pktmbuf_data_len(m), f.bytes.size());
    EXPECT_EQ(0, std::memcmp(rte_pktmbuf_mtod(m, const uint8_t*), f.bytes.data(), f.bytes.size()));
    rte_pktmbuf_free(m);
  }
  {  // the driver took the tag off already: judged from the mbuf, the frame is left alone
    for (const uint16_t tci : {uint16_t{kVid}, uint16_t{0xc000 | kVid}, uint16_t{840}}) {
      rte_mbuf* m = to_mbuf(test_pool(), f, kVlanPort);
      m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
      m->vlan_tci = tci;
      const bool ours = (tci & kVlanIdMask) == kVid;
      EXPECT_EQ(vlan_strip(m, kVid), ours) << tci;
      EXPECT_EQ(rte_pktmbuf_data_len(m), f.bytes.size()) << tci;
      EXPECT_EQ((m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) == 0, ours) << tci;
      rte_pktmbuf_free(m);
    }
  }
  {  // hostile: no headroom left
    rte_mbuf* m = to_mbuf(test_pool(), f, kVlanPort);
    rte_pktmbuf_prepend(m, rte_pktmbuf_headroom(m));
    const uint16_t len = rte_pktmbuf_data_len(m);
    EXPECT_FALSE(vlan_insert(m, kVid));
    EXPECT_EQ(rte_pktmbuf_data_len(m), len);
    rte_pktmbuf_free(m);
  }
  {  // hostile: data shared with another mbuf (writing would change both)
    rte_mbuf* m = to_mbuf(test_pool(), f, kVlanPort);
    rte_mbuf_refcnt_update(m, 1);
    EXPECT_FALSE(vlan_insert(m, kVid));
    rte_pktmbuf_free(m);
    rte_pktmbuf_free(m);
  }
  {  // hostile: shorter than its MACs
    Frame tiny;
    tiny.bytes.assign(10, 0xab);
    rte_mbuf* m = to_mbuf(test_pool(), tiny, kVlanPort);
    EXPECT_FALSE(vlan_insert(m, kVid));
    EXPECT_FALSE(vlan_strip(m, kVid));
    rte_pktmbuf_free(m);
  }
}

TEST(VlanTx, FramesToAVlanPortLeaveTaggedOthersUntouched) {
  testing::TestSite ts("vlantx");
  std::array<bool, kMaxPorts> ready{};
  ready[ts.lan_port] = ready[ts.up_port] = true;
  PortVlans vlans{};
  vlans[ts.up_port] = kVid;
  TxStage tx(0, ready, vlans);
  StageHarness h(tx);
  const Frame f = udp_on(PacketBuilder().eth()).build();
  std::vector<rte_mbuf*> pkts;
  for (uint16_t port : {ts.up_port, ts.lan_port, ts.up_port}) {
    rte_mbuf* m = to_mbuf(test_pool(), f, 0);
    meta(m).out_port = port;
    pkts.push_back(m);
  }
  rte_mbuf* full = to_mbuf(test_pool(), f, 0);  // hostile: no room for the tag
  rte_pktmbuf_prepend(full, rte_pktmbuf_headroom(full));
  meta(full).out_port = ts.up_port;
  pkts.push_back(full);
  h.run(pkts);
  EXPECT_EQ(h.drop_count("vlan_no_room"), 1u);
  EXPECT_EQ(ts.drain_lan(), 1u);
  const auto up = ts.uplink_frames();
  ASSERT_EQ(up.size(), 2u);
  for (const auto& b : up) {
    ASSERT_EQ(b.size(), f.bytes.size() + 4);
    EXPECT_EQ(b[12], 0x81);
    EXPECT_EQ((b[14] << 8 | b[15]) & kVlanIdMask, kVid);
  }
}

}  // namespace
}  // namespace traboule::dp

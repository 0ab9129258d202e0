// SPDX-License-Identifier: Apache-2.0
// The frame parser on plain bytes (proto/frame_parse.h), without an mbuf: what the parse stage
// and decap share. The stage's own table (dp_parse_test.cc) covers the mbuf glue; this one the
// contract of parse_frame itself: the NIC's checksum verdict, the readable prefix of a chained
// frame, where the datagram ends (padding), and hostile lengths.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/proto/frame_parse.h"
#include "tests/testing/packet_builder.h"

namespace traboule::dp {
namespace {

using testing::Frame;
using testing::PacketBuilder;

struct Row {
  const char* what;
  Frame frame;
  L3Csum csum = L3Csum::kUnknown;
  int readable = -1;   // bytes contiguous from the start; -1: the whole frame
  unsigned want;       // FrameCodes::Edge or kDropBase + Drop
  int dgram_end = -1;  // -1: not checked
};

constexpr unsigned D(FrameCodes::Drop d) {
  return FrameCodes::kDropBase + d;
}

Frame udp4() {
  return PacketBuilder()
      .eth()
      .ipv4("192.168.10.10", "203.0.113.1")
      .udp(4000, 53)
      .payload(10)
      .build();
}

Frame with_bad_ipv4_sum() {
  Frame f = udp4();
  f.set16(f.l3_off + 10, static_cast<uint16_t>(f.get16(f.l3_off + 10) ^ 0x1234));
  return f;
}

Frame padded(Frame f, size_t n) {
  f.bytes.insert(f.bytes.end(), n, 0);
  return f;
}

TEST(FrameParse, TableOfFrames) {
  const Frame u4 = udp4();
  const Frame bad = with_bad_ipv4_sum();
  const std::vector<Row> rows = {
      {"UDP over IPv4", u4, L3Csum::kUnknown, -1, FrameCodes::kIpv4,
       static_cast<int>(u4.bytes.size())},
      {"bad IPv4 checksum, not checked by the NIC", bad, L3Csum::kUnknown, -1,
       D(FrameCodes::kIpv4BadChecksum)},
      {"bad IPv4 checksum the NIC vouched for: trusted", bad, L3Csum::kVerified, -1,
       FrameCodes::kIpv4},
      {"good header the NIC called bad: dropped", u4, L3Csum::kBad, -1,
       D(FrameCodes::kIpv4BadChecksum)},
      {"Ethernet padding: the datagram ends before the frame", padded(u4, 18), L3Csum::kUnknown, -1,
       FrameCodes::kIpv4, static_cast<int>(u4.bytes.size())},
      {"TCP over IPv6",
       PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").tcp(1, 443).build(),
       L3Csum::kUnknown, -1, FrameCodes::kIpv6},
      {"ARP keeps its padding",
       padded(PacketBuilder()
                  .eth("ff:ff:ff:ff:ff:ff")
                  .arp(1, "02:00:00:00:00:09", "192.168.10.9", "00:00:00:00:00:00", "192.168.10.1")
                  .build(),
              18),
       L3Csum::kUnknown, -1, FrameCodes::kArp},
      {"hostile: 13 bytes",
       [] {
         Frame f = udp4();
         f.truncate(13);
         return f;
       }(),
       L3Csum::kUnknown, -1, D(FrameCodes::kEthTruncated)},
      {"hostile: the UDP header in a later segment", u4, L3Csum::kUnknown,
       static_cast<int>(u4.l4_off + 4), D(FrameCodes::kNotFirstSegment)},
      {"hostile: nothing readable", u4, L3Csum::kUnknown, 0, D(FrameCodes::kNotFirstSegment)},
      {"hostile: IPv4 total length past the frame",
       [] {
         Frame f = udp4();
         f.set16(f.l3_off + 2, 1500);
         f.fix_ipv4_checksum();
         return f;
       }(),
       L3Csum::kUnknown, -1, D(FrameCodes::kIpv4BadTotalLen)},
      {"hostile: three VLAN tags",
       PacketBuilder().eth().vlan(1).vlan(2).vlan(3).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(),
       L3Csum::kUnknown, -1, D(FrameCodes::kVlanTooMany)},
      {"hostile: IPv6 payload length past the frame",
       [] {
         Frame f = PacketBuilder().eth().ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).build();
         f.set16(f.l3_off + 4, 9000);
         return f;
       }(),
       L3Csum::kUnknown, -1, D(FrameCodes::kIpv6BadPayloadLen)},
      {"hostile: unknown ethertype",
       [] {
         Frame f = udp4();
         f.set16(12, 0x88b5);
         return f;
       }(),
       L3Csum::kUnknown, -1, D(FrameCodes::kEthertypeUnsupported)},
  };
  for (const Row& r : rows) {
    PacketMeta md;
    md.flags = meta_flag::kFromLan | meta_flag::kNatIn;  // kept / reset by the parser
    md.flow_id = 77;
    const auto len = static_cast<uint32_t>(r.frame.bytes.size());
    const uint32_t readable = r.readable < 0 ? len : static_cast<uint32_t>(r.readable);
    uint32_t end = 0;
    const unsigned got = parse_frame(r.frame.bytes.data(), readable, len, r.csum, md, &end);
    EXPECT_EQ(got, r.want) << r.what;
    if (r.dgram_end >= 0) {
      EXPECT_EQ(end, static_cast<uint32_t>(r.dgram_end)) << r.what;
    }
    EXPECT_LE(end, len) << r.what;
    EXPECT_EQ(md.flow_id, kNoFlow) << r.what << ": later stages' decisions reset";
    EXPECT_TRUE(md.flags & meta_flag::kFromLan) << r.what << ": kept";
    EXPECT_FALSE(md.flags & meta_flag::kNatIn) << r.what << ": reset";
  }
}

TEST(FrameParse, ReadsTheHeadersIntoMeta) {
  const Frame f = PacketBuilder()
                      .eth()
                      .vlan(832)
                      .ipv4("192.168.10.10", "203.0.113.1", {.ttl = 9, .tos = 46 << 2})
                      .tcp(40000, 443, testing::tcpf::kSyn)
                      .build();
  PacketMeta md;
  uint32_t end = 0;
  ASSERT_EQ(parse_frame(f.bytes.data(), static_cast<uint32_t>(f.bytes.size()),
                        static_cast<uint32_t>(f.bytes.size()), L3Csum::kUnknown, md, &end),
            FrameCodes::kIpv4);
  EXPECT_EQ(md.l2_len, 18);
  EXPECT_EQ(md.vlan_count, 1);
  EXPECT_EQ(md.vlan_outer & 0x0fff, 832);
  EXPECT_EQ(md.src, *IpAddr::parse("192.168.10.10"));
  EXPECT_EQ(md.dst, *IpAddr::parse("203.0.113.1"));
  EXPECT_EQ(md.l4_proto, IPPROTO_TCP);
  EXPECT_EQ(md.src_port, 40000);
  EXPECT_EQ(md.dst_port, 443);
  EXPECT_EQ(md.tcp_flags, testing::tcpf::kSyn);
  EXPECT_EQ(md.ttl, 9);
  EXPECT_EQ(md.dscp, 46);
  EXPECT_TRUE(md.flags & meta_flag::kHasL4);
}

}  // namespace
}  // namespace traboule::dp

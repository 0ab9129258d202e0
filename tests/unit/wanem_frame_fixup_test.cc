// SPDX-License-Identifier: Apache-2.0
// Checksum completion of frames captured before their sender's checksum offload ran. The
// reference frames were built with scapy, which computed their correct TCP/UDP checksums; the
// test spoils the checksum and expects the exact original bytes back. Hostile rows: every
// truncation, bad header lengths, fragments, extension-header chains, non-IP frames.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/wanem/frame_fixup.h"

namespace traboule::wanem {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes bytes(const char* s, size_t n) {
  return Bytes(s, s + n);
}

struct Frame {
  const char* name;
  Bytes data;
  size_t csum_at;  // offset of the TCP/UDP checksum in the frame
};

std::vector<Frame> reference_frames() {
  return {
      {"ipv4_udp_odd_payload",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00\x45\x00\x00\x27\x00\x07"
             "\x00\x00\x40\x11\xee\x97\xc6\x12\x00\x01\xc6\x12\x00\x02\x0f\xa0\x23\x28\x00\x13"
             "\xaa\x1e\x68\x65\x6c\x6c\x6f\x20\x77\x61\x6e\x65\x6d",
             53),
       40},
      {"ipv4_options_tcp_options",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00\x46\x00\x00\x59\x00\x01"
             "\x00\x00\x40\x06\x2f\x8e\x0a\x01\x02\x03\xcb\x00\x71\x0a\x01\x01\x01\x01\x01\xbb"
             "\xc7\x38\x00\x01\xe2\x40\x00\x09\xfb\xf1\x70\x18\x20\x00\x84\x25\x00\x00\x02\x04"
             "\x05\xb4\x01\x03\x03\x07\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
             "\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78\x78"
             "\x78\x78\x78",
             103),
       54},
      {"ipv6_udp",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd\x60\x00\x00\x00\x00\x0f"
             "\x11\x40\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x20\x01"
             "\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x14\xe9\x14\xe9\x00\x0f"
             "\xe9\x5b\x61\x62\x63\x64\x65\x66\x67",
             69),
       60},
      {"ipv6_hop_by_hop_dest_opts_tcp",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd\x60\x00\x00\x00\x00\x24"
             "\x00\x40\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xfd\x00"
             "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x3c\x00\x01\x04\x00\x00"
             "\x00\x00\x06\x00\x01\x04\x00\x00\x00\x00\x00\x01\x00\x02\x00\x00\x00\x00\x00\x00"
             "\x00\x00\x50\x02\x20\x00\x95\xdb\x00\x00",
             90),
       86},
      {"vlan_ipv4_udp",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x81\x00\x00\x64\x08\x00\x45\x00"
             "\x00\x20\x00\x01\x00\x00\x40\x11\xf6\xc8\xc0\x00\x02\x01\xc0\x00\x02\x02\x00\x01"
             "\x00\x02\x00\x0c\xa3\xf4\x76\x6c\x61\x6e",
             50),
       44},
      {"qinq_ipv6_tcp",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xa8\x00\x0a\x81\x00\x00\x14"
             "\x86\xdd\x60\x00\x00\x00\x00\x1c\x06\x40\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00"
             "\x00\x00\x00\x00\x00\x0a\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
             "\x00\x0b\x00\x50\x1f\x90\x00\x00\x00\x00\x00\x00\x00\x00\x50\x10\x20\x00\x57\x15"
             "\x00\x00\x70\x61\x79\x6c\x6f\x61\x64\x21",
             90),
       78},
      {"ipv4_udp_with_ethernet_padding",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00\x45\x00\x00\x1d\x00\x01"
             "\x00\x00\x40\x11\xee\xa7\xc6\x12\x00\x01\xc6\x12\x00\x02\x00\x01\x00\x02\x00\x09"
             "\x03\xb1\x70\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee\xee",
             56),
       40},
      {"udp_sum_zero_sent_as_ffff",
       bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00\x45\x00\x00\x1e\x00\x01"
             "\x00\x00\x40\x11\xee\xa6\xc6\x12\x00\x01\xc6\x12\x00\x02\x00\x01\x00\x02\x00\x0a"
             "\xff\xff\x73\xaf",
             44),
       40},
  };
}

TEST(WanemFrameFixup, RestoresTheSendersChecksum) {
  for (const Frame& f : reference_frames()) {
    SCOPED_TRACE(f.name);
    for (uint16_t spoiled : {0x0000, 0x1234, 0xffff}) {
      Bytes frame = f.data;
      frame[f.csum_at] = static_cast<uint8_t>(spoiled >> 8);
      frame[f.csum_at + 1] = static_cast<uint8_t>(spoiled);
      EXPECT_EQ(complete_l4_checksum(frame.data(), static_cast<uint32_t>(frame.size())),
                FixupResult::kFixed);
      EXPECT_EQ(frame, f.data);
    }
  }
}

TEST(WanemFrameFixup, EveryTruncationIsRefusedWithoutTouchingTheFrame) {
  for (const Frame& f : reference_frames()) {
    SCOPED_TRACE(f.name);
    // Cutting into the L4 header or the IP payload makes the lengths disagree.
    for (size_t len = 0; len < f.data.size(); ++len) {
      Bytes frame = f.data;
      FixupResult r = complete_l4_checksum(frame.data(), static_cast<uint32_t>(len));
      if (std::string(f.name) == "ipv4_udp_with_ethernet_padding" && len >= 43) {
        EXPECT_EQ(r, FixupResult::kFixed) << len;  // only padding was cut
        continue;
      }
      EXPECT_EQ(r, FixupResult::kMalformed) << "length " << len;
      EXPECT_EQ(frame, f.data) << "length " << len;
    }
  }
}

Bytes ipv4_udp() {
  return reference_frames()[0].data;
}
Bytes ipv6_hbh_tcp() {
  return reference_frames()[3].data;
}

TEST(WanemFrameFixup, HostileHeaders) {
  struct Row {
    const char* name;
    Bytes frame;
    FixupResult expected;
  };
  auto edit = [](Bytes b, size_t at, std::initializer_list<uint8_t> v) {
    for (uint8_t x : v) b[at++] = x;
    return b;
  };
  Bytes arp(42, 0);
  arp[12] = 0x08, arp[13] = 0x06;
  Bytes six_tags = ipv4_udp();
  // Three VLAN tags: only two are followed, and 0x8100 is not an IP ethertype.
  six_tags.insert(six_tags.begin() + 12,
                  {0x81, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x81, 0x00, 0x00, 0x03});
  Bytes ext_loop = ipv6_hbh_tcp();
  ext_loop[20] = 0;  // IPv6 next header: hop-by-hop
  ext_loop[54] = 0;  // the hop-by-hop header says hop-by-hop again, then ...
  ext_loop[62] = 0;  // ... the destination options header too: runs off the payload
  const Row rows[] = {
      {"arp", arp, FixupResult::kNotTcpUdp},
      {"icmp", edit(ipv4_udp(), 23, {1}), FixupResult::kNotTcpUdp},
      {"ipv4 more fragments", edit(ipv4_udp(), 20, {0x20, 0x00}), FixupResult::kNotTcpUdp},
      {"ipv4 fragment offset", edit(ipv4_udp(), 20, {0x00, 0x10}), FixupResult::kNotTcpUdp},
      {"ipv4 ihl 4", edit(ipv4_udp(), 14, {0x44}), FixupResult::kMalformed},
      {"ipv4 ihl 15 past total", edit(ipv4_udp(), 14, {0x4f}), FixupResult::kMalformed},
      {"ipv4 version 6 in 0x0800", edit(ipv4_udp(), 14, {0x65}), FixupResult::kMalformed},
      {"ipv4 total length past frame", edit(ipv4_udp(), 16, {0x00, 0x28}), FixupResult::kMalformed},
      {"ipv4 total length below ihl", edit(ipv4_udp(), 16, {0x00, 0x10}), FixupResult::kMalformed},
      {"udp shorter than its header", edit(ipv4_udp(), 16, {0x00, 0x1b}), FixupResult::kMalformed},
      {"ipv6 version 4 in 0x86dd", edit(ipv6_hbh_tcp(), 14, {0x40}), FixupResult::kMalformed},
      {"ipv6 payload past frame", edit(ipv6_hbh_tcp(), 18, {0x00, 0x25}), FixupResult::kMalformed},
      {"ipv6 extension header past payload", edit(ipv6_hbh_tcp(), 55, {0x08}),
       FixupResult::kMalformed},
      {"ipv6 extension chain off the end", ext_loop, FixupResult::kMalformed},
      {"ipv6 fragment header", edit(ipv6_hbh_tcp(), 62, {44}), FixupResult::kNotTcpUdp},
      {"three vlan tags", six_tags, FixupResult::kNotTcpUdp},
      {"unknown ethertype", edit(ipv4_udp(), 12, {0x88, 0xb5}), FixupResult::kNotTcpUdp},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Bytes frame = row.frame;
    EXPECT_EQ(complete_l4_checksum(frame.data(), static_cast<uint32_t>(frame.size())),
              row.expected);
    EXPECT_EQ(frame, row.frame) << "left alone";
  }
}

}  // namespace
}  // namespace traboule::wanem

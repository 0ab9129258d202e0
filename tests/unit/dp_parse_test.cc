// SPDX-License-Identifier: Apache-2.0
// ParseStage: a table of crafted frames (valid and hostile: truncated at every layer, bad
// lengths, options, VLAN stacks, IPv6 extension chains, fragments) with the expected verdict and
// metadata, chained mbufs, and a randomized truncate/flip robustness run.
#include "dataplane/stages/parse.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"

namespace traboule::dp {
namespace {

using traboule::testing::Frame;
using traboule::testing::Ipv4Opts;
using traboule::testing::Ipv6Opts;
using traboule::testing::PacketBuilder;
using traboule::testing::pool_in_use;
using traboule::testing::StageHarness;
using traboule::testing::test_pool;
using traboule::testing::to_mbuf;
namespace tcpf = traboule::testing::tcpf;

constexpr uint16_t kParseFlags =
    meta_flag::kFragment | meta_flag::kLaterFragment | meta_flag::kIpOptions | meta_flag::kHasL4;
constexpr uint16_t kFrag = meta_flag::kFragment;
constexpr uint16_t kLater = meta_flag::kLaterFragment;
constexpr uint16_t kOpts = meta_flag::kIpOptions;
constexpr uint16_t kL4 = meta_flag::kHasL4;
constexpr uint16_t kInPort = 3;

constexpr const char* kV4Src = "10.1.2.3";
constexpr const char* kV4Dst = "192.0.2.9";
constexpr const char* kV6Src = "2001:db8::1";
constexpr const char* kV6Dst = "2001:db8:ff::2";

// Expected metadata on a pass row; unset fields are not checked.
struct Want {
  std::optional<uint16_t> flags;  // exact value of the parse flags (kParseFlags bits)
  std::optional<uint8_t> l4_proto;
  std::optional<uint16_t> src_port;
  std::optional<uint16_t> dst_port;
  std::optional<uint16_t> l3_len;
  std::optional<uint16_t> l3_total;
  std::optional<uint8_t> ttl;
  std::optional<uint8_t> dscp;
  std::optional<uint8_t> tcp_flags;
  std::optional<uint8_t> icmp_type;
  std::optional<uint8_t> icmp_code;
  std::optional<uint8_t> vlan_count;
  std::optional<uint16_t> vlan_outer;
  std::optional<uint16_t> vlan_inner;
  std::optional<std::string> src;
  std::optional<std::string> dst;
  std::optional<uint32_t> pkt_len;  // frame length after the stage (padding trimmed)
};

struct Row {
  std::string what;
  Frame frame;
  std::string expect;  // "edge:<name>" or "drop:<reason>"
  Want want = {};
  uint64_t ol_flags = 0;  // RX offload flags a NIC would have set
};

// ---- frames ----------------------------------------------------------------------------------

Frame udp4(Ipv4Opts o = {}) {
  return PacketBuilder().eth().ipv4(kV4Src, kV4Dst, o).udp(40000, 53).payload(12).build();
}
Frame tcp4(Ipv4Opts o = {}) {
  return PacketBuilder()
      .eth()
      .ipv4(kV4Src, kV4Dst, o)
      .tcp(40001, 443, tcpf::kSyn, 1, 0, {2, 4, 0x05, 0xb4})
      .build();
}
Frame udp6(Ipv6Opts o = {}) {
  return PacketBuilder().eth().ipv6(kV6Src, kV6Dst, o).udp(5060, 5061).payload(20).build();
}
Frame tcp6(Ipv6Opts o = {}) {
  return PacketBuilder()
      .eth()
      .ipv6(kV6Src, kV6Dst, o)
      .tcp(50000, 22, tcpf::kAck | tcpf::kPsh)
      .build();
}

template <class Fn>
Frame edit(Frame f, Fn fn) {
  fn(f);
  return f;
}
// Cuts an IPv4 frame and makes the total length and checksum agree, so that the cut is seen by
// the layer it falls in instead of as a bad total length.
Frame cut4(Frame f, size_t len) {
  f.truncate(len);
  f.set16(f.l3_off + 2, static_cast<uint16_t>(len - f.l3_off));
  f.fix_ipv4_checksum();
  return f;
}
// Same for IPv6: the payload length follows the cut.
Frame cut6(Frame f, size_t len) {
  f.truncate(len);
  f.set16(f.l3_off + 4, static_cast<uint16_t>(len - f.l3_off - 40));
  return f;
}
Frame cut(Frame f, size_t len) {
  f.truncate(len);
  return f;
}
Frame pad(Frame f, size_t n) {
  f.bytes.insert(f.bytes.end(), n, 0);
  return f;
}
Frame raw(size_t n) {
  Frame f;
  f.bytes.assign(n, 0x42);
  return f;
}
// IPv4 frame whose header carries `options` (padded to 4 bytes by the builder).
Frame opts4(std::vector<uint8_t> options) {
  Ipv4Opts o;
  o.options = std::move(options);
  return udp4(o);
}
// Options bytes written over a valid header, checksum fixed: lets a test put malformed options
// the builder would otherwise not produce.
Frame bad_opts4(std::vector<uint8_t> options) {
  Frame f = opts4(std::vector<uint8_t>(options.size(), 1));
  for (size_t i = 0; i < options.size(); ++i) f.set8(f.l3_off + 20 + i, options[i]);
  f.fix_ipv4_checksum();
  return f;
}
Frame frag4(uint16_t offset8, bool mf) {
  Ipv4Opts o;
  o.frag_offset = offset8;
  o.mf = mf;
  o.id = 0x4242;
  if (offset8 == 0) return udp4(o);
  return edit(PacketBuilder().eth().ipv4(kV4Src, kV4Dst, o).payload(64).build(), [](Frame& f) {
    f.set8(f.l3_off + 9, IPPROTO_UDP);
    f.fix_ipv4_checksum();
  });
}
Frame frag6(uint16_t offset8, bool mf) {
  if (offset8 == 0)
    return PacketBuilder()
        .eth()
        .ipv6(kV6Src, kV6Dst)
        .ipv6_fragment(0, mf, 7)
        .udp(5060, 5061)
        .payload(40)
        .build();
  return edit(
      PacketBuilder().eth().ipv6(kV6Src, kV6Dst).ipv6_fragment(offset8, mf, 7).payload(64).build(),
      [](Frame& f) { f.set8(f.l3_off + 40, IPPROTO_UDP); });
}
// IPv6 + `n` destination-options headers (after a hop-by-hop one when hbh) + UDP.
Frame chain6(unsigned n, bool hbh) {
  PacketBuilder b;
  b.eth().ipv6(kV6Src, kV6Dst);
  if (hbh) b.ipv6_hop_by_hop();
  for (unsigned i = 0; i < n; ++i) b.ipv6_dest_opts();
  return b.udp(1000, 2000).build();
}
// IPv6 + AH (16 bytes: payload length 2 in 4-byte units minus 2) + TCP. The builder has no AH,
// so a 16-byte destination-options header is relabelled.
Frame ah6() {
  return edit(PacketBuilder().eth().ipv6(kV6Src, kV6Dst).ipv6_dest_opts(1).tcp(1, 2).build(),
              [](Frame& f) {
                f.set8(f.l3_off + 6, IPPROTO_AH);
                f.set8(f.l3_off + 41, 2);
              });
}
Frame vlans(std::vector<uint16_t> tpids, bool v6 = false) {
  PacketBuilder b;
  b.eth();
  uint16_t vid = 100;
  for (uint16_t t : tpids) b.vlan(vid++, t, 3);
  if (v6)
    b.ipv6(kV6Src, kV6Dst).udp(1, 2);
  else
    b.ipv4(kV4Src, kV4Dst).udp(1, 2);
  return b.build();
}
Frame arp() {
  return PacketBuilder()
      .eth("ff:ff:ff:ff:ff:ff")
      .arp(1, "02:00:00:00:00:01", "192.0.2.1", "00:00:00:00:00:00", "192.0.2.254")
      .build();
}
Frame icmp4(uint8_t type, uint8_t code, uint16_t id) {
  return PacketBuilder().eth().ipv4(kV4Src, kV4Dst).icmp(type, code, id, 9).payload(8).build();
}
Frame icmp6(uint8_t type, uint16_t id) {
  return PacketBuilder()
      .eth()
      .ipv6(kV6Src, kV6Dst)
      .icmpv6(type, 0, {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0, 1})
      .build();
}
Frame set_doff(Frame f, uint8_t doff) {
  f.set8(f.l4_off + 12, static_cast<uint8_t>(doff << 4));
  return f;
}

// TCI as the builder writes it: PCP 3, then the VLAN id.
constexpr uint16_t tci(uint16_t vid) {
  return static_cast<uint16_t>(3 << 13 | vid);
}

std::vector<Row> rows() {
  std::vector<Row> r;
  auto udp_ok = Want{.flags = kL4, .l4_proto = IPPROTO_UDP, .src_port = 40000, .dst_port = 53};

  // ---- pass: IPv4 ------------------------------------------------------------------------------
  r.push_back({"ipv4 udp",
               udp4(),
               "edge:ipv4",
               {.flags = kL4,
                .l4_proto = IPPROTO_UDP,
                .src_port = 40000,
                .dst_port = 53,
                .l3_len = 20,
                .l3_total = 40,
                .ttl = 64,
                .dscp = 0,
                .src = kV4Src,
                .dst = kV4Dst,
                .pkt_len = 54}});
  r.push_back({"ipv4 tcp syn with mss option",
               tcp4(),
               "edge:ipv4",
               {.flags = kL4,
                .l4_proto = IPPROTO_TCP,
                .src_port = 40001,
                .dst_port = 443,
                .l3_len = 20,
                .l3_total = 44,
                .tcp_flags = tcpf::kSyn}});
  r.push_back({"ipv4 tcp all flag bits",
               edit(tcp4(), [](Frame& f) { f.set8(f.l4_off + 13, 0xff); }),
               "edge:ipv4",
               {.flags = kL4, .tcp_flags = 0xff}});
  r.push_back({"ipv4 ttl 0 passes (forward decides)",
               udp4({.ttl = 0}),
               "edge:ipv4",
               {.flags = kL4, .ttl = 0}});
  r.push_back({"ipv4 ttl 1 passes (may be for the box)",
               udp4({.ttl = 1}),
               "edge:ipv4",
               {.flags = kL4, .ttl = 1}});
  r.push_back({"ipv4 dscp ef", udp4({.tos = 0xb8}), "edge:ipv4", {.flags = kL4, .dscp = 46}});
  r.push_back(
      {"ipv4 dscp af41 + ecn", udp4({.tos = 0x8b}), "edge:ipv4", {.flags = kL4, .dscp = 34}});
  r.push_back({"ipv4 df is not a fragment", udp4({.df = true}), "edge:ipv4", udp_ok});
  r.push_back({"ipv4 icmp echo request: id in both ports",
               icmp4(8, 0, 0x1234),
               "edge:ipv4",
               {.flags = kL4,
                .l4_proto = IPPROTO_ICMP,
                .src_port = 0x1234,
                .dst_port = 0x1234,
                .icmp_type = 8,
                .icmp_code = 0}});
  r.push_back({"ipv4 icmp echo reply: id in both ports",
               icmp4(0, 0, 0x1234),
               "edge:ipv4",
               {.flags = kL4, .src_port = 0x1234, .dst_port = 0x1234, .icmp_type = 0}});
  r.push_back({"ipv4 icmp unreachable: ports 0",
               icmp4(3, 1, 0x1234),
               "edge:ipv4",
               {.flags = kL4, .src_port = 0, .dst_port = 0, .icmp_type = 3, .icmp_code = 1}});
  r.push_back({"ipv4 gre: no ports",
               edit(udp4(),
                    [](Frame& f) {
                      f.set8(f.l3_off + 9, IPPROTO_GRE);
                      f.fix_ipv4_checksum();
                    }),
               "edge:ipv4",
               {.flags = 0, .l4_proto = IPPROTO_GRE, .src_port = 0, .dst_port = 0}});
  r.push_back({"ipv4 udp length below ip payload",
               edit(udp4(), [](Frame& f) { f.set16(f.l4_off + 4, 8); }), "edge:ipv4", udp_ok});
  r.push_back({"ipv4 options nop nop eol",
               opts4({1, 1, 0}),
               "edge:ipv4",
               {.flags = kOpts | kL4, .l4_proto = IPPROTO_UDP, .src_port = 40000, .l3_len = 24}});
  r.push_back({"ipv4 options record route",
               opts4({7, 7, 4, 0, 0, 0, 0, 1}),
               "edge:ipv4",
               {.flags = kOpts | kL4, .l3_len = 28}});
  r.push_back({"ipv4 options timestamp",
               opts4({68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
               "edge:ipv4",
               {.flags = kOpts | kL4, .l3_len = 32}});
  r.push_back({"ipv4 options router alert",
               opts4({148, 4, 0, 0}),
               "edge:ipv4",
               {.flags = kOpts | kL4, .l3_len = 24}});
  r.push_back({"ipv4 options 40 nops (ihl 15)",
               opts4(std::vector<uint8_t>(40, 1)),
               "edge:ipv4",
               {.flags = kOpts | kL4, .l3_len = 60}});
  r.push_back({"ipv4 options eol then garbage is padding",
               bad_opts4({0, 7, 0xff, 0xff}),
               "edge:ipv4",
               {.flags = kOpts | kL4}});
  r.push_back({"ipv4 first fragment: no ports",
               frag4(0, true),
               "edge:ipv4",
               {.flags = kFrag, .l4_proto = IPPROTO_UDP, .src_port = 0, .dst_port = 0}});
  r.push_back({"ipv4 middle fragment",
               frag4(185, true),
               "edge:ipv4",
               {.flags = kFrag | kLater, .l4_proto = IPPROTO_UDP, .src_port = 0, .dst_port = 0}});
  r.push_back({"ipv4 last fragment",
               frag4(370, false),
               "edge:ipv4",
               {.flags = kFrag | kLater, .l4_proto = IPPROTO_UDP, .src_port = 0}});
  r.push_back({"ipv4 first fragment without its l4 header",
               cut4(frag4(0, true), 14 + 20 + 4),
               "edge:ipv4",
               {.flags = kFrag, .l4_proto = IPPROTO_UDP, .src_port = 0, .l3_total = 24}});
  r.push_back({"ipv4 ethernet padding trimmed",
               pad(udp4(), 18),
               "edge:ipv4",
               {.flags = kL4, .l3_total = 40, .pkt_len = 54}});
  r.push_back({"ipv4 runt padded to 60 trimmed",
               pad(PacketBuilder().eth().ipv4(kV4Src, kV4Dst).udp(1, 2).build(), 18),
               "edge:ipv4",
               {.flags = kL4, .l3_total = 28, .pkt_len = 42}});
  r.push_back({"ipv4 nic says checksum good: not re-checked",
               edit(udp4(), [](Frame& f) { f.set16(f.l3_off + 10, 0xdead); }), "edge:ipv4", udp_ok,
               RTE_MBUF_F_RX_IP_CKSUM_GOOD});

  // ---- pass: VLAN and ARP ----------------------------------------------------------------------
  r.push_back({"vlan 0x8100",
               vlans({0x8100}),
               "edge:ipv4",
               {.flags = kL4, .vlan_count = 1, .vlan_outer = tci(100), .vlan_inner = 0}});
  r.push_back(
      {"vlan 0x88a8", vlans({0x88a8}), "edge:ipv4", {.vlan_count = 1, .vlan_outer = tci(100)}});
  r.push_back(
      {"vlan 0x9100", vlans({0x9100}), "edge:ipv4", {.vlan_count = 1, .vlan_outer = tci(100)}});
  r.push_back({"qinq 0x88a8/0x8100 ipv6",
               vlans({0x88a8, 0x8100}, true),
               "edge:ipv6",
               {.flags = kL4, .vlan_count = 2, .vlan_outer = tci(100), .vlan_inner = tci(101)}});
  r.push_back({"qinq 0x9100/0x8100",
               vlans({0x9100, 0x8100}),
               "edge:ipv4",
               {.vlan_count = 2, .vlan_outer = tci(100), .vlan_inner = tci(101)}});
  r.push_back({"qinq 0x8100/0x8100", vlans({0x8100, 0x8100}), "edge:ipv4", {.vlan_count = 2}});
  r.push_back({"qinq padded ipv6 trimmed",
               pad(vlans({0x88a8, 0x8100}, true), 10),
               "edge:ipv6",
               {.l3_total = 48, .pkt_len = 22 + 48}});
  r.push_back({"arp request",
               arp(),
               "edge:arp",
               {.flags = 0,
                .l4_proto = 0,
                .l3_len = 28,
                .l3_total = 28,
                .src = "192.0.2.1",
                .dst = "192.0.2.254",
                .pkt_len = 42}});
  r.push_back({"arp padded to 60 is not trimmed", pad(arp(), 18), "edge:arp", {.pkt_len = 60}});
  r.push_back({"arp in a vlan",
               PacketBuilder()
                   .eth()
                   .vlan(7)
                   .arp(2, "02:00:00:00:00:01", "192.0.2.1", "02:00:00:00:00:02", "192.0.2.2")
                   .build(),
               "edge:arp",
               {.vlan_count = 1, .vlan_outer = 7, .src = "192.0.2.1", .dst = "192.0.2.2"}});

  // ---- pass: IPv6 ------------------------------------------------------------------------------
  r.push_back({"ipv6 tcp",
               tcp6({.hop_limit = 57, .tclass = 0xb8}),
               "edge:ipv6",
               {.flags = kL4,
                .l4_proto = IPPROTO_TCP,
                .src_port = 50000,
                .dst_port = 22,
                .l3_len = 40,
                .l3_total = 60,
                .ttl = 57,
                .dscp = 46,
                .tcp_flags = tcpf::kAck | tcpf::kPsh,
                .src = kV6Src,
                .dst = kV6Dst,
                .pkt_len = 74}});
  r.push_back({"ipv6 udp",
               udp6(),
               "edge:ipv6",
               {.flags = kL4, .l4_proto = IPPROTO_UDP, .src_port = 5060, .dst_port = 5061}});
  r.push_back(
      {"ipv6 hop limit 0 passes", udp6({.hop_limit = 0}), "edge:ipv6", {.flags = kL4, .ttl = 0}});
  r.push_back(
      {"ipv6 hop limit 1 passes", udp6({.hop_limit = 1}), "edge:ipv6", {.flags = kL4, .ttl = 1}});
  r.push_back({"ipv6 icmpv6 echo request",
               icmp6(128, 0xbeef),
               "edge:ipv6",
               {.flags = kL4,
                .l4_proto = IPPROTO_ICMPV6,
                .src_port = 0xbeef,
                .dst_port = 0xbeef,
                .icmp_type = 128}});
  r.push_back({"ipv6 icmpv6 echo reply",
               icmp6(129, 0xbeef),
               "edge:ipv6",
               {.flags = kL4, .src_port = 0xbeef, .dst_port = 0xbeef, .icmp_type = 129}});
  r.push_back({"ipv6 neighbour solicitation: ports 0",
               PacketBuilder()
                   .eth()
                   .ipv6("fe80::1", "ff02::1:ff00:2", {.hop_limit = 255})
                   .nd_solicit("2001:db8::2", "02:00:00:00:00:01")
                   .build(),
               "edge:ipv6",
               {.flags = kL4, .src_port = 0, .dst_port = 0, .ttl = 255, .icmp_type = 135}});
  r.push_back({"ipv6 hbh(16)+dst: walked to udp",
               PacketBuilder()
                   .eth()
                   .ipv6(kV6Src, kV6Dst)
                   .ipv6_hop_by_hop(1)
                   .ipv6_dest_opts()
                   .udp(7, 8)
                   .build(),
               "edge:ipv6",
               {.flags = kOpts | kL4, .l4_proto = IPPROTO_UDP, .src_port = 7, .l3_len = 64}});
  r.push_back({"ipv6 hbh+dst+routing+atomic frag: walked to udp",
               PacketBuilder()
                   .eth()
                   .ipv6(kV6Src, kV6Dst)
                   .ipv6_hop_by_hop()
                   .ipv6_dest_opts()
                   .ipv6_routing()
                   .ipv6_fragment(0, false)
                   .udp(7, 8)
                   .build(),
               "edge:ipv6",
               {.flags = kOpts | kL4,
                .l4_proto = IPPROTO_UDP,
                .src_port = 7,
                .dst_port = 8,
                .l3_len = 72}});
  r.push_back(
      {"ipv6 hbh+dst+routing+frag (middle)",
       edit(PacketBuilder()
                .eth()
                .ipv6(kV6Src, kV6Dst)
                .ipv6_hop_by_hop()
                .ipv6_dest_opts()
                .ipv6_routing()
                .ipv6_fragment(100, true)
                .payload(64)
                .build(),
            [](Frame& f) { f.set8(f.l3_off + 64, IPPROTO_TCP); }),
       "edge:ipv6",
       {.flags = kOpts | kFrag | kLater, .l4_proto = IPPROTO_TCP, .src_port = 0, .l3_len = 72}});
  r.push_back({"ipv6 8 extension headers pass",
               chain6(7, true),
               "edge:ipv6",
               {.flags = kOpts | kL4, .l4_proto = IPPROTO_UDP, .l3_len = 40 + 64}});
  r.push_back({"ipv6 ah then tcp",
               ah6(),
               "edge:ipv6",
               {.flags = kOpts | kL4,
                .l4_proto = IPPROTO_TCP,
                .src_port = 1,
                .dst_port = 2,
                .l3_len = 56}});
  r.push_back({"ipv6 esp: stop, no ports",
               edit(PacketBuilder().eth().ipv6(kV6Src, kV6Dst).payload(40).build(),
                    [](Frame& f) { f.set8(f.l3_off + 6, IPPROTO_ESP); }),
               "edge:ipv6",
               {.flags = 0, .l4_proto = IPPROTO_ESP, .src_port = 0, .l3_len = 40}});
  r.push_back({"ipv6 dst then no-next-header",
               PacketBuilder().eth().ipv6(kV6Src, kV6Dst).ipv6_dest_opts().payload(8).build(),
               "edge:ipv6",
               {.flags = kOpts, .l4_proto = IPPROTO_NONE, .src_port = 0, .l3_len = 48}});
  r.push_back({"ipv6 first fragment: no ports",
               frag6(0, true),
               "edge:ipv6",
               {.flags = kOpts | kFrag,
                .l4_proto = IPPROTO_UDP,
                .src_port = 0,
                .dst_port = 0,
                .l3_len = 48}});
  r.push_back(
      {"ipv6 middle fragment",
       frag6(100, true),
       "edge:ipv6",
       {.flags = kOpts | kFrag | kLater, .l4_proto = IPPROTO_UDP, .src_port = 0, .l3_len = 48}});
  r.push_back({"ipv6 last fragment",
               frag6(200, false),
               "edge:ipv6",
               {.flags = kOpts | kFrag | kLater, .l4_proto = IPPROTO_UDP, .src_port = 0}});
  r.push_back({"ipv6 first fragment without its l4 header",
               cut6(frag6(0, true), 14 + 48 + 2),
               "edge:ipv6",
               {.flags = kOpts | kFrag, .l4_proto = IPPROTO_UDP, .l3_total = 50}});
  r.push_back({"ipv6 ethernet padding trimmed",
               pad(tcp6(), 30),
               "edge:ipv6",
               {.flags = kL4, .l3_total = 60, .pkt_len = 74}});

  // ---- drop: Ethernet and VLAN -----------------------------------------------------------------
  r.push_back({"zero-length frame", raw(0), "drop:eth_truncated"});
  r.push_back({"1-byte frame", raw(1), "drop:eth_truncated"});
  r.push_back({"13-byte frame", cut(udp4(), 13), "drop:eth_truncated"});
  r.push_back({"lldp ethertype", edit(udp4(), [](Frame& f) { f.set16(12, 0x88cc); }),
               "drop:ethertype_unsupported"});
  r.push_back({"802.3 length field", edit(udp4(), [](Frame& f) { f.set16(12, 0x0026); }),
               "drop:ethertype_unsupported"});
  r.push_back({"ethernet header only", cut(udp4(), 14), "drop:ipv4_truncated"});
  r.push_back({"vlan then unsupported ethertype",
               edit(vlans({0x8100}), [](Frame& f) { f.set16(16, 0x88cc); }),
               "drop:ethertype_unsupported"});
  r.push_back({"vlan tag truncated (tci only)", cut(vlans({0x8100}), 16), "drop:vlan_truncated"});
  r.push_back({"vlan tag missing", cut(vlans({0x8100}), 14), "drop:vlan_truncated"});
  r.push_back(
      {"inner vlan tag truncated", cut(vlans({0x88a8, 0x8100}), 21), "drop:vlan_truncated"});
  r.push_back({"3 tags 0x8100", vlans({0x8100, 0x8100, 0x8100}), "drop:vlan_too_many"});
  r.push_back(
      {"3 tags 0x88a8/0x8100/0x9100", vlans({0x88a8, 0x8100, 0x9100}), "drop:vlan_too_many"});
  r.push_back(
      {"3 tags 0x9100/0x9100/0x88a8", vlans({0x9100, 0x9100, 0x88a8}, true), "drop:vlan_too_many"});
  r.push_back({"3rd tag announced, frame ends", cut(vlans({0x8100, 0x8100, 0x8100}), 22),
               "drop:vlan_too_many"});

  // ---- drop: ARP -------------------------------------------------------------------------------
  r.push_back({"arp truncated", cut(arp(), 14 + 27), "drop:arp_truncated"});
  r.push_back({"arp header only", cut(arp(), 14 + 8), "drop:arp_truncated"});
  r.push_back({"arp with 16-byte protocol addresses",
               edit(arp(), [](Frame& f) { f.set8(f.l3_off + 5, 16); }), "drop:arp_unsupported"});
  r.push_back({"arp for a non-ip protocol",
               edit(arp(), [](Frame& f) { f.set16(f.l3_off + 2, 0x86dd); }),
               "drop:arp_unsupported"});

  // ---- drop: IPv4 header -----------------------------------------------------------------------
  r.push_back({"ipv4 header truncated at 19", cut(udp4(), 14 + 19), "drop:ipv4_truncated"});
  r.push_back({"ipv4 header truncated at 1", cut(udp4(), 15), "drop:ipv4_truncated"});
  r.push_back({"ipv4 version 6",
               edit(udp4(),
                    [](Frame& f) {
                      f.set8(f.l3_off, 0x65);
                      f.fix_ipv4_checksum();
                    }),
               "drop:ipv4_bad_version"});
  for (uint8_t ihl : {0, 4}) {
    r.push_back(
        {"ipv4 ihl " + std::to_string(ihl),
         edit(udp4(), [ihl](Frame& f) { f.set8(f.l3_off, static_cast<uint8_t>(0x40 | ihl)); }),
         "drop:ipv4_bad_ihl"});
  }
  r.push_back({"ipv4 ihl 15 beyond the frame",
               edit(cut4(udp4(), 14 + 28), [](Frame& f) { f.set8(f.l3_off, 0x4f); }),
               "drop:ipv4_bad_ihl"});
  r.push_back({"ipv4 frame cut inside the options", cut(opts4({7, 7, 4, 0, 0, 0, 0}), 14 + 24),
               "drop:ipv4_bad_ihl"});
  r.push_back({"ipv4 total length beyond the frame",
               edit(udp4(),
                    [](Frame& f) {
                      f.set16(f.l3_off + 2, 41);
                      f.fix_ipv4_checksum();
                    }),
               "drop:ipv4_bad_total_len"});
  r.push_back({"ipv4 frame truncated (total length unchanged)", cut(udp4(), 50),
               "drop:ipv4_bad_total_len"});
  r.push_back({"ipv4 total length 19",
               edit(udp4(),
                    [](Frame& f) {
                      f.set16(f.l3_off + 2, 19);
                      f.fix_ipv4_checksum();
                    }),
               "drop:ipv4_bad_total_len"});
  r.push_back({"ipv4 total length below ihl*4 with options",
               edit(opts4({1, 1, 1, 1, 1, 1, 1, 0}),
                    [](Frame& f) {
                      f.set16(f.l3_off + 2, 24);
                      f.fix_ipv4_checksum();
                    }),
               "drop:ipv4_bad_total_len"});
  r.push_back({"ipv4 bad checksum",
               edit(udp4(), [](Frame& f) { f.set16(f.l3_off + 10, f.get16(f.l3_off + 10) ^ 1); }),
               "drop:ipv4_bad_checksum"});
  r.push_back({"ipv4 bad checksum with options",
               edit(opts4({7, 7, 4, 0, 0, 0, 0}), [](Frame& f) { f.set8(f.l3_off + 23, 9); }),
               "drop:ipv4_bad_checksum"});
  r.push_back({"ipv4 nic says checksum bad",
               udp4(),
               "drop:ipv4_bad_checksum",
               {},
               RTE_MBUF_F_RX_IP_CKSUM_BAD});
  r.push_back({"ipv4 option length 0", bad_opts4({7, 0, 0, 0}), "drop:ipv4_bad_options"});
  r.push_back({"ipv4 option length 1", bad_opts4({7, 1, 0, 0}), "drop:ipv4_bad_options"});
  r.push_back({"ipv4 option runs past the header", bad_opts4({7, 9, 4, 0, 0, 0, 0, 0}),
               "drop:ipv4_bad_options"});
  r.push_back(
      {"ipv4 option without its length byte", bad_opts4({1, 1, 1, 7}), "drop:ipv4_bad_options"});
  r.push_back({"ipv4 timestamp claiming 40 in 12",
               bad_opts4({68, 40, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}), "drop:ipv4_bad_options"});

  // ---- drop: IPv6 header and extension headers -------------------------------------------------
  r.push_back({"ipv6 header truncated at 39", cut(udp6(), 14 + 39), "drop:ipv6_truncated"});
  r.push_back({"ipv6 version 4", edit(udp6(), [](Frame& f) { f.set8(f.l3_off, 0x40); }),
               "drop:ipv6_bad_version"});
  r.push_back({"ipv6 payload length beyond the frame",
               edit(udp6(),
                    [](Frame& f) {
                      f.set16(f.l3_off + 4, static_cast<uint16_t>(f.get16(f.l3_off + 4) + 1));
                    }),
               "drop:ipv6_bad_payload_len"});
  r.push_back({"ipv6 frame truncated (payload length unchanged)", cut(udp6(), 70),
               "drop:ipv6_bad_payload_len"});
  r.push_back({"ipv6 hbh truncated at 4",
               cut6(PacketBuilder().eth().ipv6(kV6Src, kV6Dst).ipv6_hop_by_hop(1).udp(1, 2).build(),
                    14 + 44),
               "drop:ipv6_ext_truncated"});
  r.push_back({"ipv6 hbh(16) truncated at 12",
               cut6(PacketBuilder().eth().ipv6(kV6Src, kV6Dst).ipv6_hop_by_hop(1).udp(1, 2).build(),
                    14 + 52),
               "drop:ipv6_ext_truncated"});
  r.push_back({"ipv6 dst(16) truncated at 10",
               cut6(PacketBuilder()
                        .eth()
                        .ipv6(kV6Src, kV6Dst)
                        .ipv6_hop_by_hop()
                        .ipv6_dest_opts(1)
                        .udp(1, 2)
                        .build(),
                    14 + 48 + 10),
               "drop:ipv6_ext_truncated"});
  r.push_back(
      {"ipv6 routing truncated at 6",
       cut6(PacketBuilder().eth().ipv6(kV6Src, kV6Dst).ipv6_routing().udp(1, 2).build(), 14 + 46),
       "drop:ipv6_ext_truncated"});
  r.push_back({"ipv6 fragment header truncated at 4", cut6(frag6(0, true), 14 + 44),
               "drop:ipv6_ext_truncated"});
  r.push_back({"ipv6 ah truncated at 12", cut6(ah6(), 14 + 52), "drop:ipv6_ext_truncated"});
  r.push_back({"ipv6 ext header beyond payload length, inside the frame",
               edit(PacketBuilder().eth().ipv6(kV6Src, kV6Dst).ipv6_hop_by_hop().udp(1, 2).build(),
                    [](Frame& f) { f.set16(f.l3_off + 4, 4); }),
               "drop:ipv6_ext_truncated"});
  r.push_back({"ipv6 hbh second",
               PacketBuilder()
                   .eth()
                   .ipv6(kV6Src, kV6Dst)
                   .ipv6_dest_opts()
                   .ipv6_hop_by_hop()
                   .udp(1, 2)
                   .build(),
               "drop:ipv6_hbh_not_first"});
  r.push_back({"ipv6 9 extension headers", chain6(8, true), "drop:ipv6_ext_too_long"});
  r.push_back({"ipv6 9 dst headers", chain6(9, false), "drop:ipv6_ext_too_long"});

  // ---- drop: L4 --------------------------------------------------------------------------------
  r.push_back({"ipv4 tcp truncated at 19", cut4(tcp4(), 14 + 20 + 19), "drop:tcp_truncated"});
  r.push_back({"ipv4 tcp header past total length, inside the frame",
               edit(tcp4(),
                    [](Frame& f) {
                      f.set16(f.l3_off + 2, 30);
                      f.fix_ipv4_checksum();
                    }),
               "drop:tcp_truncated"});
  r.push_back({"ipv6 tcp truncated at 10", cut6(tcp6(), 14 + 40 + 10), "drop:tcp_truncated"});
  for (uint8_t doff = 0; doff < 5; ++doff)
    r.push_back({"ipv4 tcp data offset " + std::to_string(doff), set_doff(tcp4(), doff),
                 "drop:tcp_bad_offset"});
  r.push_back(
      {"ipv4 tcp data offset 15 beyond the datagram", set_doff(tcp4(), 15), "drop:tcp_bad_offset"});
  r.push_back({"ipv4 tcp data offset into the padding", set_doff(pad(tcp4(), 20), 7),
               "drop:tcp_bad_offset"});
  r.push_back({"ipv6 tcp data offset 2", set_doff(tcp6(), 2), "drop:tcp_bad_offset"});
  r.push_back(
      {"ipv6 tcp data offset 6 beyond the datagram", set_doff(tcp6(), 6), "drop:tcp_bad_offset"});
  r.push_back({"ipv4 udp truncated at 7", cut4(udp4(), 14 + 20 + 7), "drop:udp_truncated"});
  r.push_back({"ipv6 udp truncated at 4", cut6(udp6(), 14 + 40 + 4), "drop:udp_truncated"});
  r.push_back({"ipv4 udp length 7", edit(udp4(), [](Frame& f) { f.set16(f.l4_off + 4, 7); }),
               "drop:udp_bad_len"});
  r.push_back({"ipv4 udp length 0", edit(udp4(), [](Frame& f) { f.set16(f.l4_off + 4, 0); }),
               "drop:udp_bad_len"});
  r.push_back({"ipv4 udp length beyond the datagram",
               edit(udp4(), [](Frame& f) { f.set16(f.l4_off + 4, 21); }), "drop:udp_bad_len"});
  r.push_back({"ipv4 udp length into the padding",
               edit(pad(udp4(), 10), [](Frame& f) { f.set16(f.l4_off + 4, 25); }),
               "drop:udp_bad_len"});
  r.push_back({"ipv6 udp length beyond the datagram",
               edit(udp6(), [](Frame& f) { f.set16(f.l4_off + 4, 29); }), "drop:udp_bad_len"});
  r.push_back(
      {"ipv4 icmp truncated at 7", cut4(icmp4(8, 0, 1), 14 + 20 + 7), "drop:icmp_truncated"});
  r.push_back(
      {"ipv6 icmpv6 truncated at 6", cut6(icmp6(128, 1), 14 + 40 + 6), "drop:icmpv6_truncated"});
  return r;
}

std::string desc(const Row& row) {
  return row.what;
}

void check_meta(const Row& row, rte_mbuf* m, bool from_lan) {
  const PacketMeta& md = meta(m);
  const Want& w = row.want;
  SCOPED_TRACE(desc(row));
  // Always: preserved fields kept, per-packet decisions of later stages reset.
  EXPECT_EQ(md.in_port, kInPort);
  EXPECT_EQ((md.flags & meta_flag::kFromLan) != 0, from_lan);
  EXPECT_NE(md.flags & meta_flag::kTrace, 0);
  EXPECT_EQ(md.out_port, kNoPort);
  EXPECT_EQ(md.uplink, kNoUplink);
  EXPECT_EQ(md.flow_id, kNoFlow);
  EXPECT_EQ(md.flow_hash, 0u);
  EXPECT_EQ(md.rule, 0);
  EXPECT_EQ(md.flow_dir, 0);
  EXPECT_EQ(md.l2_len, row.frame.l3_off);
  const bool is_arp = row.expect == "edge:arp";
  EXPECT_EQ(md.l3, is_arp                      ? L3Kind::kArp
                   : row.expect == "edge:ipv4" ? L3Kind::kIpv4
                                               : L3Kind::kIpv6);
  if (!is_arp) {
    EXPECT_EQ(rte_pktmbuf_pkt_len(m), uint32_t{md.l2_len} + md.l3_total)
        << "padding left in the frame";
    EXPECT_EQ(rte_pktmbuf_data_len(m), rte_pktmbuf_pkt_len(m));
    EXPECT_LE(md.l3_len, md.l3_total);
  }
  // The L3 fields, read back from the frame itself.
  const auto& b = row.frame.bytes;
  const size_t l3 = row.frame.l3_off;
  if (md.l3 == L3Kind::kIpv4) {
    EXPECT_EQ(md.ttl, b[l3 + 8]);
    EXPECT_EQ(md.dscp, b[l3 + 1] >> 2);
    EXPECT_EQ(md.l3_len, (b[l3] & 0x0f) * 4);
    EXPECT_EQ(md.l3_total, row.frame.get16(l3 + 2));
    EXPECT_EQ(md.l4_proto, b[l3 + 9]);
    EXPECT_EQ(md.src, IpAddr::v4_bytes(&b[l3 + 12]));
    EXPECT_EQ(md.dst, IpAddr::v4_bytes(&b[l3 + 16]));
  } else if (md.l3 == L3Kind::kIpv6) {
    EXPECT_EQ(md.ttl, b[l3 + 7]);
    EXPECT_EQ(md.dscp, row.frame.get16(l3) >> 6 & 0x3f);
    EXPECT_EQ(md.l3_total, 40 + row.frame.get16(l3 + 4));
    EXPECT_EQ(md.src, IpAddr::v6_bytes(&b[l3 + 8]));
    EXPECT_EQ(md.dst, IpAddr::v6_bytes(&b[l3 + 24]));
  } else {
    EXPECT_EQ(md.ttl, 0);
    EXPECT_EQ(md.dscp, 0);
    EXPECT_EQ(md.l4_proto, 0);
    EXPECT_EQ(md.l3_len, 28);
    EXPECT_EQ(md.src, IpAddr::v4_bytes(&b[l3 + 14]));
    EXPECT_EQ(md.dst, IpAddr::v4_bytes(&b[l3 + 24]));
  }
  if (md.l4_proto != IPPROTO_TCP) {
    EXPECT_EQ(md.tcp_flags, 0);
  }
  if (!(md.flags & meta_flag::kHasL4) ||
      (md.l4_proto != IPPROTO_ICMP && md.l4_proto != IPPROTO_ICMPV6)) {
    EXPECT_EQ(md.icmp_type, 0);
    EXPECT_EQ(md.icmp_code, 0);
  }
  if (md.vlan_count < 2) {
    EXPECT_EQ(md.vlan_inner, 0);
  }
  if (md.vlan_count < 1) {
    EXPECT_EQ(md.vlan_outer, 0);
  }
  if (!(md.flags & meta_flag::kHasL4)) {
    EXPECT_EQ(md.src_port, 0);
    EXPECT_EQ(md.dst_port, 0);
  }
  if (md.flags & meta_flag::kFragment) {
    EXPECT_EQ(md.flags & meta_flag::kHasL4, 0);
  }
  if (w.flags) {
    EXPECT_EQ(md.flags & kParseFlags, *w.flags);
  }
#define TRABOULE_EXPECT_FIELD(f) \
  if (w.f) {                     \
    EXPECT_EQ(md.f, *w.f) << #f; \
  }
  TRABOULE_EXPECT_FIELD(l4_proto)
  TRABOULE_EXPECT_FIELD(src_port)
  TRABOULE_EXPECT_FIELD(dst_port)
  TRABOULE_EXPECT_FIELD(l3_len)
  TRABOULE_EXPECT_FIELD(l3_total)
  TRABOULE_EXPECT_FIELD(ttl)
  TRABOULE_EXPECT_FIELD(dscp)
  TRABOULE_EXPECT_FIELD(tcp_flags)
  TRABOULE_EXPECT_FIELD(icmp_type)
  TRABOULE_EXPECT_FIELD(icmp_code)
  TRABOULE_EXPECT_FIELD(vlan_count)
  TRABOULE_EXPECT_FIELD(vlan_outer)
  TRABOULE_EXPECT_FIELD(vlan_inner)
#undef TRABOULE_EXPECT_FIELD
  if (w.src) {
    EXPECT_EQ(md.src, *IpAddr::parse(*w.src)) << md.src.str();
  }
  if (w.dst) {
    EXPECT_EQ(md.dst, *IpAddr::parse(*w.dst)) << md.dst.str();
  }
  if (w.pkt_len) {
    EXPECT_EQ(rte_pktmbuf_pkt_len(m), *w.pkt_len);
  }
  // Nothing but padding was removed.
  auto out = traboule::testing::from_mbuf(m);
  ASSERT_LE(out.size(), row.frame.bytes.size());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), row.frame.bytes.begin()));
}

// Stale values left by a previous use of the mbuf: the stage must reset all of them.
void dirty_meta(rte_mbuf* m, bool from_lan) {
  PacketMeta& md = meta(m);
  md.out_port = 9;
  md.uplink = 2;
  md.flow_id = 77;
  md.flow_hash = 0x1234;
  md.rule = 5;
  md.flow_dir = 1;
  md.src_port = md.dst_port = 999;
  md.vlan_outer = md.vlan_inner = 5;
  md.vlan_count = 2;
  md.tcp_flags = md.icmp_type = md.icmp_code = 0x55;
  md.l2_len = md.l3_len = md.l3_total = 0x999;
  md.l3 = L3Kind::kNone;
  md.l4_proto = md.ttl = md.dscp = 0x66;
  md.src = md.dst = *IpAddr::parse("2001:db8::dead");
  md.flags = kParseFlags | (from_lan ? meta_flag::kFromLan : 0);
}

TEST(ParseTable, EveryRowGetsItsVerdictAndMeta) {
  auto table = rows();
  ASSERT_GE(table.size(), 40u);
  ParseStage stage;
  const unsigned before = pool_in_use();
  {
    StageHarness h(stage);
    std::set<std::string> drops_seen;
    // The harness collects after the whole run and one edge holds kNodeInputMax packets.
    for (size_t off = 0; off < table.size(); off += kBurstMax) {
      const size_t end = std::min(table.size(), off + kBurstMax);
      std::vector<rte_mbuf*> pkts;
      for (size_t i = off; i < end; ++i) {
        rte_mbuf* m = to_mbuf(test_pool(), table[i].frame, kInPort);
        ASSERT_NE(m, nullptr);
        m->ol_flags |= table[i].ol_flags;
        dirty_meta(m, i % 2 == 0);
        pkts.push_back(m);
      }
      auto verdicts = h.run(pkts);
      ASSERT_EQ(verdicts.size(), pkts.size()) << "a packet was emitted twice or invented";
      for (size_t i = off; i < end; ++i) {
        const auto& v = verdicts[i - off];
        EXPECT_EQ(v.where, table[i].expect) << table[i].what;
        if (v.where != table[i].expect) continue;
        if (v.pkt != nullptr) check_meta(table[i], v.pkt, i % 2 == 0);
        if (table[i].expect.starts_with("drop:")) drops_seen.insert(table[i].expect.substr(5));
      }
    }
    // Every drop reason but the chained-mbuf one (ParseChain) and the VLAN port's one
    // (dp_vlan_test, a port with a VLAN) has a row.
    for (auto d : ParseStage::kDrops)
      if (d != "not_first_segment" && d != "vlan_foreign") {
        EXPECT_TRUE(drops_seen.count(std::string(d))) << "no row for " << d;
      }
    uint64_t dropped = 0;
    for (auto d : ParseStage::kDrops) dropped += h.drop_count(std::string(d));
    EXPECT_EQ(dropped,
              static_cast<uint64_t>(std::count_if(table.begin(), table.end(), [](const Row& row) {
                return row.expect.starts_with("drop:");
              })));
  }
  EXPECT_EQ(pool_in_use(), before) << "mbuf leak";
}

TEST(ParseNames, EdgesAndDropsAreStable) {
  ParseStage stage;
  EXPECT_EQ(stage.name(), "parse");
  ASSERT_EQ(stage.edge_names().size(), 3u);
  EXPECT_EQ(stage.edge_names()[ParseStage::kIpv4], "ipv4");
  EXPECT_EQ(stage.edge_names()[ParseStage::kIpv6], "ipv6");
  EXPECT_EQ(stage.edge_names()[ParseStage::kArp], "arp");
  EXPECT_EQ(stage.drop_names()[ParseStage::kNotFirstSegment], "not_first_segment");
  EXPECT_EQ(stage.drop_names()[ParseStage::kVlanForeign], "vlan_foreign");
  EXPECT_EQ(stage.drop_names().size(), ParseStage::kVlanForeign + 1u);
  std::set<std::string_view> uniq(stage.drop_names().begin(), stage.drop_names().end());
  EXPECT_EQ(uniq.size(), stage.drop_names().size());
  for (auto d : stage.drop_names())
    EXPECT_TRUE(std::all_of(d.begin(), d.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    })) << d;
}

// The worker's RX fields survive; the harness rewrites trace_id, so this drives process() directly.
TEST(ParsePreserve, KeepsInPortTraceIdAndRxFlags) {
  ParseStage stage;
  Burst edges[3], drops;
  Burst* edge_ptrs[3] = {&edges[0], &edges[1], &edges[2]};
  uint64_t edge_counts[3] = {}, drop_counts[ParseStage::kDrops.size()] = {}, overflow = 0;
  Output out;
  out.wire(0, edge_ptrs, edge_counts, &drops, drop_counts, &overflow, nullptr);
  const unsigned before = pool_in_use();
  rte_mbuf* m = to_mbuf(test_pool(), udp4(), 7);
  ASSERT_NE(m, nullptr);
  dirty_meta(m, true);
  meta(m).flags |= meta_flag::kTrace;
  meta(m).trace_id = 4321;
  stage.process(&m, 1, BurstContext{}, out);
  ASSERT_EQ(edges[ParseStage::kIpv4].n, 1);
  EXPECT_EQ(meta(m).in_port, 7);
  EXPECT_EQ(meta(m).trace_id, 4321);
  EXPECT_EQ(meta(m).flags, meta_flag::kFromLan | meta_flag::kTrace | meta_flag::kHasL4);
  EXPECT_EQ(edge_counts[ParseStage::kIpv4], 1u);
  rte_pktmbuf_free(m);
  EXPECT_EQ(pool_in_use(), before);
}

// Splits a frame into segments at the offsets in `splits` (ascending).
rte_mbuf* to_chain(const Frame& f, const std::vector<size_t>& splits) {
  rte_mbuf* head = nullptr;
  size_t from = 0;
  for (size_t i = 0; i <= splits.size(); ++i) {
    const size_t to = i < splits.size() ? splits[i] : f.bytes.size();
    Frame part;
    part.bytes.assign(f.bytes.begin() + static_cast<long>(from),
                      f.bytes.begin() + static_cast<long>(to));
    rte_mbuf* m = to_mbuf(test_pool(), part, kInPort);
    if (m == nullptr) std::abort();
    if (head == nullptr)
      head = m;
    else if (rte_pktmbuf_chain(head, m) != 0)
      std::abort();
    from = to;
  }
  return head;
}

TEST(ParseChain, HeadersMustBeInTheFirstSegment) {
  struct ChainRow {
    std::string what;
    Frame frame;
    std::vector<size_t> splits;
    std::string expect;
    uint16_t nb_segs = 0;  // after the stage, when it passes
  };
  const Frame u4 = udp4();  // 54 bytes, headers 42
  const Frame t6 = tcp6();  // 74 bytes, all headers
  std::vector<ChainRow> table = {
      {"ethernet split", u4, {10}, "drop:not_first_segment"},
      {"vlan tag split", vlans({0x8100}), {16}, "drop:not_first_segment"},
      {"ipv4 header split", u4, {30}, "drop:not_first_segment"},
      {"ipv4 options split", opts4({1, 1, 1, 1}), {14 + 22}, "drop:not_first_segment"},
      {"udp header split", u4, {14 + 20 + 4}, "drop:not_first_segment"},
      {"tcp options split", tcp4(), {14 + 20 + 22}, "drop:not_first_segment"},
      {"ipv6 header split", t6, {40}, "drop:not_first_segment"},
      {"ipv6 ext header split", chain6(2, true), {14 + 40 + 12}, "drop:not_first_segment"},
      {"ipv6 tcp split", t6, {14 + 40 + 19}, "drop:not_first_segment"},
      {"arp split", arp(), {30}, "drop:not_first_segment"},
      {"truncated frame still says truncated", cut(udp4(), 30), {20}, "drop:ipv4_truncated"},
      {"ipv4 payload in 2nd segment", u4, {14 + 28}, "edge:ipv4", 2},
      {"ipv6 headers fill the 1st segment exactly", t6, {74}, "edge:ipv6", 2},
      {"padding inside the last segment", pad(u4, 20), {42}, "edge:ipv4", 2},
      {"last segment is all padding", pad(u4, 30), {54}, "edge:ipv4", 2},
      {"padding longer than the last segment", pad(u4, 40), {60}, "edge:ipv4", 1},
      {"padding over 2 of 3 segments", pad(u4, 40), {44, 60}, "edge:ipv4", 2},
      {"padding over 2 of 4 segments", pad(u4, 40), {44, 50, 70}, "edge:ipv4", 3},
  };
  ParseStage stage;
  const unsigned before = pool_in_use();
  {
    StageHarness h(stage);
    for (auto& row : table) {
      auto v = h.run({to_chain(row.frame, row.splits)});
      ASSERT_EQ(v.size(), 1u) << row.what;
      EXPECT_EQ(v[0].where, row.expect) << row.what;
      if (v[0].pkt == nullptr || !row.expect.starts_with("edge:")) continue;
      const PacketMeta& md = meta(v[0].pkt);
      EXPECT_EQ(rte_pktmbuf_pkt_len(v[0].pkt), uint32_t{md.l2_len} + md.l3_total) << row.what;
      EXPECT_EQ(v[0].pkt->nb_segs, row.nb_segs) << row.what;
      uint32_t sum = 0;
      uint16_t segs = 0;
      for (rte_mbuf* s = v[0].pkt; s != nullptr; s = s->next, ++segs) sum += s->data_len;
      EXPECT_EQ(sum, rte_pktmbuf_pkt_len(v[0].pkt)) << row.what;
      EXPECT_EQ(segs, v[0].pkt->nb_segs) << row.what;
      auto out = traboule::testing::from_mbuf(v[0].pkt);
      EXPECT_TRUE(std::equal(out.begin(), out.end(), row.frame.bytes.begin())) << row.what;
    }
  }
  EXPECT_EQ(pool_in_use(), before) << "mbuf leak (trimmed segments must be freed)";
}

// Everything parse writes, folded (FNV-1a) so two runs can be compared after their mbufs are gone.
uint64_t meta_digest(const PacketMeta& md) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 0x100000001b3ull;
  };
  mix(md.src.b.data(), 16);
  mix(md.dst.b.data(), 16);
  const uint64_t fields[] = {md.flags,      md.l2_len,       md.l3_len,     md.l3_total,
                             md.src_port,   md.dst_port,     md.vlan_outer, md.vlan_inner,
                             md.vlan_count, uint64_t(md.l3), md.l4_proto,   md.tcp_flags,
                             md.icmp_type,  md.icmp_code,    md.ttl,        md.dscp};
  mix(fields, sizeof fields);
  return h;
}

// Valid frames cut at every length (raw, and with IP lengths following the cut) and with random
// bytes flipped: one verdict each, a known reason, sane metadata, no leak, no crash.
TEST(ParseRobustness, TruncatedAndCorruptedFrames) {
  std::vector<Frame> seeds = {udp4(),
                              tcp4(),
                              opts4({7, 7, 4, 0, 0, 0, 0, 1}),
                              icmp4(8, 0, 3),
                              frag4(0, true),
                              vlans({0x88a8, 0x8100}),
                              vlans({0x8100}, true),
                              arp(),
                              tcp6(),
                              icmp6(128, 5),
                              frag6(100, true),
                              ah6(),
                              chain6(6, true),
                              PacketBuilder()
                                  .eth()
                                  .ipv6(kV6Src, kV6Dst)
                                  .ipv6_hop_by_hop(1)
                                  .ipv6_dest_opts()
                                  .ipv6_routing(1)
                                  .ipv6_fragment(0, false)
                                  .tcp(1, 2)
                                  .build()};
  std::vector<Frame> cases;
  for (const Frame& s : seeds) {
    for (size_t len = 0; len <= s.bytes.size(); ++len) {
      cases.push_back(cut(s, len));
      if (len >= s.l3_off + 12 && s.get16(s.l3_off - 2) == RTE_ETHER_TYPE_IPV4)
        cases.push_back(cut4(s, len));
      if (len >= s.l3_off + 40 && s.get16(s.l3_off - 2) == RTE_ETHER_TYPE_IPV6)
        cases.push_back(cut6(s, len));
    }
  }
  std::mt19937 rng(0x7ab0);
  for (int i = 0; i < 3000; ++i) {
    Frame f = seeds[rng() % seeds.size()];
    const unsigned flips = 1 + rng() % 4;
    for (unsigned k = 0; k < flips; ++k) {
      // Mostly in the headers, where the parser looks.
      size_t span = std::min<size_t>(f.bytes.size(), 14 + 8 + 40 + 64);
      f.bytes[rng() % span] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    if (rng() % 3 == 0) f.truncate(rng() % (f.bytes.size() + 1));
    if (rng() % 4 == 0) f = pad(f, rng() % 40);
    cases.push_back(std::move(f));
  }
  ASSERT_GT(cases.size(), 3000u);

  ParseStage stage;
  std::set<std::string> known;
  for (auto e : ParseStage::kEdges) known.insert("edge:" + std::string(e));
  for (auto d : ParseStage::kDrops) known.insert("drop:" + std::string(d));
  const unsigned before = pool_in_use();
  size_t passed = 0;
  // The harness collects after the whole run and an edge holds kNodeInputMax packets.
  constexpr size_t kBatch = kNodeInputMax;
  for (size_t off = 0; off < cases.size(); off += kBatch) {
    // Each case twice, with the bytes past the frame set to 0x00 and to 0xff: a parser that
    // reads beyond the frame would (sooner or later) answer differently.
    std::vector<std::string> where[2];
    std::vector<uint64_t> digest[2];
    for (int fill = 0; fill < 2; ++fill) {
      StageHarness h(stage);
      std::vector<rte_mbuf*> pkts;
      for (size_t i = off; i < std::min(cases.size(), off + kBatch); ++i) {
        rte_mbuf* m = to_mbuf(test_pool(), cases[i], kInPort);
        ASSERT_NE(m, nullptr);
        std::memset(rte_pktmbuf_mtod_offset(m, char*, rte_pktmbuf_data_len(m)), fill ? 0xff : 0,
                    rte_pktmbuf_tailroom(m));
        dirty_meta(m, false);
        pkts.push_back(m);
      }
      auto v = h.run(pkts);
      ASSERT_EQ(v.size(), pkts.size());
      for (size_t i = 0; i < v.size(); ++i) {
        const Frame& f = cases[off + i];
        ASSERT_TRUE(known.count(v[i].where)) << "case " << off + i << ": " << v[i].where;
        where[fill].push_back(v[i].where);
        digest[fill].push_back(v[i].pkt != nullptr ? meta_digest(meta(v[i].pkt)) : 0);
        if (v[i].pkt == nullptr) continue;
        passed += fill == 0;
        const PacketMeta& md = meta(v[i].pkt);
        const uint32_t len = rte_pktmbuf_pkt_len(v[i].pkt);
        ASSERT_LE(len, f.bytes.size());
        EXPECT_LE(uint32_t{md.l2_len} + md.l3_len, len) << "case " << off + i;
        if (md.l3 != L3Kind::kArp) {
          EXPECT_EQ(uint32_t{md.l2_len} + md.l3_total, len) << "case " << off + i;
        }
        if (!(md.flags & meta_flag::kHasL4)) {
          EXPECT_EQ(md.src_port | md.dst_port, 0);
        }
        EXPECT_EQ(md.flow_id, kNoFlow);
      }
    }
    for (size_t i = 0; i < where[0].size(); ++i) {
      EXPECT_EQ(where[0][i], where[1][i]) << "case " << off + i << " read past the frame";
      EXPECT_EQ(digest[0][i], digest[1][i]) << "case " << off + i << " read past the frame";
    }
  }
  EXPECT_GT(passed, 100u) << "the corpus should still hold valid frames";
  EXPECT_EQ(pool_in_use(), before) << "mbuf leak";
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The local stage: ARP, neighbour discovery and ICMP echo for the box's own addresses, what it
// drops and why, the neighbours it learns, and the resolver's requests. Replies are checked
// field by field, with checksums recomputed here independently of the stage.
#include "dataplane/stages/local.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_cycles.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/io/mempool.h"
#include "tests/testing/checksum.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"
#include "tests/testing/wire_bytes.h"

namespace traboule::dp {
namespace {

using traboule::testing::Frame;
using traboule::testing::Ipv4Opts;
using traboule::testing::Ipv6Opts;
using traboule::testing::PacketBuilder;
using traboule::testing::StageHarness;
using traboule::testing::test_pool;
namespace tcpf = traboule::testing::tcpf;
using Bytes = std::vector<uint8_t>;

constexpr uint16_t kLanPort = 0;
constexpr uint16_t kWanPort = 1;
constexpr uint16_t kUnknownPort = 5;
constexpr const char* kLanMac = "02:00:00:00:00:10";
constexpr const char* kWanMac = "02:00:00:00:00:20";
constexpr const char* kHostMac = "02:00:00:00:00:aa";
constexpr const char* kGwMac = "02:00:00:00:00:ee";
constexpr const char* kBcast = "ff:ff:ff:ff:ff:ff";
constexpr const char* kZeroMac = "00:00:00:00:00:00";
constexpr const char* kLanLl = "fe80::ff:fe00:10";  // EUI-64 of kLanMac
constexpr const char* kWanLl = "fe80::ff:fe00:20";

IpAddr ip(const char* text) {
  return *IpAddr::parse(text);
}
using traboule::testing::ip_bytes;
using traboule::testing::mac_bytes;

std::unique_ptr<Interface> make_iface(const char* name, uint16_t port, const char* mac_text,
                                      const char* v4, uint8_t plen4, const char* v6,
                                      uint32_t neigh_capacity) {
  auto ifc = std::make_unique<Interface>();
  ifc->name = name;
  ifc->port_id = port;
  ifc->mac = traboule::testing::mac(mac_text);
  ifc->v4 = IfAddr{ip(v4), plen4};
  ifc->v6 = IfAddr{ip(v6), 64};
  ifc->v6_link_local = link_local_from_mac(ifc->mac);
  ifc->neighbors = std::make_unique<NeighborTable>(neigh_capacity);
  return ifc;
}

// LAN 192.168.1.1/24 + 2001:db8:1::1/64 on port 0; uplink "fiber" 203.0.113.2/24 +
// 2001:db8:ff::2/64 on port 1 (gateways .1 and fe80::1). Port 5 has no interface.
std::unique_ptr<Site> make_site(uint32_t lan_neigh_capacity = 64) {
  auto site = std::make_unique<Site>();
  auto lan =
      make_iface("lan", kLanPort, kLanMac, "192.168.1.1", 24, "2001:db8:1::1", lan_neigh_capacity);
  lan->is_lan = true;
  auto wan = make_iface("fiber", kWanPort, kWanMac, "203.0.113.2", 24, "2001:db8:ff::2", 64);
  wan->uplink = 0;
  wan->gw4 = ip("203.0.113.1");
  wan->gw6 = ip("fe80::1");
  site->lan = lan.get();
  site->uplinks.push_back(wan.get());
  site->by_port[kLanPort] = lan.get();
  site->by_port[kWanPort] = wan.get();
  site->lan_prefixes.push_back(*IpPrefix::parse("192.168.1.0/24"));
  site->ifaces.push_back(std::move(lan));
  site->ifaces.push_back(std::move(wan));
  return site;
}

// What the parse stage would put in PacketMeta for these crafted frames (parse is a separate
// stage with its own tests; this keeps the local stage's tests independent of it).
PacketMeta meta_of(const Frame& f, uint16_t in_port) {
  PacketMeta md;
  md.in_port = in_port;
  const Bytes& b = f.bytes;
  size_t off = 12;
  uint16_t type = f.get16(off);
  while (type == RTE_ETHER_TYPE_VLAN || type == RTE_ETHER_TYPE_QINQ) {
    uint16_t tci = f.get16(off + 2);
    (md.vlan_count == 0 ? md.vlan_outer : md.vlan_inner) = tci;
    ++md.vlan_count;
    off += 4;
    type = f.get16(off);
  }
  size_t l3 = off + 2;
  md.l2_len = static_cast<uint16_t>(l3);
  if (type == RTE_ETHER_TYPE_ARP) {
    md.l3 = L3Kind::kArp;
    if (b.size() >= l3 + 28) {
      md.src = IpAddr::v4_bytes(&b[l3 + 14]);
      md.dst = IpAddr::v4_bytes(&b[l3 + 24]);
    }
  } else if (type == RTE_ETHER_TYPE_IPV4) {
    md.l3 = L3Kind::kIpv4;
    size_t ihl = (b[l3] & 0x0f) * 4u;
    md.l3_len = static_cast<uint16_t>(ihl);
    md.l3_total = f.get16(l3 + 2);
    md.ttl = b[l3 + 8];
    md.l4_proto = b[l3 + 9];
    md.src = IpAddr::v4_bytes(&b[l3 + 12]);
    md.dst = IpAddr::v4_bytes(&b[l3 + 16]);
    uint16_t frag = f.get16(l3 + 6);
    if (frag & 0x3fff) md.flags |= meta_flag::kFragment;
    if (frag & 0x1fff) md.flags |= meta_flag::kLaterFragment;
    if (ihl > 20) md.flags |= meta_flag::kIpOptions;
    if (md.l4_proto == IPPROTO_ICMP && !(md.flags & meta_flag::kLaterFragment)) {
      md.icmp_type = b[l3 + ihl];
      md.icmp_code = b[l3 + ihl + 1];
    }
  } else if (type == RTE_ETHER_TYPE_IPV6) {
    md.l3 = L3Kind::kIpv6;
    md.ttl = b[l3 + 7];
    md.src = IpAddr::v6_bytes(&b[l3 + 8]);
    md.dst = IpAddr::v6_bytes(&b[l3 + 24]);
    md.l3_total = static_cast<uint16_t>(40 + f.get16(l3 + 4));
    uint8_t nh = b[l3 + 6];
    size_t p = l3 + 40;
    while (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
           nh == IPPROTO_FRAGMENT) {
      md.flags |= meta_flag::kIpOptions;
      if (nh == IPPROTO_FRAGMENT) {
        md.flags |= meta_flag::kFragment;
        if (f.get16(p + 2) >> 3) md.flags |= meta_flag::kLaterFragment;
        nh = b[p];
        p += 8;
      } else {
        nh = b[p];
        p += (b[p + 1] + 1u) * 8;
      }
    }
    md.l3_len = static_cast<uint16_t>(p - l3);
    md.l4_proto = nh;
    if (nh == IPPROTO_ICMPV6 && !(md.flags & meta_flag::kLaterFragment)) {
      md.icmp_type = b[p];
      md.icmp_code = b[p + 1];
    }
  }
  return md;
}

// Frame → mbuf with meta filled. `keep` truncates the mbuf after meta was computed (meta then
// claims more than the buffer holds); `chain_at` splits the frame into two segments.
rte_mbuf* load(const Frame& f, uint16_t in_port, size_t keep = 0, size_t chain_at = 0) {
  PacketMeta md = meta_of(f, in_port);
  rte_mbuf* m = nullptr;
  if (chain_at != 0) {
    Frame head, tail;
    head.bytes.assign(f.bytes.begin(), f.bytes.begin() + static_cast<long>(chain_at));
    tail.bytes.assign(f.bytes.begin() + static_cast<long>(chain_at), f.bytes.end());
    m = traboule::testing::to_mbuf(test_pool(), head, in_port);
    rte_mbuf* t = traboule::testing::to_mbuf(test_pool(), tail, in_port);
    EXPECT_EQ(rte_pktmbuf_chain(m, t), 0);
  } else {
    m = traboule::testing::to_mbuf(test_pool(), f, in_port);
  }
  if (keep != 0 && keep < f.bytes.size())
    rte_pktmbuf_trim(m, static_cast<uint16_t>(f.bytes.size() - keep));
  meta(m) = md;
  return m;
}

using traboule::testing::fold;
using traboule::testing::ipv4_header_ok;
using traboule::testing::sum16;
bool icmp4_ok(const Bytes& b, size_t off, size_t len) {
  return fold(sum16(&b[off], len)) == 0xffff;
}
bool icmp6_ok(const Bytes& b, size_t l3, size_t off, size_t len) {
  uint32_t acc = sum16(&b[l3 + 8], 32);
  acc += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff) + IPPROTO_ICMPV6;
  return fold(sum16(&b[off], len, acc)) == 0xffff;
}

Bytes slice(const Bytes& b, size_t off, size_t n) {
  if (off + n > b.size()) return {};
  return Bytes(b.begin() + static_cast<long>(off), b.begin() + static_cast<long>(off + n));
}
uint16_t get16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b.at(off) << 8 | b.at(off + 1));
}

using Check = std::function<void(const Bytes&, const PacketMeta&)>;

// An ARP reply from us (`our_mac`, `our_ip`) to the requester, every field.
Check arp_reply(const char* our_mac, const char* our_ip, const char* req_mac, const char* req_ip,
                uint16_t port, size_t l2_len = 14) {
  return [=](const Bytes& b, const PacketMeta& md) {
    ASSERT_GE(b.size(), l2_len + 28);
    EXPECT_EQ(slice(b, 0, 6), mac_bytes(req_mac)) << "eth dst";
    EXPECT_EQ(slice(b, 6, 6), mac_bytes(our_mac)) << "eth src";
    EXPECT_EQ(get16(b, l2_len - 2), RTE_ETHER_TYPE_ARP);
    size_t a = l2_len;
    EXPECT_EQ(get16(b, a), 1) << "htype";
    EXPECT_EQ(get16(b, a + 2), RTE_ETHER_TYPE_IPV4) << "ptype";
    EXPECT_EQ(b[a + 4], 6) << "hlen";
    EXPECT_EQ(b[a + 5], 4) << "plen";
    EXPECT_EQ(get16(b, a + 6), 2) << "op";
    EXPECT_EQ(slice(b, a + 8, 6), mac_bytes(our_mac)) << "sha";
    EXPECT_EQ(slice(b, a + 14, 4), ip_bytes(our_ip)) << "spa";
    EXPECT_EQ(slice(b, a + 18, 6), mac_bytes(req_mac)) << "tha";
    EXPECT_EQ(slice(b, a + 24, 4), ip_bytes(req_ip)) << "tpa";
    EXPECT_EQ(md.out_port, port);
    EXPECT_EQ(md.in_port, port);
    EXPECT_EQ(md.l2_len, l2_len);
  };
}

// A neighbour advertisement for `target` from us, sent to dst_mac/dst_ip.
Check na_reply(const char* our_mac, const char* target, const char* dst_mac, const char* dst_ip,
               bool solicited, uint16_t port, size_t l2_len = 14) {
  return [=](const Bytes& b, const PacketMeta& md) {
    ASSERT_EQ(b.size(), l2_len + 40 + 32) << "exactly IPv6 + NA + one option";
    EXPECT_EQ(slice(b, 0, 6), mac_bytes(dst_mac)) << "eth dst";
    EXPECT_EQ(slice(b, 6, 6), mac_bytes(our_mac)) << "eth src";
    EXPECT_EQ(get16(b, l2_len - 2), RTE_ETHER_TYPE_IPV6);
    size_t l3 = l2_len, l4 = l3 + 40;
    EXPECT_EQ(b[l3] >> 4, 6) << "version";
    EXPECT_EQ(get16(b, l3 + 4), 32) << "payload length";
    EXPECT_EQ(b[l3 + 6], IPPROTO_ICMPV6);
    EXPECT_EQ(b[l3 + 7], 255) << "hop limit";
    EXPECT_EQ(slice(b, l3 + 8, 16), ip_bytes(target)) << "src";
    EXPECT_EQ(slice(b, l3 + 24, 16), ip_bytes(dst_ip)) << "dst";
    EXPECT_EQ(b[l4], 136) << "type";
    EXPECT_EQ(b[l4 + 1], 0) << "code";
    EXPECT_TRUE(icmp6_ok(b, l3, l4, 32)) << "ICMPv6 checksum";
    EXPECT_EQ(b[l4 + 4], solicited ? 0xe0 : 0xa0) << "R, S, O flags";
    EXPECT_EQ(slice(b, l4 + 5, 3), Bytes(3, 0)) << "reserved";
    EXPECT_EQ(slice(b, l4 + 8, 16), ip_bytes(target)) << "target";
    EXPECT_EQ(b[l4 + 24], 2) << "target link-layer option";
    EXPECT_EQ(b[l4 + 25], 1) << "option length";
    EXPECT_EQ(slice(b, l4 + 26, 6), mac_bytes(our_mac));
    EXPECT_EQ(md.out_port, port);
    EXPECT_EQ(md.l3_len, 40);
    EXPECT_EQ(md.l3_total, 72);
    EXPECT_EQ(md.src, ip(target));
    EXPECT_EQ(md.dst, ip(dst_ip));
  };
}

// An IPv4 echo reply from `our_ip` to `peer_ip`, no options, `payload` bytes after the header.
Check echo4_reply(const char* our_mac, const char* peer_mac, const char* our_ip,
                  const char* peer_ip, uint16_t id, uint16_t seq, size_t payload, uint16_t port,
                  size_t l2_len = 14) {
  return [=](const Bytes& b, const PacketMeta& md) {
    size_t l3 = l2_len, l4 = l3 + 20, icmp_len = 8 + payload;
    ASSERT_EQ(b.size(), l4 + icmp_len);
    EXPECT_EQ(slice(b, 0, 6), mac_bytes(peer_mac)) << "eth dst";
    EXPECT_EQ(slice(b, 6, 6), mac_bytes(our_mac)) << "eth src";
    EXPECT_EQ(b[l3], 0x45) << "version, IHL 5 (options not echoed)";
    EXPECT_EQ(get16(b, l3 + 2), 20 + icmp_len) << "total length";
    EXPECT_EQ(get16(b, l3 + 6), 0) << "no fragment bits";
    EXPECT_EQ(b[l3 + 8], 64) << "TTL";
    EXPECT_EQ(b[l3 + 9], IPPROTO_ICMP);
    EXPECT_TRUE(ipv4_header_ok(b, l3)) << "IPv4 header checksum";
    EXPECT_EQ(slice(b, l3 + 12, 4), ip_bytes(our_ip)) << "src";
    EXPECT_EQ(slice(b, l3 + 16, 4), ip_bytes(peer_ip)) << "dst";
    EXPECT_EQ(b[l4], 0) << "type echo reply";
    EXPECT_EQ(b[l4 + 1], 0) << "code";
    EXPECT_TRUE(icmp4_ok(b, l4, icmp_len)) << "ICMP checksum";
    EXPECT_EQ(get16(b, l4 + 4), id);
    EXPECT_EQ(get16(b, l4 + 6), seq);
    EXPECT_EQ(md.out_port, port);
    EXPECT_EQ(md.src, ip(our_ip));
    EXPECT_EQ(md.dst, ip(peer_ip));
    EXPECT_EQ(md.l3_len, 20);
    EXPECT_EQ(md.l3_total, 20 + icmp_len);
    EXPECT_EQ(md.icmp_type, 0);
  };
}

Check echo6_reply(const char* our_mac, const char* peer_mac, const char* our_ip,
                  const char* peer_ip, size_t icmp_len, uint16_t port, size_t l2_len = 14) {
  return [=](const Bytes& b, const PacketMeta& md) {
    size_t l3 = l2_len, l4 = l3 + 40;
    ASSERT_EQ(b.size(), l4 + icmp_len);
    EXPECT_EQ(slice(b, 0, 6), mac_bytes(peer_mac)) << "eth dst";
    EXPECT_EQ(slice(b, 6, 6), mac_bytes(our_mac)) << "eth src";
    EXPECT_EQ(b[l3] >> 4, 6);
    EXPECT_EQ(get16(b, l3 + 4), icmp_len) << "payload length";
    EXPECT_EQ(b[l3 + 6], IPPROTO_ICMPV6) << "extension headers not echoed";
    EXPECT_EQ(b[l3 + 7], 64) << "hop limit";
    EXPECT_EQ(slice(b, l3 + 8, 16), ip_bytes(our_ip)) << "src";
    EXPECT_EQ(slice(b, l3 + 24, 16), ip_bytes(peer_ip)) << "dst";
    EXPECT_EQ(b[l4], 129) << "type echo reply";
    EXPECT_EQ(b[l4 + 1], 0);
    EXPECT_TRUE(icmp6_ok(b, l3, l4, icmp_len)) << "ICMPv6 checksum";
    EXPECT_EQ(get16(b, l4 + 4), 0x1234) << "identifier";
    EXPECT_EQ(get16(b, l4 + 6), 7) << "sequence";
    EXPECT_EQ(md.out_port, port);
    EXPECT_EQ(md.src, ip(our_ip));
    EXPECT_EQ(md.dst, ip(peer_ip));
    EXPECT_EQ(md.icmp_type, 129);
  };
}

// --- frames ---------------------------------------------------------------------------------

Frame arp_frame(uint16_t op, const char* tpa, const char* spa = "192.168.1.10",
                const char* sha = kHostMac, const char* eth_dst = kBcast,
                const char* tha = kZeroMac) {
  return PacketBuilder().eth(eth_dst, sha).arp(op, sha, spa, tha, tpa).payload(18, 0).build();
}

std::vector<uint8_t> ns_body(const char* target, const std::vector<uint8_t>& options) {
  Bytes body(4, 0);
  Bytes t = ip_bytes(target);
  body.insert(body.end(), t.begin(), t.end());
  body.insert(body.end(), options.begin(), options.end());
  return body;
}
Bytes sll_opt(const char* mac_text, uint8_t type = 1) {
  Bytes o{type, 1};
  Bytes m = mac_bytes(mac_text);
  o.insert(o.end(), m.begin(), m.end());
  return o;
}

Frame ns_frame(const char* target, const char* src = "2001:db8:1::10",
               const char* dst = "ff02::1:ff00:1", uint8_t hop = 255,
               const char* eth_dst = "33:33:ff:00:00:01") {
  return PacketBuilder()
      .eth(eth_dst, kHostMac)
      .ipv6(src, dst, Ipv6Opts{.hop_limit = hop})
      .nd_solicit(target, kHostMac)
      .build();
}

Frame na_frame(const char* target, const char* mac_text, const char* src,
               const char* dst = "2001:db8:1::1", bool solicited = true) {
  return PacketBuilder()
      .eth(kLanMac, mac_text)
      .ipv6(src, dst, Ipv6Opts{.hop_limit = 255})
      .nd_advert(target, mac_text, solicited)
      .build();
}

Frame echo4_frame(const char* src, const char* dst, Ipv4Opts o = {}, size_t payload = 32) {
  return PacketBuilder()
      .eth(kLanMac, kHostMac)
      .ipv4(src, dst, o)
      .icmp(8, 0, 0x1234, 7)
      .payload(payload)
      .build();
}

Bytes echo6_body() {
  return {0x12, 0x34, 0x00, 0x07};
}

Frame echo6_frame(const char* src, const char* dst, size_t payload = 24) {
  return PacketBuilder()
      .eth(kLanMac, kHostMac)
      .ipv6(src, dst)
      .icmpv6(128, 0, echo6_body())
      .payload(payload)
      .build();
}

// --- the table ------------------------------------------------------------------------------

struct Row {
  std::string what;
  Frame frame;
  uint16_t in_port;
  std::string expect;
  Check check = nullptr;                                // for "edge:tx": the emitted frame
  std::function<void(PacketMeta&)> fix_meta = nullptr;  // meta that parse would not have produced
  size_t keep = 0;      // truncate the mbuf to this many bytes (meta computed before)
  size_t chain_at = 0;  // split into two segments at this offset
};

std::vector<Row> rows() {
  std::vector<Row> r;
  // ARP
  r.push_back({"ARP request for the LAN address", arp_frame(1, "192.168.1.1"), kLanPort, "edge:tx",
               arp_reply(kLanMac, "192.168.1.1", kHostMac, "192.168.1.10", kLanPort)});
  r.push_back({"ARP request for the uplink address on the uplink",
               arp_frame(1, "203.0.113.2", "203.0.113.1", kGwMac), kWanPort, "edge:tx",
               arp_reply(kWanMac, "203.0.113.2", kGwMac, "203.0.113.1", kWanPort)});
  r.push_back({"VLAN-tagged ARP request: the reply keeps the tag",
               PacketBuilder()
                   .eth(kBcast, kHostMac)
                   .vlan(42)
                   .arp(1, kHostMac, "192.168.1.10", kZeroMac, "192.168.1.1")
                   .build(),
               kLanPort, "edge:tx", [](const Bytes& b, const PacketMeta& md) {
                 arp_reply(kLanMac, "192.168.1.1", kHostMac, "192.168.1.10", kLanPort, 18)(b, md);
                 EXPECT_EQ(get16(b, 12), RTE_ETHER_TYPE_VLAN);
                 EXPECT_EQ(get16(b, 14) & 0x0fff, 42);
               }});
  r.push_back({"QinQ ARP request: both tags kept",
               PacketBuilder()
                   .eth(kBcast, kHostMac)
                   .vlan(100, RTE_ETHER_TYPE_QINQ)
                   .vlan(42)
                   .arp(1, kHostMac, "192.168.1.10", kZeroMac, "192.168.1.1")
                   .build(),
               kLanPort, "edge:tx", [](const Bytes& b, const PacketMeta& md) {
                 arp_reply(kLanMac, "192.168.1.1", kHostMac, "192.168.1.10", kLanPort, 22)(b, md);
                 EXPECT_EQ(get16(b, 12), RTE_ETHER_TYPE_QINQ);
                 EXPECT_EQ(get16(b, 14) & 0x0fff, 100);
                 EXPECT_EQ(get16(b, 16), RTE_ETHER_TYPE_VLAN);
                 EXPECT_EQ(get16(b, 18) & 0x0fff, 42);
               }});
  r.push_back({"ARP probe (RFC 5227, sender 0.0.0.0) for our address: defended",
               arp_frame(1, "192.168.1.1", "0.0.0.0"), kLanPort, "edge:tx",
               arp_reply(kLanMac, "192.168.1.1", kHostMac, "0.0.0.0", kLanPort)});
  r.push_back({"ARP request for another LAN host", arp_frame(1, "192.168.1.20"), kLanPort,
               "drop:arp_not_for_us"});
  r.push_back({"ARP request for the uplink address arriving on the LAN",
               arp_frame(1, "203.0.113.2"), kLanPort, "drop:arp_not_for_us"});
  r.push_back({"ARP reply", arp_frame(2, "192.168.1.1", "192.168.1.11", kHostMac, kLanMac, kLanMac),
               kLanPort, "edge:consumed"});
  r.push_back({"gratuitous ARP request", arp_frame(1, "192.168.1.12", "192.168.1.12"), kLanPort,
               "edge:consumed"});
  r.push_back({"ARP reply from outside the subnet (not learned)",
               arp_frame(2, "192.168.1.1", "10.9.9.9"), kLanPort, "edge:consumed"});
  r.push_back({"ARP from a port with no interface", arp_frame(1, "192.168.1.1"), kUnknownPort,
               "drop:arp_unknown_port"});
  {
    Frame f = arp_frame(1, "192.168.1.1");
    f.set16(f.l3_off, 6);
    r.push_back({"ARP htype 6 (IEEE 802)", f, kLanPort, "drop:arp_malformed"});
  }
  {
    Frame f = arp_frame(1, "192.168.1.1");
    f.set16(f.l3_off + 2, RTE_ETHER_TYPE_IPV6);
    r.push_back({"ARP ptype IPv6", f, kLanPort, "drop:arp_malformed"});
  }
  {
    Frame f = arp_frame(1, "192.168.1.1");
    f.set8(f.l3_off + 4, 8);
    r.push_back({"ARP hlen 8", f, kLanPort, "drop:arp_malformed"});
  }
  {
    Frame f = arp_frame(1, "192.168.1.1");
    f.set8(f.l3_off + 5, 16);
    r.push_back({"ARP plen 16", f, kLanPort, "drop:arp_malformed"});
  }
  {
    Frame f = PacketBuilder()
                  .eth(kBcast, kHostMac)
                  .arp(1, kHostMac, "192.168.1.10", kZeroMac, "192.168.1.1")
                  .build();
    r.push_back({"ARP truncated to 20 bytes", f, kLanPort, "drop:arp_malformed", nullptr, nullptr,
                 14 + 20});
    r.push_back({"ARP with only the Ethernet header", f, kLanPort, "drop:arp_malformed", nullptr,
                 nullptr, 14});
  }
  r.push_back({"ARP headers in a second segment", arp_frame(1, "192.168.1.1"), kLanPort,
               "drop:chained_mbuf", nullptr, nullptr, 0, 14});
  {
    Frame f = arp_frame(1, "192.168.1.1");
    f.set16(f.l3_off + 6, 3);
    r.push_back({"RARP request (op 3)", f, kLanPort, "drop:arp_unsupported_op"});
  }
  r.push_back({"ARP with a broadcast sender MAC",
               arp_frame(1, "192.168.1.1", "192.168.1.10", kBcast), kLanPort,
               "drop:arp_bad_sender"});
  r.push_back({"ARP with a zero sender MAC", arp_frame(1, "192.168.1.1", "192.168.1.10", kZeroMac),
               kLanPort, "drop:arp_bad_sender"});
  r.push_back({"ARP claiming our own address", arp_frame(2, "192.168.1.10", "192.168.1.1"),
               kLanPort, "drop:addr_conflict"});

  // Neighbour discovery
  r.push_back({"NS for the LAN global address", ns_frame("2001:db8:1::1"), kLanPort, "edge:tx",
               na_reply(kLanMac, "2001:db8:1::1", kHostMac, "2001:db8:1::10", true, kLanPort)});
  r.push_back({"NS for the LAN link-local address",
               ns_frame(kLanLl, "fe80::aa", "ff02::1:ff00:10", 255, "33:33:ff:00:00:10"), kLanPort,
               "edge:tx", na_reply(kLanMac, kLanLl, kHostMac, "fe80::aa", true, kLanPort)});
  r.push_back({"NS unicast (reachability confirmation)",
               ns_frame("2001:db8:1::1", "2001:db8:1::10", "2001:db8:1::1", 255, kLanMac), kLanPort,
               "edge:tx",
               na_reply(kLanMac, "2001:db8:1::1", kHostMac, "2001:db8:1::10", true, kLanPort)});
  r.push_back({"NS on the uplink for its link-local address",
               PacketBuilder()
                   .eth("33:33:ff:00:00:20", kGwMac)
                   .ipv6("fe80::1", "ff02::1:ff00:20", Ipv6Opts{.hop_limit = 255})
                   .nd_solicit(kWanLl, kGwMac)
                   .build(),
               kWanPort, "edge:tx", na_reply(kWanMac, kWanLl, kGwMac, "fe80::1", true, kWanPort)});
  r.push_back(
      {"DAD NS (source ::) for our address: defended to all nodes",
       PacketBuilder()
           .eth("33:33:ff:00:00:01", kHostMac)
           .ipv6("::", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
           .icmpv6(135, 0, ns_body("2001:db8:1::1", {}))
           .build(),
       kLanPort, "edge:tx",
       na_reply(kLanMac, "2001:db8:1::1", "33:33:00:00:00:01", "ff02::1", false, kLanPort)});
  r.push_back({"NS without source link-layer option: answered to the Ethernet source",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(135, 0, ns_body("2001:db8:1::1", {}))
                   .build(),
               kLanPort, "edge:tx",
               na_reply(kLanMac, "2001:db8:1::1", kHostMac, "2001:db8:1::10", true, kLanPort)});
  r.push_back({"NS with a nonce option and a hop-by-hop header",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .ipv6_hop_by_hop()
                   .icmpv6(135, 0,
                           ns_body("2001:db8:1::1",
                                   [] {
                                     Bytes o = sll_opt(kHostMac);
                                     Bytes nonce{14, 1, 1, 2, 3, 4, 5, 6};
                                     o.insert(o.end(), nonce.begin(), nonce.end());
                                     return o;
                                   }()))
                   .build(),
               kLanPort, "edge:tx",
               na_reply(kLanMac, "2001:db8:1::1", kHostMac, "2001:db8:1::10", true, kLanPort)});
  r.push_back({"VLAN-tagged NS: the NA keeps the tag",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .vlan(7)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .nd_solicit("2001:db8:1::1", kHostMac)
                   .build(),
               kLanPort, "edge:tx", [](const Bytes& b, const PacketMeta& md) {
                 na_reply(kLanMac, "2001:db8:1::1", kHostMac, "2001:db8:1::10", true, kLanPort, 18)(
                     b, md);
                 EXPECT_EQ(get16(b, 12), RTE_ETHER_TYPE_VLAN);
                 EXPECT_EQ(get16(b, 14) & 0x0fff, 7);
               }});
  r.push_back({"NS with hop limit 64",
               ns_frame("2001:db8:1::1", "2001:db8:1::10", "ff02::1:ff00:1", 64), kLanPort,
               "drop:nd_bad_hop_limit"});
  r.push_back({"NS truncated to 14 bytes of ICMPv6 (consistent lengths)",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(135, 0, Bytes(10, 0))
                   .build(),
               kLanPort, "drop:nd_truncated"});
  r.push_back({"NS cut short of what the IPv6 header announces", ns_frame("2001:db8:1::1"),
               kLanPort, "drop:nd_truncated", nullptr, nullptr, 14 + 40 + 20});
  r.push_back({"NS in two segments", ns_frame("2001:db8:1::1"), kLanPort, "drop:chained_mbuf",
               nullptr, nullptr, 0, 14 + 40});
  r.push_back({"NS with an option of length 0",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(135, 0, ns_body("2001:db8:1::1", {1, 0, 0, 0, 0, 0, 0, 0}))
                   .build(),
               kLanPort, "drop:nd_bad_option"});
  r.push_back({"NS with an option running past the end",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(135, 0, ns_body("2001:db8:1::1", {1, 2, 0, 0, 0, 0, 0, 0}))
                   .build(),
               kLanPort, "drop:nd_bad_option"});
  r.push_back({"NS with a multicast source link-layer address",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .nd_solicit("2001:db8:1::1", kBcast)
                   .build(),
               kLanPort, "drop:nd_bad_option"});
  {
    Frame f = ns_frame("2001:db8:1::1");
    f.set16(f.l4_off + 2, static_cast<uint16_t>(f.get16(f.l4_off + 2) ^ 0x0101));
    r.push_back({"NS with a bad checksum", f, kLanPort, "drop:nd_bad_checksum"});
  }
  r.push_back({"NS with code 1",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(135, 1, ns_body("2001:db8:1::1", sll_opt(kHostMac)))
                   .build(),
               kLanPort, "drop:nd_malformed"});
  r.push_back({"NS for a multicast target", ns_frame("ff02::1"), kLanPort, "drop:nd_malformed"});
  r.push_back({"DAD NS sent to a unicast address",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv6("::", "2001:db8:1::1", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(135, 0, ns_body("2001:db8:1::1", {}))
                   .build(),
               kLanPort, "drop:nd_malformed"});
  r.push_back({"DAD NS with a source link-layer option",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("::", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .nd_solicit("2001:db8:1::1", kHostMac)
                   .build(),
               kLanPort, "drop:nd_malformed"});
  r.push_back({"NS with a fragment header (RFC 6980)",
               PacketBuilder()
                   .eth("33:33:ff:00:00:01", kHostMac)
                   .ipv6("2001:db8:1::10", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
                   .ipv6_fragment(0, false)
                   .nd_solicit("2001:db8:1::1", kHostMac)
                   .build(),
               kLanPort, "drop:nd_malformed"});
  r.push_back({"NS for another host",
               ns_frame("2001:db8:1::99", "2001:db8:1::10", "ff02::1:ff00:99"), kLanPort,
               "drop:nd_target_not_ours"});
  r.push_back({"NS for the uplink address arriving on the LAN", ns_frame("2001:db8:ff::2"),
               kLanPort, "drop:nd_target_not_ours"});
  r.push_back({"NS from a port with no interface", ns_frame("2001:db8:1::1"), kUnknownPort,
               "drop:nd_unknown_port"});
  r.push_back({"NS from our own address", ns_frame("2001:db8:1::1", "2001:db8:1::1"), kLanPort,
               "drop:addr_conflict"});
  r.push_back({"NA from a LAN host",
               na_frame("2001:db8:1::20", "02:00:00:00:01:20", "2001:db8:1::20"), kLanPort,
               "edge:consumed"});
  r.push_back({"NA claiming our address",
               na_frame("2001:db8:1::1", "02:00:00:00:00:bb", "2001:db8:1::99"), kLanPort,
               "drop:addr_conflict"});
  r.push_back({"NA to all nodes with the solicited flag",
               na_frame("2001:db8:1::21", "02:00:00:00:00:21", "2001:db8:1::21", "ff02::1", true),
               kLanPort, "drop:nd_malformed"});
  r.push_back({"NA with hop limit 64",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv6("2001:db8:1::10", "2001:db8:1::1")
                   .nd_advert("2001:db8:1::10", kHostMac)
                   .build(),
               kLanPort, "drop:nd_bad_hop_limit"});
  r.push_back({"router solicitation",
               PacketBuilder()
                   .eth("33:33:00:00:00:02", kHostMac)
                   .ipv6("fe80::aa", "ff02::2", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(133, 0, Bytes(4, 0))
                   .build(),
               kLanPort, "drop:nd_router_ignored"});
  r.push_back({"router advertisement",
               PacketBuilder()
                   .eth("33:33:00:00:00:01", kGwMac)
                   .ipv6("fe80::1", "ff02::1", Ipv6Opts{.hop_limit = 255})
                   .icmpv6(134, 0, Bytes(12, 0))
                   .build(),
               kWanPort, "drop:nd_router_ignored"});
  r.push_back({"redirect",
               PacketBuilder()
                   .eth(kWanMac, kGwMac)
                   .ipv6("fe80::1", kWanLl, Ipv6Opts{.hop_limit = 255})
                   .icmpv6(137, 0, Bytes(36, 0))
                   .build(),
               kWanPort, "drop:nd_redirect_ignored"});

  // ICMP echo
  r.push_back(
      {"IPv4 echo request to the LAN address", echo4_frame("192.168.1.10", "192.168.1.1"), kLanPort,
       "edge:tx",
       echo4_reply(kLanMac, kHostMac, "192.168.1.1", "192.168.1.10", 0x1234, 7, 32, kLanPort)});
  r.push_back(
      {"IPv4 echo request with IP options: options not echoed",
       echo4_frame("192.168.1.10", "192.168.1.1", Ipv4Opts{.options = {1, 1, 1, 1, 1, 1, 1, 1}}),
       kLanPort, "edge:tx",
       echo4_reply(kLanMac, kHostMac, "192.168.1.1", "192.168.1.10", 0x1234, 7, 32, kLanPort)});
  Frame padded = echo4_frame("192.168.1.10", "192.168.1.1", {}, 0);
  padded.bytes.resize(60, 0);
  r.push_back(
      {"IPv4 echo request with Ethernet padding", padded, kLanPort, "edge:tx",
       echo4_reply(kLanMac, kHostMac, "192.168.1.1", "192.168.1.10", 0x1234, 7, 0, kLanPort)});
  r.push_back(
      {"IPv4 echo request on the uplink",
       PacketBuilder()
           .eth(kWanMac, kGwMac)
           .ipv4("198.51.100.7", "203.0.113.2")
           .icmp(8, 0, 0x1234, 7)
           .payload(56)
           .build(),
       kWanPort, "edge:tx",
       echo4_reply(kWanMac, kGwMac, "203.0.113.2", "198.51.100.7", 0x1234, 7, 56, kWanPort)});
  {
    Frame f = echo4_frame("192.168.1.10", "192.168.1.1");
    f.set8(f.bytes.size() - 1, 0x00);
    r.push_back(
        {"IPv4 echo request with a bad ICMP checksum", f, kLanPort, "drop:echo_bad_checksum"});
  }
  r.push_back({"IPv4 echo request cut short of its total length",
               echo4_frame("192.168.1.10", "192.168.1.1"), kLanPort, "drop:echo_malformed", nullptr,
               nullptr, 14 + 20 + 6});
  r.push_back({"IPv4 echo request with 4 bytes of ICMP", echo4_frame("192.168.1.10", "192.168.1.1"),
               kLanPort, "drop:echo_malformed", nullptr, [](PacketMeta& md) { md.l3_total = 24; }});
  r.push_back({"IPv4 echo request from 0.0.0.0", echo4_frame("0.0.0.0", "192.168.1.1"), kLanPort,
               "drop:echo_bad_source"});
  r.push_back({"IPv4 echo request from the subnet broadcast",
               echo4_frame("192.168.1.255", "192.168.1.1"), kLanPort, "drop:echo_bad_source"});
  r.push_back({"IPv4 echo request to the uplink address from the LAN",
               echo4_frame("192.168.1.10", "203.0.113.2"), kLanPort, "drop:local_unhandled"});
  r.push_back({"IPv4 fragmented echo request",
               echo4_frame("192.168.1.10", "192.168.1.1", Ipv4Opts{.mf = true}), kLanPort,
               "drop:local_unhandled"});
  r.push_back(
      {"IPv6 echo request to the LAN address", echo6_frame("2001:db8:1::10", "2001:db8:1::1"),
       kLanPort, "edge:tx",
       echo6_reply(kLanMac, kHostMac, "2001:db8:1::1", "2001:db8:1::10", 8 + 24, kLanPort)});
  r.push_back({"IPv6 echo request to the LAN link-local address", echo6_frame("fe80::aa", kLanLl),
               kLanPort, "edge:tx",
               echo6_reply(kLanMac, kHostMac, kLanLl, "fe80::aa", 8 + 24, kLanPort)});
  r.push_back(
      {"IPv6 echo request with a destination options header: not echoed",
       PacketBuilder()
           .eth(kLanMac, kHostMac)
           .ipv6("2001:db8:1::10", "2001:db8:1::1")
           .ipv6_dest_opts(1)
           .icmpv6(128, 0, echo6_body())
           .payload(24)
           .build(),
       kLanPort, "edge:tx",
       echo6_reply(kLanMac, kHostMac, "2001:db8:1::1", "2001:db8:1::10", 8 + 24, kLanPort)});
  {
    Frame f = echo6_frame("2001:db8:1::10", "2001:db8:1::1");
    f.set8(f.bytes.size() - 1, 0x00);
    r.push_back({"IPv6 echo request with a bad checksum", f, kLanPort, "drop:echo_bad_checksum"});
  }
  r.push_back({"IPv6 echo request from ::", echo6_frame("::", "2001:db8:1::1"), kLanPort,
               "drop:echo_bad_source"});
  r.push_back({"IPv6 echo request cut short", echo6_frame("2001:db8:1::10", "2001:db8:1::1"),
               kLanPort, "drop:echo_malformed", nullptr, nullptr, 14 + 40 + 4});
  r.push_back({"IPv6 echo request to the uplink address from the LAN",
               echo6_frame("2001:db8:1::10", "2001:db8:ff::2"), kLanPort, "drop:local_unhandled"});

  // Other traffic for us, multicast, transit
  r.push_back({"TCP to the LAN address (SSH)",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv4("192.168.1.10", "192.168.1.1")
                   .tcp(40000, 22, tcpf::kSyn)
                   .build(),
               kLanPort, "drop:local_unhandled"});
  r.push_back({"UDP to the uplink address on the uplink",
               PacketBuilder()
                   .eth(kWanMac, kGwMac)
                   .ipv4("198.51.100.7", "203.0.113.2")
                   .udp(500, 500)
                   .build(),
               kWanPort, "drop:local_unhandled"});
  r.push_back({"TCP to the LAN IPv6 address",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv6("2001:db8:1::10", "2001:db8:1::1")
                   .tcp(40000, 22, tcpf::kSyn)
                   .build(),
               kLanPort, "drop:local_unhandled"});
  r.push_back({"ICMP echo reply to our address",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv4("192.168.1.10", "192.168.1.1")
                   .icmp(0, 0, 1, 1)
                   .build(),
               kLanPort, "drop:local_unhandled"});
  r.push_back({"IPv4 mDNS multicast",
               PacketBuilder()
                   .eth("01:00:5e:00:00:fb", kHostMac)
                   .ipv4("192.168.1.10", "224.0.0.251")
                   .udp(5353, 5353)
                   .build(),
               kLanPort, "drop:ipv4_multicast"});
  r.push_back(
      {"IPv4 limited broadcast (DHCP discover)",
       PacketBuilder().eth(kBcast, kHostMac).ipv4("0.0.0.0", "255.255.255.255").udp(68, 67).build(),
       kLanPort, "drop:ipv4_broadcast"});
  r.push_back({"IPv4 subnet broadcast",
               PacketBuilder()
                   .eth(kBcast, kHostMac)
                   .ipv4("192.168.1.10", "192.168.1.255")
                   .udp(137, 137)
                   .build(),
               kLanPort, "drop:ipv4_broadcast"});
  r.push_back({"IPv6 multicast (mDNS)",
               PacketBuilder()
                   .eth("33:33:00:00:00:fb", kHostMac)
                   .ipv6("fe80::aa", "ff02::fb")
                   .udp(5353, 5353)
                   .build(),
               kLanPort, "drop:ipv6_multicast"});
  r.push_back({"IPv6 echo request to all nodes", echo6_frame("fe80::aa", "ff02::1"), kLanPort,
               "drop:ipv6_multicast"});
  r.push_back(
      {"IPv6 to a link-local address that is not ours",
       PacketBuilder().eth(kLanMac, kHostMac).ipv6("fe80::aa", "fe80::99").udp(1, 2).build(),
       kLanPort, "drop:ipv6_link_local"});
  r.push_back({"IPv4 transit",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv4("192.168.1.10", "8.8.8.8")
                   .udp(40000, 53)
                   .build(),
               kLanPort, "edge:transit"});
  r.push_back({"IPv4 transit echo request", echo4_frame("192.168.1.10", "1.1.1.1"), kLanPort,
               "edge:transit"});
  r.push_back({"IPv4 transit to the uplink's subnet",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv4("192.168.1.10", "203.0.113.77")
                   .tcp(40000, 443)
                   .build(),
               kLanPort, "edge:transit"});
  r.push_back(
      {"IPv4 inbound transit on the uplink",
       PacketBuilder().eth(kWanMac, kGwMac).ipv4("8.8.8.8", "192.168.1.10").udp(53, 40000).build(),
       kWanPort, "edge:transit"});
  r.push_back({"IPv6 transit",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv6("2001:db8:1::10", "2606:4700::1111")
                   .tcp(40000, 443)
                   .build(),
               kLanPort, "edge:transit"});
  r.push_back({"IPv6 transit echo request", echo6_frame("2001:db8:1::10", "2606:4700::1111"),
               kLanPort, "edge:transit"});
  r.push_back({"transit from a port with no interface",
               PacketBuilder()
                   .eth(kLanMac, kHostMac)
                   .ipv4("192.168.1.10", "8.8.8.8")
                   .udp(40000, 53)
                   .build(),
               kUnknownPort, "edge:transit"});
  return r;
}

TEST(LocalTable, EveryRowGetsItsVerdict) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    LocalStage stage(*site, test_pool(), false);
    StageHarness h(stage);
    for (auto& row : rows()) {
      SCOPED_TRACE(row.what);
      rte_mbuf* m = load(row.frame, row.in_port, row.keep, row.chain_at);
      ASSERT_NE(m, nullptr);
      if (row.fix_meta) row.fix_meta(meta(m));
      auto v = h.run({m});
      ASSERT_EQ(v.size(), 1u);
      EXPECT_EQ(v[0].where, row.expect);
      if (row.check && v[0].where == "edge:tx")
        row.check(traboule::testing::from_mbuf(v[0].pkt), meta(v[0].pkt));
    }
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "mbuf leak";
}

TEST(LocalTable, MixedBurstKeepsOrderAndCounts) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    LocalStage stage(*site, test_pool(), false);
    StageHarness h(stage);
    auto all = rows();
    std::vector<rte_mbuf*> burst;
    std::vector<std::string> expect;
    for (auto& row : all) {
      rte_mbuf* m = load(row.frame, row.in_port, row.keep, row.chain_at);
      if (row.fix_meta) row.fix_meta(meta(m));
      burst.push_back(m);
      expect.push_back(row.expect);
    }
    auto v = h.run(burst);
    ASSERT_EQ(v.size(), expect.size());
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i].where, expect[i]) << all[i].what;
    auto expected = [&](const std::string& e) {
      return static_cast<uint64_t>(std::count(expect.begin(), expect.end(), e));
    };
    EXPECT_EQ(h.drop_count("local_unhandled"), expected("drop:local_unhandled"));
    EXPECT_EQ(h.edge_count("transit"), expected("edge:transit"));
    EXPECT_EQ(h.edge_count("tx"), expected("edge:tx"));
    EXPECT_EQ(h.edge_count("consumed"), expected("edge:consumed"));
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "mbuf leak";
}

// --- learning -------------------------------------------------------------------------------

bool has(const NeighborTable& t, const char* addr, const char* mac_text) {
  rte_ether_addr m;
  if (!t.lookup(ip(addr), &m)) return false;
  return Bytes(m.addr_bytes, m.addr_bytes + 6) == mac_bytes(mac_text);
}

TEST(LocalLearn, ArpAndNdFillTheInterfaceTable) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    LocalStage stage(*site, test_pool(), false);
    StageHarness h(stage);
    NeighborTable& lan = *site->lan->neighbors;
    NeighborTable& wan = *site->uplinks[0]->neighbors;
    struct Step {
      const char* what;
      Frame f;
      uint16_t port;
      const char* expect;
    } steps[] = {
        {"ARP reply",
         arp_frame(2, "192.168.1.1", "192.168.1.11", "02:00:00:00:01:11", kLanMac, kLanMac),
         kLanPort, "edge:consumed"},
        {"ARP request for us", arp_frame(1, "192.168.1.1", "192.168.1.12", "02:00:00:00:01:12"),
         kLanPort, "edge:tx"},
        {"ARP request for another host",
         arp_frame(1, "192.168.1.99", "192.168.1.13", "02:00:00:00:01:13"), kLanPort,
         "drop:arp_not_for_us"},
        {"gratuitous ARP", arp_frame(1, "192.168.1.14", "192.168.1.14", "02:00:00:00:01:14"),
         kLanPort, "edge:consumed"},
        {"ARP reply from outside the subnet",
         arp_frame(2, "192.168.1.1", "10.0.0.5", "02:00:00:00:01:15"), kLanPort, "edge:consumed"},
        {"gateway's ARP reply on the uplink",
         arp_frame(2, "203.0.113.2", "203.0.113.1", kGwMac, kWanMac, kWanMac), kWanPort,
         "edge:consumed"},
        {"NS with source link-layer option",
         PacketBuilder()
             .eth("33:33:ff:00:00:01", "02:00:00:00:01:16")
             .ipv6("2001:db8:1::16", "ff02::1:ff00:1", Ipv6Opts{.hop_limit = 255})
             .nd_solicit("2001:db8:1::1", "02:00:00:00:01:16")
             .build(),
         kLanPort, "edge:tx"},
        {"NA on the LAN", na_frame("2001:db8:1::17", "02:00:00:00:01:17", "2001:db8:1::17"),
         kLanPort, "edge:consumed"},
        {"NA for an off-link address",
         na_frame("2001:db8:99::5", "02:00:00:00:01:18", "2001:db8:1::18"), kLanPort,
         "edge:consumed"},
        {"gateway's NA on the uplink (link-local)",
         PacketBuilder()
             .eth(kWanMac, kGwMac)
             .ipv6("fe80::1", kWanLl, Ipv6Opts{.hop_limit = 255})
             .nd_advert("fe80::1", kGwMac)
             .build(),
         kWanPort, "edge:consumed"},
    };
    for (auto& s : steps) {
      auto v = h.run({load(s.f, s.port)});
      EXPECT_EQ(v.at(0).where, s.expect) << s.what;
    }
    EXPECT_TRUE(has(lan, "192.168.1.11", "02:00:00:00:01:11"));
    EXPECT_TRUE(has(lan, "192.168.1.12", "02:00:00:00:01:12"));
    EXPECT_TRUE(has(lan, "192.168.1.13", "02:00:00:00:01:13"));
    EXPECT_TRUE(has(lan, "192.168.1.14", "02:00:00:00:01:14"));
    EXPECT_FALSE(has(lan, "10.0.0.5", "02:00:00:00:01:15")) << "outside the subnet";
    EXPECT_TRUE(has(wan, "203.0.113.1", kGwMac));
    EXPECT_FALSE(has(lan, "203.0.113.1", kGwMac)) << "learned on the interface it came in on only";
    EXPECT_TRUE(has(lan, "2001:db8:1::16", "02:00:00:00:01:16"));
    EXPECT_TRUE(has(lan, "2001:db8:1::17", "02:00:00:00:01:17"));
    EXPECT_FALSE(has(lan, "2001:db8:99::5", "02:00:00:00:01:18")) << "off-link";
    EXPECT_TRUE(has(wan, "fe80::1", kGwMac));
    EXPECT_EQ(stage.stats().learn_failed, 0u);
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "mbuf leak";
}

TEST(LocalLearn, FullTableDropsWhatOnlyTeachesAndStillAnswers) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site(16);
    NeighborTable& lan = *site->lan->neighbors;
    for (unsigned i = 0; i < lan.capacity(); ++i)
      ASSERT_TRUE(
          lan.set_static(IpAddr::v4(0xc0a80100u + 100 + i), traboule::testing::mac(kHostMac)));
    LocalStage stage(*site, test_pool(), false);
    StageHarness h(stage);
    auto v =
        h.run({load(arp_frame(2, "192.168.1.1", "192.168.1.50"), kLanPort),
               load(na_frame("2001:db8:1::50", "02:00:00:00:00:50", "2001:db8:1::50"), kLanPort),
               load(arp_frame(1, "192.168.1.1", "192.168.1.51"), kLanPort)});
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].where, "drop:neigh_table_full");
    EXPECT_EQ(v[1].where, "drop:neigh_table_full");
    EXPECT_EQ(v[2].where, "edge:tx") << "a request for us is answered even when we cannot learn";
    EXPECT_EQ(stage.stats().learn_failed, 1u);
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "mbuf leak";
}

TEST(LocalLearn, GatewayOutsideThePrefixIsLearned) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    Interface& wan = *site->uplinks[0];
    wan.v4 = IfAddr{ip("100.64.7.9"), 32};  // point-to-point uplink: the gateway is off-prefix
    wan.gw4 = ip("100.64.0.1");
    wan.gw6 = ip("2001:db8:77::1");
    LocalStage stage(*site, test_pool(), false);
    StageHarness h(stage);
    auto v =
        h.run({load(arp_frame(2, "100.64.7.9", "100.64.0.1", kGwMac, kWanMac, kWanMac), kWanPort),
               load(arp_frame(2, "100.64.7.9", "100.64.0.2", "02:00:00:00:00:ef", kWanMac, kWanMac),
                    kWanPort),
               load(PacketBuilder()
                        .eth(kWanMac, kGwMac)
                        .ipv6("2001:db8:77::1", "2001:db8:ff::2", Ipv6Opts{.hop_limit = 255})
                        .nd_advert("2001:db8:77::1", kGwMac)
                        .build(),
                    kWanPort)});
    ASSERT_EQ(v.size(), 3u);
    for (auto& e : v) EXPECT_EQ(e.where, "edge:consumed");
    EXPECT_TRUE(has(*wan.neighbors, "100.64.0.1", kGwMac));
    EXPECT_FALSE(has(*wan.neighbors, "100.64.0.2", "02:00:00:00:00:ef"))
        << "neither on-prefix nor the gateway";
    EXPECT_TRUE(has(*wan.neighbors, "2001:db8:77::1", kGwMac));
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "mbuf leak";
}

// Whatever the bytes and whatever meta claims, every packet gets exactly one verdict, nothing
// is read out of bounds (run under TRABOULE_SANITIZE) and nothing leaks.
TEST(LocalHostile, RandomBytesAndMetaNeverCrash) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    LocalStage stage(*site, test_pool(), false);
    StageHarness h(stage);
    std::vector<Frame> seeds;
    for (auto& row : rows()) seeds.push_back(row.frame);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    auto rnd = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    for (int round = 0; round < 200; ++round) {
      std::vector<rte_mbuf*> burst;
      for (int k = 0; k < 32; ++k) {
        Frame f = seeds[rnd() % seeds.size()];
        PacketMeta md =
            meta_of(f, static_cast<uint16_t>(rnd() % 3 == 0 ? kUnknownPort : rnd() % 2));
        unsigned flips = static_cast<unsigned>(rnd() % 6);
        for (unsigned i = 0; i < flips && !f.bytes.empty(); ++i)
          f.bytes[rnd() % f.bytes.size()] = static_cast<uint8_t>(rnd());
        if (rnd() % 4 == 0) f.truncate(rnd() % (f.bytes.size() + 1));
        if (rnd() % 4 == 0) md.l2_len = static_cast<uint16_t>(rnd() % 80);
        if (rnd() % 4 == 0) md.l3_len = static_cast<uint16_t>(rnd() % 128);
        if (rnd() % 4 == 0) md.l3_total = static_cast<uint16_t>(rnd() % 256);
        if (rnd() % 8 == 0) md.l3 = static_cast<L3Kind>(rnd() % 4);
        if (rnd() % 8 == 0) md.icmp_type = static_cast<uint8_t>(rnd());
        rte_mbuf* m = traboule::testing::to_mbuf(test_pool(), f, md.in_port);
        ASSERT_NE(m, nullptr);
        meta(m) = md;
        burst.push_back(m);
      }
      for (auto& v : h.run(burst)) ASSERT_NE(v.where, "lost");
    }
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "mbuf leak";
}

// --- resolver -------------------------------------------------------------------------------

uint64_t hz() {
  return rte_get_tsc_hz();
}

void check_arp_request(const Bytes& b, const PacketMeta& md) {
  ASSERT_GE(b.size(), 60u) << "padded to the Ethernet minimum";
  EXPECT_EQ(slice(b, 0, 6), mac_bytes(kBcast));
  EXPECT_EQ(slice(b, 6, 6), mac_bytes(kWanMac));
  EXPECT_EQ(get16(b, 12), RTE_ETHER_TYPE_ARP);
  EXPECT_EQ(get16(b, 14), 1);
  EXPECT_EQ(get16(b, 16), RTE_ETHER_TYPE_IPV4);
  EXPECT_EQ(b[18], 6);
  EXPECT_EQ(b[19], 4);
  EXPECT_EQ(get16(b, 20), 1) << "request";
  EXPECT_EQ(slice(b, 22, 6), mac_bytes(kWanMac)) << "sha";
  EXPECT_EQ(slice(b, 28, 4), ip_bytes("203.0.113.2")) << "spa";
  EXPECT_EQ(slice(b, 32, 6), mac_bytes(kZeroMac)) << "tha";
  EXPECT_EQ(slice(b, 38, 4), ip_bytes("203.0.113.1")) << "tpa";
  EXPECT_EQ(md.out_port, kWanPort);
  EXPECT_EQ(md.l3, L3Kind::kArp);
  EXPECT_EQ(md.l2_len, 14);
}

void check_ns(const Bytes& b, const PacketMeta& md, const char* src, const char* target,
              const char* group, const char* group_mac) {
  ASSERT_EQ(b.size(), 14u + 40 + 32);
  EXPECT_EQ(slice(b, 0, 6), mac_bytes(group_mac)) << "eth dst";
  EXPECT_EQ(slice(b, 6, 6), mac_bytes(kWanMac)) << "eth src";
  EXPECT_EQ(get16(b, 12), RTE_ETHER_TYPE_IPV6);
  EXPECT_EQ(b[14] >> 4, 6);
  EXPECT_EQ(get16(b, 18), 32);
  EXPECT_EQ(b[20], IPPROTO_ICMPV6);
  EXPECT_EQ(b[21], 255) << "hop limit";
  EXPECT_EQ(slice(b, 22, 16), ip_bytes(src)) << "src";
  EXPECT_EQ(slice(b, 38, 16), ip_bytes(group)) << "dst";
  EXPECT_EQ(b[54], 135);
  EXPECT_EQ(b[55], 0);
  EXPECT_TRUE(icmp6_ok(b, 14, 54, 32)) << "ICMPv6 checksum";
  EXPECT_EQ(slice(b, 58, 4), Bytes(4, 0)) << "reserved";
  EXPECT_EQ(slice(b, 62, 16), ip_bytes(target)) << "target";
  EXPECT_EQ(b[78], 1) << "source link-layer option";
  EXPECT_EQ(b[79], 1);
  EXPECT_EQ(slice(b, 80, 6), mac_bytes(kWanMac));
  EXPECT_EQ(md.out_port, kWanPort);
  EXPECT_EQ(md.l3, L3Kind::kIpv6);
  EXPECT_EQ(md.l2_len, 14);
  EXPECT_EQ(md.l3_len, 40);
  EXPECT_EQ(md.icmp_type, 135);
  EXPECT_EQ(md.ttl, 255);
}

TEST(LocalResolver, SendsArpAndNsForWantedGatewaysThenWaitsForTheRetryTimer) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    Interface& wan = *site->uplinks[0];
    ASSERT_TRUE(wan.neighbors->want(*wan.gw4));
    ASSERT_TRUE(wan.neighbors->want(*wan.gw6));
    LocalStage stage(*site, test_pool(), true);
    StageHarness h(stage);
    // The stage stamps learned entries with rte_rdtsc(), so the idle clock must be the real one.
    uint64_t now = rte_rdtsc();
    auto v = h.idle(now);
    ASSERT_EQ(v.size(), 2u);
    int arps = 0, nss = 0;
    for (auto& e : v) {
      ASSERT_EQ(e.where, "edge:tx");
      Bytes b = traboule::testing::from_mbuf(e.pkt);
      if (get16(b, 12) == RTE_ETHER_TYPE_ARP) {
        ++arps;
        check_arp_request(b, meta(e.pkt));
      } else {
        ++nss;
        check_ns(b, meta(e.pkt), kWanLl, "fe80::1", "ff02::1:ff00:1", "33:33:ff:00:00:01");
      }
    }
    EXPECT_EQ(arps, 1);
    EXPECT_EQ(nss, 1);
    EXPECT_EQ(stage.stats().arp_requests_sent, 1u);
    EXPECT_EQ(stage.stats().ns_sent, 1u);

    EXPECT_TRUE(h.idle(now).empty()) << "same instant";
    EXPECT_TRUE(h.idle(now + hz() / 5).empty()) << "past the 100 ms period, within the 1 s retry";
    // The gateway answers the ARP; only the NS is retried after a second.
    auto r = h.run(
        {load(arp_frame(2, "203.0.113.2", "203.0.113.1", kGwMac, kWanMac, kWanMac), kWanPort)});
    EXPECT_EQ(r.at(0).where, "edge:consumed");
    auto again = h.idle(now + 2 * hz());
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(traboule::testing::from_mbuf(again[0].pkt).at(12), 0x86) << "the NS";
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before) << "mbuf leak";
}

TEST(LocalResolver, GlobalTargetIsAskedFromTheGlobalAddress) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    ASSERT_TRUE(site->uplinks[0]->neighbors->want(ip("2001:db8:ff::1")));
    LocalStage stage(*site, test_pool(), true);
    StageHarness h(stage);
    auto v = h.idle(10 * hz());
    ASSERT_EQ(v.size(), 1u);
    check_ns(traboule::testing::from_mbuf(v[0].pkt), meta(v[0].pkt), "2001:db8:ff::2",
             "2001:db8:ff::1", "ff02::1:ff00:1", "33:33:ff:00:00:01");
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before);
}

TEST(LocalResolver, NonResolverInstanceSendsNothing) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site();
    Interface& wan = *site->uplinks[0];
    wan.neighbors->want(*wan.gw4);
    wan.neighbors->want(*wan.gw6);
    LocalStage stage(*site, test_pool(), false);
    StageHarness h(stage);
    EXPECT_TRUE(h.idle(10 * hz()).empty());
    EXPECT_TRUE(h.idle(100 * hz()).empty());
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before);
}

TEST(LocalResolver, EmptyPoolIsCountedAndRetriedLater) {
  rte_mempool* tiny = make_packet_pool("local_tiny", 512, static_cast<int>(rte_socket_id()));
  ASSERT_NE(tiny, nullptr);
  {
    auto site = make_site();
    Interface& wan = *site->uplinks[0];
    wan.neighbors->want(*wan.gw4);
    wan.neighbors->want(*wan.gw6);
    LocalStage stage(*site, tiny, true);
    StageHarness h(stage);
    std::vector<rte_mbuf*> hog;
    while (rte_mbuf* m = rte_pktmbuf_alloc(tiny)) hog.push_back(m);
    uint64_t now = 10 * hz();
    EXPECT_TRUE(h.idle(now).empty());
    EXPECT_EQ(stage.stats().resolver_no_mbuf, 2u);
    rte_pktmbuf_free_bulk(hog.data(), static_cast<unsigned>(hog.size()));
    // A request that could not be sent was not counted as asked: due again at the next round.
    EXPECT_EQ(h.idle(now + hz() / 2).size(), 2u);
    EXPECT_TRUE(h.idle(now + hz()).empty()) << "sent: now it waits for the retry period";
  }
  EXPECT_EQ(rte_mempool_in_use_count(tiny), 0u);
  rte_mempool_free(tiny);
}

TEST(LocalResolver, BoundedPerCallAndNothingForAnInterfaceWithoutAddress) {
  unsigned before = traboule::testing::pool_in_use();
  {
    auto site = make_site(1024);  // incomplete entries are capped at a quarter of the table
    for (unsigned i = 0; i < LocalStage::kResolveBudget + 10; ++i)
      ASSERT_TRUE(site->lan->neighbors->want(IpAddr::v4(0xc0a80100u + 2 + i)));
    site->uplinks[0]->v4.reset();  // no IPv4 source to ask from
    site->uplinks[0]->neighbors->want(ip("203.0.113.1"));
    LocalStage stage(*site, test_pool(), true);
    StageHarness h(stage);
    auto v = h.idle(10 * hz());
    EXPECT_EQ(v.size(), LocalStage::kResolveBudget);
    EXPECT_EQ(stage.stats().resolver_deferred, 10u);
    EXPECT_EQ(stage.stats().resolver_no_source, 1u);
    for (auto& e : v) EXPECT_EQ(meta(e.pkt).out_port, kLanPort);
  }
  EXPECT_EQ(traboule::testing::pool_in_use(), before);
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// PacketBuilder: crafts Ethernet frames layer by layer (VLAN/QinQ, ARP, IPv4 with options and
// fragments, IPv6 with extension headers, TCP/UDP/ICMP/ICMPv6) with correct lengths and
// checksums; tests then break them on purpose with the Frame helpers.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace traboule::testing {

struct Frame {
  std::vector<uint8_t> bytes;
  size_t l3_off = 0;  // first byte of the IP/ARP header
  size_t l4_off = 0;  // first byte of the transport header (0 if none)

  void truncate(size_t len) { bytes.resize(len < bytes.size() ? len : bytes.size()); }
  void set8(size_t off, uint8_t v) { bytes.at(off) = v; }
  void set16(size_t off, uint16_t v) {  // network order
    bytes.at(off) = static_cast<uint8_t>(v >> 8);
    bytes.at(off + 1) = static_cast<uint8_t>(v);
  }
  uint8_t get8(size_t off) const { return bytes.at(off); }
  uint16_t get16(size_t off) const {
    return static_cast<uint16_t>(bytes.at(off) << 8 | bytes.at(off + 1));
  }
  // Recomputes the IPv4 header checksum after a test edited the header.
  void fix_ipv4_checksum();
};

struct Ipv4Opts {
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 1;
  uint16_t frag_offset = 0;  // in 8-byte units
  bool mf = false;
  bool df = false;
  std::vector<uint8_t> options;  // padded to 4 bytes by the builder
};

struct Ipv6Opts {
  uint8_t hop_limit = 64;
  uint8_t tclass = 0;
  uint32_t flow_label = 0;
};

namespace tcpf {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
}

class PacketBuilder {
 public:
  PacketBuilder& eth(std::string_view dst = "02:00:00:00:00:02",
                     std::string_view src = "02:00:00:00:00:01");
  PacketBuilder& vlan(uint16_t vid, uint16_t tpid = RTE_ETHER_TYPE_VLAN, uint8_t pcp = 0);
  PacketBuilder& arp(uint16_t op, std::string_view sha, std::string_view spa, std::string_view tha,
                     std::string_view tpa);
  PacketBuilder& ipv4(std::string_view src, std::string_view dst, Ipv4Opts o = {});
  PacketBuilder& ipv6(std::string_view src, std::string_view dst, Ipv6Opts o = {});
  // IPv6 extension headers, in the order given. len8 = length in 8-byte units beyond the first 8.
  PacketBuilder& ipv6_hop_by_hop(uint8_t len8 = 0);
  PacketBuilder& ipv6_dest_opts(uint8_t len8 = 0);
  PacketBuilder& ipv6_routing(uint8_t len8 = 0);
  PacketBuilder& ipv6_fragment(uint16_t offset8 = 0, bool mf = false, uint32_t id = 1);
  PacketBuilder& tcp(uint16_t sport, uint16_t dport, uint8_t flags = tcpf::kAck, uint32_t seq = 1,
                     uint32_t ack = 0, std::vector<uint8_t> options = {});
  PacketBuilder& udp(uint16_t sport, uint16_t dport);
  PacketBuilder& icmp(uint8_t type, uint8_t code, uint16_t id = 0, uint16_t seq = 0);
  PacketBuilder& icmpv6(uint8_t type, uint8_t code, const std::vector<uint8_t>& body = {});
  // ND neighbour solicitation for `target` with a source link-layer option (type 135).
  PacketBuilder& nd_solicit(std::string_view target, std::string_view src_mac);
  // ND neighbour advertisement for `target` with a target link-layer option (type 136).
  PacketBuilder& nd_advert(std::string_view target, std::string_view target_mac,
                           bool solicited = true);
  PacketBuilder& payload(size_t n, uint8_t fill = 0xab);
  PacketBuilder& payload(const std::vector<uint8_t>& data);

  // Serialises with lengths and checksums filled in.
  Frame build() const;

 private:
  enum class Kind { kEth, kVlan, kArp, kIpv4, kIpv6, kExt, kTcp, kUdp, kIcmp, kIcmpv6, kPayload };
  struct Layer {
    Kind kind;
    std::vector<uint8_t> hdr;  // serialised header with length/checksum fields to fix
    uint8_t proto = 0;         // for IPv6 extension headers: their own type number
  };
  std::vector<Layer> layers_;
};

// Parses "aa:bb:cc:dd:ee:ff"; aborts the test binary on bad text (test helper only).
rte_ether_addr mac(std::string_view text);
// Copies the frame into a fresh mbuf from `pool` (nullptr when the pool is empty).
rte_mbuf* to_mbuf(rte_mempool* pool, const Frame& f, uint16_t in_port = 0);
std::vector<uint8_t> from_mbuf(const rte_mbuf* m);

}  // namespace traboule::testing

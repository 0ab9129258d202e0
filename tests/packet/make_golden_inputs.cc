// SPDX-License-Identifier: Apache-2.0
// Writes the input captures of the golden test: what a LAN host and the two uplinks send to
// the edge. Each frame's comment says what the edge must do with it; expected/*.pcap hold what
// it did when the captures were last reviewed (tests/packet/run_golden.sh --update).

#include <cstdio>
#include <string>
#include <vector>

#include "tests/testing/packet_builder.h"
#include "tests/testing/pcap_file.h"

using traboule::testing::Frame;
using traboule::testing::Ipv4Opts;
using traboule::testing::PacketBuilder;
namespace tcpf = traboule::testing::tcpf;

namespace {

constexpr const char* kEdgeLan = "02:00:00:00:0a:01";
constexpr const char* kHost = "02:00:00:00:0a:10";
constexpr const char* kHost2 = "02:00:00:00:0a:11";
constexpr const char* kEdgeFiber = "02:00:00:00:0b:01";
constexpr const char* kFiberGw = "02:00:00:00:0b:fe";
constexpr const char* kEdgeVdsl = "02:00:00:00:0c:01";
constexpr const char* kVdslGw = "02:00:00:00:0c:fe";

std::vector<Frame> lan_in() {
  std::vector<Frame> v;
  // 1. The host asks for its gateway: the edge answers on the LAN and learns the host.
  v.push_back(PacketBuilder()
                  .eth("ff:ff:ff:ff:ff:ff", kHost)
                  .arp(1, kHost, "192.168.10.10", "00:00:00:00:00:00", "192.168.10.1")
                  .build());
  // 2. Voice (UDP 5060) → fiber, TTL 64 → 63, L2 rewritten to the fiber gateway.
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(5004, 5060)
                  .payload(40)
                  .build());
  // 3. TCP SYN to 5201 (bulk rule) → vdsl.
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .tcp(40000, 5201, tcpf::kSyn)
                  .build());
  // 4. A VLAN-tagged DNS query: default rule → fiber, the tag is removed.
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .vlan(100)
                  .ipv4("192.168.10.10", "203.0.113.53")
                  .udp(33000, 53)
                  .payload(30)
                  .build());
  // 5. IPv6 UDP: default rule; vdsl has no IPv6 gateway, so fiber; hop limit 64 → 63.
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv6("fd00:10::10", "2001:db8:113::10")
                  .udp(5555, 443)
                  .payload(20)
                  .build());
  // 6. Ping the edge: echo reply on the LAN.
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "192.168.10.1")
                  .icmp(8, 0, 77, 1)
                  .payload(16)
                  .build());
  // 7. TTL 1: must not be forwarded (forward.ttl_exceeded).
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10", Ipv4Opts{.ttl = 1})
                  .udp(5004, 9)
                  .build());
  // 8. Bad IPv4 header checksum (parse drop).
  {
    Frame f = PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(5004, 9)
                  .build();
    f.set16(f.l3_off + 10, static_cast<uint16_t>(f.get16(f.l3_off + 10) ^ 0x1111));
    v.push_back(f);
  }
  // 9. Truncated in the IPv4 header (parse drop).
  {
    Frame f = PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(5004, 9)
                  .build();
    f.truncate(f.l3_off + 12);
    v.push_back(f);
  }
  // 10. Unicast to another MAC (seen in promiscuous mode): not ours (route.not_our_mac).
  v.push_back(PacketBuilder()
                  .eth("02:00:00:00:0a:99", kHost)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(5004, 9)
                  .build());
  // 11. Three VLAN tags (parse drop).
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .vlan(1, 0x88a8)
                  .vlan(2)
                  .vlan(3)
                  .ipv4("192.168.10.10", "203.0.113.10")
                  .udp(1, 2)
                  .build());
  // 12. IPv4 with options (record route): forwarded with its options, to fiber (default rule).
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10", Ipv4Opts{.options = {7, 7, 4, 0, 0, 0, 0}})
                  .udp(6000, 7000)
                  .payload(8)
                  .build());
  // 13-14. Two fragments of one datagram: one flow (ports unknown), both to fiber.
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10", Ipv4Opts{.id = 99, .mf = true})
                  .udp(6001, 7001)
                  .payload(32)
                  .build());
  {
    Frame f = PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "203.0.113.10", Ipv4Opts{.id = 99, .frag_offset = 5})
                  .payload(16)
                  .build();
    f.set8(f.l3_off + 9, 17);  // a later fragment still says UDP
    f.fix_ipv4_checksum();
    v.push_back(f);
  }
  // 15. LAN to LAN through the edge: not routed (route.lan_to_lan).
  v.push_back(PacketBuilder()
                  .eth(kEdgeLan, kHost)
                  .ipv4("192.168.10.10", "192.168.10.11")
                  .udp(1, 2)
                  .build());
  // 16. A second host announces itself (gratuitous ARP): learned, consumed.
  v.push_back(PacketBuilder()
                  .eth("ff:ff:ff:ff:ff:ff", kHost2)
                  .arp(2, kHost2, "192.168.10.11", "ff:ff:ff:ff:ff:ff", "192.168.10.11")
                  .build());
  return v;
}

std::vector<Frame> fiber_in() {
  std::vector<Frame> v;
  // 17. The voice reply: back to the host's MAC (from its flow), TTL 60 → 59.
  v.push_back(PacketBuilder()
                  .eth(kEdgeFiber, kFiberGw)
                  .ipv4("203.0.113.10", "192.168.10.10", Ipv4Opts{.ttl = 60})
                  .udp(5060, 5004)
                  .payload(40)
                  .build());
  // 18. A new flow from the internet to the second host (known from its ARP): denied by the
  //     firewall (no LAN host opened it, no inbound rule allows it).
  v.push_back(PacketBuilder()
                  .eth(kEdgeFiber, kFiberGw)
                  .ipv4("198.51.100.7", "192.168.10.11")
                  .tcp(443, 50000, tcpf::kSyn)
                  .build());
  // 19. To an address that is not in the LAN prefixes: transit, denied by the firewall.
  v.push_back(
      PacketBuilder().eth(kEdgeFiber, kFiberGw).ipv4("198.51.100.7", "10.9.9.9").udp(1, 2).build());
  // 20. The gateway pings the edge's fiber address: echo reply on fiber.
  v.push_back(PacketBuilder()
                  .eth(kEdgeFiber, kFiberGw)
                  .ipv4("100.64.1.1", "100.64.1.2")
                  .icmp(8, 0, 5, 9)
                  .payload(8)
                  .build());
  // 21. The gateway asks for the edge's fiber address: ARP reply on fiber.
  v.push_back(PacketBuilder()
                  .eth("ff:ff:ff:ff:ff:ff", kFiberGw)
                  .arp(1, kFiberGw, "100.64.1.1", "00:00:00:00:00:00", "100.64.1.2")
                  .build());
  // 22. IPv6 reply to (5): back to the host.
  v.push_back(PacketBuilder()
                  .eth(kEdgeFiber, kFiberGw)
                  .ipv6("2001:db8:113::10", "fd00:10::10")
                  .udp(443, 5555)
                  .payload(20)
                  .build());
  return v;
}

std::vector<Frame> vdsl_in() {
  std::vector<Frame> v;
  // 23. SYN-ACK for (3), arriving on vdsl: back to the host.
  v.push_back(PacketBuilder()
                  .eth(kEdgeVdsl, kVdslGw)
                  .ipv4("203.0.113.10", "192.168.10.10")
                  .tcp(5201, 40000, tcpf::kSyn | tcpf::kAck)
                  .build());
  // 24. A frame shorter than an Ethernet header.
  Frame tiny;
  tiny.bytes = {0x02, 0x00, 0x00};
  v.push_back(tiny);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  bool ok = write_pcap(dir + "/lan_in.pcap", lan_in(), 10) &&
            write_pcap(dir + "/fiber_in.pcap", fiber_in(), 10) &&
            write_pcap(dir + "/vdsl_in.pcap", vdsl_in(), 10);
  return ok ? 0 : 1;
}

// SPDX-License-Identifier: Apache-2.0
// Writes the captures of the application-label test (tests/packet/app_labels_test.sh): a LAN host
// using real applications (DNS, an HTTP download, TLS with SNI, QUIC, SIP and RTP), the LAN side
// in lan_in.pcap and the servers' answers in fiber_in.pcap, plus flows.txt listing each flow
// with the packets it must count each way. The script holds the label each flow must get.

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "tests/testing/app_messages.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/pcap_file.h"

using traboule::testing::Bytes;
using traboule::testing::Frame;
using traboule::testing::PacketBuilder;
namespace tcpf = traboule::testing::tcpf;
namespace msg = traboule::testing;

namespace {

constexpr const char* kEdgeLan = "02:00:00:00:0a:01";
constexpr const char* kHostMac = "02:00:00:00:0a:10";
constexpr const char* kEdgeFiber = "02:00:00:00:0b:01";
constexpr const char* kFiberGw = "02:00:00:00:0b:fe";
constexpr const char* kHost = "192.168.10.10";
// The address the DNS answer gives for teams.microsoft.com (a Microsoft Teams range).
constexpr const char* kTeamsServer = "52.112.0.10";

// One application flow: the host's frames go to lan_in, the server's to fiber_in.
class Flow {
 public:
  Flow(std::string what, bool tcp, uint16_t host_port, std::string server, uint16_t server_port)
      : what_(std::move(what)),
        tcp_(tcp),
        host_port_(host_port),
        server_(std::move(server)),
        server_port_(server_port) {}

  void udp_out(const Bytes& data) {
    out_.push_back(PacketBuilder()
                       .eth(kEdgeLan, kHostMac)
                       .ipv4(kHost, server_)
                       .udp(host_port_, server_port_)
                       .payload(data)
                       .build());
  }
  void udp_in(const Bytes& data) {
    in_.push_back(PacketBuilder()
                      .eth(kEdgeFiber, kFiberGw)
                      .ipv4(server_, kHost)
                      .udp(server_port_, host_port_)
                      .payload(data)
                      .build());
  }
  // TCP segments keep their sequence numbers consistent (nDPI checks them for retransmissions).
  void tcp_out(uint8_t flags, const Bytes& data = {}) {
    PacketBuilder b;
    b.eth(kEdgeLan, kHostMac)
        .ipv4(kHost, server_)
        .tcp(host_port_, server_port_, flags, host_seq_, (flags & tcpf::kAck) ? server_seq_ : 0);
    if (!data.empty()) b.payload(data);
    out_.push_back(b.build());
    host_seq_ += static_cast<uint32_t>(data.size()) + ((flags & tcpf::kSyn) ? 1 : 0);
  }
  void tcp_in(uint8_t flags, const Bytes& data = {}) {
    PacketBuilder b;
    b.eth(kEdgeFiber, kFiberGw)
        .ipv4(server_, kHost)
        .tcp(server_port_, host_port_, flags, server_seq_, host_seq_);
    if (!data.empty()) b.payload(data);
    in_.push_back(b.build());
    server_seq_ += static_cast<uint32_t>(data.size()) + ((flags & tcpf::kSyn) ? 1 : 0);
  }
  void handshake() {
    tcp_out(tcpf::kSyn);
    tcp_in(tcpf::kSyn | tcpf::kAck);
    tcp_out(tcpf::kAck);
  }

  // Appends the frames to the captures and the flow's line to the manifest.
  void emit(std::vector<Frame>& lan, std::vector<Frame>& fiber, std::string& manifest) const {
    lan.insert(lan.end(), out_.begin(), out_.end());
    fiber.insert(fiber.end(), in_.begin(), in_.end());
    manifest += what_ + " " + (tcp_ ? "tcp " : "udp ") + kHost + " " + std::to_string(host_port_) +
                " " + server_ + " " + std::to_string(server_port_) + " " +
                std::to_string(out_.size()) + " " + std::to_string(in_.size()) + "\n";
  }

 private:
  std::string what_;
  bool tcp_;
  uint16_t host_port_;
  std::string server_;
  uint16_t server_port_;
  uint32_t host_seq_ = 1000;
  uint32_t server_seq_ = 70000;
  std::vector<Frame> out_;
  std::vector<Frame> in_;
};

Bytes filler(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

std::vector<Flow> flows() {
  std::vector<Flow> v;
  // The host looks up the Teams server; the answer names its address.
  Flow dns("dns-lookup", false, 33001, "203.0.113.53", 53);
  dns.udp_out(msg::dns_message("teams.microsoft.com", false));
  dns.udp_in(msg::dns_message("teams.microsoft.com", true, {52, 112, 0, 10}, 300));
  v.push_back(dns);

  // A small file download: handshake, GET, the 200 head and three full segments of the body.
  Flow http("http-download", true, 41001, "203.0.113.80", 80);
  http.handshake();
  http.tcp_out(tcpf::kAck | tcpf::kPsh,
               msg::http_get("downloads.example.org", "/files/report.bin"));
  http.tcp_in(tcpf::kAck | tcpf::kPsh, msg::http_ok_head(3 * 1400));
  for (uint8_t i = 0; i < 3; ++i) http.tcp_in(tcpf::kAck, filler(1400, i));
  http.tcp_out(tcpf::kAck);
  v.push_back(http);

  // TLS connections: handshake, the ClientHello, the server's acknowledgement.
  const auto tls = [&v](const char* what, uint16_t port, const char* server, const char* sni) {
    Flow f(what, true, port, server, 443);
    f.handshake();
    f.tcp_out(tcpf::kAck | tcpf::kPsh, msg::tls_record(msg::client_hello(sni)));
    f.tcp_in(tcpf::kAck);
    v.push_back(f);
  };
  tls("tls-teams", 41002, kTeamsServer, "teams.microsoft.com");
  tls("tls-youtube", 41003, "203.0.113.81", "www.youtube.com");

  // HTTP/3: the client's first Initial (the server's answer is protected with keys we lack).
  Flow quic("quic-youtube", false, 41004, "203.0.113.82", 443);
  quic.udp_out(msg::quic_initial(msg::client_hello("www.youtube.com")));
  v.push_back(quic);

  Flow sip("sip-invite", false, 5060, "203.0.113.5", 5060);
  sip.udp_out(msg::sip_invite());
  sip.udp_in(msg::sip_trying());
  v.push_back(sip);

  // The call's media, six packets each way.
  Flow rtp("rtp-media", false, 40000, "203.0.113.5", 30000);
  for (uint16_t i = 0; i < 6; ++i) {
    rtp.udp_out(msg::rtp(static_cast<uint16_t>(100 + i), 0x11223344));
    rtp.udp_in(msg::rtp(static_cast<uint16_t>(700 + i), 0x55667788));
  }
  v.push_back(rtp);
  return v;
}

bool write_text(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::perror(path.c_str());
    return false;
  }
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<Frame> lan, fiber;
  std::string manifest = "# what proto src src_port dst dst_port packets_out packets_in\n";
  // The host first asks for its gateway, as a real one does.
  lan.push_back(PacketBuilder()
                    .eth("ff:ff:ff:ff:ff:ff", kHostMac)
                    .arp(1, kHostMac, kHost, "00:00:00:00:00:00", "192.168.10.1")
                    .build());
  try {
    for (const Flow& f : flows()) f.emit(lan, fiber, manifest);
  } catch (const std::exception& e) {  // quic_initial: libgcrypt failures
    std::fprintf(stderr, "cannot build the messages: %s\n", e.what());
    return 1;
  }
  // The test relies on one receive burst (kBurstMax, dataplane/graph/stage.h) taking every LAN
  // frame before the answers: each flow is then created by its host side.
  if (lan.size() > 64) {
    std::fprintf(stderr, "%zu LAN frames: more than one receive burst (64)\n", lan.size());
    return 1;
  }
  const bool ok = write_pcap(dir + "/lan_in.pcap", lan, 1000) &&
                  write_pcap(dir + "/fiber_in.pcap", fiber, 1000) &&
                  write_pcap(dir + "/vdsl_in.pcap", std::vector<Frame>{}, 1000) &&
                  write_text(dir + "/flows.txt", manifest);
  return ok ? 0 : 1;
}

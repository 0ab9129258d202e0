// SPDX-License-Identifier: Apache-2.0
// Our STAMP/ICMP echo Session-Sender sessions: written by a control thread, read lock-free by
// every worker (a seqlock per slot), matched on the reply's local port.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/proto/ip_addr.h"
#include "dataplane/proto/stamp.h"

namespace traboule::dp {

// Our Session-Sender sessions. Session i uses local UDP port base + i (or ICMP echo identifier
// base + i), so a reply is matched with two compares; the slot says which uplink and remote it
// belongs to. Written by a control thread, read lock-free by every worker (a seqlock per slot).

inline constexpr uint16_t kMaxStampSessions = 256;

// What a session's probes are: STAMP test packets to a reflector, or ICMP/ICMPv6 echo requests
// to an internet host (breakout targets: any host answers ping, few run a reflector).
enum class StampProbeKind : uint8_t { kStamp = 0, kIcmpEcho };
const char* to_string(StampProbeKind k) noexcept;

struct StampSession {
  uint8_t uplink = 0xff;              // uplink index in Site::uplinks
  IpAddr remote;                      // reflector or echo target address (IPv4 mapped or IPv6)
  uint16_t remote_port = kStampPort;  // STAMP only; 0 for kIcmpEcho (echo has no port)
  StampProbeKind kind = StampProbeKind::kStamp;
};

// Our ICMP echo probes. The identifier is the session's local port (base + id), outside every
// NAT range, so a reply is matched as a STAMP reply is; the echo data starts with this header
// (network order), which the target echoes back: a stateless reflector that keeps T1 for us.
// The echo sequence number is the low 16 bits of `seq`, which must agree.
namespace echo_off {
inline constexpr size_t kMagic = 0;      // kEchoMagic
inline constexpr size_t kSeq = 4;        // 32-bit sequence number of the path
inline constexpr size_t kTimestamp = 8;  // T1, NTP
inline constexpr size_t kSsid = 16;
inline constexpr size_t kError = 18;  // our error estimate for T1
}  // namespace echo_off
inline constexpr size_t kEchoHeaderLen = 20;
inline constexpr uint32_t kEchoMagic = 0x54524231;  // "TRB1"
inline constexpr size_t kIcmpEchoHdrLen = 8;        // type, code, checksum, identifier, sequence

class StampSessionTable {
 public:
  // Local ports [base, base + kMaxStampSessions) belong to the sessions; base 0 means none.
  explicit StampSessionTable(uint16_t local_port_base);
  StampSessionTable(const StampSessionTable&) = delete;
  StampSessionTable& operator=(const StampSessionTable&) = delete;

  // Control thread. An error text naming the bad field and value, or nullopt when accepted.
  std::optional<std::string> set(uint16_t id, const StampSession& s);
  void clear(uint16_t id) noexcept;

  uint16_t port_base() const noexcept { return base_; }
  uint16_t local_port(uint16_t id) const noexcept { return static_cast<uint16_t>(base_ + id); }
  // The session id owning local port `port`, or -1.
  int session_of_port(uint16_t port) const noexcept {
    unsigned d = static_cast<uint16_t>(port - base_);
    return base_ != 0 && d < kMaxStampSessions ? static_cast<int>(d) : -1;
  }
  // Hot path: false when the slot is not active.
  bool get(uint16_t id, StampSession* out) const noexcept;

 private:
  struct Slot {
    std::atomic<uint32_t> seq{0};  // odd while written
    std::atomic<bool> active{false};
    std::atomic<uint8_t> uplink{0xff};
    std::atomic<uint8_t> kind{0};
    std::atomic<uint16_t> remote_port{0};
    std::atomic<uint64_t> remote_w0{0}, remote_w1{0};
  };
  uint16_t base_;
  Slot slots_[kMaxStampSessions];
};

}  // namespace traboule::dp

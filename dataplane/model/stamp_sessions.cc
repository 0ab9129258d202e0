// SPDX-License-Identifier: Apache-2.0
#include "dataplane/model/stamp_sessions.h"

#include <stdexcept>
#include <string>

namespace traboule::dp {

namespace {

bool v4_bad_remote(const IpAddr& a) noexcept {
  const uint8_t b0 = a.b[12];
  return a.v4_host() == 0 || b0 == 127 || b0 >= 224;
}
bool v6_bad_remote(const IpAddr& a) noexcept {
  static const IpAddr kLoopback = *IpAddr::parse("::1");
  return a.is_zero() || a.b[0] == 0xff || a == kLoopback;
}
}  // namespace

const char* to_string(StampProbeKind k) noexcept {
  switch (k) {
    case StampProbeKind::kStamp:
      return "stamp";
    case StampProbeKind::kIcmpEcho:
      return "icmp";
  }
  return "?";
}

StampSessionTable::StampSessionTable(uint16_t local_port_base) : base_(local_port_base) {
  if (base_ != 0 && uint32_t{base_} + kMaxStampSessions > 65536)
    throw std::invalid_argument("STAMP sender port base " + std::to_string(base_) + ": the " +
                                std::to_string(kMaxStampSessions) +
                                " session ports would pass 65535");
}

std::optional<std::string> StampSessionTable::set(uint16_t id, const StampSession& s) {
  const std::string who = "STAMP session " + std::to_string(id);
  if (base_ == 0) return who + ": no sender port range configured (port base 0)";
  if (id >= kMaxStampSessions)
    return who + ": id out of range (0.." + std::to_string(kMaxStampSessions - 1) + ")";
  if (s.uplink == 0xff) return who + ": uplink not set";
  if (s.remote.is_v4() ? v4_bad_remote(s.remote) : v6_bad_remote(s.remote))
    return who + ": remote " + s.remote.str() +
           " is not a unicast address (zero, loopback, multicast or broadcast)";
  if (s.kind == StampProbeKind::kStamp && s.remote_port == 0) return who + ": remote port 0";
  if (s.kind == StampProbeKind::kIcmpEcho && s.remote_port != 0)
    return who + ": remote port " + std::to_string(s.remote_port) +
           " given for an ICMP echo session (echo has no port; use 0)";
  if (s.kind != StampProbeKind::kStamp && s.kind != StampProbeKind::kIcmpEcho)
    return who + ": kind " + std::to_string(static_cast<unsigned>(s.kind)) + " unknown";
  Slot& sl = slots_[id];
  const uint32_t q = sl.seq.load(std::memory_order_relaxed);
  sl.seq.store(q + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  sl.uplink.store(s.uplink, std::memory_order_relaxed);
  sl.kind.store(static_cast<uint8_t>(s.kind), std::memory_order_relaxed);
  sl.remote_port.store(s.remote_port, std::memory_order_relaxed);
  sl.remote_w0.store(s.remote.word(0), std::memory_order_relaxed);
  sl.remote_w1.store(s.remote.word(1), std::memory_order_relaxed);
  sl.active.store(true, std::memory_order_relaxed);
  sl.seq.store(q + 2, std::memory_order_release);
  return std::nullopt;
}

void StampSessionTable::clear(uint16_t id) noexcept {
  if (id >= kMaxStampSessions) return;
  Slot& sl = slots_[id];
  const uint32_t q = sl.seq.load(std::memory_order_relaxed);
  sl.seq.store(q + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  sl.active.store(false, std::memory_order_relaxed);
  sl.seq.store(q + 2, std::memory_order_release);
}

bool StampSessionTable::get(uint16_t id, StampSession* out) const noexcept {
  if (id >= kMaxStampSessions) return false;
  const Slot& sl = slots_[id];
  for (;;) {
    const uint32_t q = sl.seq.load(std::memory_order_acquire);
    if (q & 1) continue;
    const bool active = sl.active.load(std::memory_order_relaxed);
    out->uplink = sl.uplink.load(std::memory_order_relaxed);
    out->kind = static_cast<StampProbeKind>(sl.kind.load(std::memory_order_relaxed));
    out->remote_port = sl.remote_port.load(std::memory_order_relaxed);
    const uint64_t w0 = sl.remote_w0.load(std::memory_order_relaxed);
    const uint64_t w1 = sl.remote_w1.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sl.seq.load(std::memory_order_relaxed) != q) continue;
    std::memcpy(out->remote.b.data(), &w0, 8);
    std::memcpy(out->remote.b.data() + 8, &w1, 8);
    return active;
  }
}

}  // namespace traboule::dp

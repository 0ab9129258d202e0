// SPDX-License-Identifier: Apache-2.0
// FPM (zebra's Forwarding Plane Manager, dplane_fpm_nl) decoding: the 4-byte frame header and
// the netlink route messages inside, on byte spans (no socket), into route updates for the RIB.
// Every malformed input is a named error and a counter, never a crash. docs/routing.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dataplane/proto/ip_addr.h"

namespace traboule::cp {

// One name per counter (fpm_counter_names); errors first, then what was decoded or skipped.
enum class FpmCounter : uint8_t {
  kShortHeader,      // fewer than 4 bytes for the FPM header
  kFrameTooShort,    // FPM length < 4
  kFrameTruncated,   // FPM length beyond the bytes given
  kBadVersion,       // FPM version != 1: the stream cannot be trusted, connection closed
  kBadType,          // FPM type != 1 (netlink): frame skipped
  kNlZeroLength,     // nlmsg_len 0 (would loop forever)
  kNlTruncated,      // nlmsg_len < 16 or beyond the frame: rest of the frame skipped
  kRtmsgTruncated,   // route message shorter than its rtmsg
  kBadFamily,        // rtm_family neither AF_INET nor AF_INET6
  kBadPrefixLen,     // dst_len > 32 (IPv4) or > 128 (IPv6)
  kAttrOverflow,     // rta_len < 4 or beyond the message
  kAttrBadSize,      // a known attribute with the wrong payload size (RTA_DST of 5 bytes)
  kMultipathBadLen,  // rtnh_len < 8 or beyond RTA_MULTIPATH
  kNexthopIdRoute,   // a route with only RTA_NH_ID: "no fpm use-next-hop-groups" is missing
  kFrames,           // frames decoded
  kRoutesAdded,      // RTM_NEWROUTE decoded
  kRoutesDeleted,    // RTM_DELROUTE decoded
  kNlIgnoredType,    // other netlink types (RTM_NEWNEXTHOP, NLMSG_NOOP, ...): skipped
  kAttrUnknown,      // unknown route attributes: skipped
  kHostBitsCleared,  // RTA_DST with bits past dst_len: cleared
  kCount
};
inline constexpr size_t kFpmCounterCount = static_cast<size_t>(FpmCounter::kCount);
const char* fpm_counter_name(FpmCounter c) noexcept;

struct FpmCounters {
  std::array<uint64_t, kFpmCounterCount> v{};
  void add(FpmCounter c, uint64_t n = 1) noexcept { v[static_cast<size_t>(c)] += n; }
  uint64_t operator[](FpmCounter c) const noexcept { return v[static_cast<size_t>(c)]; }
};

// Linux route types and protocols (rtnetlink.h values; kept here so no kernel header is needed).
inline constexpr uint8_t kRtnUnicast = 1, kRtnBlackhole = 6, kRtnUnreachable = 7, kRtnProhibit = 8;
// "kernel", "boot", "static", "zebra", "bgp", "isis", "ospf", "rip", "eigrp", ... or the number.
std::string route_protocol_name(uint8_t rtm_protocol);
const char* route_type_name(uint8_t rtm_type);

struct RouteNextHop {
  dp::IpAddr gateway{};  // zero when none (a connected route)
  bool has_gateway = false;
  uint32_t ifindex = 0;  // in zebra's namespace; 0 when none
  uint8_t weight = 1;    // rtnh_hops + 1 for multipath
  friend bool operator==(const RouteNextHop&, const RouteNextHop&) = default;
};

struct Route {
  dp::IpPrefix prefix;  // host bits cleared; IPv4 as /(96+n) on the 128-bit form
  uint32_t table = 254;
  uint8_t protocol = 0;  // rtm_protocol
  uint8_t type = kRtnUnicast;
  uint32_t metric = 0;  // RTA_PRIORITY
  uint32_t nh_id = 0;   // RTA_NH_ID (unsupported: counted)
  std::vector<RouteNextHop> next_hops;
  // The prefix length in the address' own family (0..32 or 0..128).
  uint8_t family_len() const noexcept {
    return prefix.v4 ? static_cast<uint8_t>(prefix.len - 96) : prefix.len;
  }
};

struct RouteUpdate {
  bool add = true;  // RTM_NEWROUTE; false for RTM_DELROUTE
  Route route;
};

enum class FrameStatus : uint8_t {
  kOk,        // frame consumed (some of its messages may have been skipped, see counters)
  kNeedMore,  // (stream) the header or the frame is not complete yet
  kSkipped,   // frame consumed but not netlink (kBadType)
  kFatal,     // the stream is out of step (version, length < 4): close the connection
};

// Decodes one frame at the start of `buf`. `stream` true: an incomplete header or frame is
// kNeedMore (wait for bytes); false (a datagram-like span): it is an error, counted, kFatal.
// *consumed is the frame's length when kOk/kSkipped.
FrameStatus decode_fpm_frame(std::span<const uint8_t> buf, bool stream, size_t* consumed,
                             std::vector<RouteUpdate>* out, FpmCounters* counters);

// Decodes the netlink messages of one frame's payload (several per frame).
void decode_netlink(std::span<const uint8_t> payload, std::vector<RouteUpdate>* out,
                    FpmCounters* counters);

}  // namespace traboule::cp

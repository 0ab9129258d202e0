// SPDX-License-Identifier: Apache-2.0
#include "controlplane/routing/fpm.h"

#include <cstring>
#include <optional>

namespace traboule::cp {
namespace {

constexpr size_t kFpmHeader = 4;
constexpr uint8_t kFpmVersion = 1, kFpmTypeNetlink = 1;
constexpr size_t kNlHeader = 16, kRtmsg = 12, kRtattr = 4, kRtnexthop = 8;
constexpr uint16_t kRtmNewRoute = 24, kRtmDelRoute = 25;
constexpr uint8_t kAfInet = 2, kAfInet6 = 10;
constexpr uint16_t kRtaDst = 1, kRtaOif = 4, kRtaGateway = 5, kRtaPriority = 6, kRtaMultipath = 9,
                   kRtaTable = 15, kRtaNhId = 30;

constexpr const char* kCounterNames[] = {
    "short_header",      "frame_too_short",  "frame_truncated", "bad_version",
    "bad_type",          "nl_zero_length",   "nl_truncated",    "rtmsg_truncated",
    "bad_family",        "bad_prefix_len",   "attr_overflow",   "attr_bad_size",
    "multipath_bad_len", "nexthop_id_route", "frames",          "routes_added",
    "routes_deleted",    "nl_ignored_type",  "attr_unknown",    "host_bits_cleared",
};
static_assert(std::size(kCounterNames) == kFpmCounterCount, "one name per FpmCounter");

size_t align4(size_t n) {
  return (n + 3) & ~size_t{3};
}

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Netlink attributes in [p, p+n): calls fn(type, payload); false (and the counter) on overflow.
template <class Fn>
bool for_each_attr(std::span<const uint8_t> s, FpmCounters* c, FpmCounter overflow, Fn&& fn) {
  size_t off = 0;
  while (off + kRtattr <= s.size()) {
    const uint16_t len = load<uint16_t>(s.data() + off);
    const uint16_t type = load<uint16_t>(s.data() + off + 2) & 0x3fff;  // NLA_F_* flags off
    if (len < kRtattr || len > s.size() - off) {
      c->add(overflow);
      return false;
    }
    if (!fn(type, s.subspan(off + kRtattr, len - kRtattr))) return false;
    off += align4(len);
  }
  return true;
}

std::optional<dp::IpAddr> address(std::span<const uint8_t> p, bool v4) {
  if (p.size() != (v4 ? 4u : 16u)) return std::nullopt;
  return v4 ? dp::IpAddr::v4_bytes(p.data()) : dp::IpAddr::v6_bytes(p.data());
}

bool u32_attr(std::span<const uint8_t> p, uint32_t* v, FpmCounters* c) {
  if (p.size() != 4) {
    c->add(FpmCounter::kAttrBadSize);
    return false;
  }
  *v = load<uint32_t>(p.data());
  return true;
}

// RTA_MULTIPATH: rtnexthop entries, each with its own attributes (RTA_GATEWAY).
bool decode_multipath(std::span<const uint8_t> s, bool v4, Route* r, FpmCounters* c) {
  size_t off = 0;
  while (off < s.size()) {
    if (s.size() - off < kRtnexthop) {
      c->add(FpmCounter::kMultipathBadLen);
      return false;
    }
    const uint16_t len = load<uint16_t>(s.data() + off);
    if (len < kRtnexthop || len > s.size() - off) {
      c->add(FpmCounter::kMultipathBadLen);
      return false;
    }
    RouteNextHop nh;
    nh.weight = static_cast<uint8_t>(s[off + 3] + 1);
    nh.ifindex = static_cast<uint32_t>(load<int32_t>(s.data() + off + 4));
    const bool ok =
        for_each_attr(s.subspan(off + kRtnexthop, len - kRtnexthop), c,
                      FpmCounter::kMultipathBadLen, [&](uint16_t type, std::span<const uint8_t> p) {
                        if (type != kRtaGateway) {
                          c->add(FpmCounter::kAttrUnknown);
                          return true;
                        }
                        auto gw = address(p, v4);
                        if (!gw) c->add(FpmCounter::kAttrBadSize);
                        nh.gateway = gw.value_or(dp::IpAddr{});
                        nh.has_gateway = gw.has_value();
                        return gw.has_value();
                      });
    if (!ok) return false;
    r->next_hops.push_back(nh);
    off += align4(len);
  }
  return true;
}

// The attributes of one route message; the single next hop (gateway/oif) goes in `single`.
bool decode_route_attrs(std::span<const uint8_t> attrs, bool v4, Route* r, dp::IpAddr* dst,
                        RouteNextHop* single, FpmCounters* c) {
  return for_each_attr(attrs, c, FpmCounter::kAttrOverflow,
                       [&](uint16_t type, std::span<const uint8_t> p) {
                         switch (type) {
                           case kRtaDst:
                           case kRtaGateway: {
                             auto a = address(p, v4);
                             if (!a) {
                               c->add(FpmCounter::kAttrBadSize);
                               return false;
                             }
                             if (type == kRtaDst)
                               *dst = *a;
                             else
                               single->gateway = *a, single->has_gateway = true;
                             return true;
                           }
                           case kRtaOif:
                             return u32_attr(p, &single->ifindex, c);
                           case kRtaPriority:
                             return u32_attr(p, &r->metric, c);
                           case kRtaTable:
                             return u32_attr(p, &r->table, c);
                           case kRtaNhId:
                             return u32_attr(p, &r->nh_id, c);
                           case kRtaMultipath:
                             return decode_multipath(p, v4, r, c);
                           default:
                             c->add(FpmCounter::kAttrUnknown);
                             return true;
                         }
                       });
}

// Clears the bits of `a` past `len` (on the 128-bit form); true when some were set.
bool clear_host_bits(dp::IpAddr* a, unsigned len) {
  bool had = false;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned start = i * 8;
    uint8_t keep = 0xff;
    if (len <= start)
      keep = 0;
    else if (len < start + 8)
      keep = static_cast<uint8_t>(0xff00 >> (len - start));
    had |= (a->b[i] & ~keep) != 0;
    a->b[i] &= keep;
  }
  return had;
}

// One RTM_NEWROUTE/RTM_DELROUTE message body (after nlmsghdr); nullopt when refused (counted).
std::optional<Route> decode_route(std::span<const uint8_t> body, FpmCounters* c) {
  if (body.size() < kRtmsg) {
    c->add(FpmCounter::kRtmsgTruncated);
    return std::nullopt;
  }
  const uint8_t family = body[0], dst_len = body[1];
  if (family != kAfInet && family != kAfInet6) {
    c->add(FpmCounter::kBadFamily);
    return std::nullopt;
  }
  const bool v4 = family == kAfInet;
  if (dst_len > (v4 ? 32 : 128)) {
    c->add(FpmCounter::kBadPrefixLen);
    return std::nullopt;
  }
  Route r;
  r.table = body[4];
  r.protocol = body[5];
  r.type = body[7];
  dp::IpAddr dst = v4 ? dp::IpAddr::v4(0) : dp::IpAddr{};
  RouteNextHop single;
  if (!decode_route_attrs(body.subspan(kRtmsg), v4, &r, &dst, &single, c)) return std::nullopt;
  const unsigned len = v4 ? 96u + dst_len : dst_len;
  if (clear_host_bits(&dst, len)) c->add(FpmCounter::kHostBitsCleared);
  if (v4) dst.b[10] = dst.b[11] = 0xff;  // the mapped form survives the clearing of a /0
  r.prefix = dp::IpPrefix{dst, static_cast<uint8_t>(len), v4};
  if (r.next_hops.empty() && (single.has_gateway || single.ifindex != 0)) {
    r.next_hops.push_back(single);
  }
  if (r.nh_id != 0 && r.next_hops.empty()) c->add(FpmCounter::kNexthopIdRoute);
  return r;
}

}  // namespace

const char* fpm_counter_name(FpmCounter c) noexcept {
  const auto i = static_cast<size_t>(c);
  return i < kFpmCounterCount ? kCounterNames[i] : "?";
}

std::string route_protocol_name(uint8_t p) {
  switch (p) {
    case 0:
      return "unspec";
    case 1:
      return "redirect";
    case 2:
      return "kernel";  // zebra sends connected routes with this one
    case 3:
      return "boot";
    case 4:
      return "static";  // a kernel static route (FRR's staticd is 196)
    case 11:
      return "zebra";
    case 16:
      return "dhcp";
    case 42:
      return "babel";
    case 186:
      return "bgp";
    case 187:
      return "isis";
    case 188:
      return "ospf";
    case 189:
      return "rip";
    case 190:
      return "ripng";
    case 191:
      return "nhrp";
    case 192:
      return "eigrp";
    case 193:
      return "ldp";
    case 194:
      return "sharp";
    case 195:
      return "pbr";
    case 196:
      return "static";
    case 197:
      return "openfabric";
    case 198:
      return "srte";
    default:
      return "proto-" + std::to_string(p);
  }
}

const char* route_type_name(uint8_t t) {
  switch (t) {
    case kRtnUnicast:
      return "unicast";
    case kRtnBlackhole:
      return "blackhole";
    case kRtnUnreachable:
      return "unreachable";
    case kRtnProhibit:
      return "prohibit";
    default:
      return "other";
  }
}

void decode_netlink(std::span<const uint8_t> payload, std::vector<RouteUpdate>* out,
                    FpmCounters* c) {
  size_t off = 0;
  while (off < payload.size()) {
    const size_t left = payload.size() - off;
    const uint32_t len = left >= 4 ? load<uint32_t>(payload.data() + off) : 0;
    if (left >= 4 && len == 0) {
      c->add(FpmCounter::kNlZeroLength);
      return;
    }
    if (left < kNlHeader || len < kNlHeader || len > left) {
      c->add(FpmCounter::kNlTruncated);
      return;
    }
    const uint16_t type = load<uint16_t>(payload.data() + off + 4);
    if (type == kRtmNewRoute || type == kRtmDelRoute) {
      if (auto r = decode_route(payload.subspan(off + kNlHeader, len - kNlHeader), c)) {
        c->add(type == kRtmNewRoute ? FpmCounter::kRoutesAdded : FpmCounter::kRoutesDeleted);
        out->push_back(RouteUpdate{type == kRtmNewRoute, std::move(*r)});
      }
    } else {
      c->add(FpmCounter::kNlIgnoredType);
    }
    off += std::min<size_t>(align4(len), left);
  }
}

FrameStatus decode_fpm_frame(std::span<const uint8_t> buf, bool stream, size_t* consumed,
                             std::vector<RouteUpdate>* out, FpmCounters* c) {
  *consumed = 0;
  if (buf.size() < kFpmHeader) {
    if (stream) return FrameStatus::kNeedMore;
    c->add(FpmCounter::kShortHeader);
    return FrameStatus::kFatal;
  }
  const uint8_t version = buf[0], type = buf[1];
  const size_t len = (size_t{buf[2]} << 8) | buf[3];
  if (version != kFpmVersion) {
    c->add(FpmCounter::kBadVersion);
    return FrameStatus::kFatal;
  }
  if (len < kFpmHeader) {
    c->add(FpmCounter::kFrameTooShort);
    return FrameStatus::kFatal;
  }
  if (len > buf.size()) {
    if (stream) return FrameStatus::kNeedMore;
    c->add(FpmCounter::kFrameTruncated);
    return FrameStatus::kFatal;
  }
  *consumed = len;
  if (type != kFpmTypeNetlink) {
    c->add(FpmCounter::kBadType);
    return FrameStatus::kSkipped;
  }
  c->add(FpmCounter::kFrames);
  decode_netlink(buf.subspan(kFpmHeader, len - kFpmHeader), out, c);
  return FrameStatus::kOk;
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// What a policy writes in its own terms: prefixes, ports, protocols, DSCP, addresses.
#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

// A string the C library would cut short (inet_pton reads up to the first NUL).
bool has_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

std::optional<uint8_t> proto_number(const json& v) {
  if (auto n = as_uint(v); n && *n >= 1 && *n <= 255) return static_cast<uint8_t>(*n);
  if (!v.is_string()) return std::nullopt;
  static const std::map<std::string, uint8_t> names = {{"icmp", 1},    {"tcp", 6},   {"udp", 17},
                                                       {"gre", 47},    {"esp", 50},  {"ah", 51},
                                                       {"icmpv6", 58}, {"sctp", 132}};
  auto it = names.find(v.get<std::string>());
  if (it == names.end()) return std::nullopt;
  return it->second;
}

std::optional<uint8_t> dscp_value(const json& v) {
  if (auto n = as_uint(v); n && *n <= 63) return static_cast<uint8_t>(*n);
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "be" || s == "df") return 0;
  if (s == "ef") return 46;
  if (s == "va") return 44;
  if (s.size() == 3 && s[0] == 'c' && s[1] == 's' && s[2] >= '0' && s[2] <= '7')
    return static_cast<uint8_t>(8 * (s[2] - '0'));
  if (s.size() == 4 && s[0] == 'a' && s[1] == 'f' && s[2] >= '1' && s[2] <= '4' && s[3] >= '1' &&
      s[3] <= '3')
    return static_cast<uint8_t>(8 * (s[2] - '0') + 2 * (s[3] - '0'));
  return std::nullopt;
}

bool prefix_inside(const dp::IpPrefix& inner, const dp::IpPrefix& outer) {
  return inner.v4 == outer.v4 && outer.len <= inner.len && outer.contains(inner.addr, inner.v4);
}

namespace {

bool ranges_overlap(const dp::PortRange& a, const dp::PortRange& b) {
  return a.lo <= b.hi && b.lo <= a.hi;
}

std::string range_text(const dp::PortRange& r) {
  return r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

}  // namespace

// Addresses that are never a remote host on the internet.
std::optional<std::string> unusable_address(const dp::IpAddr& a) {
  if (a.is_v4()) {
    uint32_t h = a.v4_host();
    if (h == 0) return "unspecified address";
    if ((h >> 24) == 0) return "\"this network\" (0.0.0.0/8)";
    if ((h >> 24) == 127) return "loopback";
    if ((h >> 16) == 0xa9fe) return "link-local";
    if ((h >> 28) == 0xe) return "multicast";
    if ((h >> 28) == 0xf) return "reserved or broadcast";
    return std::nullopt;
  }
  if (a.is_zero()) return "unspecified address";
  auto one = dp::IpAddr::parse("::1");
  if (one && a == *one) return "loopback";
  if (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80) return "link-local";
  if (a.b[0] == 0xff) return "multicast";
  return std::nullopt;
}

std::optional<dp::IpPrefix> Checker::prefix(const json& v, const std::string& p) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  auto pf = has_nul(s) ? std::nullopt : dp::IpPrefix::parse(s);
  if (!pf) {
    err(p, shown(v), "is not an IPv4 or IPv6 prefix (like \"10.1.0.0/16\" or \"2001:db8::/32\")");
    return std::nullopt;
  }
  auto slash = s.find('/');
  auto addr = dp::IpAddr::parse(s.substr(0, slash));
  if (addr && !(*addr == pf->addr)) {
    err(p, shown(v), "has host bits set (did you mean \"" + pf->str() + "\"?)");
    return std::nullopt;
  }
  return pf;
}

// Parses a list; reports entries that repeat or lie inside another. nullopt if any is bad.
std::optional<std::vector<dp::IpPrefix>> Checker::prefix_list(const json& arr,
                                                              const std::string& p) {
  if (!arr.is_array()) return std::nullopt;
  std::vector<dp::IpPrefix> out;
  bool good = true;
  for (size_t i = 0; i < arr.size(); ++i) {
    auto pf = prefix(arr[i], at(p, i));
    if (!pf) {
      good = false;
      continue;
    }
    for (size_t j = 0; j < out.size(); ++j) {
      if (prefix_inside(*pf, out[j])) {
        err(at(p, i), shown(arr[i]),
            prefix_inside(out[j], *pf)
                ? "is listed twice"
                : "lies inside " + jstr(out[j].str()) + ", listed before it");
        good = false;
        break;
      }
      if (prefix_inside(out[j], *pf)) {
        err(at(p, i), shown(arr[i]), "contains " + jstr(out[j].str()) + ", listed before it");
        good = false;
        break;
      }
    }
    out.push_back(*pf);
  }
  if (!good) return std::nullopt;
  return out;
}

std::optional<dp::PortRange> Checker::port_spec(const json& v, const std::string& p) {
  if (auto n = as_uint(v); n && *n <= 65535) {
    auto x = static_cast<uint16_t>(*n);
    return dp::PortRange{x, x};
  }
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  auto dash = s.find('-');
  auto number = [](const std::string& t) -> std::optional<uint32_t> {
    if (t.empty() || t.size() > 5) return std::nullopt;
    uint32_t n = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<uint32_t>(c - '0');
    }
    return n;
  };
  auto lo = number(s.substr(0, dash));
  auto hi = dash == std::string::npos ? lo : number(s.substr(dash + 1));
  if (!lo || !hi || *lo > 65535 || *hi > 65535) {
    err(p, shown(v), "must be a port 0-65535 or a range \"lo-hi\" of such ports");
    return std::nullopt;
  }
  if (*lo > *hi) {
    err(p, shown(v), "is a range whose start is above its end");
    return std::nullopt;
  }
  return dp::PortRange{static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

std::optional<std::vector<dp::PortRange>> Checker::port_list(const json& arr,
                                                             const std::string& p) {
  if (!arr.is_array()) return std::nullopt;
  std::vector<dp::PortRange> out;
  bool good = true;
  for (size_t i = 0; i < arr.size(); ++i) {
    auto r = port_spec(arr[i], at(p, i));
    if (!r) {
      good = false;
      continue;
    }
    for (size_t j = 0; j < out.size(); ++j)
      if (ranges_overlap(*r, out[j])) {
        err(at(p, i), shown(arr[i]), "overlaps " + range_text(out[j]) + ", listed before it");
        good = false;
        break;
      }
    out.push_back(*r);
  }
  if (!good) return std::nullopt;
  return out;
}

}  // namespace traboule::cp::detail::semantic

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proto/ip_addr.h"

#include <arpa/inet.h>

#include <charconv>

namespace traboule::dp {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return v4_bytes(buf);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return v6_bytes(buf);
  return std::nullopt;
}

std::string IpAddr::str() const {
  char out[INET6_ADDRSTRLEN];
  if (is_v4()) return inet_ntop(AF_INET, v4_ptr(), out, sizeof out);
  return inet_ntop(AF_INET6, b.data(), out, sizeof out);
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  if (addr->is_v4() && text.substr(0, slash).find(':') != std::string_view::npos)
    return std::nullopt;
  unsigned max = addr->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty() || len > max)
      return std::nullopt;
  }
  IpPrefix pfx;
  pfx.v4 = addr->is_v4();
  pfx.len = static_cast<uint8_t>(addr->is_v4() ? len + 96 : len);
  pfx.addr = *addr;
  // Clear host bits so equal prefixes compare equal.
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bit = i * 8;
    if (bit >= pfx.len)
      pfx.addr.b[i] = 0;
    else if (bit + 8 > pfx.len)
      pfx.addr.b[i] &= static_cast<uint8_t>(0xff << (8 - (pfx.len - bit)));
  }
  if (addr->is_v4()) {  // keep the ::ffff: marker whatever the length
    pfx.addr.b[10] = pfx.addr.b[11] = 0xff;
  }
  return pfx;
}

std::string IpPrefix::str() const {
  return addr.str() + "/" + std::to_string(v4 ? len - 96 : len);
}

}  // namespace traboule::dp

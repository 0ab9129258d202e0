// SPDX-License-Identifier: Apache-2.0
// Host-name characters (RFC 952/1123 letters, digits, hyphen; underscore, which real DNS
// names carry) and ASCII lower-casing, shared by the DNS parser and the domain matcher.
#pragma once

#include <cstdint>

namespace traboule::dp {

inline bool host_char(uint8_t c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
inline char ascii_lower(uint8_t c) noexcept {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

}  // namespace traboule::dp

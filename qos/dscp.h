// SPDX-License-Identifier: Apache-2.0
// DSCP code points by name (RFC 2474, 2597, 3246, 4594, 5865, 8622) and the per-class DSCP
// rewrite map the egress applies. Parsing accepts what the policy schema accepts and a few
// RFC aliases; formatting gives the canonical name so counters and the API read the same.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace traboule::qos {

inline constexpr uint8_t kMaxDscp = 63;

// "ef", "AF41", "cs5", "be", "default", "va", "voice-admit", "le", or a decimal 0..63.
// On failure returns nullopt and, if `error` is set, a message naming the bad text.
std::optional<uint8_t> parse_dscp(std::string_view text, std::string* error = nullptr);

// Canonical name ("be", "cs1".."cs7", "af11".."af43", "ef", "va", "le"), "" if unnamed or > 63.
std::string_view dscp_name(uint8_t dscp) noexcept;
// The canonical name, else the decimal value ("13"); "invalid(64)" above 63.
std::string format_dscp(uint8_t dscp);

// IPv4 TOS / IPv6 traffic class byte with the DSCP replaced and the ECN bits kept.
constexpr uint8_t with_dscp(uint8_t tos, uint8_t dscp) noexcept {
  return static_cast<uint8_t>(((dscp & 0x3f) << 2) | (tos & 0x03));
}
constexpr uint8_t dscp_of(uint8_t tos) noexcept {
  return static_cast<uint8_t>(tos >> 2);
}

// Class index -> DSCP written on egress, or "keep" (the policy's dscp absent, -1 in QosClass).
class DscpMap {
 public:
  static constexpr size_t kMaxClasses = 32;  // the schema's qos_classes maxItems
  static constexpr int16_t kKeep = -1;

  DscpMap() noexcept { rewrite_.fill(kKeep); }
  // "" on success, else an error naming the class index or the bad DSCP.
  std::string set(size_t cls, int16_t dscp);
  int16_t get(size_t cls) const noexcept { return cls < kMaxClasses ? rewrite_[cls] : kKeep; }
  // The TOS / traffic class byte to send for a packet of class `cls` (unknown class: kept).
  uint8_t apply(size_t cls, uint8_t tos) const noexcept {
    int16_t d = get(cls);
    return d < 0 ? tos : with_dscp(tos, static_cast<uint8_t>(d));
  }

 private:
  std::array<int16_t, kMaxClasses> rewrite_;
};

}  // namespace traboule::qos

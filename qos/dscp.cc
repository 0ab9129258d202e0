// SPDX-License-Identifier: Apache-2.0
#include "qos/dscp.h"

#include <cctype>

namespace traboule::qos {
namespace {

struct Named {
  std::string_view name;
  uint8_t value;
};

// Canonical names first: format_dscp() uses the first entry of each value.
constexpr Named kNames[] = {
    {"be", 0},      {"le", 1},    {"cs1", 8},          {"af11", 10}, {"af12", 12}, {"af13", 14},
    {"cs2", 16},    {"af21", 18}, {"af22", 20},        {"af23", 22}, {"cs3", 24},  {"af31", 26},
    {"af32", 28},   {"af33", 30}, {"cs4", 32},         {"af41", 34}, {"af42", 36}, {"af43", 38},
    {"cs5", 40},    {"va", 44},   {"ef", 46},          {"cs6", 48},  {"cs7", 56},  {"df", 0},
    {"default", 0}, {"cs0", 0},   {"voice-admit", 44},
};

constexpr std::string_view kExpected =
    "expected 0-63 or one of be, df, default, le, cs0-cs7, af11-af43, ef, va, voice-admit";

std::string shown(std::string_view text) {
  std::string s = "dscp \"";
  for (char c : text.substr(0, 40)) s += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (text.size() > 40) s += "...";
  return s + "\"";
}

}  // namespace

std::optional<uint8_t> parse_dscp(std::string_view text, std::string* error) {
  auto fail = [&](std::string_view why) -> std::optional<uint8_t> {
    if (error) *error = shown(text) + ": " + std::string(why);
    return std::nullopt;
  };
  if (text.empty()) return fail(kExpected);
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    unsigned v = 0;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return fail(kExpected);
      v = v * 10 + static_cast<unsigned>(c - '0');
      if (v > kMaxDscp) return fail("out of range 0-63");
    }
    if (text.size() > 1 && text[0] == '0') return fail("leading zero (write the plain number)");
    return static_cast<uint8_t>(v);
  }
  if (text.size() > 16) return fail(kExpected);
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Named& n : kNames)
    if (n.name == lower) return n.value;
  return fail(kExpected);
}

std::string_view dscp_name(uint8_t dscp) noexcept {
  for (const Named& n : kNames)
    if (n.value == dscp) return n.name;
  return "";
}

std::string format_dscp(uint8_t dscp) {
  if (dscp > kMaxDscp) return "invalid(" + std::to_string(dscp) + ")";
  std::string_view n = dscp_name(dscp);
  return n.empty() ? std::to_string(dscp) : std::string(n);
}

std::string DscpMap::set(size_t cls, int16_t dscp) {
  if (cls >= kMaxClasses)
    return "class " + std::to_string(cls) + ": index above the maximum " +
           std::to_string(kMaxClasses - 1);
  if (dscp != kKeep && (dscp < 0 || dscp > kMaxDscp))
    return "class " + std::to_string(cls) + " dscp " + std::to_string(dscp) +
           ": out of range 0-63 (or -1 to keep)";
  rewrite_[cls] = dscp;
  return "";
}

}  // namespace traboule::qos

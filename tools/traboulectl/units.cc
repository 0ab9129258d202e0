// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/units.h"

#include <array>
#include <cmath>
#include <cstdio>

#include "tools/traboulectl/json_util.h"

namespace traboule::ctl {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Scales `value` by powers of 1000 through `units` (first entry is the base unit).
template <size_t N>
std::string scaled(double value, const std::array<const char*, N>& units) {
  double v = value;
  size_t i = 0;
  while (std::fabs(v) >= 999.5 && i + 1 < N) {
    v /= 1000.0;
    ++i;
  }
  return format_significant(v) + " " + units[i];
}

std::string two_digits(long long v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02lld", v);
  return buf;
}

}  // namespace

std::string format_significant(double value) {
  if (!std::isfinite(value)) return value > 0 ? "inf" : (value < 0 ? "-inf" : "nan");
  if (value == 0) return "0";
  const double magnitude = std::fabs(value);
  char buf[64];
  if (magnitude >= 1e15 || magnitude < 1e-6) {
    std::snprintf(buf, sizeof buf, "%.3g", value);
    return buf;
  }
  // Digits after the point for three significant digits; at least 0.
  const int exponent = static_cast<int>(std::floor(std::log10(magnitude)));
  int decimals = 2 - exponent;
  if (decimals < 0) decimals = 0;
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string s = buf;
  // Rounding may have added a digit (9.995 → 10.00): trim to three significant again.
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string human_bits_per_second(double bps) {
  static constexpr std::array<const char*, 5> kUnits = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s",
                                                        "Tbit/s"};
  return scaled(bps, kUnits);
}

std::string human_packets_per_second(double pps) {
  static constexpr std::array<const char*, 4> kUnits = {"pkt/s", "kpkt/s", "Mpkt/s", "Gpkt/s"};
  return scaled(pps, kUnits);
}

std::string human_bytes(double bytes) {
  static constexpr std::array<const char*, 6> kUnits = {"B", "kB", "MB", "GB", "TB", "PB"};
  return scaled(bytes, kUnits);
}

std::string human_latency_us(double us) {
  if (!std::isfinite(us)) return format_significant(us) + " µs";
  const double magnitude = std::fabs(us);
  if (magnitude < 999.5) return format_significant(us) + " µs";
  if (magnitude < 999'500) return format_significant(us / 1e3) + " ms";
  return format_significant(us / 1e6) + " s";
}

std::string human_duration_s(double seconds) {
  if (!std::isfinite(seconds)) return format_significant(seconds) + " s";
  if (std::fabs(seconds) < 59.5) return format_significant(seconds) + " s";
  const bool negative = seconds < 0;
  // Past a billion years the value is nonsense; keep it readable rather than overflow.
  if (std::fabs(seconds) > 3.2e16) return format_significant(seconds) + " s";
  long long total = std::llround(std::fabs(seconds));
  const long long days = total / 86400;
  const long long hours = (total / 3600) % 24;
  const long long minutes = (total / 60) % 60;
  const long long secs = total % 60;
  std::string out = negative ? "-" : "";
  if (days > 0) return out + std::to_string(days) + "d " + two_digits(hours) + "h";
  if (hours > 0) return out + std::to_string(hours) + "h " + two_digits(minutes) + "m";
  return out + std::to_string(minutes) + "m " + two_digits(secs) + "s";
}

std::string human_percent(double percent) {
  return format_significant(percent) + " %";
}

std::string header_for_key(std::string_view key) {
  static constexpr std::array<std::string_view, 15> kSuffixes = {
      "_bps",     "_kbps", "_mbps", "_pps", "_bytes",   "_ns",  "_us",   "_ms",
      "_seconds", "_sec",  "_s",    "_pct", "_percent", "_ppm", "_ratio"};
  for (const auto suffix : kSuffixes) {
    if (key.size() > suffix.size() && ends_with(key, suffix)) {
      return std::string(key.substr(0, key.size() - suffix.size()));
    }
  }
  return std::string(key);
}

bool is_numeric_cell(const nlohmann::json& value) {
  return value.is_number();
}

std::string format_cell(std::string_view key, const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) {
      if (!out.empty()) out += ", ";
      out += item.is_structured() ? safe_dump(item) : format_cell(key, item);
    }
    return out;
  }
  if (value.is_object()) return safe_dump(value);
  if (!value.is_number()) return safe_dump(value);

  const double v = value.get<double>();
  if (ends_with(key, "_kbps")) return human_bits_per_second(v * 1e3);
  if (ends_with(key, "_mbps")) return human_bits_per_second(v * 1e6);
  if (ends_with(key, "_bps")) return human_bits_per_second(v);
  if (ends_with(key, "_pps")) return human_packets_per_second(v);
  if (ends_with(key, "_bytes") || key == "bytes" || ends_with(key, ".bytes") ||
      key.rfind("bytes_", 0) == 0) {
    return human_bytes(v);
  }
  if (ends_with(key, "_ns")) return human_latency_us(v / 1e3);
  if (ends_with(key, "_us")) return human_latency_us(v);
  if (ends_with(key, "_ms")) return human_latency_us(v * 1e3);
  if (ends_with(key, "_seconds") || ends_with(key, "_sec") || ends_with(key, "_s")) {
    return human_duration_s(v);
  }
  if (ends_with(key, "_pct") || ends_with(key, "_percent")) return human_percent(v);
  if (ends_with(key, "_ppm")) return human_percent(v / 1e4);
  if (ends_with(key, "_ratio")) return human_percent(v * 100);
  // Integers as they are (counters must stay exact); other numbers to three significant digits.
  if (value.is_number_integer()) return safe_dump(value);
  return format_significant(v);
}

}  // namespace traboule::ctl

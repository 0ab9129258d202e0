// SPDX-License-Identifier: Apache-2.0
// Human-readable numbers for traboulectl tables: rates, durations, sizes and percentages,
// chosen from the unit suffix of the field name (the codebase puts units in names: rate_bps,
// rtt_us, loss_pct), so new server fields are shown right without a CLI change.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace traboule::ctl {

// `value` with three significant digits, trailing zeros dropped: 1.2, 12.3, 3.96, 100, 1230.
std::string format_significant(double value);

std::string human_bits_per_second(double bps);     // "1.2 Mbit/s"
std::string human_packets_per_second(double pps);  // "12 kpkt/s"
std::string human_bytes(double bytes);             // "1.5 MB" (SI, as link rates are)
std::string human_latency_us(double us);           // "850 µs", "12.3 ms", "1.5 s"
std::string human_duration_s(double seconds);      // "45 s", "4m 12s", "2h 05m", "3d 04h"
std::string human_percent(double percent);         // "3.96 %"

// A JSON value as a table cell, humanised from the unit suffix of `key`:
//   _bps _kbps _mbps → bit/s; _pps → pkt/s; _bytes, bytes, bytes_* → B; _ns _us _ms → latency;
//   _s, _sec, _seconds → duration; _pct, _percent → %; _ppm → % ; _ratio → ×100 %.
// Other numbers are printed plainly, booleans as yes/no, null as "-", strings as they are,
// arrays of scalars joined with ", ", anything else as compact JSON.
std::string format_cell(std::string_view key, const nlohmann::json& value);

// The column header for a key: its unit suffix dropped ("rtt_us" → "rtt").
std::string header_for_key(std::string_view key);

// Whether a cell for this value is right-aligned (numbers are).
bool is_numeric_cell(const nlohmann::json& value);

}  // namespace traboule::ctl

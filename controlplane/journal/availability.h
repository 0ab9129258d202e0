// SPDX-License-Identifier: Apache-2.0
// Monthly availability from the event journal (docs/operations.md, "Availability"): per uplink,
// per path and for the site, the seconds available and unavailable in a calendar month, the
// number and longest of the outages, all of it also within business hours, against the target
// (99.85 %: 64.8 min in a 30-day month). Pure: the caller gives the records and the clock.
//
// What counts as unavailable: an uplink or path from its "down" record to its "up" record; the
// site while it had no usable path to the hub (kind "site"); everything while the daemon was
// not running (from its "stop" record, or from the last time it was known alive when it
// crashed, to its next "start"). Time before the first "start" in the journal is not observed
// (the box was not in service): the period starts there.
//
// Calendar months, days and business hours are in the process's local time zone (TZ): the
// daemon sets it from its config at start, before any thread runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/journal/journal.h"

namespace traboule::cp {

struct BusinessHours {
  uint8_t days = 0x3e;  // bit d: struct tm's tm_wday d (0 Sunday) is a business day: Mon-Fri
  int start_min = 8 * 60;
  int end_min = 18 * 60;  // exclusive; start_min < end_min <= 1440
};

// "mon-fri", "mon,wed,fri", "mon-sun" → days mask; nullopt when not understood.
std::optional<uint8_t> parse_days(const std::string& s);
// "08:00" → 480; nullopt when not HH:MM (00:00-24:00).
std::optional<int> parse_hhmm(const std::string& s);

struct AvailabilityOptions {
  double target_percent = 99.85;
  BusinessHours business;
  std::string timezone;  // shown in the report (the zone TZ names)
};

struct SubjectAvailability {
  std::string kind;  // "site", "uplink", "path"
  std::string name;
  double observed_s = 0, available_s = 0, unavailable_s = 0;
  uint32_t outages = 0;  // outages that began in the period (or were running at its start)
  double longest_outage_s = 0;
  double business_observed_s = 0, business_unavailable_s = 0;
  uint32_t business_outages = 0;
  double percent() const noexcept;
  double business_percent() const noexcept;
};

struct AvailabilityReport {
  int year = 0, month = 0;
  int64_t start_ms = 0, end_ms = 0;  // the month, clipped to "now"
  int64_t observed_from_ms = 0;      // first daemon start in the month (or the month start)
  double target_percent = 99.85;
  double allowed_unavailable_s = 0;  // of the whole month at the target
  std::string timezone;
  BusinessHours business;
  std::vector<SubjectAvailability> subjects;  // site first, then uplinks, then paths
};

// "2026-12" → {2026, 12}; nullopt otherwise.
std::optional<std::pair<int, int>> parse_month(const std::string& s);

// Records must be oldest first (Journal::read()).
AvailabilityReport compute_availability(const std::vector<JournalEvent>& events, int year,
                                        int month, int64_t now_ms, const AvailabilityOptions& opt);

nlohmann::json to_json(const AvailabilityReport& r);
std::string to_csv(const AvailabilityReport& r);
// The CSV of a report's JSON (what GET /report/availability returns): one row per subject.
std::string availability_csv(const nlohmann::json& report);

// Local time helpers (process TZ): the start of a calendar month in ms since the epoch.
int64_t local_month_start_ms(int year, int month);
// Seconds of [a_ms, b_ms) inside business hours.
double business_seconds(int64_t a_ms, int64_t b_ms, const BusinessHours& bh);

}  // namespace traboule::cp

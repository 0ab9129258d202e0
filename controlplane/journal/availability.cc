// SPDX-License-Identifier: Apache-2.0
#include "controlplane/journal/availability.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

namespace traboule::cp {
namespace {

using json = nlohmann::json;

constexpr const char* kDayNames[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

int day_index(const std::string& s) {
  for (int i = 0; i < 7; ++i)
    if (s == kDayNames[i]) return i;
  return -1;
}

int64_t local_ms(int year, int mon0, int mday, int minute) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon0;
  tm.tm_mday = mday;
  tm.tm_hour = minute / 60;
  tm.tm_min = minute % 60;
  tm.tm_isdst = -1;  // let the zone say (DST)
  return static_cast<int64_t>(std::mktime(&tm)) * 1000;
}

// One subject's timeline while the report is built.
struct Track {
  std::string kind, name;
  bool down = false;  // unavailable now
  int64_t since_ms = 0;
  SubjectAvailability out;
};

}  // namespace

std::optional<uint8_t> parse_days(const std::string& text) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c)))
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s.empty()) return std::nullopt;
  uint8_t mask = 0;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    const size_t dash = part.find('-');
    if (dash == std::string::npos) {
      const int d = day_index(part);
      if (d < 0) return std::nullopt;
      mask |= static_cast<uint8_t>(1u << d);
      continue;
    }
    const int a = day_index(part.substr(0, dash)), b = day_index(part.substr(dash + 1));
    if (a < 0 || b < 0) return std::nullopt;
    for (int d = a;; d = (d + 1) % 7) {  // "fri-mon" wraps over the weekend
      mask |= static_cast<uint8_t>(1u << d);
      if (d == b) break;
    }
  }
  return mask;
}

std::optional<int> parse_hhmm(const std::string& s) {
  if (s.size() != 5 || s[2] != ':' || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])) ||
      !std::isdigit(static_cast<unsigned char>(s[3])) ||
      !std::isdigit(static_cast<unsigned char>(s[4])))
    return std::nullopt;
  const int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

std::optional<std::pair<int, int>> parse_month(const std::string& s) {
  int y = 0, m = 0;
  char extra = 0;
  if (s.size() != 7 || std::sscanf(s.c_str(), "%4d-%2d%c", &y, &m, &extra) != 2)
    return std::nullopt;
  if (y < 1970 || y > 9999 || m < 1 || m > 12) return std::nullopt;
  return std::make_pair(y, m);
}

double SubjectAvailability::percent() const noexcept {
  return observed_s > 0 ? 100.0 * available_s / observed_s : 100.0;
}

double SubjectAvailability::business_percent() const noexcept {
  return business_observed_s > 0
             ? 100.0 * (business_observed_s - business_unavailable_s) / business_observed_s
             : 100.0;
}

int64_t local_month_start_ms(int year, int month) {
  return local_ms(year, month - 1, 1, 0);
}

double business_seconds(int64_t a_ms, int64_t b_ms, const BusinessHours& bh) {
  if (b_ms <= a_ms || bh.days == 0 || bh.end_min <= bh.start_min) return 0;
  double total = 0;
  // Walk the local days that [a, b) touches (at most a month and a bit: 40 days of margin).
  std::time_t t = static_cast<std::time_t>(a_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  int year = tm.tm_year + 1900, mon0 = tm.tm_mon, mday = tm.tm_mday;
  for (int i = 0; i < 400; ++i) {
    const int64_t day_start = local_ms(year, mon0, mday, 0);
    if (day_start >= b_ms) break;
    std::tm d{};
    std::time_t ds = static_cast<std::time_t>(day_start / 1000);
    localtime_r(&ds, &d);
    if (bh.days & (1u << d.tm_wday)) {
      const int64_t w0 = local_ms(year, mon0, mday, bh.start_min);
      const int64_t w1 = bh.end_min >= 1440 ? local_ms(year, mon0, mday + 1, 0)
                                            : local_ms(year, mon0, mday, bh.end_min);
      const int64_t lo = std::max(w0, a_ms), hi = std::min(w1, b_ms);
      if (hi > lo) total += static_cast<double>(hi - lo) / 1000.0;
    }
    ++mday;  // mktime normalises the 32nd into the next month
    std::tm n{};
    std::time_t next = static_cast<std::time_t>(local_ms(year, mon0, mday, 0) / 1000);
    localtime_r(&next, &n);
    year = n.tm_year + 1900;
    mon0 = n.tm_mon;
    mday = n.tm_mday;
  }
  return total;
}

namespace {

// The report's frame: the month, the observed period in it and the target.
AvailabilityReport report_frame(const std::vector<JournalEvent>& events, int year, int month,
                                int64_t now_ms, const AvailabilityOptions& opt) {
  AvailabilityReport r;
  r.year = year;
  r.month = month;
  r.target_percent = opt.target_percent;
  r.timezone = opt.timezone;
  r.business = opt.business;
  const int64_t month_start = local_month_start_ms(year, month);
  const int64_t month_end =
      month == 12 ? local_month_start_ms(year + 1, 1) : local_month_start_ms(year, month + 1);
  r.start_ms = month_start;
  r.end_ms = std::min(month_end, std::max(month_start, now_ms));
  r.allowed_unavailable_s =
      static_cast<double>(month_end - month_start) / 1000.0 * (100.0 - opt.target_percent) / 100.0;

  // The first daemon start ever: before it the box was not in service.
  int64_t first_start = -1;
  for (const JournalEvent& e : events)
    if (e.kind == "daemon" && e.state == "start") {
      first_start = e.unix_ms;
      break;
    }
  r.observed_from_ms = first_start < 0 ? r.end_ms : std::clamp(first_start, r.start_ms, r.end_ms);
  return r;
}

// Every subject's timeline over the observed period [lo, hi), fed the journal in order.
class Timelines {
 public:
  Timelines(int64_t lo, int64_t hi, const BusinessHours& business)
      : lo_(lo), hi_(hi), business_(business) {
    track("site", "hub");  // the site reaching its hub: always reported
  }

  void feed(const JournalEvent& e) {
    if (e.kind == "daemon") {
      if (e.state == "stop") {
        daemon_down_ = true;
        daemon_down_since_ = e.unix_ms;
      } else if (e.state == "start") {
        daemon_start(e);
      }
      return;
    }
    if (e.kind != "uplink" && e.kind != "path" && e.kind != "site") return;
    if (e.state != "down" && e.state != "up") return;
    Track& t = track(e.kind, e.subject);
    if (e.state == "down" && !t.down) {
      t.down = true;
      t.since_ms = e.unix_ms;
    } else if (e.state == "up" && t.down) {
      close(t.out, t.since_ms, e.unix_ms);
      t.down = false;
    }
  }

  // The subjects, outages still running at now_ms closed, site first, then uplinks, then paths.
  std::vector<SubjectAvailability> finish(int64_t now_ms) {
    const int64_t until = std::max(hi_, now_ms);  // still down now: the outage runs on
    for (auto& [k, t] : tracks_) {
      if (daemon_down_) {
        close(t.out, t.down ? std::min(t.since_ms, daemon_down_since_) : daemon_down_since_, until);
      } else if (t.down) {
        close(t.out, t.since_ms, until);
      }
      SubjectAvailability& s = t.out;
      s.observed_s = static_cast<double>(hi_ - lo_) / 1000.0;
      s.unavailable_s = std::min(s.unavailable_s, s.observed_s);
      s.available_s = s.observed_s - s.unavailable_s;
      s.business_observed_s = business_seconds(lo_, hi_, business_);
      s.business_unavailable_s = std::min(s.business_unavailable_s, s.business_observed_s);
    }
    auto order = [](const std::string& k) { return k == "site" ? 0 : k == "uplink" ? 1 : 2; };
    std::vector<SubjectAvailability> subjects;
    for (auto& [k, t] : tracks_) subjects.push_back(t.out);
    std::stable_sort(subjects.begin(), subjects.end(),
                     [&](const SubjectAvailability& a, const SubjectAvailability& b) {
                       return order(a.kind) < order(b.kind);
                     });
    return subjects;
  }

 private:
  void daemon_start(const JournalEvent& e) {
    int64_t from = -1;
    if (daemon_down_) {
      from = daemon_down_since_;
    } else if (e.extra.contains("last_alive_ms") && e.extra["last_alive_ms"].is_number_integer()) {
      from = e.extra["last_alive_ms"].get<int64_t>();  // it crashed: down since then
    }
    if (from >= 0 && from < e.unix_ms) daemon_gap(from, e.unix_ms);
    // A fresh daemon starts every subject over (what was down is re-measured).
    for (auto& [k, t] : tracks_)
      if (t.down) {
        close(t.out, t.since_ms, e.unix_ms);
        t.down = false;
      }
    daemon_down_ = false;
  }

  // An outage [a, b) of one subject, clipped to the observed period.
  void close(SubjectAvailability& s, int64_t a, int64_t b) const {
    const int64_t ca = std::max(a, lo_), cb = std::min(b, hi_);
    if (cb <= ca) return;
    const double d = static_cast<double>(cb - ca) / 1000.0;
    s.unavailable_s += d;
    ++s.outages;
    s.longest_outage_s = std::max(s.longest_outage_s, static_cast<double>(b - a) / 1000.0);
    const double bd = business_seconds(ca, cb, business_);
    s.business_unavailable_s += bd;
    if (bd > 0) ++s.business_outages;
  }

  Track& track(const std::string& kind, const std::string& name) {
    auto [it, fresh] = tracks_.try_emplace(kind + "\n" + name);
    if (fresh) {
      it->second.kind = kind;
      it->second.name = name;
      it->second.out.kind = kind;
      it->second.out.name = name;
    }
    return it->second;
  }

  // The daemon down from a to b: every subject known so far was unavailable then (an outage of
  // its own unless it was already down).
  void daemon_gap(int64_t a, int64_t b) {
    for (auto& [k, t] : tracks_) {
      if (t.down) {
        t.since_ms = std::min(t.since_ms, a);  // its outage runs on through the gap
        continue;
      }
      close(t.out, a, b);
    }
  }

  const int64_t lo_, hi_;
  const BusinessHours business_;
  std::map<std::string, Track> tracks_;  // "kind\nname"
  bool daemon_down_ = false;
  int64_t daemon_down_since_ = 0;
};

}  // namespace

AvailabilityReport compute_availability(const std::vector<JournalEvent>& events, int year,
                                        int month, int64_t now_ms, const AvailabilityOptions& opt) {
  AvailabilityReport r = report_frame(events, year, month, now_ms, opt);
  Timelines timelines(r.observed_from_ms, r.end_ms, opt.business);
  // Every record, also those after the period: an outage running past its end is clipped to
  // it but its longest duration is the outage's own.
  for (const JournalEvent& e : events) {
    if (e.unix_ms > now_ms) break;
    timelines.feed(e);
  }
  r.subjects = timelines.finish(now_ms);
  return r;
}

namespace {

std::string iso_local(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

std::string days_text(uint8_t mask) {
  std::string s;
  for (int d = 0; d < 7; ++d)
    if (mask & (1u << d)) s += (s.empty() ? "" : ",") + std::string(kDayNames[d]);
  return s;
}

std::string hhmm(int m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d", m / 60 % 100, m % 60);
  return buf;
}

double round3(double v) {
  return static_cast<double>(static_cast<int64_t>(v * 1000.0 + (v < 0 ? -0.5 : 0.5))) / 1000.0;
}

}  // namespace

json to_json(const AvailabilityReport& r) {
  char month[32];
  std::snprintf(month, sizeof month, "%04d-%02d", r.year, r.month);
  json subjects = json::array();
  for (const SubjectAvailability& s : r.subjects)
    subjects.push_back({{"kind", s.kind},
                        {"name", s.name},
                        {"observed_s", round3(s.observed_s)},
                        {"available_s", round3(s.available_s)},
                        {"unavailable_s", round3(s.unavailable_s)},
                        {"outages", s.outages},
                        {"longest_outage_s", round3(s.longest_outage_s)},
                        {"availability_percent", round3(s.percent())},
                        {"meets_target", s.unavailable_s <= r.allowed_unavailable_s},
                        {"business_hours",
                         {{"observed_s", round3(s.business_observed_s)},
                          {"unavailable_s", round3(s.business_unavailable_s)},
                          {"outages", s.business_outages},
                          {"availability_percent", round3(s.business_percent())}}}});
  return {{"month", month},
          {"from", iso_local(r.start_ms)},
          {"to", iso_local(r.end_ms)},
          {"observed_from", iso_local(r.observed_from_ms)},
          {"timezone", r.timezone},
          {"target_percent", r.target_percent},
          {"allowed_unavailable_s", round3(r.allowed_unavailable_s)},
          {"business_hours",
           {{"days", days_text(r.business.days)},
            {"start", hhmm(r.business.start_min)},
            {"end", hhmm(r.business.end_min)}}},
          {"subjects", subjects}};
}

std::string to_csv(const AvailabilityReport& r) {
  return availability_csv(to_json(r));
}

std::string availability_csv(const json& report) {
  std::ostringstream o;
  o << "month,kind,name,observed_s,available_s,unavailable_s,outages,longest_outage_s,"
       "availability_percent,target_percent,meets_target,business_observed_s,"
       "business_unavailable_s,business_outages,business_availability_percent\n";
  if (!report.is_object() || !report.contains("subjects") || !report["subjects"].is_array())
    return o.str();
  auto text = [](const json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
    if (v.is_number()) return v.dump();
    return "";
  };
  auto field = [&](const json& obj, const char* key) {
    return obj.is_object() && obj.contains(key) ? text(obj[key]) : std::string();
  };
  // Quoted when it holds a separator, a quote or a line break (RFC 4180).
  auto cell = [](const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  const std::string month = field(report, "month"), target = field(report, "target_percent");
  for (const json& s : report["subjects"]) {
    const json bh = s.is_object() && s.contains("business_hours") ? s["business_hours"] : json();
    o << cell(month) << ',' << cell(field(s, "kind")) << ',' << cell(field(s, "name")) << ','
      << field(s, "observed_s") << ',' << field(s, "available_s") << ','
      << field(s, "unavailable_s") << ',' << field(s, "outages") << ','
      << field(s, "longest_outage_s") << ',' << field(s, "availability_percent") << ',' << target
      << ',' << field(s, "meets_target") << ',' << field(bh, "observed_s") << ','
      << field(bh, "unavailable_s") << ',' << field(bh, "outages") << ','
      << field(bh, "availability_percent") << '\n';
  }
  return o.str();
}

}  // namespace traboule::cp

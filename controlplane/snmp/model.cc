// SPDX-License-Identifier: Apache-2.0
#include "controlplane/snmp/model.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>

namespace traboule::snmp {
namespace {

using nlohmann::json;

constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

// doc[a][b]... or nullptr: the API's documents are read defensively, a missing level is absent.
const json* at(const json& doc, std::initializer_list<const char*> keys) {
  const json* cur = &doc;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    const auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

// A finite, non-negative number, or nullopt (null, strings, booleans, negatives).
std::optional<double> non_negative(const json* v) {
  if (v == nullptr || !v->is_number()) return std::nullopt;
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

uint32_t round_u32(double d) {
  return d >= static_cast<double>(kU32Max) ? kU32Max : static_cast<uint32_t>(std::llround(d));
}

std::optional<uint32_t> seconds_u32(const json* v) {
  const auto d = non_negative(v);
  if (!d) return std::nullopt;
  return round_u32(*d);
}

std::optional<std::string> string_of(const json* v) {
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<bool> bool_of(const json* v) {
  if (v == nullptr || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

// Problems quote what the API sent, shortened and printable (it goes to a log).
std::string shown(const json& v) {
  return clean_text(v.dump(-1, ' ', false, json::error_handler_t::replace), 80);
}

UplinkRole role_of(const json* v) {
  const auto s = string_of(v);
  if (s == "primary") return UplinkRole::kPrimary;
  if (s == "backup") return UplinkRole::kBackup;
  return UplinkRole::kOther;
}

PathState path_state_of(const json* v) {
  const auto s = string_of(v);
  if (s == "up") return PathState::kUp;
  if (s == "down") return PathState::kDown;
  return PathState::kUnknown;
}

// One path of an uplink's "paths" array, or nullopt (with a problem) when it cannot be indexed.
std::optional<PathRow> map_path(const json& p, const UplinkRow& up, Problems& problems) {
  const auto name = string_of(at(p, {"name"}));
  const auto parts = name ? split_path_name(*name) : std::nullopt;
  if (!parts || parts->first != up.name || !valid_name(&p["name"]) ||
      parts->second.size() > kMaxNameBytes) {
    problems.push_back("uplink " + up.name + ": path without a usable name: " + shown(p));
    return std::nullopt;
  }
  PathRow r;
  r.uplink_index = up.index;
  r.uplink = up.name;
  r.target = parts->second;
  r.name = *name;
  r.state = path_state_of(at(p, {"state"}));
  r.rtt_us = us_u32(at(p, {"rtt_us", "avg"}));
  r.rtt_p99_us = us_u32(at(p, {"rtt_us", "p99"}));
  r.jitter_us = us_u32(at(p, {"jitter_us", "rtt"}));
  r.loss_ppm = ratio_ppm(at(p, {"window", "loss_ratio"}));
  r.sent = as_u64(at(p, {"totals", "sent"}));
  r.received = as_u64(at(p, {"totals", "received"}));
  return r;
}

// The uplink's own rows (IF-MIB and TRABOULE-MIB), without its paths.
std::pair<IfRow, UplinkRow> map_one_uplink(const json& u, uint16_t port) {
  UplinkRow up;
  up.index = kIfIndexBase + port;
  up.port = port;
  up.name = u["name"].get<std::string>();
  up.kind = clean_text(string_of(at(u, {"kind"})).value_or(""), kMaxNameBytes);
  up.role = role_of(at(u, {"role"}));
  const auto link = bool_of(at(u, {"link_up"}));
  const bool gw = bool_of(at(u, {"gateway_resolved"})).value_or(false);
  up.state = link.value_or(false) ? (gw ? UplinkState::kUsable : UplinkState::kWaiting)
                                  : UplinkState::kDown;
  IfRow i;
  i.if_index = up.index;
  i.name = up.name;
  i.descr = "Traboule uplink " + up.name + " (DPDK port " + std::to_string(port) + ")";
  const std::string role = string_of(at(u, {"role"})).value_or("");
  i.alias = clean_text(up.kind + (up.kind.empty() || role.empty() ? "" : " ") + role, 64);
  i.oper = !link ? OperStatus::kUnknown : (*link ? OperStatus::kUp : OperStatus::kDown);
  i.speed_bps = as_u64(at(u, {"down_bps"})).value_or(0);
  // The line's figures (the driver's, probes and the box's own packets included), as an NMS
  // expects of IF-MIB; GET /counters' port.<name>.* replace them when polled together.
  i.in_octets = as_u64(at(u, {"port_rx_bytes"}));
  i.out_octets = as_u64(at(u, {"port_tx_bytes"}));
  i.in_pkts = as_u64(at(u, {"port_rx_packets"}));
  i.out_pkts = as_u64(at(u, {"port_tx_packets"}));
  return {i, up};
}

// Up when a path to the hub (a path without a breakout "target") is up, down when all are down.
PathState hub_state(const json& u, const std::vector<PathRow>& rows, size_t first) {
  bool any_down = false;
  const json* paths = at(u, {"paths"});
  for (size_t k = first; k < rows.size(); ++k) {
    bool breakout = false;
    if (paths != nullptr && paths->is_array())
      for (const json& p : *paths)
        if (p.is_object() && p.value("name", json()) == rows[k].name && p.contains("target"))
          breakout = true;
    if (breakout) continue;
    if (rows[k].state == PathState::kUp) return PathState::kUp;
    if (rows[k].state == PathState::kDown) any_down = true;
  }
  return any_down ? PathState::kDown : PathState::kUnknown;
}

std::optional<AvailKind> avail_kind_of(const json* v) {
  const auto s = string_of(v);
  if (s == "site") return AvailKind::kSite;
  if (s == "uplink") return AvailKind::kUplink;
  if (s == "path") return AvailKind::kPath;
  return std::nullopt;
}

// "tx.port12.sent" → 12; "worker3.loops" → {3, "loops"}.
std::optional<uint32_t> number_in(std::string_view s) {
  uint32_t n = 0;
  if (s.empty() || s.size() > 5) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return n;
}

}  // namespace

std::optional<uint64_t> as_u64(const json* v) {
  if (v == nullptr || !v->is_number()) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer()) {
    const int64_t i = v->get<int64_t>();
    return i < 0 ? std::nullopt : std::optional<uint64_t>(static_cast<uint64_t>(i));
  }
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < 0) return std::nullopt;
  if (d >= 18446744073709551615.0) return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(d);
}

std::optional<uint32_t> us_u32(const json* v) {
  const auto d = non_negative(v);
  if (!d) return std::nullopt;
  return round_u32(*d);
}

std::optional<uint32_t> ratio_ppm(const json* v) {
  const auto d = non_negative(v);
  if (!d || *d > 1.0) return std::nullopt;  // a ratio above 1 is not a loss figure
  return round_u32(*d * 1e6);
}

std::optional<uint32_t> percent_milli(const json* v) {
  const auto d = non_negative(v);
  if (!d || *d > 100.0) return std::nullopt;
  return round_u32(*d * 1000.0);
}

uint32_t bps_to_mbps(uint64_t bps) {
  const uint64_t m = (bps + 500'000) / 1'000'000;
  return bps > std::numeric_limits<uint64_t>::max() - 500'000 || m > kU32Max
             ? kU32Max
             : static_cast<uint32_t>(m);
}

uint32_t bps_gauge(uint64_t bps) {
  return bps > kU32Max ? kU32Max : static_cast<uint32_t>(bps);
}

std::string clean_text(const std::string& s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    // The length of a valid UTF-8 sequence starting here, 0 when it is not one.
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    for (size_t k = 1; k < len; ++k)
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) len = 0;
    std::string piece = len == 0 ? "?" : s.substr(i, len);
    if (len == 1 && (c < 0x20 || c == 0x7f)) piece = "?";
    if (out.size() + piece.size() > max) break;
    out += piece;
    i += len == 0 ? 1 : len;
  }
  return out;
}

bool valid_name(const json* v) {
  if (v == nullptr || !v->is_string()) return false;
  const auto& s = v->get_ref<const std::string&>();
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::optional<std::pair<std::string, std::string>> split_path_name(const std::string& name) {
  const size_t slash = name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= name.size()) return std::nullopt;
  return std::make_pair(name.substr(0, slash), name.substr(slash + 1));
}

bool RateLimit::allow(double now_s, uint64_t& suppressed) {
  if (last_s_ && now_s - *last_s_ < period_s_ && now_s >= *last_s_) {
    ++held_;
    return false;
  }
  last_s_ = now_s;
  suppressed = held_;
  held_ = 0;
  return true;
}

std::optional<UplinksView> map_uplinks(const json& doc, Problems& problems) {
  const json* list = at(doc, {"uplinks"});
  if (list == nullptr || !list->is_array()) return std::nullopt;
  UplinksView view;
  std::set<std::string> names;
  std::set<uint64_t> ports;
  for (const json& u : *list) {
    const auto port = as_u64(at(u, {"port"}));
    if (!u.is_object() || !valid_name(at(u, {"name"})) || !port || *port > 65535 ||
        !names.insert(u["name"].get<std::string>()).second || !ports.insert(*port).second) {
      problems.push_back("uplink skipped (no unique name and port 0-65535): " + shown(u));
      continue;
    }
    auto [ifrow, up] = map_one_uplink(u, static_cast<uint16_t>(*port));
    const size_t first = view.paths.size();
    std::set<std::string> targets;
    if (const json* paths = at(u, {"paths"}); paths != nullptr && paths->is_array()) {
      for (const json& p : *paths) {
        auto row = map_path(p, up, problems);
        if (row && targets.insert(row->target).second) view.paths.push_back(std::move(*row));
      }
    }
    up.hub = hub_state(u, view.paths, first);
    view.ifs.push_back(std::move(ifrow));
    view.uplinks.push_back(std::move(up));
  }
  return view;
}

std::optional<std::vector<SlaRow>> map_sla(const json& doc,
                                           const std::map<std::string, int32_t>& index_of,
                                           Problems& problems) {
  const json* list = at(doc, {"uplinks"});
  if (list == nullptr || !list->is_array()) return std::nullopt;
  std::vector<SlaRow> rows;
  std::set<std::pair<int32_t, std::string>> seen;
  for (const json& u : *list) {
    const auto name = string_of(at(u, {"uplink"}));
    const json* classes = at(u, {"classes"});
    const auto it = name ? index_of.find(*name) : index_of.end();
    if (it == index_of.end() || classes == nullptr || !classes->is_object()) {
      problems.push_back("SLA state of an unknown uplink skipped: " + shown(u));
      continue;
    }
    for (const auto& [cls, state] : classes->items()) {
      const json key = cls;
      const auto ok = bool_of(at(state, {"ok"}));
      if (!valid_name(&key) || !ok || !seen.insert({it->second, cls}).second) {
        problems.push_back("uplink " + *name + ": SLA class skipped: " + shown(key));
        continue;
      }
      rows.push_back(
          {it->second, cls, clean_text(string_of(at(state, {"reason"})).value_or("")), *ok});
    }
  }
  return rows;
}

std::optional<AvailView> map_availability(const json& doc, Problems& problems) {
  const json* subjects = at(doc, {"subjects"});
  if (subjects == nullptr || !subjects->is_array()) return std::nullopt;
  AvailView view;
  view.month = clean_text(string_of(at(doc, {"month"})).value_or(""), 7);
  view.target_milli = percent_milli(at(doc, {"target_percent"}));
  std::set<std::pair<AvailKind, std::string>> seen;
  for (const json& s : *subjects) {
    const auto kind = avail_kind_of(at(s, {"kind"}));
    if (!kind || !valid_name(at(s, {"name"})) ||
        !seen.insert({*kind, s["name"].get<std::string>()}).second) {
      problems.push_back("availability subject skipped: " + shown(s));
      continue;
    }
    AvailRow r;
    r.kind = *kind;
    r.name = s["name"].get<std::string>();
    r.observed_s = seconds_u32(at(s, {"observed_s"})).value_or(0);
    r.unavailable_s = seconds_u32(at(s, {"unavailable_s"})).value_or(0);
    r.outages = seconds_u32(at(s, {"outages"})).value_or(0);
    r.longest_outage_s = seconds_u32(at(s, {"longest_outage_s"})).value_or(0);
    r.percent_milli = percent_milli(at(s, {"availability_percent"}));
    r.business_percent_milli = percent_milli(at(s, {"business_hours", "availability_percent"}));
    r.meets_target = bool_of(at(s, {"meets_target"})).value_or(false);
    view.rows.push_back(std::move(r));
  }
  return view;
}

std::optional<CountersView> map_counters(const json& doc, Problems& problems) {
  const json* counters = at(doc, {"counters"});
  if (counters == nullptr || !counters->is_object()) return std::nullopt;
  CountersView view;
  std::map<uint32_t, WorkerRow> workers;
  for (const auto& [key, value] : counters->items()) {
    const std::string_view k = key;
    if (k.starts_with("port.")) {  // port.<name>.<counter>
      const size_t dot = k.rfind('.');
      const std::string name(k.substr(5, dot - 5));
      const std::string_view what = k.substr(dot + 1);
      const json name_json = name;
      if (dot <= 5 || !valid_name(&name_json)) {
        problems.push_back("port counter with a bad name ignored: " + clean_text(key, 64));
        continue;
      }
      PortCounters& c = view.ports[name];
      const auto v = as_u64(&value);
      if (what == "rx_bytes") c.in_octets = v;
      if (what == "rx_packets") c.in_pkts = v;
      if (what == "tx_bytes") c.out_octets = v;
      if (what == "tx_packets") c.out_pkts = v;
      if (what == "rx_errors") c.in_errors = v;
      if (what == "tx_errors") c.out_errors = v;
      if ((what == "rx_missed" || what == "rx_nombuf") && v)
        c.in_discards = c.in_discards.value_or(0) + *v;
      continue;
    }
    if (!k.starts_with("worker")) continue;
    const size_t dot = k.find('.');
    const auto id = dot == std::string_view::npos ? std::nullopt : number_in(k.substr(6, dot - 6));
    if (!id || *id >= 1024) {
      problems.push_back("counter with a bad worker id ignored: " + clean_text(key, 64));
      continue;
    }
    WorkerRow& w = workers[*id];
    w.index = static_cast<int32_t>(*id) + 1;
    const std::string_view field = k.substr(dot + 1);
    if (field == "loops") w.loops = as_u64(&value);
    if (field == "busy_loops") w.busy_loops = as_u64(&value);
    if (field == "sleeps") w.sleeps = as_u64(&value);
    if (field == "rx_packets") w.rx_packets = as_u64(&value);
  }
  for (auto& [id, w] : workers) view.workers.push_back(w);
  return view;
}

std::optional<std::vector<IfRow>> map_lan_ports(const json& doc, Problems& problems) {
  const json* list = at(doc, {"daemon", "ports"});
  if (list == nullptr || !list->is_array()) return std::nullopt;
  std::vector<IfRow> out;
  for (const json& p : *list) {
    if (bool_of(at(p, {"lan"})) != true) continue;
    const auto port = as_u64(at(p, {"port"}));
    if (!valid_name(at(p, {"name"})) || !port || *port > 65535) {
      problems.push_back("LAN port skipped (no name and port 0-65535): " + shown(p));
      continue;
    }
    IfRow r;
    r.if_index = kIfIndexBase + static_cast<int32_t>(*port);
    r.name = p["name"].get<std::string>();
    r.descr = "Traboule LAN " + r.name + " (DPDK port " + std::to_string(*port) + ")";
    r.alias = "lan";
    const auto link = bool_of(at(p, {"link_up"}));
    r.oper = !link ? OperStatus::kUnknown : (*link ? OperStatus::kUp : OperStatus::kDown);
    out.push_back(std::move(r));
  }
  return out;
}

void apply_port_counters(IfRow& row, const std::map<std::string, PortCounters>& ports) {
  const auto it = ports.find(row.name);
  if (it == ports.end()) return;
  const PortCounters& c = it->second;
  row.in_octets = c.in_octets;
  row.in_pkts = c.in_pkts;
  row.out_octets = c.out_octets;
  row.out_pkts = c.out_pkts;
  row.in_errors = c.in_errors;
  row.out_errors = c.out_errors;
  row.in_discards = c.in_discards;
}

}  // namespace traboule::snmp

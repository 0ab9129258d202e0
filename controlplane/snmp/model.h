// SPDX-License-Identifier: Apache-2.0
// The pure half of traboule-snmp: what the daemon's API answers (nlohmann::json) becomes as SNMP
// rows (IF-MIB, TRABOULE-MIB) and which journal records become notifications. No net-snmp here:
// agent.cc turns these structs into registrations, so this file is unit tested on its own
// (tests/unit/snmp_model_test.cc) with hostile input. docs/snmp.md documents every mapping.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace traboule::snmp {

// ifIndex of a data-plane port: stable across restarts as long as the config keeps its ports.
inline constexpr int32_t kIfIndexBase = 1000;
// Longest name we accept from the API (uplink, path target, SLA class, subject): longer is
// refused, not cut, so two rows can never collide on a shortened index.
inline constexpr size_t kMaxNameBytes = 64;
inline constexpr size_t kMaxTextBytes = 255;  // SnmpAdminString

// --- value scaling (all saturating: a hostile 1e300 reads as the type's maximum, never UB).
std::optional<uint64_t> as_u64(const nlohmann::json* v);
std::optional<uint32_t> us_u32(const nlohmann::json* v);         // microseconds, rounded
std::optional<uint32_t> ratio_ppm(const nlohmann::json* v);      // 0..1 → 0..1'000'000
std::optional<uint32_t> percent_milli(const nlohmann::json* v);  // 99.85 → 99850 (0..100000)
uint32_t bps_to_mbps(uint64_t bps);                              // ifHighSpeed, rounded
uint32_t bps_gauge(uint64_t bps);                                // ifSpeed, capped at 2^32-1
// Printable, UTF-8-safe text at most `max` bytes (control characters become '?').
std::string clean_text(const std::string& s, size_t max = kMaxTextBytes);
// A name usable as a table index: 1..kMaxNameBytes printable ASCII without spaces.
bool valid_name(const nlohmann::json* v);

// --- IF-MIB: one row per data-plane port.
enum class OperStatus : int32_t { kUp = 1, kDown = 2, kUnknown = 4 };
struct IfRow {
  int32_t if_index = 0;
  std::string name, descr, alias;
  OperStatus oper = OperStatus::kUnknown;
  uint64_t speed_bps = 0;  // 0: unknown
  // Absent (noSuchInstance) when the daemon does not report it.
  std::optional<uint64_t> in_octets, out_octets, in_pkts, out_pkts;
  std::optional<uint64_t> in_errors, out_errors, in_discards;
};

// --- TRABOULE-MIB rows.
enum class UplinkRole : int32_t { kPrimary = 1, kBackup = 2, kOther = 3 };
enum class UplinkState : int32_t { kUsable = 1, kWaiting = 2, kDown = 3 };
enum class PathState : int32_t { kUnknown = 1, kUp = 2, kDown = 3 };
struct PathRow {
  int32_t uplink_index = 0;          // ifIndex of its uplink
  std::string uplink, target, name;  // name = "uplink/target" as the daemon says
  PathState state = PathState::kUnknown;
  std::optional<uint32_t> rtt_us, rtt_p99_us, jitter_us, loss_ppm;
  std::optional<uint64_t> sent, received;
};
struct UplinkRow {
  int32_t index = 0;  // == its ifIndex
  uint16_t port = 0;
  std::string name, kind;
  UplinkRole role = UplinkRole::kOther;
  UplinkState state = UplinkState::kDown;
  PathState hub = PathState::kUnknown;  // its path(s) to a hub: up if one is up
};
struct SlaRow {
  int32_t uplink_index = 0;
  std::string sla_class, reason;
  bool met = false;
};
enum class AvailKind : int32_t { kSite = 1, kUplink = 2, kPath = 3 };
struct AvailRow {
  AvailKind kind = AvailKind::kSite;
  std::string name;
  uint32_t observed_s = 0, unavailable_s = 0, outages = 0, longest_outage_s = 0;
  std::optional<uint32_t> percent_milli, business_percent_milli;
  bool meets_target = false;
};
struct WorkerRow {
  int32_t index = 0;  // worker id + 1 (SNMP indexes start at 1)
  std::optional<uint64_t> loops, busy_loops, sleeps, rx_packets;
};

// What one mapping call found wrong (a row skipped, a field ignored): logged, counted, never fatal.
using Problems = std::vector<std::string>;

struct UplinksView {
  std::vector<IfRow> ifs;  // uplinks only; the LAN comes from the counters
  std::vector<UplinkRow> uplinks;
  std::vector<PathRow> paths;
};
// GET /uplinks. nullopt when the document is not {uplinks: [...]}: the caller keeps its last one.
std::optional<UplinksView> map_uplinks(const nlohmann::json& doc, Problems& problems);
// GET /paths: SLA class state per uplink. Uplinks not in `index_of` are skipped.
std::optional<std::vector<SlaRow>> map_sla(const nlohmann::json& doc,
                                           const std::map<std::string, int32_t>& index_of,
                                           Problems& problems);
struct AvailView {
  std::string month;
  std::optional<uint32_t> target_milli;
  std::vector<AvailRow> rows;
};
// GET /report/availability?month=...
std::optional<AvailView> map_availability(const nlohmann::json& doc, Problems& problems);
// A port's driver counters (GET /counters' port.<name>.*), for its IF-MIB row.
struct PortCounters {
  std::optional<uint64_t> in_octets, in_pkts, out_octets, out_pkts;
  std::optional<uint64_t> in_errors, out_errors, in_discards;  // discards: rx_missed + rx_nombuf
};
struct CountersView {
  std::map<std::string, PortCounters> ports;  // by port name ("lan", "fiber", ...)
  std::vector<WorkerRow> workers;
};
// GET /counters: every port's driver counters and the workers' loads.
std::optional<CountersView> map_counters(const nlohmann::json& doc, Problems& problems);
// GET /status: the LAN port(s) of daemon.ports[] (lan: true) as IF-MIB rows, without counters.
std::optional<std::vector<IfRow>> map_lan_ports(const nlohmann::json& doc, Problems& problems);
// Copies a port's counters into its row (names match); a port without any keeps them absent.
void apply_port_counters(IfRow& row, const std::map<std::string, PortCounters>& ports);

// --- notifications.
enum class TrapKind { kPathDown, kPathUp, kIncident, kIncidentCleared };
struct TrapDecision {
  TrapKind kind = TrapKind::kIncident;
  std::string incident;  // P0 / P1 (kIncident); the class it clears (kIncidentCleared)
  std::string source, record_kind, subject, state, severity, text;
  uint64_t seq = 0, time_ms = 0;  // 0: from a snapshot, not from the journal
  PathRow path;                   // kPathDown / kPathUp: the path's index and figures
};

// Decides which journal records and which path state changes become notifications, once each.
// The journal is the source of truth (it misses nothing between two polls); a path's state in
// the snapshot is the safety net when the journal cannot be written (write_errors), and the
// last state notified per path keeps the two from notifying one change twice.
class TrapDecider {
 public:
  // GET /events?since=... . The first call only sets the baseline (no history replayed at start).
  // nullopt: not {events: [...]} (nothing changes).
  std::optional<std::vector<TrapDecision>> on_events(const nlohmann::json& doc,
                                                     const std::map<std::string, PathRow>& paths,
                                                     Problems& problems);
  // A new /uplinks snapshot: paths whose up/down state moved away from what was last notified.
  std::vector<TrapDecision> on_paths(const std::vector<PathRow>& paths);
  // The `since` to ask for: seconds, one second of overlap (records are deduplicated by seq).
  uint64_t since_s() const { return last_time_ms_ / 1000 > 0 ? last_time_ms_ / 1000 - 1 : 0; }
  std::optional<uint64_t> last_seq() const { return last_seq_; }

 private:
  std::optional<TrapDecision> decide(const nlohmann::json& e,
                                     const std::map<std::string, PathRow>& paths);
  std::optional<uint64_t> last_seq_;
  uint64_t last_time_ms_ = 0;
  std::map<std::string, PathState> notified_;         // path name → last up/down notified
  std::map<std::string, std::string> open_incident_;  // kind/subject → P0/P1 notified
};

// Everything the agent serves, from the last good answer of each API call.
struct Snapshot {
  std::vector<IfRow> ifs;  // LAN then uplinks, as IF-MIB rows
  std::vector<UplinkRow> uplinks;
  std::vector<PathRow> paths;
  std::vector<SlaRow> sla;
  AvailView avail;
  std::vector<WorkerRow> workers;
};
// The agent's own health (TRABOULE-MIB trbAgent group).
struct AgentStats {
  bool api_reachable = false;
  uint32_t polls_ok = 0, poll_failures = 0, mapping_problems = 0, traps_sent = 0;
  uint32_t snapshot_age_s = 0xffffffffu;  // no good snapshot yet
  uint32_t journal_seq = 0;
};

// At most one log line per `period_s` per kind of message, the rest counted and reported with
// the next line (a daemon down for an hour is one line a minute, not one per poll).
class RateLimit {
 public:
  explicit RateLimit(double period_s) : period_s_(period_s) {}
  // True when a line may be written now; `suppressed` then says how many were held back.
  bool allow(double now_s, uint64_t& suppressed);

 private:
  double period_s_;
  std::optional<double> last_s_;
  uint64_t held_ = 0;
};

// "fiber/hub" → {"fiber", "hub"}; nullopt when not uplink/target with both non-empty.
std::optional<std::pair<std::string, std::string>> split_path_name(const std::string& name);

}  // namespace traboule::snmp

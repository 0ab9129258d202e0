// SPDX-License-Identifier: Apache-2.0
#include "controlplane/snmp/agent.h"

// net-snmp's headers must come in this order (config first), so they are not sorted.
// clang-format off
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>
// clang-format on

#include <cstdlib>
#include <ctime>
#include <vector>

namespace traboule::snmp {
namespace {

using Oid = std::vector<oid>;

// TRABOULE-MIB (TRABOULE-MIB.txt): enterprises.32473 is RFC 5612's documentation number, used
// until the project has its own PEN (docs/snmp.md says what to change: this and the MIB).
const Oid kTrabouleMib = {1, 3, 6, 1, 4, 1, 32473};
Oid under(const Oid& base, std::initializer_list<oid> tail) {
  Oid o = base;
  o.insert(o.end(), tail);
  return o;
}
const Oid kNotifications = under(kTrabouleMib, {0});
const Oid kObjects = under(kTrabouleMib, {1});
const Oid kAgentGroup = under(kObjects, {1});
const Oid kPathEntry = under(kObjects, {4, 1});
const Oid kNotifObjects = under(kObjects, {7});
const Oid kIfTable = {1, 3, 6, 1, 2, 1, 2, 2};  // IF-MIB
const Oid kIfXTable = {1, 3, 6, 1, 2, 1, 31, 1, 1};
const Oid kSnmpTrapOid = {1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0};

netsnmp_table_data_set* make_table(const char* name, const Oid& table_oid,
                                   std::initializer_list<u_char> index_types,
                                   std::initializer_list<std::pair<unsigned, u_char>> columns) {
  auto* ds = netsnmp_create_table_data_set(name);
  for (const u_char t : index_types) netsnmp_table_dataset_add_index(ds, t);
  // One default row per column: without them the table registers but answers nothing.
  for (const auto& [col, type] : columns)
    netsnmp_table_set_add_default_row(ds, col, type, 0, nullptr, 0);
  auto* reg = netsnmp_create_handler_registration(name, nullptr, table_oid.data(), table_oid.size(),
                                                  HANDLER_CAN_RONLY);
  netsnmp_register_table_data_set(reg, ds, nullptr);
  return ds;
}

void clear(netsnmp_table_data_set* ds) {
  while (ds->table->first_row != nullptr)
    netsnmp_table_dataset_remove_and_delete_row(ds, ds->table->first_row);
}

// Row building: a column is set only when its value is known (else noSuchInstance).
struct Row {
  netsnmp_table_row* r = netsnmp_create_table_data_row();
  Row& idx_int(int32_t v) {
    long l = v;
    netsnmp_table_row_add_index(r, ASN_INTEGER, &l, sizeof l);
    return *this;
  }
  Row& idx_str(const std::string& s) {
    netsnmp_table_row_add_index(r, ASN_OCTET_STR, s.data(), s.size());
    return *this;
  }
  Row& num(unsigned col, u_char type, long v) {
    netsnmp_set_row_column(r, col, type, &v, sizeof v);
    return *this;
  }
  Row& str(unsigned col, const std::string& s) {
    netsnmp_set_row_column(r, col, ASN_OCTET_STR, s.data(), s.size());
    return *this;
  }
  Row& c64(unsigned col, const std::optional<uint64_t>& v) {
    if (!v) return *this;
    counter64 c{static_cast<u_long>(*v >> 32), static_cast<u_long>(*v & 0xffffffffu)};
    netsnmp_set_row_column(r, col, ASN_COUNTER64, &c, sizeof c);
    return *this;
  }
  Row& opt(unsigned col, u_char type, const std::optional<uint64_t>& v) {
    // Counter32 of a 64-bit counter: its low 32 bits (wraps as a Counter32 must).
    if (v) num(col, type, static_cast<long>(*v & 0xffffffffu));
    return *this;
  }
  void add(netsnmp_table_data_set* ds) { netsnmp_table_dataset_add_row(ds, r); }
};

long truth(bool b) {
  return b ? 1 : 2;
}  // SNMPv2-TC TruthValue

// DateAndTime (SNMPv2-TC), 11 octets, UTC.
std::string date_and_time(uint64_t time_ms) {
  const std::time_t t = static_cast<std::time_t>(time_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const int year = tm.tm_year + 1900;
  const char bytes[11] = {static_cast<char>(year >> 8),
                          static_cast<char>(year & 0xff),
                          static_cast<char>(tm.tm_mon + 1),
                          static_cast<char>(tm.tm_mday),
                          static_cast<char>(tm.tm_hour),
                          static_cast<char>(tm.tm_min),
                          static_cast<char>(tm.tm_sec),
                          static_cast<char>(time_ms % 1000 / 100),
                          '+',
                          0,
                          0};
  return std::string(bytes, sizeof bytes);
}

}  // namespace

struct Agent::Tables {
  netsnmp_table_data_set *if_table = nullptr, *ifx_table = nullptr, *uplinks = nullptr,
                         *sla = nullptr, *paths = nullptr, *avail = nullptr, *workers = nullptr;
  long if_number = 0;
  long api_reachable = 2, polls_ok = 0, poll_failures = 0, problems = 0, age = 0, seq = 0,
       traps = 0, avail_target = 0;
  char month[8] = {};
  size_t month_len = 0;
  void register_tables();
  void register_scalars();
};

Agent::Agent() : t_(std::make_unique<Tables>()) {}

Agent::~Agent() {
  if (!app_.empty()) snmp_shutdown(app_.c_str());
}

void Agent::log(bool warning, const std::string& line) {
  snmp_log(warning ? LOG_WARNING : LOG_INFO, "%s\n", line.c_str());
}

namespace {

void watch(const char* name, const Oid& o, u_char type, void* data, size_t size, int flags,
           size_t* size_p = nullptr) {
  auto* reg =
      netsnmp_create_handler_registration(name, nullptr, o.data(), o.size(), HANDLER_CAN_RONLY);
  auto* w = size_p != nullptr ? netsnmp_create_watcher_info6(data, 0, type, flags, size, size_p)
                              : netsnmp_create_watcher_info(data, size, type, flags);
  netsnmp_register_watched_scalar2(reg, w);
}

}  // namespace

void Agent::Tables::register_tables() {
  if_table = make_table("ifTable", kIfTable, {ASN_INTEGER},
                        {{1, ASN_INTEGER},
                         {2, ASN_OCTET_STR},
                         {3, ASN_INTEGER},
                         {5, ASN_GAUGE},
                         {7, ASN_INTEGER},
                         {8, ASN_INTEGER},
                         {10, ASN_COUNTER},
                         {11, ASN_COUNTER},
                         {13, ASN_COUNTER},
                         {14, ASN_COUNTER},
                         {16, ASN_COUNTER},
                         {17, ASN_COUNTER},
                         {20, ASN_COUNTER}});
  ifx_table = make_table("ifXTable", kIfXTable, {ASN_INTEGER},
                         {{1, ASN_OCTET_STR},
                          {6, ASN_COUNTER64},
                          {7, ASN_COUNTER64},
                          {10, ASN_COUNTER64},
                          {11, ASN_COUNTER64},
                          {15, ASN_GAUGE},
                          {18, ASN_OCTET_STR}});
  uplinks = make_table("trbUplinkTable", under(kObjects, {2}), {ASN_INTEGER},
                       {{2, ASN_OCTET_STR},
                        {3, ASN_OCTET_STR},
                        {4, ASN_INTEGER},
                        {5, ASN_INTEGER},
                        {6, ASN_INTEGER}});
  sla = make_table("trbSlaTable", under(kObjects, {3}), {ASN_INTEGER, ASN_OCTET_STR},
                   {{2, ASN_INTEGER}, {3, ASN_OCTET_STR}});
  paths = make_table("trbPathTable", under(kObjects, {4}), {ASN_INTEGER, ASN_OCTET_STR},
                     {{2, ASN_OCTET_STR},
                      {3, ASN_INTEGER},
                      {4, ASN_UNSIGNED},
                      {5, ASN_UNSIGNED},
                      {6, ASN_UNSIGNED},
                      {7, ASN_UNSIGNED},
                      {8, ASN_COUNTER64},
                      {9, ASN_COUNTER64}});
  avail = make_table("trbAvailTable", under(kObjects, {5, 3}), {ASN_INTEGER, ASN_OCTET_STR},
                     {{3, ASN_UNSIGNED},
                      {4, ASN_UNSIGNED},
                      {5, ASN_UNSIGNED},
                      {6, ASN_UNSIGNED},
                      {7, ASN_UNSIGNED},
                      {8, ASN_UNSIGNED},
                      {9, ASN_INTEGER}});
  workers =
      make_table("trbWorkerTable", under(kObjects, {6}), {ASN_INTEGER},
                 {{2, ASN_COUNTER64}, {3, ASN_COUNTER64}, {4, ASN_COUNTER64}, {5, ASN_COUNTER64}});
}

void Agent::Tables::register_scalars() {
  constexpr int kFixed = WATCHER_FIXED_SIZE;
  watch("ifNumber", {1, 3, 6, 1, 2, 1, 2, 1}, ASN_INTEGER, &if_number, sizeof(long), kFixed);
  watch("trbAgentApiReachable", under(kAgentGroup, {1}), ASN_INTEGER, &api_reachable, sizeof(long),
        kFixed);
  watch("trbAgentPollsOk", under(kAgentGroup, {2}), ASN_COUNTER, &polls_ok, sizeof(long), kFixed);
  watch("trbAgentPollFailures", under(kAgentGroup, {3}), ASN_COUNTER, &poll_failures, sizeof(long),
        kFixed);
  watch("trbAgentMappingProblems", under(kAgentGroup, {4}), ASN_COUNTER, &problems, sizeof(long),
        kFixed);
  watch("trbAgentSnapshotAge", under(kAgentGroup, {5}), ASN_UNSIGNED, &age, sizeof(long), kFixed);
  watch("trbAgentJournalSeq", under(kAgentGroup, {6}), ASN_UNSIGNED, &seq, sizeof(long), kFixed);
  watch("trbAgentTrapsSent", under(kAgentGroup, {7}), ASN_COUNTER, &traps, sizeof(long), kFixed);
  watch("trbAvailMonth", under(kObjects, {5, 1}), ASN_OCTET_STR, month, sizeof month - 1,
        WATCHER_MAX_SIZE | WATCHER_SIZE_IS_PTR, &month_len);
  watch("trbAvailTarget", under(kObjects, {5, 2}), ASN_UNSIGNED, &avail_target, sizeof(long),
        kFixed);
}

bool Agent::init(const AgentOptions& o, std::string& error) {
  snmp_enable_stderrlog();
  // A subagent needs no MIB text (numeric OIDs only); Debian's MIB path is missing the IETF
  // modules and would print hundreds of "Cannot find module" lines. MIBS set by hand wins.
  setenv("MIBS", "", 0);
  netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 1);
  netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET,
                        o.agentx_socket.c_str());
  netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL,
                     static_cast<int>(o.ping_interval_s));
  // Nothing of ours to keep across runs: no persistent file written at shutdown.
  netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
  if (init_agent(o.app_name.c_str()) != 0) {
    error = "net-snmp init_agent failed";
    return false;
  }
  t_->register_tables();
  t_->register_scalars();
  // agent_check_and_process = {1, 3, 6, 1, 2, 1, 2, 2}, ifx_table = {1, 3, 6, 1, 2, 1, 31, 1, 1};
  // agent_check_and_process(1) waits for a request or an alarm, without a timeout of its own:
  // this tick brings the loop back to take the poller's results within a quarter second.
  timeval tick{0, 250'000};
  snmp_alarm_register_hr(
      tick, SA_REPEAT, [](unsigned, void*) {}, nullptr);
  app_ = o.app_name;
  init_snmp(app_.c_str());
  return true;
}

void Agent::process() {
  // Blocks until a request, an alarm or a signal: the tick below bounds the wait.
  agent_check_and_process(1);
}

void Agent::set_stats(const AgentStats& s) {
  t_->api_reachable = truth(s.api_reachable);
  t_->polls_ok = s.polls_ok;
  t_->poll_failures = s.poll_failures;
  t_->problems = s.mapping_problems;
  t_->age = static_cast<long>(s.snapshot_age_s);
  t_->seq = s.journal_seq;
  t_->traps = s.traps_sent;
}

namespace {

void publish_ifs(netsnmp_table_data_set* if_table, netsnmp_table_data_set* ifx_table,
                 const std::vector<IfRow>& ifs) {
  clear(if_table);
  clear(ifx_table);
  for (const IfRow& i : ifs) {
    Row r;
    r.idx_int(i.if_index).num(1, ASN_INTEGER, i.if_index).str(2, i.descr);
    r.num(3, ASN_INTEGER, 6);  // ethernetCsmacd: DPDK ports are Ethernet ports
    r.num(5, ASN_GAUGE, bps_gauge(i.speed_bps)).num(7, ASN_INTEGER, 1);  // admin up
    r.num(8, ASN_INTEGER, static_cast<long>(i.oper));
    r.opt(10, ASN_COUNTER, i.in_octets).opt(11, ASN_COUNTER, i.in_pkts);
    r.opt(13, ASN_COUNTER, i.in_discards).opt(14, ASN_COUNTER, i.in_errors);
    r.opt(16, ASN_COUNTER, i.out_octets).opt(17, ASN_COUNTER, i.out_pkts);
    r.opt(20, ASN_COUNTER, i.out_errors);
    r.add(if_table);
    Row x;
    x.idx_int(i.if_index).str(1, i.name).c64(6, i.in_octets).c64(7, i.in_pkts);
    x.c64(10, i.out_octets).c64(11, i.out_pkts);
    x.num(15, ASN_GAUGE, bps_to_mbps(i.speed_bps)).str(18, i.alias);
    x.add(ifx_table);
  }
}

}  // namespace

void Agent::publish(const Snapshot& s) {
  Tables& t = *t_;
  publish_ifs(t.if_table, t.ifx_table, s.ifs);
  t.if_number = static_cast<long>(s.ifs.size());
  clear(t.uplinks);
  for (const UplinkRow& u : s.uplinks) {
    Row r;
    r.idx_int(u.index).str(2, u.name).str(3, u.kind).num(4, ASN_INTEGER, static_cast<long>(u.role));
    r.num(5, ASN_INTEGER, static_cast<long>(u.state)).num(6, ASN_INTEGER, static_cast<long>(u.hub));
    r.add(t.uplinks);
  }
  clear(t.sla);
  for (const SlaRow& c : s.sla)
    Row()
        .idx_int(c.uplink_index)
        .idx_str(c.sla_class)
        .num(2, ASN_INTEGER, truth(c.met))
        .str(3, c.reason)
        .add(t.sla);
  clear(t.paths);
  for (const PathRow& p : s.paths) {
    Row r;
    r.idx_int(p.uplink_index).idx_str(p.target).str(2, p.name);
    r.num(3, ASN_INTEGER, static_cast<long>(p.state)).opt(4, ASN_UNSIGNED, p.rtt_us);
    r.opt(5, ASN_UNSIGNED, p.rtt_p99_us).opt(6, ASN_UNSIGNED, p.jitter_us);
    r.opt(7, ASN_UNSIGNED, p.loss_ppm).c64(8, p.sent).c64(9, p.received).add(t.paths);
  }
  clear(t.avail);
  for (const AvailRow& a : s.avail.rows) {
    Row r;
    r.idx_int(static_cast<int32_t>(a.kind)).idx_str(a.name).num(3, ASN_UNSIGNED, a.observed_s);
    r.num(4, ASN_UNSIGNED, a.unavailable_s).num(5, ASN_UNSIGNED, a.outages);
    r.num(6, ASN_UNSIGNED, a.longest_outage_s).opt(7, ASN_UNSIGNED, a.percent_milli);
    r.opt(8, ASN_UNSIGNED, a.business_percent_milli).num(9, ASN_INTEGER, truth(a.meets_target));
    r.add(t.avail);
  }
  t.month_len = s.avail.month.copy(t.month, sizeof t.month - 1);
  t.avail_target = static_cast<long>(s.avail.target_milli.value_or(0));
  clear(t.workers);
  for (const WorkerRow& w : s.workers)
    Row()
        .idx_int(w.index)
        .c64(2, w.loops)
        .c64(3, w.busy_loops)
        .c64(4, w.sleeps)
        .c64(5, w.rx_packets)
        .add(t.workers);
}

namespace {

void add_var(netsnmp_variable_list** vars, const Oid& o, u_char type, const void* v, size_t len) {
  snmp_varlist_add_variable(vars, o.data(), o.size(), type, static_cast<const u_char*>(v), len);
}

void add_str(netsnmp_variable_list** vars, unsigned column, const std::string& s) {
  add_var(vars, under(kNotifObjects, {column, 0}), ASN_OCTET_STR, s.data(), s.size());
}

}  // namespace

void Agent::notify(const TrapDecision& d) {
  netsnmp_variable_list* vars = nullptr;
  const bool path = d.kind == TrapKind::kPathDown || d.kind == TrapKind::kPathUp;
  const oid which = d.kind == TrapKind::kPathDown   ? 1
                    : d.kind == TrapKind::kPathUp   ? 2
                    : d.kind == TrapKind::kIncident ? 3
                                                    : 4;
  const Oid trap = under(kNotifications, {which});
  add_var(&vars, kSnmpTrapOid, ASN_OBJECT_ID, trap.data(), trap.size() * sizeof(oid));
  if (path) {
    // The path's row instance: uplink ifIndex, then the target as a length-prefixed string.
    Oid inst = {static_cast<oid>(d.path.uplink_index), d.path.target.size()};
    for (const char c : d.path.target) inst.push_back(static_cast<unsigned char>(c));
    Oid name = under(kPathEntry, {2}), state = under(kPathEntry, {3});
    name.insert(name.end(), inst.begin(), inst.end());
    state.insert(state.end(), inst.begin(), inst.end());
    const long st = static_cast<long>(d.path.state);
    add_var(&vars, name, ASN_OCTET_STR, d.path.name.data(), d.path.name.size());
    add_var(&vars, state, ASN_INTEGER, &st, sizeof st);
  } else {
    const long cls = d.incident == "P0" ? 1 : d.incident == "P1" ? 2 : 3;
    add_var(&vars, under(kNotifObjects, {1, 0}), ASN_INTEGER, &cls, sizeof cls);
    add_str(&vars, 2, d.source);
    add_str(&vars, 3, d.record_kind);
    add_str(&vars, 4, d.subject);
    add_str(&vars, 5, d.state);
    add_str(&vars, 6, d.severity);
  }
  add_str(&vars, 7, d.text);
  const u_long seq = static_cast<u_long>(d.seq & 0xffffffffu);
  add_var(&vars, under(kNotifObjects, {8, 0}), ASN_UNSIGNED, &seq, sizeof seq);
  const uint64_t ms = d.time_ms != 0 ? d.time_ms : static_cast<uint64_t>(std::time(nullptr)) * 1000;
  const std::string when = date_and_time(ms);
  add_str(&vars, 9, when);
  send_v2trap(vars);
  snmp_free_varbind(vars);
}

}  // namespace traboule::snmp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/agent/daemon_state.h"

#include <rte_cycles.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "dataplane/stages/qos.h"

namespace traboule::cp {
namespace {

using nlohmann::json;

const char* role_name(dp::UplinkRole r) {
  return r == dp::UplinkRole::kPrimary ? "primary" : "backup";
}
const char* tcp_state_name(dp::TcpState s) {
  switch (s) {
    case dp::TcpState::kNone:
      return "-";
    case dp::TcpState::kSynSent:
      return "syn-sent";
    case dp::TcpState::kEstablished:
      return "established";
    case dp::TcpState::kClosing:
      return "closing";
    case dp::TcpState::kClosed:
      return "closed";
  }
  return "?";
}
const char* proto_name(uint8_t p) {
  switch (p) {
    case 1:
      return "icmp";
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 58:
      return "icmpv6";
  }
  return nullptr;
}

}  // namespace

DaemonState::DaemonState(const AgentConfig& cfg, dp::Dataplane& dp, const PolicyManager& policies)
    : cfg_(cfg), dp_(dp), policies_(policies), started_(std::chrono::steady_clock::now()) {}

json DaemonState::status() {
  auto f = dp_.flows();
  const auto up = std::chrono::steady_clock::now() - started_;
  json uplinks = json::array();
  for (auto& u : dp_.uplinks()) uplinks.push_back({{"name", u.name}, {"link_up", u.link_up}});
  json j = {{"role", to_string(cfg_.role)},
            {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(up).count()},
            {"workers", dp_.workers()},
            {"uplinks", uplinks},
            {"flows",
             {{"active", f.active},
              {"capacity", f.capacity},
              {"created", f.created},
              {"expired", f.expired},
              {"memory_bytes", f.memory_bytes}}}};
  // Every data-plane port (the LAN first): what IF-MIB lists (docs/snmp.md); their driver
  // counters are GET /counters' port.<name>.*.
  json ports = json::array();
  for (const auto& i : dp_.site().ifaces) {
    json p = {{"name", i->name},
              {"port", i->port_id},
              {"lan", i->is_lan},
              {"link_up", i->link_up.load(std::memory_order_relaxed)}};
    if (i->vlan != 0) p["vlan"] = i->vlan;
    ports.push_back(std::move(p));
  }
  j["ports"] = std::move(ports);
  if (ipfix_ != nullptr) {
    const auto st = ipfix_->stats();
    j["ipfix"] = {{"records", st.records},         {"messages", st.messages},
                  {"send_errors", st.send_errors}, {"walks", st.walks},
                  {"tracked_flows", st.tracked},   {"last_walk_us", st.last_walk_us}};
  }
  return j;
}

json DaemonState::uplinks() {
  auto policy = dp_.policy();
  json out = json::array();
  size_t i = 0;
  for (auto& u : dp_.uplinks()) {
    json j = {{"name", u.name},
              {"port", u.port_id},
              {"link_up", u.link_up},
              {"gateway_resolved", u.gateway_resolved},
              {"tx_packets", u.tx_packets},
              {"tx_bytes", u.tx_bytes},
              {"rx_packets", u.rx_packets},
              {"rx_bytes", u.rx_bytes},
              {"port_tx_packets", u.port_tx_packets},
              {"port_tx_bytes", u.port_tx_bytes},
              {"port_rx_packets", u.port_rx_packets},
              {"port_rx_bytes", u.port_rx_bytes}};
    if (policy && i < policy->uplinks.size()) {
      const auto& p = policy->uplinks[i];
      j["kind"] = p.kind;
      j["role"] = role_name(p.role);
      j["cost"] = p.cost;
      j["up_bps"] = p.up_bps;
      j["down_bps"] = p.down_bps;
      j["monthly_cap_bytes"] = p.monthly_cap_bytes;
      j["breakout"] = p.breakout;
    }
    if (link_details_) j["paths"] = link_details_(u.name);
    out.push_back(j);
    ++i;
  }
  return out;
}

json DaemonState::rules() {
  auto policy = dp_.policy();
  auto running = policies_.running();
  json out = {{"policy_version", policy ? policy->version : 0}, {"rules", json::array()}};
  if (!policy) return out;
  const json* source_rules = nullptr;
  if (running && running->source.contains("rules") && running->source["rules"].is_array())
    source_rules = &running->source["rules"];
  for (size_t r = 0; r < policy->rules.size(); ++r) {
    const auto& cr = policy->rules[r];
    dp::RuleHits h = policy->total_hits(r);
    json j = {{"index", r},
              {"name", cr.name},
              {"hits", {{"flows", h.flows}, {"packets", h.packets}, {"bytes", h.bytes}}}};
    json ups = json::array();
    for (uint8_t u : cr.action.uplinks)
      ups.push_back(u < policy->uplinks.size() ? policy->uplinks[u].name : std::to_string(u));
    j["uplinks"] = ups;
    if (source_rules != nullptr)
      for (const json& s : *source_rules)
        if (s.is_object() && s.value("name", "") == cr.name) {
          if (s.contains("match")) j["match"] = s["match"];
          if (s.contains("action")) j["action"] = s["action"];
        }
    out["rules"].push_back(j);
  }
  return out;
}

json qos_view(const dp::PolicySnapshot* policy, const std::vector<std::string>& uplinks,
              unsigned workers, const std::vector<dp::CounterValue>& counters) {
  json out = json::array();
  if (policy == nullptr) return out;
  // The qos stage is in the pipeline when its edge counter is (Pipeline::collect lists every
  // edge of every stage, zeros included); it schedules when the policy has classes.
  const std::string edge = "qos.out." + std::string(dp::QosStage::kEdges[dp::QosStage::kTx]);
  const bool stage = std::any_of(counters.begin(), counters.end(),
                                 [&](const dp::CounterValue& c) { return c.name == edge; });
  const bool on = stage && !policy->qos_classes.empty();
  const uint64_t shares = std::max(1u, workers);  // each worker shapes rate / workers
  // The policy's first kMaxClasses - 1 classes have a queue of their own; the last queue is
  // "unclassified" (rules without a class, and the classes beyond).
  constexpr size_t kOwn = dp::QosStage::kMaxClasses - 1;
  const size_t named = std::min(policy->qos_classes.size(), kOwn);
  std::map<std::string, uint64_t, std::less<>> figures;
  for (const dp::CounterValue& c : counters)
    if (c.name.starts_with("qos.")) figures[c.name] = c.value;
  auto per_uplink = [&](size_t queue, bool own) {
    json arr = json::array();
    for (size_t u = 0; u < uplinks.size(); ++u) {
      const bool shaped = u < policy->uplinks.size() && policy->uplinks[u].up_bps / shares != 0;
      const std::string base = "qos." + uplinks[u] + ".class" + std::to_string(queue) + ".";
      json j = {{"uplink", uplinks[u]}, {"enforced", on && own && shaped}};
      for (const char* f : {"depth", "enqueued", "dequeued", "dequeued_bytes", "dropped",
                            "rate_bps", "queue_p50_us", "queue_p99_us", "queue_max_us"}) {
        auto it = figures.find(base + f);
        j[f] = it != figures.end() ? it->second : 0;
      }
      arr.push_back(std::move(j));
    }
    return arr;
  };
  auto any_enforced = [](const json& per) {
    return std::any_of(per.begin(), per.end(), [](const json& x) { return x["enforced"] == true; });
  };
  uint8_t lowest = 0;
  for (size_t c = 0; c < named; ++c) lowest = std::max(lowest, policy->qos_classes[c].priority);
  for (size_t c = 0; c < policy->qos_classes.size(); ++c) {
    const dp::QosClass& q = policy->qos_classes[c];
    const bool own = c < kOwn;
    json per = per_uplink(own ? c : named, own);
    out.push_back({{"name", q.name},
                   {"priority", q.priority},
                   {"weight", q.weight},
                   {"min_rate_bps", q.min_rate_bps},
                   {"max_rate_bps", q.max_rate_bps},
                   {"ingress_max_bps", q.ingress_max_bps},
                   {"dscp", q.dscp},
                   {"critical", q.critical},
                   {"queue", own ? c : named},
                   {"enforced", any_enforced(per)},
                   {"ingress_policed", on && own && q.ingress_max_bps / shares != 0},
                   {"uplinks", std::move(per)}});
  }
  if (on) {  // shaped with the rest at the lowest level, weight 1
    json per = per_uplink(named, true);
    out.push_back({{"name", "(unclassified)"},
                   {"priority", lowest},
                   {"weight", 1},
                   {"min_rate_bps", 0},
                   {"max_rate_bps", 0},
                   {"ingress_max_bps", 0},
                   {"dscp", -1},
                   {"critical", false},
                   {"queue", named},
                   {"enforced", any_enforced(per)},
                   {"ingress_policed", false},
                   {"uplinks", std::move(per)}});
  }
  return out;
}

json DaemonState::qos() {
  std::vector<std::string> names;
  for (const dp::Interface* u : dp_.site().uplinks) names.push_back(u->name);
  return qos_view(dp_.policy().get(), names, dp_.workers(), dp_.counters());
}

json DaemonState::routes() {
  json out = json::array();
  auto policy = dp_.policy();
  for (auto& p : dp_.site().lan_prefixes)
    out.push_back({{"prefix", p.str()}, {"via", "lan"}, {"source", "config"}});
  for (size_t i = 0; i < dp_.site().uplinks.size(); ++i) {
    const dp::Interface& u = *dp_.site().uplinks[i];
    const bool up = u.link_up.load(std::memory_order_relaxed);
    if (u.gw4)
      out.push_back({{"prefix", "0.0.0.0/0"},
                     {"via", u.name},
                     {"gateway", u.gw4->str()},
                     {"usable", up},
                     {"source", "config"}});
    if (u.gw6)
      out.push_back({{"prefix", "::/0"},
                     {"via", u.name},
                     {"gateway", u.gw6->str()},
                     {"usable", up},
                     {"source", "config"}});
  }
  return out;
}

json DaemonState::flows(size_t top) {
  auto policy = dp_.policy();
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t now = rte_rdtsc();
  json out = json::array();
  for (auto& r : dp_.top_flows(top)) {
    const dp::FlowKey& k = r.view.key;
    const dp::FlowEntry& e = r.view.entry;
    // Show the originator first.
    const bool orig_hi = (e.flags & dp::flow_flag::kOrigHi) != 0;
    const dp::IpAddr& src = orig_hi ? k.hi : k.lo;
    const dp::IpAddr& dst = orig_hi ? k.lo : k.hi;
    const uint16_t sport = orig_hi ? k.hi_port : k.lo_port;
    const uint16_t dport = orig_hi ? k.lo_port : k.hi_port;
    const char* pn = proto_name(k.proto);
    json j = {{"worker", r.worker},
              {"proto", pn != nullptr ? json(pn) : json(k.proto)},
              {"src", src.str()},
              {"src_port", sport},
              {"dst", dst.str()},
              {"dst_port", dport},
              {"from_lan", (e.flags & dp::flow_flag::kOrigFromLan) != 0},
              {"packets_out", e.packets[0]},
              {"bytes_out", e.bytes[0]},
              {"packets_in", e.packets[1]},
              {"bytes_in", e.bytes[1]},
              {"tcp_state", tcp_state_name(e.tcp_state)},
              {"idle_ms", hz ? (now - std::min(now, e.last_seen_tsc)) * 1000 / hz : 0},
              {"age_s", hz ? static_cast<uint32_t>(dp::coarse_tsc(now) - e.created_coarse) *
                                 (uint64_t{1} << dp::kCoarseShift) / hz
                           : 0}};
    if (e.uplink < dp_.site().uplinks.size())
      j["uplink"] = dp_.site().uplinks[e.uplink]->name;
    else
      j["uplink"] = nullptr;
    if (policy && e.rule < policy->rules.size()) j["rule"] = policy->rules[e.rule].name;
    if (policy && e.app < policy->apps.size()) j["app"] = policy->apps[e.app].name;
    // Path history: how often the route stage moved it; overlay site and path it came by.
    j["moves"] = r.view.path.moves;
    if (r.view.path.site != 0) {
      j["overlay_site"] = r.view.path.site;
      j["overlay_path"] = r.view.path.remote_path;
    }
    if (r.view.path.dup_uplink < dp_.site().uplinks.size())
      j["second_uplink"] = dp_.site().uplinks[r.view.path.dup_uplink]->name;
    out.push_back(j);
  }
  return out;
}

json DaemonState::apps() {
  auto policy = dp_.policy();
  json out = json::array();
  if (!policy) return out;
  for (auto& a : policy->apps) {
    if (a.id == dp::kAppUnknown && a.name.empty()) continue;
    out.push_back({{"id", a.id}, {"name", a.name}, {"category", a.category}, {"custom", a.custom}});
  }
  return out;
}

json DaemonState::app_traffic(size_t top) {
  auto policy = dp_.policy();
  const auto use = dp_.app_use();
  const auto& ups = dp_.site().uplinks;
  struct Row {
    size_t app;
    uint64_t bytes;
  };
  std::vector<Row> rows;
  for (size_t a = 0; a < use.size(); ++a) {
    uint64_t b = 0;
    for (unsigned u = 0; u < dp::kMaxUplinks; ++u)
      b += use[a].traffic.bytes[u][0] + use[a].traffic.bytes[u][1];
    if (b != 0 || use[a].active_flows != 0) rows.push_back({a, b});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.bytes > y.bytes; });
  if (rows.size() > top) rows.resize(top);
  json out = json::array();
  for (const Row& r : rows) {
    const auto& u = use[r.app];
    json j;
    const bool known = policy && r.app < policy->apps.size() && policy->apps[r.app].id == r.app;
    const bool shared = r.app == dp::ForwardStage::kAppSlots - 1;
    j["id"] = r.app;
    j["name"] = r.app == dp::kAppUnknown ? "unknown"
                : shared                 ? "other (ids from 255)"
                : known                  ? policy->apps[r.app].name
                                         : "app " + std::to_string(r.app);
    j["category"] = known ? policy->apps[r.app].category : "";
    j["active_flows"] = u.active_flows;
    uint64_t tot[2][2] = {};
    json per = json::object();
    for (size_t k = 0; k < ups.size() && k < dp::kMaxUplinks; ++k) {
      const auto& t = u.traffic;
      if (t.packets[k][0] + t.packets[k][1] == 0) continue;
      per[ups[k]->name] = {{"bytes_out", t.bytes[k][0]},
                           {"bytes_in", t.bytes[k][1]},
                           {"packets_out", t.packets[k][0]},
                           {"packets_in", t.packets[k][1]}};
      for (int d = 0; d < 2; ++d) {
        tot[0][d] += t.bytes[k][d];
        tot[1][d] += t.packets[k][d];
      }
    }
    j["bytes_out"] = tot[0][0];
    j["bytes_in"] = tot[0][1];
    j["packets_out"] = tot[1][0];
    j["packets_in"] = tot[1][1];
    j["uplinks"] = per;
    out.push_back(std::move(j));
  }
  return out;
}

namespace {

json prefix_list(const std::vector<dp::IpPrefix>& v) {
  json a = json::array();
  for (const auto& p : v) a.push_back(p.str());
  return a;
}

json fw_segments(const dp::FirewallPolicy& fw) {
  json segs = json::array();
  for (const auto& s : fw.segments)
    segs.push_back({{"name", s.name},
                    {"vlan", s.vlan >= 0 ? json(s.vlan) : json(nullptr)},
                    {"prefixes", prefix_list(s.prefixes)}});
  return segs;
}

json fw_rules(const dp::PolicySnapshot& policy) {
  const dp::FirewallPolicy& fw = policy.firewall;
  json rules = json::array();
  for (size_t i = 0; i < fw.rules.size(); ++i) {
    const dp::FwRule& r = fw.rules[i];
    json ports = json::array();
    for (const auto& pr : r.dst_ports)
      ports.push_back(pr.lo == pr.hi ? std::to_string(pr.lo)
                                     : std::to_string(pr.lo) + "-" + std::to_string(pr.hi));
    rules.push_back(
        {{"index", i},
         {"name", r.name},
         {"from", std::string(dp::kZoneNames[static_cast<unsigned>(r.from)])},
         {"to", r.to_segment >= 0 && static_cast<size_t>(r.to_segment) < fw.segments.size()
                    ? fw.segments[static_cast<size_t>(r.to_segment)].name
                    : std::string("lan")},
         {"src_prefixes", prefix_list(r.src)},
         {"dst_prefixes", prefix_list(r.dst)},
         {"proto", r.proto},
         {"dst_ports", ports},
         {"action", std::string(dp::kFwActionNames[static_cast<unsigned>(r.action)])},
         {"log", r.log},
         {"hits", policy.total_fw_hits(i)}});
  }
  return rules;
}

json fw_forwards(const dp::PolicySnapshot& policy, const std::vector<dp::Interface*>& ups) {
  const auto& fw = policy.firewall;
  json forwards = json::array();
  for (size_t i = 0; i < fw.forwards.size(); ++i) {
    const dp::PortForward& f = fw.forwards[i];
    forwards.push_back({{"index", i},
                        {"name", f.name},
                        {"uplink", f.uplink < ups.size() ? ups[f.uplink]->name : std::string("?")},
                        {"proto", f.proto == 17 ? "udp" : "tcp"},
                        {"port", f.port},
                        {"to", f.to.str()},
                        {"to_port", f.to_port},
                        {"src_prefixes", prefix_list(f.src)},
                        {"log", f.log},
                        {"hits", policy.total_fwd_hits(i)}});
  }
  return forwards;
}

// The firewall counters: verdicts by name, and denials by zones ("firewall.denied.<zones>").
void fw_verdicts(const std::vector<dp::CounterValue>& counters, json& out) {
  json verdicts = json::object(), denied = json::object();
  for (auto& c : counters) {
    if (c.name.rfind("firewall.denied.", 0) == 0) {
      denied[c.name.substr(16)] = denied.value(c.name.substr(16), uint64_t{0}) + c.value;
    } else if (c.name.rfind("firewall.", 0) == 0) {
      const std::string k = c.name.substr(9);
      verdicts[k] = verdicts.value(k, uint64_t{0}) + c.value;
    } else if (c.name == "local.echo_rate_limited") {
      verdicts["wan_echo_rate_limited"] = c.value;
    }
  }
  out["verdicts"] = verdicts;
  out["denied_by_zones"] = denied;
}

}  // namespace

json DaemonState::firewall(size_t top) {
  auto policy = dp_.policy();
  json out = json::object();
  if (policy) {
    const dp::FirewallPolicy& fw = policy->firewall;
    out["lan_source_check"] =
        std::string(dp::kSourceCheckNames[static_cast<unsigned>(fw.lan_source)]);
    out["segments"] = fw_segments(fw);
  }
  out["inbound"] = policy ? fw_rules(*policy) : json::array();
  out["port_forwards"] = policy ? fw_forwards(*policy, dp_.site().uplinks) : json::array();
  out["defaults"] = {{"lan", "allow"},
                     {"overlay_to_lan", "allow"},
                     {"wan_to_lan", "deny unless part of a flow opened from inside"},
                     {"wan_to_overlay", "deny"},
                     {"wan_to_box", "overlay, STAMP reflector, ICMP echo (rate-limited)"}};
  fw_verdicts(dp_.counters(), out);
  json log = fw_log_ ? fw_log_(top) : json::object();
  out["top_denied_sources"] = log.value("top_denied_sources", json::array());
  out["last"] = log.value("last", json::array());
  out["records_lost"] = log.value("records_lost", uint64_t{0});
  return out;
}

json DaemonState::counters(std::string_view prefix) {
  json out = json::object();
  for (auto& c : dp_.counters())
    if (c.name.compare(0, prefix.size(), prefix) == 0) out[c.name] = c.value;
  return out;
}

json DaemonState::drops() {
  json counters = json::object();
  uint64_t total = 0;
  for (auto& c : dp_.drops()) {
    counters[c.name] = c.value;
    total += c.value;
  }
  return {{"total", total}, {"counters", counters}};
}

json DaemonState::runtime() {
  const dp::Dataplane::Runtime r = dp_.runtime();
  return runtime_json(r.stages, r.workers, rte_get_tsc_hz());
}

json DaemonState::events(int64_t since_ms, const std::string& incident, size_t limit) {
  json out = json::array();
  if (journal_ != nullptr)
    for (const JournalEvent& e : journal_->read(since_ms, incident, limit))
      out.push_back(to_json(e));
  json j = {{"events", std::move(out)},
            {"write_errors", journal_ ? journal_->write_errors() : 0},
            {"skipped_lines", journal_ ? journal_->skipped_lines() : 0}};
  if (syslog_ != nullptr)
    j["syslog"] = {
        {"sent", syslog_->sent()}, {"dropped", syslog_->dropped()}, {"errors", syslog_->errors()}};
  return j;
}

namespace {
int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

json DaemonState::availability(int year, int month) {
  const std::vector<JournalEvent> ev = journal_ ? journal_->read() : std::vector<JournalEvent>{};
  return to_json(compute_availability(ev, year, month, wall_ms(), avail_));
}

std::string DaemonState::availability_csv(int year, int month) {
  const std::vector<JournalEvent> ev = journal_ ? journal_->read() : std::vector<JournalEvent>{};
  return to_csv(compute_availability(ev, year, month, wall_ms(), avail_));
}

}  // namespace traboule::cp

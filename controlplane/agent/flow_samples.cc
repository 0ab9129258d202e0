// SPDX-License-Identifier: Apache-2.0
#include "controlplane/agent/flow_samples.h"

#include <rte_cycles.h>

#include <chrono>

#include "controlplane/agent/links_runner.h"
#include "dataplane/runtime/dataplane.h"
#include "dataplane/tables/flow_table.h"

namespace traboule::cp {
namespace {

uint32_t if_index(const dp::Interface* i) {
  return i != nullptr && i->port_id != dp::kNoPort ? kIfIndexBase + i->port_id : 0;
}

// DSCP the box sends the flow with: its rule's QoS class marking, else as received.
uint8_t post_dscp(const dp::PolicySnapshot* p, const dp::FlowEntry& e, uint8_t received) {
  if (p == nullptr || e.rule >= p->rules.size()) return received;
  const uint8_t c = p->rules[e.rule].action.qos_class;
  if (c >= p->qos_classes.size() || p->qos_classes[c].dscp < 0) return received;
  return static_cast<uint8_t>(p->qos_classes[c].dscp);
}

}  // namespace

std::vector<FlowSample> sample_flows(const dp::Dataplane& d) {
  const dp::Site& site = d.site();
  const auto policy = d.policy();
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t now_tsc = rte_rdtsc();
  const uint64_t now_ms =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  auto ago_ms = [hz](uint64_t ticks) -> uint64_t {
    return hz != 0 ? ticks / hz * 1000 + ticks % hz * 1000 / hz : 0;
  };
  const uint32_t lan_if = if_index(site.lan);
  std::vector<FlowSample> out;
  d.for_each_flow([&](unsigned worker, const dp::FlowView& v) {
    const dp::FlowEntry& e = v.entry;
    const dp::FlowKey& k = v.key;
    FlowSample f;
    f.identity = (uint64_t{worker} << 32) | v.id;
    f.created = e.created_coarse;
    const bool orig_hi = (e.flags & dp::flow_flag::kOrigHi) != 0;
    f.src = orig_hi ? k.hi : k.lo;
    f.dst = orig_hi ? k.lo : k.hi;
    f.src_port = orig_hi ? k.hi_port : k.lo_port;
    f.dst_port = orig_hi ? k.lo_port : k.hi_port;
    f.proto = k.proto;
    f.tos = static_cast<uint8_t>(v.path.dscp << 2);
    f.post_tos = static_cast<uint8_t>(post_dscp(policy.get(), e, v.path.dscp) << 2);
    f.closed = e.tcp_state == dp::TcpState::kClosed;
    f.app = e.app;
    const uint32_t wan_if = e.uplink < site.uplinks.size() ? if_index(site.uplinks[e.uplink]) : 0;
    const bool from_lan = (e.flags & dp::flow_flag::kOrigFromLan) != 0;
    f.in_if = from_lan ? lan_if : wan_if;
    f.out_if = from_lan ? wan_if : lan_if;
    for (int dir = 0; dir < 2; ++dir) {
      f.packets[dir] = e.packets[dir];
      f.octets[dir] = e.bytes[dir];
    }
    const uint64_t age_ticks =
        uint64_t{static_cast<uint32_t>(dp::coarse_tsc(now_tsc) - e.created_coarse)}
        << dp::kCoarseShift;
    f.start_ms = now_ms - std::min(now_ms, ago_ms(age_ticks));
    f.last_ms = now_ms - std::min(now_ms, ago_ms(now_tsc - std::min(now_tsc, e.last_seen_tsc)));
    out.push_back(f);
  });
  return out;
}

HistorySample sample_history(const dp::Dataplane& d, const LinksRunner& links) {
  HistorySample s;
  auto number = [](const nlohmann::json& j, const char* a, const char* b,
                   double scale) -> std::optional<double> {
    if (!j.contains(a) || !j[a].is_object() || !j[a].contains(b) || !j[a][b].is_number())
      return std::nullopt;
    return j[a][b].get<double>() * scale;
  };
  for (const dp::UplinkStatus& u : d.uplinks()) {
    s.uplinks.push_back({u.name, u.port_rx_bytes, u.port_tx_bytes});
    const nlohmann::json paths = links.paths_json(u.name);
    if (!paths.is_array()) continue;
    for (const auto& p : paths) {
      if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) continue;
      HistorySample::Path hp;
      hp.name = p["name"].get<std::string>();
      hp.uplink = u.name;
      hp.rtt_ms = number(p, "rtt_us", "avg", 1e-3);
      hp.jitter_ms = number(p, "jitter_us", "rtt", 1e-3);
      hp.loss_percent = number(p, "window", "loss_ratio", 100.0);
      hp.up = p.value("state", "") == "up";
      s.paths.push_back(std::move(hp));
    }
  }
  return s;
}

std::string app_name(const dp::Dataplane& d, uint16_t app) {
  const auto policy = d.policy();
  if (!policy || app >= policy->apps.size()) return "";
  return policy->apps[app].name;
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/telemetry/dpdk_telemetry.h"

#include <rte_telemetry.h>

#include <cctype>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "dataplane/runtime/dataplane.h"

namespace traboule::cp {
namespace {

// Callbacks run on DPDK's telemetry thread and may take milliseconds: they hold the lock for
// their whole run, so unregister_telemetry() (which takes it exclusively) returns only once no
// callback still uses the data plane it is about to be destroyed.
std::shared_mutex g_mutex;
dp::Dataplane* g_dp = nullptr;

// DPDK telemetry accepts only letters, digits, '_' and '/' in dict keys: counter names use
// '/' for '.' ("parse/ipv4_bad_checksum") and '_' for anything else.
std::string key(const std::string& name) {
  std::string k = name;
  for (char& ch : k)
    if (ch == '.')
      ch = '/';
    else if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_')
      ch = '_';
  return k;
}

int counters_cb(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_mutex);
  dp::Dataplane* p = g_dp;
  if (p == nullptr) return -1;
  rte_tel_data_start_dict(d);
  // The dict holds at most RTE_TEL_MAX_DICT_ENTRIES: a prefix parameter narrows the list
  // ("/traboule/counters,parse." ), and without one zero counters are left out.
  std::string prefix = params != nullptr ? params : "";
  for (char& ch : prefix)
    if (ch == '/') ch = '.';  // accept either spelling of the prefix
  for (auto& c : p->counters()) {
    if (!prefix.empty() ? c.name.rfind(prefix, 0) != 0 : c.value == 0) continue;
    if (rte_tel_data_add_dict_u64(d, key(c.name).c_str(), c.value) != 0) return -ENOSPC;
  }
  return 0;
}

int uplinks_cb(const char*, const char*, rte_tel_data* d) {
  std::shared_lock lock(g_mutex);
  dp::Dataplane* p = g_dp;
  if (p == nullptr) return -1;
  rte_tel_data_start_dict(d);
  for (auto& u : p->uplinks()) {
    rte_tel_data* one = rte_tel_data_alloc();
    if (one == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(one);
    rte_tel_data_add_dict_u64(one, "port_id", u.port_id);
    rte_tel_data_add_dict_string(one, "link", u.link_up ? "up" : "down");
    rte_tel_data_add_dict_string(one, "gateway", u.gateway_resolved ? "resolved" : "unresolved");
    rte_tel_data_add_dict_u64(one, "tx_packets", u.tx_packets);
    rte_tel_data_add_dict_u64(one, "tx_bytes", u.tx_bytes);
    rte_tel_data_add_dict_u64(one, "rx_packets", u.rx_packets);
    rte_tel_data_add_dict_u64(one, "rx_bytes", u.rx_bytes);
    if (rte_tel_data_add_dict_container(d, key(u.name).c_str(), one, 0) != 0) {
      rte_tel_data_free(one);
      return -ENOSPC;
    }
  }
  return 0;
}

int flows_cb(const char*, const char*, rte_tel_data* d) {
  std::shared_lock lock(g_mutex);
  dp::Dataplane* p = g_dp;
  if (p == nullptr) return -1;
  auto f = p->flows();
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "active", f.active);
  rte_tel_data_add_dict_u64(d, "capacity", f.capacity);
  rte_tel_data_add_dict_u64(d, "created", f.created);
  rte_tel_data_add_dict_u64(d, "expired", f.expired);
  rte_tel_data_add_dict_u64(d, "memory_bytes", f.memory_bytes);
  rte_tel_data_add_dict_u64(d, "workers", p->workers());
  return 0;
}

// `show runtime`: per stage calls, packets, packets per call and (sampled) cycles per packet.
int runtime_cb(const char*, const char*, rte_tel_data* d) {
  std::shared_lock lock(g_mutex);
  dp::Dataplane* p = g_dp;
  if (p == nullptr) return -1;
  rte_tel_data_start_dict(d);
  for (const auto& s : p->runtime().stages) {
    rte_tel_data* one = rte_tel_data_alloc();
    if (one == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(one);
    rte_tel_data_add_dict_u64(one, "calls", s.calls);
    rte_tel_data_add_dict_u64(one, "packets", s.vectors);
    rte_tel_data_add_dict_u64(one, "timed_packets", s.packets);
    rte_tel_data_add_dict_u64(one, "timed_cycles", s.cycles);
    rte_tel_data_add_dict_u64(one, "cycles_per_packet",
                              s.packets != 0 ? (s.cycles + s.packets / 2) / s.packets : 0);
    if (rte_tel_data_add_dict_container(d, key(s.name).c_str(), one, 0) != 0) {
      rte_tel_data_free(one);
      return -ENOSPC;
    }
  }
  return 0;
}

int trace_cb(const char*, const char* params, rte_tel_data* d) {
  std::shared_lock lock(g_mutex);
  dp::Dataplane* p = g_dp;
  if (p == nullptr) return -EINVAL;
  if (params == nullptr || std::strcmp(params, "show") == 0) {
    rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
    for (auto& line : p->trace_lines(200)) rte_tel_data_add_array_string(d, line.c_str());
    return 0;
  }
  bool on = std::strcmp(params, "on") == 0;
  if (!on && std::strcmp(params, "off") != 0) return -EINVAL;
  p->set_trace(on);
  rte_tel_data_string(d, on ? "on" : "off");
  return 0;
}

}  // namespace

void register_telemetry(dp::Dataplane& dp) {
  {
    std::unique_lock lock(g_mutex);
    g_dp = &dp;
  }
  rte_telemetry_register_cmd("/traboule/counters", counters_cb,
                             "Data-plane counters summed over workers, keys with '/' for '.'; "
                             "param: name prefix. Zeros are left out without one.");
  rte_telemetry_register_cmd("/traboule/uplinks", uplinks_cb,
                             "Per uplink: link, gateway, packets and bytes.");
  rte_telemetry_register_cmd("/traboule/runtime", runtime_cb,
                             "Per stage: calls, packets, cycles per packet (sampled bursts).");
  rte_telemetry_register_cmd("/traboule/flows", flows_cb,
                             "Flow table use: active, capacity, created, expired.");
  rte_telemetry_register_cmd(
      "/traboule/trace", trace_cb,
      "Per-packet trace: param on|off; without one (or show), the latest 200 records.");
}

void unregister_telemetry() {
  std::unique_lock lock(g_mutex);
  g_dp = nullptr;
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/agent/firewall_log.h"

#include <rte_cycles.h>

#include <algorithm>

namespace traboule::cp {

using nlohmann::json;

void FirewallLog::collect(const dp::Dataplane& dataplane, const dp::PolicySnapshot* p,
                          uint64_t now_ns, const Log& log) {
  constexpr uint32_t kLinesPerSecond = 10;
  constexpr size_t kLastKept = 64, kSourcesKept = 4096;
  const auto logs = dataplane.fw_events();
  if (event_pos_.size() != logs.size()) event_pos_.assign(logs.size(), 0);
  std::vector<dp::FwEvent> evs;
  uint64_t lost = 0;
  for (size_t w = 0; w < logs.size(); ++w) event_pos_[w] = logs[w]->read(event_pos_[w], evs, lost);
  if (now_ns - window_ns_ >= 1'000'000'000ull) {
    if (suppressed_ != 0)
      log(false, "firewall: " + std::to_string(suppressed_) +
                     " more decisions not logged in the last second (rate limit " +
                     std::to_string(kLinesPerSecond) + "/s; counters have them all)");
    window_ns_ = now_ns;
    logged_in_window_ = 0;
    suppressed_ = 0;
  }
  if (evs.empty() && lost == 0) return;
  const uint64_t tsc_now = rte_rdtsc(), hz = rte_get_tsc_hz();
  json out = json::array();
  std::vector<std::string> denied_from;
  for (const dp::FwEvent& e : evs) {
    const char* proto = e.proto == 6    ? "tcp"
                        : e.proto == 17 ? "udp"
                        : e.proto == 1  ? "icmp"
                        : e.proto == 58 ? "icmpv6"
                                        : "ip";
    auto ep = [&](const dp::IpAddr& a, uint16_t port) {
      const std::string s = a.str();
      return (a.is_v4() ? s : "[" + s + "]") + ":" + std::to_string(port);
    };
    std::string rule = "default";
    if (e.rule != dp::kNoFwRule && p != nullptr &&
        static_cast<size_t>(e.rule) < p->firewall.rules.size())
      rule = p->firewall.rules[static_cast<size_t>(e.rule)].name;
    if (e.forward >= 0 && p != nullptr &&
        static_cast<size_t>(e.forward) < p->firewall.forwards.size())
      rule = "port forward " + p->firewall.forwards[static_cast<size_t>(e.forward)].name;
    const std::string verdict = e.verdict < dp::FlowStage::kVerdictCount
                                    ? std::string(dp::FlowStage::kVerdictNames[e.verdict])
                                    : "?";
    const std::string zones = std::string(dp::kZoneNames[static_cast<unsigned>(e.from)]) + "→" +
                              std::string(dp::kZoneNames[static_cast<unsigned>(e.to)]);
    const std::string flow =
        std::string(proto) + " " + ep(e.src, e.src_port) + " → " + ep(e.dst, e.dst_port);
    const bool denied =
        e.verdict != dp::FlowStage::kAllowedRule && e.verdict != dp::FlowStage::kAllowedForward &&
        e.verdict != dp::FlowStage::kAllowedDefault && e.verdict != dp::FlowStage::kAllowedNat &&
        e.verdict != dp::FlowStage::kRelated;
    if (denied) denied_from.push_back(e.src.str());
    if (logged_in_window_ < kLinesPerSecond) {
      ++logged_in_window_;
      log(false, "firewall: " + verdict + " " + zones + " " + flow + " (rule " + rule + ")");
    } else {
      ++suppressed_;
    }
    const uint64_t age_ns = tsc_now > e.tsc && hz != 0 ? (tsc_now - e.tsc) * 1'000'000'000 / hz : 0;
    out.push_back({{"time_ns", now_ns > age_ns ? now_ns - age_ns : now_ns},
                   {"verdict", verdict},
                   {"zones", zones},
                   {"flow", flow},
                   {"rule", rule}});
  }
  std::lock_guard lock(mu_);
  events_lost_ += lost;
  for (json& e : out) last_.push_back(std::move(e));
  while (last_.size() > kLastKept) last_.erase(last_.begin());
  for (const std::string& src : denied_from) {
    auto it = denied_sources_.find(src);
    if (it != denied_sources_.end())
      ++it->second;
    else if (denied_sources_.size() < kSourcesKept)
      denied_sources_.emplace(src, 1);
  }
}

json FirewallLog::view(size_t top, uint64_t now) const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<uint64_t, std::string>> v;
  for (const auto& [src, n] : denied_sources_) v.emplace_back(n, src);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  json srcs = json::array();
  for (size_t i = 0; i < v.size() && i < top; ++i)
    srcs.push_back({{"source", v[i].second}, {"denied", v[i].first}});
  json last = last_;
  for (json& e : last) {
    const uint64_t t = e.value("time_ns", uint64_t{0});
    e["ago_s"] = now >= t ? double(now - t) / 1e9 : 0.0;
  }
  return {{"top_denied_sources", srcs}, {"last", last}, {"records_lost", events_lost_}};
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// Breakout targets: the internet hosts probed through uplinks that allow breakout.
#include <cctype>

#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

namespace {

// Why `host` cannot be an internet host, or nullopt.
std::optional<std::string> bad_host(const std::string& host) {
  bool ip_like = host.find(':') != std::string::npos;
  if (!ip_like) {
    ip_like = true;
    for (char c : host) ip_like = ip_like && ((c >= '0' && c <= '9') || c == '.');
  }
  if (ip_like) {
    auto a = has_nul(host) ? std::nullopt : dp::IpAddr::parse(host);
    if (!a) return "is not a valid IPv4 or IPv6 address";
    if (auto why = unusable_address(*a)) return "is not an internet address: " + *why;
    return std::nullopt;
  }
  // A fully qualified name: labels of letters, digits and inner '-', at least two of them.
  size_t labels = 0, start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    std::string label =
        host.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool good = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-';
    for (char c : label) good = good && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
    if (!good) return "is not a valid host name (labels of letters, digits and inner '-')";
    ++labels;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (labels < 2)
    return "must be a fully qualified host name (like \"www.example.org\") or an address";
  return std::nullopt;
}

}  // namespace

void Checker::check_breakout_targets() {
  const json* arr = section("breakout_targets");
  if (!arr) return;
  bool any_breakout = false;
  for (auto& e : entries_) any_breakout = any_breakout || (e.ok && e.policy.breakout);
  if (!arr->empty() && !any_breakout && uplinks_.complete && !uplinks_broken_ &&
      ok("/breakout_targets"))
    err("/breakout_targets", shown(*arr),
        "are probed through uplinks that allow breakout, and no uplink does");
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& t = (*arr)[i];
    std::string p = at("/breakout_targets", i);
    auto name = register_name(targets_, t, p, i, "breakout target");
    if (!ok(p) || !name) continue;
    BreakoutTarget bt;
    bt.name = *name;
    bt.method = t.at("method").get<std::string>();
    bt.host = t.at("host").get<std::string>();
    bool good = true;
    if (auto why = bad_host(bt.host)) {
      err(p + "/host", jstr(bt.host), *why);
      good = false;
    }
    auto port = uint_at(t, "port");
    if (bt.method == "tcp" && !port) {
      err(p + "/port", "", "is required for method tcp");
      good = false;
    }
    if (bt.method == "icmp" && port) {
      err(p + "/port", std::to_string(*port), "has no meaning for method icmp");
      good = false;
    }
    bt.port = static_cast<uint16_t>(port.value_or(bt.method == "http-head" ? 80 : 0));
    if (good) built_.breakout_targets.push_back(bt);
  }
}

}  // namespace traboule::cp::detail::semantic

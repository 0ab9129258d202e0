// SPDX-License-Identifier: Apache-2.0
// The firewall: the segments it tells hosts apart by, the LAN source check, flood limits,
// inbound rules (none shadowed by an earlier one) and port forwards.
#include <map>
#include <tuple>

#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

namespace {

bool fw_covers(const dp::FwRule& a, const dp::FwRule& b) {
  if (a.from != b.from) return false;
  if (a.to_segment >= 0 && a.to_segment != b.to_segment) return false;
  if (a.proto != 0 && a.proto != b.proto) return false;
  auto prefixes = [](const std::vector<dp::IpPrefix>& outer,
                     const std::vector<dp::IpPrefix>& inner) {
    if (outer.empty()) return true;
    if (inner.empty()) return false;
    for (const auto& i : inner) {
      bool in = false;
      for (const auto& o : outer) in |= prefix_inside(i, o);
      if (!in) return false;
    }
    return true;
  };
  if (!prefixes(a.src, b.src)) return false;
  // A rule to a segment matches only inside its prefixes: as if they were its destinations.
  if (!a.dst.empty()) {
    if (b.dst.empty()) return false;
    if (!prefixes(a.dst, b.dst)) return false;
  }
  if (a.dst_ports.empty()) return true;
  if (b.dst_ports.empty()) return false;
  for (const auto& i : b.dst_ports) {
    bool in = false;
    for (const auto& o : a.dst_ports) in |= i.lo >= o.lo && i.hi <= o.hi;
    if (!in) return false;
  }
  return true;
}

}  // namespace

// Every segment (in document order, the ones that passed their checks) for the source check,
// then the inbound rules. Rule i shadows a later rule j when everything j matches, i matches.
void Checker::check_firewall() {
  dp::FirewallPolicy& fw = built_.snapshot->firewall;
  const std::map<std::string, int16_t> seg_index = firewall_segments();
  const json* f = find(doc_, "firewall");
  if (!f || !ok("/firewall") || !f->is_object()) return;
  if (auto sc = str_at(*f, "lan_source_check")) {
    for (size_t k = 0; k < dp::kSourceCheckNames.size(); ++k)
      if (*sc == dp::kSourceCheckNames[k]) fw.lan_source = static_cast<dp::SourceCheck>(k);
  }
  read_flood(*f);
  check_port_forwards(*f);
  const json* arr = find(*f, "inbound");
  if (!arr || !arr->is_array() || !ok("/firewall/inbound")) return;
  Registry names;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& r = (*arr)[i];
    const std::string p = at("/firewall/inbound", i);
    auto name = register_name(names, r, p, i, "firewall rule");
    if (!ok(p) || !name || !r.is_object()) continue;
    std::optional<dp::FwRule> fr = inbound_rule(r, p, *name, seg_index);
    if (!fr) continue;
    bool good = true;
    for (size_t k = 0; k < fw.rules.size(); ++k) {
      if (fw_covers(fw.rules[k], *fr)) {
        err(p, shown(r),
            "can never match: firewall rule " + jstr(fw.rules[k].name) +
                " before it matches everything it does");
        good = false;
        break;
      }
    }
    if (good) fw.rules.push_back(std::move(*fr));
  }
}

// The segments that passed their checks, in document order; name → index among them.
std::map<std::string, int16_t> Checker::firewall_segments() {
  dp::FirewallPolicy& fw = built_.snapshot->firewall;
  std::map<std::string, int16_t> seg_index;
  for (const std::string& n : segments_.names) {
    auto it = segment_defs_.find(n);
    if (it == segment_defs_.end()) continue;
    seg_index[n] = static_cast<int16_t>(fw.segments.size());
    fw.segments.push_back({n, it->second.vlan, it->second.prefixes});
  }
  return seg_index;
}

void Checker::read_flood(const json& f) {
  const json* fl = find(f, "flood");
  if (!fl || !fl->is_object() || !ok("/firewall/flood")) return;
  dp::FloodLimits& l = built_.snapshot->firewall.flood;
  l.wan_share_percent =
      static_cast<uint32_t>(uint_at(*fl, "wan_share_percent").value_or(l.wan_share_percent));
  l.new_per_source =
      static_cast<uint32_t>(uint_at(*fl, "new_flows_per_source").value_or(l.new_per_source));
  l.new_per_destination = static_cast<uint32_t>(
      uint_at(*fl, "new_flows_per_destination").value_or(l.new_per_destination));
}

// Inbound rule `r` named `name`, compiled; nullopt if anything is wrong (reported).
std::optional<dp::FwRule> Checker::inbound_rule(const json& r, const std::string& p,
                                                const std::string& name,
                                                const std::map<std::string, int16_t>& seg_index) {
  const dp::FirewallPolicy& fw = built_.snapshot->firewall;
  dp::FwRule fr;
  fr.name = name;
  bool good = true;
  fr.from = str_at(r, "from").value_or("wan") == "overlay" ? dp::Zone::kOverlay : dp::Zone::kWan;
  const std::string to = str_at(r, "to").value_or("lan");
  if (to != "lan") {
    auto it = seg_index.find(to);
    if (it == seg_index.end()) {
      if (segments_.complete)
        err(p + "/to", jstr(to), "is not \"lan\" or a segment" + suggest(to, segments_.names));
      good = false;
    } else if (fw.segments[static_cast<size_t>(it->second)].prefixes.empty()) {
      err(p + "/to", jstr(to),
          "is a segment without prefixes: the firewall tells its hosts by address");
      good = false;
    } else {
      fr.to_segment = it->second;
    }
  }
  if (const json* v = find(r, "src_prefixes")) {
    auto l = prefix_list(*v, p + "/src_prefixes");
    good = good && l.has_value();
    if (l) fr.src = *l;
  }
  if (const json* v = find(r, "dst_prefixes")) {
    auto l = prefix_list(*v, p + "/dst_prefixes");
    good = good && l.has_value();
    if (l) {
      fr.dst = *l;
      if (fr.to_segment >= 0) {
        const auto& sp = fw.segments[static_cast<size_t>(fr.to_segment)].prefixes;
        for (size_t k = 0; k < l->size(); ++k) {
          bool inside = false;
          for (const auto& q : sp) inside |= prefix_inside((*l)[k], q);
          if (!inside) {
            err(at(p + "/dst_prefixes", k), jstr((*l)[k].str()),
                "lies outside segment " + jstr(to) + "'s prefixes");
            good = false;
          }
        }
      }
    }
  }
  if (const json* v = find(r, "proto")) fr.proto = proto_number(*v).value_or(0);
  if (const json* v = find(r, "dst_ports")) {
    auto l = port_list(*v, p + "/dst_ports");
    good = good && l.has_value();
    if (l)
      for (const auto& pr : *l) fr.dst_ports.push_back({pr.lo, pr.hi});
    if (l && fr.proto != 6 && fr.proto != 17) {
      err(p + "/dst_ports", shown(*v),
          "needs \"proto\": \"tcp\" or \"udp\" (ports exist only there)");
      good = false;
    }
  }
  const std::string action = str_at(r, "action").value_or("deny");
  fr.action = action == "allow"    ? dp::FwAction::kAllow
              : action == "reject" ? dp::FwAction::kReject
                                   : dp::FwAction::kDeny;
  fr.log = bool_at(r, "log", false);
  if (!good) return std::nullopt;
  return fr;
}

void Checker::check_port_forwards(const json& f) {
  const json* arr = find(f, "port_forwards");
  if (!arr || !arr->is_array() || !ok("/firewall/port_forwards")) return;
  dp::FirewallPolicy& fw = built_.snapshot->firewall;
  Registry names;
  std::map<std::tuple<uint8_t, uint8_t, uint16_t, bool>, std::string> taken;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& r = (*arr)[i];
    const std::string p = at("/firewall/port_forwards", i);
    auto name = register_name(names, r, p, i, "port forward");
    if (!ok(p) || !name || !r.is_object()) continue;
    dp::PortForward pf;
    pf.name = *name;
    bool good = true;
    const std::string up = str_at(r, "uplink").value_or("");
    const UplinkEntry* ue = uplink(up);
    if (ue == nullptr) {
      if (uplinks_.complete)
        err(p + "/uplink", jstr(up), "is not an uplink" + suggest(up, uplinks_.names));
      good = false;
    } else if (ue->site_index < 0) {
      good = false;  // reported with the uplinks
    } else {
      pf.uplink = static_cast<uint8_t>(ue->site_index);
    }
    pf.proto = str_at(r, "proto").value_or("tcp") == "udp" ? 17 : 6;
    pf.port = static_cast<uint16_t>(uint_at(r, "port").value_or(0));
    pf.to_port = static_cast<uint16_t>(uint_at(r, "to_port").value_or(pf.port));
    if (pf.port >= 49152) {
      err(p + "/port", std::to_string(pf.port),
          "lies in the NAT's port range (49152-65535): replies to LAN hosts' connections use it");
      good = false;
    } else if (pf.proto == 17 &&
               (pf.port == 862 || pf.port == 4500 || (pf.port >= 40000 && pf.port < 40256))) {
      err(p + "/port", std::to_string(pf.port),
          "is one of the box's own UDP ports (STAMP 862 and 40000-40255, overlay 4500)");
      good = false;
    }
    const std::string to = str_at(r, "to").value_or("");
    auto addr = dp::IpAddr::parse(to);
    if (!addr) {
      err(p + "/to", jstr(to), "is not an IPv4 or IPv6 address");
      good = false;
    } else {
      pf.to = *addr;
      const bool v4 = addr->is_v4();
      bool inside = false, known = !site_.lan_prefixes.empty();
      for (const auto& q : site_.lan_prefixes) inside |= q.contains(*addr, v4);
      for (const auto& s : fw.segments) {
        known |= !s.prefixes.empty();
        for (const auto& q : s.prefixes) inside |= q.contains(*addr, v4);
      }
      if (known && !inside) {
        err(p + "/to", jstr(to), "is not inside the box's LAN prefixes or any segment's");
        good = false;
      }
    }
    if (const json* v = find(r, "src_prefixes")) {
      auto l = prefix_list(*v, p + "/src_prefixes");
      good = good && l.has_value();
      if (l) pf.src = *l;
    }
    pf.log = bool_at(r, "log", false);
    if (!good) continue;
    auto [it, fresh] =
        taken.emplace(std::tuple(pf.uplink, pf.proto, pf.port, pf.to.is_v4()), *name);
    if (!fresh) {
      err(p + "/port", std::to_string(pf.port),
          "is already forwarded on this uplink by port forward " + jstr(it->second));
      continue;
    }
    fw.forwards.push_back(std::move(pf));
  }
}

}  // namespace traboule::cp::detail::semantic

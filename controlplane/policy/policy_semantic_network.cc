// SPDX-License-Identifier: Apache-2.0
// The box and its neighbours: role, uplinks, overlay peers, LAN segments, probe settings.
#include <set>

#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

void Checker::check_role() {
  std::string want = site_.role;
  if (want != "edge" && want != "hub") return;  // the box did not say: nothing to compare
  const json* r = find(doc_, "role");
  if (r && !ok("/role")) return;
  std::string got = r && r->is_string() ? r->get<std::string>() : "edge";
  if (got != want)
    err("/role", r ? shown(*r) : "",
        "this box is " + std::string(want == "hub" ? "a hub" : "an edge") +
            " and the policy is for " + (got == "hub" ? "a hub" : "an edge") +
            (r ? "" : " (the default)"));
}

void Checker::check_uplinks() {
  const json* arr = section("uplinks");
  if (!arr) {
    uplinks_.complete = false;
    return;
  }
  built_.snapshot->uplinks.resize(site_.uplink_names.size());
  entries_.resize(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& u = (*arr)[i];
    std::string p = at("/uplinks", i);
    UplinkEntry e;
    auto name = register_name(uplinks_, u, p, i, "uplink");
    if (!name) continue;
    for (size_t k = 0; k < site_.uplink_names.size(); ++k)
      if (site_.uplink_names[k] == *name) e.site_index = static_cast<int>(k);
    if (e.site_index < 0)
      err(p + "/name", jstr(*name),
          "the box has no uplink of this name (its uplinks: " + join(site_.uplink_names) + ")" +
              did_you_mean(*name, site_.uplink_names));
    if (ok(p)) {
      auto& up = e.policy;
      up.name = *name;
      up.kind = str_at(u, "kind").value_or("other");
      up.role = str_at(u, "role").value_or("primary") == "backup" ? dp::UplinkRole::kBackup
                                                                  : dp::UplinkRole::kPrimary;
      up.up_bps = uint_at(u, "up_kbps").value_or(0) * 1000;
      up.down_bps = uint_at(u, "down_kbps").value_or(0) * 1000;
      up.cost = static_cast<uint32_t>(uint_at(u, "cost").value_or(0));
      up.monthly_cap_bytes = uint_at(u, "monthly_cap_mb").value_or(0) * 1'000'000;
      // A plan with an allowance is paid by volume; `metered` says so for one without.
      up.metered = bool_at(u, "metered", up.monthly_cap_bytes != 0);
      up.breakout = bool_at(u, "breakout", true);
      e.ok = true;
      if (e.site_index >= 0) built_.snapshot->uplinks[static_cast<size_t>(e.site_index)] = up;
    } else {
      uplinks_broken_ = true;
    }
    entries_[i] = e;
  }
  if (uplinks_.complete) {
    for (auto& n : site_.uplink_names)
      if (!uplinks_.has(n))
        err("/uplinks", shown(json(uplinks_.names)),
            "does not describe uplink " + jstr(n) +
                " of this box (every uplink of the box needs an entry: kind, role)");
  }
  bool all_ok = uplinks_.complete && !uplinks_broken_ && !arr->empty();
  bool any_primary = false;
  for (auto& e : entries_) any_primary = any_primary || e.policy.role == dp::UplinkRole::kPrimary;
  if (all_ok && !any_primary)
    err("/uplinks", shown(json(uplinks_.names)),
        "has no primary uplink: backups carry traffic only when no primary is usable");
}

const UplinkEntry* Checker::uplink(const std::string& name) const {
  auto it = uplinks_.index.find(name);
  if (it == uplinks_.index.end() || it->second >= entries_.size()) return nullptr;
  return &entries_[it->second];
}

void Checker::check_peers() {
  const json* arr = section("peers");
  if (!arr) return;
  if (site_.role == "hub" && !arr->empty() && ok("/peers"))
    err("/peers", shown(*arr), "a hub does not list peers: edges connect to it");
  std::set<dp::IpAddr> seen;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& pe = (*arr)[i];
    std::string p = at("/peers", i);
    auto name = register_name(peers_, pe, p, i, "peer");
    if (!ok(p) || !name) continue;
    OverlayPeer peer;
    peer.name = *name;
    peer.port = static_cast<uint16_t>(uint_at(pe, "port").value_or(0));
    bool good = true;
    const json& eps = pe.at("endpoints");
    for (size_t k = 0; k < eps.size(); ++k) {
      std::string ep = at(p + "/endpoints", k);
      const std::string& s = eps[k].get_ref<const std::string&>();
      auto a = has_nul(s) ? std::nullopt : dp::IpAddr::parse(s);
      if (!a) {
        err(ep, shown(eps[k]), "is not an IPv4 or IPv6 address");
        good = false;
        continue;
      }
      if (auto why = unusable_address(*a)) {
        err(ep, shown(eps[k]), "cannot be a hub's address: " + *why);
        good = false;
        continue;
      }
      if (!seen.insert(*a).second) {
        err(ep, shown(eps[k]), "is already an endpoint of a peer");
        good = false;
        continue;
      }
      peer.endpoints.push_back(*a);
    }
    if (good) built_.peers.push_back(peer);
  }
}

void Checker::check_segments() {
  const json* arr = section("segments");
  if (!arr) return;
  std::map<uint64_t, std::string> vlans;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& s = (*arr)[i];
    std::string p = at("/segments", i);
    auto name = register_name(segments_, s, p, i, "segment");
    if (!ok(p) || !name) continue;
    Segment seg;
    auto vlan = uint_at(s, "vlan");
    const json* pf = find(s, "prefixes");
    if (!vlan && !pf) {
      err(p, shown(s), "needs a vlan, prefixes or both to say which hosts it holds");
      continue;
    }
    bool good = true;
    if (vlan) {
      auto [it, fresh] = vlans.emplace(*vlan, *name);
      if (!fresh) {
        err(p + "/vlan", std::to_string(*vlan),
            "is already the VLAN of segment " + jstr(it->second));
        good = false;
      }
      seg.vlan = static_cast<int32_t>(*vlan);
    }
    if (pf) {
      auto list = prefix_list(*pf, p + "/prefixes");
      if (!list) {
        good = false;
      } else {
        for (size_t k = 0; k < list->size() && good; ++k)
          for (auto& [other, os] : segment_defs_)
            for (auto& q : os.prefixes)
              if (prefix_inside((*list)[k], q) || prefix_inside(q, (*list)[k])) {
                err(at(p + "/prefixes", k), jstr((*list)[k].str()),
                    "overlaps " + jstr(q.str()) + " of segment " + jstr(other) +
                        ": a host would belong to two segments");
                good = false;
              }
        seg.prefixes = *list;
      }
    }
    if (good) segment_defs_[*name] = seg;
  }
}

void Checker::read_probes() {
  const json* pr = find(doc_, "probes");
  if (!pr || !ok("/probes") || !pr->is_object()) {
    probes_ok_ = !pr;
    return;
  }
  auto& s = built_.probes;
  s.interval_ms = static_cast<uint32_t>(uint_at(*pr, "interval_ms").value_or(s.interval_ms));
  s.metered_interval_ms =
      static_cast<uint32_t>(uint_at(*pr, "metered_interval_ms").value_or(s.metered_interval_ms));
  if (const json* d = find(*pr, "dscp")) s.dscp = dscp_value(*d).value_or(0);
  s.port = static_cast<uint16_t>(uint_at(*pr, "port").value_or(s.port));
  s.timeout_ms = static_cast<uint32_t>(uint_at(*pr, "timeout_ms").value_or(s.timeout_ms));
  s.down_after = static_cast<uint16_t>(uint_at(*pr, "down_after").value_or(s.down_after));
  s.up_after = static_cast<uint16_t>(uint_at(*pr, "up_after").value_or(s.up_after));
  s.window = static_cast<uint32_t>(uint_at(*pr, "window").value_or(s.window));
  probes_ok_ = true;
  if (s.window < s.down_after)
    err("/probes/window", std::to_string(s.window),
        "is shorter than down_after (" + std::to_string(s.down_after) +
            "): the loss of a down uplink would never fill the window");
}

}  // namespace traboule::cp::detail::semantic

// SPDX-License-Identifier: Apache-2.0
// A rule's match: which packets it takes (applications, categories, prefixes, protocol, ports,
// DSCP, VLAN or segment), compiled, and refused where it could hold for no packet.
#include <algorithm>
#include <set>

#include "controlplane/policy/app_catalog.h"
#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

// Compiles a rule's match. Fields with a schema error are skipped (and make the result
// unusable); false if anything is wrong (already reported).
bool Checker::compile_match(const json& m, const std::string& p, RuleEntry& r) {
  auto& cm = r.compiled.match;
  bool good = ok(p);
  const json* apps = checked(m, p, "applications");
  if (apps) {
    good = match_apps(*apps, p, cm) && good;
  } else if (find(m, "applications")) {
    good = false;
  }
  const json* cats = checked(m, p, "categories");
  if (cats) good = match_categories(*cats, p, cm) && good;
  // An application outside every listed category can never match.
  if (good && apps && cats && !cm.apps.empty() && !cm.categories.empty())
    good = apps_in_categories(*apps, p, cm);

  const json* src_json = checked(m, p, "src_prefixes");
  if (src_json) {
    auto src = prefix_list(*src_json, p + "/src_prefixes");
    if (src) cm.src = *src;
    good = good && src.has_value();
  }
  if (const json* d = checked(m, p, "dst_prefixes")) {
    auto dst = prefix_list(*d, p + "/dst_prefixes");
    if (dst) cm.dst = *dst;
    good = good && dst.has_value();
  }
  const json* proto = checked(m, p, "proto");
  if (proto) cm.proto = proto_number(*proto).value_or(0);
  good = match_ports(m, p, cm) && good;
  if (const json* ds = checked(m, p, "dscp")) good = match_dscp(*ds, p, cm) && good;
  if (auto vlan = checked(m, p, "vlan")) cm.vlan = static_cast<int32_t>(as_uint(*vlan).value_or(0));
  if (const json* seg = checked(m, p, "segment"))
    good = match_segment(m, seg->get_ref<const std::string&>(), src_json != nullptr, p, cm) && good;
  if (good && !families_agree(m, proto, p, r)) good = false;
  return good;
}

bool Checker::match_apps(const json& apps, const std::string& p, dp::RuleMatch& cm) {
  std::vector<std::string> all_apps;
  for (auto& a : builtin_apps()) all_apps.emplace_back(a.name);
  for (auto& n : custom_.names) all_apps.push_back(n);
  bool good = true;
  std::set<uint16_t> ids;
  std::vector<std::string> listed;
  for (size_t k = 0; k < apps.size(); ++k) {
    std::string ap = at(p + "/applications", k);
    const std::string& n = apps[k].get_ref<const std::string&>();
    if (std::find(listed.begin(), listed.end(), n) != listed.end()) {
      err(ap, jstr(n), "is listed twice");
      good = false;
      continue;
    }
    listed.push_back(n);
    std::vector<uint16_t> add;
    if (const AppInfo* a = find_app(n)) {
      if (!a->suite.empty() &&
          std::find(listed.begin(), listed.end(), std::string(a->suite)) != listed.end()) {
        err(ap, jstr(n), "is part of " + jstr(std::string(a->suite)) + ", listed before it");
        good = false;
        continue;
      }
      add.push_back(a->id);
      for (auto& member : builtin_apps())
        if (member.suite == a->name) add.push_back(member.id);
    } else if (custom_ids_.count(n)) {
      add.push_back(custom_ids_.at(n));
    } else {
      // Defined but broken, or maybe in an entry whose name was unreadable: said there.
      if (custom_.complete && !custom_.has(n))
        err(ap, jstr(n), "is not a built-in or custom application" + did_you_mean(n, all_apps));
      good = false;
      continue;
    }
    for (uint16_t id : add)
      if (ids.insert(id).second) cm.apps.push_back(id);
  }
  return good;
}

bool Checker::match_categories(const json& cats, const std::string& p, dp::RuleMatch& cm) {
  std::vector<std::string> all_cats;
  for (auto& c : builtin_categories()) all_cats.emplace_back(c.name);
  bool good = true;
  for (size_t k = 0; k < cats.size(); ++k) {
    std::string cp = at(p + "/categories", k);
    const std::string& n = cats[k].get_ref<const std::string&>();
    const CategoryInfo* c = find_category(n);
    if (!c) {
      err(cp, jstr(n), "is not a category" + suggest(n, all_cats));
      good = false;
      continue;
    }
    if (std::find(cm.categories.begin(), cm.categories.end(), c->id) != cm.categories.end()) {
      err(cp, jstr(n), "is listed twice");
      good = false;
      continue;
    }
    cm.categories.push_back(c->id);
  }
  return good;
}

// Every listed application (or a member of a listed suite) is in a listed category.
bool Checker::apps_in_categories(const json& apps, const std::string& p, const dp::RuleMatch& cm) {
  bool good = true;
  for (size_t k = 0; k < apps.size(); ++k) {
    const std::string& n = apps[k].get_ref<const std::string&>();
    bool any = false;
    for (auto& a : built_.snapshot->apps) {
      bool named = a.name == n;
      if (const AppInfo* info = find_app(a.name); info && info->suite == n) named = true;
      if (named && std::find(cm.categories.begin(), cm.categories.end(), a.category_id) !=
                       cm.categories.end())
        any = true;
    }
    if (!any) {
      err(at(p + "/applications", k), jstr(n),
          "is in no category listed in categories: this match would never hold for it");
      good = false;
    }
  }
  return good;
}

bool Checker::match_ports(const json& m, const std::string& p, dp::RuleMatch& cm) {
  bool good = true;
  for (const char* key : {"src_ports", "dst_ports"}) {
    const json* ports = checked(m, p, key);
    if (!ports) continue;
    auto list = port_list(*ports, p + "/" + key);
    if (!list) {
      good = false;
      continue;
    }
    (std::string(key) == "src_ports" ? cm.src_ports : cm.dst_ports) = *list;
    if (ok(p + "/proto") && cm.proto != 6 && cm.proto != 17) {
      err(p + "/" + key, shown(*ports),
          "needs \"proto\": \"tcp\" or \"udp\" (ports exist only there)");
      good = false;
    }
  }
  return good;
}

bool Checker::match_dscp(const json& ds, const std::string& p, dp::RuleMatch& cm) {
  bool good = true;
  for (size_t k = 0; k < ds.size(); ++k) {
    uint8_t v = dscp_value(ds[k]).value_or(0);
    if (cm.dscp_mask & (uint64_t{1} << v)) {
      err(at(p + "/dscp", k), shown(ds[k]), "is listed twice (DSCP " + std::to_string(v) + ")");
      good = false;
    }
    cm.dscp_mask |= uint64_t{1} << v;
  }
  return good;
}

// The segment sets the VLAN and, when it has prefixes, the source prefixes (or bounds the ones
// given; `src_read`: they were read).
bool Checker::match_segment(const json& m, const std::string& seg, bool src_read,
                            const std::string& p, dp::RuleMatch& cm) {
  auto it = segment_defs_.find(seg);
  if (it == segment_defs_.end()) {
    if (segments_.complete && !segments_.has(seg))
      err(p + "/segment", jstr(seg), "is not a segment" + suggest(seg, segments_.names));
    return false;
  }
  if (find(m, "vlan")) {
    err(p + "/vlan", shown(m.at("vlan")),
        "cannot be given with segment (the segment sets the VLAN)");
    return false;
  }
  const Segment& s = it->second;
  cm.vlan = s.vlan;
  if (s.prefixes.empty()) return true;
  if (!find(m, "src_prefixes")) {
    cm.src = s.prefixes;
    return true;
  }
  if (!src_read) return true;
  bool good = true;
  for (size_t k = 0; k < cm.src.size(); ++k) {
    bool in = false;
    for (auto& q : s.prefixes) in = in || prefix_inside(cm.src[k], q);
    if (!in) {
      err(at(p + "/src_prefixes", k), jstr(cm.src[k].str()),
          "lies outside segment " + jstr(seg) + "'s prefixes");
      good = false;
    }
  }
  return good;
}

// Source and destination of one packet are of one family, and ICMP is of the prefixes' family;
// else the match matches nothing (reported, and said in `r`).
bool Checker::families_agree(const json& m, const json* proto, const std::string& p, RuleEntry& r) {
  const auto& cm = r.compiled.match;
  auto family = [](const std::vector<dp::IpPrefix>& v) {
    int f = 0;  // 1: all IPv4, 2: all IPv6, 3: both
    for (auto& x : v) f |= x.v4 ? 1 : 2;
    return f;
  };
  if (!cm.src.empty() && !cm.dst.empty() && (family(cm.src) & family(cm.dst)) == 0) {
    err(p, shown(m),
        "matches no packet: its source prefixes are all " +
            std::string(family(cm.src) == 1 ? "IPv4" : "IPv6") +
            " and its destination prefixes all " + (family(cm.dst) == 1 ? "IPv4" : "IPv6"));
  } else if (const int fam = family(cm.src) | family(cm.dst); cm.proto == 1 && fam == 2) {
    err(p + "/proto", shown(*proto), "is ICMP for IPv4 but the prefixes are all IPv6 (use icmpv6)");
  } else if (cm.proto == 58 && fam == 1) {
    err(p + "/proto", shown(*proto), "is ICMPv6 but the prefixes are all IPv4 (use icmp)");
  } else {
    return true;
  }
  r.matches_nothing = true;
  return false;
}

}  // namespace traboule::cp::detail::semantic

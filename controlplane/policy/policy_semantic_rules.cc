// SPDX-License-Identifier: Apache-2.0
// The rules as a list: each compiled (match and action have their own files), the default rule
// last, and no rule shadowed by an earlier one.
#include <algorithm>

#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

namespace {

bool admits(const dp::RuleMatch& m, uint16_t app, uint16_t cat) {
  auto in = [](const std::vector<uint16_t>& s, uint16_t x) {
    return s.empty() || std::find(s.begin(), s.end(), x) != s.end();
  };
  return in(m.apps, app) && in(m.categories, cat);
}

// Every port of `inner` is in the union of `outer`.
bool ports_inside(const dp::PortRange& inner, const std::vector<dp::PortRange>& outer) {
  std::vector<dp::PortRange> sorted = outer;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.lo < b.lo; });
  uint32_t next = inner.lo;  // first port of inner not yet covered
  for (auto& r : sorted) {
    if (r.lo > next) break;
    if (r.hi >= next) next = uint32_t{r.hi} + 1;
    if (next > inner.hi) return true;
  }
  return next > inner.hi;
}

}  // namespace

// The (application, category) pairs a packet can carry: unknown, built-ins, customs.
std::vector<std::pair<uint16_t, uint16_t>> Checker::app_universe() const {
  std::vector<std::pair<uint16_t, uint16_t>> u;
  u.push_back({dp::kAppUnknown, dp::kCategoryUnknown});
  for (auto& a : built_.snapshot->apps)
    if (a.id != dp::kAppUnknown) u.push_back({a.id, a.category_id});
  return u;
}

// Every packet `b` matches, `a` matches too (only what can be proven: prefixes are compared
// one by one, so a set of prefixes that only together covers another is not seen).
bool Checker::covers(const dp::RuleMatch& a, const dp::RuleMatch& b) const {
  if (a.proto != 0 && a.proto != b.proto) return false;
  const uint64_t all = ~uint64_t{0};
  uint64_t am = a.dscp_mask ? a.dscp_mask : all, bm = b.dscp_mask ? b.dscp_mask : all;
  if ((bm & ~am) != 0) return false;
  if (a.vlan >= 0 && a.vlan != b.vlan) return false;
  auto ports = [](const std::vector<dp::PortRange>& pa, const std::vector<dp::PortRange>& pb) {
    if (pa.empty()) return true;
    if (pb.empty()) return false;
    for (auto& r : pb)
      if (!ports_inside(r, pa)) return false;
    return true;
  };
  if (!ports(a.src_ports, b.src_ports) || !ports(a.dst_ports, b.dst_ports)) return false;
  auto prefixes = [](const std::vector<dp::IpPrefix>& pa, const std::vector<dp::IpPrefix>& pb) {
    if (pa.empty()) return true;
    if (pb.empty()) return false;
    for (auto& x : pb) {
      bool in = false;
      for (auto& y : pa) in = in || prefix_inside(x, y);
      if (!in) return false;
    }
    return true;
  };
  if (!prefixes(a.src, b.src) || !prefixes(a.dst, b.dst)) return false;
  for (auto [app, cat] : universe_)
    if (admits(b, app, cat) && !admits(a, app, cat)) return false;
  return true;
}

void Checker::check_rules() {
  universe_ = app_universe();
  const json* arr = section("rules");
  if (!arr) return;
  std::vector<RuleEntry> rules(arr->size());
  bool all_good = true;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& rj = (*arr)[i];
    std::string p = at("/rules", i);
    RuleEntry& r = rules[i];
    if (!rj.is_object()) {
      all_good = false;
      continue;
    }
    auto name = register_name(rules_, rj, p, i, "rule");
    r.name = str_at(rj, "name").value_or("");
    r.compiled.name = r.name;
    all_good = all_good && name.has_value() && ok(p);
    const json* m = find(rj, "match");
    r.json_default = !m || (m->is_object() && m->empty());
    r.match_ptr = m ? p + "/match" : p;
    r.match_value = shown(m ? *m : rj);
    if (!m) {
      r.match_ok = true;
    } else if (m->is_object()) {
      r.match_ok = compile_match(*m, p + "/match", r);
    }
    const json* a = find(rj, "action");
    bool action_ok = a && a->is_object() && compile_action(*a, p + "/action", r);
    all_good = all_good && r.match_ok && action_ok;
  }

  // The default rule: last, and only last.
  const size_t n = rules.size();
  for (size_t i = 0; i + 1 < n; ++i)
    if (rules[i].json_default && (*arr)[i].is_object())
      err(rules[i].match_ptr, rules[i].match_value,
          "is a default rule (no match) before the last rule: " +
              (n - 1 - i == 1 ? std::string("the rule after it")
                              : "the " + std::to_string(n - 1 - i) + " rules after it") +
              " can never match");
  const json* last_match = n > 0 ? find((*arr)[n - 1], "match") : nullptr;
  if (last_match && last_match->is_object() && !rules[n - 1].json_default)
    err(rules[n - 1].match_ptr, shown(*last_match),
        "the last rule must be the default rule: no \"match\" (or an empty one), so that every "
        "packet has a rule");

  // Unreachable rules: every packet they match, an earlier rule matches first.
  for (size_t j = 0; j < n; ++j) {
    if (!rules[j].match_ok || rules[j].matches_nothing) continue;
    for (size_t i = 0; i < j; ++i) {
      if (!rules[i].match_ok || rules[i].json_default) continue;
      if (covers(rules[i].compiled.match, rules[j].compiled.match)) {
        err(rules[j].match_ptr, rules[j].match_value,
            "can never match: rule " + std::to_string(i) + " (" + jstr(rules[i].name) +
                ") matches all of its traffic first");
        all_good = false;
        break;
      }
    }
  }
  if (all_good)
    for (auto& r : rules) built_.snapshot->rules.push_back(std::move(r.compiled));
}

}  // namespace traboule::cp::detail::semantic

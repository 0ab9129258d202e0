// SPDX-License-Identifier: Apache-2.0
// A rule's action: where its traffic goes (egress, uplinks and how to choose among them) and
// what it gets on the way (QoS class, SLA class and fallback), compiled.
#include <algorithm>

#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

// Compiles a rule's action, checking each field that passed the schema.
bool Checker::compile_action(const json& a, const std::string& p, RuleEntry& r) {
  auto& ca = r.compiled.action;
  bool good = ok(p);
  const json* egress_json = checked(a, p, "egress");
  const std::optional<std::string> egress =
      egress_json ? std::optional(egress_json->get<std::string>()) : std::nullopt;
  std::optional<std::string> strategy = "priority";
  if (find(a, "strategy")) {
    const json* s = checked(a, p, "strategy");
    strategy = s ? std::optional(s->get<std::string>()) : std::nullopt;
  }
  if (egress == "drop") {
    ca.egress = dp::Egress::kDrop;
    for (const char* key : {"strategy", "uplinks", "weights", "qos_class", "sla_class", "fallback"})
      if (const json* v = find(a, key)) {
        err(p + "/" + key, shown(*v), "has no effect when egress is drop");
        good = false;
      }
    return good;
  }
  ca.egress = egress == "breakout" ? dp::Egress::kBreakout : dp::Egress::kOverlay;
  static const std::map<std::string, dp::PathStrategy> strategies = {
      {"priority", dp::PathStrategy::kPriority},
      {"best-quality", dp::PathStrategy::kBestQuality},
      {"lowest-cost", dp::PathStrategy::kLowestCost},
      {"load-balance", dp::PathStrategy::kLoadBalance},
      {"duplicate", dp::PathStrategy::kDuplicate}};
  if (strategy) ca.strategy = strategies.at(*strategy);
  good = good && egress && strategy;

  UplinkChoice choice;
  good = action_uplinks(a, p, egress, ca, choice) && good;
  good = strategy_fits(a, p, egress, strategy, choice, ca) && good;
  good = action_weights(a, p, strategy, ca) && good;
  good = action_classes(a, p, ca) && good;
  if (!good) return false;
  return order_uplinks(strategy, std::move(choice.names), ca);
}

// Uplinks of the policy in the default order (primaries first, then backups).
std::vector<std::string> Checker::default_uplinks(bool breakout_only) const {
  std::vector<std::string> out;
  for (int pass = 0; pass < 2; ++pass)
    for (auto& n : uplinks_.names) {
      const UplinkEntry* e = uplink(n);
      if (!e || !e->ok) continue;
      if ((e->policy.role == dp::UplinkRole::kBackup) != (pass == 1)) continue;
      if (breakout_only && !e->policy.breakout) continue;
      out.push_back(n);
    }
  return out;
}

// The uplinks the action lists, or the default list when it lists none.
bool Checker::action_uplinks(const json& a, const std::string& p,
                             const std::optional<std::string>& egress, dp::RuleAction& ca,
                             UplinkChoice& choice) {
  bool good = true;
  auto& names = choice.names;
  const json* ul = find(a, "uplinks");
  if (ul && ok(p + "/uplinks")) {
    for (size_t k = 0; k < ul->size(); ++k) {
      std::string up = at(p + "/uplinks", k);
      const std::string& n = (*ul)[k].get_ref<const std::string&>();
      if (std::find(names.begin(), names.end(), n) != names.end()) {
        err(up, jstr(n), "is listed twice");
        good = false;
        continue;
      }
      const UplinkEntry* e = uplink(n);
      if (!e) {
        if (uplinks_.complete)
          err(up, jstr(n), "is not an uplink of this policy" + suggest(n, uplinks_.names));
        choice.known = good = false;
        continue;
      }
      names.push_back(n);
      if (!e->ok) {
        choice.entries_ok = good = false;
        continue;
      }
      if (ca.egress == dp::Egress::kBreakout && !e->policy.breakout) {
        err(up, jstr(n), "does not allow breakout (its \"breakout\" is false)");
        good = false;
      }
    }
  } else if (ul) {
    choice.known = good = false;
  } else if (!uplinks_.complete || uplinks_broken_ || !egress) {
    choice.known = good = false;  // the full list cannot be known
  } else {
    names = default_uplinks(ca.egress == dp::Egress::kBreakout);
    if (names.empty()) {
      err(p + "/egress", jstr(*egress), "no uplink of the policy allows breakout");
      good = false;
    }
  }
  return good;
}

// The strategy can work with these uplinks: priority lists primaries before backups, duplicate
// has two uplinks and a hub to remove the copies, the choosing strategies have a choice.
bool Checker::strategy_fits(const json& a, const std::string& p,
                            const std::optional<std::string>& egress,
                            const std::optional<std::string>& strategy, const UplinkChoice& choice,
                            const dp::RuleAction& ca) {
  bool good = true;
  const json* ul = find(a, "uplinks");
  const auto& names = choice.names;
  if (strategy == "priority" && ul && choice.known && choice.entries_ok) {
    const std::string* backup = nullptr;
    for (auto& n : names) {
      if (uplink(n)->policy.role == dp::UplinkRole::kBackup) {
        if (!backup) backup = &n;
      } else if (backup) {
        err(p + "/uplinks", shown(*ul),
            "puts backup uplink " + jstr(*backup) + " before primary uplink " + jstr(n) +
                ": a backup carries traffic only when no primary is usable");
        good = false;
        break;
      }
    }
  }
  if (strategy == "duplicate") {
    if (choice.known && names.size() < 2) {
      err(ul ? p + "/uplinks" : p + "/strategy", ul ? shown(*ul) : jstr(*strategy),
          "duplicate needs at least 2 uplinks to send the copies on (got " +
              std::to_string(names.size()) + ")");
      good = false;
    }
    if (egress && ca.egress != dp::Egress::kOverlay) {
      err(p + "/strategy", jstr(*strategy),
          "duplicate needs egress overlay: only a hub can remove the copies");
      good = false;
    } else if (egress && site_.role != "hub" && peers_.names.empty() && peers_.complete) {
      err(p + "/strategy", jstr(*strategy),
          "duplicate needs a hub to remove the copies, and the policy has no peers");
      good = false;
    }
  }
  if ((strategy == "load-balance" || strategy == "best-quality" || strategy == "lowest-cost") &&
      ul && choice.known && names.size() == 1) {
    err(p + "/uplinks", shown(*ul),
        *strategy + " chooses among uplinks: list at least 2, or use priority");
    good = false;
  }
  return good;
}

// Load-balance weights: one per listed uplink, not all 0.
bool Checker::action_weights(const json& a, const std::string& p,
                             const std::optional<std::string>& strategy, dp::RuleAction& ca) {
  const json* w = find(a, "weights");
  if (!w) return true;
  const json* ul = find(a, "uplinks");
  if (!ok(p + "/weights") || !strategy) return false;
  if (strategy != "load-balance") {
    err(p + "/weights", shown(*w),
        "applies only to strategy load-balance (this rule's is " + *strategy + ")");
    return false;
  }
  if (!ul) {
    err(p + "/weights", shown(*w),
        "needs an explicit uplinks list: weights are given in its order");
    return false;
  }
  if (w->size() != ul->size()) {
    err(p + "/weights", shown(*w),
        "has " + std::to_string(w->size()) + " weights for " + std::to_string(ul->size()) +
            " uplinks: give one weight per uplink");
    return false;
  }
  bool good = true;
  uint64_t sum = 0;
  for (auto& x : *w) sum += as_uint(x).value_or(0);
  if (sum == 0) {
    err(p + "/weights", shown(*w), "sum to 0: no uplink would get traffic");
    good = false;
  }
  for (auto& x : *w) ca.weights.push_back(static_cast<uint16_t>(as_uint(x).value_or(0)));
  return good;
}

// The QoS class, the SLA class and what to do when no path meets it.
bool Checker::action_classes(const json& a, const std::string& p, dp::RuleAction& ca) {
  bool good = true;
  if (const json* q = checked(a, p, "qos_class")) {
    const std::string& s = q->get_ref<const std::string&>();
    auto it = qos_index_.find(s);
    if (it != qos_index_.end()) {
      ca.qos_class = static_cast<uint8_t>(it->second);
    } else {
      if (qos_.complete && !qos_.has(s))
        err(p + "/qos_class", jstr(s), "is not a QoS class" + suggest(s, qos_.names));
      good = false;
    }
  }
  if (const json* sla = checked(a, p, "sla_class")) {
    const std::string& s = sla->get_ref<const std::string&>();
    auto it = sla_index_.find(s);
    if (it != sla_index_.end()) {
      ca.sla_class = static_cast<uint8_t>(it->second);
    } else {
      if (sla_.complete && !sla_.has(s))
        err(p + "/sla_class", jstr(s), "is not an SLA class" + suggest(s, sla_.names));
      good = false;
    }
  }
  if (const json* fb = checked(a, p, "fallback")) {
    if (!find(a, "sla_class")) {
      err(p + "/fallback", shown(*fb), "has no effect without sla_class");
      good = false;
    }
    ca.fallback =
        fb->get<std::string>() == "drop" ? dp::SlaFallback::kDrop : dp::SlaFallback::kBestAvailable;
  }
  return good;
}

// Preference order as the data plane reads it. lowest-cost: cheapest first (primaries before
// backups), so that before the path selector lands the first usable uplink is the cheapest.
bool Checker::order_uplinks(const std::optional<std::string>& strategy,
                            std::vector<std::string> names, dp::RuleAction& ca) const {
  if (strategy == "lowest-cost")
    std::stable_sort(names.begin(), names.end(), [&](const std::string& x, const std::string& y) {
      auto& a1 = uplink(x)->policy;
      auto& b1 = uplink(y)->policy;
      return std::pair(a1.role, a1.cost) < std::pair(b1.role, b1.cost);
    });
  for (auto& n : names) {
    int idx = uplink(n)->site_index;
    if (idx < 0) return false;  // reported in uplinks
    ca.uplinks.push_back(static_cast<uint8_t>(idx));
  }
  return true;
}

}  // namespace traboule::cp::detail::semantic

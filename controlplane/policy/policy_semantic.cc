// SPDX-License-Identifier: Apache-2.0
// Layer 2 of validation: what a schema cannot say (references, duplicates, shadowed rules, the
// box's own uplinks, impossible combinations), and the compiled snapshot built on the way. The
// walk over the sections and what every section uses; each section is in its own file (see
// policy_semantic_checker.h).
#include <algorithm>

#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

std::string jstr(const std::string& s) {
  return shown(json(s));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// " (did you mean \"x\"?)" when a known name is close, else "". Ties go to the longest common
// prefix ("rule" → "rules", not "role").
std::string did_you_mean(const std::string& got, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = 99, best_prefix = 0;
  for (auto& k : known) {
    size_t d = edit_distance(got, k);
    if (d > 3 || d > std::max<size_t>(k.size() / 3, 1)) continue;
    size_t prefix = 0;
    while (prefix < got.size() && prefix < k.size() && got[prefix] == k[prefix]) ++prefix;
    if (d < best_d || (d == best_d && prefix > best_prefix)) {
      best_d = d;
      best_prefix = prefix;
      best = k;
    }
  }
  return best.empty() ? "" : " (did you mean \"" + best + "\"?)";
}

// did_you_mean, else the list of known names when it is short.
std::string suggest(const std::string& got, const std::vector<std::string>& known) {
  std::string d = did_you_mean(got, known);
  if (!d.empty()) return d;
  if (known.empty()) return " (none is defined)";
  if (known.size() <= 16) return " (known: " + join(known) + ")";
  return "";
}

const json* find(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::optional<std::string> str_at(const json& obj, const char* key) {
  const json* v = find(obj, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

// A non-negative integer, whether parsed (unsigned) or built in code (signed).
std::optional<uint64_t> as_uint(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

std::optional<uint64_t> uint_at(const json& obj, const char* key) {
  const json* v = find(obj, key);
  return v ? as_uint(*v) : std::nullopt;
}

bool bool_at(const json& obj, const char* key, bool dflt) {
  const json* v = find(obj, key);
  return v && v->is_boolean() ? v->get<bool>() : dflt;
}

Checker::Checker(const json& doc, const SiteFacts& site, const std::vector<PolicyError>& schema,
                 std::vector<PolicyError>& errors)
    : doc_(doc), site_(site), errors_(errors) {
  for (auto& e : schema) bad_.push_back(e.pointer);
}

Built Checker::run() {
  if (!doc_.is_object()) return std::move(built_);  // the schema said so; nothing to read
  check_role();
  check_uplinks();
  check_peers();
  check_segments();
  read_probes();
  check_sla_classes();
  check_qos_classes();
  check_applications();
  check_rules();
  check_breakout_targets();
  check_firewall();
  return std::move(built_);
}

// No schema error at, under or above `ptr`.
bool Checker::ok(const std::string& ptr) const {
  for (auto& b : bad_)
    if (b.empty() || b == ptr || starts_with(b, ptr + "/") || starts_with(ptr, b + "/"))
      return false;
  return true;
}

void Checker::err(const std::string& ptr, const std::string& value, const std::string& msg) {
  errors_.push_back({ptr, value, msg});
}

// Registers the name of entry `i` of a section; reports duplicates.
std::optional<std::string> Checker::register_name(Registry& reg, const json& entry,
                                                  const std::string& p, size_t i,
                                                  const char* what) {
  auto name = str_at(entry, "name");
  if (!name || !ok(p + "/name")) {
    reg.complete = false;
    return std::nullopt;
  }
  auto [it, fresh] = reg.index.emplace(*name, i);
  if (!fresh) {
    err(p + "/name", jstr(*name),
        std::string("is already the name of ") + what + " " + std::to_string(it->second));
    return std::nullopt;
  }
  reg.names.push_back(*name);
  return name;
}

const json* Checker::section(const char* key) const {
  const json* v = find(doc_, key);
  return v && v->is_array() ? v : nullptr;
}

const json* Checker::checked(const json& obj, const std::string& p, const char* key) const {
  const json* v = find(obj, key);
  return v && ok(p + "/" + key) ? v : nullptr;
}

}  // namespace traboule::cp::detail::semantic

namespace traboule::cp::detail {

Built semantic_check(const json& doc, const SiteFacts& site, const std::vector<PolicyError>& schema,
                     std::vector<PolicyError>& errors) {
  return semantic::Checker(doc, site, schema, errors).run();
}

}  // namespace traboule::cp::detail

// SPDX-License-Identifier: Apache-2.0
#include "tests/fuzz/policy_fuzz_entry.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "controlplane/policy/policy.h"

namespace traboule::cp {
namespace {

using json = nlohmann::json;

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "policy_fuzz: invariant broken: %s\n%s\n", what, detail.c_str());
  std::abort();
}

#define FUZZ_CHECK(cond, detail)        \
  do {                                  \
    if (!(cond)) broken(#cond, detail); \
  } while (0)

// The box the input describes (like the examples' tests): its own uplink names and role, so
// inputs reach the semantic checks and the compiler instead of stopping at "unknown uplink".
SiteFacts facts_of(const json& doc) {
  SiteFacts s;
  if (!doc.is_object()) return s;
  auto up = doc.find("uplinks");
  if (up != doc.end() && up->is_array())
    for (auto& u : *up)
      if (u.is_object() && u.contains("name") && u["name"].is_string())
        s.uplink_names.push_back(u["name"].get<std::string>());
  auto role = doc.find("role");
  if (role != doc.end() && role->is_string()) s.role = role->get<std::string>();
  return s;
}

void check_errors(const std::vector<PolicyError>& errors, const std::string& input) {
  FUZZ_CHECK(!errors.empty(), input);
  for (auto& e : errors) {
    FUZZ_CHECK(!e.message.empty(), input);
    FUZZ_CHECK(e.pointer.empty() || e.pointer[0] == '/', e.pointer);
    (void)to_string(e);
  }
  // Errors go back to operators as JSON: they must serialise (valid UTF-8).
  try {
    (void)to_json(errors).dump();
  } catch (const json::exception& ex) {
    broken("errors serialise", ex.what());
  }
}

void check_compiled(const CompiledPolicy& c, const json& doc, const SiteFacts& site) {
  const std::string text = canonical_text(doc);
  FUZZ_CHECK(c.snapshot != nullptr, text);
  const auto& s = *c.snapshot;
  FUZZ_CHECK(c.hash == sha256_hex(text) && s.hash == c.hash, text);
  FUZZ_CHECK(s.uplinks.size() == site.uplink_names.size(), text);
  FUZZ_CHECK(!s.rules.empty(), text);
  const auto& last = s.rules.back().match;
  FUZZ_CHECK(last.src.empty() && last.dst.empty() && last.src_ports.empty() &&
                 last.dst_ports.empty() && last.proto == 0 && last.dscp_mask == 0 &&
                 last.vlan < 0 && last.apps.empty() && last.categories.empty(),
             text);
  for (size_t i = 0; i < s.apps.size(); ++i) FUZZ_CHECK(s.apps[i].id == i, text);
  for (auto& r : s.rules) {
    for (uint8_t u : r.action.uplinks) FUZZ_CHECK(u < s.uplinks.size(), text);
    FUZZ_CHECK(r.action.egress == dp::Egress::kDrop || !r.action.uplinks.empty(), text);
    FUZZ_CHECK(r.action.weights.empty() || r.action.weights.size() == r.action.uplinks.size(),
               text);
    FUZZ_CHECK(r.action.qos_class == dp::kNoClass || r.action.qos_class < s.qos_classes.size(),
               text);
    FUZZ_CHECK(r.action.sla_class == dp::kNoClass || r.action.sla_class < s.sla_classes.size(),
               text);
    for (uint16_t a : r.match.apps) FUZZ_CHECK(a != dp::kAppUnknown && a < s.apps.size(), text);
    for (auto& p : r.match.src_ports) FUZZ_CHECK(p.lo <= p.hi, text);
    for (auto& p : r.match.dst_ports) FUZZ_CHECK(p.lo <= p.hi, text);
  }
  // The stored text reads back as the same document, and hashes the same.
  json again = json::parse(text);
  FUZZ_CHECK(again == doc, text);
  FUZZ_CHECK(sha256_hex(canonical_text(again)) == c.hash, text);
  // Every packet has a rule: the default one at worst.
  dp::PacketMeta m;
  m.src = *dp::IpAddr::parse("10.1.2.3");
  m.dst = *dp::IpAddr::parse("2001:db8::1");
  m.l4_proto = 17;
  m.flags = dp::meta_flag::kHasL4;
  FUZZ_CHECK(s.match(m, dp::kAppUnknown, dp::kCategoryUnknown) < s.rules.size(), text);
}

}  // namespace

int policy_fuzz_one(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  json doc;
  std::vector<PolicyError> errors;
  if (!parse_policy_text(input, doc, errors)) {
    check_errors(errors, input);
    FUZZ_CHECK(doc.is_null(), input);
    return 0;
  }
  const SiteFacts site = facts_of(doc);
  auto compiled = compile_policy(doc, site, 1, errors);
  if (compiled) {
    FUZZ_CHECK(errors.empty(), input);
    check_compiled(*compiled, doc, site);
  } else {
    check_errors(errors, input);
    FUZZ_CHECK(validate_policy(doc, site) == errors, input);  // deterministic, one code path
  }
  json def = default_policy(site);
  json patch = policy_diff(doc, def);
  FUZZ_CHECK(doc.patch(patch) == def, input);
  return 0;
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// The semantic checker (layer 2 of validation), shared by its sources; not part of any API
// (policy.h is). One source per part of the policy, all named policy_semantic_*.cc:
//   policy_semantic.cc        the walk over the sections, and what every section uses
//   _values.cc                prefixes, ports, protocols, DSCP, addresses
//   _network.cc               role, uplinks, peers, segments, probes
//   _classes.cc               SLA and QoS classes
//   _applications.cc          built-in and custom applications
//   _match.cc, _action.cc     the two halves of a rule
//   _rules.cc                 the rules as a list (default last, none shadowed)
//   _breakout.cc              breakout targets
//   _firewall.cc              segments for the source check, inbound rules, port forwards
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/policy/policy_internal.h"

namespace traboule::cp::detail::semantic {

bool starts_with(const std::string& s, const std::string& p);
// A string as JSON text, for a message.
std::string jstr(const std::string& s);
std::string join(const std::vector<std::string>& v);
// " (did you mean \"x\"?)" when a known name is close, else "".
std::string did_you_mean(const std::string& got, const std::vector<std::string>& known);
// did_you_mean, else the list of known names when it is short.
std::string suggest(const std::string& got, const std::vector<std::string>& known);

const json* find(const json& obj, const char* key);
std::optional<std::string> str_at(const json& obj, const char* key);
// A non-negative integer, whether parsed (unsigned) or built in code (signed).
std::optional<uint64_t> as_uint(const json& v);
std::optional<uint64_t> uint_at(const json& obj, const char* key);
bool bool_at(const json& obj, const char* key, bool dflt);

// A string the C library would cut short (inet_pton reads up to the first NUL).
bool has_nul(const std::string& s);
std::optional<uint8_t> proto_number(const json& v);
std::optional<uint8_t> dscp_value(const json& v);
bool prefix_inside(const dp::IpPrefix& inner, const dp::IpPrefix& outer);
// Addresses that are never a remote host on the internet: why, or nullopt.
std::optional<std::string> unusable_address(const dp::IpAddr& a);

// Names of one kind of thing, in document order, with where each was defined.
struct Registry {
  std::map<std::string, size_t> index;  // name → position in its section
  std::vector<std::string> names;
  bool complete = true;  // false when an entry's name could not be read: unknown ≠ wrong

  bool has(const std::string& n) const { return index.count(n) != 0; }
};

struct UplinkEntry {
  dp::UplinkPolicy policy;
  bool ok = false;      // passed every check: usable for cross-checks
  int site_index = -1;  // -1: the box has no such uplink
};

struct RuleEntry {
  std::string name;
  dp::CompiledRule compiled;
  bool json_default = false;  // no match, or an empty one
  bool match_ok = false;      // compiled.match is exactly what the document says
  bool matches_nothing = false;
  std::string match_ptr;    // where to point at the match ("/rules/i/match" or "/rules/i")
  std::string match_value;  // and what is there
};

struct Segment {
  int32_t vlan = -1;
  std::vector<dp::IpPrefix> prefixes;
};

// The uplinks a rule's action names (or the default list), by name, in the order given.
struct UplinkChoice {
  std::vector<std::string> names;
  bool known = true;       // the list is the full list
  bool entries_ok = true;  // every one's fields are known
};

class Checker {
 public:
  Checker(const json& doc, const SiteFacts& site, const std::vector<PolicyError>& schema,
          std::vector<PolicyError>& errors);

  Built run();

 private:
  // ---- policy_semantic.cc: what every section uses ----
  // No schema error at, under or above `ptr`.
  bool ok(const std::string& ptr) const;
  void err(const std::string& ptr, const std::string& value, const std::string& msg);
  static std::string at(const std::string& ptr, size_t i) { return ptr + "/" + std::to_string(i); }
  // Registers the name of entry `i` of a section; reports duplicates.
  std::optional<std::string> register_name(Registry& reg, const json& entry, const std::string& p,
                                           size_t i, const char* what);
  const json* section(const char* key) const;
  // obj[key] (at pointer p + "/" + key) when present and without a schema error.
  const json* checked(const json& obj, const std::string& p, const char* key) const;

  // ---- policy_semantic_values.cc ----
  std::optional<dp::IpPrefix> prefix(const json& v, const std::string& p);
  // Parses a list; reports entries that repeat or lie inside another. nullopt if any is bad.
  std::optional<std::vector<dp::IpPrefix>> prefix_list(const json& arr, const std::string& p);
  std::optional<dp::PortRange> port_spec(const json& v, const std::string& p);
  std::optional<std::vector<dp::PortRange>> port_list(const json& arr, const std::string& p);

  // ---- policy_semantic_network.cc ----
  void check_role();
  void check_uplinks();
  const UplinkEntry* uplink(const std::string& name) const;
  void check_peers();
  void check_segments();
  void read_probes();

  // ---- policy_semantic_classes.cc ----
  void check_sla_classes();
  void check_qos_classes();

  // ---- policy_semantic_applications.cc ----
  void check_applications();
  void add_builtin_apps();
  std::optional<dp::AppDef> custom_app(const json& c, const std::string& p, size_t i,
                                       const std::string& name);
  bool app_domains(const json& doms, const std::string& p, dp::AppDef& d);

  // ---- policy_semantic_match.cc ----
  bool compile_match(const json& m, const std::string& p, RuleEntry& r);
  bool match_apps(const json& apps, const std::string& p, dp::RuleMatch& cm);
  bool match_categories(const json& cats, const std::string& p, dp::RuleMatch& cm);
  bool apps_in_categories(const json& apps, const std::string& p, const dp::RuleMatch& cm);
  bool match_ports(const json& m, const std::string& p, dp::RuleMatch& cm);
  bool match_dscp(const json& ds, const std::string& p, dp::RuleMatch& cm);
  bool match_segment(const json& m, const std::string& seg, bool src_read, const std::string& p,
                     dp::RuleMatch& cm);
  bool families_agree(const json& m, const json* proto, const std::string& p, RuleEntry& r);

  // ---- policy_semantic_action.cc ----
  bool compile_action(const json& a, const std::string& p, RuleEntry& r);
  std::vector<std::string> default_uplinks(bool breakout_only) const;
  bool action_uplinks(const json& a, const std::string& p, const std::optional<std::string>& egress,
                      dp::RuleAction& ca, UplinkChoice& choice);
  bool strategy_fits(const json& a, const std::string& p, const std::optional<std::string>& egress,
                     const std::optional<std::string>& strategy, const UplinkChoice& choice,
                     const dp::RuleAction& ca);
  bool action_weights(const json& a, const std::string& p,
                      const std::optional<std::string>& strategy, dp::RuleAction& ca);
  bool action_classes(const json& a, const std::string& p, dp::RuleAction& ca);
  bool order_uplinks(const std::optional<std::string>& strategy, std::vector<std::string> names,
                     dp::RuleAction& ca) const;

  // ---- policy_semantic_rules.cc ----
  void check_rules();
  std::vector<std::pair<uint16_t, uint16_t>> app_universe() const;
  bool covers(const dp::RuleMatch& a, const dp::RuleMatch& b) const;

  // ---- policy_semantic_breakout.cc ----
  void check_breakout_targets();

  // ---- policy_semantic_firewall.cc ----
  void check_firewall();
  std::map<std::string, int16_t> firewall_segments();
  void read_flood(const json& f);
  std::optional<dp::FwRule> inbound_rule(const json& r, const std::string& p,
                                         const std::string& name,
                                         const std::map<std::string, int16_t>& seg_index);
  void check_port_forwards(const json& f);

  const json& doc_;
  const SiteFacts& site_;
  std::vector<PolicyError>& errors_;
  std::vector<std::string> bad_;
  Built built_;

  Registry uplinks_, peers_, segments_, sla_, qos_, custom_, rules_, targets_;
  std::vector<UplinkEntry> entries_;  // parallel to the uplinks section
  bool uplinks_broken_ = false;       // some uplink entry failed its checks
  bool probes_ok_ = true;
  std::map<std::string, Segment> segment_defs_;
  std::map<std::string, size_t> sla_index_, qos_index_;
  std::map<std::string, uint16_t> custom_ids_;
  std::vector<std::pair<uint16_t, uint16_t>> universe_;
};

}  // namespace traboule::cp::detail::semantic

// SPDX-License-Identifier: Apache-2.0
// The policy pipeline of the control plane: parse → validate (JSON Schema, then semantic
// checks) → compile into the data plane's immutable snapshot. Pure functions: the daemon, the
// API and `traboulectl policy validate` (offline) all call these same entry points.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/model/policy_snapshot.h"

namespace traboule::cp {

// One problem in a policy: where (JSON pointer, "" for the document), the offending value
// (JSON text, shortened to about 80 characters; "" when the field is missing) and what is wrong.
struct PolicyError {
  std::string pointer;
  std::string value;
  std::string message;
  bool operator==(const PolicyError&) const = default;
};
std::string to_string(
    const PolicyError& e);  // "/rules/2/action/uplinks/0: \"fibre\": unknown uplink"
nlohmann::json to_json(const std::vector<PolicyError>& errors);

// What the box knows that the policy refers to: its uplinks, by config name and index. A policy
// must describe exactly these uplinks, and declare this role (its "role", default "edge").
struct SiteFacts {
  std::vector<std::string> uplink_names;  // Site::uplinks order
  std::string role = "edge";              // "edge" or "hub"
  // The box's SaaS endpoint lists (data/saas, docs/classify.md): domain pattern → built-in
  // application name, compiled with the policy's custom domains into the snapshot's matcher.
  std::vector<std::pair<std::string, std::string>> saas_domains;
  // The LAN prefixes of the box's config (lan.prefixes): a port forward must lead inside them
  // or inside a segment. Empty: not known (offline validation without a config).
  std::vector<dp::IpPrefix> lan_prefixes;
};

// Defaults: an outage is seen within 5 x 50 ms + 5 ms from the last answer (< 300 ms), and a
// path at 3 % random loss needs 5 losses in a row to be taken down (p = 2.4e-8 per probe: once
// in ~6 months of probing); docs/links.md has the arithmetic.
struct ProbeSettings {
  uint32_t interval_ms = 50;
  uint32_t metered_interval_ms = 1000;  // on metered uplinks (monthly cap or metered: true)
  uint8_t dscp = 0;
  uint16_t port = 862;         // STAMP reflector port
  uint32_t timeout_ms = 1000;  // a probe not back by then counts as lost
  uint16_t down_after = 5;     // consecutive misses
  uint16_t up_after = 5;       // consecutive successes
  uint32_t window = 200;       // probes in the sliding statistics window (10 s at 50 ms)
};

struct OverlayPeer {
  std::string name;
  std::vector<dp::IpAddr> endpoints;  // the hub's public addresses
  uint16_t port = 0;
};

// An internet target probed over breakout uplinks (breakout traffic never reaches the hub).
struct BreakoutTarget {
  std::string name;
  std::string method;  // "icmp", "tcp", "http-head"
  std::string host;    // address or name
  uint16_t port = 0;
};

// Everything a validated policy turns into. `snapshot` goes to the data plane; the rest is read
// by control threads (probes, overlay).
struct CompiledPolicy {
  std::shared_ptr<const dp::PolicySnapshot> snapshot;
  ProbeSettings probes;
  std::vector<OverlayPeer> peers;
  std::vector<BreakoutTarget> breakout_targets;
  nlohmann::json source;  // the policy document as validated
  std::string hash;       // sha256 hex of canonical_text(source)
};

// The canonical text of a document (sorted keys, no insignificant whitespace): what is hashed
// and stored.
std::string canonical_text(const nlohmann::json& doc);
std::string sha256_hex(const std::string& data);

// Parses policy text. On a syntax error returns false and fills `errors` with one entry whose
// message gives the byte offset (and line, column). Also refused, with `doc` left null: a key
// given twice in one object (one error per repeat, at its pointer) and nesting deeper than 32.
bool parse_policy_text(const std::string& text, nlohmann::json& doc,
                       std::vector<PolicyError>& errors);

// Schema (policies/schema/policy.v1.json, embedded at build time) then semantic checks against
// the site, on the parts that passed the schema. Returns every error found, schema errors
// first, in document order within each layer (at most 200, then one saying how many more);
// empty means valid. docs/policy.md lists the checks.
std::vector<PolicyError> validate_policy(const nlohmann::json& doc, const SiteFacts& site);

// Validates then compiles. On any error returns nullptr and appends to `errors` exactly what
// validate_policy returns. The snapshot's uplinks follow `site.uplink_names`; actions name
// uplinks by that index and classes by their index in their section; snapshot.apps[i].id == i
// (0: unknown, then app_catalog.h's built-ins, then the policy's custom applications).
std::shared_ptr<const CompiledPolicy> compile_policy(const nlohmann::json& doc,
                                                     const SiteFacts& site, uint64_t version,
                                                     std::vector<PolicyError>& errors);

// The policy compiled in when nothing else is available: every uplink primary (kind "other"),
// one default rule with egress overlay and strategy priority over the uplinks in config order
// (overlay is forwarded natively until the overlay lands, so this forwards on any edge). Used
// on first boot and in the lab demo. Invalid (an error at /uplinks) for a box without uplinks.
nlohmann::json default_policy(const SiteFacts& site);

// Structural difference between two documents as an RFC 6902 JSON Patch (nlohmann's diff).
nlohmann::json policy_diff(const nlohmann::json& from, const nlohmann::json& to);

}  // namespace traboule::cp

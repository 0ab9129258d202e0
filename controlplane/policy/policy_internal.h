// SPDX-License-Identifier: Apache-2.0
// Pieces shared by the policy sources (schema layer, semantic layer, entry points); not part of
// the public API (policy.h is).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "controlplane/policy/policy.h"

namespace traboule::cp::detail {

using json = nlohmann::json;

// Deeper documents are refused before anything recursive touches them.
inline constexpr size_t kMaxDepth = 32;
// A document this wrong is reported in part: the rest is noise.
inline constexpr size_t kMaxErrors = 200;

// JSON text of a value for an error message, cut to about 80 characters on a UTF-8 boundary.
std::string shown(const json& v);
// Untrusted bytes for a message: printable ASCII kept, the rest as \xHH (always valid UTF-8).
std::string printable(const std::string& s);
// Optimal string alignment distance (a swap of two letters is one edit), for "did you mean".
size_t edit_distance(const std::string& a, const std::string& b);
// RFC 6901: one reference token.
std::string escape_token(const std::string& key);

// Layer 1: the embedded JSON Schema. Errors carry pointers into `doc`.
std::vector<PolicyError> schema_errors(const json& doc);

// What the semantic layer builds while checking; complete only when it reported no error.
struct Built {
  std::shared_ptr<dp::PolicySnapshot> snapshot = std::make_shared<dp::PolicySnapshot>();
  ProbeSettings probes;
  std::vector<OverlayPeer> peers;
  std::vector<BreakoutTarget> breakout_targets;
};

// Layer 2. Skips any part of the document under a pointer that has a schema error (`schema`),
// so a partly broken document is checked where it can be and never crashes the checks.
Built semantic_check(const json& doc, const SiteFacts& site, const std::vector<PolicyError>& schema,
                     std::vector<PolicyError>& errors);

}  // namespace traboule::cp::detail

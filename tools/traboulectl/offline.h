// SPDX-License-Identifier: Apache-2.0
// Offline policy validation: the daemon's own parse → validate → compile
// (controlplane/policy) run on the operator's machine, against the uplinks given on the
// command line, read from a trabouled config, or declared by the policy itself.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "controlplane/policy/policy.h"

namespace traboule::ctl {

// Where the site facts came from, for the report.
enum class SiteSource { kCommandLine, kConfigFile, kPolicy, kDevicesFile };
const char* to_string(SiteSource s);

struct OfflineReport {
  std::string file;
  bool valid = false;
  std::string hash;  // sha256 of the canonical document, when valid
  cp::SiteFacts site;
  SiteSource source = SiteSource::kPolicy;
  std::vector<cp::PolicyError> errors;
  nlohmann::json document;  // the parsed policy (null when it did not parse)
};

// Reads a whole file (at most `max_bytes`); on failure returns nullopt and sets `error`.
std::optional<std::string> read_text_file(const std::string& path, size_t max_bytes,
                                          std::string& error);
inline constexpr size_t kMaxPolicyBytes = 4u << 20;

// The uplink names a policy declares (uplinks[].name, strings only, in order).
std::vector<std::string> policy_uplink_names(const nlohmann::json& doc);
// The role a policy says it is for ("edge" when absent or not a string).
std::string policy_role(const nlohmann::json& doc);

// Parses `text` and compiles it for `site` (or, when `site` is nullopt, for the uplinks and
// role the policy declares, `role_override` winning over the policy's role).
OfflineReport validate_policy_text(const std::string& file, const std::string& text,
                                   const std::optional<cp::SiteFacts>& site, SiteSource source,
                                   const std::optional<std::string>& role_override);

// The facts of a trabouled config file (uplink names in order, role), loaded with the
// daemon's own config parser. On failure returns nullopt and sets `error`.
std::optional<cp::SiteFacts> site_from_config(const std::string& path, std::string& error);

// Human: "FILE: valid ..." or the problems one per line. JSON: the report object.
std::string render_offline_report(const OfflineReport& report);
nlohmann::json offline_report_json(const OfflineReport& report);

}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/offline.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "controlplane/config/config.h"
#include "tools/traboulectl/table.h"

namespace traboule::ctl {

const char* to_string(SiteSource s) {
  switch (s) {
    case SiteSource::kCommandLine:
      return "command line";
    case SiteSource::kConfigFile:
      return "config file";
    case SiteSource::kPolicy:
      return "policy";
    case SiteSource::kDevicesFile:
      return "devices file";
  }
  return "?";
}

std::optional<std::string> read_text_file(const std::string& path, size_t max_bytes,
                                          std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + sanitize_text(path) + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      error = sanitize_text(path) + " is larger than " + std::to_string(max_bytes) + " bytes";
      return std::nullopt;
    }
  }
  if (in.bad()) {
    error = "cannot read " + sanitize_text(path) + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return text;
}

std::vector<std::string> policy_uplink_names(const nlohmann::json& doc) {
  std::vector<std::string> names;
  if (!doc.is_object()) return names;
  const auto it = doc.find("uplinks");
  if (it == doc.end() || !it->is_array()) return names;
  for (const auto& u : *it) {
    if (!u.is_object()) continue;
    const auto n = u.find("name");
    if (n != u.end() && n->is_string()) names.push_back(n->get<std::string>());
  }
  return names;
}

std::string policy_role(const nlohmann::json& doc) {
  if (doc.is_object()) {
    const auto it = doc.find("role");
    if (it != doc.end() && it->is_string()) return it->get<std::string>();
  }
  return "edge";
}

OfflineReport validate_policy_text(const std::string& file, const std::string& text,
                                   const std::optional<cp::SiteFacts>& site, SiteSource source,
                                   const std::optional<std::string>& role_override) {
  OfflineReport report;
  report.file = file;
  report.source = source;
  nlohmann::json doc;
  if (!cp::parse_policy_text(text, doc, report.errors)) return report;
  report.document = doc;
  if (site) {
    report.site = *site;
  } else {
    report.source = SiteSource::kPolicy;
    report.site.uplink_names = policy_uplink_names(doc);
    report.site.role = policy_role(doc);
  }
  if (role_override) report.site.role = *role_override;
  const auto compiled = cp::compile_policy(doc, report.site, 0, report.errors);
  if (compiled && report.errors.empty()) {
    report.valid = true;
    report.hash = compiled->hash;
  }
  return report;
}

std::optional<cp::SiteFacts> site_from_config(const std::string& path, std::string& error) {
  try {
    const cp::AgentConfig config = cp::load_config_file(path);
    cp::SiteFacts site;
    site.role = cp::to_string(config.role);
    for (const auto& uplink : config.uplinks) site.uplink_names.push_back(uplink.name);
    return site;
  } catch (const std::exception& e) {
    error = "bad config " + sanitize_text(path) + ": " + sanitize_text(e.what());
    return std::nullopt;
  }
}

std::string render_offline_report(const OfflineReport& report) {
  std::string out;
  if (report.valid) {
    std::string names;
    for (const auto& n : report.site.uplink_names) names += (names.empty() ? "" : ", ") + n;
    out = sanitize_text(report.file) + ": valid for " + report.site.role + " with uplinks " +
          sanitize_text(names) + " (from the " + to_string(report.source) + "); sha256 " +
          report.hash + "\n";
    return out;
  }
  for (const auto& e : report.errors) out += sanitize_text(cp::to_string(e)) + "\n";
  return out;
}

nlohmann::json offline_report_json(const OfflineReport& report) {
  nlohmann::json j = {{"file", report.file},
                      {"valid", report.valid},
                      {"site",
                       {{"uplinks", report.site.uplink_names},
                        {"role", report.site.role},
                        {"source", to_string(report.source)}}},
                      {"errors", cp::to_json(report.errors)}};
  if (report.valid) j["hash"] = report.hash;
  return j;
}

}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
// The SaaS endpoint lists (data/saas/*.json): reading the vendors' published formats (the
// Microsoft 365 endpoints web service JSON, Google's goog.json/cloud.json, plain domain/CIDR
// lists for Zoom and Webex), validating every entry, and writing our normalised files.
// Errors are SaasError exceptions naming the file, the line or JSON pointer, and the value.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace traboule::saas {

inline constexpr const char* kFormat = "traboule-saas/1";

struct SaasError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Endpoint {
  std::string app;       // catalogue name: teams, outlook, google-meet, zoom, ...
  std::string category;  // Microsoft 365: optimize, allow, default; empty for the others
  int id = 0;            // the vendor's endpoint-set id, 0 when it has none
  std::vector<std::string>
      domains;  // patterns, "*.x" = x's subdomains (see dataplane/model/domain_matcher.h)
  std::vector<std::string> prefixes;  // CIDR, normalised text
  std::string tcp_ports;
  std::string udp_ports;
};

struct Source {
  std::string url;        // where the vendor publishes the list
  std::string retrieved;  // YYYY-MM-DD
  std::string how;        // what file it came from, or "transcribed, ..."
  std::string version;    // the vendor's version/syncToken when the format carries one
};

struct VendorList {
  std::string vendor;  // microsoft365, google-workspace, zoom, webex
  Source source;
  std::vector<Endpoint> endpoints;
  size_t widened = 0;  // vendor URLs with a placeholder label, written as a wildcard
};

// Microsoft 365: the array returned by https://endpoints.office.com/endpoints/worldwide.
VendorList read_m365(const std::string& path);
// Google: goog.json (prefixes), minus any prefix that lies inside one of cloud.json's (customer
// ranges) when cloud_path is not empty, plus a plain list of Workspace domains (may be empty).
VendorList read_google(const std::string& goog_path, const std::string& cloud_path,
                       const std::string& domains_path);
// A plain list: one domain pattern or CIDR per line, optionally followed by an application
// name (default: default_app); '#' starts a comment.
VendorList read_plain(const std::string& path, const std::string& vendor,
                      const std::string& default_app);

nlohmann::json to_json(const VendorList& v);
// Reads and validates one of our normalised files (as `show` and the daemon load them).
VendorList read_normalised(const std::string& path);

// Normalises a vendor URL to a pattern ("<tenant>.sharepoint.com" → "*.sharepoint.com").
// Returns the empty string when it cannot be one; *widened is set when a label was replaced.
std::string normalise_domain(const std::string& url, bool* widened);

}  // namespace traboule::saas

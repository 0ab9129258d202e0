// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/fleet.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <set>

#include "controlplane/policy/policy.h"
#include "tools/traboulectl/json_util.h"
#include "tools/traboulectl/offline.h"
#include "tools/traboulectl/render.h"
#include "tools/traboulectl/table.h"
#include "tools/traboulectl/units.h"

namespace traboule::ctl {
namespace {

constexpr size_t kMaxDevices = 10000;
constexpr size_t kMaxTokenBytes = 4096;

std::string shown(const nlohmann::json& v) {
  return truncate_text(sanitize_text(safe_dump(v)), 80);
}

bool good_name(const std::string& s, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

// A token as read from a file: surrounding whitespace dropped; must then be one line of
// printable ASCII (it goes into an HTTP header).
bool clean_token(std::string& token, std::string& why) {
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  size_t start = 0;
  while (start < token.size() && std::isspace(static_cast<unsigned char>(token[start]))) ++start;
  token.erase(0, start);
  if (token.empty()) {
    why = "is empty";
    return false;
  }
  if (token.size() > kMaxTokenBytes) {
    why = "is longer than 4096 bytes";
    return false;
  }
  for (const char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) {
      why = "holds a space, control or non-ASCII character";
      return false;
    }
  }
  return true;
}

std::string first_line(const CtlError& e) {
  std::string s = e.message;
  if (!e.details.empty()) {
    s += ": " + e.details.front();
    if (e.details.size() > 1) s += " (+" + std::to_string(e.details.size() - 1) + " more)";
  }
  return s;
}

std::optional<uint64_t> unsigned_member(const nlohmann::json& doc, const char* key) {
  if (!doc.is_object()) return std::nullopt;
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

}  // namespace

const char* to_string(DeviceOutcome o) {
  switch (o) {
    case DeviceOutcome::kConfirmed:
      return "confirmed";
    case DeviceOutcome::kFailed:
      return "failed";
    case DeviceOutcome::kSkipped:
      return "skipped";
  }
  return "?";
}

std::optional<std::vector<FleetDevice>> parse_devices(const std::string& text,
                                                      const std::string& base_dir, double timeout_s,
                                                      std::string& error) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    error = "/: not valid JSON";
    return std::nullopt;
  }
  if (!doc.is_array() || doc.empty()) {
    error = "/: must be a non-empty array of devices (got " + shown(doc) + ")";
    return std::nullopt;
  }
  if (doc.size() > kMaxDevices) {
    error = "/: more than " + std::to_string(kMaxDevices) + " devices";
    return std::nullopt;
  }
  static const std::set<std::string> kKnown = {"name",     "server",  "token", "token_file", "ca",
                                               "insecure", "uplinks", "role",  "comment"};
  std::vector<FleetDevice> devices;
  std::set<std::string> names;
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::string at = "/" + std::to_string(i);
    const auto& d = doc[i];
    auto fail = [&](const std::string& field, const std::string& what) {
      error = at + (field.empty() ? "" : "/" + field) + ": " + what;
      return std::nullopt;
    };
    if (!d.is_object()) return fail("", "must be an object (got " + shown(d) + ")");
    for (const auto& [key, value] : d.items()) {
      if (!kKnown.count(key)) {
        return fail(key,
                    "unknown field (known: name, server, token, token_file, ca, insecure, "
                    "uplinks, role, comment)");
      }
    }
    auto string_field = [&](const char* key, std::string& out) -> bool {
      const auto it = d.find(key);
      if (it == d.end()) return true;
      if (!it->is_string()) {
        error = at + "/" + key + ": must be a string (got " + shown(*it) + ")";
        return false;
      }
      out = it->get<std::string>();
      return true;
    };
    FleetDevice dev;
    std::string server, token, token_file, ca, role;
    if (!string_field("name", dev.name) || !string_field("server", server) ||
        !string_field("token", token) || !string_field("token_file", token_file) ||
        !string_field("ca", ca) || !string_field("role", role)) {
      return std::nullopt;
    }
    if (!d.contains("name")) return fail("name", "required");
    if (!good_name(dev.name, 64)) {
      return fail("name",
                  "must be 1-64 characters of A-Z a-z 0-9 . _ - (got " + shown(d["name"]) + ")");
    }
    if (!names.insert(dev.name).second) {
      return fail("name", "device " + shown(d["name"]) + " is listed twice");
    }
    if (!d.contains("server")) return fail("server", "required");
    std::string url_error;
    const auto url = parse_server_url(server, url_error);
    if (!url) return fail("server", url_error);
    dev.connection.server = *url;
    dev.connection.timeout_s = timeout_s;
    const bool has_token = d.contains("token");
    const bool has_file = d.contains("token_file");
    if (has_token == has_file) return fail("", "needs exactly one of token and token_file");
    std::string why;
    if (has_file) {
      const std::string path = resolve(base_dir, token_file);
      std::string read_error;
      const auto content = read_text_file(path, kMaxTokenBytes + 64, read_error);
      if (!content) return fail("token_file", read_error);
      token = *content;
      if (!clean_token(token, why)) return fail("token_file", "the token in " + path + " " + why);
    } else if (!clean_token(token, why)) {
      return fail("token", "the token " + why);
    }
    dev.connection.token = token;
    if (d.contains("insecure")) {
      if (!d["insecure"].is_boolean()) {
        return fail("insecure", "must be true or false (got " + shown(d["insecure"]) + ")");
      }
      dev.connection.insecure = d["insecure"].get<bool>();
    }
    if (d.contains("ca")) {
      if (dev.connection.insecure) return fail("ca", "ca and insecure exclude each other");
      if (ca.empty()) return fail("ca", "must name a PEM file");
      dev.connection.ca_file = resolve(base_dir, ca);
    }
    if (d.contains("role")) {
      if (role != "edge" && role != "hub") {
        return fail("role", "must be edge or hub (got " + shown(d["role"]) + ")");
      }
      dev.role = role;
    }
    if (d.contains("uplinks")) {
      const auto& ul = d["uplinks"];
      if (!ul.is_array() || ul.empty()) {
        return fail("uplinks", "must be a non-empty array of uplink names (got " + shown(ul) + ")");
      }
      std::vector<std::string> list;
      std::set<std::string> seen;
      for (size_t k = 0; k < ul.size(); ++k) {
        if (!ul[k].is_string() || !good_name(ul[k].get<std::string>(), 32) ||
            ul[k].get<std::string>().find('.') != std::string::npos) {
          return fail("uplinks/" + std::to_string(k),
                      "must be an uplink name, 1-32 of A-Z a-z 0-9 - _ (got " + shown(ul[k]) + ")");
        }
        if (!seen.insert(ul[k].get<std::string>()).second) {
          return fail("uplinks/" + std::to_string(k), "uplink " + shown(ul[k]) + " listed twice");
        }
        list.push_back(ul[k].get<std::string>());
      }
      dev.uplinks = std::move(list);
    }
    devices.push_back(std::move(dev));
  }
  return devices;
}

std::optional<uint64_t> running_version_of(const nlohmann::json& status) {
  if (!status.is_object()) return std::nullopt;
  const auto policy = status.find("policy");
  if (policy != status.end() && policy->is_object()) {
    for (const char* key : {"running_version", "version", "running"}) {
      if (auto v = unsigned_member(*policy, key)) return v;
    }
  }
  for (const char* key : {"running_version", "policy_version"}) {
    if (auto v = unsigned_member(status, key)) return v;
  }
  return std::nullopt;
}

FleetReport run_fleet(const std::string& policy_file, const std::string& policy_text,
                      const std::vector<FleetDevice>& devices, const FleetOptions& options,
                      const TransportFactory& make_transport, const Sleeper& sleep,
                      const Progress& progress) {
  FleetReport report;
  report.policy_file = policy_file;
  if (devices.empty()) {
    report.problems.push_back("no devices");
    return report;
  }
  // Push order: the canary, then the others in file order.
  size_t canary_index = 0;
  if (options.canary) {
    const auto it = std::find_if(devices.begin(), devices.end(),
                                 [&](const FleetDevice& d) { return d.name == *options.canary; });
    if (it == devices.end()) {
      report.problems.push_back("--canary: no device is named \"" + sanitize_text(*options.canary) +
                                "\"");
    } else {
      canary_index = static_cast<size_t>(it - devices.begin());
    }
  }
  std::vector<const FleetDevice*> order = {&devices[canary_index]};
  for (size_t i = 0; i < devices.size(); ++i) {
    if (i != canary_index) order.push_back(&devices[i]);
  }
  report.canary = order.front()->name;
  for (const auto* d : order) {
    DeviceReport r;
    r.name = d->name;
    r.canary = d == order.front();
    report.devices.push_back(std::move(r));
  }
  if (!report.problems.empty()) return report;

  // Offline validation before any device is touched.
  nlohmann::json doc;
  std::vector<cp::PolicyError> parse_errors;
  if (!cp::parse_policy_text(policy_text, doc, parse_errors)) {
    for (const auto& e : parse_errors) report.problems.push_back(sanitize_text(cp::to_string(e)));
    return report;
  }
  bool valid_everywhere = true;
  bool policy_own_checked = false;
  for (size_t i = 0; i < order.size(); ++i) {
    const FleetDevice& dev = *order[i];
    std::optional<cp::SiteFacts> site;
    if (dev.uplinks) {
      cp::SiteFacts facts;
      facts.uplink_names = *dev.uplinks;
      facts.role = dev.role ? *dev.role : policy_role(doc);
      site = facts;
    } else if (policy_own_checked && !dev.role) {
      continue;  // same facts as a device already checked
    }
    const OfflineReport offline = validate_policy_text(
        policy_file, policy_text, site, site ? SiteSource::kDevicesFile : SiteSource::kPolicy,
        site ? std::nullopt : dev.role);
    if (!site && !dev.role) policy_own_checked = true;
    if (offline.valid) {
      report.hash = offline.hash;
      continue;
    }
    valid_everywhere = false;
    auto& r = report.devices[i];
    r.outcome = DeviceOutcome::kFailed;
    r.reason = "invalid for this device: " +
               (offline.errors.empty() ? std::string("?") : cp::to_string(offline.errors.front()));
    if (offline.errors.size() > 1) {
      r.reason += " (+" + std::to_string(offline.errors.size() - 1) + " more)";
    }
    for (const auto& e : offline.errors) {
      report.problems.push_back(dev.name + ": " + sanitize_text(cp::to_string(e)));
    }
  }
  if (!valid_everywhere) return report;

  const nlohmann::json apply_body = {{"policy", doc},
                                     {"comment", options.comment},
                                     {"confirm_timeout_s", options.confirm_timeout_s}};
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < order.size(); ++i) {
    const FleetDevice& dev = *order[i];
    DeviceReport& r = report.devices[i];
    const auto start = Clock::now();
    auto finish = [&](DeviceOutcome outcome, const std::string& reason) {
      r.outcome = outcome;
      r.reason = reason;
      r.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
      progress(dev.name + ": " + to_string(outcome) + (reason.empty() ? "" : ": " + reason));
    };
    progress(dev.name + (r.canary ? " (canary)" : "") + ": applying, confirm within " +
             std::to_string(options.confirm_timeout_s) + " s");
    ApiClient client(make_transport(dev.connection), dev.connection.server.text());
    const ApiResult applied = client.post("/policy/apply", apply_body);
    if (!applied.ok) {
      finish(DeviceOutcome::kFailed, "apply: " + first_line(applied.error));
      return report;
    }
    std::string answer_error;
    const auto change = parse_change_answer(applied.body, answer_error);
    if (!change) {
      finish(DeviceOutcome::kFailed, "apply: malformed answer (" + answer_error + "): " +
                                         truncate_text(sanitize_text(safe_dump(applied.body)), 80));
      return report;
    }
    const auto version = std::optional<uint64_t>(change->version);
    r.version = version;
    if (!change->pending) {
      finish(DeviceOutcome::kFailed, "apply: the box did not hold version " +
                                         std::to_string(*version) + " for confirmation (state \"" +
                                         sanitize_text(change->state) + "\"); check it by hand");
      return report;
    }
    if (options.settle_s > 0) sleep(options.settle_s);
    const ApiResult status = client.get("/status");
    if (!status.ok) {
      finish(DeviceOutcome::kFailed,
             "unhealthy after apply (not confirmed, rolls back by itself): " +
                 first_line(status.error));
      return report;
    }
    const auto running = running_version_of(status.body);
    if (!running || *running != *version) {
      finish(DeviceOutcome::kFailed,
             "unhealthy after apply (not confirmed, rolls back by itself): status reports running "
             "version " +
                 (running ? std::to_string(*running) : std::string("(none)")) + ", expected " +
                 std::to_string(*version));
      return report;
    }
    const ApiResult confirmed = client.post("/policy/confirm", nlohmann::json::object());
    if (!confirmed.ok) {
      finish(DeviceOutcome::kFailed, "confirm: " + first_line(confirmed.error));
      return report;
    }
    const auto confirmed_change = parse_change_answer(confirmed.body, answer_error);
    if (!confirmed_change) {
      finish(DeviceOutcome::kFailed, "confirm: malformed answer (" + answer_error + ")");
      return report;
    }
    if (confirmed_change->version != *version) {
      finish(DeviceOutcome::kFailed, "confirm: the box confirmed version " +
                                         std::to_string(confirmed_change->version) + ", not " +
                                         std::to_string(*version));
      return report;
    }
    finish(DeviceOutcome::kConfirmed, "");
  }
  report.ok = true;
  return report;
}

std::string render_fleet_report(const FleetReport& report) {
  std::string out;
  for (const auto& p : report.problems) out += sanitize_text(p) + "\n";
  if (!report.problems.empty()) out += "\n";
  Table table({{"device"},
               {"canary"},
               {"result", Align::kLeft, 400},
               {"version", Align::kRight},
               {"duration", Align::kRight}});
  size_t confirmed = 0, failed = 0, skipped = 0;
  for (const auto& d : report.devices) {
    std::string result = to_string(d.outcome);
    if (d.outcome == DeviceOutcome::kFailed) {
      ++failed;
      result += ": " + d.reason;
    } else if (d.outcome == DeviceOutcome::kConfirmed) {
      ++confirmed;
    } else {
      ++skipped;
    }
    table.add_row({d.name, d.canary ? "yes" : "", result,
                   d.version ? std::to_string(*d.version) : "-",
                   d.duration_s ? human_duration_s(*d.duration_s) : "-"});
  }
  out += table.render();
  out += std::to_string(confirmed) + " confirmed, " + std::to_string(failed) + " failed, " +
         std::to_string(skipped) + " skipped\n";
  return out;
}

nlohmann::json fleet_report_json(const FleetReport& report) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : report.devices) {
    nlohmann::json j = {{"name", d.name}, {"canary", d.canary}, {"result", to_string(d.outcome)}};
    j["reason"] = d.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.reason);
    j["version"] = d.version ? nlohmann::json(*d.version) : nlohmann::json(nullptr);
    j["duration_s"] = d.duration_s ? nlohmann::json(*d.duration_s) : nlohmann::json(nullptr);
    devices.push_back(std::move(j));
  }
  nlohmann::json j = {{"policy", report.policy_file},
                      {"ok", report.ok},
                      {"canary", report.canary},
                      {"devices", devices},
                      {"problems", report.problems}};
  j["hash"] = report.hash.empty() ? nlohmann::json(nullptr) : nlohmann::json(report.hash);
  return j;
}

}  // namespace traboule::ctl

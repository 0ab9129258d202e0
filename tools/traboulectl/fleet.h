// SPDX-License-Identifier: Apache-2.0
// Pushing one policy to many boxes safely: validate offline first, then device by device,
// canary first, apply commit-confirmed → check the box still answers and runs the new version
// → confirm; stop at the first failure and leave that box unconfirmed so it rolls back by
// itself. Transports and sleeping are injected so the sequencing is unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/traboulectl/api_client.h"

namespace traboule::ctl {

struct FleetDevice {
  std::string name;
  ConnectionSettings connection;
  std::optional<std::vector<std::string>> uplinks;  // known uplink names, for offline checks
  std::optional<std::string> role;                  // "edge" or "hub"
};

// Parses a devices file: a JSON array of {name, server, token | token_file, ca?, insecure?,
// uplinks?, role?}. Relative token_file and ca paths are taken from `base_dir` (the devices
// file's folder). Tokens are read here. `timeout_s` applies to every device. On error returns
// nullopt and `error` names the entry ("/2/server: ...").
std::optional<std::vector<FleetDevice>> parse_devices(const std::string& text,
                                                      const std::string& base_dir, double timeout_s,
                                                      std::string& error);

enum class DeviceOutcome { kConfirmed, kFailed, kSkipped };
const char* to_string(DeviceOutcome o);

struct DeviceReport {
  std::string name;
  bool canary = false;
  DeviceOutcome outcome = DeviceOutcome::kSkipped;
  std::string reason;               // why it failed
  std::optional<uint64_t> version;  // the version the device gave the policy
  std::optional<double> duration_s;
};

struct FleetReport {
  std::string policy_file;
  std::string hash;  // when the policy parsed
  std::string canary;
  std::vector<DeviceReport> devices;  // in push order (canary first)
  std::vector<std::string> problems;  // offline validation problems, "device: POINTER: ..."
  bool ok = false;
};

struct FleetOptions {
  uint32_t confirm_timeout_s = 120;
  std::optional<std::string> canary;
  double settle_s = 3;
  std::string comment = "fleet apply (traboulectl)";
};

using TransportFactory = std::function<std::unique_ptr<Transport>(const ConnectionSettings&)>;
using Sleeper = std::function<void(double seconds)>;
using Progress = std::function<void(const std::string& line)>;

// The running policy version a /status (or /policy/history) answer reports:
// policy.running_version, or running_version at the top; nullopt when it has none.
std::optional<uint64_t> running_version_of(const nlohmann::json& status);

// `options.canary` must name a device (checked by the caller's usage handling: an unknown
// name makes every device skipped and the report say why).
FleetReport run_fleet(const std::string& policy_file, const std::string& policy_text,
                      const std::vector<FleetDevice>& devices, const FleetOptions& options,
                      const TransportFactory& make_transport, const Sleeper& sleep,
                      const Progress& progress);

std::string render_fleet_report(const FleetReport& report);
nlohmann::json fleet_report_json(const FleetReport& report);

}  // namespace traboule::ctl

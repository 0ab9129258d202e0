// SPDX-License-Identifier: Apache-2.0
// trabouled's config file: what belongs to the box (ports, device strings, addresses,
// gateways, EAL options, workers, flow table, API listener and credentials, where policies are
// kept). Behaviour is in the policy (policies/schema). Loading names the first bad field.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "controlplane/journal/availability.h"
#include "controlplane/journal/syslog.h"
#include "controlplane/telemetry/flow_export.h"
#include "dataplane/model/punt_rates.h"
#include "dataplane/model/site_settings.h"
#include "dataplane/proto/ip_addr.h"
#include "dataplane/proto/overlay_header.h"

namespace traboule::cp {

// Thrown with "<json pointer>: <what is wrong> (got <value>)".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& pointer, const std::string& message)
      : std::runtime_error(pointer + ": " + message), pointer_(pointer) {}
  const std::string& pointer() const noexcept { return pointer_; }

 private:
  std::string pointer_;
};

enum class Role { kEdge, kHub };
enum class PollMode { kAdaptive, kBusy };

const char* to_string(Role r);

struct PortConfig {
  std::string device;              // PCI address or vdev string ("net_af_packet0,iface=veth1")
  std::optional<std::string> mac;  // override the port's MAC (required for net_ring/net_null)
  std::optional<dp::IfAddr> ipv4;
  std::optional<dp::IfAddr> ipv6;
  // The port's kernel twin (docs/kernel.md): its interface name; empty: the port's own name.
  std::string twin;
  // An uplink on a VLAN of its port (docs/kernel.md "VLANs"): the 802.1Q id, 0: untagged.
  uint16_t vlan = 0;
};

struct UplinkConfig {
  std::string name;
  PortConfig port;
  std::optional<dp::IpAddr> gateway4;
  std::optional<dp::IpAddr> gateway6;
  std::optional<std::string> gateway_mac;  // static neighbour entry (labs, captures)
};

struct TokenConfig {
  std::string name;    // recorded as the author of policy changes
  std::string role;    // "viewer" or "operator"
  std::string sha256;  // hex SHA-256 of the bearer token (the token itself is never stored)
};

struct ApiConfig {
  bool enabled = false;  // the "api" section is present
  std::string listen = "127.0.0.1";
  uint16_t port = 8443;  // 0: any free port (tests)
  std::string cert;      // PEM files
  std::string key;
  std::vector<TokenConfig> tokens;
  unsigned rate_per_s = 20;  // per client address
  unsigned burst = 40;
  // Limits against slow, idle and oversized clients (docs/api.md "Limits"); the defaults are
  // cp::ApiSettings' own.
  size_t max_body_bytes = 1 << 20;
  unsigned threads = 4;
  unsigned operator_threads = 1;
  unsigned max_connections = 64;
  unsigned max_connections_per_client = 8;
  unsigned handshake_timeout_s = 5;
  unsigned idle_timeout_s = 5;
  unsigned request_timeout_s = 10;
  size_t max_header_bytes = 16384;
  unsigned max_header_count = 64;
  unsigned log_lines_per_s = 5;
  bool web_view = true;  // /ui/ (docs/webview.md)
};

struct LanConfig {
  PortConfig port;
  std::vector<dp::IpPrefix> prefixes;  // networks reached through the LAN port
};

struct DataplaneConfig {
  unsigned workers = 1;
  PollMode poll = PollMode::kAdaptive;
  uint32_t mbufs = 16383;
  uint32_t neighbors = 1024;  // neighbour table size per port
};

// The box's kernel side (docs/kernel.md): a twin interface per port, what is punted to it and
// at what rate, and whether the kernel's default route goes through the data plane.
struct KernelConfig {
  bool twins = false;
  dp::PuntRates rates;
  bool default_route = true;
};

// Who may open connections to the box itself (API, SSH, SNMP: docs/kernel.md "Management").
struct ManagementConfig {
  std::vector<dp::IpPrefix> allow;
  bool allow_set = false;  // false: the LAN prefixes and the overlay's datacenter side
};

// The overlay endpoint of the box (docs/overlay.md): its UDP port (0: no overlay), an edge's
// site id, the uplinks' IP MTU the tunnel must fit in.
struct OverlaySettings {
  uint16_t port = 4500;
  uint16_t site_id = 0;
  uint16_t mtu = 1500;
};

// The tender's incident classes (docs/operations.md): which class each kind of event gets.
// Each is "P0" (Bloquant), "P1" (Majeur), "P2" (Mineur) or "" (journaled without a class).
struct IncidentClasses {
  std::string site_down = "P0";       // no usable path to the hub, or none to the internet
  std::string primary_down = "P1";    // a primary uplink has no path to the hub
  std::string backup_down = "P2";     // a backup uplink has no path to the hub
  std::string sla_unmet = "P1";       // an SLA class no uplink meets
  std::string sla_degraded = "P2";    // one uplink leaves an SLA class
  std::string cap_reached = "P2";     // an uplink reached its monthly cap
  std::string firewall_flood = "P2";  // the firewall's WAN flood limits refuse new flows
};

// The journal and the availability report (docs/operations.md).
struct OperationsConfig {
  std::string timezone;  // IANA name ("Europe/Paris"); empty: the system's
  BusinessHours business;
  double availability_target_percent = 99.85;
  IncidentClasses incidents;
  std::vector<SyslogCollector> syslog;  // journal records to these collectors (RFC 5424)
  int syslog_facility = 16;             // local0
};

struct AgentConfig {
  Role role = Role::kEdge;
  std::vector<std::string> eal;  // extra EAL arguments (e.g. "--no-huge", "-l", "0-1")
  DataplaneConfig dataplane;
  dp::FlowSettings flows;
  LanConfig lan;
  std::vector<UplinkConfig> uplinks;
  // Policy used when the store holds no committed version yet (first boot); without it, the
  // built-in default policy (every uplink, in config order).
  std::optional<std::string> policy_file;
  std::string state_dir = "/var/lib/traboule";  // policy versions live in <state_dir>/policies
  // SaaS endpoint lists (traboule-saas format, data/saas/*.json) for first-packet recognition.
  std::optional<std::string> saas_dir;
  ApiConfig api;
  OverlaySettings overlay;
  OperationsConfig operations;
  IpfixSettings ipfix;  // flow export (docs/operations.md "IPFIX"); no collector: off
  KernelConfig kernel;
  ManagementConfig management;
};

// Parses and checks. Throws ConfigError naming the first bad field (JSON pointer).
AgentConfig parse_config(const std::string& json_text);
AgentConfig load_config_file(const std::string& path);

// The "net_xxx0" or PCI name part of a device string (before the first comma).
std::string device_name(const std::string& device);
bool is_vdev(const std::string& device);

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/config/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace traboule::cp {
namespace {

using json = nlohmann::json;

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// Walks one JSON object, remembering its pointer, so every error names the field.
class Obj {
 public:
  Obj(const json& j, std::string ptr) : j_(j), ptr_(std::move(ptr)) {
    if (!j_.is_object())
      throw ConfigError(ptr_.empty() ? "/" : ptr_, "must be an object (got " + shown(j_) + ")");
  }
  // Every key must be one we know: typos fail loudly instead of being ignored.
  void only(std::initializer_list<const char*> keys) const {
    std::set<std::string> ok(keys.begin(), keys.end());
    for (auto& [k, v] : j_.items())
      if (!ok.count(k)) throw ConfigError(at(k), "unknown field");
  }
  std::string at(const std::string& key) const {
    std::string k;  // RFC 6901 escaping
    for (char ch : key)
      k += ch == '~' ? std::string("~0") : ch == '/' ? std::string("~1") : std::string(1, ch);
    return ptr_ + "/" + k;
  }
  bool has(const char* key) const { return j_.contains(key); }
  const json& raw(const char* key) const { return j_.at(key); }
  auto raw_items() const { return j_.items(); }

  std::string str(const char* key) const {
    const json& v = need(key);
    if (!v.is_string() || v.get_ref<const std::string&>().empty())
      throw ConfigError(at(key), "must be a non-empty string (got " + shown(v) + ")");
    return v.get<std::string>();
  }
  std::optional<std::string> opt_str(const char* key) const {
    if (!has(key)) return std::nullopt;
    return str(key);
  }
  uint64_t uint(const char* key, uint64_t min, uint64_t max) const {
    const json& v = need(key);
    if (!v.is_number_integer() ||
        (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0) ||
        v.get<uint64_t>() < min || v.get<uint64_t>() > max)
      throw ConfigError(at(key), "must be an integer in [" + std::to_string(min) + ", " +
                                     std::to_string(max) + "] (got " + shown(v) + ")");
    return v.get<uint64_t>();
  }
  uint64_t uint_or(const char* key, uint64_t dflt, uint64_t min, uint64_t max) const {
    return has(key) ? uint(key, min, max) : dflt;
  }
  bool boolean_or(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    const json& v = j_.at(key);
    if (!v.is_boolean()) throw ConfigError(at(key), "must be true or false (got " + shown(v) + ")");
    return v.get<bool>();
  }
  template <class E>
  E choice(const char* key, std::initializer_list<std::pair<const char*, E>> options) const {
    std::string s = str(key);
    std::string list;
    for (auto& [name, val] : options) {
      if (s == name) return val;
      list += list.empty() ? name : std::string(", ") + name;
    }
    throw ConfigError(at(key), "must be one of " + list + " (got \"" + s + "\")");
  }
  const json& need(const char* key) const {
    if (!j_.contains(key)) throw ConfigError(at(key), "is required");
    return j_.at(key);
  }
  const std::string& ptr() const { return ptr_; }

 private:
  const json& j_;
  std::string ptr_;
};

// An IANA zone name as in /usr/share/zoneinfo: letters, digits, _ + - and single slashes.
std::string parse_timezone(const Obj& o) {
  std::string tz = o.str("timezone");
  bool ok = tz.size() <= 64 && tz.front() != '/' && tz.find("..") == std::string::npos;
  for (char ch : tz)
    ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '+' ||
                ch == '-' || ch == '/');
  if (!ok || !std::filesystem::exists("/usr/share/zoneinfo/" + tz))
    throw ConfigError(o.at("timezone"),
                      "must be a time zone of /usr/share/zoneinfo, like \"Europe/Paris\" (got " +
                          shown(o.raw("timezone")) + ")");
  return tz;
}

void parse_business_hours(const Obj& b, BusinessHours& business) {
  b.only({"days", "start", "end"});
  if (b.has("days")) {
    auto d = parse_days(b.str("days"));
    if (!d)
      throw ConfigError(b.at("days"), "must list days like \"mon-fri\" or \"mon,wed,fri\" (got " +
                                          shown(b.raw("days")) + ")");
    business.days = *d;
  }
  auto hhmm = [&](const char* key, int dflt) {
    if (!b.has(key)) return dflt;
    auto m = parse_hhmm(b.str(key));
    if (!m) throw ConfigError(b.at(key), "must be HH:MM (got " + shown(b.raw(key)) + ")");
    return *m;
  };
  business.start_min = hhmm("start", business.start_min);
  business.end_min = hhmm("end", business.end_min);
  if (business.end_min <= business.start_min) throw ConfigError(b.at("end"), "must be after start");
}

void parse_incident_classes(const Obj& ic, IncidentClasses& incidents) {
  ic.only({"site_down", "primary_down", "backup_down", "sla_unmet", "sla_degraded", "cap_reached",
           "firewall_flood"});
  auto cls = [&](const char* key, std::string& out) {
    if (!ic.has(key)) return;
    const json& v = ic.raw(key);
    if (!v.is_string() || (v != "P0" && v != "P1" && v != "P2" && v != "none"))
      throw ConfigError(ic.at(key),
                        "must be \"P0\", \"P1\", \"P2\" or \"none\" (got " + shown(v) + ")");
    out = v == "none" ? "" : v.get<std::string>();
  };
  cls("site_down", incidents.site_down);
  cls("primary_down", incidents.primary_down);
  cls("backup_down", incidents.backup_down);
  cls("sla_unmet", incidents.sla_unmet);
  cls("sla_degraded", incidents.sla_degraded);
  cls("cap_reached", incidents.cap_reached);
  cls("firewall_flood", incidents.firewall_flood);
}

std::vector<SyslogCollector> parse_syslog(const Obj& o) {
  const json& arr = o.raw("syslog");
  if (!arr.is_array() || arr.size() > 8)
    throw ConfigError(o.at("syslog"),
                      "must be an array of at most 8 collectors (got " + shown(arr) + ")");
  std::vector<SyslogCollector> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    Obj s(arr[i], o.at("syslog") + "/" + std::to_string(i));
    s.only({"host", "port", "transport"});
    SyslogCollector sc;
    sc.host = s.str("host");
    if (!dp::IpAddr::parse(sc.host))
      throw ConfigError(s.at("host"),
                        "must be an IPv4 or IPv6 address (got " + shown(s.raw("host")) + ")");
    sc.port = static_cast<uint16_t>(s.uint_or("port", 514, 1, 65535));
    if (s.has("transport")) sc.tcp = s.choice<bool>("transport", {{"udp", false}, {"tcp", true}});
    out.push_back(sc);
  }
  return out;
}

OperationsConfig parse_operations(const Obj& o) {
  o.only({"timezone", "business_hours", "availability_target_percent", "incident_classes", "syslog",
          "syslog_facility"});
  OperationsConfig c;
  if (o.has("timezone")) c.timezone = parse_timezone(o);
  if (o.has("business_hours"))
    parse_business_hours(Obj(o.raw("business_hours"), o.at("business_hours")), c.business);
  if (o.has("availability_target_percent")) {
    const json& v = o.raw("availability_target_percent");
    if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 100)
      throw ConfigError(o.at("availability_target_percent"),
                        "must be a number in (0, 100] (got " + shown(v) + ")");
    c.availability_target_percent = v.get<double>();
  }
  if (o.has("incident_classes"))
    parse_incident_classes(Obj(o.raw("incident_classes"), o.at("incident_classes")), c.incidents);
  if (o.has("syslog_facility")) {
    auto f = syslog_facility(o.str("syslog_facility"));
    if (!f)
      throw ConfigError(o.at("syslog_facility"), "must be local0 to local7, daemon or user (got " +
                                                     shown(o.raw("syslog_facility")) + ")");
    c.syslog_facility = *f;
  }
  if (o.has("syslog")) c.syslog = parse_syslog(o);
  return c;
}

IpfixSettings parse_ipfix(const Obj& o) {
  o.only({"collectors", "active_timeout_s", "template_refresh_s", "observation_domain_id"});
  IpfixSettings c;
  c.active_timeout_s =
      static_cast<uint32_t>(o.uint_or("active_timeout_s", c.active_timeout_s, 1, 3600));
  c.template_refresh_s =
      static_cast<uint32_t>(o.uint_or("template_refresh_s", c.template_refresh_s, 1, 3600));
  c.domain_id = static_cast<uint32_t>(
      o.uint_or("observation_domain_id", c.domain_id, 0, uint64_t{UINT32_MAX}));
  if (!o.has("collectors"))
    throw ConfigError(o.at("collectors"), "is required: 1 to 4 {host, port} collectors");
  const json& arr = o.raw("collectors");
  if (!arr.is_array() || arr.empty() || arr.size() > 4)
    throw ConfigError(o.at("collectors"),
                      "must be an array of 1 to 4 collectors (got " + shown(arr) + ")");
  for (size_t i = 0; i < arr.size(); ++i) {
    Obj s(arr[i], o.at("collectors") + "/" + std::to_string(i));
    s.only({"host", "port"});
    auto host = dp::IpAddr::parse(s.str("host"));
    if (!host)
      throw ConfigError(s.at("host"),
                        "must be an IPv4 or IPv6 address (got " + shown(s.raw("host")) + ")");
    c.collectors.push_back({*host, static_cast<uint16_t>(s.uint_or("port", 4739, 1, 65535))});
  }
  return c;
}

dp::IfAddr if_addr(const Obj& o, const char* key, bool v6) {
  std::string s = o.str(key);
  auto p = dp::IpPrefix::parse(s);
  if (!p || p->addr.is_v4() == v6 || s.find('/') == std::string::npos)
    throw ConfigError(o.at(key), std::string("must be an ") + (v6 ? "IPv6" : "IPv4") +
                                     " address with prefix length, like " +
                                     (v6 ? "\"2001:db8::2/64\"" : "\"192.0.2.2/24\"") + " (got \"" +
                                     s + "\")");
  // Keep the host address, not the masked prefix.
  auto a = dp::IpAddr::parse(s.substr(0, s.find('/')));
  return dp::IfAddr{*a, static_cast<uint8_t>(v6 ? p->len : p->len - 96)};
}

dp::IpAddr ip(const Obj& o, const char* key, bool v6) {
  std::string s = o.str(key);
  auto a = dp::IpAddr::parse(s);
  if (!a || a->is_v4() == v6)
    throw ConfigError(o.at(key), std::string("must be an ") + (v6 ? "IPv6" : "IPv4") +
                                     " address (got \"" + s + "\")");
  return *a;
}

std::string mac_text(const Obj& o, const char* key) {
  std::string s = o.str(key);
  bool ok = s.size() == 17;
  for (size_t i = 0; ok && i < s.size(); ++i)
    ok = (i % 3 == 2) ? s[i] == ':' : std::isxdigit(static_cast<unsigned char>(s[i])) != 0;
  if (!ok)
    throw ConfigError(o.at(key),
                      "must be a MAC address like \"02:00:00:00:00:01\" (got \"" + s + "\")");
  return s;
}

// Names become counter and telemetry keys: keep them to letters, digits, '-' and '_'.
std::string name(const Obj& o, const char* key) {
  std::string s = o.str(key);
  bool ok = s.size() <= 32;
  for (char ch : s)
    ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_');
  if (!ok)
    throw ConfigError(o.at(key), "must be 1-32 letters, digits, '-' or '_' (got \"" + s + "\")");
  return s;
}

PortConfig port(const Obj& o) {
  PortConfig p;
  p.device = o.str("device");
  if (p.device.find(' ') != std::string::npos)
    throw ConfigError(o.at("device"), "must not contain spaces (got \"" + p.device + "\")");
  if (o.has("mac")) p.mac = mac_text(o, "mac");
  if (o.has("ipv4")) p.ipv4 = if_addr(o, "ipv4", false);
  if (o.has("ipv6")) p.ipv6 = if_addr(o, "ipv6", true);
  if (o.has("twin")) {
    p.twin = o.str("twin");
    bool ok = p.twin.size() < 16 && p.twin != "." && p.twin != "..";  // IFNAMSIZ, dev_valid_name
    for (char ch : p.twin)
      ok = ok &&
           (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.');
    if (!ok)
      throw ConfigError(o.at("twin"),
                        "must be an interface name: 1-15 letters, digits, '-', "
                        "'_' or '.' (got \"" +
                            p.twin + "\")");
  }
  if (!p.ipv4 && !p.ipv6)
    throw ConfigError(o.at("ipv4"), "an address is required (ipv4, ipv6 or both)");
  return p;
}

std::vector<dp::IpPrefix> prefixes(const json& arr, const std::string& ptr) {
  if (!arr.is_array())
    throw ConfigError(ptr, "must be an array of prefixes (got " + shown(arr) + ")");
  std::vector<dp::IpPrefix> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string p = ptr + "/" + std::to_string(i);
    if (!arr[i].is_string())
      throw ConfigError(p, "must be a prefix string (got " + shown(arr[i]) + ")");
    auto pf = dp::IpPrefix::parse(arr[i].get<std::string>());
    if (!pf) throw ConfigError(p, "is not an IPv4 or IPv6 prefix (got " + shown(arr[i]) + ")");
    out.push_back(*pf);
  }
  return out;
}

}  // namespace

const char* to_string(Role r) {
  return r == Role::kEdge ? "edge" : "hub";
}

std::string device_name(const std::string& device) {
  return device.substr(0, device.find(','));
}
bool is_vdev(const std::string& device) {
  return device.rfind("net_", 0) == 0;
}

namespace {

std::vector<std::string> parse_eal(const json& e) {
  if (!e.is_array())
    throw ConfigError("/eal", "must be an array of EAL arguments (got " + shown(e) + ")");
  std::vector<std::string> out;
  for (size_t i = 0; i < e.size(); ++i) {
    if (!e[i].is_string())
      throw ConfigError("/eal/" + std::to_string(i), "must be a string (got " + shown(e[i]) + ")");
    std::string a = e[i].get<std::string>();
    auto is = [&](const char* opt) {  // "--vdev", "--vdev=x"; "-a", "-a0000:01:00.0"
      std::string o(opt);
      return a == o || a.rfind(o + (o.size() == 2 ? "" : "="), 0) == 0;
    };
    if (is("--vdev") || is("-a") || is("--allow") || is("-b") || is("--block") || is("--in-memory"))
      throw ConfigError(
          "/eal/" + std::to_string(i),
          a == "--in-memory"
              ? "--in-memory is refused with --no-huge; use --no-shconf"
              : "devices come from lan.device and uplinks[].device, not from eal (got \"" + a +
                    "\")");
    out.push_back(a);
  }
  return out;
}

void parse_dataplane(const Obj& d, DataplaneConfig& out) {
  d.only({"workers", "poll", "mbufs", "neighbors"});
  out.workers = static_cast<unsigned>(d.uint_or("workers", 1, 1, 16));
  if (d.has("poll"))
    out.poll =
        d.choice<PollMode>("poll", {{"adaptive", PollMode::kAdaptive}, {"busy", PollMode::kBusy}});
  out.mbufs = static_cast<uint32_t>(d.uint_or("mbufs", out.mbufs, 1023, 1u << 24));
  out.neighbors = static_cast<uint32_t>(d.uint_or("neighbors", out.neighbors, 16, 1u << 20));
}

void parse_flows(const Obj& f, dp::FlowSettings& flows) {
  f.only({"capacity", "timeouts"});
  flows.capacity = static_cast<uint32_t>(f.uint_or("capacity", flows.capacity, 1024, 1u << 24));
  if (!f.has("timeouts")) return;
  Obj t(f.raw("timeouts"), "/flows/timeouts");
  t.only({"tcp_syn", "tcp_established", "tcp_closing", "tcp_closed", "udp", "icmp", "other"});
  auto& to = flows.timeouts;
  to.tcp_syn = static_cast<uint32_t>(t.uint_or("tcp_syn", to.tcp_syn, 1, 86400));
  to.tcp_established =
      static_cast<uint32_t>(t.uint_or("tcp_established", to.tcp_established, 1, 864000));
  to.tcp_closing = static_cast<uint32_t>(t.uint_or("tcp_closing", to.tcp_closing, 1, 86400));
  to.tcp_closed = static_cast<uint32_t>(t.uint_or("tcp_closed", to.tcp_closed, 1, 86400));
  to.udp = static_cast<uint32_t>(t.uint_or("udp", to.udp, 1, 86400));
  to.icmp = static_cast<uint32_t>(t.uint_or("icmp", to.icmp, 1, 86400));
  to.other = static_cast<uint32_t>(t.uint_or("other", to.other, 1, 86400));
}

// AF_PACKET fans frames out over every queue pair it opened: each must have a worker.
void check_qpairs(const std::string& device, const std::string& ptr, unsigned workers) {
  auto pos = device.find("qpairs=");
  if (device.rfind("net_af_packet", 0) != 0 || pos == std::string::npos) return;
  if (std::strtoul(device.c_str() + pos + 7, nullptr, 10) != workers)
    throw ConfigError(ptr, "qpairs must equal dataplane.workers (" + std::to_string(workers) +
                               "): AF_PACKET spreads frames over every queue pair (got \"" +
                               device + "\")");
}

LanConfig parse_lan(const Obj& lan, unsigned workers) {
  lan.only({"device", "mac", "ipv4", "ipv6", "prefixes", "twin"});
  LanConfig c;
  c.port = port(lan);
  check_qpairs(c.port.device, "/lan/device", workers);
  if (lan.has("prefixes")) c.prefixes = prefixes(lan.raw("prefixes"), "/lan/prefixes");
  if (c.prefixes.empty()) {  // default: the LAN's own subnets
    for (auto* a : {&c.port.ipv4, &c.port.ipv6})
      if (*a) {
        auto pf = dp::IpPrefix::parse((*a)->addr.str() + "/" + std::to_string((*a)->plen));
        c.prefixes.push_back(*pf);
      }
  }
  return c;
}

// An uplink's name: unique, not "lan", and distinct from the others once telemetry spells '-'
// as '_'.
std::string uplink_name(const Obj& u, const std::vector<UplinkConfig>& prev_uplinks) {
  std::string n = name(u, "name");
  for (auto& prev : prev_uplinks)
    if (prev.name == n)
      throw ConfigError(u.at("name"), "is used by another uplink (got \"" + n + "\")");
  if (n == "lan") throw ConfigError(u.at("name"), "\"lan\" is reserved for the LAN port");
  for (auto& prev : prev_uplinks) {  // telemetry spells '-' as '_': keep the keys distinct
    std::string a = prev.name, b = n;
    std::replace(a.begin(), a.end(), '-', '_');
    std::replace(b.begin(), b.end(), '-', '_');
    if (a == b)
      throw ConfigError(u.at("name"), "is too close to uplink \"" + prev.name +
                                          "\" ('-' and '_' read alike) (got \"" + n + "\")");
  }
  return n;
}

// One uplink; devices holds the port devices taken so far.
UplinkConfig parse_uplink(const Obj& u, const AgentConfig& c, std::set<std::string>& devices) {
  u.only({"name", "device", "mac", "ipv4", "ipv6", "gateway4", "gateway6", "gateway_mac", "twin",
          "vlan"});
  UplinkConfig uc;
  uc.name = uplink_name(u, c.uplinks);
  uc.port = port(u);
  // 0 and 4095 are reserved (802.1Q): 0 would be a priority tag, which is not a VLAN.
  if (u.has("vlan")) uc.port.vlan = static_cast<uint16_t>(u.uint_or("vlan", 0, 1, 4094));
  check_qpairs(uc.port.device, u.at("device"), c.dataplane.workers);
  if (!devices.insert(device_name(uc.port.device)).second)
    throw ConfigError(u.at("device"),
                      "is already used by another port (got \"" + uc.port.device + "\")");
  if (u.has("gateway4")) uc.gateway4 = ip(u, "gateway4", false);
  if (u.has("gateway6")) uc.gateway6 = ip(u, "gateway6", true);
  if (uc.port.ipv4 && !uc.gateway4)
    throw ConfigError(u.at("gateway4"), "is required when ipv4 is set");
  if (uc.gateway4 && !uc.port.ipv4)
    throw ConfigError(u.at("ipv4"), "is required when gateway4 is set");
  if (uc.gateway6 && !uc.port.ipv6)
    throw ConfigError(u.at("ipv6"), "is required when gateway6 is set");
  if (u.has("gateway_mac")) uc.gateway_mac = mac_text(u, "gateway_mac");
  return uc;
}

void parse_uplinks(const json& ups, AgentConfig& c) {
  if (!ups.is_array() || ups.empty() || ups.size() > dp::kMaxUplinks)
    throw ConfigError(
        "/uplinks",
        "must be an array of 1 to " + std::to_string(dp::kMaxUplinks) + " uplinks (got " +
            (ups.is_array() ? std::to_string(ups.size()) + " uplinks" : shown(ups)) + ")");
  std::set<std::string> devices = {device_name(c.lan.port.device)};
  for (size_t i = 0; i < ups.size(); ++i)
    c.uplinks.push_back(parse_uplink(Obj(ups[i], "/uplinks/" + std::to_string(i)), c, devices));
}

void parse_overlay(const Obj& o, Role role, OverlaySettings& overlay) {
  o.only({"port", "site_id", "mtu"});
  overlay.port = static_cast<uint16_t>(o.uint_or("port", overlay.port, 0, 65535));
  overlay.site_id = static_cast<uint16_t>(o.uint_or("site_id", overlay.site_id, 0, dp::kMaxSiteId));
  overlay.mtu = static_cast<uint16_t>(o.uint_or("mtu", overlay.mtu, 1280, 9000));
  if (role == Role::kEdge && overlay.port != 0 && overlay.site_id == 0)
    throw ConfigError("/overlay/site_id",
                      "is required on an edge with an overlay port (1 to 4095; got 0)");
}

void parse_kernel(const Obj& k, KernelConfig& kernel) {
  k.only({"twins", "punt_pps", "default_route"});
  kernel.twins = k.boolean_or("twins", kernel.twins);
  kernel.default_route = k.boolean_or("default_route", kernel.default_route);
  if (!k.has("punt_pps")) return;
  Obj r(k.raw("punt_pps"), k.at("punt_pps"));
  std::vector<const char*> keys;
  for (auto n : dp::kPuntClassNames) keys.push_back(n.data());
  for (auto& [key, v] : r.raw_items())
    if (std::find_if(keys.begin(), keys.end(), [&](const char* x) { return key == x; }) ==
        keys.end())
      throw ConfigError(r.at(key),
                        "unknown punt class (known: arp_nd, dhcp, routing, icmp, "
                        "management, box)");
  for (size_t i = 0; i < keys.size(); ++i)
    kernel.rates.pps[i] =
        static_cast<uint32_t>(r.uint_or(keys[i], kernel.rates.pps[i], 1, 1000000));
}

// Twin names must not clash with each other (the kernel would refuse the second one).
void name_twins(AgentConfig& c) {
  std::set<std::string> twins;
  auto twin_of = [](PortConfig& p, const std::string& dflt, const std::string& ptr) {
    if (p.twin.empty()) {
      // An uplink name may be longer than an interface name may (IFNAMSIZ).
      if (dflt.size() >= 16)
        throw ConfigError(ptr, "the uplink's name (\"" + dflt +
                                   "\") is too long for its twin's interface name: give a "
                                   "\"twin\" of at most 15 characters");
      p.twin = dflt;
    }
    return p.twin;
  };
  twins.insert(twin_of(c.lan.port, "lan", "/lan/twin"));
  for (size_t i = 0; i < c.uplinks.size(); ++i)
    if (!twins
             .insert(twin_of(c.uplinks[i].port, c.uplinks[i].name,
                             "/uplinks/" + std::to_string(i) + "/twin"))
             .second)
      throw ConfigError(
          "/uplinks/" + std::to_string(i) + "/twin",
          "is the twin name of another port (got \"" + c.uplinks[i].port.twin + "\")");
}

void parse_api_limits(const Obj& a, ApiConfig& api) {
  auto limit = [&a](const char* key, auto& field, uint64_t min, uint64_t max) {
    field = static_cast<std::remove_reference_t<decltype(field)>>(a.uint_or(key, field, min, max));
  };
  limit("max_body_bytes", api.max_body_bytes, 1024, 64u << 20);
  limit("threads", api.threads, 1, 64);
  limit("operator_threads", api.operator_threads, 1, 16);
  limit("max_connections", api.max_connections, 4, 4096);
  limit("max_connections_per_client", api.max_connections_per_client, 1, api.max_connections);
  limit("handshake_timeout_s", api.handshake_timeout_s, 1, 60);
  limit("idle_timeout_s", api.idle_timeout_s, 1, 300);
  limit("request_timeout_s", api.request_timeout_s, 1, 600);
  limit("max_header_bytes", api.max_header_bytes, 1024, 1u << 20);
  limit("max_header_count", api.max_header_count, 8, 1000);
  limit("log_lines_per_s", api.log_lines_per_s, 1, 1000);
}

TokenConfig parse_token(const Obj& t, const std::vector<TokenConfig>& prev_tokens) {
  t.only({"name", "role", "sha256"});
  TokenConfig tc;
  tc.name = name(t, "name");
  tc.role = t.choice<std::string>("role", {{"viewer", "viewer"}, {"operator", "operator"}});
  tc.sha256 = t.str("sha256");
  bool hex = tc.sha256.size() == 64;
  for (char ch : tc.sha256) hex = hex && std::isxdigit(static_cast<unsigned char>(ch));
  if (!hex)
    throw ConfigError(t.at("sha256"),
                      "must be the 64 hex digits of the token's SHA-256 (printf %s TOKEN | "
                      "sha256sum) (got \"" +
                          tc.sha256 + "\")");
  for (auto& prev : prev_tokens)
    if (prev.name == tc.name)
      throw ConfigError(t.at("name"), "is used by another token (got \"" + tc.name + "\")");
  return tc;
}

void parse_api(const Obj& a, ApiConfig& api) {
  a.only({"listen", "port", "cert", "key", "tokens", "rate_per_s", "burst", "max_body_bytes",
          "threads", "operator_threads", "max_connections", "max_connections_per_client",
          "handshake_timeout_s", "idle_timeout_s", "request_timeout_s", "max_header_bytes",
          "max_header_count", "log_lines_per_s", "web_view"});
  api.enabled = true;
  api.web_view = a.boolean_or("web_view", api.web_view);
  if (a.has("listen")) {
    std::string l = a.str("listen");
    if (!dp::IpAddr::parse(l))
      throw ConfigError(a.at("listen"), "must be an IPv4 or IPv6 address (got \"" + l + "\")");
    api.listen = l;
  }
  api.port = static_cast<uint16_t>(a.uint_or("port", api.port, 0, 65535));
  api.cert = a.str("cert");
  api.key = a.str("key");
  api.rate_per_s = static_cast<unsigned>(a.uint_or("rate_per_s", api.rate_per_s, 1, 100000));
  api.burst = static_cast<unsigned>(a.uint_or("burst", api.burst, 1, 100000));
  parse_api_limits(a, api);
  const json& toks = a.need("tokens");
  if (!toks.is_array() || toks.empty())
    throw ConfigError(a.at("tokens"), "must be a non-empty array of {name, role, sha256} (got " +
                                          shown(toks) + ")");
  for (size_t i = 0; i < toks.size(); ++i)
    api.tokens.push_back(
        parse_token(Obj(toks[i], a.at("tokens") + "/" + std::to_string(i)), api.tokens));
}

}  // namespace

AgentConfig parse_config(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError("/", std::string("not valid JSON: ") + e.what());
  }
  Obj root(j, "");
  root.only({"role", "eal", "dataplane", "flows", "lan", "uplinks", "policy", "state_dir", "api",
             "overlay", "saas_dir", "operations", "ipfix", "kernel", "management", "comment"});
  AgentConfig c;
  if (root.has("role"))
    c.role = root.choice<Role>("role", {{"edge", Role::kEdge}, {"hub", Role::kHub}});
  if (root.has("eal")) c.eal = parse_eal(root.raw("eal"));
  if (root.has("dataplane")) parse_dataplane(Obj(root.raw("dataplane"), "/dataplane"), c.dataplane);
  if (root.has("flows")) parse_flows(Obj(root.raw("flows"), "/flows"), c.flows);
  c.lan = parse_lan(Obj(root.need("lan"), "/lan"), c.dataplane.workers);
  parse_uplinks(root.need("uplinks"), c);
  if (root.has("overlay")) parse_overlay(Obj(root.raw("overlay"), "/overlay"), c.role, c.overlay);
  if (root.has("kernel")) parse_kernel(Obj(root.raw("kernel"), "/kernel"), c.kernel);
  if (root.has("management")) {
    Obj m(root.raw("management"), "/management");
    m.only({"allow"});
    if (m.has("allow")) {
      c.management.allow = prefixes(m.raw("allow"), "/management/allow");
      c.management.allow_set = true;
    }
  }
  if (c.kernel.twins) name_twins(c);
  if (root.has("operations"))
    c.operations = parse_operations(Obj(root.raw("operations"), "/operations"));
  if (root.has("ipfix")) c.ipfix = parse_ipfix(Obj(root.raw("ipfix"), "/ipfix"));
  if (root.has("policy")) c.policy_file = root.str("policy");
  if (root.has("saas_dir")) c.saas_dir = root.str("saas_dir");
  if (root.has("state_dir")) c.state_dir = root.str("state_dir");
  if (c.state_dir.empty()) throw ConfigError("/state_dir", "must not be empty");
  if (root.has("api")) parse_api(Obj(root.raw("api"), "/api"), c.api);
  return c;
}

AgentConfig load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("/", "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  AgentConfig c = parse_config(ss.str());
  // Relative paths in the file are relative to the file, not to the daemon's working directory.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto rebase = [&dir](std::string& p) {
    if (!p.empty() && std::filesystem::path(p).is_relative()) p = (dir / p).lexically_normal();
  };
  if (c.policy_file) rebase(*c.policy_file);
  if (c.saas_dir) rebase(*c.saas_dir);
  rebase(c.state_dir);
  if (c.api.enabled) {
    rebase(c.api.cert);
    rebase(c.api.key);
  }
  return c;
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// Layer 2 of validation: what a schema cannot say (references, duplicates, shadowed rules, the
// box's own uplinks, impossible combinations), and the compiled snapshot built on the way.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "controlplane/policy/app_catalog.h"
#include "controlplane/policy/policy_internal.h"

namespace traboule::cp::detail {
namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

std::string jstr(const std::string& s) {
  return shown(json(s));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// " (did you mean \"x\"?)" when a known name is close, else "". Ties go to the longest common
// prefix ("rule" → "rules", not "role").
std::string did_you_mean(const std::string& got, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = 99, best_prefix = 0;
  for (auto& k : known) {
    size_t d = edit_distance(got, k);
    if (d > 3 || d > std::max<size_t>(k.size() / 3, 1)) continue;
    size_t prefix = 0;
    while (prefix < got.size() && prefix < k.size() && got[prefix] == k[prefix]) ++prefix;
    if (d < best_d || (d == best_d && prefix > best_prefix)) {
      best_d = d;
      best_prefix = prefix;
      best = k;
    }
  }
  return best.empty() ? "" : " (did you mean \"" + best + "\"?)";
}

// did_you_mean, else the list of known names when it is short.
std::string suggest(const std::string& got, const std::vector<std::string>& known) {
  std::string d = did_you_mean(got, known);
  if (!d.empty()) return d;
  if (known.empty()) return " (none is defined)";
  if (known.size() <= 16) return " (known: " + join(known) + ")";
  return "";
}

const json* find(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::optional<std::string> str_at(const json& obj, const char* key) {
  const json* v = find(obj, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

// A non-negative integer, whether parsed (unsigned) or built in code (signed).
std::optional<uint64_t> as_uint(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

std::optional<uint64_t> uint_at(const json& obj, const char* key) {
  const json* v = find(obj, key);
  return v ? as_uint(*v) : std::nullopt;
}

bool bool_at(const json& obj, const char* key, bool dflt) {
  const json* v = find(obj, key);
  return v && v->is_boolean() ? v->get<bool>() : dflt;
}

// A string the C library would cut short (inet_pton reads up to the first NUL).
bool has_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

std::optional<uint8_t> proto_number(const json& v) {
  if (auto n = as_uint(v); n && *n >= 1 && *n <= 255) return static_cast<uint8_t>(*n);
  if (!v.is_string()) return std::nullopt;
  static const std::map<std::string, uint8_t> names = {{"icmp", 1},    {"tcp", 6},   {"udp", 17},
                                                       {"gre", 47},    {"esp", 50},  {"ah", 51},
                                                       {"icmpv6", 58}, {"sctp", 132}};
  auto it = names.find(v.get<std::string>());
  if (it == names.end()) return std::nullopt;
  return it->second;
}

std::optional<uint8_t> dscp_value(const json& v) {
  if (auto n = as_uint(v); n && *n <= 63) return static_cast<uint8_t>(*n);
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "be" || s == "df") return 0;
  if (s == "ef") return 46;
  if (s == "va") return 44;
  if (s.size() == 3 && s[0] == 'c' && s[1] == 's' && s[2] >= '0' && s[2] <= '7')
    return static_cast<uint8_t>(8 * (s[2] - '0'));
  if (s.size() == 4 && s[0] == 'a' && s[1] == 'f' && s[2] >= '1' && s[2] <= '4' && s[3] >= '1' &&
      s[3] <= '3')
    return static_cast<uint8_t>(8 * (s[2] - '0') + 2 * (s[3] - '0'));
  return std::nullopt;
}

bool prefix_inside(const dp::IpPrefix& inner, const dp::IpPrefix& outer) {
  return inner.v4 == outer.v4 && outer.len <= inner.len && outer.contains(inner.addr, inner.v4);
}

bool ranges_overlap(const dp::PortRange& a, const dp::PortRange& b) {
  return a.lo <= b.hi && b.lo <= a.hi;
}

std::string range_text(const dp::PortRange& r) {
  return r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

// Every port of `inner` is in the union of `outer`.
bool ports_inside(const dp::PortRange& inner, const std::vector<dp::PortRange>& outer) {
  std::vector<dp::PortRange> sorted = outer;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.lo < b.lo; });
  uint32_t next = inner.lo;  // first port of inner not yet covered
  for (auto& r : sorted) {
    if (r.lo > next) break;
    if (r.hi >= next) next = uint32_t{r.hi} + 1;
    if (next > inner.hi) return true;
  }
  return next > inner.hi;
}

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

class Checker {
 public:
  Checker(const json& doc, const SiteFacts& site, const std::vector<PolicyError>& schema,
          std::vector<PolicyError>& errors)
      : doc_(doc), site_(site), errors_(errors) {
    for (auto& e : schema) bad_.push_back(e.pointer);
  }

  Built run() {
    if (!doc_.is_object()) return std::move(built_);  // the schema said so; nothing to read
    check_role();
    check_uplinks();
    check_peers();
    check_segments();
    read_probes();
    check_sla_classes();
    check_qos_classes();
    check_applications();
    check_rules();
    check_breakout_targets();
    check_firewall();
    return std::move(built_);
  }

 private:
  // No schema error at, under or above `ptr`.
  bool ok(const std::string& ptr) const {
    for (auto& b : bad_)
      if (b.empty() || b == ptr || starts_with(b, ptr + "/") || starts_with(ptr, b + "/"))
        return false;
    return true;
  }
  void err(const std::string& ptr, const std::string& value, const std::string& msg) {
    errors_.push_back({ptr, value, msg});
  }
  static std::string at(const std::string& ptr, size_t i) { return ptr + "/" + std::to_string(i); }

  // Registers the name of entry `i` of a section; reports duplicates.
  std::optional<std::string> register_name(Registry& reg, const json& entry, const std::string& p,
                                           size_t i, const char* what) {
    auto name = str_at(entry, "name");
    if (!name || !ok(p + "/name")) {
      reg.complete = false;
      return std::nullopt;
    }
    auto [it, fresh] = reg.index.emplace(*name, i);
    if (!fresh) {
      err(p + "/name", jstr(*name),
          std::string("is already the name of ") + what + " " + std::to_string(it->second));
      return std::nullopt;
    }
    reg.names.push_back(*name);
    return name;
  }

  const json* section(const char* key) const {
    const json* v = find(doc_, key);
    return v && v->is_array() ? v : nullptr;
  }

  // ---- prefixes and ports ----

  std::optional<dp::IpPrefix> prefix(const json& v, const std::string& p) {
    if (!v.is_string()) return std::nullopt;
    const std::string& s = v.get_ref<const std::string&>();
    auto pf = has_nul(s) ? std::nullopt : dp::IpPrefix::parse(s);
    if (!pf) {
      err(p, shown(v), "is not an IPv4 or IPv6 prefix (like \"10.1.0.0/16\" or \"2001:db8::/32\")");
      return std::nullopt;
    }
    auto slash = s.find('/');
    auto addr = dp::IpAddr::parse(s.substr(0, slash));
    if (addr && !(*addr == pf->addr)) {
      err(p, shown(v), "has host bits set (did you mean \"" + pf->str() + "\"?)");
      return std::nullopt;
    }
    return pf;
  }

  // Parses a list; reports entries that repeat or lie inside another. nullopt if any is bad.
  std::optional<std::vector<dp::IpPrefix>> prefix_list(const json& arr, const std::string& p) {
    if (!arr.is_array()) return std::nullopt;
    std::vector<dp::IpPrefix> out;
    bool good = true;
    for (size_t i = 0; i < arr.size(); ++i) {
      auto pf = prefix(arr[i], at(p, i));
      if (!pf) {
        good = false;
        continue;
      }
      for (size_t j = 0; j < out.size(); ++j) {
        if (prefix_inside(*pf, out[j])) {
          err(at(p, i), shown(arr[i]),
              prefix_inside(out[j], *pf)
                  ? "is listed twice"
                  : "lies inside " + jstr(out[j].str()) + ", listed before it");
          good = false;
          break;
        }
        if (prefix_inside(out[j], *pf)) {
          err(at(p, i), shown(arr[i]), "contains " + jstr(out[j].str()) + ", listed before it");
          good = false;
          break;
        }
      }
      out.push_back(*pf);
    }
    if (!good) return std::nullopt;
    return out;
  }

  std::optional<dp::PortRange> port_spec(const json& v, const std::string& p) {
    if (auto n = as_uint(v); n && *n <= 65535) {
      auto x = static_cast<uint16_t>(*n);
      return dp::PortRange{x, x};
    }
    if (!v.is_string()) return std::nullopt;
    const std::string& s = v.get_ref<const std::string&>();
    auto dash = s.find('-');
    auto number = [](const std::string& t) -> std::optional<uint32_t> {
      if (t.empty() || t.size() > 5) return std::nullopt;
      uint32_t n = 0;
      for (char c : t) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<uint32_t>(c - '0');
      }
      return n;
    };
    auto lo = number(s.substr(0, dash));
    auto hi = dash == std::string::npos ? lo : number(s.substr(dash + 1));
    if (!lo || !hi || *lo > 65535 || *hi > 65535) {
      err(p, shown(v), "must be a port 0-65535 or a range \"lo-hi\" of such ports");
      return std::nullopt;
    }
    if (*lo > *hi) {
      err(p, shown(v), "is a range whose start is above its end");
      return std::nullopt;
    }
    return dp::PortRange{static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
  }

  std::optional<std::vector<dp::PortRange>> port_list(const json& arr, const std::string& p) {
    if (!arr.is_array()) return std::nullopt;
    std::vector<dp::PortRange> out;
    bool good = true;
    for (size_t i = 0; i < arr.size(); ++i) {
      auto r = port_spec(arr[i], at(p, i));
      if (!r) {
        good = false;
        continue;
      }
      for (size_t j = 0; j < out.size(); ++j)
        if (ranges_overlap(*r, out[j])) {
          err(at(p, i), shown(arr[i]), "overlaps " + range_text(out[j]) + ", listed before it");
          good = false;
          break;
        }
      out.push_back(*r);
    }
    if (!good) return std::nullopt;
    return out;
  }

  // ---- sections ----

  void check_role() {
    std::string want = site_.role;
    if (want != "edge" && want != "hub") return;  // the box did not say: nothing to compare
    const json* r = find(doc_, "role");
    if (r && !ok("/role")) return;
    std::string got = r && r->is_string() ? r->get<std::string>() : "edge";
    if (got != want)
      err("/role", r ? shown(*r) : "",
          "this box is " + std::string(want == "hub" ? "a hub" : "an edge") +
              " and the policy is for " + (got == "hub" ? "a hub" : "an edge") +
              (r ? "" : " (the default)"));
  }

  void check_uplinks() {
    const json* arr = section("uplinks");
    if (!arr) {
      uplinks_.complete = false;
      return;
    }
    built_.snapshot->uplinks.resize(site_.uplink_names.size());
    entries_.resize(arr->size());
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& u = (*arr)[i];
      std::string p = at("/uplinks", i);
      UplinkEntry e;
      auto name = register_name(uplinks_, u, p, i, "uplink");
      if (!name) continue;
      for (size_t k = 0; k < site_.uplink_names.size(); ++k)
        if (site_.uplink_names[k] == *name) e.site_index = static_cast<int>(k);
      if (e.site_index < 0)
        err(p + "/name", jstr(*name),
            "the box has no uplink of this name (its uplinks: " + join(site_.uplink_names) + ")" +
                did_you_mean(*name, site_.uplink_names));
      if (ok(p)) {
        auto& up = e.policy;
        up.name = *name;
        up.kind = str_at(u, "kind").value_or("other");
        up.role = str_at(u, "role").value_or("primary") == "backup" ? dp::UplinkRole::kBackup
                                                                    : dp::UplinkRole::kPrimary;
        up.up_bps = uint_at(u, "up_kbps").value_or(0) * 1000;
        up.down_bps = uint_at(u, "down_kbps").value_or(0) * 1000;
        up.cost = static_cast<uint32_t>(uint_at(u, "cost").value_or(0));
        up.monthly_cap_bytes = uint_at(u, "monthly_cap_mb").value_or(0) * 1'000'000;
        // A plan with an allowance is paid by volume; `metered` says so for one without.
        up.metered = bool_at(u, "metered", up.monthly_cap_bytes != 0);
        up.breakout = bool_at(u, "breakout", true);
        e.ok = true;
        if (e.site_index >= 0) built_.snapshot->uplinks[static_cast<size_t>(e.site_index)] = up;
      } else {
        uplinks_broken_ = true;
      }
      entries_[i] = e;
    }
    if (uplinks_.complete) {
      for (auto& n : site_.uplink_names)
        if (!uplinks_.has(n))
          err("/uplinks", shown(json(uplinks_.names)),
              "does not describe uplink " + jstr(n) +
                  " of this box (every uplink of the box needs an entry: kind, role)");
    }
    bool all_ok = uplinks_.complete && !uplinks_broken_ && !arr->empty();
    bool any_primary = false;
    for (auto& e : entries_) any_primary = any_primary || e.policy.role == dp::UplinkRole::kPrimary;
    if (all_ok && !any_primary)
      err("/uplinks", shown(json(uplinks_.names)),
          "has no primary uplink: backups carry traffic only when no primary is usable");
  }

  const UplinkEntry* uplink(const std::string& name) const {
    auto it = uplinks_.index.find(name);
    if (it == uplinks_.index.end() || it->second >= entries_.size()) return nullptr;
    return &entries_[it->second];
  }

  void check_peers() {
    const json* arr = section("peers");
    if (!arr) return;
    if (site_.role == "hub" && !arr->empty() && ok("/peers"))
      err("/peers", shown(*arr), "a hub does not list peers: edges connect to it");
    std::set<dp::IpAddr> seen;
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& pe = (*arr)[i];
      std::string p = at("/peers", i);
      auto name = register_name(peers_, pe, p, i, "peer");
      if (!ok(p) || !name) continue;
      OverlayPeer peer;
      peer.name = *name;
      peer.port = static_cast<uint16_t>(uint_at(pe, "port").value_or(0));
      bool good = true;
      const json& eps = pe.at("endpoints");
      for (size_t k = 0; k < eps.size(); ++k) {
        std::string ep = at(p + "/endpoints", k);
        const std::string& s = eps[k].get_ref<const std::string&>();
        auto a = has_nul(s) ? std::nullopt : dp::IpAddr::parse(s);
        if (!a) {
          err(ep, shown(eps[k]), "is not an IPv4 or IPv6 address");
          good = false;
          continue;
        }
        if (auto why = unusable_address(*a)) {
          err(ep, shown(eps[k]), "cannot be a hub's address: " + *why);
          good = false;
          continue;
        }
        if (!seen.insert(*a).second) {
          err(ep, shown(eps[k]), "is already an endpoint of a peer");
          good = false;
          continue;
        }
        peer.endpoints.push_back(*a);
      }
      if (good) built_.peers.push_back(peer);
    }
  }

  // Addresses that are never a remote host on the internet.
  static std::optional<std::string> unusable_address(const dp::IpAddr& a) {
    if (a.is_v4()) {
      uint32_t h = a.v4_host();
      if (h == 0) return "unspecified address";
      if ((h >> 24) == 0) return "\"this network\" (0.0.0.0/8)";
      if ((h >> 24) == 127) return "loopback";
      if ((h >> 16) == 0xa9fe) return "link-local";
      if ((h >> 28) == 0xe) return "multicast";
      if ((h >> 28) == 0xf) return "reserved or broadcast";
      return std::nullopt;
    }
    if (a.is_zero()) return "unspecified address";
    auto one = dp::IpAddr::parse("::1");
    if (one && a == *one) return "loopback";
    if (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80) return "link-local";
    if (a.b[0] == 0xff) return "multicast";
    return std::nullopt;
  }

  void check_segments() {
    const json* arr = section("segments");
    if (!arr) return;
    std::map<uint64_t, std::string> vlans;
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& s = (*arr)[i];
      std::string p = at("/segments", i);
      auto name = register_name(segments_, s, p, i, "segment");
      if (!ok(p) || !name) continue;
      Segment seg;
      auto vlan = uint_at(s, "vlan");
      const json* pf = find(s, "prefixes");
      if (!vlan && !pf) {
        err(p, shown(s), "needs a vlan, prefixes or both to say which hosts it holds");
        continue;
      }
      bool good = true;
      if (vlan) {
        auto [it, fresh] = vlans.emplace(*vlan, *name);
        if (!fresh) {
          err(p + "/vlan", std::to_string(*vlan),
              "is already the VLAN of segment " + jstr(it->second));
          good = false;
        }
        seg.vlan = static_cast<int32_t>(*vlan);
      }
      if (pf) {
        auto list = prefix_list(*pf, p + "/prefixes");
        if (!list) {
          good = false;
        } else {
          for (size_t k = 0; k < list->size() && good; ++k)
            for (auto& [other, os] : segment_defs_)
              for (auto& q : os.prefixes)
                if (prefix_inside((*list)[k], q) || prefix_inside(q, (*list)[k])) {
                  err(at(p + "/prefixes", k), jstr((*list)[k].str()),
                      "overlaps " + jstr(q.str()) + " of segment " + jstr(other) +
                          ": a host would belong to two segments");
                  good = false;
                }
          seg.prefixes = *list;
        }
      }
      if (good) segment_defs_[*name] = seg;
    }
  }

  void read_probes() {
    const json* pr = find(doc_, "probes");
    if (!pr || !ok("/probes") || !pr->is_object()) {
      probes_ok_ = !pr;
      return;
    }
    auto& s = built_.probes;
    s.interval_ms = static_cast<uint32_t>(uint_at(*pr, "interval_ms").value_or(s.interval_ms));
    s.metered_interval_ms =
        static_cast<uint32_t>(uint_at(*pr, "metered_interval_ms").value_or(s.metered_interval_ms));
    if (const json* d = find(*pr, "dscp")) s.dscp = dscp_value(*d).value_or(0);
    s.port = static_cast<uint16_t>(uint_at(*pr, "port").value_or(s.port));
    s.timeout_ms = static_cast<uint32_t>(uint_at(*pr, "timeout_ms").value_or(s.timeout_ms));
    s.down_after = static_cast<uint16_t>(uint_at(*pr, "down_after").value_or(s.down_after));
    s.up_after = static_cast<uint16_t>(uint_at(*pr, "up_after").value_or(s.up_after));
    s.window = static_cast<uint32_t>(uint_at(*pr, "window").value_or(s.window));
    probes_ok_ = true;
    if (s.window < s.down_after)
      err("/probes/window", std::to_string(s.window),
          "is shorter than down_after (" + std::to_string(s.down_after) +
              "): the loss of a down uplink would never fill the window");
  }

  void check_sla_classes() {
    const json* arr = section("sla_classes");
    if (!arr) {
      sla_.complete = !find(doc_, "sla_classes");
      return;
    }
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& c = (*arr)[i];
      std::string p = at("/sla_classes", i);
      auto name = register_name(sla_, c, p, i, "SLA class");
      if (!ok(p) || !name) continue;
      dp::SlaClass s;
      s.name = *name;
      auto lat = uint_at(c, "max_latency_ms");
      auto jit = uint_at(c, "max_jitter_ms");
      const json* loss = find(c, "max_loss_percent");
      if (!lat && !jit && !loss) {
        err(p, shown(c), "sets no bound: give max_latency_ms, max_jitter_ms or max_loss_percent");
        continue;
      }
      s.max_latency_us = static_cast<uint32_t>(lat.value_or(0) * 1000);
      s.max_jitter_us = static_cast<uint32_t>(jit.value_or(0) * 1000);
      s.max_loss_ppm = 1'000'000;
      if (loss) {
        double pct = loss->get<double>();
        double ppm = pct * 10'000.0;
        if (std::fabs(ppm - std::round(ppm)) > 1e-6) {
          err(p + "/max_loss_percent", shown(*loss), "has more precision than 0.0001 %");
          continue;
        }
        s.max_loss_ppm = static_cast<uint32_t>(std::llround(ppm));
      }
      s.hold_ms = static_cast<uint32_t>(uint_at(c, "hold_s").value_or(10) * 1000);
      s.margin_percent = static_cast<uint32_t>(uint_at(c, "margin_percent").value_or(20));
      // A probe slower than the timeout counts as lost: the SLA must fit inside it.
      if (lat && probes_ok_ && *lat * 2 > built_.probes.timeout_ms) {
        err(p + "/max_latency_ms", std::to_string(*lat),
            "allows a round trip (2 × " + std::to_string(*lat) +
                " ms) longer than probes.timeout_ms (" + std::to_string(built_.probes.timeout_ms) +
                " ms): such a path would be measured as lossy, not slow");
        continue;
      }
      sla_index_[*name] = built_.snapshot->sla_classes.size();
      built_.snapshot->sla_classes.push_back(s);
    }
  }

  void check_qos_classes() {
    const json* arr = section("qos_classes");
    if (!arr) {
      qos_.complete = !find(doc_, "qos_classes");
      return;
    }
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& c = (*arr)[i];
      std::string p = at("/qos_classes", i);
      auto name = register_name(qos_, c, p, i, "QoS class");
      if (!ok(p) || !name) continue;
      dp::QosClass q;
      q.name = *name;
      q.priority = static_cast<uint8_t>(uint_at(c, "priority").value_or(0));
      q.weight = static_cast<uint16_t>(uint_at(c, "weight").value_or(1));
      auto lo = uint_at(c, "min_rate_kbps");
      auto hi = uint_at(c, "max_rate_kbps");
      if (lo && hi && *lo > *hi) {
        err(p + "/min_rate_kbps", std::to_string(*lo),
            "is above max_rate_kbps (" + std::to_string(*hi) + "): the guarantee cannot be given");
        continue;
      }
      q.min_rate_bps = lo.value_or(0) * 1000;
      q.max_rate_bps = hi.value_or(0) * 1000;
      q.ingress_max_bps = uint_at(c, "ingress_max_kbps").value_or(0) * 1000;
      if (const json* d = find(c, "dscp")) q.dscp = dscp_value(*d).value_or(0);
      q.critical = bool_at(c, "critical", false);
      qos_index_[*name] = built_.snapshot->qos_classes.size();
      built_.snapshot->qos_classes.push_back(q);
    }
  }

  void check_applications() {
    // Indexed by id (the data plane looks applications up by the id a flow carries): 0 is the
    // unnamed "unknown", then the built-ins, then this policy's custom applications.
    auto& apps = built_.snapshot->apps;
    apps.emplace_back();
    for (const AppInfo& a : builtin_apps()) {
      dp::AppDef d;
      d.name = std::string(a.name);
      d.category = std::string(a.category);
      d.id = a.id;
      d.category_id = find_category(a.category)->id;
      apps.push_back(d);
    }
    std::vector<std::string> categories;
    for (auto& c : builtin_categories()) categories.emplace_back(c.name);
    const json* arr = section("applications");
    if (!arr) {
      custom_.complete = !find(doc_, "applications");
      return;
    }
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& c = (*arr)[i];
      std::string p = at("/applications", i);
      auto name = register_name(custom_, c, p, i, "application");
      if (!name) continue;
      if (find_app(*name)) {
        err(p + "/name", jstr(*name), "is a built-in application: a custom one needs another name");
        continue;
      }
      if (!ok(p)) continue;
      dp::AppDef d;
      d.name = *name;
      d.custom = true;
      d.id = static_cast<uint16_t>(first_custom_app_id() + i);
      d.category = c.at("category").get<std::string>();
      bool good = true;
      if (const CategoryInfo* cat = find_category(d.category)) {
        d.category_id = cat->id;
      } else {
        err(p + "/category", jstr(d.category),
            "is not a category" + suggest(d.category, categories));
        good = false;
      }
      const json* doms = find(c, "domains");
      const json* pfx = find(c, "prefixes");
      const json* ports = find(c, "ports");
      if (!doms && !pfx && !ports) {
        err(p, shown(c), "needs domains, prefixes or ports: nothing would recognise it");
        continue;
      }
      if (doms) {
        for (size_t k = 0; k < doms->size(); ++k) {
          const std::string& dn = (*doms)[k].get_ref<const std::string&>();
          for (auto& prev : d.domains) {
            bool under = starts_with(prev, "*.") && dn.size() > prev.size() - 1 &&
                         dn.compare(dn.size() - (prev.size() - 1), prev.size() - 1, prev, 1) == 0;
            if (dn == prev || under) {
              err(at(p + "/domains", k), jstr(dn),
                  dn == prev ? "is listed twice" : "is already covered by " + jstr(prev));
              good = false;
              break;
            }
          }
          d.domains.push_back(dn);
        }
      }
      if (pfx) {
        auto list = prefix_list(*pfx, p + "/prefixes");
        if (list) d.prefixes = *list;
        good = good && list.has_value();
      }
      if (const json* pr = find(c, "proto")) d.proto = proto_number(*pr).value_or(0);
      if (ports) {
        auto list = port_list(*ports, p + "/ports");
        if (list) d.ports = *list;
        good = good && list.has_value();
        if (d.proto != 0 && d.proto != 6 && d.proto != 17) {
          err(p + "/ports", shown(*ports), "needs proto tcp or udp (or no proto: either)");
          good = false;
        }
      }
      if (!good) continue;
      custom_ids_[*name] = d.id;
      apps.push_back(d);
    }
  }

  // ---- rules ----

  // The (application, category) pairs a packet can carry: unknown, built-ins, customs.
  std::vector<std::pair<uint16_t, uint16_t>> app_universe() const {
    std::vector<std::pair<uint16_t, uint16_t>> u;
    u.push_back({dp::kAppUnknown, dp::kCategoryUnknown});
    for (auto& a : built_.snapshot->apps)
      if (a.id != dp::kAppUnknown) u.push_back({a.id, a.category_id});
    return u;
  }

  static bool admits(const dp::RuleMatch& m, uint16_t app, uint16_t cat) {
    auto in = [](const std::vector<uint16_t>& s, uint16_t x) {
      return s.empty() || std::find(s.begin(), s.end(), x) != s.end();
    };
    return in(m.apps, app) && in(m.categories, cat);
  }

  // Every packet `b` matches, `a` matches too (only what can be proven: prefixes are compared
  // one by one, so a set of prefixes that only together covers another is not seen).
  bool covers(const dp::RuleMatch& a, const dp::RuleMatch& b) const {
    if (a.proto != 0 && a.proto != b.proto) return false;
    const uint64_t all = ~uint64_t{0};
    uint64_t am = a.dscp_mask ? a.dscp_mask : all, bm = b.dscp_mask ? b.dscp_mask : all;
    if ((bm & ~am) != 0) return false;
    if (a.vlan >= 0 && a.vlan != b.vlan) return false;
    auto ports = [](const std::vector<dp::PortRange>& pa, const std::vector<dp::PortRange>& pb) {
      if (pa.empty()) return true;
      if (pb.empty()) return false;
      for (auto& r : pb)
        if (!ports_inside(r, pa)) return false;
      return true;
    };
    if (!ports(a.src_ports, b.src_ports) || !ports(a.dst_ports, b.dst_ports)) return false;
    auto prefixes = [](const std::vector<dp::IpPrefix>& pa, const std::vector<dp::IpPrefix>& pb) {
      if (pa.empty()) return true;
      if (pb.empty()) return false;
      for (auto& x : pb) {
        bool in = false;
        for (auto& y : pa) in = in || prefix_inside(x, y);
        if (!in) return false;
      }
      return true;
    };
    if (!prefixes(a.src, b.src) || !prefixes(a.dst, b.dst)) return false;
    for (auto [app, cat] : universe_)
      if (admits(b, app, cat) && !admits(a, app, cat)) return false;
    return true;
  }

  // Compiles a rule's match. Fields with a schema error are skipped (and make the result
  // unusable); false if anything is wrong (already reported).
  bool compile_match(const json& m, const std::string& p, RuleEntry& r) {
    auto& cm = r.compiled.match;
    bool good = ok(p);
    auto field = [&](const char* key) -> const json* {
      const json* v = find(m, key);
      return v && ok(p + "/" + key) ? v : nullptr;
    };
    std::vector<std::string> all_apps;
    for (auto& a : builtin_apps()) all_apps.emplace_back(a.name);
    for (auto& n : custom_.names) all_apps.push_back(n);
    std::vector<std::string> all_cats;
    for (auto& c : builtin_categories()) all_cats.emplace_back(c.name);

    const json* apps = field("applications");
    if (apps) {
      std::set<uint16_t> ids;
      std::vector<std::string> listed;
      for (size_t k = 0; k < apps->size(); ++k) {
        std::string ap = at(p + "/applications", k);
        const std::string& n = (*apps)[k].get_ref<const std::string&>();
        if (std::find(listed.begin(), listed.end(), n) != listed.end()) {
          err(ap, jstr(n), "is listed twice");
          good = false;
          continue;
        }
        listed.push_back(n);
        std::vector<uint16_t> add;
        if (const AppInfo* a = find_app(n)) {
          if (!a->suite.empty() &&
              std::find(listed.begin(), listed.end(), std::string(a->suite)) != listed.end()) {
            err(ap, jstr(n), "is part of " + jstr(std::string(a->suite)) + ", listed before it");
            good = false;
            continue;
          }
          add.push_back(a->id);
          for (auto& member : builtin_apps())
            if (member.suite == a->name) add.push_back(member.id);
        } else if (custom_ids_.count(n)) {
          add.push_back(custom_ids_.at(n));
        } else {
          // Defined but broken, or maybe in an entry whose name was unreadable: said there.
          if (custom_.complete && !custom_.has(n))
            err(ap, jstr(n), "is not a built-in or custom application" + did_you_mean(n, all_apps));
          good = false;
          continue;
        }
        for (uint16_t id : add)
          if (ids.insert(id).second) cm.apps.push_back(id);
      }
    } else if (find(m, "applications")) {
      good = false;
    }
    const json* cats = field("categories");
    if (cats) {
      for (size_t k = 0; k < cats->size(); ++k) {
        std::string cp = at(p + "/categories", k);
        const std::string& n = (*cats)[k].get_ref<const std::string&>();
        const CategoryInfo* c = find_category(n);
        if (!c) {
          err(cp, jstr(n), "is not a category" + suggest(n, all_cats));
          good = false;
          continue;
        }
        if (std::find(cm.categories.begin(), cm.categories.end(), c->id) != cm.categories.end()) {
          err(cp, jstr(n), "is listed twice");
          good = false;
          continue;
        }
        cm.categories.push_back(c->id);
      }
    }
    // An application outside every listed category can never match.
    if (good && apps && cats && !cm.apps.empty() && !cm.categories.empty()) {
      for (size_t k = 0; k < apps->size(); ++k) {
        const std::string& n = (*apps)[k].get_ref<const std::string&>();
        bool any = false;
        for (auto& a : built_.snapshot->apps) {
          bool named = a.name == n;
          if (const AppInfo* info = find_app(a.name); info && info->suite == n) named = true;
          if (named && std::find(cm.categories.begin(), cm.categories.end(), a.category_id) !=
                           cm.categories.end())
            any = true;
        }
        if (!any) {
          err(at(p + "/applications", k), jstr(n),
              "is in no category listed in categories: this match would never hold for it");
          good = false;
        }
      }
    }

    const json* src_json = field("src_prefixes");
    if (src_json) {
      auto src = prefix_list(*src_json, p + "/src_prefixes");
      if (src) cm.src = *src;
      good = good && src.has_value();
    }
    if (const json* d = field("dst_prefixes")) {
      auto dst = prefix_list(*d, p + "/dst_prefixes");
      if (dst) cm.dst = *dst;
      good = good && dst.has_value();
    }
    const json* proto = field("proto");
    if (proto) cm.proto = proto_number(*proto).value_or(0);
    for (const char* key : {"src_ports", "dst_ports"}) {
      const json* ports = field(key);
      if (!ports) continue;
      auto list = port_list(*ports, p + "/" + key);
      if (!list) {
        good = false;
        continue;
      }
      (std::string(key) == "src_ports" ? cm.src_ports : cm.dst_ports) = *list;
      if (ok(p + "/proto") && cm.proto != 6 && cm.proto != 17) {
        err(p + "/" + key, shown(*ports),
            "needs \"proto\": \"tcp\" or \"udp\" (ports exist only there)");
        good = false;
      }
    }
    if (const json* ds = field("dscp")) {
      for (size_t k = 0; k < ds->size(); ++k) {
        uint8_t v = dscp_value((*ds)[k]).value_or(0);
        if (cm.dscp_mask & (uint64_t{1} << v)) {
          err(at(p + "/dscp", k), shown((*ds)[k]),
              "is listed twice (DSCP " + std::to_string(v) + ")");
          good = false;
        }
        cm.dscp_mask |= uint64_t{1} << v;
      }
    }
    if (auto vlan = field("vlan")) cm.vlan = static_cast<int32_t>(as_uint(*vlan).value_or(0));
    if (const json* seg_json = field("segment")) {
      const std::string& seg = seg_json->get_ref<const std::string&>();
      auto it = segment_defs_.find(seg);
      if (it == segment_defs_.end()) {
        if (segments_.complete && !segments_.has(seg))
          err(p + "/segment", jstr(seg), "is not a segment" + suggest(seg, segments_.names));
        good = false;
      } else if (find(m, "vlan")) {
        err(p + "/vlan", shown(m.at("vlan")),
            "cannot be given with segment (the segment sets the VLAN)");
        good = false;
      } else {
        const Segment& s = it->second;
        cm.vlan = s.vlan;
        if (!s.prefixes.empty()) {
          if (!find(m, "src_prefixes")) {
            cm.src = s.prefixes;
          } else if (src_json) {
            for (size_t k = 0; k < cm.src.size(); ++k) {
              bool in = false;
              for (auto& q : s.prefixes) in = in || prefix_inside(cm.src[k], q);
              if (!in) {
                err(at(p + "/src_prefixes", k), jstr(cm.src[k].str()),
                    "lies outside segment " + jstr(seg) + "'s prefixes");
                good = false;
              }
            }
          }
        }
      }
    }
    // Source and destination of one packet are of one family.
    auto family = [](const std::vector<dp::IpPrefix>& v) {
      int f = 0;  // 1: all IPv4, 2: all IPv6, 3: both
      for (auto& x : v) f |= x.v4 ? 1 : 2;
      return f;
    };
    if (good && !cm.src.empty() && !cm.dst.empty() && (family(cm.src) & family(cm.dst)) == 0) {
      err(p, shown(m),
          "matches no packet: its source prefixes are all " +
              std::string(family(cm.src) == 1 ? "IPv4" : "IPv6") +
              " and its destination prefixes all " + (family(cm.dst) == 1 ? "IPv4" : "IPv6"));
      r.matches_nothing = true;
      good = false;
    }
    const int fam = family(cm.src) | family(cm.dst);
    if (good && cm.proto == 1 && fam == 2) {
      err(p + "/proto", shown(*proto),
          "is ICMP for IPv4 but the prefixes are all IPv6 (use icmpv6)");
      r.matches_nothing = true;
      good = false;
    }
    if (good && cm.proto == 58 && fam == 1) {
      err(p + "/proto", shown(*proto), "is ICMPv6 but the prefixes are all IPv4 (use icmp)");
      r.matches_nothing = true;
      good = false;
    }
    return good;
  }

  // Uplinks of the policy in the default order (primaries first, then backups).
  std::vector<std::string> default_uplinks(bool breakout_only) const {
    std::vector<std::string> out;
    for (int pass = 0; pass < 2; ++pass)
      for (auto& n : uplinks_.names) {
        const UplinkEntry* e = uplink(n);
        if (!e || !e->ok) continue;
        if ((e->policy.role == dp::UplinkRole::kBackup) != (pass == 1)) continue;
        if (breakout_only && !e->policy.breakout) continue;
        out.push_back(n);
      }
    return out;
  }

  // Compiles a rule's action, checking each field that passed the schema.
  bool compile_action(const json& a, const std::string& p, RuleEntry& r) {
    auto& ca = r.compiled.action;
    bool good = ok(p);
    auto field = [&](const char* key) -> const json* {
      const json* v = find(a, key);
      return v && ok(p + "/" + key) ? v : nullptr;
    };
    const json* egress_json = field("egress");
    const std::optional<std::string> egress =
        egress_json ? std::optional(egress_json->get<std::string>()) : std::nullopt;
    std::optional<std::string> strategy = "priority";
    if (find(a, "strategy")) {
      const json* s = field("strategy");
      strategy = s ? std::optional(s->get<std::string>()) : std::nullopt;
    }
    if (egress == "drop") {
      ca.egress = dp::Egress::kDrop;
      for (const char* key :
           {"strategy", "uplinks", "weights", "qos_class", "sla_class", "fallback"})
        if (const json* v = find(a, key)) {
          err(p + "/" + key, shown(*v), "has no effect when egress is drop");
          good = false;
        }
      return good;
    }
    ca.egress = egress == "breakout" ? dp::Egress::kBreakout : dp::Egress::kOverlay;
    static const std::map<std::string, dp::PathStrategy> strategies = {
        {"priority", dp::PathStrategy::kPriority},
        {"best-quality", dp::PathStrategy::kBestQuality},
        {"lowest-cost", dp::PathStrategy::kLowestCost},
        {"load-balance", dp::PathStrategy::kLoadBalance},
        {"duplicate", dp::PathStrategy::kDuplicate}};
    if (strategy) ca.strategy = strategies.at(*strategy);
    good = good && egress && strategy;

    // The uplink list, by name, in the order given. `entries_ok`: every one's fields are known.
    std::vector<std::string> names;
    bool names_known = true, entries_ok = true;
    const json* ul = find(a, "uplinks");
    if (ul && ok(p + "/uplinks")) {
      for (size_t k = 0; k < ul->size(); ++k) {
        std::string up = at(p + "/uplinks", k);
        const std::string& n = (*ul)[k].get_ref<const std::string&>();
        if (std::find(names.begin(), names.end(), n) != names.end()) {
          err(up, jstr(n), "is listed twice");
          good = false;
          continue;
        }
        const UplinkEntry* e = uplink(n);
        if (!e) {
          if (uplinks_.complete)
            err(up, jstr(n), "is not an uplink of this policy" + suggest(n, uplinks_.names));
          names_known = good = false;
          continue;
        }
        names.push_back(n);
        if (!e->ok) {
          entries_ok = good = false;
          continue;
        }
        if (ca.egress == dp::Egress::kBreakout && !e->policy.breakout) {
          err(up, jstr(n), "does not allow breakout (its \"breakout\" is false)");
          good = false;
        }
      }
    } else if (ul) {
      names_known = good = false;
    } else if (!uplinks_.complete || uplinks_broken_ || !egress) {
      names_known = good = false;  // the full list cannot be known
    } else {
      names = default_uplinks(ca.egress == dp::Egress::kBreakout);
      if (names.empty()) {
        err(p + "/egress", jstr(*egress), "no uplink of the policy allows breakout");
        good = false;
      }
    }

    if (strategy == "priority" && ul && names_known && entries_ok) {
      const std::string* backup = nullptr;
      for (auto& n : names) {
        if (uplink(n)->policy.role == dp::UplinkRole::kBackup) {
          if (!backup) backup = &n;
        } else if (backup) {
          err(p + "/uplinks", shown(*ul),
              "puts backup uplink " + jstr(*backup) + " before primary uplink " + jstr(n) +
                  ": a backup carries traffic only when no primary is usable");
          good = false;
          break;
        }
      }
    }
    if (strategy == "duplicate") {
      if (names_known && names.size() < 2) {
        err(ul ? p + "/uplinks" : p + "/strategy", ul ? shown(*ul) : jstr(*strategy),
            "duplicate needs at least 2 uplinks to send the copies on (got " +
                std::to_string(names.size()) + ")");
        good = false;
      }
      if (egress && ca.egress != dp::Egress::kOverlay) {
        err(p + "/strategy", jstr(*strategy),
            "duplicate needs egress overlay: only a hub can remove the copies");
        good = false;
      } else if (egress && site_.role != "hub" && peers_.names.empty() && peers_.complete) {
        err(p + "/strategy", jstr(*strategy),
            "duplicate needs a hub to remove the copies, and the policy has no peers");
        good = false;
      }
    }
    if ((strategy == "load-balance" || strategy == "best-quality" || strategy == "lowest-cost") &&
        ul && names_known && names.size() == 1) {
      err(p + "/uplinks", shown(*ul),
          *strategy + " chooses among uplinks: list at least 2, or use priority");
      good = false;
    }
    if (const json* w = find(a, "weights")) {
      if (!ok(p + "/weights") || !strategy) {
        good = false;
      } else if (strategy != "load-balance") {
        err(p + "/weights", shown(*w),
            "applies only to strategy load-balance (this rule's is " + *strategy + ")");
        good = false;
      } else if (!ul) {
        err(p + "/weights", shown(*w),
            "needs an explicit uplinks list: weights are given in its order");
        good = false;
      } else if (w->size() != ul->size()) {
        err(p + "/weights", shown(*w),
            "has " + std::to_string(w->size()) + " weights for " + std::to_string(ul->size()) +
                " uplinks: give one weight per uplink");
        good = false;
      } else {
        uint64_t sum = 0;
        for (auto& x : *w) sum += as_uint(x).value_or(0);
        if (sum == 0) {
          err(p + "/weights", shown(*w), "sum to 0: no uplink would get traffic");
          good = false;
        }
        for (auto& x : *w) ca.weights.push_back(static_cast<uint16_t>(as_uint(x).value_or(0)));
      }
    }
    if (const json* q = field("qos_class")) {
      const std::string& s = q->get_ref<const std::string&>();
      auto it = qos_index_.find(s);
      if (it != qos_index_.end()) {
        ca.qos_class = static_cast<uint8_t>(it->second);
      } else {
        if (qos_.complete && !qos_.has(s))
          err(p + "/qos_class", jstr(s), "is not a QoS class" + suggest(s, qos_.names));
        good = false;
      }
    }
    if (const json* sla = field("sla_class")) {
      const std::string& s = sla->get_ref<const std::string&>();
      auto it = sla_index_.find(s);
      if (it != sla_index_.end()) {
        ca.sla_class = static_cast<uint8_t>(it->second);
      } else {
        if (sla_.complete && !sla_.has(s))
          err(p + "/sla_class", jstr(s), "is not an SLA class" + suggest(s, sla_.names));
        good = false;
      }
    }
    if (const json* fb = field("fallback")) {
      if (!find(a, "sla_class")) {
        err(p + "/fallback", shown(*fb), "has no effect without sla_class");
        good = false;
      }
      ca.fallback = fb->get<std::string>() == "drop" ? dp::SlaFallback::kDrop
                                                     : dp::SlaFallback::kBestAvailable;
    }
    if (!good) return false;

    // Preference order as the data plane reads it. lowest-cost: cheapest first (primaries before
    // backups), so that before the path selector lands the first usable uplink is the cheapest.
    if (strategy == "lowest-cost")
      std::stable_sort(names.begin(), names.end(), [&](const std::string& x, const std::string& y) {
        auto& a1 = uplink(x)->policy;
        auto& b1 = uplink(y)->policy;
        return std::pair(a1.role, a1.cost) < std::pair(b1.role, b1.cost);
      });
    for (auto& n : names) {
      int idx = uplink(n)->site_index;
      if (idx < 0) return false;  // reported in uplinks
      ca.uplinks.push_back(static_cast<uint8_t>(idx));
    }
    return true;
  }

  void check_rules() {
    universe_ = app_universe();
    const json* arr = section("rules");
    if (!arr) return;
    std::vector<RuleEntry> rules(arr->size());
    bool all_good = true;
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& rj = (*arr)[i];
      std::string p = at("/rules", i);
      RuleEntry& r = rules[i];
      if (!rj.is_object()) {
        all_good = false;
        continue;
      }
      auto name = register_name(rules_, rj, p, i, "rule");
      r.name = str_at(rj, "name").value_or("");
      r.compiled.name = r.name;
      all_good = all_good && name.has_value() && ok(p);
      const json* m = find(rj, "match");
      r.json_default = !m || (m->is_object() && m->empty());
      r.match_ptr = m ? p + "/match" : p;
      r.match_value = shown(m ? *m : rj);
      if (!m) {
        r.match_ok = true;
      } else if (m->is_object()) {
        r.match_ok = compile_match(*m, p + "/match", r);
      }
      const json* a = find(rj, "action");
      bool action_ok = a && a->is_object() && compile_action(*a, p + "/action", r);
      all_good = all_good && r.match_ok && action_ok;
    }

    // The default rule: last, and only last.
    const size_t n = rules.size();
    for (size_t i = 0; i + 1 < n; ++i)
      if (rules[i].json_default && (*arr)[i].is_object())
        err(rules[i].match_ptr, rules[i].match_value,
            "is a default rule (no match) before the last rule: " +
                (n - 1 - i == 1 ? std::string("the rule after it")
                                : "the " + std::to_string(n - 1 - i) + " rules after it") +
                " can never match");
    const json* last_match = n > 0 ? find((*arr)[n - 1], "match") : nullptr;
    if (last_match && last_match->is_object() && !rules[n - 1].json_default)
      err(rules[n - 1].match_ptr, shown(*last_match),
          "the last rule must be the default rule: no \"match\" (or an empty one), so that every "
          "packet has a rule");

    // Unreachable rules: every packet they match, an earlier rule matches first.
    for (size_t j = 0; j < n; ++j) {
      if (!rules[j].match_ok || rules[j].matches_nothing) continue;
      for (size_t i = 0; i < j; ++i) {
        if (!rules[i].match_ok || rules[i].json_default) continue;
        if (covers(rules[i].compiled.match, rules[j].compiled.match)) {
          err(rules[j].match_ptr, rules[j].match_value,
              "can never match: rule " + std::to_string(i) + " (" + jstr(rules[i].name) +
                  ") matches all of its traffic first");
          all_good = false;
          break;
        }
      }
    }
    if (all_good)
      for (auto& r : rules) built_.snapshot->rules.push_back(std::move(r.compiled));
  }

  void check_breakout_targets() {
    const json* arr = section("breakout_targets");
    if (!arr) return;
    bool any_breakout = false;
    for (auto& e : entries_) any_breakout = any_breakout || (e.ok && e.policy.breakout);
    if (!arr->empty() && !any_breakout && uplinks_.complete && !uplinks_broken_ &&
        ok("/breakout_targets"))
      err("/breakout_targets", shown(*arr),
          "are probed through uplinks that allow breakout, and no uplink does");
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& t = (*arr)[i];
      std::string p = at("/breakout_targets", i);
      auto name = register_name(targets_, t, p, i, "breakout target");
      if (!ok(p) || !name) continue;
      BreakoutTarget bt;
      bt.name = *name;
      bt.method = t.at("method").get<std::string>();
      bt.host = t.at("host").get<std::string>();
      bool good = true;
      if (auto why = bad_host(bt.host)) {
        err(p + "/host", jstr(bt.host), *why);
        good = false;
      }
      auto port = uint_at(t, "port");
      if (bt.method == "tcp" && !port) {
        err(p + "/port", "", "is required for method tcp");
        good = false;
      }
      if (bt.method == "icmp" && port) {
        err(p + "/port", std::to_string(*port), "has no meaning for method icmp");
        good = false;
      }
      bt.port = static_cast<uint16_t>(port.value_or(bt.method == "http-head" ? 80 : 0));
      if (good) built_.breakout_targets.push_back(bt);
    }
  }

  // Why `host` cannot be an internet host, or nullopt.
  static std::optional<std::string> bad_host(const std::string& host) {
    bool ip_like = host.find(':') != std::string::npos;
    if (!ip_like) {
      ip_like = true;
      for (char c : host) ip_like = ip_like && ((c >= '0' && c <= '9') || c == '.');
    }
    if (ip_like) {
      auto a = has_nul(host) ? std::nullopt : dp::IpAddr::parse(host);
      if (!a) return "is not a valid IPv4 or IPv6 address";
      if (auto why = unusable_address(*a)) return "is not an internet address: " + *why;
      return std::nullopt;
    }
    // A fully qualified name: labels of letters, digits and inner '-', at least two of them.
    size_t labels = 0, start = 0;
    while (start <= host.size()) {
      size_t dot = host.find('.', start);
      std::string label =
          host.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      bool good =
          !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-';
      for (char c : label) good = good && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
      if (!good) return "is not a valid host name (labels of letters, digits and inner '-')";
      ++labels;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (labels < 2)
      return "must be a fully qualified host name (like \"www.example.org\") or an address";
    return std::nullopt;
  }

  // ---- firewall ----

  // Every segment (in document order, the ones that passed their checks) for the source check,
  // then the inbound rules. Rule i shadows a later rule j when everything j matches, i matches.
  void check_firewall() {
    dp::FirewallPolicy& fw = built_.snapshot->firewall;
    std::map<std::string, int16_t> seg_index;
    for (const std::string& n : segments_.names) {
      auto it = segment_defs_.find(n);
      if (it == segment_defs_.end()) continue;
      seg_index[n] = static_cast<int16_t>(fw.segments.size());
      fw.segments.push_back({n, it->second.vlan, it->second.prefixes});
    }
    const json* f = find(doc_, "firewall");
    if (!f || !ok("/firewall") || !f->is_object()) return;
    if (auto sc = str_at(*f, "lan_source_check")) {
      for (size_t k = 0; k < dp::kSourceCheckNames.size(); ++k)
        if (*sc == dp::kSourceCheckNames[k]) fw.lan_source = static_cast<dp::SourceCheck>(k);
    }
    if (const json* fl = find(*f, "flood"); fl && fl->is_object() && ok("/firewall/flood")) {
      dp::FloodLimits& l = fw.flood;
      l.wan_share_percent =
          static_cast<uint32_t>(uint_at(*fl, "wan_share_percent").value_or(l.wan_share_percent));
      l.new_per_source =
          static_cast<uint32_t>(uint_at(*fl, "new_flows_per_source").value_or(l.new_per_source));
      l.new_per_destination = static_cast<uint32_t>(
          uint_at(*fl, "new_flows_per_destination").value_or(l.new_per_destination));
    }
    check_port_forwards(*f);
    const json* arr = find(*f, "inbound");
    if (!arr || !arr->is_array() || !ok("/firewall/inbound")) return;
    Registry names;
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& r = (*arr)[i];
      const std::string p = at("/firewall/inbound", i);
      auto name = register_name(names, r, p, i, "firewall rule");
      if (!ok(p) || !name || !r.is_object()) continue;
      dp::FwRule fr;
      fr.name = *name;
      bool good = true;
      fr.from =
          str_at(r, "from").value_or("wan") == "overlay" ? dp::Zone::kOverlay : dp::Zone::kWan;
      const std::string to = str_at(r, "to").value_or("lan");
      if (to != "lan") {
        auto it = seg_index.find(to);
        if (it == seg_index.end()) {
          if (segments_.complete)
            err(p + "/to", jstr(to), "is not \"lan\" or a segment" + suggest(to, segments_.names));
          good = false;
        } else if (fw.segments[static_cast<size_t>(it->second)].prefixes.empty()) {
          err(p + "/to", jstr(to),
              "is a segment without prefixes: the firewall tells its hosts by address");
          good = false;
        } else {
          fr.to_segment = it->second;
        }
      }
      if (const json* v = find(r, "src_prefixes")) {
        auto l = prefix_list(*v, p + "/src_prefixes");
        good = good && l.has_value();
        if (l) fr.src = *l;
      }
      if (const json* v = find(r, "dst_prefixes")) {
        auto l = prefix_list(*v, p + "/dst_prefixes");
        good = good && l.has_value();
        if (l) {
          fr.dst = *l;
          if (fr.to_segment >= 0) {
            const auto& sp = fw.segments[static_cast<size_t>(fr.to_segment)].prefixes;
            for (size_t k = 0; k < l->size(); ++k) {
              bool inside = false;
              for (const auto& q : sp) inside |= prefix_inside((*l)[k], q);
              if (!inside) {
                err(at(p + "/dst_prefixes", k), jstr((*l)[k].str()),
                    "lies outside segment " + jstr(to) + "'s prefixes");
                good = false;
              }
            }
          }
        }
      }
      if (const json* v = find(r, "proto")) fr.proto = proto_number(*v).value_or(0);
      if (const json* v = find(r, "dst_ports")) {
        auto l = port_list(*v, p + "/dst_ports");
        good = good && l.has_value();
        if (l)
          for (const auto& pr : *l) fr.dst_ports.push_back({pr.lo, pr.hi});
        if (l && fr.proto != 6 && fr.proto != 17) {
          err(p + "/dst_ports", shown(*v),
              "needs \"proto\": \"tcp\" or \"udp\" (ports exist only there)");
          good = false;
        }
      }
      const std::string action = str_at(r, "action").value_or("deny");
      fr.action = action == "allow"    ? dp::FwAction::kAllow
                  : action == "reject" ? dp::FwAction::kReject
                                       : dp::FwAction::kDeny;
      fr.log = bool_at(r, "log", false);
      if (!good) continue;
      for (size_t k = 0; k < fw.rules.size(); ++k) {
        if (fw_covers(fw.rules[k], fr)) {
          err(p, shown(r),
              "can never match: firewall rule " + jstr(fw.rules[k].name) +
                  " before it matches everything it does");
          good = false;
          break;
        }
      }
      if (good) fw.rules.push_back(std::move(fr));
    }
  }

  void check_port_forwards(const json& f) {
    const json* arr = find(f, "port_forwards");
    if (!arr || !arr->is_array() || !ok("/firewall/port_forwards")) return;
    dp::FirewallPolicy& fw = built_.snapshot->firewall;
    Registry names;
    std::map<std::tuple<uint8_t, uint8_t, uint16_t, bool>, std::string> taken;
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& r = (*arr)[i];
      const std::string p = at("/firewall/port_forwards", i);
      auto name = register_name(names, r, p, i, "port forward");
      if (!ok(p) || !name || !r.is_object()) continue;
      dp::PortForward pf;
      pf.name = *name;
      bool good = true;
      const std::string up = str_at(r, "uplink").value_or("");
      const UplinkEntry* ue = uplink(up);
      if (ue == nullptr) {
        if (uplinks_.complete)
          err(p + "/uplink", jstr(up), "is not an uplink" + suggest(up, uplinks_.names));
        good = false;
      } else if (ue->site_index < 0) {
        good = false;  // reported with the uplinks
      } else {
        pf.uplink = static_cast<uint8_t>(ue->site_index);
      }
      pf.proto = str_at(r, "proto").value_or("tcp") == "udp" ? 17 : 6;
      pf.port = static_cast<uint16_t>(uint_at(r, "port").value_or(0));
      pf.to_port = static_cast<uint16_t>(uint_at(r, "to_port").value_or(pf.port));
      if (pf.port >= 49152) {
        err(p + "/port", std::to_string(pf.port),
            "lies in the NAT's port range (49152-65535): replies to LAN hosts' connections use it");
        good = false;
      } else if (pf.proto == 17 &&
                 (pf.port == 862 || pf.port == 4500 || (pf.port >= 40000 && pf.port < 40256))) {
        err(p + "/port", std::to_string(pf.port),
            "is one of the box's own UDP ports (STAMP 862 and 40000-40255, overlay 4500)");
        good = false;
      }
      const std::string to = str_at(r, "to").value_or("");
      auto addr = dp::IpAddr::parse(to);
      if (!addr) {
        err(p + "/to", jstr(to), "is not an IPv4 or IPv6 address");
        good = false;
      } else {
        pf.to = *addr;
        const bool v4 = addr->is_v4();
        bool inside = false, known = !site_.lan_prefixes.empty();
        for (const auto& q : site_.lan_prefixes) inside |= q.contains(*addr, v4);
        for (const auto& s : fw.segments) {
          known |= !s.prefixes.empty();
          for (const auto& q : s.prefixes) inside |= q.contains(*addr, v4);
        }
        if (known && !inside) {
          err(p + "/to", jstr(to), "is not inside the box's LAN prefixes or any segment's");
          good = false;
        }
      }
      if (const json* v = find(r, "src_prefixes")) {
        auto l = prefix_list(*v, p + "/src_prefixes");
        good = good && l.has_value();
        if (l) pf.src = *l;
      }
      pf.log = bool_at(r, "log", false);
      if (!good) continue;
      auto [it, fresh] =
          taken.emplace(std::tuple(pf.uplink, pf.proto, pf.port, pf.to.is_v4()), *name);
      if (!fresh) {
        err(p + "/port", std::to_string(pf.port),
            "is already forwarded on this uplink by port forward " + jstr(it->second));
        continue;
      }
      fw.forwards.push_back(std::move(pf));
    }
  }

  static bool fw_covers(const dp::FwRule& a, const dp::FwRule& b) {
    if (a.from != b.from) return false;
    if (a.to_segment >= 0 && a.to_segment != b.to_segment) return false;
    if (a.proto != 0 && a.proto != b.proto) return false;
    auto prefixes = [](const std::vector<dp::IpPrefix>& outer,
                       const std::vector<dp::IpPrefix>& inner) {
      if (outer.empty()) return true;
      if (inner.empty()) return false;
      for (const auto& i : inner) {
        bool in = false;
        for (const auto& o : outer) in |= prefix_inside(i, o);
        if (!in) return false;
      }
      return true;
    };
    if (!prefixes(a.src, b.src)) return false;
    // A rule to a segment matches only inside its prefixes: as if they were its destinations.
    if (!a.dst.empty()) {
      if (b.dst.empty()) return false;
      if (!prefixes(a.dst, b.dst)) return false;
    }
    if (a.dst_ports.empty()) return true;
    if (b.dst_ports.empty()) return false;
    for (const auto& i : b.dst_ports) {
      bool in = false;
      for (const auto& o : a.dst_ports) in |= i.lo >= o.lo && i.hi <= o.hi;
      if (!in) return false;
    }
    return true;
  }

  struct Segment {
    int32_t vlan = -1;
    std::vector<dp::IpPrefix> prefixes;
  };

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

}  // namespace

Built semantic_check(const json& doc, const SiteFacts& site, const std::vector<PolicyError>& schema,
                     std::vector<PolicyError>& errors) {
  return Checker(doc, site, schema, errors).run();
}

}  // namespace traboule::cp::detail

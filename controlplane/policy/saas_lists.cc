// SPDX-License-Identifier: Apache-2.0
#include "controlplane/policy/saas_lists.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "dataplane/model/domain_matcher.h"
#include "dataplane/proto/ip_addr.h"

namespace traboule::saas {

using nlohmann::json;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SaasError(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json read_json(const std::string& path) {
  const std::string text = read_text(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw SaasError(path + ": not JSON: " + e.what());
  }
}

[[noreturn]] void fail(const std::string& path, const std::string& where, const std::string& why,
                       const std::string& value) {
  throw SaasError(path + ": " + where + ": " + why + ": \"" + value + "\"");
}

std::string prefix_text(const std::string& path, const std::string& where,
                        const std::string& value) {
  auto p = dp::IpPrefix::parse(value);
  if (!p) fail(path, where, "not a CIDR prefix", value);
  return p->str();
}

std::string domain_text(const std::string& path, const std::string& where, const std::string& value,
                        bool* widened) {
  const std::string d = normalise_domain(value, widened);
  if (d.empty()) fail(path, where, "not a domain pattern", value);
  const std::string why = dp::DomainMatcher::check_pattern(d);
  if (!why.empty()) fail(path, where, "not a domain pattern (" + why + ")", value);
  return d;
}

const json& member(const std::string& path, const json& obj, const std::string& ptr,
                   const char* key, json::value_t type) {
  auto it = obj.find(key);
  if (it == obj.end()) throw SaasError(path + ": " + ptr + "/" + key + ": missing");
  if (it->type() != type && !(type == json::value_t::number_unsigned && it->is_number_integer()))
    throw SaasError(path + ": " + ptr + "/" + key + ": wrong type: " + it->dump());
  return *it;
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

std::string normalise_domain(const std::string& url, bool* widened) {
  std::string d = url;
  std::transform(d.begin(), d.end(), d.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!d.empty() && d.back() == '.') d.pop_back();
  // The last label holding a placeholder or a partial wildcard ("<tenant>-my", "*-admin"):
  // everything up to it becomes "*." (the pattern can only say "any subdomain").
  size_t cut = std::string::npos;
  size_t start = 0;
  while (start <= d.size()) {
    size_t dot = d.find('.', start);
    const std::string label = d.substr(start, dot == std::string::npos ? dot : dot - start);
    const bool placeholder = label.find('<') != std::string::npos ||
                             label.find('>') != std::string::npos ||
                             (label.find('*') != std::string::npos && label != "*");
    if (placeholder || (label == "*" && start != 0)) cut = dot;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cut == std::string::npos) return d;
  if (widened) *widened = true;
  return "*" + d.substr(cut);
}

VendorList read_m365(const std::string& path) {
  const json doc = read_json(path);
  if (!doc.is_array()) throw SaasError(path + ": expected the endpoints array at the top level");
  static const std::map<std::string, std::string> kAreaApp = {{"Exchange", "outlook"},
                                                              {"SharePoint", "sharepoint"},
                                                              {"Skype", "teams"},
                                                              {"Common", "microsoft365"}};
  VendorList v;
  v.vendor = "microsoft365";
  v.source.url = "https://endpoints.office.com/endpoints/worldwide";
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::string ptr = "/" + std::to_string(i);
    const json& e = doc[i];
    if (!e.is_object()) throw SaasError(path + ": " + ptr + ": not an object");
    Endpoint ep;
    ep.id = member(path, e, ptr, "id", json::value_t::number_unsigned).get<int>();
    const std::string area =
        member(path, e, ptr, "serviceArea", json::value_t::string).get<std::string>();
    auto app = kAreaApp.find(area);
    if (app == kAreaApp.end()) fail(path, ptr + "/serviceArea", "unknown service area", area);
    ep.app = app->second;
    std::string cat = member(path, e, ptr, "category", json::value_t::string).get<std::string>();
    if (cat != "Optimize" && cat != "Allow" && cat != "Default")
      fail(path, ptr + "/category", "not Optimize, Allow or Default", cat);
    std::transform(cat.begin(), cat.end(), cat.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    ep.category = cat;
    if (auto it = e.find("urls"); it != e.end()) {
      if (!it->is_array()) throw SaasError(path + ": " + ptr + "/urls: not an array");
      for (size_t k = 0; k < it->size(); ++k) {
        const std::string where = ptr + "/urls/" + std::to_string(k);
        if (!(*it)[k].is_string()) throw SaasError(path + ": " + where + ": not a string");
        bool widened = false;
        ep.domains.push_back(domain_text(path, where, (*it)[k].get<std::string>(), &widened));
        v.widened += widened;
      }
    }
    if (auto it = e.find("ips"); it != e.end()) {
      if (!it->is_array()) throw SaasError(path + ": " + ptr + "/ips: not an array");
      for (size_t k = 0; k < it->size(); ++k) {
        const std::string where = ptr + "/ips/" + std::to_string(k);
        if (!(*it)[k].is_string()) throw SaasError(path + ": " + where + ": not a string");
        ep.prefixes.push_back(prefix_text(path, where, (*it)[k].get<std::string>()));
      }
    }
    if (auto it = e.find("tcpPorts"); it != e.end() && it->is_string()) ep.tcp_ports = *it;
    if (auto it = e.find("udpPorts"); it != e.end() && it->is_string()) ep.udp_ports = *it;
    sort_unique(ep.domains);
    sort_unique(ep.prefixes);
    if (!ep.domains.empty() || !ep.prefixes.empty()) v.endpoints.push_back(std::move(ep));
  }
  return v;
}

namespace {

std::vector<dp::IpPrefix> google_prefixes(const std::string& path, std::string* version) {
  const json doc = read_json(path);
  if (!doc.is_object()) throw SaasError(path + ": expected an object with \"prefixes\"");
  const json& list = member(path, doc, "", "prefixes", json::value_t::array);
  if (version) {
    auto tok = doc.find("syncToken");
    auto created = doc.find("creationTime");
    if (tok != doc.end() && tok->is_string()) *version = "syncToken " + tok->get<std::string>();
    if (created != doc.end() && created->is_string())
      *version += (version->empty() ? "" : ", ") + ("creationTime " + created->get<std::string>());
  }
  std::vector<dp::IpPrefix> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string ptr = "/prefixes/" + std::to_string(i);
    const json& e = list[i];
    if (!e.is_object()) throw SaasError(path + ": " + ptr + ": not an object");
    const char* key = e.contains("ipv4Prefix") ? "ipv4Prefix" : "ipv6Prefix";
    const json& val = member(path, e, ptr, key, json::value_t::string);
    const std::string text = val.get<std::string>();
    auto p = dp::IpPrefix::parse(text);
    if (!p || (key[3] == '4') != p->v4)
      fail(path, ptr + "/" + key,
           "not an " + std::string(key[3] == '4' ? "IPv4" : "IPv6") + " CIDR prefix", text);
    out.push_back(*p);
  }
  return out;
}

}  // namespace

VendorList read_google(const std::string& goog_path, const std::string& cloud_path,
                       const std::string& domains_path) {
  VendorList v;
  if (!domains_path.empty()) v = read_plain(domains_path, "google-workspace", "google-workspace");
  v.vendor = "google-workspace";
  v.source.url = "https://www.gstatic.com/ipranges/goog.json";
  std::vector<dp::IpPrefix> goog = google_prefixes(goog_path, &v.source.version);
  if (!cloud_path.empty()) {
    // cloud.json lists ranges of Google Cloud customers: those are not Workspace.
    const std::vector<dp::IpPrefix> cloud = google_prefixes(cloud_path, nullptr);
    std::erase_if(goog, [&](const dp::IpPrefix& g) {
      for (const dp::IpPrefix& c : cloud)
        if (c.len <= g.len && c.contains(g.addr, g.v4)) return true;
      return false;
    });
  }
  Endpoint* ep = nullptr;
  for (Endpoint& e : v.endpoints)
    if (e.app == "google-workspace") ep = &e;
  if (!ep) {
    v.endpoints.push_back(Endpoint{"google-workspace"});
    ep = &v.endpoints.back();
  }
  for (const dp::IpPrefix& p : goog) ep->prefixes.push_back(p.str());
  sort_unique(ep->prefixes);
  return v;
}

VendorList read_plain(const std::string& path, const std::string& vendor,
                      const std::string& default_app) {
  std::istringstream in(read_text(path));
  VendorList v;
  v.vendor = vendor;
  std::map<std::string, Endpoint> by_app;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string item, app, extra;
    if (!(words >> item)) continue;
    words >> app;
    const std::string where = "line " + std::to_string(n);
    if (words >> extra) fail(path, where, "more than an entry and an application", line);
    if (app.empty()) app = default_app;
    for (char c : app)
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
        fail(path, where, "not an application name", app);
    Endpoint& ep = by_app[app];
    ep.app = app;
    const bool looks_ip = item.find('/') != std::string::npos ||
                          item.find(':') != std::string::npos ||
                          item.find_first_not_of("0123456789.") == std::string::npos;
    if (looks_ip) {
      ep.prefixes.push_back(prefix_text(path, where, item));
    } else {
      bool widened = false;
      ep.domains.push_back(domain_text(path, where, item, &widened));
      v.widened += widened;
    }
  }
  for (auto& [app, ep] : by_app) {
    sort_unique(ep.domains);
    sort_unique(ep.prefixes);
    v.endpoints.push_back(std::move(ep));
  }
  return v;
}

json to_json(const VendorList& v) {
  json j;
  j["format"] = kFormat;
  j["vendor"] = v.vendor;
  json src = {{"url", v.source.url}, {"retrieved", v.source.retrieved}, {"how", v.source.how}};
  if (!v.source.version.empty()) src["version"] = v.source.version;
  j["source"] = src;
  json eps = json::array();
  for (const Endpoint& e : v.endpoints) {
    json o = {{"app", e.app}, {"domains", e.domains}, {"prefixes", e.prefixes}};
    if (!e.category.empty()) o["category"] = e.category;
    if (e.id) o["id"] = e.id;
    if (!e.tcp_ports.empty()) o["tcp_ports"] = e.tcp_ports;
    if (!e.udp_ports.empty()) o["udp_ports"] = e.udp_ports;
    eps.push_back(o);
  }
  j["endpoints"] = eps;
  return j;
}

VendorList read_normalised(const std::string& path) {
  const json doc = read_json(path);
  if (!doc.is_object()) throw SaasError(path + ": expected an object");
  const std::string format = member(path, doc, "", "format", json::value_t::string);
  if (format != kFormat) fail(path, "/format", "unknown format", format);
  VendorList v;
  v.vendor = member(path, doc, "", "vendor", json::value_t::string).get<std::string>();
  const json& src = member(path, doc, "", "source", json::value_t::object);
  v.source.url = member(path, src, "/source", "url", json::value_t::string).get<std::string>();
  v.source.retrieved =
      member(path, src, "/source", "retrieved", json::value_t::string).get<std::string>();
  v.source.how = member(path, src, "/source", "how", json::value_t::string).get<std::string>();
  if (v.source.url.empty()) fail(path, "/source/url", "empty", "");
  const std::string& d = v.source.retrieved;
  const bool date_ok =
      d.size() == 10 && d[4] == '-' && d[7] == '-' && std::all_of(d.begin(), d.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '-';
      });
  if (!date_ok) fail(path, "/source/retrieved", "not a YYYY-MM-DD date", d);
  const json& eps = member(path, doc, "", "endpoints", json::value_t::array);
  for (size_t i = 0; i < eps.size(); ++i) {
    const std::string ptr = "/endpoints/" + std::to_string(i);
    const json& e = eps[i];
    if (!e.is_object()) throw SaasError(path + ": " + ptr + ": not an object");
    Endpoint ep;
    ep.app = member(path, e, ptr, "app", json::value_t::string).get<std::string>();
    if (auto it = e.find("category"); it != e.end()) {
      ep.category = it->is_string() ? it->get<std::string>() : "";
      if (ep.category != "optimize" && ep.category != "allow" && ep.category != "default")
        fail(path, ptr + "/category", "not optimize, allow or default", it->dump());
    }
    const json& doms = member(path, e, ptr, "domains", json::value_t::array);
    for (size_t k = 0; k < doms.size(); ++k) {
      const std::string where = ptr + "/domains/" + std::to_string(k);
      if (!doms[k].is_string()) throw SaasError(path + ": " + where + ": not a string");
      const std::string s = doms[k];
      const std::string why = dp::DomainMatcher::check_pattern(s);
      if (!why.empty()) fail(path, where, "not a domain pattern (" + why + ")", s);
      ep.domains.push_back(s);
    }
    const json& pfx = member(path, e, ptr, "prefixes", json::value_t::array);
    for (size_t k = 0; k < pfx.size(); ++k) {
      const std::string where = ptr + "/prefixes/" + std::to_string(k);
      if (!pfx[k].is_string()) throw SaasError(path + ": " + where + ": not a string");
      ep.prefixes.push_back(prefix_text(path, where, pfx[k].get<std::string>()));
    }
    if (auto it = e.find("id"); it != e.end() && it->is_number_integer()) ep.id = *it;
    if (auto it = e.find("tcp_ports"); it != e.end() && it->is_string()) ep.tcp_ports = *it;
    if (auto it = e.find("udp_ports"); it != e.end() && it->is_string()) ep.udp_ports = *it;
    v.endpoints.push_back(std::move(ep));
  }
  return v;
}

}  // namespace traboule::saas

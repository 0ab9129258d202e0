// SPDX-License-Identifier: Apache-2.0
// Applications: the built-in catalogue, and the custom applications a policy defines (by
// domains, prefixes or ports).
#include "controlplane/policy/app_catalog.h"
#include "controlplane/policy/policy_semantic_checker.h"

namespace traboule::cp::detail::semantic {

void Checker::check_applications() {
  add_builtin_apps();
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
    if (auto d = custom_app(c, p, i, *name)) {
      custom_ids_[*name] = d->id;
      built_.snapshot->apps.push_back(*d);
    }
  }
}

// Indexed by id (the data plane looks applications up by the id a flow carries): 0 is the
// unnamed "unknown", then the built-ins, then this policy's custom applications.
void Checker::add_builtin_apps() {
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
}

// Custom application `i`, named `name`; nullopt if anything is wrong (reported).
std::optional<dp::AppDef> Checker::custom_app(const json& c, const std::string& p, size_t i,
                                              const std::string& name) {
  dp::AppDef d;
  d.name = name;
  d.custom = true;
  d.id = static_cast<uint16_t>(first_custom_app_id() + i);
  d.category = c.at("category").get<std::string>();
  bool good = true;
  if (const CategoryInfo* cat = find_category(d.category)) {
    d.category_id = cat->id;
  } else {
    std::vector<std::string> categories;
    for (auto& k : builtin_categories()) categories.emplace_back(k.name);
    err(p + "/category", jstr(d.category), "is not a category" + suggest(d.category, categories));
    good = false;
  }
  const json* doms = find(c, "domains");
  const json* pfx = find(c, "prefixes");
  const json* ports = find(c, "ports");
  if (!doms && !pfx && !ports) {
    err(p, shown(c), "needs domains, prefixes or ports: nothing would recognise it");
    return std::nullopt;
  }
  if (doms) good = app_domains(*doms, p, d) && good;
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
  if (!good) return std::nullopt;
  return d;
}

// Reads the domains into `d`; reports one listed twice or under a wildcard listed before it.
bool Checker::app_domains(const json& doms, const std::string& p, dp::AppDef& d) {
  bool good = true;
  for (size_t k = 0; k < doms.size(); ++k) {
    const std::string& dn = doms[k].get_ref<const std::string&>();
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
  return good;
}

}  // namespace traboule::cp::detail::semantic

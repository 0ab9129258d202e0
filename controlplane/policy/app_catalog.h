// SPDX-License-Identifier: Apache-2.0
// The built-in applications and categories the product knows by name. Ids are part of the
// contract with the data plane and with recognisers (nDPI names are mapped onto these later):
// ids are 1..N without gaps, never reused or renumbered; new entries take N+1. Custom
// applications of a policy take the ids after the built-ins, in their policy order.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace traboule::cp {

struct CategoryInfo {
  uint16_t id;
  std::string_view name;
  std::string_view description;
};

struct AppInfo {
  uint16_t id;
  std::string_view name;      // lowercase-with-dashes
  std::string_view category;  // a CategoryInfo name
  std::string_view suite;     // "" or the app this one is part of: naming the suite matches it too
  std::string_view description;
};

inline constexpr uint16_t kMaxCustomApps = 64;

std::span<const CategoryInfo> builtin_categories();
std::span<const AppInfo> builtin_apps();  // in id order
// The id of a policy's first custom application (builtin_apps().size() + 1).
uint16_t first_custom_app_id();

// nullptr when unknown.
const CategoryInfo* find_category(std::string_view name);
const AppInfo* find_app(std::string_view name);

}  // namespace traboule::cp

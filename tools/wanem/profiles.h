// SPDX-License-Identifier: Apache-2.0
// Named link profiles (fiber, vdsl, adsl, 4g, 5g, satellite): typical one-way delay, jitter,
// loss, rate and modem queue per direction, written in the parameter syntax. Upload is a2b
// (site -> network), download is b2a. Sources and approximations: docs/wanem.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/wanem/params.h"

namespace traboule::wanem {

struct Profile {
  std::string_view name;
  std::string_view summary;
  std::string_view upload;    // a2b
  std::string_view download;  // b2a
};

const std::vector<Profile>& profiles();
const Profile* find_profile(std::string_view name);
std::string profile_names();  // "fiber, vdsl, ..." for error messages

// The parameters of one direction of a profile, from defaults (the link state "up" is kept
// from *p). Returns an error only if the profile's own text is bad (a unit test checks not).
std::optional<std::string> apply_profile(const Profile& profile, Dir dir, DirectionParams* p);

}  // namespace traboule::wanem

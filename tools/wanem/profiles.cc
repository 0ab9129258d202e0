// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/profiles.h"

namespace traboule::wanem {

// Each figure is justified in docs/wanem.md ("Profiles"); keep the two in step.
const std::vector<Profile>& profiles() {
  static const std::vector<Profile> kProfiles = {
      {"fiber", "FTTH (GPON), business offer 500/250 Mbit/s",
       "delay=2ms jitter=200us jitter_dist=normal loss=0.01% rate=250mbit queue=512kb",
       "delay=2ms jitter=200us jitter_dist=normal loss=0.01% rate=500mbit queue=1mb"},
      {"vdsl", "VDSL2 17a, short line (~1 km), fast path",
       "delay=7ms jitter=1ms jitter_dist=normal loss=0.05% rate=8mbit queue=128kb",
       "delay=6ms jitter=1ms jitter_dist=normal loss=0.05% rate=50mbit queue=256kb"},
      {"adsl", "ADSL2+, medium line, interleaved",
       "delay=20ms jitter=2ms jitter_dist=normal loss=0.1% rate=800kbit queue=32kb",
       "delay=18ms jitter=2ms jitter_dist=normal loss=0.1% rate=8mbit queue=64kb"},
      {"4g", "LTE router at a fixed site, average coverage",
       "delay=22ms jitter=6ms jitter_dist=normal loss=0.3% rate=12mbit queue=256kb",
       "delay=18ms jitter=5ms jitter_dist=normal loss=0.2% rate=50mbit queue=512kb"},
      {"5g", "5G NR non-standalone (3.5 GHz) router at a fixed site",
       "delay=12ms jitter=3ms jitter_dist=normal loss=0.1% rate=30mbit queue=256kb",
       "delay=10ms jitter=2ms jitter_dist=normal loss=0.1% rate=200mbit queue=1mb"},
      {"satellite", "GEO Ka-band consumer service (e.g. 50/6 Mbit/s)",
       "delay=290ms jitter=15ms jitter_dist=normal loss=0.3% rate=6mbit queue=256kb",
       "delay=270ms jitter=10ms jitter_dist=normal loss=0.3% rate=50mbit queue=2mb"},
  };
  return kProfiles;
}

const Profile* find_profile(std::string_view name) {
  for (const Profile& p : profiles()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string profile_names() {
  std::string s;
  for (const Profile& p : profiles()) {
    if (!s.empty()) s += ", ";
    s += p.name;
  }
  return s;
}

std::optional<std::string> apply_profile(const Profile& profile, Dir dir, DirectionParams* p) {
  DirectionParams out;
  out.up = p->up;
  std::string_view text = dir == Dir::kA2B ? profile.upload : profile.download;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(start, end - start);
    size_t eq = word.find('=');
    if (eq == std::string_view::npos) {
      return "profile " + std::string(profile.name) + ": bad word " + quote(word);
    }
    if (auto err = set_param(&out, word.substr(0, eq), word.substr(eq + 1))) {
      return "profile " + std::string(profile.name) + ": " + *err;
    }
    start = end + 1;
  }
  *p = out;
  return std::nullopt;
}

}  // namespace traboule::wanem

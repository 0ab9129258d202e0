// SPDX-License-Identifier: Apache-2.0
// Domain name → application, for the policy's domains and the SaaS lists: exact names and
// "*." suffixes, the most specific winning. Built by the control plane, read by the workers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace traboule::dp {

// Patterns: "teams.microsoft.com" matches that name only; "*.teams.microsoft.com" matches any
// name with one or more labels in front of teams.microsoft.com (a.teams.microsoft.com,
// a.b.teams.microsoft.com), not teams.microsoft.com itself — the usual meaning of the
// published SaaS lists, wider than RFC 4592's single label. Case-insensitive; a trailing dot
// is ignored. The most specific pattern wins: an exact name, then the longest wildcard suffix.
struct DomainPattern {
  std::string pattern;
  uint16_t app = 0;
};

class DomainMatcher {
 public:
  DomainMatcher() = default;

  // nullopt and *error ("pattern 3 \"*.x..y\": empty label") on a bad pattern or one pattern
  // given two different applications; the same pattern twice with one application is fine.
  static std::optional<DomainMatcher> build(const std::vector<DomainPattern>& patterns,
                                            std::string* error);
  // Checks one pattern the way build() does: empty on success, else why it is bad.
  static std::string check_pattern(std::string_view pattern);

  // Application of the most specific pattern matching `name`, or 0 (kAppUnknown). Cost grows
  // with the length of the name, not with the number of patterns; no allocation.
  uint16_t match(std::string_view name) const noexcept;

  size_t size() const noexcept { return count_; }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint32_t offset = 0;  // in pool_
    uint16_t len = 0;
    uint16_t app = 0;
    bool wildcard = false;
    bool used = false;
  };
  const Entry* find(uint64_t hash, const char* s, size_t len, bool wildcard) const noexcept;

  std::vector<Entry> table_;  // open addressing, power-of-two size, at most half full
  std::string pool_;          // the lower-case suffixes, back to back
  size_t count_ = 0;
};

}  // namespace traboule::dp

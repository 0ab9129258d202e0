// SPDX-License-Identifier: Apache-2.0
#include "dataplane/model/domain_matcher.h"

#include <algorithm>
#include <cstring>

#include "dataplane/proto/dns.h"
#include "dataplane/proto/host_name.h"

namespace traboule::dp {

namespace {

constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;
constexpr uint64_t kWildcardSalt = 0x5bd1e9955bd1e995ull;

uint64_t step(uint64_t h, char c) {
  return (h ^ static_cast<uint8_t>(c)) * kFnvPrime;
}
// The hash of a suffix, fed from its last character backwards: the lookup gets every suffix's
// hash in one right-to-left pass over the name.
uint64_t suffix_hash(std::string_view s) {
  uint64_t h = kFnvBasis;
  for (size_t i = s.size(); i-- > 0;) h = step(h, s[i]);
  return h;
}
uint64_t slot_hash(uint64_t h, bool wildcard) {
  h ^= wildcard ? kWildcardSalt : 0;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::string DomainMatcher::check_pattern(std::string_view p) {
  if (p.empty()) return "empty pattern";
  if (p.substr(0, 2) == "*.") {
    p.remove_prefix(2);
    if (p.empty() || p == ".") return "\"*.\" with nothing after it";
  }
  if (p.back() == '.') p.remove_suffix(1);
  if (p.empty()) return "empty pattern";
  if (p.size() > kDnsMaxName) return "longer than 253 characters";
  size_t label = 0;
  for (size_t i = 0; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '.') {
      if (label == 0) return "empty label";
      if (label > 63) return "label longer than 63 characters";
      label = 0;
      continue;
    }
    const auto c = static_cast<uint8_t>(p[i]);
    if (c == '*') return "'*' allowed only as the whole first label (\"*.example.org\")";
    if (!host_char(c)) return std::string("character '") + p[i] + "' not allowed in a host name";
    ++label;
  }
  return {};
}

std::optional<DomainMatcher> DomainMatcher::build(const std::vector<DomainPattern>& patterns,
                                                  std::string* error) {
  DomainMatcher dm;
  size_t size = 16;
  while (size < patterns.size() * 2 + 2) size <<= 1;
  dm.table_.resize(size);
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string why = check_pattern(patterns[i].pattern);
    if (!why.empty()) {
      if (error)
        *error = "pattern " + std::to_string(i) + " \"" + patterns[i].pattern + "\": " + why;
      return std::nullopt;
    }
    std::string_view p = patterns[i].pattern;
    if (p.back() == '.') p.remove_suffix(1);
    const bool wildcard = p.substr(0, 2) == "*.";
    if (wildcard) p.remove_prefix(2);
    std::string low(p);
    for (char& c : low) c = ascii_lower(static_cast<uint8_t>(c));
    const uint64_t h = suffix_hash(low);
    if (const Entry* e = dm.find(h, low.data(), low.size(), wildcard)) {
      if (e->app != patterns[i].app) {
        if (error)
          *error = "pattern " + std::to_string(i) + " \"" + patterns[i].pattern +
                   "\": already given to application " + std::to_string(e->app) + ", now to " +
                   std::to_string(patterns[i].app);
        return std::nullopt;
      }
      continue;
    }
    const uint64_t sh = slot_hash(h, wildcard);
    size_t k = sh & (size - 1);
    while (dm.table_[k].used) k = (k + 1) & (size - 1);
    dm.table_[k] = Entry{h,
                         static_cast<uint32_t>(dm.pool_.size()),
                         static_cast<uint16_t>(low.size()),
                         patterns[i].app,
                         wildcard,
                         true};
    dm.pool_ += low;
    ++dm.count_;
  }
  return dm;
}

const DomainMatcher::Entry* DomainMatcher::find(uint64_t hash, const char* s, size_t len,
                                                bool wildcard) const noexcept {
  if (table_.empty()) return nullptr;
  const size_t mask = table_.size() - 1;
  for (size_t k = slot_hash(hash, wildcard) & mask;; k = (k + 1) & mask) {
    const Entry& e = table_[k];
    if (!e.used) return nullptr;
    if (e.hash == hash && e.wildcard == wildcard && e.len == len &&
        std::memcmp(pool_.data() + e.offset, s, len) == 0)
      return &e;
  }
}

uint16_t DomainMatcher::match(std::string_view name) const noexcept {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > kDnsMaxName || count_ == 0) return 0;
  char low[kDnsMaxName];
  for (size_t i = 0; i < name.size(); ++i) low[i] = ascii_lower(static_cast<uint8_t>(name[i]));
  // Suffix starts (at a label boundary) and their hashes, shortest suffix first.
  uint32_t starts[kDnsMaxName / 2 + 2];
  uint64_t hashes[kDnsMaxName / 2 + 2];
  unsigned n = 0;
  uint64_t h = kFnvBasis;
  for (size_t i = name.size(); i-- > 0;) {
    h = step(h, low[i]);
    if (i == 0 || low[i - 1] == '.') {
      starts[n] = static_cast<uint32_t>(i);
      hashes[n++] = h;
    }
  }
  if (const Entry* e = find(hashes[n - 1], low, name.size(), false)) return e->app;
  for (unsigned k = n - 1; k-- > 0;) {
    if (const Entry* e = find(hashes[k], low + starts[k], name.size() - starts[k], true))
      return e->app;
  }
  return 0;
}

}  // namespace traboule::dp

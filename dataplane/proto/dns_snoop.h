// SPDX-License-Identifier: Apache-2.0
// First-packet SaaS recognition from DNS: a parser for DNS responses crossing the box, a
// per-worker address → (application, expiry) cache filled from them, and the domain matcher
// that maps names to applications. A SYN to an address a SaaS name resolved to is recognised
// before any payload is seen. Parsing and the cache never allocate; the matcher only when built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

// ---- DNS response parsing (RFC 1035 wire format) ----

inline constexpr size_t kDnsMaxName = 253;      // text form, without the trailing dot
inline constexpr unsigned kDnsMaxAnswers = 32;  // addresses kept per response; more are counted
inline constexpr unsigned kDnsMaxChain = 8;     // names in a CNAME chain (the queried one included)

enum class DnsStatus : uint8_t {
  kOk,           // parsed; answers[] holds the addresses of the queried name (may be none)
  kTruncated,    // the message ends inside the header, a name or a record (counts lying)
  kNotResponse,  // QR bit clear, opcode not QUERY, or a response code other than NOERROR
  kBadQuestion,  // question count other than one, or a question class other than IN
  kBadName,      // label type 01/10 (a label over 63), or a queried name not a host name
  kNameTooLong,  // more than 255 bytes on the wire
  kBadPointer,   // compression pointer past the end, not strictly backwards (a loop), or
                 // more jumps than a well-formed name needs
  kBadRdata,     // an A record not 4 bytes, AAAA not 16, CNAME data not exactly one name
  kCount
};
const char* dns_status_name(DnsStatus s) noexcept;

struct DnsAddress {
  IpAddr addr;
  uint32_t ttl_s = 0;  // as sent (a value with the top bit set is read as 0, RFC 2181 §8)
};

struct DnsResponse {
  char qname[kDnsMaxName + 1] = {};  // lower case, no trailing dot, NUL-terminated
  uint8_t qname_len = 0;
  uint16_t qtype = 0;
  uint8_t n_answers = 0;
  uint16_t answers_dropped = 0;  // addresses of the queried name beyond kDnsMaxAnswers
  uint8_t chain_len = 1;         // names followed (1: no CNAME)
  DnsAddress answers[kDnsMaxAnswers];

  std::string_view name() const noexcept { return {qname, qname_len}; }
};

// Parses a DNS message (the UDP payload, or a TCP message without its 2-byte length) as a
// response: the queried name, and the A/AAAA answers whose owner is that name or a name reached
// from it through CNAME records of the answer section (in any order). Records of other names,
// other classes and other types are skipped. Authority and additional sections are not read.
DnsStatus parse_dns_response(const uint8_t* msg, size_t len, DnsResponse* out) noexcept;

// ---- Address → application cache, one per worker ----

struct NameCacheCounters {
  uint64_t inserts = 0;    // new entries (free or expired slot)
  uint64_t updates = 0;    // an address already present, refreshed
  uint64_t evictions = 0;  // a live entry replaced (set full)
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t expired = 0;        // lookups that found the address but past its expiry
  uint64_t name_too_long = 0;  // inserts refused: name longer than kNameMax
  uint64_t ttl_clamped = 0;    // TTLs raised to kMinTtlS or lowered to kMaxTtlS
};

class NameCache {
 public:
  static constexpr size_t kNameMax = 127;      // longer names are refused (counted)
  static constexpr uint32_t kMinTtlS = 30;     // short TTLs still cover the connect
  static constexpr uint32_t kMaxTtlS = 86400;  // a stale answer cannot pin an address forever
  static constexpr unsigned kWays = 8;         // set-associative; LRU inside a set

  // capacity is rounded up to a power-of-two number of sets of kWays entries (at least one).
  explicit NameCache(uint32_t capacity);

  struct Hit {
    uint16_t app;
    uint32_t expiry_s;
    std::string_view name;  // valid until the next insert
  };

  // Records that `name` (resolved now, TTL ttl_s) maps to `addr` and application `app`. The
  // latest answer wins for an address shared by several names. False when refused.
  bool insert(const IpAddr& addr, std::string_view name, uint16_t app, uint32_t ttl_s,
              uint32_t now_s) noexcept;
  // The live entry for addr (and marks it recently used), or nullopt (absent or expired).
  std::optional<Hit> lookup(const IpAddr& addr, uint32_t now_s) noexcept;

  uint32_t capacity() const noexcept { return static_cast<uint32_t>(slots_.size()); }
  uint32_t occupied() const noexcept { return occupied_; }  // includes expired, not yet reused
  const NameCacheCounters& counters() const noexcept { return counters_; }

 private:
  struct Slot {
    IpAddr addr;
    uint32_t expiry_s = 0;
    uint32_t used = 0;  // LRU stamp (a per-cache tick); 0: free
    uint16_t app = 0;
    uint8_t name_len = 0;
    char name[kNameMax + 1] = {};
  };
  Slot* set_of(const IpAddr& addr) noexcept;

  std::vector<Slot> slots_;
  uint32_t set_mask_ = 0;
  uint32_t tick_ = 0;
  uint32_t occupied_ = 0;
  NameCacheCounters counters_;
};

// ---- Domain → application ----

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

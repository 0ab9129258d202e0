// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proto/dns_snoop.h"

#include <algorithm>
#include <cstring>

#include "dataplane/model/counter.h"
#include "dataplane/proto/bytes.h"

namespace traboule::dp {

const char* dns_status_name(DnsStatus s) noexcept {
  switch (s) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kTruncated:
      return "truncated";
    case DnsStatus::kNotResponse:
      return "not_response";
    case DnsStatus::kBadQuestion:
      return "bad_question";
    case DnsStatus::kBadName:
      return "bad_name";
    case DnsStatus::kNameTooLong:
      return "name_too_long";
    case DnsStatus::kBadPointer:
      return "bad_pointer";
    case DnsStatus::kBadRdata:
      return "bad_rdata";
    case DnsStatus::kCount:
      break;
  }
  return "?";
}

namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kClassIn = 1;
constexpr size_t kHeaderLen = 12;
constexpr size_t kMaxWireName = 255;
// Each jump must land strictly before the previous segment, so jumps alone cannot loop; the
// cap bounds the work of a pointer-to-pointer chain. Real encoders need one or two.
constexpr unsigned kMaxJumps = 16;
// A, AAAA and CNAME records of the answer section kept for the chain walk.
constexpr unsigned kMaxRecords = 64;

bool host_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
char lower(uint8_t c) {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

// Walks the name at `off`. *end: the offset just after the name where it is written (after
// its first pointer, if any). With `text`, also writes the lower-case dotted form (the
// labels must then be host-name characters).
DnsStatus walk_name(const uint8_t* m, size_t len, size_t off, size_t* end, char* text,
                    uint8_t* text_len) {
  size_t pos = off, seg_start = off, wire = 0, out = 0;
  unsigned jumps = 0;
  bool jumped = false;
  for (;;) {
    if (pos >= len) return DnsStatus::kTruncated;
    const uint8_t b = m[pos];
    if (b == 0) {
      if (!jumped) *end = pos + 1;
      if (text_len) *text_len = static_cast<uint8_t>(out);
      if (text) text[out] = '\0';
      return DnsStatus::kOk;
    }
    if ((b & 0xc0) == 0xc0) {
      if (pos + 1 >= len) return DnsStatus::kTruncated;
      const size_t target = (size_t{b & 0x3fu} << 8) | m[pos + 1];
      if (target >= seg_start || target >= len || ++jumps > kMaxJumps)
        return DnsStatus::kBadPointer;
      if (!jumped) *end = pos + 2;
      jumped = true;
      seg_start = pos = target;
      continue;
    }
    if ((b & 0xc0) != 0) return DnsStatus::kBadName;  // 0x40/0x80: not a plain label
    if (pos + 1 + b > len) return DnsStatus::kTruncated;
    wire += 1u + b;
    if (wire + 1 > kMaxWireName) return DnsStatus::kNameTooLong;
    if (text) {
      if (out != 0) text[out++] = '.';
      for (size_t i = 0; i < b; ++i) {
        const uint8_t c = m[pos + 1 + i];
        if (!host_char(c)) return DnsStatus::kBadName;
        text[out++] = lower(c);
      }
    } else {
      out += (out != 0) + b;
    }
    pos += 1u + b;
  }
}

// Label by label over a name already walked once (so well-formed): the next label, or false at
// the end.
struct LabelCursor {
  const uint8_t* m;
  size_t len;
  size_t pos;
  unsigned steps = 0;
  bool next(const uint8_t** label, uint8_t* label_len) {
    while (pos < len && steps++ < kMaxJumps + 128) {
      const uint8_t b = m[pos];
      if (b == 0) return false;
      if ((b & 0xc0) == 0xc0) {
        if (pos + 1 >= len) return false;
        pos = (size_t{b & 0x3fu} << 8) | m[pos + 1];
        continue;
      }
      if (pos + 1 + b > len) return false;
      *label = m + pos + 1;
      *label_len = b;
      pos += 1u + b;
      return true;
    }
    return false;
  }
};

bool names_equal(const uint8_t* m, size_t len, size_t a, size_t b) {
  if (a == b) return true;
  LabelCursor ca{m, len, a}, cb{m, len, b};
  for (;;) {
    const uint8_t *la = nullptr, *lb = nullptr;
    uint8_t na = 0, nb = 0;
    const bool ha = ca.next(&la, &na), hb = cb.next(&lb, &nb);
    if (ha != hb) return false;
    if (!ha) return true;
    if (na != nb) return false;
    for (uint8_t i = 0; i < na; ++i)
      if (lower(la[i]) != lower(lb[i])) return false;
  }
}

struct Record {
  size_t owner;
  size_t rdata;
  uint32_t ttl;
  uint16_t type;
};

}  // namespace

DnsStatus parse_dns_response(const uint8_t* m, size_t len, DnsResponse* out) noexcept {
  out->qname_len = 0;
  out->qname[0] = '\0';
  out->n_answers = 0;
  out->answers_dropped = 0;
  out->chain_len = 1;
  if (len < kHeaderLen) return DnsStatus::kTruncated;
  const uint16_t flags = get16(m + 2);
  if ((flags & 0x8000) == 0 || ((flags >> 11) & 0xf) != 0 || (flags & 0xf) != 0)
    return DnsStatus::kNotResponse;
  if (get16(m + 4) != 1) return DnsStatus::kBadQuestion;
  const unsigned ancount = get16(m + 6);

  size_t pos = kHeaderLen;
  DnsStatus st = walk_name(m, len, kHeaderLen, &pos, out->qname, &out->qname_len);
  if (st != DnsStatus::kOk) return st;
  if (pos + 4 > len) return DnsStatus::kTruncated;
  out->qtype = get16(m + pos);
  if (get16(m + pos + 2) != kClassIn) return DnsStatus::kBadQuestion;
  pos += 4;

  Record recs[kMaxRecords];
  unsigned n_recs = 0, recs_dropped = 0;
  for (unsigned i = 0; i < ancount; ++i) {
    const size_t owner = pos;
    st = walk_name(m, len, owner, &pos, nullptr, nullptr);
    if (st != DnsStatus::kOk) return st;
    if (pos + 10 > len) return DnsStatus::kTruncated;
    const uint16_t type = get16(m + pos), cls = get16(m + pos + 2);
    uint32_t ttl = get32(m + pos + 4);
    const size_t rdlen = get16(m + pos + 8);
    const size_t rdata = pos + 10;
    if (rdata + rdlen > len) return DnsStatus::kTruncated;
    pos = rdata + rdlen;
    if (cls != kClassIn) continue;
    if (type == kTypeA && rdlen != 4) return DnsStatus::kBadRdata;
    if (type == kTypeAaaa && rdlen != 16) return DnsStatus::kBadRdata;
    if (type == kTypeCname) {
      size_t cname_end = 0;
      st = walk_name(m, rdata + rdlen, rdata, &cname_end, nullptr, nullptr);
      if (st == DnsStatus::kTruncated || (st == DnsStatus::kOk && cname_end != rdata + rdlen))
        return DnsStatus::kBadRdata;
      if (st != DnsStatus::kOk) return st;
    } else if (type != kTypeA && type != kTypeAaaa) {
      continue;
    }
    if (ttl > 0x7fffffffu) ttl = 0;  // RFC 2181 §8: the top bit set means zero
    if (n_recs == kMaxRecords) {
      ++recs_dropped;
      continue;
    }
    recs[n_recs++] = Record{owner, rdata, ttl, type};
  }

  // Names that lead to the queried one: grown from the CNAMEs until nothing changes.
  size_t chain[kDnsMaxChain] = {kHeaderLen};
  unsigned n_chain = 1;
  bool grew = true;
  while (grew && n_chain < kDnsMaxChain) {
    grew = false;
    for (unsigned r = 0; r < n_recs && n_chain < kDnsMaxChain; ++r) {
      if (recs[r].type != kTypeCname) continue;
      bool from = false, known = false;
      for (unsigned c = 0; c < n_chain; ++c) {
        from = from || names_equal(m, len, recs[r].owner, chain[c]);
        known = known || names_equal(m, len, recs[r].rdata, chain[c]);
      }
      if (from && !known) {
        chain[n_chain++] = recs[r].rdata;
        grew = true;
      }
    }
  }
  out->chain_len = static_cast<uint8_t>(n_chain);

  for (unsigned r = 0; r < n_recs; ++r) {
    if (recs[r].type == kTypeCname) continue;
    bool ours = false;
    for (unsigned c = 0; c < n_chain && !ours; ++c)
      ours = names_equal(m, len, recs[r].owner, chain[c]);
    if (!ours) continue;
    if (out->n_answers == kDnsMaxAnswers) {
      ++out->answers_dropped;
      continue;
    }
    DnsAddress& a = out->answers[out->n_answers++];
    a.addr = recs[r].type == kTypeA ? IpAddr::v4_bytes(m + recs[r].rdata)
                                    : IpAddr::v6_bytes(m + recs[r].rdata);
    a.ttl_s = recs[r].ttl;
  }
  out->answers_dropped = static_cast<uint16_t>(out->answers_dropped + recs_dropped);
  return DnsStatus::kOk;
}

// ---- NameCache ----

NameCache::NameCache(uint32_t capacity) {
  uint32_t sets = 1;
  while (uint64_t{sets} * kWays < capacity && sets < (1u << 24)) sets <<= 1;
  slots_.resize(size_t{sets} * kWays);
  set_mask_ = sets - 1;
}

NameCache::Slot* NameCache::set_of(const IpAddr& addr) noexcept {
  uint64_t h = (addr.word(0) * 0x9e3779b97f4a7c15ull) ^ addr.word(1);
  h *= 0xc2b2ae3d27d4eb4full;
  h ^= h >> 29;
  return &slots_[size_t(h & set_mask_) * kWays];
}

bool NameCache::insert(const IpAddr& addr, std::string_view name, uint16_t app, uint32_t ttl_s,
                       uint32_t now_s) noexcept {
  if (name.size() > kNameMax) {
    bump(counters_.name_too_long);
    return false;
  }
  const uint32_t ttl = std::clamp(ttl_s, kMinTtlS, kMaxTtlS);
  if (ttl != ttl_s) bump(counters_.ttl_clamped);
  Slot* set = set_of(addr);
  Slot* slot = nullptr;
  Slot* free_slot = nullptr;
  Slot* expired = nullptr;
  Slot* oldest = set;
  for (unsigned w = 0; w < kWays; ++w) {
    Slot& s = set[w];
    if (s.used == 0) {
      if (!free_slot) free_slot = &s;
      continue;
    }
    if (s.addr == addr) {
      slot = &s;
      break;
    }
    if (!expired && s.expiry_s <= now_s) expired = &s;
    if (s.used < oldest->used || oldest->used == 0) oldest = &s;
  }
  if (slot) {
    bump(counters_.updates);
  } else if (free_slot) {
    slot = free_slot;
    ++occupied_;
    bump(counters_.inserts);
  } else if (expired) {
    slot = expired;
    bump(counters_.inserts);
  } else {
    slot = oldest;
    bump(counters_.evictions);
  }
  slot->addr = addr;
  slot->app = app;
  slot->expiry_s = now_s + ttl;
  slot->name_len = static_cast<uint8_t>(name.size());
  std::memcpy(slot->name, name.data(), name.size());
  slot->name[name.size()] = '\0';
  if (++tick_ == 0) tick_ = 1;
  slot->used = tick_;
  return true;
}

std::optional<NameCache::Hit> NameCache::lookup(const IpAddr& addr, uint32_t now_s) noexcept {
  Slot* set = set_of(addr);
  for (unsigned w = 0; w < kWays; ++w) {
    Slot& s = set[w];
    if (s.used == 0 || !(s.addr == addr)) continue;
    if (s.expiry_s <= now_s) {
      s.used = 0;
      --occupied_;
      bump(counters_.expired);
      return std::nullopt;
    }
    if (++tick_ == 0) tick_ = 1;
    s.used = tick_;
    bump(counters_.hits);
    return Hit{s.app, s.expiry_s, std::string_view(s.name, s.name_len)};
  }
  bump(counters_.misses);
  return std::nullopt;
}

// ---- DomainMatcher ----

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
    for (char& c : low) c = lower(static_cast<uint8_t>(c));
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
  for (size_t i = 0; i < name.size(); ++i) low[i] = lower(static_cast<uint8_t>(name[i]));
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

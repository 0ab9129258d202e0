// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proto/dns.h"

#include <algorithm>
#include <cstring>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/host_name.h"

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
        text[out++] = ascii_lower(c);
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
      if (ascii_lower(la[i]) != ascii_lower(lb[i])) return false;
  }
}

struct Record {
  size_t owner;
  size_t rdata;
  uint32_t ttl;
  uint16_t type;
};

struct Records {
  Record r[kMaxRecords];
  unsigned n = 0;
  unsigned dropped = 0;  // beyond kMaxRecords
};

// The header and the one question: the name into `out`, `*pos` after the question.
DnsStatus read_question(const uint8_t* m, size_t len, DnsResponse* out, unsigned* ancount,
                        size_t* pos) noexcept {
  if (len < kHeaderLen) return DnsStatus::kTruncated;
  const uint16_t flags = get16(m + 2);
  if ((flags & 0x8000) == 0 || ((flags >> 11) & 0xf) != 0 || (flags & 0xf) != 0)
    return DnsStatus::kNotResponse;
  if (get16(m + 4) != 1) return DnsStatus::kBadQuestion;
  *ancount = get16(m + 6);
  *pos = kHeaderLen;
  const DnsStatus st = walk_name(m, len, kHeaderLen, pos, out->qname, &out->qname_len);
  if (st != DnsStatus::kOk) return st;
  if (*pos + 4 > len) return DnsStatus::kTruncated;
  out->qtype = get16(m + *pos);
  if (get16(m + *pos + 2) != kClassIn) return DnsStatus::kBadQuestion;
  *pos += 4;
  return DnsStatus::kOk;
}

// The answer section: every record checked, the IN A/AAAA/CNAME ones kept (up to kMaxRecords).
DnsStatus read_answers(const uint8_t* m, size_t len, unsigned ancount, size_t pos,
                       Records* recs) noexcept {
  for (unsigned i = 0; i < ancount; ++i) {
    const size_t owner = pos;
    DnsStatus st = walk_name(m, len, owner, &pos, nullptr, nullptr);
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
    if (recs->n == kMaxRecords) {
      ++recs->dropped;
      continue;
    }
    recs->r[recs->n++] = Record{owner, rdata, ttl, type};
  }
  return DnsStatus::kOk;
}

// Names that lead to the queried one (at kHeaderLen): grown from the CNAMEs until nothing
// changes. Returns how many, in chain[].
unsigned cname_chain(const uint8_t* m, size_t len, const Records& recs,
                     size_t (&chain)[kDnsMaxChain]) noexcept {
  chain[0] = kHeaderLen;
  unsigned n_chain = 1;
  bool grew = true;
  while (grew && n_chain < kDnsMaxChain) {
    grew = false;
    for (unsigned r = 0; r < recs.n && n_chain < kDnsMaxChain; ++r) {
      if (recs.r[r].type != kTypeCname) continue;
      bool from = false, known = false;
      for (unsigned c = 0; c < n_chain; ++c) {
        from = from || names_equal(m, len, recs.r[r].owner, chain[c]);
        known = known || names_equal(m, len, recs.r[r].rdata, chain[c]);
      }
      if (from && !known) {
        chain[n_chain++] = recs.r[r].rdata;
        grew = true;
      }
    }
  }
  return n_chain;
}

}  // namespace

DnsStatus parse_dns_response(const uint8_t* m, size_t len, DnsResponse* out) noexcept {
  out->qname_len = 0;
  out->qname[0] = '\0';
  out->n_answers = 0;
  out->answers_dropped = 0;
  out->chain_len = 1;
  unsigned ancount = 0;
  size_t pos = 0;
  DnsStatus st = read_question(m, len, out, &ancount, &pos);
  if (st != DnsStatus::kOk) return st;
  Records recs;
  st = read_answers(m, len, ancount, pos, &recs);
  if (st != DnsStatus::kOk) return st;
  size_t chain[kDnsMaxChain] = {kHeaderLen};
  const unsigned n_chain = cname_chain(m, len, recs, chain);
  out->chain_len = static_cast<uint8_t>(n_chain);

  // The addresses of the names in the chain.
  for (unsigned r = 0; r < recs.n; ++r) {
    const Record& rec = recs.r[r];
    if (rec.type == kTypeCname) continue;
    bool ours = false;
    for (unsigned c = 0; c < n_chain && !ours; ++c) ours = names_equal(m, len, rec.owner, chain[c]);
    if (!ours) continue;
    if (out->n_answers == kDnsMaxAnswers) {
      ++out->answers_dropped;
      continue;
    }
    DnsAddress& a = out->answers[out->n_answers++];
    a.addr = rec.type == kTypeA ? IpAddr::v4_bytes(m + rec.rdata) : IpAddr::v6_bytes(m + rec.rdata);
    a.ttl_s = rec.ttl;
  }
  out->answers_dropped = static_cast<uint16_t>(out->answers_dropped + recs.dropped);
  return DnsStatus::kOk;
}

}  // namespace traboule::dp

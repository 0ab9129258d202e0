// SPDX-License-Identifier: Apache-2.0
// DNS responses crossing the box (RFC 1035 wire format): the queried name and the A/AAAA
// answers reached from it, for first-packet SaaS recognition. Never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

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

}  // namespace traboule::dp

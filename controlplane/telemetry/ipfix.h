// SPDX-License-Identifier: Apache-2.0
// IPFIX (RFC 7011) messages for flow records (docs/operations.md, "IPFIX"): one template per
// address family, one data record per flow direction, the application's name in the record.
// Pure: bytes in, bytes out, no sockets, no DPDK (the exporter sends what this builds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dataplane/proto/ip_addr.h"

namespace traboule::cp::ipfix {

inline constexpr uint16_t kVersion = 10;
inline constexpr uint16_t kTemplateSetId = 2;
inline constexpr uint16_t kTemplateV4 = 256;  // flows over IPv4
inline constexpr uint16_t kTemplateV6 = 257;  // flows over IPv6
inline constexpr uint16_t kVarLen = 65535;
// RFC 6759 Classification Engine ID 13, PANA-L7: the selector is our own application id.
inline constexpr uint8_t kEnginePanaL7 = 13;
// A 1500-byte path less IP (IPv6: 40) and UDP headers, with room to spare.
inline constexpr size_t kDefaultMaxMessage = 1400;

// flowEndReason (IE 136) values, RFC 5102 §5.11.3.
enum class EndReason : uint8_t {
  kIdleTimeout = 1,
  kActiveTimeout = 2,
  kEndOfFlow = 3,  // TCP FIN both ways or RST
  kForcedEnd = 4,  // the exporter stops
};

// One flow direction's record: the counters are deltas since this direction's last record.
struct Record {
  dp::IpAddr src;
  dp::IpAddr dst;  // same family as src
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t proto = 0;
  uint8_t tos = 0;       // ipClassOfService: DSCP << 2 as the flow's first packet had it
  uint8_t post_tos = 0;  // postIpClassOfService: as the box sends it (QoS class marking)
  EndReason reason = EndReason::kIdleTimeout;
  uint64_t octets = 0;  // IP octets (header and payload)
  uint64_t packets = 0;
  uint64_t start_ms = 0;  // flowStartMilliseconds: the flow's creation
  uint64_t end_ms = 0;    // flowEndMilliseconds: its last packet (either direction)
  uint32_t ingress = 0;   // ingressInterface / egressInterface: the ports' ifIndex
  uint32_t egress = 0;    // (docs/snmp.md: 1000 + DPDK port id; 0 unknown)
  uint16_t app_id = 0;    // our application id (0: unknown)
  std::string app_name;   // applicationName; cut to 255 bytes
};

// An Information Element in a template: its id and length on the wire.
struct Field {
  uint16_t id;
  uint16_t length;
};
// The template a record of this family uses (fields in wire order).
std::span<const Field> template_fields(bool v6);

// Builds messages for one Observation Domain. Sequence numbers count data records, as RFC 7011
// §3.1 says, across every message this encoder built.
class Encoder {
 public:
  explicit Encoder(uint32_t domain_id, size_t max_message = kDefaultMaxMessage);

  // The records split over as many messages as needed, each at most max_message bytes; the
  // first message starts with the template set when `templates` is true (and a call with no
  // record and `templates` yields a message of templates alone). export_s: seconds since the
  // epoch, for every message's header.
  std::vector<std::string> encode(std::span<const Record> records, uint32_t export_s,
                                  bool templates);
  uint32_t sequence() const noexcept { return sequence_; }

 private:
  uint32_t domain_;
  size_t max_;
  uint32_t sequence_ = 0;
};

// The bytes of one record's data (what follows the set header), for tests and size checks.
std::string encode_record(const Record& r);
std::string encode_template_set();

}  // namespace traboule::cp::ipfix

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/telemetry/ipfix.h"

#include <algorithm>
#include <array>

namespace traboule::cp::ipfix {
namespace {

// IANA IPFIX Information Elements (https://www.iana.org/assignments/ipfix).
enum Ie : uint16_t {
  kOctetDeltaCount = 1,
  kPacketDeltaCount = 2,
  kProtocolIdentifier = 4,
  kIpClassOfService = 5,
  kSourceTransportPort = 7,
  kSourceIPv4Address = 8,
  kIngressInterface = 10,
  kDestinationTransportPort = 11,
  kDestinationIPv4Address = 12,
  kEgressInterface = 14,
  kSourceIPv6Address = 27,
  kDestinationIPv6Address = 28,
  kApplicationId = 95,
  kApplicationName = 96,
  kPostIpClassOfService = 98,
  kFlowEndReason = 136,
  kFlowStartMilliseconds = 152,
  kFlowEndMilliseconds = 153,
};

// Addresses first, so both templates differ only there; then these, the same in both.
constexpr std::array<Field, 14> kCommonFields = {{
    {kSourceTransportPort, 2},
    {kDestinationTransportPort, 2},
    {kProtocolIdentifier, 1},
    {kIpClassOfService, 1},
    {kPostIpClassOfService, 1},
    {kFlowEndReason, 1},
    {kOctetDeltaCount, 8},
    {kPacketDeltaCount, 8},
    {kFlowStartMilliseconds, 8},
    {kFlowEndMilliseconds, 8},
    {kIngressInterface, 4},
    {kEgressInterface, 4},
    {kApplicationId, 4},
    {kApplicationName, kVarLen},
}};
constexpr std::array<Field, 17> template_fields(Field src, Field dst) {
  std::array<Field, 17> f{};
  f[0] = src;
  f[1] = dst;
  for (size_t i = 0; i < kCommonFields.size(); ++i) f[2 + i] = kCommonFields[i];
  f[16] = {0, 0};
  return f;
}
constexpr std::array<Field, 17> kFieldsV4 =
    template_fields({kSourceIPv4Address, 4}, {kDestinationIPv4Address, 4});
constexpr std::array<Field, 17> kFieldsV6 =
    template_fields({kSourceIPv6Address, 16}, {kDestinationIPv6Address, 16});
constexpr size_t kFieldCount = 16;  // the trailing {0, 0} is not sent

constexpr size_t kMessageHeader = 16;
constexpr size_t kSetHeader = 4;
constexpr size_t kMaxAppName = 255;  // one length byte: a varlen of 255+ takes 3

void put8(std::string& s, uint8_t v) {
  s.push_back(static_cast<char>(v));
}
void put16(std::string& s, uint16_t v) {
  put8(s, static_cast<uint8_t>(v >> 8));
  put8(s, static_cast<uint8_t>(v));
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v >> 16));
  put16(s, static_cast<uint16_t>(v));
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v >> 32));
  put32(s, static_cast<uint32_t>(v));
}
void set16(std::string& s, size_t at, uint16_t v) {
  s[at] = static_cast<char>(v >> 8);
  s[at + 1] = static_cast<char>(v);
}
void put_addr(std::string& s, const dp::IpAddr& a, bool v6) {
  if (v6)
    s.append(reinterpret_cast<const char*>(a.b.data()), 16);
  else
    s.append(reinterpret_cast<const char*>(a.v4_ptr()), 4);
}

std::string message_header(uint32_t export_s, uint32_t sequence, uint32_t domain) {
  std::string m;
  put16(m, kVersion);
  put16(m, 0);  // length, set when the message is complete
  put32(m, export_s);
  put32(m, sequence);
  put32(m, domain);
  return m;
}

}  // namespace

std::span<const Field> template_fields(bool v6) {
  return {v6 ? kFieldsV6.data() : kFieldsV4.data(), kFieldCount};
}

std::string encode_template_set() {
  std::string s;
  put16(s, kTemplateSetId);
  put16(s, 0);
  for (bool v6 : {false, true}) {
    put16(s, v6 ? kTemplateV6 : kTemplateV4);
    put16(s, static_cast<uint16_t>(kFieldCount));
    for (const Field& f : template_fields(v6)) {
      put16(s, f.id);
      put16(s, f.length);
    }
  }
  set16(s, 2, static_cast<uint16_t>(s.size()));
  return s;
}

std::string encode_record(const Record& r) {
  const bool v6 = !r.src.is_v4();
  std::string s;
  put_addr(s, r.src, v6);
  put_addr(s, r.dst, v6);
  put16(s, r.src_port);
  put16(s, r.dst_port);
  put8(s, r.proto);
  put8(s, r.tos);
  put8(s, r.post_tos);
  put8(s, static_cast<uint8_t>(r.reason));
  put64(s, r.octets);
  put64(s, r.packets);
  put64(s, r.start_ms);
  put64(s, r.end_ms);
  put32(s, r.ingress);
  put32(s, r.egress);
  // applicationId: engine (1 byte) then the selector (3 bytes, big endian).
  put32(s, (uint32_t{kEnginePanaL7} << 24) | r.app_id);
  const size_t n = std::min(r.app_name.size(), kMaxAppName - 1);
  put8(s, static_cast<uint8_t>(n));
  s.append(r.app_name, 0, n);
  return s;
}

Encoder::Encoder(uint32_t domain_id, size_t max_message)
    : domain_(domain_id),
      max_(std::clamp<size_t>(max_message, 512, 65000)) {}  // templates + a record; u16 length

std::vector<std::string> Encoder::encode(std::span<const Record> records, uint32_t export_s,
                                         bool templates) {
  std::vector<std::string> out;
  std::string msg;
  size_t set_at = 0;    // where the open data set's header is (0: none open)
  uint16_t set_id = 0;  // its template
  uint32_t in_msg = 0;  // data records in `msg`
  auto close_set = [&] {
    if (set_at != 0) set16(msg, set_at + 2, static_cast<uint16_t>(msg.size() - set_at));
    set_at = 0;
  };
  auto close_msg = [&] {
    close_set();
    set16(msg, 2, static_cast<uint16_t>(msg.size()));
    out.push_back(std::move(msg));
    msg.clear();
    sequence_ += in_msg;
    in_msg = 0;
  };
  auto open_msg = [&] { msg = message_header(export_s, sequence_, domain_); };
  open_msg();
  if (templates) msg += encode_template_set();
  for (const Record& r : records) {
    const std::string rec = encode_record(r);
    const uint16_t id = r.src.is_v4() ? kTemplateV4 : kTemplateV6;
    const size_t need = rec.size() + (set_at != 0 && set_id == id ? 0 : kSetHeader);
    if (msg.size() + need > max_ && in_msg != 0) {
      close_msg();
      open_msg();
    }
    if (set_at == 0 || set_id != id) {
      close_set();
      set_at = msg.size();
      set_id = id;
      put16(msg, id);
      put16(msg, 0);
    }
    msg += rec;
    ++in_msg;
  }
  if (in_msg != 0 || templates) close_msg();
  return out;
}

}  // namespace traboule::cp::ipfix

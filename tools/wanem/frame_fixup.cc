// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/frame_fixup.h"

#include <cstddef>

#include "dataplane/proto/bytes.h"

namespace traboule::wanem {
namespace {

using dp::get16;

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

// One's-complement sum of 16-bit big-endian words (RFC 1071), an odd last byte padded.
uint64_t sum_words(const uint8_t* p, size_t n, uint64_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += get16(p + i);
  if (n & 1) sum += static_cast<uint64_t>(p[n - 1]) << 8;
  return sum;
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

FixupResult write_l4(uint8_t* l4, uint32_t l4_len, uint8_t proto, uint64_t pseudo) {
  size_t csum_at = proto == kProtoTcp ? 16 : 6;
  size_t min_header = proto == kProtoTcp ? 20 : 8;
  if (l4_len < min_header) return FixupResult::kMalformed;
  l4[csum_at] = 0;
  l4[csum_at + 1] = 0;
  uint64_t sum = pseudo + proto + l4_len;
  uint16_t csum = fold(sum_words(l4, l4_len, sum));
  if (proto == kProtoUdp && csum == 0) csum = 0xffff;  // 0 means "no checksum" for UDP
  l4[csum_at] = static_cast<uint8_t>(csum >> 8);
  l4[csum_at + 1] = static_cast<uint8_t>(csum);
  return FixupResult::kFixed;
}

}  // namespace

FixupResult complete_l4_checksum(uint8_t* frame, uint32_t len) {
  if (len < 14) return FixupResult::kMalformed;
  uint32_t off = 12;
  uint16_t type = get16(frame + off);
  for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < 2; ++tags) {
    off += 4;
    if (off + 2 > len) return FixupResult::kMalformed;
    type = get16(frame + off);
  }
  off += 2;  // start of the network header

  if (type == 0x0800) {
    if (off + 20 > len) return FixupResult::kMalformed;
    const uint8_t* ip = frame + off;
    uint32_t ihl = (ip[0] & 0x0f) * 4u;
    uint32_t total = get16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || off + total > len) {
      return FixupResult::kMalformed;
    }
    if (get16(ip + 6) & 0x3fff) return FixupResult::kNotTcpUdp;  // a fragment (MF or offset)
    uint8_t proto = ip[9];
    if (proto != kProtoTcp && proto != kProtoUdp) return FixupResult::kNotTcpUdp;
    uint64_t pseudo = sum_words(ip + 12, 8, 0);
    return write_l4(frame + off + ihl, total - ihl, proto, pseudo);
  }
  if (type == 0x86dd) {
    if (off + 40 > len) return FixupResult::kMalformed;
    const uint8_t* ip = frame + off;
    if ((ip[0] >> 4) != 6) return FixupResult::kMalformed;
    uint32_t payload = get16(ip + 4);
    if (off + 40 + payload > len) return FixupResult::kMalformed;
    uint8_t next = ip[6];
    uint32_t l4 = off + 40;
    uint32_t end = off + 40 + payload;
    // Hop-by-hop, routing and destination options may precede TCP/UDP.
    for (int hops = 0; next == 0 || next == 43 || next == 60; ++hops) {
      if (hops == 8 || l4 + 8 > end) return FixupResult::kMalformed;
      uint32_t ext = (frame[l4 + 1] + 1u) * 8u;
      next = frame[l4];
      l4 += ext;
      if (l4 > end) return FixupResult::kMalformed;
    }
    if (next != kProtoTcp && next != kProtoUdp) return FixupResult::kNotTcpUdp;
    // With a routing header the pseudo-header holds the final destination, found in that
    // header; such frames are rare on a lab link and get the outer destination here.
    uint64_t pseudo = sum_words(ip + 8, 32, 0);
    return write_l4(frame + l4, end - l4, next, pseudo);
  }
  return FixupResult::kNotTcpUdp;
}

}  // namespace traboule::wanem

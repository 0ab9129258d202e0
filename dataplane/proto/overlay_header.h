// SPDX-License-Identifier: Apache-2.0
// The overlay header (docs/overlay.md has the wire format): what every overlay packet carries
// after its outer UDP header so the receiver can measure loss, reordering and delay variation.
#pragma once

#include <cstdint>

#include "dataplane/model/site_settings.h"
#include "dataplane/proto/bytes.h"

namespace traboule::dp {

inline constexpr uint8_t kOverlayVersion = 1;
inline constexpr unsigned kOverlayHdrLen = 24;
inline constexpr uint16_t kMaxSiteId = 4095;  // site ids 1..4095 (0: none)
// Traffic class tags (header byte 3): 0 = none, t = the edge's SLA class t - 1 (its policy's
// order), so each end can count a class's packets on a path and the loss of one class is
// measured apart from the others (docs/links.md, "Loss per SLA class"). Classes beyond the
// seventh are not tagged.
inline constexpr uint8_t kClassTags = 8;
inline constexpr uint8_t kClassTagged = kClassTags - 1;  // tags 1..7

namespace overlay_flag {
inline constexpr uint8_t kDuplicate = 1 << 0;  // dup_seq is valid: the receiver keeps one copy
inline constexpr uint8_t kEncrypted = 1 << 1;  // reserved for the encryption issue: refused now
}  // namespace overlay_flag

// The header after the outer UDP header, all fields in network order:
//  0 version(4) flags(4) | 1 inner (4: IPv4, 6: IPv6) | 2 path (sender's uplink)
//  3 class tag (0: none, 1..7: SLA class; a receiver counts a larger value as 0)
//  4 site (u16: the edge's id, both directions) | 6 key id (u16, 0: clear; for encryption)
//  8 seq (u32, per path and direction) | 12 tx_us (u32, sender's microseconds, wraps)
// 16 dup_seq (u32) | 20 reserved (u32: room for an encryption nonce/tag extension)
struct OverlayHeader {
  uint8_t flags = 0;
  uint8_t inner = 4;
  uint8_t path = 0;
  uint8_t cls = 0;  // class tag, < kClassTags
  uint16_t site = 0;
  uint16_t key_id = 0;
  uint32_t seq = 0;
  uint32_t tx_us = 0;
  uint32_t dup_seq = 0;
};

inline void write_overlay_header(uint8_t* p, const OverlayHeader& h) noexcept {
  p[0] = static_cast<uint8_t>(kOverlayVersion << 4 | (h.flags & 0x0f));
  p[1] = h.inner;
  p[2] = h.path;
  p[3] = h.cls < kClassTags ? h.cls : 0;
  put16(p + 4, h.site);
  put16(p + 6, h.key_id);
  put32(p + 8, h.seq);
  put32(p + 12, h.tx_us);
  put32(p + 16, h.dup_seq);
  put32(p + 20, 0);
}

enum class OverlayParse : uint8_t { kOk, kBadVersion, kBadInner, kEncrypted, kBadSite };
inline OverlayParse read_overlay_header(const uint8_t* p, OverlayHeader& h) noexcept {
  if ((p[0] >> 4) != kOverlayVersion) return OverlayParse::kBadVersion;
  h.flags = p[0] & 0x0f;
  h.inner = p[1];
  h.path = p[2];
  h.cls = p[3] < kClassTags ? p[3] : 0;
  h.site = get16(p + 4);
  h.key_id = get16(p + 6);
  h.seq = get32(p + 8);
  h.tx_us = get32(p + 12);
  h.dup_seq = get32(p + 16);
  if (h.inner != 4 && h.inner != 6) return OverlayParse::kBadInner;
  if ((h.flags & overlay_flag::kEncrypted) != 0 || h.key_id != 0) return OverlayParse::kEncrypted;
  if (h.site == 0 || h.site > kMaxSiteId || h.path >= kMaxUplinks) return OverlayParse::kBadSite;
  return OverlayParse::kOk;
}

// Outer IPv4 + UDP + overlay header; IPv6 outer adds 20.
inline constexpr unsigned kOverlayOverhead4 = 20 + 8 + kOverlayHdrLen;
inline constexpr unsigned kOverlayOverhead6 = 40 + 8 + kOverlayHdrLen;

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// STAMP (RFC 8762, unauthenticated mode; RFC 8972 TLVs) on the wire: the test packet formats,
// NTP and PTP timestamps, the error estimate. The probe stage, the link monitor and the tests all
// use this one encoding, and every decode checks the length it is given before reading. The
// clock, the ring records and the session table are in dataplane/model/stamp_*.h.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>

#include "dataplane/proto/ip_addr.h"

namespace traboule::dp {

inline constexpr uint16_t kStampPort = 862;  // RFC 8762 §4: default Session-Reflector port
inline constexpr size_t kStampPacketLen = 44;
// Room a probe may ask for (padding included): a 1500-byte IPv6 packet less IP and UDP headers.
inline constexpr size_t kStampMaxPacketLen = 1500 - 40 - 8;
// TTL / hop limit of every STAMP packet we send (sender and reflector), so the far end's
// Session-Sender TTL field counts the hops (RFC 5357 §4.2, which STAMP implementations follow).
inline constexpr uint8_t kStampTtl = 255;
inline constexpr uint8_t kStampTlvExtraPadding = 1;       // RFC 8972 §4.1
inline constexpr uint8_t kStampTlvDirectMeasurement = 5;  // RFC 8972 §4.5 (IANA type 5)
inline constexpr size_t kStampTlvHeaderLen = 4;           // flags, type, length (16 bits)
inline constexpr size_t kStampDmValueLen = 12;            // S_TxC, R_RxC, R_TxC
inline constexpr size_t kStampDmTlvLen = kStampTlvHeaderLen + kStampDmValueLen;
// The shortest probe that carries a Direct Measurement TLV (44 + 16).
inline constexpr size_t kStampDmPacketLen = kStampPacketLen + kStampDmTlvLen;
// Our per-class direct measurement (docs/links.md): a TLV of the Private Use range of the IANA
// STAMP TLV Types registry (RFC 8972 §5.2: 252-254) right after the DM TLV, with S_TxC, R_RxC and
// R_TxC (12 bytes) for each traffic class 1..n of the overlay (n = length / 12, 1..7). Another
// vendor's reflector sets U on it and leaves the values: the class figures are then unknown.
inline constexpr uint8_t kStampTlvClassDm = 252;
inline constexpr uint8_t kStampMaxClasses = 7;
// Probe length for a DM TLV and `classes` class entries (0: none).
constexpr size_t stamp_dm_packet_len(uint8_t classes) noexcept {
  return kStampDmPacketLen + (classes == 0 ? 0 : kStampTlvHeaderLen + kStampDmValueLen * classes);
}
// RFC 8972 §4 TLV flags: U (a sender sets it, a reflector that understood the TLV clears it),
// M (the reflector found it malformed), I (integrity, HMAC mode only).
namespace stamp_tlv_flag {
inline constexpr uint8_t kUnrecognized = 0x80;
inline constexpr uint8_t kMalformed = 0x40;
inline constexpr uint8_t kIntegrity = 0x20;
}  // namespace stamp_tlv_flag

inline constexpr uint64_t kNtpUnixOffsetS = 2208988800ULL;  // 1900-01-01 → 1970-01-01
// TAI − UTC since 2017-01-01. PTP timestamps count TAI; converting them to NTP (UTC) subtracts
// this. A future leap second makes one-way delays between PTP and NTP clocks off by 1 s.
inline constexpr uint32_t kTaiUtcOffsetS = 37;

// Byte offsets inside the STAMP payload (after the UDP header).
namespace stamp_off {
inline constexpr size_t kSeq = 0;
inline constexpr size_t kTimestamp = 4;
inline constexpr size_t kError = 12;
inline constexpr size_t kSsid = 14;  // MBZ in RFC 8762, SSID in RFC 8972
inline constexpr size_t kReceiveTs = 16;
inline constexpr size_t kSenderSeq = 24;
inline constexpr size_t kSenderTs = 28;
inline constexpr size_t kSenderError = 36;
inline constexpr size_t kSenderTtl = 40;
}  // namespace stamp_off

// RFC 4656 §4.1.2 (+ RFC 8186 Z bit): S (synchronised to UTC), Z (0 NTP, 1 PTP timestamps),
// Scale (6 bits), Multiplier; error = Multiplier × 2^(Scale − 32) seconds.
struct ErrorEstimate {
  bool synced = false;
  bool ptp = false;
  uint8_t scale = 0;  // 0..63
  uint8_t multiplier = 1;

  uint16_t encode() const noexcept {
    return static_cast<uint16_t>((synced ? 0x8000 : 0) | (ptp ? 0x4000 : 0) | (scale & 0x3f) << 8 |
                                 multiplier);
  }
  static ErrorEstimate decode(uint16_t v) noexcept {
    return {(v & 0x8000) != 0, (v & 0x4000) != 0, static_cast<uint8_t>(v >> 8 & 0x3f),
            static_cast<uint8_t>(v)};
  }
  // RFC 4656: a zero multiplier is not a valid estimate; the timestamps it qualifies are not
  // trusted for one-way figures.
  bool valid() const noexcept { return multiplier != 0; }
  double seconds() const noexcept;
  // The smallest estimate not below `seconds` (multiplier 1..255); saturates at the largest.
  static ErrorEstimate from_seconds(double seconds, bool synced) noexcept;
  friend bool operator==(const ErrorEstimate&, const ErrorEstimate&) = default;
};

// Timestamps are carried as NTP 64-bit values (seconds since 1900 << 32 | fraction) everywhere
// inside the box; differences use modular arithmetic, so the 2036 NTP era rollover is harmless.
uint64_t ntp_from_unix_ns(uint64_t unix_ns) noexcept;
// The Unix time of an NTP value, taking the era nearest to `near_unix_ns` (display only).
uint64_t unix_ns_from_ntp(uint64_t ntp, uint64_t near_unix_ns) noexcept;
// PTPv2 truncated format (RFC 8186): 32-bit TAI seconds since 1970 << 32 | nanoseconds.
// A nanoseconds field above 999999999 is clamped (it is not a valid PTP value).
uint64_t ntp_from_ptp(uint64_t ptp) noexcept;
uint64_t ptp_from_ntp(uint64_t ntp) noexcept;
// The field as sent in a packet → NTP, reading the format from the Z bit of its estimate.
inline uint64_t stamp_ts_to_ntp(uint64_t raw, const ErrorEstimate& e) noexcept {
  return e.ptp ? ntp_from_ptp(raw) : raw;
}
// a − b in nanoseconds (rounded), for a and b less than 2^31 s apart in either direction.
int64_t ntp_diff_ns(uint64_t a, uint64_t b) noexcept;

// ---------------------------------------------------------------------------------------------
// Packets

struct StampSenderPacket {
  uint32_t seq = 0;
  uint64_t timestamp = 0;  // raw field (NTP, or PTP when error.ptp)
  ErrorEstimate error;
  uint16_t ssid = 0;
};

struct StampReflectorPacket {
  uint32_t seq = 0;
  uint64_t timestamp = 0;  // T3, raw
  ErrorEstimate error;     // qualifies timestamp and receive_ts
  uint16_t ssid = 0;
  uint64_t receive_ts = 0;  // T2, raw
  uint32_t sender_seq = 0;
  uint64_t sender_ts = 0;  // T1 as the sender wrote it, raw
  ErrorEstimate sender_error;
  uint8_t sender_ttl = 0;
};

enum class StampStatus : uint8_t { kOk = 0, kTooShort, kTooLong };
const char* to_string(StampStatus s) noexcept;

// Decoders read only the first 44 bytes and only when `in` holds at least that many; what
// follows (padding, RFC 8972 TLVs) is the caller's business. MBZ fields are not checked
// (RFC 8762 receivers ignore them).
StampStatus decode_sender(std::span<const uint8_t> in, StampSenderPacket* out) noexcept;
StampStatus decode_reflector(std::span<const uint8_t> in, StampReflectorPacket* out) noexcept;
// Direct Measurement (RFC 8972 §4.5): 32-bit packet counters of the measured traffic (here: the
// overlay data packets of the path the probe measures), wrapping.
struct StampDm {
  uint32_t s_txc = 0;  // Session-Sender: data packets it sent on the path
  uint32_t r_rxc = 0;  // Session-Reflector: data packets it received on the path
  uint32_t r_txc = 0;  // Session-Reflector: data packets it sent on the path (return direction)
  // The same per traffic class 1..classes (kStampTlvClassDm); entry i is class i + 1.
  uint8_t classes = 0;
  std::array<uint32_t, kStampMaxClasses> c_s_txc{}, c_r_rxc{}, c_r_txc{};
  friend bool operator==(const StampDm&, const StampDm&) = default;
};
enum class StampDmStatus : uint8_t {
  kAbsent = 0,  // no DM TLV before the end of the TLVs (or before one that overruns the packet)
  kOk,          // a DM TLV of length 12 with U and M clear: the reflector filled it
  kNotFilled,   // U set: the reflector did not understand it, or could not measure that path
  kMalformed,   // length other than 12, or M set by the reflector
};
const char* to_string(StampDmStatus s) noexcept;

// Encoders write the 44-byte packet (MBZ zeroed) and fill the rest of `out` with padding:
// encode_sender makes it one RFC 8972 Extra Padding TLV (flags 0, type 1, zero value) when there
// is room for its 4-byte header, so RFC 8972 reflectors see a well-formed TLV, and plain zeros
// otherwise (45..47 bytes); encode_reflector zeroes it. kTooShort when `out` is smaller than 44
// bytes, kTooLong above kStampMaxPacketLen. Nothing is written unless kOk.
// With `dm`, encode_sender puts a Direct Measurement TLV right after the 44 bytes (U set, S_TxC =
// dm->s_txc, R_RxC = R_TxC = 0, RFC 8972 §4.5), then with dm->classes (1..7; more is kTooLong)
// the per-class TLV (U set, each class's S_TxC, the rest 0), and the padding after them; `out`
// must then hold stamp_dm_packet_len(dm->classes) bytes (kTooShort otherwise).
StampStatus encode_sender(const StampSenderPacket& p, std::span<uint8_t> out,
                          const StampDm* dm = nullptr) noexcept;
StampStatus encode_reflector(const StampReflectorPacket& p, std::span<uint8_t> out) noexcept;
// The reflector's in-place rewrite: turns the sender packet at `pkt` (at least 44 bytes, checked)
// into the reflected packet, reading the sender fields before they are overwritten. Bytes past
// 44 stay as received (symmetric size, RFC 8762 §4.3). T3 is left zero: the caller writes it
// last, as late as it can, with stamp_put_timestamp().
StampStatus reflect_in_place(std::span<uint8_t> pkt, uint32_t reflector_seq, uint64_t receive_ntp,
                             ErrorEstimate ours, uint8_t sender_ttl,
                             StampSenderPacket* seen) noexcept;
// Writes T3 (NTP) into a reflected packet (at least 44 bytes, the caller checked).
void stamp_put_timestamp(uint8_t* pkt, uint64_t ntp) noexcept;

// RFC 8972 TLVs of an unauthenticated packet (sender or reflector: they start at byte 44 in
// both). The walk reads each 4-byte header and skips its value; it stops at fewer than 4 bytes
// left (trailing padding) or at a TLV whose length passes the end of `pkt` (never read past it).
// The first DM TLV found: *off = its offset (when not kAbsent), status as on the sender side.
StampDmStatus stamp_find_dm(std::span<const uint8_t> pkt, size_t* off) noexcept;
// Sender side, on a reflected packet: kOk and *out filled only for a well-formed DM TLV whose U
// and M flags the reflector cleared. out->classes is the number of class entries of a
// well-formed per-class TLV the reflector filled (U and M clear), else 0.
StampDmStatus decode_dm(std::span<const uint8_t> pkt, StampDm* out) noexcept;
// The first per-class TLV: *off its offset, *classes its entries (when kOk or kNotFilled);
// kMalformed for a length that is not 12 × 1..7, or M set.
StampDmStatus stamp_find_class_dm(std::span<const uint8_t> pkt, size_t* off,
                                  uint8_t* classes) noexcept;
// Reflector side, on the packet being reflected (in place, same length): the first DM TLV gets
// R_RxC and R_TxC from `counters` with U and M cleared (S_TxC stays as sent); with no counters
// (a path the reflector cannot attribute) its U flag is set and the values stay as sent; one
// whose length is not 12 gets M set and nothing else. Returns what it found (kOk: filled).
// The per-class TLV likewise: each entry i gets counters->c_r_rxc[i] and c_r_txc[i] (U and M
// cleared) when counters->classes covers it, U set otherwise; a bad length gets M set.
// Every other byte past 44 is left as it came (other TLVs are echoed untouched).
StampDmStatus reflect_dm(std::span<uint8_t> pkt, const StampDm* counters) noexcept;

// The SSID our edges put on their probes to the hub (RFC 8972 §3): 0x8000 | path << 12 | site.
// It tells the hub's reflector which overlay site and path (the edge's uplink index) a probe
// measures; the hub believes it only when that path's learned outer address is the probe's
// source (docs/links.md, "Direct measurement").
inline constexpr uint16_t stamp_overlay_ssid(uint16_t site, uint8_t path) noexcept {
  return static_cast<uint16_t>(0x8000u | (path & 3u) << 12 | (site & 0x0fffu));
}
// false when `ssid` is not of that form (another sender's SSID, or site 0).
inline constexpr bool stamp_overlay_ssid_parse(uint16_t ssid, uint16_t* site,
                                               uint8_t* path) noexcept {
  if ((ssid & 0xc000u) != 0x8000u || (ssid & 0x0fffu) == 0) return false;
  *site = static_cast<uint16_t>(ssid & 0x0fffu);
  *path = static_cast<uint8_t>(ssid >> 12 & 3u);
  return true;
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proto/stamp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "dataplane/proto/bytes.h"

namespace traboule::dp {
namespace {

constexpr uint64_t kNsPerS = 1'000'000'000ULL;
constexpr uint64_t kFracOne = 1ULL << 32;

uint64_t ns_to_frac(uint64_t ns) noexcept {  // ns < 1e9
  return (ns << 32) / kNsPerS;
}
uint64_t frac_to_ns(uint64_t frac) noexcept {  // rounded
  return (frac * kNsPerS + (kFracOne >> 1)) >> 32;
}

}  // namespace

double ErrorEstimate::seconds() const noexcept {
  return std::ldexp(static_cast<double>(multiplier), static_cast<int>(scale) - 32);
}

ErrorEstimate ErrorEstimate::from_seconds(double seconds, bool synced) noexcept {
  ErrorEstimate e;
  e.synced = synced;
  if (!(seconds > 0)) return e;  // multiplier 1, scale 0: 2^-32 s, the finest there is
  for (unsigned scale = 0; scale < 64; ++scale) {
    double m = std::ceil(std::ldexp(seconds, 32 - static_cast<int>(scale)));
    if (m <= 255) {
      e.scale = static_cast<uint8_t>(scale);
      e.multiplier = static_cast<uint8_t>(m < 1 ? 1 : m);
      return e;
    }
  }
  e.scale = 63;
  e.multiplier = 255;
  return e;
}

uint64_t ntp_from_unix_ns(uint64_t unix_ns) noexcept {
  const uint64_t secs = (unix_ns / kNsPerS + kNtpUnixOffsetS) & 0xffffffffULL;
  return secs << 32 | ns_to_frac(unix_ns % kNsPerS);
}

uint64_t unix_ns_from_ntp(uint64_t ntp, uint64_t near_unix_ns) noexcept {
  const int64_t d = ntp_diff_ns(ntp, ntp_from_unix_ns(near_unix_ns));
  if (d < 0 && static_cast<uint64_t>(-d) > near_unix_ns) return 0;
  return near_unix_ns + static_cast<uint64_t>(d);
}

uint64_t ntp_from_ptp(uint64_t ptp) noexcept {
  uint64_t ns = ptp & 0xffffffffULL;
  if (ns >= kNsPerS) ns = kNsPerS - 1;
  const uint64_t secs = ((ptp >> 32) - kTaiUtcOffsetS + kNtpUnixOffsetS) & 0xffffffffULL;
  return secs << 32 | ns_to_frac(ns);
}

uint64_t ptp_from_ntp(uint64_t ntp) noexcept {
  uint64_t ns = frac_to_ns(ntp & 0xffffffffULL);
  uint64_t secs = (ntp >> 32) - kNtpUnixOffsetS + kTaiUtcOffsetS;
  if (ns >= kNsPerS) {  // rounding reached the next second
    ns -= kNsPerS;
    ++secs;
  }
  return (secs & 0xffffffffULL) << 32 | ns;
}

int64_t ntp_diff_ns(uint64_t a, uint64_t b) noexcept {
  const uint64_t d = a - b;
  const bool neg = static_cast<int64_t>(d) < 0;
  const uint64_t mag = neg ? ~d + 1 : d;
  const int64_t ns = static_cast<int64_t>((mag >> 32) * kNsPerS + frac_to_ns(mag & 0xffffffffULL));
  return neg ? -ns : ns;
}

const char* to_string(StampStatus s) noexcept {
  switch (s) {
    case StampStatus::kOk:
      return "ok";
    case StampStatus::kTooShort:
      return "shorter than the 44-byte STAMP packet";
    case StampStatus::kTooLong:
      return "longer than a STAMP packet may be";
  }
  return "?";
}

namespace {

// The fields both packet kinds start with: sequence number, timestamp, error estimate, SSID.
template <typename Packet>
void decode_common(const uint8_t* p, Packet* out) noexcept {
  out->seq = get32(p + stamp_off::kSeq);
  out->timestamp = get64(p + stamp_off::kTimestamp);
  out->error = ErrorEstimate::decode(get16(p + stamp_off::kError));
  out->ssid = get16(p + stamp_off::kSsid);
}

}  // namespace

StampStatus decode_sender(std::span<const uint8_t> in, StampSenderPacket* out) noexcept {
  if (in.size() < kStampPacketLen) return StampStatus::kTooShort;
  decode_common(in.data(), out);
  return StampStatus::kOk;
}

StampStatus decode_reflector(std::span<const uint8_t> in, StampReflectorPacket* out) noexcept {
  if (in.size() < kStampPacketLen) return StampStatus::kTooShort;
  const uint8_t* p = in.data();
  decode_common(p, out);
  out->receive_ts = get64(p + stamp_off::kReceiveTs);
  out->sender_seq = get32(p + stamp_off::kSenderSeq);
  out->sender_ts = get64(p + stamp_off::kSenderTs);
  out->sender_error = ErrorEstimate::decode(get16(p + stamp_off::kSenderError));
  out->sender_ttl = p[stamp_off::kSenderTtl];
  return StampStatus::kOk;
}

StampStatus encode_sender(const StampSenderPacket& s, std::span<uint8_t> out,
                          const StampDm* dm) noexcept {
  if (dm != nullptr && dm->classes > kStampMaxClasses) return StampStatus::kTooLong;
  if (out.size() < (dm != nullptr ? stamp_dm_packet_len(dm->classes) : kStampPacketLen))
    return StampStatus::kTooShort;
  if (out.size() > kStampMaxPacketLen) return StampStatus::kTooLong;
  uint8_t* p = out.data();
  std::fill(out.begin(), out.end(), uint8_t{0});
  put32(p + stamp_off::kSeq, s.seq);
  put64(p + stamp_off::kTimestamp, s.timestamp);
  put16(p + stamp_off::kError, s.error.encode());
  put16(p + stamp_off::kSsid, s.ssid);
  size_t pad = kStampPacketLen;
  if (dm != nullptr) {
    // RFC 8972 §4: the sender sets U; §4.5: R_RxC and R_TxC are the reflector's to fill.
    p[pad] = stamp_tlv_flag::kUnrecognized;
    p[pad + 1] = kStampTlvDirectMeasurement;
    put16(p + pad + 2, kStampDmValueLen);
    put32(p + pad + 4, dm->s_txc);
    pad += kStampDmTlvLen;
    if (dm->classes != 0) {
      const size_t len = kStampDmValueLen * dm->classes;
      p[pad] = stamp_tlv_flag::kUnrecognized;
      p[pad + 1] = kStampTlvClassDm;
      put16(p + pad + 2, static_cast<uint16_t>(len));
      for (uint8_t i = 0; i < dm->classes; ++i)
        put32(p + pad + kStampTlvHeaderLen + kStampDmValueLen * i, dm->c_s_txc[i]);
      pad += kStampTlvHeaderLen + len;
    }
  }
  if (out.size() >= pad + kStampTlvHeaderLen) {
    p[pad + 1] = kStampTlvExtraPadding;
    put16(p + pad + 2, static_cast<uint16_t>(out.size() - pad - kStampTlvHeaderLen));
  }
  return StampStatus::kOk;
}

StampStatus encode_reflector(const StampReflectorPacket& r, std::span<uint8_t> out) noexcept {
  if (out.size() < kStampPacketLen) return StampStatus::kTooShort;
  if (out.size() > kStampMaxPacketLen) return StampStatus::kTooLong;
  uint8_t* p = out.data();
  std::fill(out.begin(), out.end(), uint8_t{0});
  put32(p + stamp_off::kSeq, r.seq);
  put64(p + stamp_off::kTimestamp, r.timestamp);
  put16(p + stamp_off::kError, r.error.encode());
  put16(p + stamp_off::kSsid, r.ssid);
  put64(p + stamp_off::kReceiveTs, r.receive_ts);
  put32(p + stamp_off::kSenderSeq, r.sender_seq);
  put64(p + stamp_off::kSenderTs, r.sender_ts);
  put16(p + stamp_off::kSenderError, r.sender_error.encode());
  p[stamp_off::kSenderTtl] = r.sender_ttl;
  return StampStatus::kOk;
}

StampStatus reflect_in_place(std::span<uint8_t> pkt, uint32_t reflector_seq, uint64_t receive_ntp,
                             ErrorEstimate ours, uint8_t sender_ttl,
                             StampSenderPacket* seen) noexcept {
  StampSenderPacket s;
  if (StampStatus st = decode_sender(pkt, &s); st != StampStatus::kOk) return st;
  uint8_t* p = pkt.data();
  const uint16_t raw_sender_error = get16(p + stamp_off::kError);
  put32(p + stamp_off::kSeq, reflector_seq);
  put64(p + stamp_off::kTimestamp, 0);
  put16(p + stamp_off::kError, ours.encode());
  // kSsid: the sender's SSID stays where it is (RFC 8972 §3: copied into the reflected packet).
  put64(p + stamp_off::kReceiveTs, receive_ntp);
  put32(p + stamp_off::kSenderSeq, s.seq);
  put64(p + stamp_off::kSenderTs, s.timestamp);
  put16(p + stamp_off::kSenderError, raw_sender_error);
  put16(p + stamp_off::kSenderError + 2, 0);
  p[stamp_off::kSenderTtl] = sender_ttl;
  p[stamp_off::kSenderTtl + 1] = p[stamp_off::kSenderTtl + 2] = p[stamp_off::kSenderTtl + 3] = 0;
  if (seen != nullptr) *seen = s;
  return StampStatus::kOk;
}

void stamp_put_timestamp(uint8_t* pkt, uint64_t ntp) noexcept {
  put64(pkt + stamp_off::kTimestamp, ntp);
}

const char* to_string(StampDmStatus s) noexcept {
  switch (s) {
    case StampDmStatus::kAbsent:
      return "absent";
    case StampDmStatus::kOk:
      return "ok";
    case StampDmStatus::kNotFilled:
      return "not_filled";
    case StampDmStatus::kMalformed:
      return "malformed";
  }
  return "?";
}

namespace {

// The first TLV of `type` that fits in `pkt`: its offset and value length.
bool find_tlv(std::span<const uint8_t> pkt, uint8_t type, size_t* off, size_t* len) noexcept {
  const uint8_t* p = pkt.data();
  size_t at = kStampPacketLen;
  while (at + kStampTlvHeaderLen <= pkt.size()) {
    const size_t l = get16(p + at + 2);
    if (l > pkt.size() - at - kStampTlvHeaderLen) return false;  // overruns
    if (p[at + 1] == type) {
      *off = at;
      *len = l;
      return true;
    }
    at += kStampTlvHeaderLen + l;
  }
  return false;
}

StampDmStatus flag_status(uint8_t flags, bool length_ok) noexcept {
  if (!length_ok || (flags & stamp_tlv_flag::kMalformed)) return StampDmStatus::kMalformed;
  return (flags & stamp_tlv_flag::kUnrecognized) ? StampDmStatus::kNotFilled : StampDmStatus::kOk;
}

bool class_len_ok(size_t len) noexcept {
  return len != 0 && len % kStampDmValueLen == 0 && len / kStampDmValueLen <= kStampMaxClasses;
}

}  // namespace

StampDmStatus stamp_find_dm(std::span<const uint8_t> pkt, size_t* off) noexcept {
  size_t len = 0;
  if (!find_tlv(pkt, kStampTlvDirectMeasurement, off, &len)) return StampDmStatus::kAbsent;
  return flag_status(pkt[*off], len == kStampDmValueLen);
}

StampDmStatus stamp_find_class_dm(std::span<const uint8_t> pkt, size_t* off,
                                  uint8_t* classes) noexcept {
  size_t len = 0;
  if (!find_tlv(pkt, kStampTlvClassDm, off, &len)) return StampDmStatus::kAbsent;
  const bool ok = class_len_ok(len);
  *classes = ok ? static_cast<uint8_t>(len / kStampDmValueLen) : 0;
  return flag_status(pkt[*off], ok);
}

StampDmStatus decode_dm(std::span<const uint8_t> pkt, StampDm* out) noexcept {
  size_t at = 0;
  const StampDmStatus st = stamp_find_dm(pkt, &at);
  if (st != StampDmStatus::kOk) return st;
  const uint8_t* v = pkt.data() + at + kStampTlvHeaderLen;
  out->s_txc = get32(v);
  out->r_rxc = get32(v + 4);
  out->r_txc = get32(v + 8);
  out->classes = 0;
  uint8_t n = 0;
  if (stamp_find_class_dm(pkt, &at, &n) == StampDmStatus::kOk) {
    const uint8_t* c = pkt.data() + at + kStampTlvHeaderLen;
    for (uint8_t i = 0; i < n; ++i, c += kStampDmValueLen) {
      out->c_s_txc[i] = get32(c);
      out->c_r_rxc[i] = get32(c + 4);
      out->c_r_txc[i] = get32(c + 8);
    }
    out->classes = n;
  }
  return st;
}

namespace {

// The per-class TLV of a packet being reflected (reflect_dm has filled the DM TLV).
void reflect_class_dm(std::span<uint8_t> pkt, const StampDm& counters) noexcept {
  size_t at = 0;
  uint8_t n = 0;
  const StampDmStatus st = stamp_find_class_dm(pkt, &at, &n);
  if (st == StampDmStatus::kAbsent) return;
  uint8_t* t = pkt.data() + at;
  if (!class_len_ok(get16(t + 2))) {
    t[0] |= stamp_tlv_flag::kMalformed;
    return;
  }
  if (n > counters.classes) {  // asked for classes we cannot attribute
    t[0] |= stamp_tlv_flag::kUnrecognized;
    return;
  }
  t[0] = static_cast<uint8_t>(t[0] & ~(stamp_tlv_flag::kUnrecognized | stamp_tlv_flag::kMalformed));
  uint8_t* c = t + kStampTlvHeaderLen;
  for (uint8_t i = 0; i < n; ++i, c += kStampDmValueLen) {
    put32(c + 4, counters.c_r_rxc[i]);
    put32(c + 8, counters.c_r_txc[i]);
  }
}

}  // namespace

StampDmStatus reflect_dm(std::span<uint8_t> pkt, const StampDm* counters) noexcept {
  size_t at = 0;
  const StampDmStatus st = stamp_find_dm(pkt, &at);
  if (st == StampDmStatus::kAbsent) return st;
  uint8_t* t = pkt.data() + at;
  if (get16(t + 2) != kStampDmValueLen) {
    t[0] |= stamp_tlv_flag::kMalformed;
    return StampDmStatus::kMalformed;
  }
  if (counters == nullptr) {
    t[0] |= stamp_tlv_flag::kUnrecognized;
    reflect_class_dm(pkt, StampDm{});  // no class either
    return StampDmStatus::kNotFilled;
  }
  t[0] = static_cast<uint8_t>(t[0] & ~(stamp_tlv_flag::kUnrecognized | stamp_tlv_flag::kMalformed));
  put32(t + 8, counters->r_rxc);
  put32(t + 12, counters->r_txc);
  reflect_class_dm(pkt, *counters);
  return StampDmStatus::kOk;
}

}  // namespace traboule::dp

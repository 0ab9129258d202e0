// SPDX-License-Identifier: Apache-2.0
#include "controlplane/sessions/control_msg.h"

#include <atomic>

namespace traboule::cp {

namespace {

std::atomic<WipeObserver> g_wipe_observer{nullptr};

void put_u16(WipedBuffer& b, uint16_t v) {
  const uint8_t x[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  b.append(x);
}
void put_u32(WipedBuffer& b, uint32_t v) {
  put_u16(b, static_cast<uint16_t>(v >> 16));
  put_u16(b, static_cast<uint16_t>(v));
}
void put_u64(WipedBuffer& b, uint64_t v) {
  put_u32(b, static_cast<uint32_t>(v >> 32));
  put_u32(b, static_cast<uint32_t>(v));
}
void put_text(WipedBuffer& b, const std::string& s) {
  const size_t n = s.size() < kMaxText ? s.size() : kMaxText;
  put_u16(b, static_cast<uint16_t>(n));
  b.append(std::span(reinterpret_cast<const uint8_t*>(s.data()), n));
}
void put_sas(WipedBuffer& b, const std::vector<SaAnnounce>& sas) {
  put_u16(b, static_cast<uint16_t>(sas.size()));
  for (const SaAnnounce& sa : sas) {
    put_u16(b, sa.path_id);
    put_u32(b, sa.spi);
    b.push_back(kSaKeyBytes);
    b.append(sa.key.view());
    b.push_back(kSaSaltBytes);
    b.append(sa.salt.view());
    put_u64(b, sa.created_unix_s);
    put_u64(b, sa.expires_unix_s);
  }
}

// Reads fields front to back; the first failure sticks.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool take(size_t n, std::span<const uint8_t>& out) {
    if (err_ != CodecError::kOk) return false;
    if (b_.size() - pos_ < n) return fail(CodecError::kTruncated);
    out = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  uint64_t uint(size_t n) {
    std::span<const uint8_t> s;
    if (!take(n, s)) return 0;
    uint64_t v = 0;
    for (uint8_t x : s) v = (v << 8) | x;
    return v;
  }
  bool fail(CodecError e) {
    if (err_ == CodecError::kOk) err_ = e;
    return false;
  }
  CodecError finish() {
    if (err_ == CodecError::kOk && pos_ != b_.size()) err_ = CodecError::kTrailingBytes;
    return err_;
  }
  CodecError error() const { return err_; }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  CodecError err_ = CodecError::kOk;
};

std::string read_text(Reader& r) {
  const size_t n = r.uint(2);
  if (n > kMaxText) {
    r.fail(CodecError::kBadText);
    return {};
  }
  std::span<const uint8_t> s;
  if (!r.take(n, s)) return {};
  for (uint8_t c : s)
    if (c < 0x20 || c > 0x7e) {
      r.fail(CodecError::kBadText);
      return {};
    }
  return std::string(s.begin(), s.end());
}

bool read_sa(Reader& r, SaAnnounce& sa) {
  sa.path_id = static_cast<uint16_t>(r.uint(2));
  sa.spi = static_cast<uint32_t>(r.uint(4));
  if (r.error() == CodecError::kOk && sa.spi == 0) return r.fail(CodecError::kZeroSpi);
  std::span<const uint8_t> s;
  if (r.uint(1) != kSaKeyBytes && r.error() == CodecError::kOk)
    return r.fail(CodecError::kBadKeyLength);
  if (!r.take(kSaKeyBytes, s)) return false;
  sa.key = SecretBytes<kSaKeyBytes>(s.first<kSaKeyBytes>());
  if (r.uint(1) != kSaSaltBytes && r.error() == CodecError::kOk)
    return r.fail(CodecError::kBadSaltLength);
  if (!r.take(kSaSaltBytes, s)) return false;
  sa.salt = SecretBytes<kSaSaltBytes>(s.first<kSaSaltBytes>());
  sa.created_unix_s = r.uint(8);
  sa.expires_unix_s = r.uint(8);
  if (r.error() == CodecError::kOk && sa.expires_unix_s < sa.created_unix_s)
    return r.fail(CodecError::kBadLifetime);
  return r.error() == CodecError::kOk;
}

std::vector<SaAnnounce> read_sas(Reader& r) {
  std::vector<SaAnnounce> sas;
  const size_t n = r.uint(2);
  if (n > kMaxSas) {
    r.fail(CodecError::kTooManySas);
    return sas;
  }
  sas.reserve(n);
  for (size_t i = 0; i < n && r.error() == CodecError::kOk; ++i) {
    SaAnnounce sa;
    if (read_sa(r, sa)) sas.push_back(std::move(sa));
  }
  return sas;
}

std::optional<ControlMessage> read_hello(Reader& r) {
  Hello h;
  const uint64_t role = r.uint(1);
  if (r.error() == CodecError::kOk && role != 1 && role != 2) {
    r.fail(CodecError::kBadRole);
    return std::nullopt;
  }
  h.role = static_cast<PeerRole>(role);
  h.site_id = static_cast<uint32_t>(r.uint(4));
  const bool site_ok =
      h.role == PeerRole::kSite ? h.site_id >= 1 && h.site_id <= kMaxSiteId : h.site_id == 0;
  if (r.error() == CodecError::kOk && !site_ok) r.fail(CodecError::kBadSiteId);
  h.software_version = read_text(r);
  return h;
}

std::optional<ControlMessage> read_goodbye(Reader& r) {
  Goodbye g;
  const uint64_t reason = r.uint(1);
  if (r.error() == CodecError::kOk && reason > static_cast<uint8_t>(GoodbyeReason::kIdle)) {
    r.fail(CodecError::kBadReason);
    return std::nullopt;
  }
  g.reason = static_cast<GoodbyeReason>(reason);
  g.detail = read_text(r);
  return g;
}

std::optional<ControlMessage> read_body(MsgType type, Reader& r) {
  switch (type) {
    case MsgType::kHello:
      return read_hello(r);
    case MsgType::kInboundSas:
      return InboundSas{read_sas(r)};
    case MsgType::kRekey: {
      Rekey k;
      k.grace_s = static_cast<uint32_t>(r.uint(4));
      k.sas = read_sas(r);
      return k;
    }
    case MsgType::kGoodbye:
      return read_goodbye(r);
  }
  r.fail(CodecError::kUnknownType);
  return std::nullopt;
}

WipedBuffer start_frame(MsgType type) {
  WipedBuffer b;
  b.reserve(kMaxFrame + kFrameHeader);  // one allocation: no stale copy of keys on the heap
  put_u32(b, 0);                        // the length, set by finish_frame
  b.push_back(static_cast<uint8_t>(type));
  return b;
}

WipedBuffer finish_frame(WipedBuffer b) {
  const uint32_t body = static_cast<uint32_t>(b.size() - kFrameHeader);
  uint8_t* p = b.data();
  p[0] = static_cast<uint8_t>(body >> 24);
  p[1] = static_cast<uint8_t>(body >> 16);
  p[2] = static_cast<uint8_t>(body >> 8);
  p[3] = static_cast<uint8_t>(body);
  return b;
}

}  // namespace

void set_wipe_observer(WipeObserver observer) noexcept {
  g_wipe_observer.store(observer);
}
void notify_wiped(const uint8_t* data, size_t size) noexcept {
  if (WipeObserver o = g_wipe_observer.load(std::memory_order_relaxed)) o(data, size);
}

const char* goodbye_reason_name(GoodbyeReason r) noexcept {
  switch (r) {
    case GoodbyeReason::kShutdown:
      return "shutdown";
    case GoodbyeReason::kRefused:
      return "refused";
    case GoodbyeReason::kProtocolError:
      return "protocol_error";
    case GoodbyeReason::kIdle:
      return "idle";
  }
  return "unknown";
}

const char* codec_error_name(CodecError e) noexcept {
  switch (e) {
    case CodecError::kOk:
      return "ok";
    case CodecError::kTruncated:
      return "truncated";
    case CodecError::kOversize:
      return "oversize";
    case CodecError::kEmpty:
      return "empty";
    case CodecError::kUnknownType:
      return "unknown_type";
    case CodecError::kTrailingBytes:
      return "trailing_bytes";
    case CodecError::kBadRole:
      return "bad_role";
    case CodecError::kBadSiteId:
      return "bad_site_id";
    case CodecError::kBadText:
      return "bad_text";
    case CodecError::kBadKeyLength:
      return "bad_key_length";
    case CodecError::kBadSaltLength:
      return "bad_salt_length";
    case CodecError::kZeroSpi:
      return "zero_spi";
    case CodecError::kTooManySas:
      return "too_many_sas";
    case CodecError::kBadLifetime:
      return "bad_lifetime";
    case CodecError::kBadReason:
      return "bad_reason";
  }
  return "unknown";
}

WipedBuffer encode(const Hello& m) {
  WipedBuffer b = start_frame(MsgType::kHello);
  b.push_back(static_cast<uint8_t>(m.role));
  put_u32(b, m.site_id);
  put_text(b, m.software_version);
  return finish_frame(std::move(b));
}

WipedBuffer encode(const InboundSas& m) {
  WipedBuffer b = start_frame(MsgType::kInboundSas);
  put_sas(b, m.sas);
  return finish_frame(std::move(b));
}

WipedBuffer encode(const Rekey& m) {
  WipedBuffer b = start_frame(MsgType::kRekey);
  put_u32(b, m.grace_s);
  put_sas(b, m.sas);
  return finish_frame(std::move(b));
}

WipedBuffer encode(const Goodbye& m) {
  WipedBuffer b = start_frame(MsgType::kGoodbye);
  b.push_back(static_cast<uint8_t>(m.reason));
  put_text(b, m.detail);
  return finish_frame(std::move(b));
}

WipedBuffer encode(const ControlMessage& m) {
  return std::visit([](const auto& x) { return encode(x); }, m);
}

CodecError frame_body_length(std::span<const uint8_t> header, uint32_t& body_length) noexcept {
  if (header.size() < kFrameHeader) return CodecError::kTruncated;
  body_length = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                (uint32_t{header[2]} << 8) | header[3];
  if (body_length > kMaxFrame) return CodecError::kOversize;
  if (body_length == 0) return CodecError::kEmpty;
  return CodecError::kOk;
}

Decoded decode(std::span<const uint8_t> frame) {
  Decoded d;
  uint32_t body = 0;
  d.error = frame_body_length(frame, body);
  if (d.error != CodecError::kOk) return d;
  if (frame.size() - kFrameHeader < body) return {CodecError::kTruncated, std::nullopt};
  if (frame.size() - kFrameHeader > body) return {CodecError::kTrailingBytes, std::nullopt};
  Reader r(frame.subspan(kFrameHeader + 1));
  const uint8_t type = frame[kFrameHeader];
  if (type < 1 || type > 4) return {CodecError::kUnknownType, std::nullopt};
  std::optional<ControlMessage> m = read_body(static_cast<MsgType>(type), r);
  d.error = r.finish();
  if (d.error == CodecError::kOk) d.message = std::move(m);
  return d;
}

}  // namespace traboule::cp

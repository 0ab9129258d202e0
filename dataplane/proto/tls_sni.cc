// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proto/tls_sni.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <stdexcept>

#include "dataplane/model/counter.h"
#include "dataplane/proto/bytes.h"

namespace traboule::dp {

const char* sni_status_name(SniStatus s) noexcept {
  switch (s) {
    case SniStatus::kFound:
      return "found";
    case SniStatus::kNoSni:
      return "no_sni";
    case SniStatus::kNotTls:
      return "not_tls";
    case SniStatus::kNotClientHello:
      return "not_client_hello";
    case SniStatus::kTruncated:
      return "truncated";
    case SniStatus::kFragmented:
      return "fragmented";
    case SniStatus::kMalformed:
      return "malformed";
    case SniStatus::kBadName:
      return "bad_name";
    case SniStatus::kNotQuicInitial:
      return "not_quic_initial";
    case SniStatus::kWrongVersion:
      return "wrong_version";
    case SniStatus::kBadConnectionId:
      return "bad_connection_id";
    case SniStatus::kTooLarge:
      return "too_large";
    case SniStatus::kDecryptFailed:
      return "decrypt_failed";
    case SniStatus::kCount:
      break;
  }
  return "?";
}

namespace {

constexpr uint8_t kRecordHandshake = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint16_t kExtServerName = 0;
constexpr uint8_t kHostName = 0;
constexpr size_t kMaxRecord = 16384;  // TLSPlaintext.length limit (RFC 8446 §5.1)

// Copies a server name: host-name characters, labels of 1..63, at most 253, no trailing dot
// (RFC 6066 §3), lower-cased.
SniStatus copy_host(const uint8_t* p, size_t n, SniName* out) {
  if (n == 0 || n > 253) return SniStatus::kBadName;
  size_t label = 0;
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = p[i];
    if (c == '.') {
      if (label == 0) return SniStatus::kBadName;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                      (c >= 'A' && c <= 'Z');
      if (!ok || ++label > 63) return SniStatus::kBadName;
      if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c + 32);
    }
    out->s[i] = static_cast<char>(c);
  }
  if (label == 0) return SniStatus::kBadName;
  out->s[n] = '\0';
  out->len = static_cast<uint8_t>(n);
  return SniStatus::kFound;
}

// The server_name extension body (RFC 6066 §3).
SniStatus parse_server_name(const uint8_t* p, size_t n, SniName* out) {
  if (n < 2) return SniStatus::kMalformed;
  const size_t list = get16(p);
  if (list == 0 || list + 2 != n) return SniStatus::kMalformed;
  size_t pos = 2;
  bool found = false;
  while (pos < n) {
    if (pos + 3 > n) return SniStatus::kMalformed;
    const uint8_t type = p[pos];
    const size_t len = get16(p + pos + 1);
    pos += 3;
    if (pos + len > n) return SniStatus::kMalformed;
    if (type == kHostName) {
      if (found) return SniStatus::kMalformed;  // one name per type (RFC 6066 §3)
      const SniStatus st = copy_host(p + pos, len, out);
      if (st != SniStatus::kFound) return st;
      found = true;
    }
    pos += len;
  }
  return found ? SniStatus::kFound : SniStatus::kNoSni;
}

}  // namespace

namespace {

SniStatus parse_client_hello(const uint8_t* hs, size_t len, bool partial_ok, SniName* out) {
  if (len < 1) return SniStatus::kFragmented;
  if (hs[0] != kClientHello) return SniStatus::kNotClientHello;
  if (len < 4) return SniStatus::kFragmented;
  const size_t declared = (size_t{hs[1]} << 16) | (size_t{hs[2]} << 8) | hs[3];
  const size_t end = 4 + declared;
  if (end > len && !partial_ok) return SniStatus::kFragmented;
  const size_t avail = end < len ? end : len;
  size_t pos = 4;
  // Bytes [pos, pos+n) must exist in the message; missing only because the message goes on
  // elsewhere is kFragmented.
  auto need = [&](size_t n) {
    if (pos + n > end) return SniStatus::kMalformed;
    if (pos + n > avail) return SniStatus::kFragmented;
    return SniStatus::kFound;
  };
  SniStatus st;
  if ((st = need(2 + 32 + 1)) != SniStatus::kFound) return st;
  pos += 2 + 32;
  const size_t sid = hs[pos++];
  if (sid > 32) return SniStatus::kMalformed;
  if ((st = need(sid + 2)) != SniStatus::kFound) return st;
  pos += sid;
  const size_t suites = get16(hs + pos);
  pos += 2;
  if (suites < 2 || suites % 2 != 0) return SniStatus::kMalformed;
  if ((st = need(suites + 1)) != SniStatus::kFound) return st;
  pos += suites;
  const size_t comp = hs[pos++];
  if (comp < 1) return SniStatus::kMalformed;
  if ((st = need(comp)) != SniStatus::kFound) return st;
  pos += comp;
  if (pos == end) return SniStatus::kNoSni;  // no extensions at all (pre-TLS 1.2 style)
  if ((st = need(2)) != SniStatus::kFound) return st;
  const size_t ext_total = get16(hs + pos);
  pos += 2;
  if (pos + ext_total != end) return SniStatus::kMalformed;
  bool seen = false;
  while (pos < end) {
    if ((st = need(4)) != SniStatus::kFound) return st;
    const uint16_t type = get16(hs + pos);
    const size_t ext_len = get16(hs + pos + 2);
    pos += 4;
    if (type == kExtServerName) {
      if (seen) return SniStatus::kMalformed;  // an extension appears once (RFC 8446 §4.2)
      if ((st = need(ext_len)) != SniStatus::kFound) return st;
      st = parse_server_name(hs + pos, ext_len, out);
      if (st != SniStatus::kFound && st != SniStatus::kNoSni) return st;
      seen = true;
      if (st == SniStatus::kFound && end > avail) return st;  // the rest is not here to check
    } else if (pos + ext_len > end) {
      return SniStatus::kMalformed;
    } else if (pos + ext_len > avail) {
      return out->len ? SniStatus::kFound : SniStatus::kFragmented;
    }
    pos += ext_len;
  }
  return out->len ? SniStatus::kFound : SniStatus::kNoSni;
}

}  // namespace

SniStatus client_hello_sni(const uint8_t* hs, size_t len, bool partial_ok, SniName* out) noexcept {
  out->len = 0;
  out->s[0] = '\0';
  const SniStatus st = parse_client_hello(hs, len, partial_ok, out);
  if (st != SniStatus::kFound) {  // a name seen before the fault is not trusted
    out->len = 0;
    out->s[0] = '\0';
  }
  return st;
}

SniStatus tls_sni(const uint8_t* p, size_t len, SniName* out) noexcept {
  out->len = 0;
  out->s[0] = '\0';
  if (len < 1 || p[0] != kRecordHandshake) return SniStatus::kNotTls;
  if (len < 5) return SniStatus::kTruncated;
  if (p[1] != 3 || p[2] > 4) return SniStatus::kNotTls;
  const size_t rec = get16(p + 3);
  if (rec == 0 || rec > kMaxRecord) return SniStatus::kMalformed;
  if (5 + rec > len) return SniStatus::kTruncated;
  return client_hello_sni(p + 5, rec, false, out);
}

// ---- QUIC ----

struct SniReader::Crypto {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* hmac = nullptr;
  EVP_CIPHER* ecb_cipher = nullptr;
  EVP_CIPHER* gcm_cipher = nullptr;
  EVP_CIPHER_CTX* ecb = nullptr;
  EVP_CIPHER_CTX* gcm = nullptr;
  ~Crypto() {
    EVP_CIPHER_CTX_free(gcm);
    EVP_CIPHER_CTX_free(ecb);
    EVP_CIPHER_free(gcm_cipher);
    EVP_CIPHER_free(ecb_cipher);
    EVP_MAC_CTX_free(hmac);
    EVP_MAC_free(mac);
  }
};

SniReader::SniReader() : crypto_(std::make_unique<Crypto>()) {
  Crypto& c = *crypto_;
  c.mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  c.hmac = c.mac ? EVP_MAC_CTX_new(c.mac) : nullptr;
  c.ecb_cipher = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  c.gcm_cipher = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  c.ecb = EVP_CIPHER_CTX_new();
  c.gcm = EVP_CIPHER_CTX_new();
  if (!c.hmac || !c.ecb_cipher || !c.gcm_cipher || !c.ecb || !c.gcm)
    throw std::runtime_error("SniReader: OpenSSL lacks HMAC, AES-128-ECB or AES-128-GCM");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  // Bound once to their algorithms: per packet only the keys change.
  if (EVP_MAC_CTX_set_params(c.hmac, params) != 1 ||
      EVP_EncryptInit_ex2(c.ecb, c.ecb_cipher, nullptr, nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(c.gcm, c.gcm_cipher, nullptr, nullptr, nullptr) != 1)
    throw std::runtime_error("SniReader: cannot set up the OpenSSL contexts");
  EVP_CIPHER_CTX_set_padding(c.ecb, 0);
}

SniReader::~SniReader() = default;

uint64_t SniReader::tls_count(SniStatus s) const noexcept {
  return s < SniStatus::kCount ? read_counter(tls_counts_[static_cast<size_t>(s)]) : 0;
}
uint64_t SniReader::quic_count(SniStatus s) const noexcept {
  return s < SniStatus::kCount ? read_counter(quic_counts_[static_cast<size_t>(s)]) : 0;
}

SniStatus SniReader::tls_status(const uint8_t* payload, size_t len) noexcept {
  const SniStatus st = tls_sni(payload, len, &name_);
  bump(tls_counts_[static_cast<size_t>(st)]);
  return st;
}

std::optional<std::string_view> SniReader::tls(const uint8_t* payload, size_t len) noexcept {
  if (tls_status(payload, len) != SniStatus::kFound) return std::nullopt;
  return name_.view();
}

SniStatus SniReader::quic_status(const uint8_t* payload, size_t len) noexcept {
  name_.len = 0;
  name_.s[0] = '\0';
  const SniStatus st = quic_parse(payload, len);
  bump(quic_counts_[static_cast<size_t>(st)]);
  return st;
}

std::optional<std::string_view> SniReader::quic(const uint8_t* payload, size_t len) noexcept {
  if (quic_status(payload, len) != SniStatus::kFound) return std::nullopt;
  return name_.view();
}

bool SniReader::hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* const* parts,
                            const size_t* part_lens, unsigned n_parts, uint8_t out[32]) noexcept {
  EVP_MAC_CTX* h = crypto_->hmac;
  if (EVP_MAC_init(h, key, key_len, nullptr) != 1) return false;
  for (unsigned i = 0; i < n_parts; ++i)
    if (EVP_MAC_update(h, parts[i], part_lens[i]) != 1) return false;
  size_t n = 0;
  return EVP_MAC_final(h, out, &n, 32) == 1 && n == 32;
}

// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, for outputs of at most one block.
bool SniReader::expand_label(const uint8_t secret[32], std::string_view label, uint8_t* out,
                             size_t out_len) noexcept {
  uint8_t info[2 + 1 + 6 + 32 + 1 + 1];
  const size_t full = 6 + label.size();
  if (out_len > 32 || full > 6 + 32) return false;
  size_t n = 0;
  info[n++] = static_cast<uint8_t>(out_len >> 8);
  info[n++] = static_cast<uint8_t>(out_len);
  info[n++] = static_cast<uint8_t>(full);
  std::memcpy(info + n, "tls13 ", 6);
  n += 6;
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // context length
  info[n++] = 1;  // T(1) counter
  const uint8_t* parts[] = {info};
  const size_t lens[] = {n};
  uint8_t t[32];
  if (!hmac_sha256(secret, 32, parts, lens, 1, t)) return false;
  std::memcpy(out, t, out_len);
  return true;
}

bool SniReader::derive_initial_keys(const uint8_t* dcid, size_t dcid_len,
                                    QuicInitialKeys* out) noexcept {
  static constexpr uint8_t kSaltV1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34,
                                          0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                                          0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
  uint8_t initial[32];
  const uint8_t* parts[] = {dcid};
  const size_t lens[] = {dcid_len};
  // HKDF-Extract(salt, DCID) is HMAC(salt, DCID).
  return hmac_sha256(kSaltV1, sizeof kSaltV1, parts, lens, 1, initial) &&
         expand_label(initial, "client in", out->secret, 32) &&
         expand_label(out->secret, "quic key", out->key, 16) &&
         expand_label(out->secret, "quic iv", out->iv, 12) &&
         expand_label(out->secret, "quic hp", out->hp, 16);
}

namespace {

// A QUIC variable-length integer (RFC 9000 §16); false when it runs past `end`.
bool varint(const uint8_t* p, size_t end, size_t* pos, uint64_t* v) {
  if (*pos >= end) return false;
  const size_t n = size_t{1} << (p[*pos] >> 6);
  if (*pos + n > end) return false;
  uint64_t x = p[*pos] & 0x3f;
  for (size_t i = 1; i < n; ++i) x = (x << 8) | p[*pos + i];
  *pos += n;
  *v = x;
  return true;
}

}  // namespace

// The parts of a client Initial's long header (RFC 9000 §17.2.2) that decryption needs.
struct SniReader::QuicHeader {
  const uint8_t* dcid = nullptr;
  size_t dcid_len = 0;
  size_t pn_offset = 0;  // where the (protected) packet number starts
  uint64_t length = 0;   // packet number + payload
};

namespace {

// Internal to the QUIC steps below: no verdict yet, go on.
constexpr SniStatus kGoOn = SniStatus::kCount;

}  // namespace

SniStatus SniReader::quic_header(const uint8_t* p, size_t len, QuicHeader* h) noexcept {
  if (len < 7 || (p[0] & 0x80) == 0) return SniStatus::kNotQuicInitial;
  const uint32_t version =
      (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
  if (version == 0) return SniStatus::kNotQuicInitial;  // version negotiation
  if (version != 1) return SniStatus::kWrongVersion;
  if (((p[0] >> 4) & 3) != 0) return SniStatus::kNotQuicInitial;  // 0-RTT, Handshake, Retry
  size_t pos = 5;
  h->dcid_len = p[pos++];
  if (h->dcid_len < 8 || h->dcid_len > 20) return SniStatus::kBadConnectionId;
  if (pos + h->dcid_len + 1 > len) return SniStatus::kTruncated;
  h->dcid = p + pos;
  pos += h->dcid_len;
  const size_t scid_len = p[pos++];
  if (scid_len > 20) return SniStatus::kMalformed;
  pos += scid_len;
  uint64_t token_len = 0;
  if (!varint(p, len, &pos, &token_len)) return SniStatus::kTruncated;
  if (token_len > len - pos) return SniStatus::kTruncated;
  pos += token_len;
  if (!varint(p, len, &pos, &h->length)) return SniStatus::kTruncated;
  h->pn_offset = pos;
  if (h->length > len - h->pn_offset) return SniStatus::kTruncated;
  if (h->length < 4 + 16) return SniStatus::kMalformed;  // room for the header-protection sample
  return kGoOn;
}

namespace {

// An ACK frame's fields after its type (RFC 9000 §19.3), ECN counts for type 0x03.
bool skip_ack(const uint8_t* f, size_t end, size_t* at, bool ecn) {
  uint64_t a = 0, b = 0, count = 0, d = 0;
  if (!varint(f, end, at, &a) || !varint(f, end, at, &b) || !varint(f, end, at, &count) ||
      !varint(f, end, at, &d))
    return false;
  if (count > end) return false;
  for (uint64_t i = 0; i < count; ++i)
    if (!varint(f, end, at, &a) || !varint(f, end, at, &b)) return false;
  if (ecn)
    for (int i = 0; i < 3; ++i)
      if (!varint(f, end, at, &a)) return false;
  return true;
}

}  // namespace

SniStatus SniReader::quic_parse(const uint8_t* p, size_t len) noexcept {
  QuicHeader h;
  SniStatus st = quic_header(p, len, &h);
  if (st != kGoOn) return st;
  size_t ct_len = 0, have = 0;
  st = quic_decrypt(p, h, &ct_len);
  if (st != kGoOn) return st;
  st = quic_crypto_stream(ct_len, &have);
  if (st != kGoOn) return st;
  return client_hello_sni(crypto_stream_, have, true, &name_);
}

SniStatus SniReader::quic_decrypt(const uint8_t* p, const QuicHeader& h, size_t* ct_len) noexcept {
  QuicInitialKeys keys;
  if (!derive_initial_keys(h.dcid, h.dcid_len, &keys)) return SniStatus::kDecryptFailed;

  // Header protection (RFC 9001 §5.4): the sample starts 4 bytes after the packet number.
  uint8_t mask[16];
  int outl = 0;
  Crypto& c = *crypto_;
  if (EVP_EncryptInit_ex2(c.ecb, nullptr, keys.hp, nullptr, nullptr) != 1 ||
      EVP_EncryptUpdate(c.ecb, mask, &outl, p + h.pn_offset + 4, 16) != 1 || outl != 16)
    return SniStatus::kDecryptFailed;
  const uint8_t first = p[0] ^ (mask[0] & 0x0f);
  const size_t pn_len = (first & 3u) + 1;
  uint8_t pn_bytes[4];
  uint64_t pn = 0;
  for (size_t i = 0; i < pn_len; ++i) {
    pn_bytes[i] = p[h.pn_offset + i] ^ mask[1 + i];
    pn = (pn << 8) | pn_bytes[i];
  }
  const size_t ct_start = h.pn_offset + pn_len;
  *ct_len = h.length - pn_len - 16;
  if (*ct_len > kMaxInitialPayload) return SniStatus::kTooLarge;
  uint8_t nonce[12];
  std::memcpy(nonce, keys.iv, 12);
  for (size_t i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<uint8_t>(pn >> (8 * i));

  // AEAD over the unprotected header (RFC 9001 §5.3), without copying it.
  int n = 0, fin = 0;
  uint8_t tag[16];
  std::memcpy(tag, p + ct_start + *ct_len, 16);
  if (EVP_DecryptInit_ex2(c.gcm, nullptr, keys.key, nonce, nullptr) != 1 ||
      EVP_DecryptUpdate(c.gcm, nullptr, &n, &first, 1) != 1 ||
      EVP_DecryptUpdate(c.gcm, nullptr, &n, p + 1, static_cast<int>(h.pn_offset - 1)) != 1 ||
      EVP_DecryptUpdate(c.gcm, nullptr, &n, pn_bytes, static_cast<int>(pn_len)) != 1 ||
      EVP_DecryptUpdate(c.gcm, plain_, &n, p + ct_start, static_cast<int>(*ct_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.gcm, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
      EVP_DecryptFinal_ex(c.gcm, plain_ + n, &fin) != 1)
    return SniStatus::kDecryptFailed;
  return kGoOn;
}

// Frames allowed in a client Initial (RFC 9000 §12.4): PADDING, PING, ACK, CRYPTO,
// CONNECTION_CLOSE. CRYPTO data is placed by offset (clients send it out of order).
SniStatus SniReader::quic_crypto_stream(size_t ct_len, size_t* have) noexcept {
  struct Range {
    size_t lo, hi;
  } ranges[kMaxCryptoFrames];
  unsigned n_ranges = 0;
  size_t at = 0;
  while (at < ct_len) {
    uint64_t type = 0, a = 0, b = 0, d = 0;
    if (!varint(plain_, ct_len, &at, &type)) return SniStatus::kMalformed;
    switch (type) {
      case 0x00:
      case 0x01:
        break;
      case 0x02:
      case 0x03:
        if (!skip_ack(plain_, ct_len, &at, type == 0x03)) return SniStatus::kMalformed;
        break;
      case 0x06:
        if (!varint(plain_, ct_len, &at, &a) || !varint(plain_, ct_len, &at, &b) || b > ct_len - at)
          return SniStatus::kMalformed;
        if (a < kMaxCrypto && n_ranges < kMaxCryptoFrames) {
          const size_t take = b < kMaxCrypto - a ? b : kMaxCrypto - a;
          std::memcpy(crypto_stream_ + a, plain_ + at, take);
          ranges[n_ranges++] = Range{a, a + take};
        }
        at += b;
        break;
      case 0x1c:
        if (!varint(plain_, ct_len, &at, &a) || !varint(plain_, ct_len, &at, &b) ||
            !varint(plain_, ct_len, &at, &d) || d > ct_len - at)
          return SniStatus::kMalformed;
        at += d;
        break;
      default:
        return SniStatus::kMalformed;
    }
  }
  // The contiguous prefix of the stream from offset 0.
  *have = 0;
  for (bool grew = true; grew;) {
    grew = false;
    for (unsigned i = 0; i < n_ranges; ++i)
      if (ranges[i].lo <= *have && ranges[i].hi > *have) {
        *have = ranges[i].hi;
        grew = true;
      }
  }
  if (*have == 0) return n_ranges ? SniStatus::kFragmented : SniStatus::kNoSni;
  return kGoOn;
}

}  // namespace traboule::dp

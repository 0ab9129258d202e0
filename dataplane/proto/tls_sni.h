// SPDX-License-Identifier: Apache-2.0
// The server name a client asks for in the first packet of a connection: the SNI of a TLS
// ClientHello (first TCP payload) or of the ClientHello inside a QUIC v1 client Initial, after
// removing header protection and decrypting it with the keys every observer can derive from the
// destination connection id (RFC 9001 §5). Anything malformed or incomplete gives no name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace traboule::dp {

enum class SniStatus : uint8_t {
  kFound,
  kNoSni,            // a well-formed ClientHello without a host_name entry
  kNotTls,           // not a TLS handshake record
  kNotClientHello,   // a handshake message of another type
  kTruncated,        // the record (or QUIC packet) goes on past the bytes we have
  kFragmented,       // the ClientHello continues in another record (or QUIC packet)
  kMalformed,        // a length that does not add up, empty or repeated server_name, bad frame
  kBadName,          // the host name is not a host name (characters, empty label, > 253)
  kNotQuicInitial,   // a short header, version negotiation, or another long-header type
  kWrongVersion,     // a QUIC version other than 1 (its Initial keys are not the v1 ones)
  kBadConnectionId,  // destination connection id shorter than 8 bytes (RFC 9000 §7.2) or > 20
  kTooLarge,         // more Initial payload than the decrypt buffer holds
  kDecryptFailed,    // AEAD authentication failed (tampered, or not an Initial at all)
  kCount
};
const char* sni_status_name(SniStatus s) noexcept;

struct SniName {
  char s[256] = {};  // lower case, NUL-terminated
  uint8_t len = 0;
  std::string_view view() const noexcept { return {s, len}; }
};

// A TLS ClientHello at the start of `payload` (one record; a ClientHello split over records
// is kFragmented).
SniStatus tls_sni(const uint8_t* payload, size_t len, SniName* out) noexcept;
// The handshake message at `hs` (its 4-byte header first). With `partial_ok`, a message that
// continues past `len` is read as far as it goes (QUIC splits ClientHellos over packets).
SniStatus client_hello_sni(const uint8_t* hs, size_t len, bool partial_ok, SniName* out) noexcept;

struct QuicInitialKeys {
  uint8_t secret[32];  // client_initial_secret
  uint8_t key[16];
  uint8_t iv[12];
  uint8_t hp[16];
};

// Per worker: holds the OpenSSL contexts (made once here, re-keyed per packet) and counters.
// Construction throws std::runtime_error when OpenSSL lacks AES-128-GCM/ECB or HMAC.
class SniReader {
 public:
  static constexpr size_t kMaxInitialPayload = 4096;  // decrypted bytes of one Initial
  static constexpr size_t kMaxCrypto = 4096;          // reassembled CRYPTO stream, from 0
  static constexpr unsigned kMaxCryptoFrames = 32;

  SniReader();
  ~SniReader();
  SniReader(const SniReader&) = delete;
  SniReader& operator=(const SniReader&) = delete;

  // The SNI of a TLS ClientHello / a QUIC v1 client Initial (a UDP payload; coalesced packets
  // after the first are ignored), or nullopt. The view is valid until the next call.
  std::optional<std::string_view> tls(const uint8_t* payload, size_t len) noexcept;
  std::optional<std::string_view> quic(const uint8_t* payload, size_t len) noexcept;

  // The same, with the reason (counted like the calls above).
  SniStatus tls_status(const uint8_t* payload, size_t len) noexcept;
  SniStatus quic_status(const uint8_t* payload, size_t len) noexcept;
  std::string_view name() const noexcept { return name_.view(); }

  // Keys of the client Initial for this destination connection id; false on an OpenSSL error.
  bool derive_initial_keys(const uint8_t* dcid, size_t dcid_len, QuicInitialKeys* out) noexcept;

  uint64_t tls_count(SniStatus s) const noexcept;
  uint64_t quic_count(SniStatus s) const noexcept;

 private:
  struct Crypto;
  struct QuicHeader;
  static SniStatus quic_header(const uint8_t* p, size_t len, QuicHeader* h) noexcept;
  SniStatus quic_parse(const uint8_t* p, size_t len) noexcept;
  // The Initial's payload decrypted into plain_ (ct_len bytes).
  SniStatus quic_decrypt(const uint8_t* p, const QuicHeader& h, size_t* ct_len) noexcept;
  // The CRYPTO frames of plain_ placed in crypto_stream_: the contiguous prefix's length.
  SniStatus quic_crypto_stream(size_t ct_len, size_t* have) noexcept;
  bool hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* const* parts,
                   const size_t* part_lens, unsigned n_parts, uint8_t out[32]) noexcept;
  bool expand_label(const uint8_t secret[32], std::string_view label, uint8_t* out,
                    size_t out_len) noexcept;

  std::unique_ptr<Crypto> crypto_;
  SniName name_;
  uint64_t tls_counts_[static_cast<size_t>(SniStatus::kCount)] = {};
  uint64_t quic_counts_[static_cast<size_t>(SniStatus::kCount)] = {};
  uint8_t plain_[kMaxInitialPayload];
  uint8_t crypto_stream_[kMaxCrypto];
};

}  // namespace traboule::dp

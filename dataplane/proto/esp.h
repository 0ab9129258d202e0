// SPDX-License-Identifier: Apache-2.0
// ESP (RFC 4303) with AES-256-GCM (RFC 4106) and 64-bit extended sequence numbers, as the
// overlay carries it inside UDP (RFC 3948): the wire format, the trailer, the AAD and nonce, and
// the anti-replay window. Plain C++ on byte spans; the cipher itself runs in dataplane/crypto
// (DPDK's cryptodev). docs/security.md "ESP on the wire" has the picture.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

namespace traboule::dp {

inline constexpr unsigned kEspHdrLen = 8;  // SPI, sequence number (low 32 bits)
inline constexpr unsigned kEspIvLen = 8;   // RFC 4106 §3.1: explicit IV, here the 64-bit seq
inline constexpr unsigned kEspPrefixLen = kEspHdrLen + kEspIvLen;
inline constexpr unsigned kEspIcvLen = 16;  // the GCM tag, full length
inline constexpr unsigned kEspKeyLen = 32;  // AES-256
inline constexpr unsigned kEspSaltLen = 4;  // RFC 4106 §4: the nonce's implicit part
inline constexpr unsigned kEspNonceLen = kEspSaltLen + kEspIvLen;
inline constexpr unsigned kEspAadLen = 12;     // RFC 4106 §5 with ESN: SPI, seq high, seq low
inline constexpr unsigned kEspTrailerMin = 2;  // pad length, next header
// The smallest ESP packet: header, IV, a 4-byte aligned cipher text holding at least the
// trailer, and the tag.
inline constexpr unsigned kEspMinLen = kEspPrefixLen + 4 + kEspIcvLen;
// SPIs 1..255 are reserved by IANA and 0 is "no SA" (RFC 4303 §2.1); UDP-encapsulated ESP
// starts with a non-zero SPI where an IKE packet has its 4-byte zero marker (RFC 3948 §2.2).
inline constexpr uint32_t kEspMinSpi = 256;
// The ESP payload of an overlay packet is the overlay header and the inner packet. Its next
// header is 253, the value RFC 3692 keeps for experiments, so no analyser mistakes it for IP.
inline constexpr uint8_t kEspNextOverlay = 253;

// Padding that makes payload + trailer a multiple of 4 (RFC 4303 §2.4), GCM needs no more.
constexpr unsigned esp_pad_len(unsigned payload_len) noexcept {
  return (4 - (payload_len + kEspTrailerMin) % 4) % 4;
}
// The most an ESP-protected payload grows by (3 pad bytes), for MTU and MSS budgets.
inline constexpr unsigned kEspMaxOverhead = kEspPrefixLen + 3 + kEspTrailerMin + kEspIcvLen;
// Bytes an ESP-protected payload grows by: prefix, padding, trailer, tag.
constexpr unsigned esp_overhead(unsigned payload_len) noexcept {
  return kEspPrefixLen + esp_pad_len(payload_len) + kEspTrailerMin + kEspIcvLen;
}

// Writes the header and IV at p (SPI, seq low, IV = the 64-bit seq, unique per key).
void write_esp_prefix(uint8_t* p, uint32_t spi, uint64_t seq) noexcept;
// Writes pad bytes 1, 2, 3..., the pad length and the next header at p (after the payload);
// returns the bytes written.
unsigned write_esp_trailer(uint8_t* p, unsigned pad, uint8_t next_header) noexcept;
// RFC 4106 §5: the AAD with ESN is SPI, seq high, seq low (the high half is not on the wire).
std::array<uint8_t, kEspAadLen> esp_aad(uint32_t spi, uint64_t seq) noexcept;
// RFC 4106 §4: salt then the packet's explicit IV.
std::array<uint8_t, kEspNonceLen> esp_nonce(uint32_t salt, const uint8_t* iv) noexcept;

struct EspTrailer {
  unsigned pad = 0;  // pad bytes before the trailer
  uint8_t next_header = 0;
};
enum class EspTrailerError : uint8_t { kOk, kPadTooLong, kBadPadBytes };
// Reads the trailer at the end of a decrypted cipher text of len bytes (len >= 2): the pad
// length must fit and the pad bytes must be 1, 2, 3... (RFC 4303 §2.4, checked since the
// sender is ours).
EspTrailerError read_esp_trailer(const uint8_t* plain, unsigned len, EspTrailer& out) noexcept;

// The receiver's anti-replay window with extended sequence numbers (RFC 4303 §3.4.3 and
// Appendix A2): `infer` says which 64-bit number a packet's low 32 bits stand for and whether it
// may be new, before the tag is checked; `accept` marks it seen once the tag is good. kBits is a
// multiple of 64 and at least 1024 (the floor).
class ReplayWindow {
 public:
  static constexpr unsigned kBits = 2048;
  enum class Verdict : uint8_t { kNew, kDuplicate, kTooOld };
  struct Check {
    Verdict verdict;
    uint64_t seq;  // the inferred 64-bit number (valid for kNew)
    // kNew only because the low half is below the window, read as the next 2^32 (RFC 4303 A2.2).
    // Until the sender really wraps, that is an old packet replayed: its tag will fail, and the
    // receiver names the drop `too_old` rather than `auth_failed`.
    bool ahead = false;
  };
  Check infer(uint32_t seq_low) const noexcept;
  void accept(uint64_t seq) noexcept;
  uint64_t highest() const noexcept { return top_; }

 private:
  bool seen(uint64_t seq) const noexcept;
  void mark(uint64_t seq) noexcept;
  void clear(uint64_t seq) noexcept;

  uint64_t top_ = 0;  // highest accepted, 0: none yet (the sender starts at 1)
  std::array<uint64_t, kBits / 64> bits_{};
};

}  // namespace traboule::dp

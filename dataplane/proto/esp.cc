// SPDX-License-Identifier: Apache-2.0
#include "dataplane/proto/esp.h"

#include "dataplane/proto/bytes.h"

namespace traboule::dp {

void write_esp_prefix(uint8_t* p, uint32_t spi, uint64_t seq) noexcept {
  put32(p, spi);
  put32(p + 4, static_cast<uint32_t>(seq));
  put64(p + kEspHdrLen, seq);
}

unsigned write_esp_trailer(uint8_t* p, unsigned pad, uint8_t next_header) noexcept {
  for (unsigned i = 0; i < pad; ++i) p[i] = static_cast<uint8_t>(i + 1);
  p[pad] = static_cast<uint8_t>(pad);
  p[pad + 1] = next_header;
  return pad + kEspTrailerMin;
}

std::array<uint8_t, kEspAadLen> esp_aad(uint32_t spi, uint64_t seq) noexcept {
  std::array<uint8_t, kEspAadLen> aad{};
  put32(aad.data(), spi);
  put64(aad.data() + 4, seq);
  return aad;
}

std::array<uint8_t, kEspNonceLen> esp_nonce(uint32_t salt, const uint8_t* iv) noexcept {
  std::array<uint8_t, kEspNonceLen> nonce{};
  put32(nonce.data(), salt);
  for (unsigned i = 0; i < kEspIvLen; ++i) nonce[kEspSaltLen + i] = iv[i];
  return nonce;
}

EspTrailerError read_esp_trailer(const uint8_t* plain, unsigned len, EspTrailer& out) noexcept {
  const unsigned pad = plain[len - 2];
  if (pad + kEspTrailerMin > len) return EspTrailerError::kPadTooLong;
  const uint8_t* pad_bytes = plain + len - kEspTrailerMin - pad;
  for (unsigned i = 0; i < pad; ++i) {
    if (pad_bytes[i] != i + 1) return EspTrailerError::kBadPadBytes;
  }
  out.pad = pad;
  out.next_header = plain[len - 1];
  return EspTrailerError::kOk;
}

// RFC 4303 Appendix A2.2: the high half is the top's, or one more (the sender wrapped past the
// top), or one less (the window straddles a wrap and the packet is from before it).
ReplayWindow::Check ReplayWindow::infer(uint32_t seq_low) const noexcept {
  constexpr uint64_t w = kBits;
  const uint32_t top_low = static_cast<uint32_t>(top_);
  const uint64_t top_high = top_ >> 32;
  const uint32_t bottom_low = static_cast<uint32_t>(top_low - (w - 1));  // mod 2^32
  uint64_t high = top_high;
  bool ahead = false;
  if (top_low >= w - 1) {
    if (seq_low < bottom_low) {
      ++high;
      ahead = true;
    }
  } else if (seq_low >= bottom_low) {
    if (top_high == 0) return {Verdict::kTooOld, 0};  // before the first packet
    --high;
  }
  const uint64_t seq = high << 32 | seq_low;
  if (seq == 0) return {Verdict::kTooOld, 0};  // never sent: the sender starts at 1
  if (seq > top_) return {Verdict::kNew, seq, ahead};
  if (top_ - seq >= w) return {Verdict::kTooOld, seq};
  return {seen(seq) ? Verdict::kDuplicate : Verdict::kNew, seq};
}

void ReplayWindow::accept(uint64_t seq) noexcept {
  if (seq > top_) {
    if (seq - top_ >= kBits) {
      bits_.fill(0);
    } else {
      for (uint64_t s = top_ + 1; s < seq; ++s) clear(s);
    }
    top_ = seq;
  }
  mark(seq);
}

bool ReplayWindow::seen(uint64_t seq) const noexcept {
  const unsigned i = static_cast<unsigned>(seq % kBits);
  return (bits_[i / 64] >> (i % 64) & 1) != 0;
}
void ReplayWindow::mark(uint64_t seq) noexcept {
  const unsigned i = static_cast<unsigned>(seq % kBits);
  bits_[i / 64] |= uint64_t{1} << (i % 64);
}
void ReplayWindow::clear(uint64_t seq) noexcept {
  const unsigned i = static_cast<unsigned>(seq % kBits);
  bits_[i / 64] &= ~(uint64_t{1} << (i % 64));
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// ESP with AES-256-GCM and ESN (docs/security.md "ESP on the wire"): the anti-replay window's
// inference table (RFC 4303 Appendix A2), the SAs on the real cryptodev (crypto_aesni_gcm,
// CPU crypto) checked against OpenSSL as an independent implementation, and hostile rows: a
// flipped tag, cipher text, IV or sequence bit, a replay, a forged far-future number that must
// not move the window, short and misaligned packets, shared and chained mbufs.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/crypto/esp_sa.h"
#include "dataplane/proto/bytes.h"
#include "dataplane/proto/esp.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/pcap_file.h"

namespace traboule::dp {
namespace {

using traboule::testing::pool_in_use;
using traboule::testing::test_pool;
using Verdict = ReplayWindow::Verdict;

// ---- the window -----------------------------------------------------------------------------

struct WindowRow {
  const char* name;
  std::vector<uint64_t> accepted;  // in this order
  uint32_t seq_low;
  Verdict verdict;
  uint64_t seq;  // expected inference (checked for kNew and kDuplicate)
  bool ahead = false;
};

TEST(EspReplayWindow, InfersAndJudgesLikeRfc4303AppendixA2) {
  constexpr uint64_t w = ReplayWindow::kBits;
  const uint64_t wrap = uint64_t{1} << 32;
  const std::vector<WindowRow> rows = {
      {"first packet", {}, 1, Verdict::kNew, 1},
      {"hostile: zero is never sent", {}, 0, Verdict::kTooOld, 0},
      {"hostile: before the first packet", {}, 0xffffffff, Verdict::kTooOld, 0},
      {"next in order", {1, 2, 3}, 4, Verdict::kNew, 4},
      {"hostile: replay of the last", {1, 2, 3}, 3, Verdict::kDuplicate, 3},
      // Below the window, the low half reads as the next 2^32 (RFC 4303 A2.2): "ahead", and
      // the tag (whose AAD has the high half) will refuse it as too old.
      {"hostile: below the window after a jump", {1, 2, 3, 4000}, 2, Verdict::kNew, wrap + 2, true},
      {"late but unseen, inside", {1, 3}, 2, Verdict::kNew, 2},
      {"far ahead", {1}, 100000, Verdict::kNew, 100000},
      {"oldest the window holds", {5000}, 5000 - (w - 1), Verdict::kNew, 5000 - (w - 1)},
      {"hostile: just below the window", {5000}, 5000 - w, Verdict::kNew, wrap + 5000 - w, true},
      {"hostile: below a window that starts at 1", {1, 2, 3}, 0xfffffff0, Verdict::kTooOld, 0},
      {"far ahead inside the first 2^32", {1, 2, 3}, 0xfffff000, Verdict::kNew, 0xfffff000},
      {"hostile: replay at the window's edge",
       {5000, 5000 - (w - 1)},
       5000 - (w - 1),
       Verdict::kDuplicate,
       5000 - (w - 1)},
      {"jump clears old marks", {10, 10 + 2 * w}, 10 + w + 5, Verdict::kNew, 10 + w + 5},
      {"low half wraps: the next subspace", {0xfffffff0}, 5, Verdict::kNew, wrap + 5, true},
      {"window straddles the wrap: late from before",
       {wrap + 5},
       0xfffffff0,
       Verdict::kNew,
       0xfffffff0},
      {"hostile: replay from before the wrap",
       {0xfffffff0, wrap + 5},
       0xfffffff0,
       Verdict::kDuplicate,
       0xfffffff0},
      {"straddling, far from the window: taken as the future (the tag will judge)",
       {wrap + 5},
       0xfffff000,
       Verdict::kNew,
       wrap + 0xfffff000},
      {"second wrap", {2 * wrap - 3}, 2, Verdict::kNew, 2 * wrap + 2, true},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    ReplayWindow win;
    for (uint64_t s : row.accepted) win.accept(s);
    const ReplayWindow::Check c = win.infer(row.seq_low);
    EXPECT_EQ(c.verdict, row.verdict);
    if (row.verdict != Verdict::kTooOld) {
      EXPECT_EQ(c.seq, row.seq);
      EXPECT_EQ(c.ahead, row.ahead);
    }
  }
}

TEST(EspReplayWindow, EveryNumberOnceInAnyOrderInsideTheWindow) {
  ReplayWindow win;
  // 1..2048 in a scrambled order (a stride coprime to 2048), then all of them again.
  for (uint64_t i = 0; i < ReplayWindow::kBits; ++i) {
    const uint64_t s = (i * 1237) % ReplayWindow::kBits + 1;
    const auto c = win.infer(static_cast<uint32_t>(s));
    ASSERT_EQ(c.verdict, Verdict::kNew) << s;
    win.accept(c.seq);
  }
  for (uint64_t s = 1; s <= ReplayWindow::kBits; ++s) {
    EXPECT_EQ(win.infer(static_cast<uint32_t>(s)).verdict, Verdict::kDuplicate) << s;
  }
}

// ---- the trailer ----------------------------------------------------------------------------

TEST(EspTrailer, PaddingRowsIncludingHostileOnes) {
  for (unsigned len = 0; len < 12; ++len) {
    EXPECT_EQ((len + esp_pad_len(len) + kEspTrailerMin) % 4, 0U) << len;
    EXPECT_LT(esp_pad_len(len), 4U);
  }
  struct Row {
    const char* name;
    std::vector<uint8_t> tail;
    EspTrailerError want;
  };
  const std::vector<Row> rows = {
      {"no padding", {0xaa, 0xbb, 0, 253}, EspTrailerError::kOk},
      {"three pad bytes", {0xaa, 1, 2, 3, 3, 253}, EspTrailerError::kOk},
      {"hostile: pad bytes not 1,2,3", {0xaa, 1, 9, 3, 3, 253}, EspTrailerError::kBadPadBytes},
      {"hostile: pad longer than the text", {1, 2, 9, 253}, EspTrailerError::kPadTooLong},
      {"hostile: 255 pad in 2 bytes", {255, 4}, EspTrailerError::kPadTooLong},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EspTrailer t;
    EXPECT_EQ(read_esp_trailer(row.tail.data(), static_cast<unsigned>(row.tail.size()), t),
              row.want);
  }
}

TEST(EspKey, MovedFromAndWipedKeysHoldZeros) {
  EspKey a;
  a.key.fill(0x5c);
  a.salt = 0xdeadbeef;
  EspKey b = std::move(a);
  EXPECT_EQ(b.key[7], 0x5c);
  for (uint8_t byte : a.key) EXPECT_EQ(byte, 0);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.salt, 0U);                          // NOLINT(bugprone-use-after-move)
  b.wipe();
  for (uint8_t byte : b.key) EXPECT_EQ(byte, 0);
}

// ---- SAs on the cryptodev -------------------------------------------------------------------

EspKey make_key(uint8_t seed) {
  EspKey k;
  for (unsigned i = 0; i < kEspKeyLen; ++i) k.key[i] = static_cast<uint8_t>(seed + 7 * i);
  k.salt = 0x01020304U * seed;
  return k;
}

class EspSa : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    dev_ = CryptoDevice::open("crypto_aesni_gcm_tbtest", 64, error).release();
    ASSERT_NE(dev_, nullptr) << error;
  }
  static void TearDownTestSuite() {
    delete dev_;
    dev_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(dev_, nullptr);
    in_use_ = pool_in_use();
  }
  void TearDown() override { EXPECT_EQ(pool_in_use(), in_use_); }

  static std::unique_ptr<GcmSession> session(const EspKey& k, bool encrypt) {
    std::string error;
    auto s = GcmSession::make(*dev_, k, encrypt, error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }
  static EspOutbound outbound(uint32_t spi, const EspKey& k) {
    return EspOutbound(spi, k.salt, session(k, true));
  }
  static EspInbound inbound(uint32_t spi, const EspKey& k) {
    return EspInbound(spi, k.salt, session(k, false));
  }
  static rte_mbuf* packet(const std::vector<uint8_t>& payload) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    EXPECT_NE(m, nullptr);
    auto* p = rte_pktmbuf_append(m, static_cast<uint16_t>(payload.size()));
    std::memcpy(p, payload.data(), payload.size());
    return m;
  }
  static std::vector<uint8_t> bytes(const rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return {p, p + rte_pktmbuf_data_len(m)};
  }
  static std::vector<uint8_t> payload_of(size_t len, uint8_t seed) {
    std::vector<uint8_t> v(len);
    for (size_t i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(seed + i * 13);
    return v;
  }

  static CryptoDevice* dev_;
  unsigned in_use_ = 0;
};
CryptoDevice* EspSa::dev_ = nullptr;

TEST_F(EspSa, DeviceIsTheIpsecMbDriverWithCpuCrypto) {
  EXPECT_NE(dev_->driver().find("aesni_gcm"), std::string::npos) << dev_->driver();
}

TEST_F(EspSa, HostileDeviceNamesAreRefusedWithAReason) {
  for (const char* name : {"crypto_no_such_driver0", "net_null_not_crypto", ""}) {
    std::string error;
    EXPECT_EQ(CryptoDevice::open(name, 8, error), nullptr) << name;
    EXPECT_FALSE(error.empty()) << name;
  }
}

TEST_F(EspSa, RoundTripsEveryLengthAndGrowsByTheOverhead) {
  const EspKey k = make_key(3);
  EspOutbound out = outbound(0x1000, k);
  EspInbound in = inbound(0x1000, k);
  uint64_t seq = 0;
  for (size_t len : {1, 2, 3, 4, 5, 44, 64, 1400, 1452}) {
    SCOPED_TRACE(len);
    const auto payload = payload_of(len, static_cast<uint8_t>(len));
    rte_mbuf* m = packet(payload);
    ASSERT_EQ(out.protect(m, kEspNextOverlay), EspOutbound::Result::kOk);
    ++seq;
    const auto wire = bytes(m);
    EXPECT_EQ(wire.size(), len + esp_overhead(static_cast<unsigned>(len)));
    EXPECT_EQ((wire.size() - kEspPrefixLen - kEspIcvLen) % 4, 0U);
    EXPECT_EQ(get32(wire.data()), 0x1000U);
    EXPECT_EQ(get32(wire.data() + 4), seq);
    EXPECT_EQ(get64(wire.data() + 8), seq);  // IV = the 64-bit number
    if (len >= 16) {                         // the text is not on the wire
      EXPECT_EQ(std::search(wire.begin(), wire.end(), payload.begin(), payload.begin() + 16),
                wire.end());
    }
    uint8_t nh = 0;
    ASSERT_EQ(in.open(m, nh), EspInbound::Result::kOk);
    EXPECT_EQ(nh, kEspNextOverlay);
    EXPECT_EQ(bytes(m), payload);
    rte_pktmbuf_free(m);
  }
  EXPECT_EQ(out.counters().packets, seq);
  EXPECT_EQ(in.counters().packets, seq);
  EXPECT_EQ(in.counters().bytes, out.counters().bytes);
}

// The cipher text and tag equal what OpenSSL computes from RFC 4106's nonce and ESN AAD.
std::vector<uint8_t> openssl_seal(const EspKey& k, uint32_t spi, uint64_t seq,
                                  const std::vector<uint8_t>& plain) {
  std::vector<uint8_t> iv(kEspIvLen);
  put64(iv.data(), seq);
  const auto nonce = esp_nonce(k.salt, iv.data());
  const auto aad = esp_aad(spi, seq);
  std::vector<uint8_t> out(plain.size() + kEspIcvLen);
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int n = 0;
  int ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  ok &= EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, kEspNonceLen, nullptr);
  ok &= EVP_EncryptInit_ex(c, nullptr, nullptr, k.key.data(), nonce.data());
  ok &= EVP_EncryptUpdate(c, nullptr, &n, aad.data(), kEspAadLen);
  ok &= EVP_EncryptUpdate(c, out.data(), &n, plain.data(), static_cast<int>(plain.size()));
  ok &= EVP_EncryptFinal_ex(c, out.data() + n, &n);
  ok &= EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kEspIcvLen, out.data() + plain.size());
  EVP_CIPHER_CTX_free(c);
  EXPECT_EQ(ok, 1);
  return out;
}

TEST_F(EspSa, WireBytesMatchOpenSslIncludingTheHighHalfInTheAad) {
  const EspKey k = make_key(9);
  EspOutbound out = outbound(0xabcdef01, k);
  for (uint64_t start : {uint64_t{0}, uint64_t{0x00000004fffffffe}}) {
    out.set_sequence_for_test(start);
    const auto payload = payload_of(45, 1);  // 45 + 1 pad + 2 = 48
    rte_mbuf* m = packet(payload);
    ASSERT_EQ(out.protect(m, kEspNextOverlay), EspOutbound::Result::kOk);
    auto plain = payload;
    for (uint8_t b : {1, 1, 253}) plain.push_back(b);  // pad 1, pad length 1, next header
    const auto want = openssl_seal(k, 0xabcdef01, start + 1, plain);
    const auto wire = bytes(m);
    EXPECT_EQ(std::vector<uint8_t>(wire.begin() + kEspPrefixLen, wire.end()), want) << start;
    rte_pktmbuf_free(m);
  }
}

struct TamperRow {
  const char* name;
  size_t offset;  // from the start of the ESP packet; SIZE_MAX - i: from the end
  uint8_t mask;
  EspInbound::Result want;
};

TEST_F(EspSa, HostilePacketsAreNamedDropsAndNeverMoveTheWindow) {
  const EspKey k = make_key(5);
  const std::vector<TamperRow> rows = {
      {"flipped tag bit", SIZE_MAX - 0, 0x01, EspInbound::Result::kAuthFailed},
      {"flipped cipher text bit", kEspPrefixLen + 3, 0x80, EspInbound::Result::kAuthFailed},
      {"flipped IV bit", kEspHdrLen + 7, 0x01, EspInbound::Result::kAuthFailed},
      {"sequence number moved ahead", 4, 0x10, EspInbound::Result::kAuthFailed},
      {"untouched", 0, 0, EspInbound::Result::kOk},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EspOutbound out = outbound(0x2000, k);
    EspInbound in = inbound(0x2000, k);
    rte_mbuf* m = packet(payload_of(100, 7));
    ASSERT_EQ(out.protect(m, kEspNextOverlay), EspOutbound::Result::kOk);
    auto* p = rte_pktmbuf_mtod(m, uint8_t*);
    const size_t len = rte_pktmbuf_data_len(m);
    const size_t at = row.offset >= SIZE_MAX - 16 ? len - 1 - (SIZE_MAX - row.offset) : row.offset;
    p[at] ^= row.mask;
    uint8_t nh = 0;
    EXPECT_EQ(in.open(m, nh), row.want);
    EXPECT_EQ(in.window().highest(), row.want == EspInbound::Result::kOk ? 1U : 0U);
    rte_pktmbuf_free(m);
  }
}

TEST_F(EspSa, ReplaysAndAForgedFarFutureNumberAreRefused) {
  const EspKey k = make_key(6);
  EspOutbound out = outbound(0x3000, k);
  EspInbound in = inbound(0x3000, k);
  rte_mbuf* first = packet(payload_of(60, 1));
  ASSERT_EQ(out.protect(first, kEspNextOverlay), EspOutbound::Result::kOk);
  const auto captured = bytes(first);
  uint8_t nh = 0;
  ASSERT_EQ(in.open(first, nh), EspInbound::Result::kOk);
  rte_pktmbuf_free(first);

  rte_mbuf* replay = packet(captured);
  EXPECT_EQ(in.open(replay, nh), EspInbound::Result::kReplayed);
  rte_pktmbuf_free(replay);

  // A forger sets the sequence number a million ahead: the tag fails and the window stays.
  auto forged_bytes = captured;
  put32(forged_bytes.data() + 4, 1000000);
  rte_mbuf* forged = packet(forged_bytes);
  EXPECT_EQ(in.open(forged, nh), EspInbound::Result::kAuthFailed);
  rte_pktmbuf_free(forged);
  EXPECT_EQ(in.window().highest(), 1U);

  rte_mbuf* next = packet(payload_of(60, 2));
  ASSERT_EQ(out.protect(next, kEspNextOverlay), EspOutbound::Result::kOk);
  EXPECT_EQ(in.open(next, nh), EspInbound::Result::kOk);
  rte_pktmbuf_free(next);
  // 3000 packets later the first one is below the window: replayed again, it is too old.
  for (int i = 0; i < 3000; ++i) {
    rte_mbuf* m = packet(payload_of(20, 3));
    ASSERT_EQ(out.protect(m, kEspNextOverlay), EspOutbound::Result::kOk);
    ASSERT_EQ(in.open(m, nh), EspInbound::Result::kOk);
    rte_pktmbuf_free(m);
  }
  rte_mbuf* old = packet(captured);
  EXPECT_EQ(in.open(old, nh), EspInbound::Result::kTooOld);
  rte_pktmbuf_free(old);
  EXPECT_EQ(in.window().highest(), 3002U);
  EXPECT_EQ(in.counters().replayed, 1U);
  EXPECT_EQ(in.counters().too_old, 1U);
  EXPECT_EQ(in.counters().auth_failed, 1U);
}

TEST_F(EspSa, AnotherKeyOrSaltCannotOpen) {
  const EspKey k = make_key(1);
  EspKey other_salt = k;
  other_salt.salt ^= 1;
  for (const EspKey& wrong : {make_key(2), other_salt}) {
    EspOutbound out = outbound(0x4000, k);
    EspInbound in = inbound(0x4000, wrong);
    rte_mbuf* m = packet(payload_of(80, 3));
    ASSERT_EQ(out.protect(m, kEspNextOverlay), EspOutbound::Result::kOk);
    uint8_t nh = 0;
    EXPECT_EQ(in.open(m, nh), EspInbound::Result::kAuthFailed);
    rte_pktmbuf_free(m);
  }
}

TEST_F(EspSa, SequenceCrossesTheLowHalfsWrapInAnyOrder) {
  const EspKey k = make_key(8);
  EspOutbound out = outbound(0x5000, k);
  EspInbound in = inbound(0x5000, k);
  out.set_sequence_for_test(0xfffffffc);
  std::vector<rte_mbuf*> sent;
  for (int i = 0; i < 5; ++i) {  // 0xfffffffd .. 0x1_00000001
    sent.push_back(packet(payload_of(30, static_cast<uint8_t>(i))));
    ASSERT_EQ(out.protect(sent.back(), kEspNextOverlay), EspOutbound::Result::kOk);
  }
  uint8_t nh = 0;
  in.window_for_test().accept(0xfffffffc);  // what the receiver had seen before
  for (int i : {0, 3, 4, 1, 2}) {  // 0x1_00000000 and 0x1_00000001 before 0xfffffffe, 0xffffffff
    EXPECT_EQ(in.open(sent[i], nh), EspInbound::Result::kOk) << i;
    rte_pktmbuf_free(sent[i]);
  }
  EXPECT_EQ(in.window().highest(), 0x100000001ULL);
}

TEST_F(EspSa, ShortMisalignedSharedAndCrampedBuffersAreRefused) {
  const EspKey k = make_key(4);
  EspInbound in = inbound(0x6000, k);
  uint8_t nh = 0;
  rte_mbuf* shortm = packet(std::vector<uint8_t>(kEspMinLen - 1, 0));
  EXPECT_EQ(in.open(shortm, nh), EspInbound::Result::kTooShort);
  rte_pktmbuf_free(shortm);
  rte_mbuf* odd = packet(std::vector<uint8_t>(kEspMinLen + 1, 0));
  EXPECT_EQ(in.open(odd, nh), EspInbound::Result::kMisaligned);
  rte_pktmbuf_free(odd);

  EspOutbound out = outbound(0x6000, k);
  rte_mbuf* cramped = packet(payload_of(20, 1));
  cramped->data_off = 0;  // no headroom for the ESP header
  EXPECT_EQ(out.protect(cramped, kEspNextOverlay), EspOutbound::Result::kNoRoom);
  rte_pktmbuf_free(cramped);
  rte_mbuf* full = packet(payload_of(20, 1));
  rte_pktmbuf_append(full, static_cast<uint16_t>(rte_pktmbuf_tailroom(full)));  // no tailroom
  EXPECT_EQ(out.protect(full, kEspNextOverlay), EspOutbound::Result::kNoRoom);
  rte_pktmbuf_free(full);
  rte_mbuf* shared = packet(payload_of(20, 1));
  rte_mbuf_refcnt_update(shared, 1);
  EXPECT_EQ(out.protect(shared, kEspNextOverlay), EspOutbound::Result::kNotWritable);
  EXPECT_EQ(in.open(shared, nh), EspInbound::Result::kNotWritable);
  rte_pktmbuf_free(shared);
  rte_pktmbuf_free(shared);
  rte_mbuf* head = packet(payload_of(20, 1));
  ASSERT_EQ(rte_pktmbuf_chain(head, packet(payload_of(20, 2))), 0);
  EXPECT_EQ(out.protect(head, kEspNextOverlay), EspOutbound::Result::kNotWritable);
  rte_pktmbuf_free(head);
  EXPECT_EQ(out.sent(), 0U);  // no number spent on a refused packet
}

std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

// scapy's ESP (scapy.layers.ipsec, an implementation nobody here wrote) opens what we seal, at
// sequence numbers on both sides of 2^32, and refuses a flipped tag.
TEST_F(EspSa, ScapyDecryptsWhatWeSeal) {
  if (std::system("/usr/bin/python3 -c 'import scapy.layers.ipsec' 2>/dev/null") != 0) {
    GTEST_SKIP() << "python3-scapy with python3-cryptography is missing (tools/setup installs it)";
  }
  const EspKey k = make_key(11);
  EspOutbound out = outbound(0x7a7a0101, k);
  std::vector<traboule::testing::Frame> frames;
  std::string expected;
  out.set_sequence_for_test(0xfffffffd);
  for (size_t len : {1, 24, 61, 1400}) {  // numbers 0xfffffffe .. 0x1_00000001
    const auto payload = payload_of(len, static_cast<uint8_t>(len));
    rte_mbuf* m = packet(payload);
    ASSERT_EQ(out.protect(m, kEspNextOverlay), EspOutbound::Result::kOk);
    auto wire = bytes(m);
    rte_pktmbuf_free(m);
    const bool tamper = len == 61;
    if (tamper) wire.back() ^= 0x20;
    frames.push_back(traboule::testing::PacketBuilder()
                         .eth()
                         .ipv4("198.51.100.7", "203.0.113.1")
                         .udp(4500, 4500)
                         .payload(wire)
                         .build());
    char head[64];
    std::snprintf(head, sizeof head, "%#x %#x ", 0x7a7a0101U,
                  static_cast<unsigned>(out.sent() >> 32));
    expected += head + hex(k.key.data(), k.key.size()) + " ";
    uint8_t salt[4];
    put32(salt, k.salt);
    expected += hex(salt, 4) + " 253 " +
                (tamper ? std::string("tampered") : hex(payload.data(), payload.size())) + "\n";
  }
  char dir_template[] = "/tmp/tb-esp-scapy.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ASSERT_TRUE(traboule::testing::write_pcap(dir + "/esp.pcap", frames, 1000));
  FILE* f = std::fopen((dir + "/expected.txt").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(expected.c_str(), f);
  std::fclose(f);
  const std::string cmd = "/usr/bin/python3 " TRABOULE_SOURCE_DIR
                          "/tests/packet/esp_scapy_check.py " +
                          dir + "/esp.pcap " + dir + "/expected.txt";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The control messages' codec (issue 15 item 2): each message round-trips (SA keys and salts
// byte for byte), each hostile frame is refused with its own error, and key memory is zero once
// released (the wipe observer sees the bytes after OPENSSL_cleanse, before they are freed).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "controlplane/sessions/control_msg.h"

namespace traboule::cp {
namespace {

SaAnnounce make_sa(uint16_t path, uint32_t spi, uint8_t seed) {
  SaAnnounce sa;
  std::array<uint8_t, kSaKeyBytes> k;
  std::array<uint8_t, kSaSaltBytes> s;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed + i);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0xa0 + seed + i);
  sa.path_id = path;
  sa.spi = spi;
  sa.key = SecretBytes<kSaKeyBytes>(std::span<const uint8_t, kSaKeyBytes>(k));
  sa.salt = SecretBytes<kSaSaltBytes>(std::span<const uint8_t, kSaSaltBytes>(s));
  sa.created_unix_s = 1'790'000'000;
  sa.expires_unix_s = 1'790'003'600;
  return sa;
}

template <class M>
std::vector<uint8_t> bytes(const M& m) {
  const WipedBuffer b = encode(m);
  return {b.view().begin(), b.view().end()};
}

Decoded decode_vec(const std::vector<uint8_t>& v) {
  return decode(v);
}

TEST(SessControlMsg, HelloAndGoodbyeRoundTrip) {
  Decoded d = decode_vec(bytes(Hello{PeerRole::kSite, 7, "traboule 0.9.1"}));
  ASSERT_EQ(d.error, CodecError::kOk);
  const Hello* h = std::get_if<Hello>(&*d.message);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->role, PeerRole::kSite);
  EXPECT_EQ(h->site_id, 7u);
  EXPECT_EQ(h->software_version, "traboule 0.9.1");

  d = decode_vec(bytes(Goodbye{GoodbyeReason::kRefused, "site 7 held"}));
  ASSERT_EQ(d.error, CodecError::kOk);
  const Goodbye* g = std::get_if<Goodbye>(&*d.message);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->reason, GoodbyeReason::kRefused);
  EXPECT_EQ(g->detail, "site 7 held");
}

TEST(SessControlMsg, SaKeysRoundTrip) {
  InboundSas in;
  in.sas.push_back(make_sa(1, 0x1001, 1));
  in.sas.push_back(make_sa(2, 0xfffffffe, 77));
  Decoded d = decode_vec(bytes(in));
  ASSERT_EQ(d.error, CodecError::kOk) << codec_error_name(d.error);
  const InboundSas* out = std::get_if<InboundSas>(&*d.message);
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(out->sas.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out->sas[i].path_id, in.sas[i].path_id);
    EXPECT_EQ(out->sas[i].spi, in.sas[i].spi);
    EXPECT_TRUE(out->sas[i].key == in.sas[i].key);
    EXPECT_TRUE(out->sas[i].salt == in.sas[i].salt);
    EXPECT_EQ(out->sas[i].created_unix_s, in.sas[i].created_unix_s);
    EXPECT_EQ(out->sas[i].expires_unix_s, in.sas[i].expires_unix_s);
  }
  EXPECT_FALSE(out->sas[0].key == out->sas[1].key);

  Rekey k;
  k.grace_s = 30;
  k.sas.push_back(make_sa(3, 42, 9));
  d = decode_vec(bytes(k));
  ASSERT_EQ(d.error, CodecError::kOk);
  const Rekey* rk = std::get_if<Rekey>(&*d.message);
  ASSERT_NE(rk, nullptr);
  EXPECT_EQ(rk->grace_s, 30u);
  ASSERT_EQ(rk->sas.size(), 1u);
  EXPECT_TRUE(rk->sas[0].key == k.sas[0].key);
}

// A valid one-SA frame: [0..3] length, [4] type, [5..6] count, [7..8] path, [9..12] SPI,
// [13] key length, [14..45] key, [46] salt length, [47..50] salt, [51..66] created/expires.
std::vector<uint8_t> one_sa_frame() {
  InboundSas in;
  in.sas.push_back(make_sa(1, 0x1001, 1));
  return bytes(in);
}

struct HostileRow {
  const char* name;
  std::function<std::vector<uint8_t>()> frame;
  CodecError want;
};

TEST(SessControlMsg, HostileFrames) {
  const std::vector<HostileRow> rows = {
      {"empty buffer", [] { return std::vector<uint8_t>{}; }, CodecError::kTruncated},
      {"3-byte header",
       [] {
         return std::vector<uint8_t>{0, 0, 0};
       },
       CodecError::kTruncated},
      {"length 0",
       [] {
         return std::vector<uint8_t>{0, 0, 0, 0};
       },
       CodecError::kEmpty},
      {"length 64 KiB + 1",
       [] {
         return std::vector<uint8_t>{0, 1, 0, 1, 1};
       },
       CodecError::kOversize},
      {"length 4 GiB - 1",
       [] {
         return std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff};
       },
       CodecError::kOversize},
      {"body shorter than length", [] { return std::vector<uint8_t>{0, 0, 0, 9, 1, 1}; },
       CodecError::kTruncated},
      {"body longer than length",
       [] {
         auto v = bytes(Goodbye{});
         v.push_back(0);
         return v;
       },
       CodecError::kTrailingBytes},
      {"unknown type 0",
       [] {
         return std::vector<uint8_t>{0, 0, 0, 1, 0};
       },
       CodecError::kUnknownType},
      {"unknown type 9", [] { return std::vector<uint8_t>{0, 0, 0, 2, 9, 0}; },
       CodecError::kUnknownType},
      {"hello role 3", [] { return std::vector<uint8_t>{0, 0, 0, 8, 1, 3, 0, 0, 0, 7, 0, 0}; },
       CodecError::kBadRole},
      {"hello site 0", [] { return std::vector<uint8_t>{0, 0, 0, 8, 1, 1, 0, 0, 0, 0, 0, 0}; },
       CodecError::kBadSiteId},
      {"hello site 4096",
       [] { return std::vector<uint8_t>{0, 0, 0, 8, 1, 1, 0, 0, 0x10, 0, 0, 0}; },
       CodecError::kBadSiteId},
      {"hub hello with a site",
       [] { return std::vector<uint8_t>{0, 0, 0, 8, 1, 2, 0, 0, 0, 7, 0, 0}; },
       CodecError::kBadSiteId},
      {"hello cut in its site id", [] { return std::vector<uint8_t>{0, 0, 0, 4, 1, 1, 0, 0}; },
       CodecError::kTruncated},
      {"hello version with a newline",
       [] { return std::vector<uint8_t>{0, 0, 0, 9, 1, 1, 0, 0, 0, 7, 0, 1, '\n'}; },
       CodecError::kBadText},
      {"hello version over 256 bytes",
       [] { return std::vector<uint8_t>{0, 0, 0, 8, 1, 1, 0, 0, 0, 7, 1, 1}; },
       CodecError::kBadText},
      {"goodbye reason 200", [] { return std::vector<uint8_t>{0, 0, 0, 4, 4, 200, 0, 0}; },
       CodecError::kBadReason},
      {"SA key length 16",
       [] {
         auto v = one_sa_frame();
         v[13] = 16;
         return v;
       },
       CodecError::kBadKeyLength},
      {"SA salt length 8",
       [] {
         auto v = one_sa_frame();
         v[46] = 8;
         return v;
       },
       CodecError::kBadSaltLength},
      {"SA with SPI 0",
       [] {
         auto v = one_sa_frame();
         v[9] = v[10] = v[11] = v[12] = 0;
         return v;
       },
       CodecError::kZeroSpi},
      {"SA expiring before it is created",
       [] {
         auto v = one_sa_frame();
         v[59] = 0;  // top byte of expires
         v[51] = 1;  // top byte of created
         return v;
       },
       CodecError::kBadLifetime},
      {"SA count 2, one SA",
       [] {
         auto v = one_sa_frame();
         v[6] = 2;
         return v;
       },
       CodecError::kTruncated},
      {"SA cut in its key",
       [] {
         auto v = one_sa_frame();
         v.resize(30);
         v[3] = 26;
         return v;
       },
       CodecError::kTruncated},
      {"257 SAs",
       [] {
         InboundSas in;
         for (uint32_t i = 0; i <= kMaxSas; ++i) in.sas.push_back(make_sa(1, i + 1, 0));
         return bytes(in);
       },
       CodecError::kTooManySas},
      {"SA count 65535 in a short frame",
       [] { return std::vector<uint8_t>{0, 0, 0, 3, 2, 0xff, 0xff}; }, CodecError::kTooManySas},
  };
  for (const HostileRow& r : rows) {
    SCOPED_TRACE(r.name);
    const Decoded d = decode_vec(r.frame());
    EXPECT_STREQ(codec_error_name(d.error), codec_error_name(r.want));
    EXPECT_FALSE(d.message.has_value());
  }
}

TEST(SessControlMsg, FrameHeaderRefusedBeforeBody) {
  uint32_t n = 0;
  const uint8_t big[4] = {0, 1, 0, 1};
  EXPECT_EQ(frame_body_length(big, n), CodecError::kOversize);
  const uint8_t max[4] = {0, 1, 0, 0};
  EXPECT_EQ(frame_body_length(max, n), CodecError::kOk);
  EXPECT_EQ(n, kMaxFrame);
}

template <class T>
concept Printable = requires(std::ostream& o, const T& t) {
  o << t;
};
static_assert(Printable<std::string>);  // the concept itself works

// The wipe observer: records whether every wiped range was all zero when it was reported.
std::vector<std::vector<uint8_t>> g_wiped;
void observe(const uint8_t* p, size_t n) {
  g_wiped.emplace_back(p, p + n);
}

TEST(SessControlMsg, KeysWipedOnDestructionAndMove) {
  static_assert(!std::is_copy_constructible_v<SecretBytes<32>>);
  static_assert(!std::is_copy_constructible_v<WipedBuffer>);
  // Never printable: no operator<< reaches a key, a salt or a frame (so no log line can).
  static_assert(!Printable<SecretBytes<32>> && !Printable<SecretBytes<4>>);
  static_assert(!Printable<WipedBuffer> && !Printable<SaAnnounce>);
  g_wiped.clear();
  set_wipe_observer(observe);
  {
    SaAnnounce sa = make_sa(1, 5, 0x40);
    EXPECT_FALSE(sa.key.is_zero());
    SaAnnounce moved = std::move(sa);
    EXPECT_TRUE(sa.key.is_zero());  // moved from: wiped, not a second copy of the key
    EXPECT_TRUE(sa.salt.is_zero());
    EXPECT_FALSE(moved.key.is_zero());
    g_wiped.clear();
  }  // `moved` and `sa` destroyed here
  set_wipe_observer(nullptr);
  size_t key_sized = 0;
  for (const auto& w : g_wiped) {
    EXPECT_EQ(std::count(w.begin(), w.end(), 0), static_cast<long>(w.size()));
    if (w.size() == kSaKeyBytes) ++key_sized;
  }
  EXPECT_EQ(key_sized, 2u);  // both keys wiped at destruction
}

TEST(SessControlMsg, EncodedFrameWipedOnRelease) {
  g_wiped.clear();
  set_wipe_observer(observe);
  size_t frame_size = 0;
  {
    InboundSas in;
    in.sas.push_back(make_sa(1, 5, 0x40));
    WipedBuffer frame = encode(in);
    frame_size = frame.size();
    // The key is in the frame, in clear, until the frame is released.
    const auto v = frame.view();
    EXPECT_NE(
        std::search(v.begin(), v.end(), in.sas[0].key.view().begin(), in.sas[0].key.view().end()),
        v.end());
    WipedBuffer taken = std::move(frame);
    EXPECT_EQ(frame.size(), 0u);
    EXPECT_EQ(taken.size(), frame_size);
    g_wiped.clear();
  }
  set_wipe_observer(nullptr);
  bool frame_wiped = false;
  for (const auto& w : g_wiped) {
    EXPECT_EQ(std::count(w.begin(), w.end(), 0), static_cast<long>(w.size()));
    if (w.size() >= frame_size) frame_wiped = true;  // its whole capacity
  }
  EXPECT_TRUE(frame_wiped);
}

}  // namespace
}  // namespace traboule::cp

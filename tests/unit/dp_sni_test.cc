// SPDX-License-Identifier: Apache-2.0
// Server names from first packets: TLS ClientHello (hostile lengths, split records) and QUIC v1
// client Initials (RFC 9001 Appendix A vectors, packets sealed here, tampering).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "dataplane/proto/tls_sni.h"

namespace traboule::dp {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes hex(std::string_view h) {
  Bytes out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}
std::string to_hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}
void put16(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void append(Bytes& b, const Bytes& x) {
  b.insert(b.end(), x.begin(), x.end());
}

Bytes ext(uint16_t type, const Bytes& data) {
  Bytes e;
  put16(e, type);
  put16(e, data.size());
  append(e, data);
  return e;
}
// A server_name extension body listing (name_type, name) entries.
Bytes sni_body(const std::vector<std::pair<uint8_t, std::string>>& names) {
  Bytes list;
  for (auto& [type, name] : names) {
    list.push_back(type);
    put16(list, name.size());
    list.insert(list.end(), name.begin(), name.end());
  }
  Bytes body;
  put16(body, list.size());
  append(body, list);
  return body;
}

// A ClientHello, field by field, so rows can make any of them lie.
struct Hello {
  size_t session_id = 32;
  size_t suites_len = 4;
  size_t comp_len = 1;
  bool has_extensions = true;
  std::vector<Bytes> exts = {ext(0x002b, hex("0403040303"))};  // supported_versions
  int ext_total_delta = 0;  // added to the extensions length field
  int hs_len_delta = 0;     // added to the handshake length field
  uint8_t hs_type = 1;

  Bytes message() const {
    Bytes body = {0x03, 0x03};
    for (int i = 0; i < 32; ++i) body.push_back(static_cast<uint8_t>(i));
    body.push_back(static_cast<uint8_t>(session_id));
    for (size_t i = 0; i < session_id; ++i) body.push_back(0xaa);
    put16(body, suites_len);
    for (size_t i = 0; i < suites_len; ++i) body.push_back(i % 2 ? 0x01 : 0x13);
    body.push_back(static_cast<uint8_t>(comp_len));
    for (size_t i = 0; i < comp_len; ++i) body.push_back(0);
    if (has_extensions) {
      Bytes all;
      for (const Bytes& e : exts) append(all, e);
      put16(body, static_cast<size_t>(static_cast<int>(all.size()) + ext_total_delta));
      append(body, all);
    }
    const size_t len = static_cast<size_t>(static_cast<int>(body.size()) + hs_len_delta);
    Bytes m = {hs_type, static_cast<uint8_t>(len >> 16), static_cast<uint8_t>(len >> 8),
               static_cast<uint8_t>(len)};
    append(m, body);
    return m;
  }
  Hello& sni(const std::string& name) {
    exts.insert(exts.begin(), ext(0, sni_body({{0, name}})));
    return *this;
  }
};

Bytes record(const Bytes& msg, uint8_t type = 22, uint16_t version = 0x0301) {
  Bytes r = {type, static_cast<uint8_t>(version >> 8), static_cast<uint8_t>(version)};
  put16(r, msg.size());
  append(r, msg);
  return r;
}

struct TlsRow {
  const char* what;
  Bytes payload;
  SniStatus status;
  const char* name;
};

std::vector<TlsRow> tls_rows() {
  std::vector<TlsRow> r;
  r.push_back({"SNI, lower-cased", record(Hello{}.sni("Teams.Microsoft.COM").message()),
               SniStatus::kFound, "teams.microsoft.com"});
  {
    Hello h;
    h.exts.push_back(ext(0, sni_body({{0, "meet.google.com"}})));  // SNI last
    h.session_id = 0;
    r.push_back({"SNI after other extensions, no session id", record(h.message(), 22, 0x0303),
                 SniStatus::kFound, "meet.google.com"});
  }
  {
    Hello h;
    h.has_extensions = false;
    r.push_back({"no extensions at all", record(h.message()), SniStatus::kNoSni, ""});
  }
  r.push_back({"extensions without SNI", record(Hello{}.message()), SniStatus::kNoSni, ""});
  {
    Hello h;
    h.exts.insert(h.exts.begin(), ext(0, {}));
    r.push_back({"SNI extension empty", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.exts.insert(h.exts.begin(), ext(0, {0, 0}));
    r.push_back({"SNI list empty", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.exts.insert(h.exts.begin(), ext(0, sni_body({{0, "a.example"}, {0, "b.example"}})));
    r.push_back({"two host names", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.exts.insert(h.exts.begin(), ext(0, sni_body({{1, "a.example"}})));
    r.push_back({"only a non-host_name type", record(h.message()), SniStatus::kNoSni, ""});
  }
  {
    Hello h;
    h.exts.insert(h.exts.begin(), ext(0, sni_body({{7, "xx"}, {0, "zoom.us"}})));
    r.push_back({"unknown type skipped, host name kept", record(h.message()), SniStatus::kFound,
                 "zoom.us"});
  }
  {
    Hello h;
    h.sni("a.example");
    h.exts.push_back(ext(0, sni_body({{0, "b.example"}})));
    r.push_back({"server_name extension twice", record(h.message()), SniStatus::kMalformed, ""});
  }
  r.push_back(
      {"trailing dot", record(Hello{}.sni("webex.com.").message()), SniStatus::kBadName, ""});
  r.push_back(
      {"space in name", record(Hello{}.sni("web ex.com").message()), SniStatus::kBadName, ""});
  r.push_back({"empty label", record(Hello{}.sni("a..com").message()), SniStatus::kBadName, ""});
  r.push_back({"empty name", record(Hello{}.sni("").message()), SniStatus::kBadName, ""});
  r.push_back({"name of 254", record(Hello{}.sni(std::string(250, 'a') + ".com").message()),
               SniStatus::kBadName, ""});
  r.push_back({"label of 64", record(Hello{}.sni(std::string(64, 'a') + ".com").message()),
               SniStatus::kBadName, ""});
  {
    Hello h;
    Bytes body = sni_body({{0, "a.example"}});
    body[4] = 0x40;  // name length 0x40xx: past the extension
    h.exts.insert(h.exts.begin(), ext(0, body));
    r.push_back({"name length lying", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    Bytes body = sni_body({{0, "a.example"}});
    body[1] = static_cast<uint8_t>(body[1] + 1);  // list length one more than the extension
    h.exts.insert(h.exts.begin(), ext(0, body));
    r.push_back({"list length lying", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.ext_total_delta = 3;
    h.hs_len_delta = 3;  // the handshake claims the bytes too: they are missing from the record
    r.push_back(
        {"extensions length lying (bigger)", record(h.message()), SniStatus::kFragmented, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.ext_total_delta = -1;
    r.push_back(
        {"extensions length lying (smaller)", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.exts.push_back(hex("ff01000a00"));  // an extension header claiming 10 bytes, 1 present
    r.push_back({"last extension length lying", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.hs_len_delta = -2;
    r.push_back({"handshake length smaller than its content", record(h.message()),
                 SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.session_id = 33;
    r.push_back({"session id of 33", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.suites_len = 3;
    r.push_back({"cipher suites of odd length", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.suites_len = 0;
    r.push_back({"no cipher suite", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.comp_len = 0;
    r.push_back({"no compression method", record(h.message()), SniStatus::kMalformed, ""});
  }
  {
    Hello h;
    h.sni("a.example");
    h.hs_type = 2;
    r.push_back({"ServerHello", record(h.message()), SniStatus::kNotClientHello, ""});
  }
  r.push_back({"application data record", record(Hello{}.sni("a.b").message(), 23),
               SniStatus::kNotTls, ""});
  r.push_back(
      {"SSL 2 version", record(Hello{}.sni("a.b").message(), 22, 0x0200), SniStatus::kNotTls, ""});
  r.push_back({"HTTP", {'G', 'E', 'T', ' ', '/'}, SniStatus::kNotTls, ""});
  r.push_back({"empty payload", {}, SniStatus::kNotTls, ""});
  r.push_back({"record header cut", {22, 3, 1}, SniStatus::kTruncated, ""});
  {
    Bytes rec = record(Hello{}.sni("a.example").message());
    rec.resize(rec.size() - 10);
    r.push_back(
        {"record cut (ClientHello continues in the next segment)", rec, SniStatus::kTruncated, ""});
  }
  r.push_back({"record length 0", {22, 3, 1, 0, 0}, SniStatus::kMalformed, ""});
  {
    Bytes rec = {22, 3, 1, 0x40, 0x01};
    rec.resize(5 + 0x4001, 0);
    r.push_back({"record longer than 2^14", rec, SniStatus::kMalformed, ""});
  }
  {
    // The ClientHello split over two records: the first holds 40 bytes of it.
    const Bytes msg = Hello{}.sni("split.example").message();
    Bytes two = record(Bytes(msg.begin(), msg.begin() + 40));
    append(two, record(Bytes(msg.begin() + 40, msg.end())));
    r.push_back({"ClientHello across two records", two, SniStatus::kFragmented, ""});
  }
  {
    const Bytes msg = Hello{}.sni("split.example").message();
    r.push_back({"record of 3 handshake bytes", record(Bytes(msg.begin(), msg.begin() + 3)),
                 SniStatus::kFragmented, ""});
  }
  return r;
}

TEST(TlsSni, Table) {
  SniReader reader;
  uint64_t fragmented = 0;
  for (const TlsRow& row : tls_rows()) {
    SniName name;
    const SniStatus st = tls_sni(row.payload.data(), row.payload.size(), &name);
    EXPECT_STREQ(sni_status_name(st), sni_status_name(row.status)) << row.what;
    EXPECT_EQ(name.view(), row.name) << row.what;
    auto got = reader.tls(row.payload.data(), row.payload.size());
    EXPECT_EQ(got.has_value(), row.status == SniStatus::kFound) << row.what;
    if (got) {
      EXPECT_EQ(*got, row.name) << row.what;
    }
    fragmented += row.status == SniStatus::kFragmented;
  }
  EXPECT_EQ(reader.tls_count(SniStatus::kFragmented), fragmented);
  EXPECT_GE(reader.tls_count(SniStatus::kMalformed), 10u);
}

TEST(TlsSni, EveryCutOfAValidRecordGivesNoName) {
  const Bytes rec = record(Hello{}.sni("cut.example").message());
  for (size_t n = 0; n < rec.size(); ++n) {
    SniName name;
    const SniStatus st = tls_sni(rec.data(), n, &name);
    EXPECT_NE(st, SniStatus::kFound) << n;
    EXPECT_EQ(name.len, 0) << n;
  }
}

TEST(TlsSni, PartialClientHelloReadOnlyWhenAllowed) {
  // What QUIC needs: the SNI is early in a message whose tail is in a later packet.
  const Bytes msg = Hello{}.sni("early.example").message();
  const size_t cut = msg.size() - 3;  // inside the last extension
  SniName name;
  EXPECT_EQ(client_hello_sni(msg.data(), cut, true, &name), SniStatus::kFound);
  EXPECT_EQ(name.view(), "early.example");
  EXPECT_EQ(client_hello_sni(msg.data(), cut, false, &name), SniStatus::kFragmented);
  Hello late;
  late.exts.push_back(ext(0, sni_body({{0, "late.example"}})));
  const Bytes m2 = late.message();
  EXPECT_EQ(client_hello_sni(m2.data(), m2.size() - 5, true, &name), SniStatus::kFragmented);
}

// ---- QUIC ----

// RFC 9001 Appendix A.2: the client Initial (1200 bytes) for DCID 8394c8f03e515708, whose
// ClientHello names example.com.
const char* kRfc9001ClientInitial =
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934";

TEST(QuicSni, InitialKeysMatchRfc9001AppendixA1) {
  SniReader reader;
  const Bytes dcid = hex("8394c8f03e515708");
  QuicInitialKeys k;
  ASSERT_TRUE(reader.derive_initial_keys(dcid.data(), dcid.size(), &k));
  EXPECT_EQ(to_hex(k.secret, 32),
            "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
  EXPECT_EQ(to_hex(k.key, 16), "1f369613dd76d5467730efcbe3b1a22d");
  EXPECT_EQ(to_hex(k.iv, 12), "fa044b2f42a3fd3b46fb255c");
  EXPECT_EQ(to_hex(k.hp, 16), "9f50449e04a0e810283a1e9933adedd2");
}

TEST(QuicSni, Rfc9001ClientInitialGivesExampleCom) {
  SniReader reader;
  const Bytes pkt = hex(kRfc9001ClientInitial);
  ASSERT_EQ(pkt.size(), 1200u);
  auto name = reader.quic(pkt.data(), pkt.size());
  ASSERT_TRUE(name) << sni_status_name(reader.quic_status(pkt.data(), pkt.size()));
  EXPECT_EQ(*name, "example.com");
  // Coalesced bytes after the packet (its Length field bounds it) are ignored.
  Bytes more = pkt;
  more.insert(more.end(), 40, 0xee);
  EXPECT_EQ(reader.quic(more.data(), more.size()).value_or(""), "example.com");
}

TEST(QuicSni, HostileRfcPacketRows) {
  struct QRow {
    const char* what;
    std::function<void(Bytes&)> mutate;
    SniStatus status;
  };
  const QRow rows[] = {
      {"version 2", [](Bytes& p) { p[1] = 0x6b, p[2] = 0x33, p[3] = 0x43, p[4] = 0xcf; },
       SniStatus::kWrongVersion},
      {"draft 29", [](Bytes& p) { p[1] = 0xff, p[2] = 0, p[3] = 0, p[4] = 29; },
       SniStatus::kWrongVersion},
      {"version negotiation", [](Bytes& p) { p[1] = p[2] = p[3] = p[4] = 0; },
       SniStatus::kNotQuicInitial},
      {"short header", [](Bytes& p) { p[0] = 0x40; }, SniStatus::kNotQuicInitial},
      {"handshake packet type", [](Bytes& p) { p[0] = 0xe0; }, SniStatus::kNotQuicInitial},
      {"DCID of 4", [](Bytes& p) { p[5] = 4; }, SniStatus::kBadConnectionId},
      {"DCID of 0", [](Bytes& p) { p[5] = 0; }, SniStatus::kBadConnectionId},
      {"DCID of 21", [](Bytes& p) { p[5] = 21; }, SniStatus::kBadConnectionId},
      {"DCID byte changed (other keys)", [](Bytes& p) { p[6] ^= 1; }, SniStatus::kDecryptFailed},
      {"ciphertext byte flipped", [](Bytes& p) { p[300] ^= 0x01; }, SniStatus::kDecryptFailed},
      {"tag byte flipped", [](Bytes& p) { p.back() ^= 0x80; }, SniStatus::kDecryptFailed},
      {"protected packet number changed", [](Bytes& p) { p[20] ^= 0x10; },
       SniStatus::kDecryptFailed},
      {"cut by 100 bytes", [](Bytes& p) { p.resize(p.size() - 100); }, SniStatus::kTruncated},
      {"cut inside the header", [](Bytes& p) { p.resize(10); }, SniStatus::kTruncated},
      {"cut to 6 bytes", [](Bytes& p) { p.resize(6); }, SniStatus::kNotQuicInitial},
      {"Length field 16", [](Bytes& p) { p[16] = 0x40, p[17] = 0x10; }, SniStatus::kMalformed},
      {"token length lying", [](Bytes& p) { p[15] = 0x7f, p[16] = 0xff; }, SniStatus::kTruncated},
      {"SCID length 21", [](Bytes& p) { p[14] = 21; }, SniStatus::kMalformed},
  };
  SniReader reader;
  for (const QRow& row : rows) {
    Bytes p = hex(kRfc9001ClientInitial);
    row.mutate(p);
    EXPECT_STREQ(sni_status_name(reader.quic_status(p.data(), p.size())),
                 sni_status_name(row.status))
        << row.what;
    EXPECT_FALSE(reader.quic(p.data(), p.size())) << row.what;
  }
  EXPECT_GE(reader.quic_count(SniStatus::kDecryptFailed), 8u);
  // After all that, the intact packet still decodes (no state left behind).
  const Bytes good = hex(kRfc9001ClientInitial);
  EXPECT_EQ(reader.quic(good.data(), good.size()).value_or(""), "example.com");
}

// Seals a client Initial the way a client does (RFC 9001 §5), for rows the RFC has no vector
// for. Packet number 4 bytes; keys from the reader (checked against Appendix A above).
Bytes seal_initial(SniReader& reader, const Bytes& dcid, uint32_t pn, Bytes payload,
                   size_t pad_to = 1162) {
  if (payload.size() < pad_to) payload.resize(pad_to, 0);
  QuicInitialKeys k;
  EXPECT_TRUE(reader.derive_initial_keys(dcid.data(), dcid.size(), &k));
  Bytes h = {0xc3, 0, 0, 0, 1, static_cast<uint8_t>(dcid.size())};
  append(h, dcid);
  h.push_back(0);  // SCID
  h.push_back(0);  // token
  const size_t length = 4 + payload.size() + 16;
  h.push_back(static_cast<uint8_t>(0x80));  // 4-byte varint
  h.push_back(static_cast<uint8_t>(length >> 16));
  h.push_back(static_cast<uint8_t>(length >> 8));
  h.push_back(static_cast<uint8_t>(length));
  const size_t pn_offset = h.size();
  for (int i = 3; i >= 0; --i) h.push_back(static_cast<uint8_t>(pn >> (8 * i)));
  uint8_t nonce[12];
  std::memcpy(nonce, k.iv, 12);
  for (int i = 0; i < 4; ++i) nonce[11 - i] ^= static_cast<uint8_t>(pn >> (8 * i));
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes ct(payload.size() + 16);
  int n = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, k.key, nonce), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, nullptr, &n, h.data(), static_cast<int>(h.size())), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, ct.data(), &n, payload.data(), static_cast<int>(payload.size())),
            1);
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx, ct.data() + n, &n), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, ct.data() + payload.size()), 1);
  uint8_t mask[16];
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), nullptr, k.hp, nullptr), 1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, mask, &n, ct.data(), 16), 1);  // sample: pn is 4 bytes
  EVP_CIPHER_CTX_free(ctx);
  h[0] ^= mask[0] & 0x0f;
  for (int i = 0; i < 4; ++i) h[pn_offset + i] ^= mask[1 + i];
  append(h, ct);
  return h;
}

Bytes varint(uint64_t v) {
  if (v < 64) return {static_cast<uint8_t>(v)};
  if (v < 16384) return {static_cast<uint8_t>(0x40 | (v >> 8)), static_cast<uint8_t>(v)};
  return {0x80, static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v)};
}
Bytes crypto_frame(size_t offset, const Bytes& data, size_t from, size_t to) {
  Bytes f = {0x06};
  append(f, varint(offset));
  append(f, varint(to - from));
  f.insert(f.end(), data.begin() + static_cast<long>(from), data.begin() + static_cast<long>(to));
  return f;
}

TEST(QuicSni, SealedInitialsTable) {
  SniReader reader;
  const Bytes dcid8 = hex("0011223344556677"), dcid20(20, 0x5a);
  Hello h;
  h.sni("Zoom.US");
  h.exts.push_back(ext(0x0033, Bytes(200, 0x42)));  // a big key_share after the SNI
  const Bytes ch = h.message();
  Hello late;
  late.exts.push_back(ext(0x0033, Bytes(200, 0x42)));
  late.exts.push_back(ext(0, sni_body({{0, "late.example"}})));
  const Bytes ch_late = late.message();
  const size_t n = ch.size();

  struct SRow {
    const char* what;
    Bytes dcid;
    Bytes payload;
    SniStatus status;
    const char* name;
  };
  std::vector<SRow> rows;
  rows.push_back(
      {"one CRYPTO frame", dcid8, crypto_frame(0, ch, 0, n), SniStatus::kFound, "zoom.us"});
  rows.push_back({"DCID of 20", dcid20, crypto_frame(0, ch, 0, n), SniStatus::kFound, "zoom.us"});
  {
    Bytes p = {0x01, 0x00, 0x00};  // PING, PADDING
    append(p, crypto_frame(150, ch, 150, n));
    p.push_back(0x01);
    append(p, crypto_frame(60, ch, 60, 150));
    append(p, crypto_frame(0, ch, 0, 60));
    rows.push_back({"three CRYPTO frames out of order, PING, PADDING", dcid8, p, SniStatus::kFound,
                    "zoom.us"});
  }
  {
    Bytes p = hex("02050001000001");  // ACK: largest 5, delay 0, 1 range, first 0, gap 0, 1
    append(p, crypto_frame(0, ch, 0, n));
    rows.push_back({"ACK then CRYPTO", dcid8, p, SniStatus::kFound, "zoom.us"});
  }
  {
    Bytes p = hex("0305000000010203");  // ACK_ECN with counts 1 2 3
    append(p, crypto_frame(0, ch, 0, n));
    rows.push_back({"ACK_ECN then CRYPTO", dcid8, p, SniStatus::kFound, "zoom.us"});
  }
  rows.push_back({"SNI early, tail in the next packet", dcid8, crypto_frame(0, ch, 0, n - 100),
                  SniStatus::kFound, "zoom.us"});
  rows.push_back({"SNI in the part not yet sent", dcid8,
                  crypto_frame(0, ch_late, 0, ch_late.size() - 10), SniStatus::kFragmented, ""});
  rows.push_back({"CRYPTO not starting at 0", dcid8, crypto_frame(100, ch, 100, n),
                  SniStatus::kFragmented, ""});
  rows.push_back({"no CRYPTO frame", dcid8, {0x01}, SniStatus::kNoSni, ""});
  {
    Bytes p = crypto_frame(0, ch, 0, n);
    p.push_back(0x08);  // STREAM is not allowed in an Initial
    p.push_back(0x00);
    rows.push_back({"STREAM frame", dcid8, p, SniStatus::kMalformed, ""});
  }
  {
    Bytes p = {0x06, 0x00, 0x7f, 0xff};  // CRYPTO of 16383 bytes in a smaller packet
    rows.push_back({"CRYPTO length lying", dcid8, p, SniStatus::kMalformed, ""});
  }
  {
    Bytes p = {0x02, 0x05, 0x00, 0x7f, 0xff};  // ACK claiming 16383 ranges
    rows.push_back({"ACK range count lying", dcid8, p, SniStatus::kMalformed, ""});
  }
  {
    Bytes p = hex("1c0a06");  // CONNECTION_CLOSE with a reason longer than the packet
    p.push_back(0x7f);
    p.push_back(0xf0);
    rows.push_back({"CONNECTION_CLOSE reason lying", dcid8, p, SniStatus::kMalformed, ""});
  }
  {
    Hello bad;
    bad.exts.insert(bad.exts.begin(), ext(0, {}));
    const Bytes chb = bad.message();
    rows.push_back({"empty SNI inside QUIC", dcid8, crypto_frame(0, chb, 0, chb.size()),
                    SniStatus::kMalformed, ""});
  }
  for (const SRow& row : rows) {
    const Bytes pkt = seal_initial(reader, row.dcid, 0, row.payload);
    EXPECT_STREQ(sni_status_name(reader.quic_status(pkt.data(), pkt.size())),
                 sni_status_name(row.status))
        << row.what;
    EXPECT_EQ(reader.name(), row.name) << row.what;
  }

  const Bytes big = seal_initial(reader, dcid8, 0, crypto_frame(0, ch, 0, n), 5000);
  EXPECT_EQ(reader.quic_status(big.data(), big.size()), SniStatus::kTooLarge);
}

TEST(QuicSni, TlsRecordIsNotQuicAndQuicIsNotTls) {
  SniReader reader;
  const Bytes rec = record(Hello{}.sni("a.example").message());
  EXPECT_FALSE(reader.quic(rec.data(), rec.size()));
  const Bytes pkt = hex(kRfc9001ClientInitial);
  EXPECT_FALSE(reader.tls(pkt.data(), pkt.size()));
}

}  // namespace
}  // namespace traboule::dp

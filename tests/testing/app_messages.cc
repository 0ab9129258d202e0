// SPDX-License-Identifier: Apache-2.0
#include "tests/testing/app_messages.h"

#include <gcrypt.h>

#include <stdexcept>
#include <string>

namespace traboule::testing {
namespace {

void gcrypt_check(gcry_error_t err, const char* what) {
  if (err != 0)
    throw std::runtime_error(std::string("libgcrypt: ") + what + ": " + gcry_strerror(err));
}

// libgcrypt wants initialising once per process; nDPI may have done it already.
void gcrypt_init() {
  if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) return;
  if (gcry_check_version(nullptr) == nullptr) throw std::runtime_error("libgcrypt: no version");
  gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
  gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
}

Bytes hmac_sha256(const Bytes& key, const Bytes& data) {
  gcry_md_hd_t h;
  gcrypt_check(gcry_md_open(&h, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC), "hmac-sha256 open");
  gcry_md_setkey(h, key.data(), key.size());
  gcry_md_write(h, data.data(), data.size());
  const uint8_t* d = gcry_md_read(h, GCRY_MD_SHA256);
  Bytes out(d, d + 32);
  gcry_md_close(h);
  return out;
}

Bytes hkdf_expand_label(const Bytes& secret, std::string_view label, size_t len) {
  Bytes info;
  put16(info, static_cast<unsigned>(len));
  Bytes full;
  append(full, "tls13 ");
  append(full, label);
  append(info, with_len(full, 1));
  info.push_back(0);
  Bytes out, t;
  for (uint8_t i = 1; out.size() < len; ++i) {
    Bytes in = t;
    append(in, info);
    in.push_back(i);
    t = hmac_sha256(secret, in);
    append(out, t);
  }
  out.resize(len);
  return out;
}

}  // namespace

void put16(Bytes& b, unsigned v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put24(Bytes& b, unsigned v) {
  b.push_back(static_cast<uint8_t>(v >> 16));
  put16(b, v);
}
void put32(Bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v);
}
// Byte by byte: GCC 12 at -O2/-O3 reports vector::insert of a short range into a vector it
// has just grown as an out-of-bounds memmove (a false positive, like GCC PR 105651).
void append(Bytes& b, const Bytes& x) {
  b.reserve(b.size() + x.size());
  for (uint8_t c : x) b.push_back(c);
}
void append(Bytes& b, std::string_view s) {
  b.reserve(b.size() + s.size());
  for (char c : s) b.push_back(static_cast<uint8_t>(c));
}
Bytes with_len(const Bytes& body, int width) {
  Bytes b;
  if (width == 1) b.push_back(static_cast<uint8_t>(body.size()));
  if (width == 2) put16(b, static_cast<unsigned>(body.size()));
  if (width == 3) put24(b, static_cast<unsigned>(body.size()));
  append(b, body);
  return b;
}

Bytes dns_name(std::string_view name) {
  Bytes b;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    b.push_back(static_cast<uint8_t>(dot - start));
    append(b, name.substr(start, dot - start));
    start = dot + 1;
  }
  b.push_back(0);
  return b;
}

Bytes dns_message(std::string_view name, bool answer, const Bytes& addr, uint32_t ttl_s) {
  Bytes b;
  put16(b, 0x4a1d);
  put16(b, answer ? 0x8180 : 0x0100);
  put16(b, 1);
  put16(b, answer ? 1 : 0);
  put16(b, 0);
  put16(b, 0);
  append(b, dns_name(name));
  put16(b, 1);
  put16(b, 1);
  if (answer) {
    put16(b, 0xc00c);
    put16(b, addr.size() == 16 ? 28 : 1);
    put16(b, 1);
    put32(b, ttl_s);
    put16(b, static_cast<unsigned>(addr.size()));
    append(b, addr);
  }
  return b;
}

Bytes client_hello(std::string_view sni) {
  Bytes body;
  put16(body, 0x0303);
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<uint8_t>(i * 7));
  body.push_back(32);
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<uint8_t>(0xa0 + i));
  Bytes suites;
  for (unsigned s : {0x1301u, 0x1302u, 0x1303u, 0xc02fu, 0xc030u}) put16(suites, s);
  append(body, with_len(suites, 2));
  append(body, Bytes{1, 0});
  Bytes ext;
  auto extension = [&ext](unsigned type, const Bytes& data) {
    put16(ext, type);
    append(ext, with_len(data, 2));
  };
  Bytes host;
  host.push_back(0);
  Bytes name(sni.begin(), sni.end());
  append(host, with_len(name, 2));
  extension(0x0000, with_len(host, 2));  // server_name
  Bytes groups;
  put16(groups, 0x001d);
  put16(groups, 0x0017);
  extension(0x000a, with_len(groups, 2));
  Bytes sigs;
  put16(sigs, 0x0403);
  put16(sigs, 0x0804);
  extension(0x000d, with_len(sigs, 2));
  Bytes alpn;
  append(alpn, with_len(Bytes{'h', '2'}, 1));
  extension(0x0010, with_len(alpn, 2));
  Bytes versions;
  put16(versions, 0x0304);
  put16(versions, 0x0303);
  extension(0x002b, with_len(versions, 1));
  Bytes share;
  put16(share, 0x001d);
  append(share, with_len(Bytes(32, 0x5c), 2));
  extension(0x0033, with_len(share, 2));
  append(body, with_len(ext, 2));
  Bytes hs;
  hs.push_back(1);
  append(hs, with_len(body, 3));
  return hs;
}

Bytes tls_record(const Bytes& handshake) {
  Bytes r{0x16, 0x03, 0x01};
  append(r, with_len(handshake, 2));
  return r;
}

// RFC 9001 §5.2: keys from the client's destination connection id and the v1 salt.
Bytes quic_initial(const Bytes& hello) {
  gcrypt_init();
  const Bytes salt = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                      0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
  const Bytes dcid = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
  const Bytes initial = hmac_sha256(salt, dcid);
  const Bytes client = hkdf_expand_label(initial, "client in", 32);
  const Bytes key = hkdf_expand_label(client, "quic key", 16);
  const Bytes iv = hkdf_expand_label(client, "quic iv", 12);
  const Bytes hp = hkdf_expand_label(client, "quic hp", 16);

  Bytes frames{0x06, 0x00};  // CRYPTO, offset 0
  put16(frames, 0x4000 | static_cast<unsigned>(hello.size()));
  append(frames, hello);
  const size_t pn_len = 4;
  Bytes hdr{0xc0 | (pn_len - 1), 0x00, 0x00, 0x00, 0x01};
  append(hdr, with_len(dcid, 1));
  hdr.push_back(0);  // empty source connection id
  hdr.push_back(0);  // no token
  const size_t fixed = hdr.size() + 2 + pn_len + 16;
  if (fixed + frames.size() < 1200) frames.resize(1200 - fixed, 0);  // PADDING frames
  put16(hdr, 0x4000 | static_cast<unsigned>(pn_len + frames.size() + 16));
  const size_t pn_off = hdr.size();
  put32(hdr, 0);  // packet number 0

  gcry_cipher_hd_t c;
  gcrypt_check(gcry_cipher_open(&c, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, 0), "aes-gcm open");
  gcry_cipher_setkey(c, key.data(), key.size());
  gcry_cipher_setiv(c, iv.data(), iv.size());  // packet number 0: the nonce is the iv
  gcry_cipher_authenticate(c, hdr.data(), hdr.size());
  Bytes sealed(frames.size());
  gcry_cipher_encrypt(c, sealed.data(), sealed.size(), frames.data(), frames.size());
  Bytes tag(16);
  gcry_cipher_gettag(c, tag.data(), tag.size());
  gcry_cipher_close(c);

  Bytes mask(16);
  gcrypt_check(gcry_cipher_open(&c, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_ECB, 0), "aes-ecb open");
  gcry_cipher_setkey(c, hp.data(), hp.size());
  // The sample starts 4 bytes after the packet number's first byte.
  gcry_cipher_encrypt(c, mask.data(), 16, sealed.data() + (4 - pn_len), 16);
  gcry_cipher_close(c);
  Bytes pkt = hdr;
  append(pkt, sealed);
  append(pkt, tag);
  pkt[0] ^= mask[0] & 0x0f;
  for (size_t i = 0; i < pn_len; ++i) pkt[pn_off + i] ^= mask[1 + i];
  return pkt;
}

Bytes sip_invite() {
  Bytes b;
  append(b,
         "INVITE sip:bob@voice.example.org SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.168.10.10:5060;branch=z9hG4bK776asdhds\r\n"
         "Max-Forwards: 70\r\n"
         "To: Bob <sip:bob@voice.example.org>\r\n"
         "From: Alice <sip:alice@voice.example.org>;tag=1928301774\r\n"
         "Call-ID: a84b4c76e66710@192.168.10.10\r\n"
         "CSeq: 314159 INVITE\r\n"
         "Contact: <sip:alice@192.168.10.10:5060>\r\n"
         "Content-Type: application/sdp\r\n"
         "Content-Length: 0\r\n\r\n");
  return b;
}

Bytes sip_trying() {
  Bytes b;
  append(b,
         "SIP/2.0 100 Trying\r\n"
         "Via: SIP/2.0/UDP 192.168.10.10:5060;branch=z9hG4bK776asdhds\r\n"
         "To: Bob <sip:bob@voice.example.org>\r\n"
         "From: Alice <sip:alice@voice.example.org>;tag=1928301774\r\n"
         "Call-ID: a84b4c76e66710@192.168.10.10\r\n"
         "CSeq: 314159 INVITE\r\n"
         "Content-Length: 0\r\n\r\n");
  return b;
}

Bytes rtp(uint16_t seq, uint32_t ssrc) {
  Bytes b{0x80, 0x00};  // v2, PCMU
  put16(b, seq);
  put32(b, 160u * seq);
  put32(b, ssrc);
  b.resize(12 + 160, 0xd5);
  return b;
}

Bytes http_get(std::string_view host, std::string_view path) {
  Bytes b;
  append(b, "GET ");
  append(b, path);
  append(b, " HTTP/1.1\r\nHost: ");
  append(b, host);
  append(b, "\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n");
  return b;
}

Bytes http_ok_head(size_t content_length) {
  Bytes b;
  append(b,
         "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\n"
         "Content-Length: ");
  append(b, std::to_string(content_length));
  append(b, "\r\n\r\n");
  return b;
}

}  // namespace traboule::testing

#include "tests/testing/app_messages.h"

namespace traboule::testing {

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
void append(Bytes& b, const Bytes& x) {
  b.insert(b.end(), x.begin(), x.end());
}
void append(Bytes& b, std::string_view s) {
  b.insert(b.end(), s.begin(), s.end());
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

}  // namespace traboule::testing

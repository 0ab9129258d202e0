// Application-layer messages for tests: DNS queries/answers and TLS ClientHellos built byte by
// byte (no library), so recognition tests (nDPI, DNS snooping, SNI) feed real wire formats.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace traboule::testing {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, unsigned v);
void put24(Bytes& b, unsigned v);
void put32(Bytes& b, uint32_t v);
void append(Bytes& b, const Bytes& x);
void append(Bytes& b, std::string_view s);
// Prefixes `body` with its length on `width` (1-3) bytes.
Bytes with_len(const Bytes& body, int width);
Bytes dns_name(std::string_view name);
// A DNS query for `name` (type A), or its answer with one address (`addr`, TTL `ttl_s`).
Bytes dns_message(std::string_view name, bool answer, const Bytes& addr = {52, 112, 0, 10},
                  uint32_t ttl_s = 300);
// A TLS 1.3 ClientHello handshake message (no record header) naming `sni`.
Bytes client_hello(std::string_view sni);
// A TLS handshake record around `handshake`.
Bytes tls_record(const Bytes& handshake);

}  // namespace traboule::testing

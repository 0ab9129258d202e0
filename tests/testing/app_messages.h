// SPDX-License-Identifier: Apache-2.0
// Application-layer messages for tests: DNS, HTTP, TLS ClientHellos, QUIC v1 client Initials
// (protected with the RFC 9001 initial keys, libgcrypt), SIP and RTP, built byte by byte so
// recognition tests (nDPI, DNS snooping, SNI) and replayed captures feed real wire formats.
#pragma once

#include <cstddef>
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
// One QUIC v1 client Initial carrying `hello` (a ClientHello) in a CRYPTO frame, padded to 1200
// bytes and protected as RFC 9001 §5 says. Throws std::runtime_error if libgcrypt fails.
Bytes quic_initial(const Bytes& hello);
// A SIP INVITE from alice@192.168.10.10 to bob@voice.example.org (UDP, no body).
Bytes sip_invite();
// The server's "100 Trying" answer to sip_invite().
Bytes sip_trying();
// An RTP packet (v2, PCMU, 20 ms of audio) with sequence number `seq` from `ssrc`.
Bytes rtp(uint16_t seq, uint32_t ssrc);
// An HTTP/1.1 GET of `path` on `host`, and the head of a 200 answer with `content_length` bytes.
Bytes http_get(std::string_view host, std::string_view path);
Bytes http_ok_head(size_t content_length);

}  // namespace traboule::testing

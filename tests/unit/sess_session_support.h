// SPDX-License-Identifier: Apache-2.0
// What the control session tests share: a side (identity + TLS context) loaded from the test
// PKI, a listening socket on 127.0.0.1, and a rogue TLS client that skips every check of its
// own, so the hub's checks are the only ones that can refuse it.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/sessions/control_session.h"
#include "tests/unit/sess_pki_fixture.h"

namespace traboule::cp::test {

inline constexpr std::chrono::milliseconds kTimeout{3000};

struct Side {
  std::unique_ptr<Identity> identity;
  std::unique_ptr<TlsContext> tls;
};

inline Side load_side(const IdentityFiles& files, const PeerIdentity& expect) {
  std::signal(SIGPIPE, SIG_IGN);  // as trabouled does: a peer gone mid-write is EPIPE
  Side s;
  Identity::Loaded l = Identity::load(files, expect);
  EXPECT_EQ(l.error, IdentityError::kOk) << l.detail;
  s.identity = std::move(l.identity);
  if (s.identity) s.tls = TlsContext::create(*s.identity);
  EXPECT_TRUE(s.tls);
  return s;
}

struct Listener {
  int fd = -1;
  uint16_t port = 0;
  Listener() { fd = listen_tcp("127.0.0.1", 0, port); }
  ~Listener() {
    if (fd >= 0) close(fd);
  }
};

// A client that presents `cert`/`key` (none when empty), verifies nothing, speaks TLS up to
// `max_version`, then writes `after` (raw bytes: frames or garbage). Returns when the hub
// closes or after ~kTimeout.
inline void rogue_client(uint16_t port, const std::string& cert, const std::string& key,
                         std::vector<uint8_t> after, int max_version = TLS1_3_VERSION) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (!cert.empty()) {
    SSL_CTX_use_certificate_file(ctx, cert.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      if (!after.empty()) SSL_write(ssl, after.data(), static_cast<int>(after.size()));
      uint8_t buf[256];
      while (SSL_read(ssl, buf, sizeof buf) > 0) {
      }
    }
    SSL_free(ssl);
  }
  close(fd);
  SSL_CTX_free(ctx);
}

template <class M>
std::vector<uint8_t> frame_bytes(const M& m) {
  const WipedBuffer b = encode(m);
  return {b.view().begin(), b.view().end()};
}

}  // namespace traboule::cp::test

// SPDX-License-Identifier: Apache-2.0
// One control session edge ↔ hub (issue 15 item 2): TLS 1.3 only, both sides present a
// certificate from the operator's CA, the CRL is checked when one is loaded, and each side
// accepts only the other role (an edge only a hub, a hub only a site). Blocking sockets with
// timeouts: one thread per session, no call waits longer than the session's timeout.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "controlplane/sessions/control_msg.h"
#include "controlplane/sessions/identity.h"

namespace traboule::cp {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

enum class SessionError : uint8_t {
  kOk = 0,
  kConnect,        // TCP connect failed
  kTimeout,        // the peer said nothing within the timeout
  kTls,            // TLS failed for another reason (protocol version, alert, reset)
  kPeerUntrusted,  // peer certificate not from our CA
  kPeerRevoked,    // peer certificate in our CRL
  kPeerExpired,    // peer certificate expired or not yet valid
  kPeerWrongRole,  // peer certificate is not the role we talk to (or has no identity)
  kHelloExpected,  // the first message was not a hello
  kHelloMismatch,  // hello's role or site id is not the certificate's
  kProtocol,       // a frame the codec refused (codec_error says which)
  kClosed,         // the peer closed the session
  kRefused,        // the peer said goodbye (refused) during the opening
};
const char* session_error_name(SessionError e) noexcept;

// The TLS settings of one side, built once from its identity (the CA, the CRL, its own
// certificate and key): TLS 1.3 only, peer certificate required, peer role checked in the
// verification callback.
class TlsContext {
 public:
  TlsContext() = default;
  // nullptr when OpenSSL refuses the identity (cannot happen for a loaded Identity).
  static std::unique_ptr<TlsContext> create(const Identity& identity);
  TlsContext(const TlsContext&) = delete;  // the SSL_CTX points back at this object
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const noexcept { return ctx_.get(); }
  PeerRole peer_role() const noexcept { return peer_role_; }

 private:
  SslCtxPtr ctx_;
  PeerRole peer_role_ = PeerRole::kUnknown;  // the role this side accepts
};

class ControlSession {
 public:
  struct Opened;
  using Ms = std::chrono::milliseconds;

  // Edge: TCP connect to the hub (an IPv4/IPv6 literal), handshake, send `hello`.
  static Opened connect(const TlsContext& tls, const std::string& host, uint16_t port,
                        const Hello& hello, Ms timeout);
  // Hub: accept one connection on `listen_fd`, handshake, read the hello and check it says
  // what the certificate says (role site, the same site id).
  static Opened accept(const TlsContext& tls, int listen_fd, Ms timeout);

  ~ControlSession();
  ControlSession(const ControlSession&) = delete;
  ControlSession& operator=(const ControlSession&) = delete;

  template <class M>  // Hello, InboundSas, Rekey, Goodbye or ControlMessage
  SessionError send(const M& m) {
    return send_frame(encode(m));
  }
  // One message; kTimeout when none began within the timeout (the session is still usable).
  // Any other error, or a timeout inside a frame, ends the session (the stream lost its framing).
  SessionError receive(ControlMessage& m, CodecError* codec_error = nullptr);
  // Sends goodbye (best effort) and closes TLS and the socket.
  void close(const Goodbye& goodbye);

  const PeerIdentity& peer() const noexcept { return peer_; }
  const std::string& peer_fingerprint() const noexcept { return peer_fingerprint_; }
  const std::string& peer_subject() const noexcept { return peer_subject_; }
  std::time_t peer_not_after() const noexcept { return peer_not_after_; }
  const Hello& peer_hello() const noexcept { return peer_hello_; }
  int tls_version() const noexcept { return SSL_version(ssl_.get()); }  // TLS1_3_VERSION

 private:
  ControlSession(int fd, SslPtr ssl) : fd_(fd), ssl_(std::move(ssl)) {}
  SessionError handshake(bool server, const TlsContext& tls);
  SessionError read_exact(uint8_t* p, size_t n, size_t& got);
  SessionError send_frame(const WipedBuffer& frame);

  int fd_ = -1;
  SslPtr ssl_;
  bool closed_ = false;
  PeerIdentity peer_;
  std::string peer_fingerprint_, peer_subject_;
  std::time_t peer_not_after_ = 0;
  Hello peer_hello_;
};

struct ControlSession::Opened {
  SessionError error = SessionError::kOk;
  std::string detail;  // what OpenSSL or the peer said; never key material
  std::unique_ptr<ControlSession> session;
};

// A TCP listening socket on `host` (a literal) and `port` (0: any; the bound port is
// returned in `bound_port`). -1 on failure.
int listen_tcp(const std::string& host, uint16_t port, uint16_t& bound_port);

}  // namespace traboule::cp

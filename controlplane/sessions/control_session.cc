// SPDX-License-Identifier: Apache-2.0
#include "controlplane/sessions/control_session.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace traboule::cp {

namespace {

// Depth 0 (the peer's own certificate), after the chain and CRL checks passed: it must name
// the role this side talks to. A refusal here is X509_V_ERR_APPLICATION_VERIFICATION, which
// handshake() reports as kPeerWrongRole.
int verify_peer_role(int preverify_ok, X509_STORE_CTX* store) {
  if (!preverify_ok) return 0;
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const auto* tls = static_cast<const TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const std::optional<PeerIdentity> id = peer_identity(X509_STORE_CTX_get_current_cert(store));
  if (tls && id && id->role == tls->peer_role()) return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

SessionError verify_result_error(long v) {
  switch (v) {
    case X509_V_ERR_CERT_REVOKED:
      return SessionError::kPeerRevoked;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return SessionError::kPeerExpired;
    case X509_V_ERR_APPLICATION_VERIFICATION:
      return SessionError::kPeerWrongRole;
    default:
      return SessionError::kPeerUntrusted;
  }
}

void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool make_addr(const std::string& host, uint16_t port, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
    return true;
  }
  return false;
}

// Non-blocking connect bounded by `timeout`, then back to blocking. -1 and `detail` on failure.
int connect_tcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                std::string& detail) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!make_addr(host, port, ss, len)) {
    detail = "'" + host + "' is not an IP address";
    return -1;
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    detail = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int err = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      err = poll(&p, 1, static_cast<int>(timeout.count())) == 1 ? 0 : ETIMEDOUT;
      socklen_t el = sizeof err;
      if (err == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    }
  }
  if (err != 0) {
    detail = "connect " + host + " port " + std::to_string(port) + ": " + strerror(err);
    ::close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd, timeout);
  return fd;
}

// SSL_read / SSL_write failure → session error. With SO_RCVTIMEO, a timeout is WANT_READ.
SessionError io_error(SSL* ssl, int ret) {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return SessionError::kTimeout;
    case SSL_ERROR_ZERO_RETURN:
      return SessionError::kClosed;
    case SSL_ERROR_SYSCALL:
      return ret == 0 ? SessionError::kClosed : SessionError::kTls;
    default:
      return SessionError::kTls;
  }
}

bool configure_ctx(SSL_CTX* ctx, const Identity& identity) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
    return false;
  if (SSL_CTX_use_certificate(ctx, identity.cert()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, identity.key()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return false;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  if (X509_STORE_add_cert(store, identity.ca()) != 1) return false;
  if (identity.crl()) {
    if (X509_STORE_add_crl(store, identity.crl()) != 1) return false;
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  // Every session is a full handshake: no tickets, no resumption (which would skip the CRL).
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_peer_role);
  SSL_CTX_set_verify_depth(ctx, 2);
  return true;
}

}  // namespace

const char* session_error_name(SessionError e) noexcept {
  switch (e) {
    case SessionError::kOk:
      return "ok";
    case SessionError::kConnect:
      return "connect";
    case SessionError::kTimeout:
      return "timeout";
    case SessionError::kTls:
      return "tls";
    case SessionError::kPeerUntrusted:
      return "peer_untrusted";
    case SessionError::kPeerRevoked:
      return "peer_revoked";
    case SessionError::kPeerExpired:
      return "peer_expired";
    case SessionError::kPeerWrongRole:
      return "peer_wrong_role";
    case SessionError::kHelloExpected:
      return "hello_expected";
    case SessionError::kHelloMismatch:
      return "hello_mismatch";
    case SessionError::kProtocol:
      return "protocol";
    case SessionError::kClosed:
      return "closed";
    case SessionError::kRefused:
      return "refused";
  }
  return "unknown";
}

std::unique_ptr<TlsContext> TlsContext::create(const Identity& identity) {
  auto t = std::make_unique<TlsContext>();
  t->ctx_.reset(SSL_CTX_new(TLS_method()));
  if (!t->ctx_ || !configure_ctx(t->ctx_.get(), identity)) {
    ERR_clear_error();
    return nullptr;
  }
  t->peer_role_ = identity.self().role == PeerRole::kHub ? PeerRole::kSite : PeerRole::kHub;
  SSL_CTX_set_app_data(t->ctx_.get(), t.get());
  return t;
}

int listen_tcp(const std::string& host, uint16_t port, uint16_t& bound_port) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!make_addr(host, port, ss, len)) return -1;
  // Non-blocking: accept() polls first, and a connection reset between poll and accept4 must
  // not block the hub (the accepted socket is blocking: accept4 does not inherit the flag).
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ::close(fd);
    return -1;
  }
  bound_port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return fd;
}

ControlSession::~ControlSession() {
  if (fd_ >= 0) ::close(fd_);
}

SessionError ControlSession::handshake(bool server, const TlsContext& tls) {
  SSL_set_fd(ssl_.get(), fd_);
  const int r = server ? SSL_accept(ssl_.get()) : SSL_connect(ssl_.get());
  if (r != 1) {
    const long v = SSL_get_verify_result(ssl_.get());
    if (v != X509_V_OK) return verify_result_error(v);
    return io_error(ssl_.get(), r) == SessionError::kTimeout ? SessionError::kTimeout
                                                             : SessionError::kTls;
  }
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  // The callback checked the role; checked again here, so no path reaches a session without it.
  const std::optional<PeerIdentity> id = peer_identity(cert);
  if (!id || id->role != tls.peer_role()) return SessionError::kPeerWrongRole;
  peer_ = *id;
  peer_fingerprint_ = cert_fingerprint(cert);
  peer_subject_ = cert_subject(cert);
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) peer_not_after_ = timegm(&tm);
  return SessionError::kOk;
}

ControlSession::Opened ControlSession::connect(const TlsContext& tls, const std::string& host,
                                               uint16_t port, const Hello& hello, Ms timeout) {
  Opened out;
  const int fd = connect_tcp(host, port, timeout, out.detail);
  if (fd < 0) {
    out.error = SessionError::kConnect;
    return out;
  }
  std::unique_ptr<ControlSession> s(new ControlSession(fd, SslPtr(SSL_new(tls.get()))));
  out.error = s->handshake(false, tls);
  if (out.error == SessionError::kOk) out.error = s->send(hello);
  if (out.error != SessionError::kOk) {
    out.detail = std::string("hub ") + host + ": " +
                 X509_verify_cert_error_string(SSL_get_verify_result(s->ssl_.get())) + " " +
                 openssl_reason();
    return out;
  }
  out.session = std::move(s);
  return out;
}

ControlSession::Opened ControlSession::accept(const TlsContext& tls, int listen_fd, Ms timeout) {
  Opened out;
  pollfd p{listen_fd, POLLIN, 0};
  const int fd = poll(&p, 1, static_cast<int>(timeout.count())) == 1
                     ? accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC)
                     : -1;
  if (fd < 0) {
    out.error = SessionError::kTimeout;
    out.detail = "no connection";
    return out;
  }
  set_timeouts(fd, timeout);
  std::unique_ptr<ControlSession> s(new ControlSession(fd, SslPtr(SSL_new(tls.get()))));
  out.error = s->handshake(true, tls);
  if (out.error != SessionError::kOk) {
    out.detail = std::string(X509_verify_cert_error_string(SSL_get_verify_result(s->ssl_.get()))) +
                 " " + openssl_reason();
    return out;
  }
  ControlMessage first;
  CodecError codec = CodecError::kOk;
  out.error = s->receive(first, &codec);
  if (out.error == SessionError::kProtocol) out.detail = codec_error_name(codec);
  if (out.error != SessionError::kOk) return out;
  const Hello* hello = std::get_if<Hello>(&first);
  if (!hello) {
    out.error = SessionError::kHelloExpected;
    s->close({GoodbyeReason::kProtocolError, "hello expected"});
  } else if (hello->role != s->peer_.role || hello->site_id != s->peer_.site_id) {
    out.error = SessionError::kHelloMismatch;
    out.detail = "hello says site " + std::to_string(hello->site_id) + ", certificate says site " +
                 std::to_string(s->peer_.site_id);
    s->close({GoodbyeReason::kRefused, out.detail});
  } else {
    s->peer_hello_ = *hello;
    out.session = std::move(s);
  }
  return out;
}

SessionError ControlSession::send_frame(const WipedBuffer& frame) {
  if (closed_) return SessionError::kClosed;
  const int r = SSL_write(ssl_.get(), frame.view().data(), static_cast<int>(frame.size()));
  if (r == static_cast<int>(frame.size())) return SessionError::kOk;
  closed_ = true;  // a half-written frame: the stream is no longer framed
  return io_error(ssl_.get(), r);
}

SessionError ControlSession::read_exact(uint8_t* p, size_t n, size_t& got) {
  got = 0;
  while (got < n) {
    const int r = SSL_read(ssl_.get(), p + got, static_cast<int>(n - got));
    if (r <= 0) return io_error(ssl_.get(), r);
    got += static_cast<size_t>(r);
  }
  return SessionError::kOk;
}

SessionError ControlSession::receive(ControlMessage& m, CodecError* codec_error) {
  if (closed_) return SessionError::kClosed;
  WipedBuffer frame;
  frame.resize(kFrameHeader);
  size_t got = 0;
  SessionError e = read_exact(frame.data(), kFrameHeader, got);
  if (e == SessionError::kTimeout && got == 0) return e;  // nothing of a frame read: usable
  uint32_t body = 0;
  CodecError c = e == SessionError::kOk ? frame_body_length(frame.view(), body) : CodecError::kOk;
  if (e == SessionError::kOk && c == CodecError::kOk) {
    frame.resize(kFrameHeader + body);
    e = read_exact(frame.data() + kFrameHeader, body, got);
  }
  if (e == SessionError::kOk && c == CodecError::kOk) {
    Decoded d = decode(frame.view());
    c = d.error;
    if (d.message) m = std::move(*d.message);
  }
  if (codec_error) *codec_error = c;
  if (e == SessionError::kOk && c != CodecError::kOk) e = SessionError::kProtocol;
  if (e != SessionError::kOk) closed_ = true;  // mid-frame: the stream is lost
  return e;
}

void ControlSession::close(const Goodbye& goodbye) {
  if (!closed_) {
    send(goodbye);
    SSL_shutdown(ssl_.get());
  }
  closed_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace traboule::cp

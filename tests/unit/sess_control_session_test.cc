// SPDX-License-Identifier: Apache-2.0
// The control session over real TLS 1.3 on real sockets (127.0.0.1, one thread per side): the
// edge ↔ hub handshake and message exchange, and each way a peer is refused, by the hub (rogue
// clients that check nothing themselves) and by the edge (servers with the wrong certificate).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/sessions/control_session.h"
#include "tests/unit/sess_session_support.h"

namespace traboule::cp {
namespace {

using test::kTimeout;
using test::load_side;
using test::pki;

const PeerIdentity kHub{PeerRole::kHub, 0};
const PeerIdentity kSite7{PeerRole::kSite, 7};

test::Side hub_side() {
  return load_side(pki().files(pki().a, "hub", true), kHub);
}
test::Side edge7_side() {
  return load_side(pki().files(pki().a, "edge7"), kSite7);
}

SaAnnounce sa(uint16_t path, uint32_t spi, uint8_t seed) {
  std::array<uint8_t, kSaKeyBytes> k;
  std::array<uint8_t, kSaSaltBytes> s;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 3 + i);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(seed + i);
  SaAnnounce a;
  a.path_id = path;
  a.spi = spi;
  a.key = SecretBytes<kSaKeyBytes>(std::span<const uint8_t, kSaKeyBytes>(k));
  a.salt = SecretBytes<kSaSaltBytes>(std::span<const uint8_t, kSaSaltBytes>(s));
  a.created_unix_s = 100;
  a.expires_unix_s = 3700;
  return a;
}

TEST(SessControlSession, EdgeAndHubExchangeSas) {
  test::Side hub = hub_side(), edge = edge7_side();
  test::Listener l;
  ASSERT_GE(l.fd, 0);
  ControlSession::Opened e;
  std::thread edge_thread([&] {
    e = ControlSession::connect(*edge.tls, "127.0.0.1", l.port,
                                Hello{PeerRole::kSite, 7, "traboule-test 1"}, kTimeout);
  });
  ControlSession::Opened h = ControlSession::accept(*hub.tls, l.fd, kTimeout);
  edge_thread.join();
  ASSERT_EQ(h.error, SessionError::kOk) << h.detail;
  ASSERT_EQ(e.error, SessionError::kOk) << e.detail;
  EXPECT_EQ(h.session->peer(), kSite7);
  EXPECT_EQ(h.session->peer_hello().software_version, "traboule-test 1");
  EXPECT_EQ(h.session->peer_subject(), "CN=edge7");
  EXPECT_GT(h.session->peer_not_after(), std::time(nullptr));
  EXPECT_EQ(e.session->peer(), kHub);
  EXPECT_EQ(h.session->tls_version(), TLS1_3_VERSION);
  EXPECT_EQ(e.session->tls_version(), TLS1_3_VERSION);

  // Each side's inbound SAs, a rekey, a goodbye; received byte for byte.
  InboundSas edge_sas;
  edge_sas.sas.push_back(sa(1, 0x100, 1));
  edge_sas.sas.push_back(sa(2, 0x200, 2));
  ASSERT_EQ(e.session->send(edge_sas), SessionError::kOk);
  ControlMessage got;
  ASSERT_EQ(h.session->receive(got), SessionError::kOk);
  const auto* in = std::get_if<InboundSas>(&got);
  ASSERT_NE(in, nullptr);
  ASSERT_EQ(in->sas.size(), 2u);
  EXPECT_TRUE(in->sas[1].key == edge_sas.sas[1].key);
  EXPECT_EQ(in->sas[1].spi, 0x200u);

  Rekey rekey;
  rekey.grace_s = 10;
  rekey.sas.push_back(sa(1, 0x300, 9));
  ASSERT_EQ(h.session->send(rekey), SessionError::kOk);
  ASSERT_EQ(e.session->receive(got), SessionError::kOk);
  const auto* rk = std::get_if<Rekey>(&got);
  ASSERT_NE(rk, nullptr);
  EXPECT_EQ(rk->grace_s, 10u);
  EXPECT_TRUE(rk->sas[0].key == rekey.sas[0].key);

  e.session->close({GoodbyeReason::kShutdown, "uplink removed"});
  ASSERT_EQ(h.session->receive(got), SessionError::kOk);
  const auto* bye = std::get_if<Goodbye>(&got);
  ASSERT_NE(bye, nullptr);
  EXPECT_EQ(bye->reason, GoodbyeReason::kShutdown);
  EXPECT_EQ(h.session->receive(got), SessionError::kClosed);
  EXPECT_EQ(e.session->send(Goodbye{}), SessionError::kClosed);
}

TEST(SessControlSession, ReceiveTimesOutAndStaysUsable) {
  test::Side hub = hub_side(), edge = edge7_side();
  test::Listener l;
  ControlSession::Opened e;
  std::thread t([&] {
    e = ControlSession::connect(*edge.tls, "127.0.0.1", l.port, Hello{PeerRole::kSite, 7, "v"},
                                std::chrono::milliseconds(300));
  });
  ControlSession::Opened h = ControlSession::accept(*hub.tls, l.fd, kTimeout);
  t.join();
  ASSERT_EQ(e.error, SessionError::kOk) << e.detail;
  ASSERT_EQ(h.error, SessionError::kOk) << h.detail;
  ControlMessage m;
  EXPECT_EQ(e.session->receive(m), SessionError::kTimeout);
  ASSERT_EQ(h.session->send(Goodbye{GoodbyeReason::kIdle, ""}), SessionError::kOk);
  EXPECT_EQ(e.session->receive(m), SessionError::kOk);
  EXPECT_NE(std::get_if<Goodbye>(&m), nullptr);
}

TEST(SessControlSession, TimeoutInsideAFrameEndsTheSession) {
  const auto& p = pki();
  test::Side hub = hub_side();
  test::Listener l;
  std::vector<uint8_t> bytes = test::frame_bytes(Hello{PeerRole::kSite, 7, "v"});
  bytes.push_back(0);  // two bytes of the next frame's header, then silence
  bytes.push_back(0);
  std::thread client(
      [&] { test::rogue_client(l.port, p.pem(p.a, "edge7"), p.key(p.a, "edge7"), bytes); });
  ControlSession::Opened h = ControlSession::accept(*hub.tls, l.fd, std::chrono::milliseconds(500));
  ASSERT_EQ(h.error, SessionError::kOk) << h.detail;
  ControlMessage m;
  EXPECT_EQ(h.session->receive(m), SessionError::kTimeout);
  EXPECT_EQ(h.session->receive(m), SessionError::kClosed);  // the stream lost its framing
  h.session->close({});
  client.join();
}

struct HubRow {
  const char* name;
  std::function<void(uint16_t port)> client;
  SessionError want;
};

TEST(SessControlSession, HubRefuses) {
  const auto& p = pki();
  const auto hello = [](uint32_t site) {
    return test::frame_bytes(Hello{PeerRole::kSite, site, "rogue"});
  };
  const auto as = [&](const std::string& ca, const std::string& name, std::vector<uint8_t> b,
                      int version = TLS1_3_VERSION) {
    return [=, &p](uint16_t port) {
      if (name.empty())
        test::rogue_client(port, "", "", b, version);
      else
        test::rogue_client(port, p.pem(ca, name), p.key(ca, name), b, version);
    };
  };
  std::vector<uint8_t> oversize = {0x7f, 0, 0, 0, 1};
  const std::vector<HubRow> rows = {
      {"well-behaved site 7 (control row)", as(p.a, "edge7", hello(7)), SessionError::kOk},
      {"client cert from another CA", as(p.b, "edge7", hello(7)), SessionError::kPeerUntrusted},
      {"revoked client cert", as(p.a, "revoked9", hello(9)), SessionError::kPeerRevoked},
      {"expired client cert", as(p.a, "expired5", hello(5)), SessionError::kPeerExpired},
      {"edge presenting a hub cert", as(p.a, "hub", hello(7)), SessionError::kPeerWrongRole},
      {"cert without a traboule SAN", as(p.a, "no_uri", hello(7)), SessionError::kPeerWrongRole},
      {"cert with two identities", as(p.a, "two_ids", hello(3)), SessionError::kPeerWrongRole},
      {"no client cert", as(p.a, "", hello(7)), SessionError::kTls},
      {"TLS 1.2 client", as(p.a, "edge7", hello(7), TLS1_2_VERSION), SessionError::kTls},
      {"hello site 2 with site 7's cert", as(p.a, "edge7", hello(2)), SessionError::kHelloMismatch},
      {"hub hello from a site cert",
       as(p.a, "edge7", test::frame_bytes(Hello{PeerRole::kHub, 0, ""})),
       SessionError::kHelloMismatch},
      {"SAs before hello", as(p.a, "edge7", test::frame_bytes(InboundSas{})),
       SessionError::kHelloExpected},
      {"oversize first frame", as(p.a, "edge7", oversize), SessionError::kProtocol},
      {"silent after handshake", as(p.a, "edge7", {}), SessionError::kTimeout},
  };
  test::Side hub = hub_side();
  for (const HubRow& r : rows) {
    SCOPED_TRACE(r.name);
    test::Listener l;
    ASSERT_GE(l.fd, 0);
    std::thread client([&] { r.client(l.port); });
    ControlSession::Opened h =
        ControlSession::accept(*hub.tls, l.fd, std::chrono::milliseconds(1000));
    if (h.session) h.session->close({GoodbyeReason::kShutdown, ""});
    client.join();
    EXPECT_STREQ(session_error_name(h.error), session_error_name(r.want)) << h.detail;
    EXPECT_EQ(h.session != nullptr, r.want == SessionError::kOk);
  }
}

struct EdgeRow {
  const char* name;
  IdentityFiles server;
  PeerIdentity server_expect;
  SessionError want;
};

TEST(SessControlSession, EdgeRefuses) {
  const auto& p = pki();
  const std::vector<EdgeRow> rows = {
      {"hub of our CA (control row)", p.files(p.a, "hub"), kHub, SessionError::kOk},
      {"hub presenting a site cert",
       p.files(p.a, "edge2"),
       {PeerRole::kSite, 2},
       SessionError::kPeerWrongRole},
      {"hub of another CA", p.files(p.b, "hub"), kHub, SessionError::kPeerUntrusted},
  };
  test::Side edge = edge7_side();
  for (const EdgeRow& r : rows) {
    SCOPED_TRACE(r.name);
    test::Side server = load_side(r.server, r.server_expect);
    test::Listener l;
    std::thread srv([&] {
      ControlSession::Opened h = ControlSession::accept(*server.tls, l.fd, kTimeout);
      (void)h;
    });
    ControlSession::Opened e = ControlSession::connect(*edge.tls, "127.0.0.1", l.port,
                                                       Hello{PeerRole::kSite, 7, "v"}, kTimeout);
    if (e.session) e.session->close({});
    srv.join();
    EXPECT_STREQ(session_error_name(e.error), session_error_name(r.want)) << e.detail;
  }
}

TEST(SessControlSession, HelloMismatchIsToldToTheEdge) {
  test::Side hub = hub_side(), edge = edge7_side();
  test::Listener l;
  ControlSession::Opened e;
  std::thread t([&] {
    e = ControlSession::connect(*edge.tls, "127.0.0.1", l.port, Hello{PeerRole::kSite, 2, "v"},
                                kTimeout);
  });
  ControlSession::Opened h = ControlSession::accept(*hub.tls, l.fd, kTimeout);
  t.join();
  EXPECT_EQ(h.error, SessionError::kHelloMismatch);
  ASSERT_EQ(e.error, SessionError::kOk);  // TLS was fine; the hub refuses after the hello
  ControlMessage m;
  ASSERT_EQ(e.session->receive(m), SessionError::kOk);
  const auto* bye = std::get_if<Goodbye>(&m);
  ASSERT_NE(bye, nullptr);
  EXPECT_EQ(bye->reason, GoodbyeReason::kRefused);
  EXPECT_NE(bye->detail.find("site 7"), std::string::npos);
}

TEST(SessControlSession, ConnectFailsCleanly) {
  test::Side edge = edge7_side();
  uint16_t port = 0;
  {
    test::Listener l;  // bound, then closed: nothing listens there any more
    port = l.port;
  }
  ControlSession::Opened e = ControlSession::connect(*edge.tls, "127.0.0.1", port,
                                                     Hello{PeerRole::kSite, 7, "v"}, kTimeout);
  EXPECT_EQ(e.error, SessionError::kConnect);
  EXPECT_FALSE(e.detail.empty());
  e = ControlSession::connect(*edge.tls, "hub.example", 4443, Hello{PeerRole::kSite, 7, "v"},
                              kTimeout);
  EXPECT_EQ(e.error, SessionError::kConnect);
}

}  // namespace
}  // namespace traboule::cp

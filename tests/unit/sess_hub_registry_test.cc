// SPDX-License-Identifier: Apache-2.0
// The hub's site table (issue 15 item 2): the claimant rule in a table of claims and removals,
// then end to end over real control sessions: site 7 on two uplinks with one certificate, a
// second certificate for site 7 refused (told by goodbye, logged) while they live, and accepted
// once both said goodbye.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/sessions/control_session.h"
#include "controlplane/sessions/hub_registry.h"
#include "tests/unit/sess_session_support.h"

namespace traboule::cp {
namespace {

using test::kTimeout;
using test::load_side;
using test::pki;

struct Step {
  const char* name;
  bool add;  // true: admit the claim; false: remove its session
  SiteClaim claim;
  AdmitResult want;  // for add
  size_t sites_after;
};

TEST(SessHubRegistry, ClaimantRule) {
  const SiteClaim a1{7, "aaaa", "CN=edge7", 1}, a2{7, "aaaa", "CN=edge7", 2};
  const SiteClaim b3{7, "bbbb", "CN=edge7bis", 3}, c4{2, "cccc", "CN=edge2", 4};
  const std::vector<Step> rows = {
      {"first claimant of site 7", true, a1, AdmitResult::kAdmitted, 1},
      {"same cert, second uplink", true, a2, AdmitResult::kAdmitted, 1},
      {"same session id again", true, a1, AdmitResult::kDuplicateSession, 1},
      {"another cert for site 7", true, b3, AdmitResult::kSiteHeld, 1},
      {"site 2, its own cert", true, c4, AdmitResult::kAdmitted, 2},
      {"site 0", true, {0, "dddd", "CN=x", 5}, AdmitResult::kBadSite, 2},
      {"uplink 1 of site 7 lost", false, a1, AdmitResult::kAdmitted, 2},
      {"still held through uplink 2", true, b3, AdmitResult::kSiteHeld, 2},
      {"uplink 2 says goodbye", false, a2, AdmitResult::kAdmitted, 1},
      {"site 7 free: the other cert now", true, b3, AdmitResult::kAdmitted, 2},
      {"the first cert is now the second claimant",
       true,
       {7, "aaaa", "CN=edge7", 6},
       AdmitResult::kSiteHeld,
       2},
  };
  std::vector<std::string> log;
  HubRegistry reg([&](const std::string& l) { log.push_back(l); });
  uint64_t refused = 0;
  for (const Step& s : rows) {
    SCOPED_TRACE(s.name);
    if (s.add) {
      const size_t logged = log.size();
      EXPECT_STREQ(admit_result_name(reg.admit(s.claim)), admit_result_name(s.want));
      if (s.want != AdmitResult::kAdmitted) {
        ++refused;
        ASSERT_EQ(log.size(), logged + 1);  // each refusal is one log line
        EXPECT_NE(log.back().find("site " + std::to_string(s.claim.site_id)), std::string::npos);
      } else {
        EXPECT_EQ(log.size(), logged);
      }
    } else {
      EXPECT_TRUE(reg.remove(s.claim.session_id));
    }
    EXPECT_EQ(reg.sites().size(), s.sites_after);
  }
  EXPECT_EQ(reg.refused(), refused);
  EXPECT_FALSE(reg.remove(99));
  const auto sites = reg.sites();
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_EQ(sites[1].site_id, 7u);
  EXPECT_EQ(sites[1].cert_fingerprint, "bbbb");
  EXPECT_EQ(sites[1].sessions, std::vector<uint64_t>{3});
  EXPECT_NE(log[1].find("CN=edge7bis"), std::string::npos);  // who was refused
}

// The hub's side of one session as the daemon will do it: accept, admit, refuse by goodbye.
struct HubAccept {
  std::unique_ptr<ControlSession> session;
  AdmitResult admit = AdmitResult::kBadSite;
};

HubAccept hub_accept(const TlsContext& tls, int fd, HubRegistry& reg, uint64_t id) {
  HubAccept out;
  ControlSession::Opened o = ControlSession::accept(tls, fd, kTimeout);
  EXPECT_EQ(o.error, SessionError::kOk) << o.detail;
  if (!o.session) return out;
  out.admit = reg.admit(
      {o.session->peer().site_id, o.session->peer_fingerprint(), o.session->peer_subject(), id});
  if (out.admit != AdmitResult::kAdmitted)
    o.session->close({GoodbyeReason::kRefused, admit_result_name(out.admit)});
  out.session = std::move(o.session);
  return out;
}

std::unique_ptr<ControlSession> edge_connect(const test::Side& edge, uint16_t port, uint32_t site) {
  ControlSession::Opened o = ControlSession::connect(*edge.tls, "127.0.0.1", port,
                                                     Hello{PeerRole::kSite, site, "v"}, kTimeout);
  EXPECT_EQ(o.error, SessionError::kOk) << o.detail;
  return std::move(o.session);
}

TEST(SessHubRegistry, SecondClaimantOverRealSessions) {
  const auto& p = pki();
  test::Side hub = load_side(p.files(p.a, "hub", true), {PeerRole::kHub, 0});
  test::Side edge7 = load_side(p.files(p.a, "edge7"), {PeerRole::kSite, 7});
  test::Side edge7bis = load_side(p.files(p.a, "edge7bis"), {PeerRole::kSite, 7});
  std::vector<std::string> log;
  HubRegistry reg([&](const std::string& l) { log.push_back(l); });
  test::Listener l;
  ASSERT_GE(l.fd, 0);

  const auto open = [&](const test::Side& edge, uint64_t id, std::unique_ptr<ControlSession>& e) {
    std::thread t([&] { e = edge_connect(edge, l.port, 7); });
    HubAccept h = hub_accept(*hub.tls, l.fd, reg, id);
    t.join();
    return h;
  };
  std::unique_ptr<ControlSession> up1, up2, other;
  HubAccept h1 = open(edge7, 1, up1);  // uplink 1 (fiber)
  HubAccept h2 = open(edge7, 2, up2);  // uplink 2 (4G), same certificate
  EXPECT_EQ(h1.admit, AdmitResult::kAdmitted);
  EXPECT_EQ(h2.admit, AdmitResult::kAdmitted);
  ASSERT_EQ(reg.sites().size(), 1u);
  EXPECT_EQ(reg.sites()[0].sessions.size(), 2u);

  HubAccept h3 = open(edge7bis, 3, other);
  EXPECT_EQ(h3.admit, AdmitResult::kSiteHeld);
  ASSERT_TRUE(other);
  ControlMessage m;
  ASSERT_EQ(other->receive(m), SessionError::kOk);
  ASSERT_NE(std::get_if<Goodbye>(&m), nullptr);
  EXPECT_EQ(std::get<Goodbye>(m).reason, GoodbyeReason::kRefused);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("CN=edge7bis"), std::string::npos);

  // Both uplinks of the first claimant say goodbye; the hub removes each session it hears end.
  up1->close({GoodbyeReason::kShutdown, ""});
  up2->close({GoodbyeReason::kShutdown, ""});
  const std::vector<std::pair<ControlSession*, uint64_t>> ends = {{h1.session.get(), 1},
                                                                  {h2.session.get(), 2}};
  for (const auto& [hub_session, id] : ends) {
    ASSERT_EQ(hub_session->receive(m), SessionError::kOk);
    EXPECT_NE(std::get_if<Goodbye>(&m), nullptr);
    EXPECT_TRUE(reg.remove(id));
  }
  EXPECT_FALSE(reg.holds(7));

  HubAccept h4 = open(edge7bis, 4, other);
  EXPECT_EQ(h4.admit, AdmitResult::kAdmitted);
  ASSERT_EQ(reg.sites().size(), 1u);
  EXPECT_EQ(reg.sites()[0].cert_fingerprint, h4.session->peer_fingerprint());
  EXPECT_EQ(reg.refused(), 1u);
}

}  // namespace
}  // namespace traboule::cp

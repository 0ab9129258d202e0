// SPDX-License-Identifier: Apache-2.0
// A box's identity (issue 15 item 1): tools/pki's output loads, and every way the files can be
// wrong is its own error; the SAN URI rule, with hostile SANs; key files are 0600.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "controlplane/sessions/identity.h"
#include "tests/unit/sess_pki_fixture.h"

namespace traboule::cp {
namespace {

using test::pki;

X509Ptr read_cert(const std::string& path) {
  FILE* f = fopen(path.c_str(), "r");
  if (!f) return nullptr;
  X509Ptr x(PEM_read_X509(f, nullptr, nullptr, nullptr));
  fclose(f);
  return x;
}

struct LoadRow {
  const char* name;
  IdentityFiles files;
  PeerIdentity expect;
  IdentityError error;
};

TEST(SessIdentity, LoadRows) {
  const auto& p = pki();
  const PeerIdentity site7{PeerRole::kSite, 7}, hub{PeerRole::kHub, 0};
  IdentityFiles mismatched = p.files(p.a, "edge7");
  mismatched.key = p.key(p.a, "edge2");
  IdentityFiles other_ca = p.files(p.b, "edge7");
  other_ca.ca_cert = p.a + "/ca.pem";
  IdentityFiles no_key = p.files(p.a, "edge7");
  no_key.key = p.a + "/nope.key";
  IdentityFiles key_as_cert = p.files(p.a, "edge7");
  key_as_cert.cert = p.key(p.a, "edge7");
  IdentityFiles no_crl = p.files(p.a, "hub");
  no_crl.crl = p.a + "/missing-crl.pem";
  IdentityFiles foreign_crl = p.files(p.a, "hub");
  foreign_crl.crl = p.b + "/crl.pem";  // made below: signed by CA b
  ASSERT_EQ(test::run(p.pki + " crl " + p.b), 0);
  IdentityFiles stale_crl = p.files(p.a, "hub");
  stale_crl.crl = p.a + "/stale-crl.pem";
  const std::vector<LoadRow> rows = {
      {"edge ok", p.files(p.a, "edge7"), site7, IdentityError::kOk},
      {"edge ok with CRL", p.files(p.a, "edge7", true), site7, IdentityError::kOk},
      {"hub ok with CRL", p.files(p.a, "hub", true), hub, IdentityError::kOk},
      {"missing key file", no_key, site7, IdentityError::kMissingFile},
      {"missing CRL file", no_crl, hub, IdentityError::kMissingFile},
      {"empty CA path",
       {"", p.pem(p.a, "edge7"), p.key(p.a, "edge7"), ""},
       site7,
       IdentityError::kMissingFile},
      {"key given as certificate", key_as_cert, site7, IdentityError::kBadPem},
      {"key of another box", mismatched, site7, IdentityError::kKeyMismatch},
      {"certificate of another CA", other_ca, site7, IdentityError::kNotSignedByCa},
      {"expired", p.files(p.a, "expired5"), {PeerRole::kSite, 5}, IdentityError::kExpired},
      {"revoked (own CRL)",
       p.files(p.a, "revoked9", true),
       {PeerRole::kSite, 9},
       IdentityError::kRevoked},
      {"CRL of another CA", foreign_crl, hub, IdentityError::kBadCrl},
      {"CRL past its next update", stale_crl, hub, IdentityError::kBadCrl},
      {"config site 8, certificate site 7",
       p.files(p.a, "edge7"),
       {PeerRole::kSite, 8},
       IdentityError::kSiteMismatch},
      {"config hub, certificate site", p.files(p.a, "edge7"), hub, IdentityError::kRoleMismatch},
      {"config edge, certificate hub", p.files(p.a, "hub"), site7, IdentityError::kRoleMismatch},
      {"two identities in one cert",
       p.files(p.a, "two_ids"),
       {PeerRole::kSite, 3},
       IdentityError::kNoIdentity},
      {"no traboule URI", p.files(p.a, "no_uri"), site7, IdentityError::kNoIdentity},
  };
  for (const LoadRow& r : rows) {
    SCOPED_TRACE(r.name);
    Identity::Loaded l = Identity::load(r.files, r.expect);
    EXPECT_EQ(identity_error_name(l.error), std::string(identity_error_name(r.error))) << l.detail;
    EXPECT_EQ(l.identity != nullptr, r.error == IdentityError::kOk);
    if (l.identity) {
      EXPECT_EQ(l.identity->self(), r.expect);
    }
    if (r.error != IdentityError::kOk) {
      EXPECT_FALSE(l.detail.empty());
    }
    EXPECT_EQ(l.detail.find("PRIVATE KEY"), std::string::npos);
  }
}

struct SanRow {
  const char* cert;
  std::optional<PeerIdentity> want;
};

TEST(SessIdentity, PeerIdentityFromSan) {
  const auto& p = pki();
  const std::vector<SanRow> rows = {
      {"edge7", PeerIdentity{PeerRole::kSite, 7}},
      {"edge2", PeerIdentity{PeerRole::kSite, 2}},
      {"hub", PeerIdentity{PeerRole::kHub, 0}},
      {"two_ids", std::nullopt},    // ambiguous: refused, not the first one
      {"zero_lead", std::nullopt},  // "07": one site has one spelling
      {"site0", std::nullopt},
      {"too_big", std::nullopt},  // 4096
      {"no_uri", std::nullopt},
      {"other_urn", std::nullopt},  // urn:traboule:ca and a URL are not box identities
  };
  for (const SanRow& r : rows) {
    SCOPED_TRACE(r.cert);
    X509Ptr x = read_cert(p.pem(p.a, r.cert));
    ASSERT_TRUE(x);
    EXPECT_EQ(peer_identity(x.get()), r.want);
  }
  EXPECT_EQ(peer_identity(nullptr), std::nullopt);
}

TEST(SessIdentity, FingerprintTellsCertificatesApart) {
  const auto& p = pki();
  X509Ptr one = read_cert(p.pem(p.a, "edge7")), two = read_cert(p.pem(p.a, "edge7bis"));
  ASSERT_TRUE(one && two);
  EXPECT_EQ(cert_fingerprint(one.get()).size(), 64u);
  EXPECT_NE(cert_fingerprint(one.get()), cert_fingerprint(two.get()));
  EXPECT_EQ(peer_identity(one.get()), peer_identity(two.get()));  // same site, two certs
  EXPECT_EQ(cert_subject(one.get()), "CN=edge7");
}

TEST(SessPki, KeysAre0600AndToolRefusesBadInput) {
  const auto& p = pki();
  for (const char* f : {"/ca.key", "/edge7.key", "/hub.key"}) {
    struct stat st {};
    ASSERT_EQ(stat((p.a + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_TRUE(std::ifstream(p.a + "/crl.pem").good());
  EXPECT_NE(test::run(p.pki + " issue " + p.a + " --site 0 zero"), 0);
  EXPECT_NE(test::run(p.pki + " issue " + p.a + " --site 4096 big"), 0);
  EXPECT_NE(test::run(p.pki + " issue " + p.a + " --site 7 edge7"), 0);  // would overwrite
  EXPECT_NE(test::run(p.pki + " issue " + p.a + " edge_without_role"), 0);
  EXPECT_NE(test::run(p.pki + " issue " + p.a + " --hub '../escape'"), 0);
  EXPECT_NE(test::run(p.pki + " ca " + p.a), 0);  // never overwrites a CA
  EXPECT_EQ(test::run(p.pki + " --help"), 0);
}

}  // namespace
}  // namespace traboule::cp

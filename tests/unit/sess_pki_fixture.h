// SPDX-License-Identifier: Apache-2.0
// The certificates the sessions tests use, made once per test binary in a temporary directory
// by tools/pki (the operator's tool, so the tests hold it to its promises too): CA "a" with an
// edge of site 7 and one of site 2, a hub, a revoked edge, an expired edge and certificates
// with odd SANs; CA "b", another operator, with its own edge of site 7 and hub.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "controlplane/sessions/identity.h"

namespace traboule::cp::test {

inline int run(const std::string& cmd) {
  const int r = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

struct Pki {
  std::string root, a, b;  // CA directories
  std::string pki = std::string(TRABOULE_SOURCE_DIR) + "/tools/pki";
  ~Pki() {
    std::error_code ec;
    if (!root.empty()) std::filesystem::remove_all(root, ec);
  }

  std::string pem(const std::string& ca, const std::string& name) const {
    return ca + "/" + name + ".pem";
  }
  std::string key(const std::string& ca, const std::string& name) const {
    return ca + "/" + name + ".key";
  }
  IdentityFiles files(const std::string& ca, const std::string& name, bool crl = false) const {
    return {ca + "/ca.pem", pem(ca, name), key(ca, name), crl ? ca + "/crl.pem" : ""};
  }

  // A certificate tools/pki would not make (any SAN, any dates), with the CA's own config.
  void issue_raw(const std::string& ca, const std::string& name, const std::string& san,
                 const std::string& dates = "") const {
    ASSERT_EQ(
        run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + key(ca, name)),
        0);
    ASSERT_EQ(run("openssl req -new -key " + key(ca, name) + " -subj /CN=" + name + " -out " + ca +
                  "/" + name + ".csr"),
              0);
    ASSERT_EQ(run("cd " + ca + " && TRABOULE_SAN='" + san +
                  "' openssl ca -batch -notext -config openssl.cnf -extensions box_ext " +
                  (dates.empty() ? std::string("-days 30") : dates) + " -in " + name +
                  ".csr -out " + name + ".pem"),
              0);
  }

  void make() {
    char tmpl[] = "/tmp/traboule-sess-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root = tmpl;
    a = root + "/a";
    b = root + "/b";
    ASSERT_EQ(run(pki + " ca " + a), 0);
    ASSERT_EQ(run(pki + " ca " + b), 0);
    ASSERT_EQ(run(pki + " issue " + a + " --site 7 edge7"), 0);
    ASSERT_EQ(run(pki + " issue " + a + " --site 7 edge7bis"), 0);  // another cert, same site
    ASSERT_EQ(run(pki + " issue " + a + " --site 2 edge2"), 0);
    ASSERT_EQ(run(pki + " issue " + a + " --hub hub"), 0);
    ASSERT_EQ(run(pki + " issue " + a + " --site 9 revoked9"), 0);
    ASSERT_EQ(run(pki + " revoke " + a + " " + pem(a, "revoked9")), 0);
    ASSERT_EQ(run(pki + " crl " + a), 0);
    // A CRL whose next update is long past: a hub that stopped refreshing its CRL.
    ASSERT_EQ(
        run("cd " + a +
            " && TRABOULE_SAN=URI:urn:traboule:none openssl ca -gencrl -config openssl.cnf "
            "-crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z -out stale-crl.pem"),
        0);
    ASSERT_EQ(run(pki + " issue " + b + " --site 7 edge7"), 0);
    ASSERT_EQ(run(pki + " issue " + b + " --hub hub"), 0);
    // `openssl ca` takes explicit dates, so an expired certificate needs no clock games.
    issue_raw(a, "expired5", "URI:urn:traboule:site:5",
              "-startdate 20200101000000Z -enddate 20200102000000Z");
    issue_raw(a, "two_ids", "URI:urn:traboule:site:3,URI:urn:traboule:hub");
    issue_raw(a, "zero_lead", "URI:urn:traboule:site:07");
    issue_raw(a, "site0", "URI:urn:traboule:site:0");
    issue_raw(a, "too_big", "URI:urn:traboule:site:4096");
    issue_raw(a, "no_uri", "DNS:box.example");
    issue_raw(a, "other_urn", "URI:urn:traboule:ca,URI:https://example.org/site/4");
  }
};

// One Pki for the whole binary (ECDSA keys and `openssl ca` runs cost ~1 s in all).
inline const Pki& pki() {
  static Pki p;
  static const bool made = [] {
    p.make();
    return true;
  }();
  (void)made;
  return p;
}

}  // namespace traboule::cp::test

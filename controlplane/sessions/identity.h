// SPDX-License-Identifier: Apache-2.0
// A box's identity (issue 15 item 1): the operator's CA, the box's certificate and key, the
// hub's CRL, loaded and checked once at start with a named error for each way they can be
// wrong. Who a certificate speaks for is one SAN URI (tools/pki): urn:traboule:site:<id> for an
// edge of site <id>, urn:traboule:hub for a hub; anything else is no identity.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "dataplane/proto/overlay_header.h"

namespace traboule::cp {

struct X509Free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct X509CrlFree {
  void operator()(X509_CRL* x) const noexcept { X509_CRL_free(x); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlFree>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

enum class PeerRole : uint8_t { kUnknown = 0, kSite = 1, kHub = 2 };
const char* peer_role_name(PeerRole r) noexcept;

struct PeerIdentity {
  PeerRole role = PeerRole::kUnknown;
  uint32_t site_id = 0;  // kSite: 1..kMaxSiteId; kHub: 0
  bool operator==(const PeerIdentity&) const = default;
};

// The overlay's site ids (1..4095, dataplane/proto/overlay_header.h): a certificate for any
// other site could never match an edge's config.
inline constexpr uint32_t kMaxSiteId = dp::kMaxSiteId;

// The role and site of a certificate from its SAN URIs. nullopt when it has none of ours, more
// than one (ambiguous), or a malformed one (site 0, over kMaxSiteId, leading zeros, junk).
std::optional<PeerIdentity> peer_identity(X509* cert);

// SHA-256 of the certificate's DER, lowercase hex: what tells two certificates apart.
std::string cert_fingerprint(X509* cert);
std::string cert_subject(X509* cert);  // one line, RFC 2253
// OpenSSL's last error as text, the error queue cleared; "" when there is none.
std::string openssl_reason();

enum class IdentityError : uint8_t {
  kOk = 0,
  kMissingFile,    // a named file does not exist or cannot be read
  kBadPem,         // not a PEM certificate / key / CRL
  kKeyMismatch,    // the key is not the certificate's
  kNotSignedByCa,  // the certificate does not chain to the configured CA
  kExpired,
  kNotYetValid,
  kRevoked,       // listed in the loaded CRL
  kBadCrl,        // the CRL is not signed by the CA (or is out of date)
  kNoIdentity,    // no (or an ambiguous) traboule SAN URI
  kRoleMismatch,  // config says edge, certificate says hub, or the reverse
  kSiteMismatch,  // the edge config's site id is not the certificate's
};
const char* identity_error_name(IdentityError e) noexcept;

struct IdentityFiles {
  std::string ca_cert;
  std::string cert;
  std::string key;
  std::string crl;  // optional (empty: none); the hub's
};

class Identity {
 public:
  struct Loaded;
  // `expect`: the role from the daemon config and, for an edge, its site id.
  static Loaded load(const IdentityFiles& files, const PeerIdentity& expect);

  X509* ca() const noexcept { return ca_.get(); }
  X509* cert() const noexcept { return cert_.get(); }
  EVP_PKEY* key() const noexcept { return key_.get(); }
  X509_CRL* crl() const noexcept { return crl_.get(); }  // nullptr: none loaded
  const PeerIdentity& self() const noexcept { return self_; }

 private:
  X509Ptr ca_, cert_;
  EvpPkeyPtr key_;
  X509CrlPtr crl_;
  PeerIdentity self_;
};

struct Identity::Loaded {
  IdentityError error = IdentityError::kOk;
  std::string detail;  // the file, the OpenSSL reason; never key material
  std::unique_ptr<Identity> identity;
};

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/sessions/identity.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <string_view>

namespace traboule::cp {

namespace {

constexpr std::string_view kSitePrefix = "urn:traboule:site:";
constexpr std::string_view kHubUri = "urn:traboule:hub";

struct FileClose {
  void operator()(FILE* f) const noexcept { fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileClose>;

struct StoreFree {
  void operator()(X509_STORE* s) const noexcept { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* s) const noexcept { X509_STORE_CTX_free(s); }
};

// "7" → 7; refuses empty, leading zeros, non-digits, 0 and > kMaxSiteId.
std::optional<uint32_t> parse_site(std::string_view s) {
  if (s.empty() || s.size() > 6 || s[0] == '0') return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > kMaxSiteId) return std::nullopt;
  return v;
}

// Opens `path` for PEM reading; on failure sets `out` to kMissingFile.
FilePtr open_pem(const std::string& path, const char* what, Identity::Loaded& out) {
  FilePtr f(path.empty() ? nullptr : fopen(path.c_str(), "r"));
  if (!f) {
    out.error = IdentityError::kMissingFile;
    out.detail = std::string(what) + " file '" + path + "' cannot be read";
  }
  return f;
}

void bad_pem(Identity::Loaded& out, const char* what, const std::string& path) {
  out.error = IdentityError::kBadPem;
  out.detail = std::string(what) + " file '" + path + "' is not a PEM " + what;
  ERR_clear_error();
}

IdentityError verify_error(int code) {
  switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return IdentityError::kExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return IdentityError::kNotYetValid;
    case X509_V_ERR_CERT_REVOKED:
      return IdentityError::kRevoked;
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_UNABLE_TO_GET_CRL:
      return IdentityError::kBadCrl;
    default:
      return IdentityError::kNotSignedByCa;
  }
}

// The certificate chains to the CA (and is not revoked, when a CRL is loaded).
void verify_chain(X509* ca, X509* cert, X509_CRL* crl, Identity::Loaded& out) {
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      (crl && X509_STORE_add_crl(store.get(), crl) != 1) ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1) {
    out.error = IdentityError::kNotSignedByCa;
    out.detail = "cannot build a verification store: " + openssl_reason();
    return;
  }
  if (crl) X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_CRL_CHECK);
  if (X509_verify_cert(ctx.get()) == 1) return;
  const int code = X509_STORE_CTX_get_error(ctx.get());
  out.error = verify_error(code);
  out.detail = std::string("certificate: ") + X509_verify_cert_error_string(code);
  ERR_clear_error();
}

void check_role(const PeerIdentity& expect, const std::optional<PeerIdentity>& got,
                Identity::Loaded& out) {
  if (!got) {
    out.error = IdentityError::kNoIdentity;
    out.detail = "certificate has no (or an ambiguous) urn:traboule: SAN URI";
  } else if (got->role != expect.role) {
    out.error = IdentityError::kRoleMismatch;
    out.detail = std::string("config role is ") + peer_role_name(expect.role) +
                 ", certificate says " + peer_role_name(got->role);
  } else if (got->site_id != expect.site_id) {
    out.error = IdentityError::kSiteMismatch;
    out.detail = "config site id " + std::to_string(expect.site_id) + ", certificate site id " +
                 std::to_string(got->site_id);
  }
}

}  // namespace

const char* peer_role_name(PeerRole r) noexcept {
  switch (r) {
    case PeerRole::kSite:
      return "site";
    case PeerRole::kHub:
      return "hub";
    case PeerRole::kUnknown:
      break;
  }
  return "unknown";
}

const char* identity_error_name(IdentityError e) noexcept {
  switch (e) {
    case IdentityError::kOk:
      return "ok";
    case IdentityError::kMissingFile:
      return "missing_file";
    case IdentityError::kBadPem:
      return "bad_pem";
    case IdentityError::kKeyMismatch:
      return "key_mismatch";
    case IdentityError::kNotSignedByCa:
      return "not_signed_by_ca";
    case IdentityError::kExpired:
      return "expired";
    case IdentityError::kNotYetValid:
      return "not_yet_valid";
    case IdentityError::kRevoked:
      return "revoked";
    case IdentityError::kBadCrl:
      return "bad_crl";
    case IdentityError::kNoIdentity:
      return "no_identity";
    case IdentityError::kRoleMismatch:
      return "role_mismatch";
    case IdentityError::kSiteMismatch:
      return "site_mismatch";
  }
  return "unknown";
}

std::optional<PeerIdentity> peer_identity(X509* cert) {
  if (!cert) return std::nullopt;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return std::nullopt;
  std::optional<PeerIdentity> found;
  bool bad = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = n->d.uniformResourceIdentifier;
    std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    if (uri.substr(0, 13) != "urn:traboule:") continue;
    PeerIdentity id;
    if (uri == kHubUri) {
      id.role = PeerRole::kHub;
    } else if (uri.substr(0, kSitePrefix.size()) == kSitePrefix) {
      const std::optional<uint32_t> site = parse_site(uri.substr(kSitePrefix.size()));
      if (!site) bad = true;
      id = {PeerRole::kSite, site.value_or(0)};
    } else {
      continue;  // urn:traboule:ca and later kinds: not a box identity
    }
    if (found) bad = true;  // two identities: ambiguous
    found = id;
  }
  GENERAL_NAMES_free(names);
  if (bad) return std::nullopt;
  return found;
}

std::string cert_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1) return "";
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < n; ++i) {
    s.push_back(kHex[md[i] >> 4]);
    s.push_back(kHex[md[i] & 15]);
  }
  return s;
}

std::string openssl_reason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string cert_subject(X509* cert) {
  if (!cert) return "";
  BIO* b = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<size_t>(n));
  BIO_free(b);
  return s;
}

Identity::Loaded Identity::load(const IdentityFiles& files, const PeerIdentity& expect) {
  Loaded out;
  auto id = std::unique_ptr<Identity>(new Identity());
  if (FilePtr f = open_pem(files.ca_cert, "CA certificate", out)) {
    id->ca_.reset(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
    if (!id->ca_) bad_pem(out, "certificate", files.ca_cert);
  }
  if (out.error != IdentityError::kOk) return out;
  if (FilePtr f = open_pem(files.cert, "certificate", out)) {
    id->cert_.reset(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
    if (!id->cert_) bad_pem(out, "certificate", files.cert);
  }
  if (out.error != IdentityError::kOk) return out;
  if (FilePtr f = open_pem(files.key, "key", out)) {
    id->key_.reset(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
    if (!id->key_) bad_pem(out, "private key", files.key);
  }
  if (out.error != IdentityError::kOk) return out;
  if (!files.crl.empty()) {
    if (FilePtr f = open_pem(files.crl, "CRL", out)) {
      id->crl_.reset(PEM_read_X509_CRL(f.get(), nullptr, nullptr, nullptr));
      if (!id->crl_) bad_pem(out, "CRL", files.crl);
    }
    if (out.error != IdentityError::kOk) return out;
  }
  if (X509_check_private_key(id->cert_.get(), id->key_.get()) != 1) {
    ERR_clear_error();
    out.error = IdentityError::kKeyMismatch;
    out.detail = "key '" + files.key + "' is not the key of certificate '" + files.cert + "'";
    return out;
  }
  verify_chain(id->ca_.get(), id->cert_.get(), id->crl_.get(), out);
  if (out.error != IdentityError::kOk) return out;
  const std::optional<PeerIdentity> self = peer_identity(id->cert_.get());
  check_role(expect, self, out);
  if (out.error != IdentityError::kOk) return out;
  id->self_ = *self;
  out.identity = std::move(id);
  return out;
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// What the control-plane tests share: a temporary directory per test and a self-signed TLS
// certificate for the API servers they start on 127.0.0.1.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace traboule::cp::testing {

// A directory of its own (under the system's temp directory, named after `prefix` and the
// process), removed with everything in it afterwards.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "traboule-test") {
    namespace fs = std::filesystem;
    std::string tmpl =
        (fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-XXXXXX"))
            .string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A P-256 key and a self-signed certificate for 127.0.0.1 (subjectAltName IP), as PEM files.
inline void make_certificate(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  ASSERT_NE(san, nullptr);
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* f = std::fopen(cert_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

// A test suite whose API servers share one self-signed certificate, made once per suite.
class CertifiedSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TempDir("traboule-api");
    make_certificate(cert(), key());
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  static std::string cert() { return certs_->path() + "/cert.pem"; }
  static std::string key() { return certs_->path() + "/key.pem"; }

 private:
  static inline TempDir* certs_ = nullptr;
};

}  // namespace traboule::cp::testing

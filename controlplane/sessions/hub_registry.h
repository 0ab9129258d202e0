// SPDX-License-Identifier: Apache-2.0
// The hub's site table (issue 15 item 2), filled only from control sessions that passed the
// TLS checks (CA, CRL, role) and the hello check, never from data packets. The claimant rule:
// a site id belongs to the certificate of its first live session; more sessions of that same
// certificate (one per uplink) join it; a different certificate claiming the site while one of
// those sessions lives is refused and logged; when the last one ends, the site is free again.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace traboule::cp {

struct SiteClaim {
  uint32_t site_id = 0;
  std::string cert_fingerprint;  // SHA-256 of the certificate (cert_fingerprint())
  std::string cert_subject;      // for the log line
  uint64_t session_id = 0;       // unique per control session, chosen by the hub
};

enum class AdmitResult : uint8_t {
  kAdmitted = 0,      // the site's first session, or another one of the same certificate
  kSiteHeld,          // another certificate holds this site id through a live session
  kDuplicateSession,  // this session id is already in the table
  kBadSite,           // site id 0
};
const char* admit_result_name(AdmitResult r) noexcept;

struct SiteEntry {
  uint32_t site_id = 0;
  std::string cert_fingerprint, cert_subject;
  std::vector<uint64_t> sessions;  // live control sessions (one per uplink), ascending
};

class HubRegistry {
 public:
  using Log = std::function<void(const std::string&)>;
  explicit HubRegistry(Log log = {}) : log_(std::move(log)) {}

  AdmitResult admit(const SiteClaim& claim);
  // Goodbye or session loss; true when the session was in the table.
  bool remove(uint64_t session_id);

  std::vector<SiteEntry> sites() const;  // by site id
  bool holds(uint32_t site_id) const;
  uint64_t refused() const;  // claims refused since start

 private:
  void log(const std::string& line) const {
    if (log_) log_(line);
  }
  Log log_;
  mutable std::mutex mu_;
  std::map<uint32_t, SiteEntry> sites_;
  std::map<uint64_t, uint32_t> session_site_;
  uint64_t refused_ = 0;
};

}  // namespace traboule::cp

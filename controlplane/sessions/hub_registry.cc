// SPDX-License-Identifier: Apache-2.0
#include "controlplane/sessions/hub_registry.h"

#include <algorithm>

namespace traboule::cp {

const char* admit_result_name(AdmitResult r) noexcept {
  switch (r) {
    case AdmitResult::kAdmitted:
      return "admitted";
    case AdmitResult::kSiteHeld:
      return "site_held_by_another_certificate";
    case AdmitResult::kDuplicateSession:
      return "duplicate_session";
    case AdmitResult::kBadSite:
      return "bad_site";
  }
  return "unknown";
}

AdmitResult HubRegistry::admit(const SiteClaim& claim) {
  std::lock_guard lock(mu_);
  AdmitResult r = AdmitResult::kAdmitted;
  auto it = sites_.find(claim.site_id);
  if (claim.site_id == 0) {
    r = AdmitResult::kBadSite;
  } else if (session_site_.count(claim.session_id)) {
    r = AdmitResult::kDuplicateSession;
  } else if (it != sites_.end() && it->second.cert_fingerprint != claim.cert_fingerprint) {
    r = AdmitResult::kSiteHeld;
  }
  if (r != AdmitResult::kAdmitted) {
    ++refused_;
    std::string line = "control session " + std::to_string(claim.session_id) + " (" +
                       claim.cert_subject + ") refused for site " + std::to_string(claim.site_id) +
                       ": " + admit_result_name(r);
    if (r == AdmitResult::kSiteHeld)
      line += " (" + it->second.cert_subject + ", sha256 " +
              it->second.cert_fingerprint.substr(0, 16) + ")";
    log(line);
    return r;
  }
  if (it == sites_.end()) {
    it = sites_
             .emplace(claim.site_id,
                      SiteEntry{claim.site_id, claim.cert_fingerprint, claim.cert_subject, {}})
             .first;
  }
  it->second.sessions.push_back(claim.session_id);
  std::sort(it->second.sessions.begin(), it->second.sessions.end());
  session_site_[claim.session_id] = claim.site_id;
  return r;
}

bool HubRegistry::remove(uint64_t session_id) {
  std::lock_guard lock(mu_);
  auto s = session_site_.find(session_id);
  if (s == session_site_.end()) return false;
  auto it = sites_.find(s->second);
  session_site_.erase(s);
  if (it == sites_.end()) return true;
  auto& v = it->second.sessions;
  v.erase(std::remove(v.begin(), v.end(), session_id), v.end());
  if (v.empty()) sites_.erase(it);  // the last session gone: the site id is free
  return true;
}

std::vector<SiteEntry> HubRegistry::sites() const {
  std::lock_guard lock(mu_);
  std::vector<SiteEntry> out;
  out.reserve(sites_.size());
  for (const auto& [id, e] : sites_) out.push_back(e);
  return out;
}

bool HubRegistry::holds(uint32_t site_id) const {
  std::lock_guard lock(mu_);
  return sites_.count(site_id) != 0;
}

uint64_t HubRegistry::refused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

}  // namespace traboule::cp

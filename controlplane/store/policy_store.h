// SPDX-License-Identifier: Apache-2.0
// Every committed policy kept as a numbered version file in <state_dir>/policies, plus the
// record of which version is committed: what the daemon restores at restart. Each file is
// written atomically (temp file, fsync, rename, fsync of the directory) and checked when read
// (JSON, fields, hash of the canonical text), so a torn or tampered file is never loaded.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace traboule::cp {

// A file could not be written or read back (names the path and the system error).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// committed: applied and active (or superseded since); pending: applied with commit-confirmed,
// waiting for confirm(); confirmed: a pending version confirmed in time; rolled-back: a pending
// version undone (deadline passed, restart, explicit rollback, activation failure).
enum class VersionState { kCommitted, kPending, kConfirmed, kRolledBack };
const char* to_string(VersionState s);
std::optional<VersionState> parse_version_state(std::string_view s);

// How a pending version ended (confirmed or rolled back): when, by whom, why.
struct Resolution {
  std::string time;  // RFC 3339 UTC
  std::string author;
  std::string reason;
  bool operator==(const Resolution&) const = default;
};

struct PolicyVersion {
  uint64_t version = 0;
  std::string author;
  std::string time;  // RFC 3339 UTC, when it was created
  std::string comment;
  std::string hash;                // sha256 hex of canonical_text(policy)
  std::optional<uint64_t> parent;  // the version running when this one was made
  VersionState state = VersionState::kCommitted;
  nlohmann::json policy;
  std::optional<uint64_t> rollback_of;   // made by rollback(N): N
  std::string confirm_deadline;          // RFC 3339 UTC; empty unless commit-confirmed
  std::optional<Resolution> resolution;  // set when a pending version is confirmed/undone
  bool operator==(const PolicyVersion&) const = default;
};

// The API form. `with_policy` false gives the metadata only (history listings).
nlohmann::json to_json(const PolicyVersion& v, bool with_policy = true);
// The file form: to_json plus "checksum", the sha256 of the canonical text of everything else,
// so a damaged byte anywhere (even in a comment) is caught, not only in the policy.
std::string version_file_text(const PolicyVersion& v);
// Checks the JSON, every field, the checksum and the hash against the policy. On failure
// returns nullopt and says why.
std::optional<PolicyVersion> parse_version_file(const std::string& text, std::string& error);

// "2025-03-01T12:00:00.250Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

// Not thread-safe: PolicyManager serialises every call.
class PolicyStore {
 public:
  // The directory is <state_dir>/policies. Nothing is touched before open().
  explicit PolicyStore(std::string state_dir);

  // Creates the directory if needed, removes temp files left by an interrupted write, reads and
  // checks every version file and the committed pointer. Returns what was wrong (each corrupt
  // file, a bad pointer, the fallback taken): the daemon logs these at error level.
  // Throws StoreError if the directory cannot be created or listed.
  std::vector<std::string> open();

  // Writes (creates or replaces) a version file atomically, then remembers it.
  // Throws StoreError; on failure the previous file, if any, is intact.
  void write(const PolicyVersion& v);
  // Records `version` (which must have been written) as the committed one, atomically.
  void set_committed(uint64_t version);

  // The versions to restore at start, best first: the committed pointer's version, then the
  // older committed/confirmed versions newest first. A bad pointer or a corrupt pointed file
  // is left out (open() said so); versions newer than the pointer are never candidates.
  std::vector<uint64_t> restore_candidates() const;

  std::optional<PolicyVersion> get(uint64_t version) const;
  std::vector<PolicyVersion> list() const;    // every good version, oldest first
  std::optional<uint64_t> committed() const;  // the pointer, when it was good
  // One past the highest version number seen, corrupt files included (numbers are never
  // reused, so a damaged file stays as evidence).
  uint64_t next_version() const { return highest_seen_ + 1; }
  uint64_t corrupt_files() const { return corrupt_files_; }
  const std::string& directory() const { return dir_; }

  static std::string file_name(uint64_t version);  // "000042.json"
  static constexpr const char* kPointerFile = "committed.json";

 private:
  void write_atomically(const std::string& name, const std::string& content);

  std::string dir_;
  std::map<uint64_t, PolicyVersion> versions_;
  std::optional<uint64_t> committed_;
  uint64_t highest_seen_ = 0;
  uint64_t corrupt_files_ = 0;
  uint64_t temp_counter_ = 0;
};

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// The running policy and every change to it: validate, apply (optionally commit-confirmed,
// undone automatically when not confirmed in time), confirm, rollback, history, diff. Each
// change is stored (PolicyStore) before it is activated; any error leaves the running policy as
// it was. Thread-safe: API threads and the confirm timer thread call in concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/policy/policy.h"
#include "controlplane/store/policy_store.h"

namespace traboule::cp {

// Why an operation was refused; the API maps each kind to an HTTP status.
enum class PolicyOpErrorKind {
  kInvalid,     // 400: the document (or an argument) is wrong; `errors` says where
  kNotFound,    // 404: no such version
  kConflict,    // 409: a commit-confirmed is pending, or nothing is pending to confirm
  kStorage,     // 500: the store could not be written
  kActivation,  // 500: the activation hook failed; the previous policy was restored
};
const char* to_string(PolicyOpErrorKind k);

class PolicyOpError : public std::runtime_error {
 public:
  PolicyOpError(PolicyOpErrorKind kind, const std::string& message,
                std::vector<PolicyError> errors = {})
      : std::runtime_error(message), kind_(kind), errors_(std::move(errors)) {}
  PolicyOpErrorKind kind() const noexcept { return kind_; }
  const std::vector<PolicyError>& errors() const noexcept { return errors_; }

 private:
  PolicyOpErrorKind kind_;
  std::vector<PolicyError> errors_;
};

struct ValidateResult {
  std::vector<PolicyError> errors;  // empty: valid
  nlohmann::json diff;              // RFC 6902 patch running → doc (when valid)
};

struct PendingInfo {
  uint64_t version = 0;
  std::string author;
  std::string deadline;  // RFC 3339 UTC
  std::chrono::milliseconds remaining{0};
  uint64_t restores_version = 0;  // what comes back if it is not confirmed
};

struct PolicyStatus {
  uint64_t running_version = 0;
  std::string running_hash;
  uint64_t committed_version = 0;  // what a restart restores
  std::optional<PendingInfo> pending;
  // What start() returned, then anything that went wrong later without failing a request
  // (a store write after an automatic rollback, a failed re-activation).
  std::vector<std::string> warnings;
  uint64_t corrupt_files = 0;   // found by the store at start
  uint64_t auto_rollbacks = 0;  // commit-confirmed deadlines missed since start
};

class PolicyManager {
 public:
  // Publishes a compiled policy to the data plane. Called with the manager's lock held, so
  // activations arrive in order; it must not call back into the manager. Throwing makes the
  // operation fail (kActivation) after the previous policy is re-activated.
  using Activate = std::function<void(std::shared_ptr<const CompiledPolicy>)>;

  // The author recorded for what the daemon does by itself (bootstrap, automatic rollback).
  static constexpr const char* kSystemAuthor = "trabouled";
  static constexpr std::chrono::seconds kMaxConfirmTimeout{24 * 3600};

  // Told of each change as it happens (apply, confirm, automatic rollback, later failures),
  // for the daemon's log. start()'s warnings are returned, not sent here. Called with the lock
  // held, like Activate.
  enum class LogLevel { kInfo, kWarning, kError };
  using Log = std::function<void(LogLevel, const std::string&)>;

  PolicyManager(PolicyStore& store, SiteFacts site, Activate activate);
  void set_log(Log log);  // before start()
  ~PolicyManager();       // stops the confirm timer; a pending version stays pending on disk
  PolicyManager(const PolicyManager&) = delete;
  PolicyManager& operator=(const PolicyManager&) = delete;

  // Opens the store and activates the last committed version that still loads and compiles
  // (falling back to older committed ones). A version left pending by a previous run is
  // marked rolled-back. With nothing usable, compiles `bootstrap` (default_policy(site) when
  // nullopt) and commits it as a new version. Returns the warnings to log at error level.
  // Throws StoreError, or PolicyOpError when even the bootstrap policy does not compile.
  std::vector<std::string> start(std::optional<nlohmann::json> bootstrap = std::nullopt);

  // Dry run against the running policy. Never changes anything.
  ValidateResult validate(const nlohmann::json& doc) const;

  // Stores `doc` as a new version and activates it. With `confirm_timeout`, the version is
  // pending: confirm() before the deadline commits it, otherwise the previous committed
  // version is re-activated automatically. Throws PolicyOpError (kInvalid, kConflict while
  // another version is pending, kStorage, kActivation).
  PolicyVersion apply(const nlohmann::json& doc, const std::string& author,
                      const std::string& comment,
                      std::optional<std::chrono::milliseconds> confirm_timeout = std::nullopt);
  // Commits the pending version. Throws kConflict when nothing is pending.
  PolicyVersion confirm(const std::string& author);
  // Re-activates version N's document as a new committed version. A pending version is
  // rolled back by it (the operator chose what runs). Throws kNotFound, kInvalid (N's document
  // no longer compiles for this site), kStorage, kActivation.
  PolicyVersion rollback(uint64_t version, const std::string& author, const std::string& comment);

  std::vector<PolicyVersion> history() const;  // oldest first
  std::optional<PolicyVersion> get(uint64_t version) const;
  // RFC 6902 patch from version a to version b. Throws kNotFound.
  nlohmann::json diff(uint64_t from, uint64_t to) const;

  std::shared_ptr<const CompiledPolicy> running() const;
  PolicyVersion running_version() const;  // the record of what runs now
  PolicyStatus status() const;
  const SiteFacts& site() const { return site_; }

 private:
  using Clock = std::chrono::steady_clock;

  PolicyVersion new_record(uint64_t version, const nlohmann::json& doc, const std::string& author,
                           const std::string& comment) const;
  std::shared_ptr<const CompiledPolicy> compile_or_throw(const nlohmann::json& doc,
                                                         uint64_t version) const;
  void activate_locked(std::shared_ptr<const CompiledPolicy> policy);
  // Activates `policy` for `record`; if the hook throws, undoes and throws kActivation.
  void switch_to_locked(PolicyVersion& record, std::shared_ptr<const CompiledPolicy> policy);
  void resolve_pending_locked(VersionState state, const std::string& author,
                              const std::string& reason);
  void timer_loop();
  void log(LogLevel level, const std::string& message) const;
  void warn_locked(const std::string& message);  // kept in status() and logged as an error

  PolicyStore& store_;
  const SiteFacts site_;
  Activate activate_;
  Log log_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  std::shared_ptr<const CompiledPolicy> running_;  // what the data plane has
  uint64_t running_version_ = 0;
  std::shared_ptr<const CompiledPolicy> committed_;  // what a missed deadline restores
  uint64_t committed_version_ = 0;
  std::optional<uint64_t> pending_version_;
  Clock::time_point pending_deadline_{};
  std::vector<std::string> warnings_;
  uint64_t auto_rollbacks_ = 0;
  std::thread timer_;
};

}  // namespace traboule::cp

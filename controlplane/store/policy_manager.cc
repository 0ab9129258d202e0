// SPDX-License-Identifier: Apache-2.0
#include "controlplane/store/policy_manager.h"

#include <utility>

namespace traboule::cp {
namespace {

using json = nlohmann::json;
using std::chrono::system_clock;

std::string vname(uint64_t v) {
  return "version " + std::to_string(v);
}

std::string first_errors(const std::vector<PolicyError>& errors) {
  std::string out;
  for (size_t i = 0; i < errors.size() && i < 3; ++i) {
    if (i) out += "; ";
    out += to_string(errors[i]);
  }
  if (errors.size() > 3) out += "; and " + std::to_string(errors.size() - 3) + " more";
  return out;
}

}  // namespace

const char* to_string(PolicyOpErrorKind k) {
  switch (k) {
    case PolicyOpErrorKind::kInvalid:
      return "invalid";
    case PolicyOpErrorKind::kNotFound:
      return "not_found";
    case PolicyOpErrorKind::kConflict:
      return "conflict";
    case PolicyOpErrorKind::kStorage:
      return "storage";
    case PolicyOpErrorKind::kActivation:
      return "activation";
  }
  return "?";
}

PolicyManager::PolicyManager(PolicyStore& store, SiteFacts site, Activate activate)
    : store_(store), site_(std::move(site)), activate_(std::move(activate)) {}

PolicyManager::~PolicyManager() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void PolicyManager::set_log(Log log) {
  std::lock_guard lock(mu_);
  log_ = std::move(log);
}

void PolicyManager::log(LogLevel level, const std::string& message) const {
  if (log_) log_(level, message);
}

void PolicyManager::warn_locked(const std::string& message) {
  warnings_.push_back(message);
  log(LogLevel::kError, message);
}

PolicyVersion PolicyManager::new_record(uint64_t version, const json& doc,
                                        const std::string& author,
                                        const std::string& comment) const {
  PolicyVersion v;
  v.version = version;
  v.author = author;
  v.time = rfc3339_utc(system_clock::now());
  v.comment = comment;
  v.hash = sha256_hex(canonical_text(doc));
  if (running_version_ != 0) v.parent = running_version_;
  v.state = VersionState::kCommitted;
  v.policy = doc;
  return v;
}

std::shared_ptr<const CompiledPolicy> PolicyManager::compile_or_throw(const json& doc,
                                                                      uint64_t version) const {
  std::vector<PolicyError> errors;
  std::shared_ptr<const CompiledPolicy> compiled;
  try {
    compiled = compile_policy(doc, site_, version, errors);
  } catch (const std::exception& e) {
    errors.push_back({"", "", std::string("the compiler failed: ") + e.what()});
  }
  if (!compiled) {
    if (errors.empty()) errors.push_back({"", "", "the policy does not compile"});
    const std::string n = std::to_string(errors.size());
    throw PolicyOpError(
        PolicyOpErrorKind::kInvalid,
        "the policy is invalid (" + n + (errors.size() == 1 ? " error)" : " errors)"),
        std::move(errors));
  }
  return compiled;
}

void PolicyManager::activate_locked(std::shared_ptr<const CompiledPolicy> policy) {
  if (activate_) activate_(std::move(policy));
}

void PolicyManager::switch_to_locked(PolicyVersion& record,
                                     std::shared_ptr<const CompiledPolicy> policy) {
  try {
    activate_locked(policy);
  } catch (const std::exception& e) {
    const std::string why = std::string("activation failed: ") + e.what();
    std::string undo;
    try {
      activate_locked(running_);
    } catch (const std::exception& e2) {
      undo = "; re-activating " + vname(running_version_) + " failed too: " + e2.what();
    }
    record.state = VersionState::kRolledBack;
    record.resolution = Resolution{rfc3339_utc(system_clock::now()), kSystemAuthor, why};
    try {
      store_.write(record);
      if (store_.committed() != committed_version_ && committed_version_ != 0)
        store_.set_committed(committed_version_);
    } catch (const StoreError& se) {
      warn_locked(std::string("policy: could not record the failed activation of ") +
                  vname(record.version) + ": " + se.what());
    }
    warn_locked("policy: " + vname(record.version) + " " + why + "; " + vname(running_version_) +
                " kept" + undo);
    throw PolicyOpError(PolicyOpErrorKind::kActivation,
                        why + "; " + vname(running_version_) + " is still running" + undo);
  }
  running_ = std::move(policy);
  running_version_ = record.version;
}

std::vector<std::string> PolicyManager::start(std::optional<json> bootstrap) {
  std::lock_guard lock(mu_);
  if (started_) throw std::logic_error("PolicyManager::start called twice");
  std::vector<std::string> warnings = store_.open();

  // A version pending when the previous run stopped was never confirmed: it is not restored.
  for (PolicyVersion v : store_.list()) {
    if (v.state != VersionState::kPending) continue;
    v.state = VersionState::kRolledBack;
    v.resolution = Resolution{
        rfc3339_utc(system_clock::now()), kSystemAuthor,
        "trabouled restarted before it was confirmed (deadline " + v.confirm_deadline + ")"};
    try {
      store_.write(v);
      warnings.push_back("policy: " + vname(v.version) +
                         " was pending confirmation when trabouled stopped; marked rolled-back");
    } catch (const StoreError& e) {
      warnings.push_back("policy: " + vname(v.version) +
                         " was pending when trabouled stopped and could not be marked "
                         "rolled-back: " +
                         e.what());
    }
  }

  const std::vector<uint64_t> candidates = store_.restore_candidates();
  const std::optional<uint64_t> pointer = store_.committed();
  for (uint64_t n : candidates) {
    PolicyVersion rec = *store_.get(n);
    std::vector<PolicyError> errors;
    std::shared_ptr<const CompiledPolicy> compiled;
    try {
      compiled = compile_policy(rec.policy, site_, n, errors);
    } catch (const std::exception& e) {
      errors.push_back({"", "", std::string("the compiler failed: ") + e.what()});
    }
    if (!compiled) {
      warnings.push_back("policy: committed " + vname(n) +
                         " does not compile for this site and is skipped: " + first_errors(errors));
      continue;
    }
    if (!pointer || *pointer != n)
      warnings.push_back("policy: fell back to " + vname(n) + " (" + rec.hash.substr(0, 12) +
                         "), the newest committed version that loads and compiles");
    activate_locked(compiled);
    running_ = committed_ = compiled;
    running_version_ = committed_version_ = n;
    break;
  }

  if (!running_) {
    json doc = bootstrap ? std::move(*bootstrap) : default_policy(site_);
    const uint64_t version = store_.next_version();
    auto compiled = compile_or_throw(doc, version);
    PolicyVersion rec =
        new_record(version, doc, kSystemAuthor, bootstrap ? "bootstrap policy" : "default policy");
    store_.write(rec);
    store_.set_committed(version);
    if (version != 1)  // versions existed, none usable: loud, the site runs a fallback policy
      warnings.push_back("policy: no usable committed version in " + store_.directory() + "; the " +
                         rec.comment + " is committed as " + vname(version));
    activate_locked(compiled);
    running_ = committed_ = compiled;
    running_version_ = committed_version_ = version;
  }

  warnings_ = warnings;  // returned for the caller to log: not sent to log_ as well
  log(LogLevel::kInfo, "policy: running " + vname(running_version_) + " (" +
                           store_.get(running_version_)->hash.substr(0, 12) + ")");
  started_ = true;
  timer_ = std::thread([this] { timer_loop(); });
  return warnings;
}

ValidateResult PolicyManager::validate(const json& doc) const {
  std::lock_guard lock(mu_);
  ValidateResult r;
  try {
    if (!compile_policy(doc, site_, store_.next_version(), r.errors) && r.errors.empty())
      r.errors.push_back({"", "", "the policy does not compile"});
  } catch (const std::exception& e) {
    r.errors.push_back({"", "", std::string("the compiler failed: ") + e.what()});
  }
  if (r.errors.empty()) {
    auto running = store_.get(running_version_);
    r.diff = policy_diff(running ? running->policy : json::object(), doc);
  }
  return r;
}

PolicyVersion PolicyManager::apply(const json& doc, const std::string& author,
                                   const std::string& comment,
                                   std::optional<std::chrono::milliseconds> confirm_timeout) {
  std::lock_guard lock(mu_);
  if (!started_) throw std::logic_error("PolicyManager::apply before start");
  if (pending_version_) {
    auto p = store_.get(*pending_version_);
    throw PolicyOpError(PolicyOpErrorKind::kConflict,
                        vname(*pending_version_) + " applied by " + (p ? p->author : "?") +
                            " is pending confirmation until " + (p ? p->confirm_deadline : "?") +
                            ": confirm it, roll back, or wait for the deadline before applying "
                            "another");
  }
  if (confirm_timeout &&
      (*confirm_timeout <= std::chrono::milliseconds(0) || *confirm_timeout > kMaxConfirmTimeout))
    throw PolicyOpError(PolicyOpErrorKind::kInvalid,
                        "confirm timeout must be between 1 ms and " +
                            std::to_string(kMaxConfirmTimeout.count()) + " s (got " +
                            std::to_string(confirm_timeout->count()) + " ms)");
  const uint64_t version = store_.next_version();
  auto compiled = compile_or_throw(doc, version);
  PolicyVersion rec = new_record(version, doc, author, comment);
  const auto now_steady = Clock::now();
  if (confirm_timeout) {
    rec.state = VersionState::kPending;
    rec.confirm_deadline = rfc3339_utc(system_clock::now() + *confirm_timeout);
  }
  try {
    store_.write(rec);
    if (!confirm_timeout) store_.set_committed(version);
  } catch (const StoreError& e) {
    throw PolicyOpError(PolicyOpErrorKind::kStorage,
                        std::string("could not store the new version: ") + e.what());
  }
  switch_to_locked(rec, compiled);
  if (confirm_timeout) {
    pending_version_ = version;
    pending_deadline_ = now_steady + *confirm_timeout;
    cv_.notify_all();
    log(LogLevel::kInfo, "policy: " + vname(version) + " applied by " + author +
                             ", pending confirmation until " + rec.confirm_deadline);
  } else {
    committed_ = running_;
    committed_version_ = version;
    log(LogLevel::kInfo, "policy: " + vname(version) + " applied and committed by " + author);
  }
  return rec;
}

void PolicyManager::resolve_pending_locked(VersionState state, const std::string& author,
                                           const std::string& reason) {
  auto rec = store_.get(*pending_version_);
  pending_version_.reset();
  cv_.notify_all();
  if (!rec) return;
  rec->state = state;
  rec->resolution = Resolution{rfc3339_utc(system_clock::now()), author, reason};
  try {
    store_.write(*rec);
  } catch (const StoreError& e) {
    warn_locked("policy: could not record that " + vname(rec->version) + " is " + to_string(state) +
                ": " + e.what());
  }
}

PolicyVersion PolicyManager::confirm(const std::string& author) {
  std::lock_guard lock(mu_);
  if (!pending_version_)
    throw PolicyOpError(PolicyOpErrorKind::kConflict, "no version is pending confirmation");
  PolicyVersion rec = *store_.get(*pending_version_);
  const PolicyVersion before = rec;
  rec.state = VersionState::kConfirmed;
  rec.resolution = Resolution{rfc3339_utc(system_clock::now()), author,
                              "confirmed before the deadline " + rec.confirm_deadline};
  try {
    store_.write(rec);
    store_.set_committed(rec.version);
  } catch (const StoreError& e) {
    try {
      store_.write(before);  // still pending: the deadline stays in force
    } catch (const StoreError&) {
    }
    throw PolicyOpError(PolicyOpErrorKind::kStorage,
                        std::string("could not record the confirmation: ") + e.what());
  }
  pending_version_.reset();
  cv_.notify_all();
  committed_ = running_;
  committed_version_ = rec.version;
  log(LogLevel::kInfo, "policy: " + vname(rec.version) + " confirmed by " + author);
  return rec;
}

PolicyVersion PolicyManager::rollback(uint64_t version, const std::string& author,
                                      const std::string& comment) {
  std::lock_guard lock(mu_);
  if (!started_) throw std::logic_error("PolicyManager::rollback before start");
  auto target = store_.get(version);
  if (!target)
    throw PolicyOpError(PolicyOpErrorKind::kNotFound,
                        vname(version) + " does not exist (or its file is corrupt)");
  const uint64_t number = store_.next_version();
  std::shared_ptr<const CompiledPolicy> compiled;
  try {
    compiled = compile_or_throw(target->policy, number);
  } catch (const PolicyOpError& e) {
    throw PolicyOpError(e.kind(), vname(version) + " no longer compiles for this site: " + e.what(),
                        e.errors());
  }
  PolicyVersion rec = new_record(number, target->policy, author, comment);
  rec.rollback_of = version;
  try {
    store_.write(rec);
    store_.set_committed(number);
  } catch (const StoreError& e) {
    throw PolicyOpError(PolicyOpErrorKind::kStorage,
                        std::string("could not store the new version: ") + e.what());
  }
  switch_to_locked(rec, compiled);
  committed_ = running_;
  committed_version_ = number;
  if (pending_version_)
    resolve_pending_locked(VersionState::kRolledBack, author,
                           "superseded by " + vname(number) + " (rollback to " + vname(version) +
                               " by " + author + ")");
  log(LogLevel::kInfo, "policy: " + vname(number) + " re-activates " + vname(version) +
                           " (rollback by " + author + ")");
  return rec;
}

void PolicyManager::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!pending_version_) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < pending_deadline_) {
      cv_.wait_until(lock, pending_deadline_);
      continue;
    }
    const uint64_t missed = *pending_version_;
    const auto rec = store_.get(missed);
    const std::string deadline = rec ? rec->confirm_deadline : "?";
    std::string failure;
    try {
      activate_locked(committed_);
    } catch (const std::exception& e) {
      failure = std::string("; re-activating it failed: ") + e.what();
    }
    running_ = committed_;
    running_version_ = committed_version_;
    ++auto_rollbacks_;
    const std::string reason = "not confirmed before the deadline " + deadline + "; " +
                               vname(committed_version_) + " restored" + failure;
    resolve_pending_locked(VersionState::kRolledBack, kSystemAuthor, reason);
    if (failure.empty())
      log(LogLevel::kWarning, "policy: " + vname(missed) + " " + reason);
    else
      warn_locked("policy: " + vname(missed) + " " + reason);
  }
}

std::vector<PolicyVersion> PolicyManager::history() const {
  std::lock_guard lock(mu_);
  return store_.list();
}

std::optional<PolicyVersion> PolicyManager::get(uint64_t version) const {
  std::lock_guard lock(mu_);
  return store_.get(version);
}

json PolicyManager::diff(uint64_t from, uint64_t to) const {
  std::lock_guard lock(mu_);
  auto a = store_.get(from);
  if (!a)
    throw PolicyOpError(PolicyOpErrorKind::kNotFound,
                        vname(from) + " does not exist (or its file is corrupt)");
  auto b = store_.get(to);
  if (!b)
    throw PolicyOpError(PolicyOpErrorKind::kNotFound,
                        vname(to) + " does not exist (or its file is corrupt)");
  return policy_diff(a->policy, b->policy);
}

std::shared_ptr<const CompiledPolicy> PolicyManager::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

PolicyVersion PolicyManager::running_version() const {
  std::lock_guard lock(mu_);
  auto rec = store_.get(running_version_);
  if (!rec) throw std::logic_error("PolicyManager::running_version before start");
  return *rec;
}

PolicyStatus PolicyManager::status() const {
  std::lock_guard lock(mu_);
  PolicyStatus s;
  s.running_version = running_version_;
  if (auto rec = store_.get(running_version_)) s.running_hash = rec->hash;
  s.committed_version = committed_version_;
  if (pending_version_) {
    auto rec = store_.get(*pending_version_);
    PendingInfo p;
    p.version = *pending_version_;
    p.author = rec ? rec->author : "";
    p.deadline = rec ? rec->confirm_deadline : "";
    const auto left = pending_deadline_ - Clock::now();
    p.remaining = std::max(std::chrono::milliseconds(0),
                           std::chrono::duration_cast<std::chrono::milliseconds>(left));
    p.restores_version = committed_version_;
    s.pending = p;
  }
  s.warnings = warnings_;
  s.corrupt_files = store_.corrupt_files();
  s.auto_rollbacks = auto_rollbacks_;
  return s;
}

}  // namespace traboule::cp

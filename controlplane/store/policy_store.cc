// SPDX-License-Identifier: Apache-2.0
#include "controlplane/store/policy_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "controlplane/policy/policy.h"

namespace traboule::cp {
namespace {

using json = nlohmann::json;

constexpr const char* kTempPrefix = ".tmp-";

std::string errno_text(int err) {
  return std::strerror(err);
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// "2025-03-01T12:00:00Z" or with a fraction; UTC only (what we write).
bool is_rfc3339_utc(const std::string& s) {
  if (s.size() < 20 || s.back() != 'Z') return false;
  const char* pat = "dddd-dd-ddTdd:dd:dd";
  for (size_t i = 0; i < 19; ++i) {
    if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i]) return false;
  }
  if (s.size() == 20) return true;
  if (s[19] != '.' || s.size() < 22) return false;
  for (size_t i = 20; i + 1 < s.size(); ++i)
    if (!(s[i] >= '0' && s[i] <= '9')) return false;
  return true;
}

// "000042.json" → 42; anything else (temp files, the pointer, strays) → nullopt.
std::optional<uint64_t> version_of_file(const std::string& name) {
  constexpr std::string_view kExt = ".json";
  if (name.size() <= kExt.size() || name.compare(name.size() - kExt.size(), kExt.size(), kExt) != 0)
    return std::nullopt;
  const std::string digits = name.substr(0, name.size() - kExt.size());
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || PolicyStore::file_name(v) != name) return std::nullopt;
  return v;
}

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open: " + errno_text(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    error = "read failed";
    return false;
  }
  out = ss.str();
  return true;
}

std::optional<uint64_t> get_u64(const json& j, const char* key, std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) {
    error = std::string("missing field \"") + key + "\"";
    return std::nullopt;
  }
  if (!it->is_number_unsigned()) {
    error =
        std::string("field \"") + key + "\" is not a non-negative integer (got " + it->dump() + ")";
    return std::nullopt;
  }
  return it->get<uint64_t>();
}

const std::string* get_string(const json& j, const char* key, std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) {
    error = std::string("missing field \"") + key + "\"";
    return nullptr;
  }
  if (!it->is_string()) {
    error = std::string("field \"") + key + "\" is not a string (got " + it->dump() + ")";
    return nullptr;
  }
  return it->get_ptr<const std::string*>();
}

}  // namespace

const char* to_string(VersionState s) {
  switch (s) {
    case VersionState::kCommitted:
      return "committed";
    case VersionState::kPending:
      return "pending";
    case VersionState::kConfirmed:
      return "confirmed";
    case VersionState::kRolledBack:
      return "rolled-back";
  }
  return "?";
}

std::optional<VersionState> parse_version_state(std::string_view s) {
  for (auto st : {VersionState::kCommitted, VersionState::kPending, VersionState::kConfirmed,
                  VersionState::kRolledBack})
    if (s == to_string(st)) return st;
  return std::nullopt;
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int frac = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the compiler can imagine
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

json to_json(const PolicyVersion& v, bool with_policy) {
  json j = {{"version", v.version},
            {"author", v.author},
            {"time", v.time},
            {"comment", v.comment},
            {"hash", v.hash},
            {"parent", v.parent ? json(*v.parent) : json(nullptr)},
            {"state", to_string(v.state)}};
  if (v.rollback_of) j["rollback_of"] = *v.rollback_of;
  if (!v.confirm_deadline.empty()) j["confirm_deadline"] = v.confirm_deadline;
  if (v.resolution)
    j["resolution"] = {{"time", v.resolution->time},
                       {"author", v.resolution->author},
                       {"reason", v.resolution->reason}};
  if (with_policy) j["policy"] = v.policy;
  return j;
}

std::string version_file_text(const PolicyVersion& v) {
  json j = to_json(v, true);
  j["checksum"] = sha256_hex(canonical_text(j));
  return j.dump(2) + "\n";
}

namespace {

// The record of a version file with its checksum checked and removed, its fields all known.
std::optional<json> checked_record(const std::string& text, std::string& error) {
  if (text.empty()) {
    error = "empty file";
    return std::nullopt;
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    error = "not valid JSON (truncated?)";
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  const std::string* checksum = get_string(j, "checksum", error);
  if (!checksum) return std::nullopt;
  const std::string recorded = *checksum;
  j.erase("checksum");
  if (const std::string actual = sha256_hex(canonical_text(j)); actual != recorded) {
    error = "checksum mismatch: the record hashes to " + actual + " but the file records " +
            recorded + " (damaged or edited by hand)";
    return std::nullopt;
  }
  static const char* const kKnown[] = {"version",     "author",           "time",      "comment",
                                       "hash",        "parent",           "state",     "policy",
                                       "rollback_of", "confirm_deadline", "resolution"};
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      error = "unknown field \"" + key + "\"";
      return std::nullopt;
    }
  }
  return j;
}

// version, author, time, comment, hash and parent.
bool read_identity(const json& j, PolicyVersion& v, std::string& error) {
  auto version = get_u64(j, "version", error);
  if (!version) return false;
  if (*version == 0) {
    error = "field \"version\" is 0 (versions start at 1)";
    return false;
  }
  v.version = *version;
  const std::string* s;
  if (!(s = get_string(j, "author", error))) return false;
  v.author = *s;
  if (!(s = get_string(j, "time", error))) return false;
  if (!is_rfc3339_utc(*s)) {
    error = "field \"time\" is not an RFC 3339 UTC time (got \"" + *s + "\")";
    return false;
  }
  v.time = *s;
  if (!(s = get_string(j, "comment", error))) return false;
  v.comment = *s;
  if (!(s = get_string(j, "hash", error))) return false;
  if (!is_hex64(*s)) {
    error = "field \"hash\" is not 64 lowercase hex digits (got \"" + *s + "\")";
    return false;
  }
  v.hash = *s;
  auto parent = j.find("parent");
  if (parent == j.end()) {
    error = "missing field \"parent\"";
    return false;
  }
  if (parent->is_null()) return true;
  if (!(v.parent = get_u64(j, "parent", error))) return false;
  if (*v.parent >= v.version) {
    error = "field \"parent\" (" + std::to_string(*v.parent) + ") is not older than version " +
            std::to_string(v.version);
    return false;
  }
  return true;
}

// state, and the policy, which must hash to the recorded hash.
bool read_state_and_policy(const json& j, PolicyVersion& v, std::string& error) {
  const std::string* s = get_string(j, "state", error);
  if (!s) return false;
  auto state = parse_version_state(*s);
  if (!state) {
    error =
        "field \"state\" is not committed, pending, confirmed or rolled-back (got \"" + *s + "\")";
    return false;
  }
  v.state = *state;
  auto policy = j.find("policy");
  if (policy == j.end()) {
    error = "missing field \"policy\"";
    return false;
  }
  if (!policy->is_object()) {
    error = "field \"policy\" is not an object";
    return false;
  }
  v.policy = *policy;
  const std::string actual = sha256_hex(canonical_text(v.policy));
  if (actual != v.hash) {
    error = "hash mismatch: the policy hashes to " + actual + " but the file records " + v.hash;
    return false;
  }
  return true;
}

bool read_resolution(const json& r, Resolution& res, std::string& error) {
  if (!r.is_object()) {
    error = "field \"resolution\" is not an object";
    return false;
  }
  const std::string* s;
  if (!(s = get_string(r, "time", error))) return false;
  res.time = *s;
  if (!(s = get_string(r, "author", error))) return false;
  res.author = *s;
  if (!(s = get_string(r, "reason", error))) return false;
  res.reason = *s;
  return true;
}

// The optional fields: rollback_of, confirm_deadline (required when pending), resolution.
bool read_history(const json& j, PolicyVersion& v, std::string& error) {
  if (j.contains("rollback_of")) {
    if (!(v.rollback_of = get_u64(j, "rollback_of", error))) return false;
  }
  if (j.contains("confirm_deadline")) {
    const std::string* s = get_string(j, "confirm_deadline", error);
    if (!s) return false;
    if (!is_rfc3339_utc(*s)) {
      error = "field \"confirm_deadline\" is not an RFC 3339 UTC time (got \"" + *s + "\")";
      return false;
    }
    v.confirm_deadline = *s;
  }
  if (v.state == VersionState::kPending && v.confirm_deadline.empty()) {
    error = "pending version without \"confirm_deadline\"";
    return false;
  }
  if (auto r = j.find("resolution"); r != j.end()) {
    Resolution res;
    if (!read_resolution(*r, res, error)) return false;
    v.resolution = std::move(res);
  }
  return true;
}

}  // namespace

std::optional<PolicyVersion> parse_version_file(const std::string& text, std::string& error) {
  std::optional<json> j = checked_record(text, error);
  if (!j) return std::nullopt;
  PolicyVersion v;
  if (!read_identity(*j, v, error) || !read_state_and_policy(*j, v, error) ||
      !read_history(*j, v, error))
    return std::nullopt;
  return v;
}

PolicyStore::PolicyStore(std::string state_dir) : dir_(std::move(state_dir) + "/policies") {}

std::string PolicyStore::file_name(uint64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06llu.json", static_cast<unsigned long long>(version));
  return buf;
}

namespace {

// The names in the store's directory, created (with its parent: state_dir may not exist on a
// fresh box) when missing.
std::vector<std::string> list_store_dir(const std::string& dir) {
  const std::string parent = dir.substr(0, dir.rfind('/'));
  if (!parent.empty() && ::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST)
    throw StoreError("policy store: cannot create " + parent + ": " + errno_text(errno));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw StoreError("policy store: cannot create " + dir + ": " + errno_text(errno));
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw StoreError("policy store: cannot list " + dir + ": " + errno_text(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  return names;
}

// Version `number` from the file `name` at `path`, or nullopt and why not.
std::optional<PolicyVersion> load_version(const std::string& path, const std::string& name,
                                          uint64_t number, std::string& error) {
  std::string text;
  std::optional<PolicyVersion> v;
  if (read_file(path, text, error) && (v = parse_version_file(text, error)) &&
      v->version != number) {
    error = "holds version " + std::to_string(v->version) + " but is named " + name;
    v.reset();
  }
  return v;
}

// The committed version the pointer file at `path` names, if it is one of `versions` and
// committed or confirmed; else nullopt and why not.
std::optional<uint64_t> read_pointer(const std::string& path,
                                     const std::map<uint64_t, PolicyVersion>& versions,
                                     std::string& error) {
  std::string text;
  if (!read_file(path, text, error)) return std::nullopt;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "not a valid JSON object";
    return std::nullopt;
  }
  std::optional<uint64_t> number = get_u64(j, "version", error);
  const std::string* hash = number ? get_string(j, "hash", error) : nullptr;
  if (!number || !hash) return std::nullopt;
  auto it = versions.find(*number);
  if (it == versions.end()) {
    error = "it names version " + std::to_string(*number) + ", which is missing or corrupt";
  } else if (it->second.hash != *hash) {
    error = "its hash for version " + std::to_string(*number) + " does not match the version file";
  } else if (it->second.state != VersionState::kCommitted &&
             it->second.state != VersionState::kConfirmed) {
    error =
        "it names version " + std::to_string(*number) + ", which is " + to_string(it->second.state);
  } else {
    return number;
  }
  return std::nullopt;
}

// Committed or confirmed versions newer than the pointer: a write interrupted before the
// pointer moved. Said, never restored.
void warn_newer_than_committed(const std::map<uint64_t, PolicyVersion>& versions,
                               uint64_t committed, std::vector<std::string>& warnings) {
  for (auto it = versions.upper_bound(committed); it != versions.end(); ++it) {
    if (it->second.state == VersionState::kCommitted ||
        it->second.state == VersionState::kConfirmed)
      warnings.push_back("policy store: version " + std::to_string(it->first) + " is " +
                         to_string(it->second.state) + " but newer than the committed version " +
                         std::to_string(committed) +
                         " (write interrupted before the pointer moved?); not restored");
  }
}

}  // namespace

std::vector<std::string> PolicyStore::open() {
  std::vector<std::string> warnings;
  versions_.clear();
  committed_.reset();
  highest_seen_ = 0;
  corrupt_files_ = 0;

  bool pointer_present = false;
  for (const auto& name : list_store_dir(dir_)) {
    const std::string path = dir_ + "/" + name;
    if (name.rfind(kTempPrefix, 0) == 0) {
      // A write interrupted before its rename: never part of the store.
      if (::unlink(path.c_str()) == 0)
        warnings.push_back("policy store: removed " + path + " left by an interrupted write");
      continue;
    }
    if (name == kPointerFile) {
      pointer_present = true;
      continue;
    }
    auto number = version_of_file(name);
    if (!number) continue;
    highest_seen_ = std::max(highest_seen_, *number);
    std::string error;
    std::optional<PolicyVersion> v = load_version(path, name, *number, error);
    if (!v) {
      ++corrupt_files_;
      warnings.push_back("policy store: version " + std::to_string(*number) + " (" + path +
                         ") is corrupt and will not be loaded: " + error);
      continue;
    }
    versions_.emplace(*number, std::move(*v));
  }

  if (pointer_present) {
    const std::string path = dir_ + "/" + kPointerFile;
    std::string error;
    committed_ = read_pointer(path, versions_, error);
    if (!committed_) {
      ++corrupt_files_;
      warnings.push_back("policy store: the committed pointer " + path + " is unusable (" + error +
                         "); falling back to the newest good committed version");
    }
  } else if (!versions_.empty() || highest_seen_ > 0) {
    ++corrupt_files_;
    warnings.push_back("policy store: " + dir_ + "/" + kPointerFile +
                       " is missing although versions exist; falling back to the newest good "
                       "committed version");
  }
  if (committed_) warn_newer_than_committed(versions_, *committed_, warnings);
  return warnings;
}

std::vector<uint64_t> PolicyStore::restore_candidates() const {
  std::vector<uint64_t> out;
  const uint64_t limit = committed_ ? *committed_ : UINT64_MAX;
  for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {
    if (it->first > limit) continue;
    if (it->second.state == VersionState::kCommitted ||
        it->second.state == VersionState::kConfirmed)
      out.push_back(it->first);
  }
  return out;
}

std::optional<PolicyVersion> PolicyStore::get(uint64_t version) const {
  auto it = versions_.find(version);
  if (it == versions_.end()) return std::nullopt;
  return it->second;
}

std::vector<PolicyVersion> PolicyStore::list() const {
  std::vector<PolicyVersion> out;
  out.reserve(versions_.size());
  for (const auto& [n, v] : versions_) out.push_back(v);
  return out;
}

std::optional<uint64_t> PolicyStore::committed() const {
  return committed_;
}

void PolicyStore::write(const PolicyVersion& v) {
  if (v.version == 0) throw StoreError("policy store: version 0 cannot be written");
  write_atomically(file_name(v.version), version_file_text(v));
  versions_[v.version] = v;
  highest_seen_ = std::max(highest_seen_, v.version);
}

void PolicyStore::set_committed(uint64_t version) {
  auto it = versions_.find(version);
  if (it == versions_.end())
    throw StoreError("policy store: cannot commit version " + std::to_string(version) +
                     ": it was never written");
  const json pointer = {{"version", version}, {"hash", it->second.hash}};
  write_atomically(kPointerFile, pointer.dump() + "\n");
  committed_ = version;
}

void PolicyStore::write_atomically(const std::string& name, const std::string& content) {
  const std::string final_path = dir_ + "/" + name;
  const std::string temp_path = dir_ + "/" + kTempPrefix + name + "." + std::to_string(::getpid()) +
                                "." + std::to_string(++temp_counter_);
  auto fail = [&](const std::string& what, int err) {
    ::unlink(temp_path.c_str());
    throw StoreError("policy store: " + what + " " + final_path + ": " + errno_text(err));
  };
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create a temp file for", errno);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      fail("cannot write", err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    fail("cannot fsync", err);
  }
  if (::close(fd) != 0) fail("cannot close", errno);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) fail("cannot rename into", errno);
  // The rename is durable only once the directory entry is.
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw StoreError("policy store: cannot open " + dir_ + ": " + errno_text(errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) throw StoreError("policy store: cannot fsync " + dir_ + ": " + errno_text(err));
}

}  // namespace traboule::cp

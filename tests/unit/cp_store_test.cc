// SPDX-License-Identifier: Apache-2.0
// Policy store and manager: versions survive a restart, damaged files are found and never
// loaded (the previous good version is restored, loudly), writes leave no temp files, and
// apply / commit-confirmed / confirm / rollback keep the running policy consistent.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "controlplane/store/policy_manager.h"
#include "controlplane/store/policy_store.h"
#include "tests/unit/cp_test_support.h"

namespace traboule::cp {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// A directory of its own per test, removed afterwards.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("traboule-store") {}
  std::string policies() const { return path() + "/policies"; }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

bool contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

SiteFacts site() {
  return SiteFacts{{"fiber", "lte"}, "edge"};
}

// A valid policy for site(); `tag` makes documents differ.
json policy(const std::string& tag = "") {
  json p = {
      {"version", 1},
      {"uplinks", {{{"name", "fiber"}, {"kind", "fiber"}}, {{"name", "lte"}, {"kind", "4g"}}}},
      {"rules", {{{"name", "default"}, {"action", {{"egress", "overlay"}}}}}}};
  if (!tag.empty()) p["rules"][0]["description"] = tag;
  return p;
}

// Invalid for the schema (egress) and for the site (uplink name).
json bad_policy() {
  json p = policy();
  p["rules"][0]["action"]["egress"] = "teleport";
  p["uplinks"][1]["name"] = "dsl";
  return p;
}

PolicyVersion record(uint64_t n, VersionState state = VersionState::kCommitted,
                     const std::string& tag = "") {
  PolicyVersion v;
  v.version = n;
  v.author = "alice";
  v.time = "2025-03-01T12:00:00.000Z";
  v.comment = "version " + std::to_string(n);
  v.policy = policy(tag.empty() ? "v" + std::to_string(n) : tag);
  v.hash = sha256_hex(canonical_text(v.policy));
  if (n > 1) v.parent = n - 1;
  v.state = state;
  if (state == VersionState::kPending) v.confirm_deadline = "2025-03-01T12:05:00.000Z";
  return v;
}

// Versions 1..n committed, the pointer on n.
void fill(PolicyStore& store, uint64_t n) {
  EXPECT_TRUE(store.open().empty());
  for (uint64_t i = 1; i <= n; ++i) {
    store.write(record(i));
    store.set_committed(i);
  }
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) out.push_back(e.path().string());
  return out;
}

// --- the file format ------------------------------------------------------------------------

TEST(PolicyStoreFormat, Rfc3339IsUtcWithMilliseconds) {
  using std::chrono::system_clock;
  EXPECT_EQ(rfc3339_utc(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_utc(system_clock::time_point{std::chrono::milliseconds(1740830400250)}),
            "2025-03-01T12:00:00.250Z");
}

TEST(PolicyStoreFormat, FileRoundTrips) {
  PolicyVersion v = record(7, VersionState::kRolledBack);
  v.parent = 5;
  v.rollback_of = 2;
  v.confirm_deadline = "2025-03-01T12:05:00.000Z";
  v.resolution = Resolution{"2025-03-01T12:05:00.100Z", "trabouled", "not confirmed"};
  std::string error;
  auto back = parse_version_file(version_file_text(v), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, v);
  EXPECT_EQ(PolicyStore::file_name(7), "000007.json");
  EXPECT_EQ(PolicyStore::file_name(1234567), "1234567.json");
}

// Each row edits a valid file's JSON (checksum recomputed, so the row's own check is what
// catches it) and names the error expected.
struct FieldRow {
  const char* name;
  std::function<void(json&)> edit;
  const char* error;
};

TEST(PolicyStoreFormat, HostileFieldsAreRefusedWithTheReason) {
  const std::vector<FieldRow> rows = {
      {"version zero", [](json& j) { j["version"] = 0; }, "versions start at 1"},
      {"version negative", [](json& j) { j["version"] = -3; }, "\"version\" is not a non-negative"},
      {"version string", [](json& j) { j["version"] = "3"; }, "\"version\" is not"},
      {"missing author", [](json& j) { j.erase("author"); }, "missing field \"author\""},
      {"missing parent", [](json& j) { j.erase("parent"); }, "missing field \"parent\""},
      {"missing policy", [](json& j) { j.erase("policy"); }, "missing field \"policy\""},
      {"policy not object", [](json& j) { j["policy"] = json::array(); },
       "\"policy\" is not an object"},
      {"parent not older", [](json& j) { j["parent"] = 3; }, "is not older than version 3"},
      {"unknown state", [](json& j) { j["state"] = "active"; }, "\"state\" is not committed"},
      {"bad time", [](json& j) { j["time"] = "yesterday"; }, "not an RFC 3339 UTC time"},
      {"local time", [](json& j) { j["time"] = "2025-03-01T12:00:00+02:00"; }, "RFC 3339"},
      {"hash not hex", [](json& j) { j["hash"] = "xyz"; }, "not 64 lowercase hex"},
      {"hash mismatch", [](json& j) { j["policy"]["rules"][0]["description"] = "evil"; },
       "hash mismatch"},
      {"unknown field", [](json& j) { j["owner"] = "mallory"; }, "unknown field \"owner\""},
      {"pending without deadline",
       [](json& j) {
         j["state"] = "pending";
         j.erase("confirm_deadline");
       },
       "pending version without"},
      {"resolution not object", [](json& j) { j["resolution"] = "done"; },
       "\"resolution\" is not an object"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    json j = json::parse(version_file_text(record(3)));
    j.erase("checksum");
    row.edit(j);
    j["checksum"] = sha256_hex(canonical_text(j));
    std::string error;
    EXPECT_FALSE(parse_version_file(j.dump(), error));
    EXPECT_NE(error.find(row.error), std::string::npos) << error;
  }
}

// --- corruption on disk ---------------------------------------------------------------------

struct CorruptRow {
  const char* name;
  std::function<std::string(const std::string& good)> damage;  // file text → damaged text
  const char* error;
};

// Versions 1..3 committed, the pointer on 3; the row damages 3. Restart must not load 3, must
// offer 2 then 1, say so, count it, and never reuse number 3.
TEST(PolicyStoreCorruption, DamagedCommittedVersionIsNeverLoaded) {
  const std::vector<CorruptRow> rows = {
      {"truncated", [](const std::string& t) { return t.substr(0, t.size() / 2); },
       "not valid JSON"},
      {"truncated to one byte", [](const std::string& t) { return t.substr(0, 1); },
       "not valid JSON"},
      {"empty file", [](const std::string&) { return std::string(); }, "empty file"},
      {"flipped byte in the policy",
       [](const std::string& t) {
         std::string d = t;
         d[d.find("\"v3\"") + 2] ^= 0x01;  // "v3" -> "v2"
         return d;
       },
       "checksum mismatch"},
      {"flipped byte in the comment",
       [](const std::string& t) {
         std::string d = t;
         d[d.find("version 3") + 1] ^= 0x20;  // 'e' -> 'E'
         return d;
       },
       "checksum mismatch"},
      {"flipped byte in the middle",
       [](const std::string& t) {
         std::string d = t;
         d[d.size() / 2] ^= 0x01;
         return d;
       },
       ""},
      {"hash mismatch (checksum recomputed)",
       [](const std::string& t) {
         json j = json::parse(t);
         j.erase("checksum");
         j["policy"]["rules"][0]["description"] = "edited by hand";
         j["checksum"] = sha256_hex(canonical_text(j));
         return j.dump();
       },
       "hash mismatch"},
      {"wrong version number", [](const std::string&) { return version_file_text(record(2)); },
       "holds version 2 but is named 000003.json"},
      {"missing field",
       [](const std::string& t) {
         json j = json::parse(t);
         j.erase("checksum");
         j.erase("state");
         j["checksum"] = sha256_hex(canonical_text(j));
         return j.dump();
       },
       "missing field \"state\""},
      {"no checksum",
       [](const std::string& t) {
         json j = json::parse(t);
         j.erase("checksum");
         return j.dump();
       },
       "missing field \"checksum\""},
      {"a JSON array", [](const std::string&) { return std::string("[1,2,3]"); },
       "not a JSON object"},
      {"binary garbage", [](const std::string&) { return std::string("\x00\xff\xfe{", 4); },
       "not valid JSON"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    TempDir dir;
    {
      PolicyStore store(dir.path());
      fill(store, 3);
    }
    const std::string file = dir.policies() + "/000003.json";
    spit(file, row.damage(slurp(file)));

    PolicyStore store(dir.path());
    const auto warnings = store.open();
    EXPECT_TRUE(contains(warnings, "version 3")) << joined(warnings);
    EXPECT_TRUE(contains(warnings, "corrupt")) << joined(warnings);
    EXPECT_TRUE(contains(warnings, row.error)) << joined(warnings);
    EXPECT_GE(store.corrupt_files(), 1u);
    EXPECT_FALSE(store.get(3));
    EXPECT_EQ(store.restore_candidates(), (std::vector<uint64_t>{2, 1}));
    EXPECT_EQ(store.next_version(), 4u);  // the damaged number stays taken
    EXPECT_TRUE(fs::exists(file));        // evidence left in place
  }
}

struct PointerRow {
  const char* name;
  std::function<void(const std::string& dir)> damage;
  const char* warning;
};

TEST(PolicyStoreCorruption, BadPointerFallsBackToNewestGoodCommittedVersion) {
  const std::vector<PointerRow> rows = {
      {"garbage", [](const std::string& d) { spit(d + "/committed.json", "{not json"); },
       "committed pointer"},
      {"empty", [](const std::string& d) { spit(d + "/committed.json", ""); }, "committed pointer"},
      {"names a missing version",
       [](const std::string& d) {
         spit(d + "/committed.json", json({{"version", 9}, {"hash", record(3).hash}}).dump());
       },
       "version 9, which is missing or corrupt"},
      {"hash does not match",
       [](const std::string& d) {
         spit(d + "/committed.json", json({{"version", 3}, {"hash", record(2).hash}}).dump());
       },
       "does not match the version file"},
      {"version not a number",
       [](const std::string& d) {
         spit(d + "/committed.json", json({{"version", "3"}, {"hash", record(3).hash}}).dump());
       },
       "\"version\" is not"},
      {"missing", [](const std::string& d) { fs::remove(d + "/committed.json"); }, "missing"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    TempDir dir;
    {
      PolicyStore store(dir.path());
      fill(store, 3);
    }
    row.damage(dir.policies());
    PolicyStore store(dir.path());
    const auto warnings = store.open();
    EXPECT_TRUE(contains(warnings, row.warning)) << joined(warnings);
    EXPECT_TRUE(contains(warnings, "falling back")) << joined(warnings);
    EXPECT_FALSE(store.committed());
    EXPECT_EQ(store.restore_candidates(), (std::vector<uint64_t>{3, 2, 1}));
    EXPECT_EQ(store.corrupt_files(), 1u);
  }
}

TEST(PolicyStoreCorruption, PointerToARolledBackVersionIsRefused) {
  TempDir dir;
  {
    PolicyStore store(dir.path());
    fill(store, 2);
    store.write(record(3, VersionState::kRolledBack));
    spit(dir.policies() + "/committed.json",
         json({{"version", 3}, {"hash", record(3).hash}}).dump());
  }
  PolicyStore store(dir.path());
  const auto warnings = store.open();
  EXPECT_TRUE(contains(warnings, "which is rolled-back")) << joined(warnings);
  EXPECT_EQ(store.restore_candidates(), (std::vector<uint64_t>{2, 1}));
}

TEST(PolicyStoreCorruption, FallbackChainSkipsCorruptAndUncommittedVersions) {
  TempDir dir;
  {
    PolicyStore store(dir.path());
    fill(store, 1);
    store.write(record(2, VersionState::kRolledBack));
    store.write(record(3, VersionState::kConfirmed));
    store.write(record(4));
    store.write(record(5));
    store.set_committed(5);
  }
  spit(dir.policies() + "/000005.json", "{\"version\": 5");
  spit(dir.policies() + "/000004.json", "");
  PolicyStore store(dir.path());
  const auto warnings = store.open();
  EXPECT_EQ(store.corrupt_files(), 3u);  // two files and the pointer that names one
  EXPECT_TRUE(contains(warnings, "version 5")) << joined(warnings);
  EXPECT_TRUE(contains(warnings, "version 4")) << joined(warnings);
  // 3 was confirmed (good), 2 rolled back (never a candidate), 1 committed.
  EXPECT_EQ(store.restore_candidates(), (std::vector<uint64_t>{3, 1}));
  EXPECT_EQ(store.next_version(), 6u);
}

TEST(PolicyStoreCorruption, StrayFilesAreIgnored) {
  TempDir dir;
  {
    PolicyStore store(dir.path());
    fill(store, 2);
  }
  spit(dir.policies() + "/README", "notes");
  spit(dir.policies() + "/0000002.json", "{}");  // not the canonical name of any version
  spit(dir.policies() + "/abc.json", "{}");
  PolicyStore store(dir.path());
  EXPECT_TRUE(store.open().empty());
  EXPECT_EQ(store.restore_candidates(), (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(store.corrupt_files(), 0u);
}

// --- atomic writes --------------------------------------------------------------------------

TEST(PolicyStoreAtomicity, WritesLeaveNoTempFilesAndReloadExactly) {
  TempDir dir;
  PolicyStore store(dir.path());
  ASSERT_TRUE(store.open().empty());
  for (uint64_t i = 1; i <= 20; ++i) {
    store.write(record(i, i % 2 ? VersionState::kCommitted : VersionState::kPending));
    if (i % 2) store.set_committed(i);
  }
  EXPECT_TRUE(temp_files(dir.policies()).empty());
  PolicyStore again(dir.path());
  EXPECT_TRUE(again.open().empty());
  EXPECT_EQ(again.list(), store.list());
  EXPECT_EQ(again.committed(), 19u);
  struct stat st {};
  ASSERT_EQ(::stat((dir.policies() + "/000001.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // policies may carry keys
}

TEST(PolicyStoreAtomicity, LeftoverTempFileIsRemovedAtOpen) {
  TempDir dir;
  {
    PolicyStore store(dir.path());
    fill(store, 1);
  }
  const std::string stray = dir.policies() + "/.tmp-000002.json.1234.1";
  spit(stray, "{\"version\": 2, \"trunc");
  PolicyStore store(dir.path());
  const auto warnings = store.open();
  EXPECT_TRUE(contains(warnings, "interrupted write")) << joined(warnings);
  EXPECT_FALSE(fs::exists(stray));
  EXPECT_EQ(store.restore_candidates(), (std::vector<uint64_t>{1}));
}

TEST(PolicyStoreAtomicity, FailedWriteKeepsTheOldFileAndLeavesNoTemp) {
  TempDir dir;
  PolicyStore store(dir.path());
  fill(store, 1);
  // A directory where version 2's file would go: the rename fails (even as root).
  fs::create_directories(dir.policies() + "/000002.json/blocker");
  EXPECT_THROW(store.write(record(2)), StoreError);
  EXPECT_TRUE(temp_files(dir.policies()).empty());
  EXPECT_FALSE(store.get(2));
  EXPECT_THROW(store.set_committed(2), StoreError);  // never written
  EXPECT_EQ(store.committed(), 1u);
  PolicyStore again(dir.path());
  again.open();
  EXPECT_EQ(again.restore_candidates(), (std::vector<uint64_t>{1}));
}

TEST(PolicyStoreAtomicity, UncreatableDirectoryIsAClearError) {
  TempDir dir;
  spit(dir.path() + "/file", "x");
  PolicyStore store(dir.path() + "/file");  // its parent is a regular file
  try {
    store.open();
    FAIL() << "open() should throw";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + "/file"), std::string::npos) << e.what();
  }
}

// --- the manager ----------------------------------------------------------------------------

// Records what the daemon's hook would publish.
class Activations {
 public:
  PolicyManager::Activate hook() {
    return [this](std::shared_ptr<const CompiledPolicy> p) {
      if (fail_next_.exchange(false)) throw std::runtime_error("data plane refused");
      std::lock_guard lock(mu_);
      seen_.push_back(p);
      cv_.notify_all();
    };
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  std::shared_ptr<const CompiledPolicy> last() const {
    std::lock_guard lock(mu_);
    return seen_.empty() ? nullptr : seen_.back();
  }
  // Waits (bounded) for the n-th activation.
  bool wait_for(size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return seen_.size() >= n; });
  }
  void fail_next() { fail_next_ = true; }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<const CompiledPolicy>> seen_;
  std::atomic<bool> fail_next_{false};
};

TEST(PolicyManager, FirstStartCommitsTheDefaultPolicyAsVersionOne) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  EXPECT_TRUE(m.start().empty());
  ASSERT_EQ(act.count(), 1u);
  EXPECT_EQ(act.last()->source, default_policy(site()));
  const auto s = m.status();
  EXPECT_EQ(s.running_version, 1u);
  EXPECT_EQ(s.committed_version, 1u);
  EXPECT_EQ(s.running_hash, sha256_hex(canonical_text(default_policy(site()))));
  EXPECT_EQ(m.history().at(0).author, PolicyManager::kSystemAuthor);
  EXPECT_FALSE(m.history().at(0).parent);
}

TEST(PolicyManager, ApplyCommitsActivatesAndRecordsTheAuthor) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  m.start(policy("boot"));
  const PolicyVersion v = m.apply(policy("second"), "bob", "more rules");
  EXPECT_EQ(v.version, 2u);
  EXPECT_EQ(v.parent, 1u);
  EXPECT_EQ(v.state, VersionState::kCommitted);
  EXPECT_EQ(v.author, "bob");
  EXPECT_EQ(v.comment, "more rules");
  EXPECT_EQ(act.count(), 2u);
  EXPECT_EQ(act.last()->source, policy("second"));
  EXPECT_EQ(m.running()->source, policy("second"));
  EXPECT_EQ(store.committed(), 2u);
  EXPECT_EQ(m.diff(1, 2), policy_diff(policy("boot"), policy("second")));
  const ValidateResult r = m.validate(policy("third"));
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.diff, policy_diff(policy("second"), policy("third")));
}

TEST(PolicyManager, ErrorsLeaveTheRunningPolicyUntouched) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  m.start(policy("boot"));
  struct Row {
    const char* name;
    std::function<void()> op;
    PolicyOpErrorKind kind;
  };
  const std::vector<Row> rows = {
      {"invalid document", [&] { m.apply(bad_policy(), "bob", ""); }, PolicyOpErrorKind::kInvalid},
      {"not an object", [&] { m.apply(json::array(), "bob", ""); }, PolicyOpErrorKind::kInvalid},
      {"zero timeout", [&] { m.apply(policy("x"), "bob", "", 0ms); }, PolicyOpErrorKind::kInvalid},
      {"huge timeout", [&] { m.apply(policy("x"), "bob", "", 48h); }, PolicyOpErrorKind::kInvalid},
      {"confirm with nothing pending", [&] { m.confirm("bob"); }, PolicyOpErrorKind::kConflict},
      {"rollback to a missing version", [&] { m.rollback(42, "bob", ""); },
       PolicyOpErrorKind::kNotFound},
      {"diff with a missing version", [&] { m.diff(1, 42); }, PolicyOpErrorKind::kNotFound},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    try {
      row.op();
      ADD_FAILURE() << "no error";
    } catch (const PolicyOpError& e) {
      EXPECT_EQ(e.kind(), row.kind) << e.what();
    }
    EXPECT_EQ(m.status().running_version, 1u);
    EXPECT_EQ(act.count(), 1u);
    EXPECT_EQ(store.next_version(), 2u);  // nothing written
  }
  try {
    m.apply(bad_policy(), "bob", "");
  } catch (const PolicyOpError& e) {
    EXPECT_GE(e.errors().size(), 2u);  // every error, not just the first
  }
  EXPECT_TRUE(m.validate(bad_policy()).errors.size() >= 2);
}

TEST(PolicyManager, CommitConfirmedThenConfirm) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  m.start(policy("boot"));
  const PolicyVersion v = m.apply(policy("try"), "bob", "risky", 30s);
  EXPECT_EQ(v.state, VersionState::kPending);
  EXPECT_FALSE(v.confirm_deadline.empty());
  EXPECT_EQ(m.running()->source, policy("try"));  // active at once
  auto s = m.status();
  ASSERT_TRUE(s.pending);
  EXPECT_EQ(s.pending->version, 2u);
  EXPECT_EQ(s.pending->restores_version, 1u);
  EXPECT_EQ(s.committed_version, 1u);
  EXPECT_EQ(store.committed(), 1u);  // a restart now would bring back 1
  try {
    m.apply(policy("another"), "carol", "");
    ADD_FAILURE() << "second apply while pending accepted";
  } catch (const PolicyOpError& e) {
    EXPECT_EQ(e.kind(), PolicyOpErrorKind::kConflict);
    EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
  }
  const PolicyVersion c = m.confirm("carol");
  EXPECT_EQ(c.state, VersionState::kConfirmed);
  ASSERT_TRUE(c.resolution);
  EXPECT_EQ(c.resolution->author, "carol");
  s = m.status();
  EXPECT_FALSE(s.pending);
  EXPECT_EQ(s.committed_version, 2u);
  EXPECT_EQ(store.committed(), 2u);
  EXPECT_EQ(act.count(), 2u);
}

TEST(PolicyManager, MissedDeadlineRestoresThePreviousCommittedVersion) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  m.start(policy("boot"));
  m.apply(policy("try"), "bob", "risky", 200ms);
  ASSERT_TRUE(act.wait_for(3, 10s));  // boot, try, restore
  EXPECT_EQ(act.last()->source, policy("boot"));
  const auto s = m.status();
  EXPECT_EQ(s.running_version, 1u);
  EXPECT_FALSE(s.pending);
  EXPECT_EQ(s.auto_rollbacks, 1u);
  const PolicyVersion v = *m.get(2);
  EXPECT_EQ(v.state, VersionState::kRolledBack);
  ASSERT_TRUE(v.resolution);
  EXPECT_EQ(v.resolution->author, PolicyManager::kSystemAuthor);
  EXPECT_NE(v.resolution->reason.find("not confirmed before the deadline"), std::string::npos);
  EXPECT_NE(v.resolution->reason.find("version 1 restored"), std::string::npos);
  EXPECT_THROW(m.confirm("bob"), PolicyOpError);  // too late
  // The next apply is accepted and its parent is what runs.
  EXPECT_EQ(m.apply(policy("next"), "bob", "").parent, 1u);
}

TEST(PolicyManager, RestartRestoresTheCommittedVersionNotAPendingOne) {
  TempDir dir;
  {
    PolicyStore store(dir.path());
    Activations act;
    PolicyManager m(store, site(), act.hook());
    m.start(policy("boot"));
    m.apply(policy("good"), "bob", "");
    m.apply(policy("risky"), "bob", "", 1h);
  }
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  const auto warnings = m.start(policy("ignored bootstrap"));
  EXPECT_TRUE(contains(warnings, "version 3 was pending")) << joined(warnings);
  ASSERT_EQ(act.count(), 1u);
  EXPECT_EQ(act.last()->source, policy("good"));
  EXPECT_EQ(m.status().running_version, 2u);
  EXPECT_FALSE(m.status().pending);
  const PolicyVersion v3 = *m.get(3);
  EXPECT_EQ(v3.state, VersionState::kRolledBack);
  EXPECT_NE(v3.resolution->reason.find("restarted"), std::string::npos);
}

TEST(PolicyManager, CorruptLatestVersionFallsBackLoudly) {
  TempDir dir;
  {
    PolicyStore store(dir.path());
    PolicyManager m(store, site(), nullptr);
    m.start(policy("boot"));
    m.apply(policy("good"), "bob", "");
    m.apply(policy("latest"), "bob", "");
  }
  const std::string f = dir.policies() + "/000003.json";
  spit(f, slurp(f).substr(0, 100));
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  std::vector<std::string> logged;
  m.set_log([&](PolicyManager::LogLevel level, const std::string& line) {
    if (level == PolicyManager::LogLevel::kError) logged.push_back(line);
  });
  const auto warnings = m.start();
  EXPECT_TRUE(contains(warnings, "version 3")) << joined(warnings);
  EXPECT_TRUE(contains(warnings, "fell back to version 2")) << joined(warnings);
  EXPECT_TRUE(logged.empty()) << joined(logged);  // returned for the daemon, not logged twice
  EXPECT_EQ(act.last()->source, policy("good"));
  const auto s = m.status();
  EXPECT_EQ(s.running_version, 2u);
  EXPECT_GE(s.corrupt_files, 1u);
  EXPECT_EQ(s.warnings, warnings);
  EXPECT_EQ(m.apply(policy("after"), "bob", "").version, 4u);  // 3 is never reused
}

TEST(PolicyManager, VersionThatNoLongerFitsTheSiteIsSkipped) {
  TempDir dir;
  {
    PolicyStore store(dir.path());
    PolicyManager m(store, site(), nullptr);
    m.start(policy("boot"));
    m.apply(policy("two"), "bob", "");
  }
  // Same store, a box whose second uplink was renamed: no version fits; the bootstrap does.
  SiteFacts renamed{{"fiber", "5g"}, "edge"};
  json boot = policy("renamed");
  boot["uplinks"][1] = {{"name", "5g"}, {"kind", "5g"}};
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, renamed, act.hook());
  const auto warnings = m.start(boot);
  EXPECT_TRUE(contains(warnings, "version 2 does not compile")) << joined(warnings);
  EXPECT_TRUE(contains(warnings, "version 1 does not compile")) << joined(warnings);
  EXPECT_TRUE(contains(warnings, "committed as version 3")) << joined(warnings);
  EXPECT_EQ(act.last()->source, boot);
  EXPECT_EQ(store.committed(), 3u);
}

TEST(PolicyManager, RollbackMakesANewVersionAndCancelsAPendingOne) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  m.start(policy("boot"));
  m.apply(policy("two"), "bob", "");
  m.apply(policy("three"), "bob", "", 1h);
  const PolicyVersion r = m.rollback(1, "carol", "back to basics");
  EXPECT_EQ(r.version, 4u);
  EXPECT_EQ(r.rollback_of, 1u);
  EXPECT_EQ(r.parent, 3u);
  EXPECT_EQ(r.state, VersionState::kCommitted);
  EXPECT_EQ(r.policy, policy("boot"));
  EXPECT_EQ(m.running()->source, policy("boot"));
  EXPECT_FALSE(m.status().pending);
  EXPECT_EQ(store.committed(), 4u);
  const PolicyVersion v3 = *m.get(3);
  EXPECT_EQ(v3.state, VersionState::kRolledBack);
  EXPECT_NE(v3.resolution->reason.find("rollback to version 1 by carol"), std::string::npos);
  std::vector<std::string> states;
  for (const auto& v : m.history()) states.push_back(to_string(v.state));
  EXPECT_EQ(states,
            (std::vector<std::string>{"committed", "committed", "rolled-back", "committed"}));
}

TEST(PolicyManager, FailedActivationKeepsThePreviousPolicy) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  m.start(policy("boot"));
  act.fail_next();
  try {
    m.apply(policy("two"), "bob", "");
    ADD_FAILURE() << "no error";
  } catch (const PolicyOpError& e) {
    EXPECT_EQ(e.kind(), PolicyOpErrorKind::kActivation);
    EXPECT_NE(std::string(e.what()).find("data plane refused"), std::string::npos);
  }
  EXPECT_EQ(m.status().running_version, 1u);
  EXPECT_EQ(act.last()->source, policy("boot"));
  EXPECT_EQ(store.committed(), 1u);
  EXPECT_EQ(m.get(2)->state, VersionState::kRolledBack);
  PolicyStore again(dir.path());
  again.open();
  EXPECT_EQ(again.restore_candidates(), (std::vector<uint64_t>{1}));
}

TEST(PolicyManager, ConcurrentCallersGetDistinctVersions) {
  TempDir dir;
  PolicyStore store(dir.path());
  Activations act;
  PolicyManager m(store, site(), act.hook());
  m.start(policy("boot"));
  std::vector<std::thread> threads;
  std::atomic<int> applied{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        m.apply(policy("t" + std::to_string(t) + "-" + std::to_string(i)), "bob", "");
        ++applied;
        EXPECT_TRUE(m.validate(policy("x")).errors.empty());
        (void)m.status();
        (void)m.history();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(applied.load(), 20);
  const auto h = m.history();
  ASSERT_EQ(h.size(), 21u);
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(h[i].version, i + 1);
  EXPECT_EQ(m.status().running_version, 21u);
  EXPECT_EQ(act.last()->source, h.back().policy);
}

}  // namespace
}  // namespace traboule::cp

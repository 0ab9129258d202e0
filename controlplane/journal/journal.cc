// SPDX-License-Identifier: Apache-2.0
#include "controlplane/journal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace traboule::cp {
namespace {

using json = nlohmann::json;

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

json to_json(const JournalEvent& e) {
  json j = {{"seq", e.seq},           {"time_ms", e.unix_ms},   {"source", e.source},
            {"kind", e.kind},         {"subject", e.subject},   {"state", e.state},
            {"severity", e.severity}, {"incident", e.incident}, {"text", e.text}};
  if (e.extra.is_object() && !e.extra.empty()) j["extra"] = e.extra;
  return j;
}

std::optional<JournalEvent> journal_event_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  auto str = [&](const char* k, std::string& out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  JournalEvent e;
  auto seq = j.find("seq");
  auto t = j.find("time_ms");
  if (seq == j.end() || !seq->is_number_unsigned() || t == j.end() || !t->is_number_integer())
    return std::nullopt;
  e.seq = seq->get<uint64_t>();
  e.unix_ms = t->get<int64_t>();
  if (!str("source", e.source) || !str("kind", e.kind) || !str("subject", e.subject) ||
      !str("state", e.state) || !str("severity", e.severity) || !str("incident", e.incident) ||
      !str("text", e.text))
    return std::nullopt;
  if (auto x = j.find("extra"); x != j.end() && x->is_object()) e.extra = *x;
  return e;
}

Journal::Journal(std::string dir, JournalLimits limits) : dir_(std::move(dir)), limits_(limits) {
  if (limits_.files < 1) limits_.files = 1;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  // Continue the sequence from the newest record on disk; the current file's size decides the
  // next rotation.
  for (const JournalEvent& e : read()) seq_ = std::max(seq_, e.seq);
  struct stat st {};
  if (::stat(path(0).c_str(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  // A crash mid-write leaves a last line without its newline: end it, so the next record
  // starts a line of its own (the torn one stays unreadable and is skipped).
  if (size_ > 0) {
    std::ifstream in(path(0), std::ios::binary);
    in.seekg(-1, std::ios::end);
    char last = '\n';
    if (in.get(last) && last != '\n') {
      const int fd = ::open(path(0).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd >= 0) {
        if (write_all(fd, "\n")) ++size_;
        ::close(fd);
      }
    }
  }
}

std::string Journal::path(unsigned i) const {
  return dir_ + (i == 0 ? "/journal.jsonl" : "/journal." + std::to_string(i) + ".jsonl");
}

void Journal::rotate_locked() {
  std::error_code ec;
  std::filesystem::remove(path(limits_.files - 1), ec);
  for (unsigned i = limits_.files - 1; i > 0; --i)
    std::filesystem::rename(path(i - 1), path(i), ec);  // a missing one is not an error
  size_ = 0;
}

JournalEvent Journal::append(JournalEvent e) {
  e = append_locked(std::move(e));
  if (sink_) sink_(e);
  return e;
}

JournalEvent Journal::append_locked(JournalEvent e) {
  std::lock_guard lock(mu_);
  e.seq = ++seq_;
  if (e.unix_ms == 0) e.unix_ms = now_unix_ms();
  const std::string line = to_json(e).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (size_ != 0 && size_ + line.size() > limits_.file_bytes && limits_.files > 1) rotate_locked();
  const int fd = ::open(path(0).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  bool ok = fd >= 0;
  if (ok) {
    // One write per record: a crash leaves at most the last line torn (skipped when read).
    ok = write_all(fd, line) && ::fdatasync(fd) == 0;
    ::close(fd);
  }
  if (ok)
    size_ += line.size();
  else
    ++write_errors_;
  return e;
}

std::vector<JournalEvent> Journal::read(int64_t since_ms, const std::string& incident,
                                        size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<JournalEvent> out;
  uint64_t skipped = 0;
  for (unsigned i = limits_.files; i-- > 0;) {  // oldest file first
    std::ifstream in(path(i));
    if (!in) continue;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const json j = json::parse(line, nullptr, false);
      auto e = journal_event_from_json(j);
      if (!e) {
        ++skipped;
        continue;
      }
      if (e->unix_ms < since_ms) continue;
      if (!incident.empty() && e->incident != incident) continue;
      out.push_back(std::move(*e));
    }
  }
  skipped_ = skipped;
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<ptrdiff_t>(limit));
  return out;
}

uint64_t Journal::write_errors() const {
  std::lock_guard lock(mu_);
  return write_errors_;
}

uint64_t Journal::skipped_lines() const {
  std::lock_guard lock(mu_);
  return skipped_;
}

uint64_t Journal::last_seq() const {
  std::lock_guard lock(mu_);
  return seq_;
}

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
// The event journal (docs/operations.md): every state change the box sees (uplink and path
// up/down, the site losing every path, SLA classes violated and met, caps, policy versions,
// daemon start and stop), appended to JSON Lines files in <state_dir>/journal, each record with
// its time, source, severity and the tender's incident class (P0 Bloquant, P1 Majeur,
// P2 Mineur). Bounded (files rotated at a size, the oldest removed), crash-safe (one write and
// an fdatasync per record; a torn last line is skipped on reading), kept across restarts.
// The availability report (availability.h) is computed from it.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace traboule::cp {

struct JournalEvent {
  uint64_t seq = 0;      // 1, 2, ... over the journal's life (restarts continue the count)
  int64_t unix_ms = 0;   // wall clock
  std::string source;    // "links", "policy", "daemon"
  std::string kind;      // "uplink", "path", "site", "sla", "cap", "policy", "daemon"
  std::string subject;   // "fiber", "fiber/hub", "site", "realtime@fiber", "internet"...
  std::string state;     // "down", "up", "violated", "met", "reached", "applied", "start"...
  std::string severity;  // RFC 5424 names: "critical", "error", "warning", "notice", "info"
  std::string incident;  // "P0", "P1", "P2", or "" (no incident: a recovery, or information)
  std::string text;      // what an operator reads
  nlohmann::json extra = nlohmann::json::object();  // e.g. {"last_alive_ms": ...} on a start
};

nlohmann::json to_json(const JournalEvent& e);
// nullopt when `j` is not a journal record (a hostile or torn line).
std::optional<JournalEvent> journal_event_from_json(const nlohmann::json& j);

struct JournalLimits {
  uint64_t file_bytes = 4u << 20;  // a file is rotated past this size
  unsigned files = 8;              // journal.jsonl + journal.1.jsonl ... (files - 1)
};

class Journal {
 public:
  // `dir` is created if missing. Reads what is there to continue the sequence.
  explicit Journal(std::string dir, JournalLimits limits = {});

  // Appends (seq and, when 0, unix_ms are filled in) and returns the record as written. A write
  // error is counted (write_errors()) and the record kept in memory only: the box goes on.
  JournalEvent append(JournalEvent e);

  // Records, oldest first, from every file (rotated ones included); `since_ms` and `incident`
  // ("P0"... or "" for any) filter; at most `limit` of the newest that pass.
  std::vector<JournalEvent> read(int64_t since_ms = 0, const std::string& incident = "",
                                 size_t limit = SIZE_MAX) const;

  // Called with each record appended (after it is on disk), e.g. to forward it to syslog;
  // set before any append. Must not block.
  void set_sink(std::function<void(const JournalEvent&)> sink) { sink_ = std::move(sink); }

  const std::string& dir() const noexcept { return dir_; }
  uint64_t write_errors() const;
  uint64_t skipped_lines() const;  // torn or foreign lines met by the last read()
  uint64_t last_seq() const;

 private:
  std::string path(unsigned i) const;
  void rotate_locked();
  JournalEvent append_locked(JournalEvent e);

  std::string dir_;
  JournalLimits limits_;
  mutable std::mutex mu_;
  uint64_t seq_ = 0;
  uint64_t size_ = 0;  // bytes of the current file
  uint64_t write_errors_ = 0;
  mutable uint64_t skipped_ = 0;
  std::function<void(const JournalEvent&)> sink_;
};

}  // namespace traboule::cp

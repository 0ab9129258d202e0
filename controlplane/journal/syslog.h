// SPDX-License-Identifier: Apache-2.0
// Journal records to syslog collectors (docs/operations.md, "Syslog"): RFC 5424 messages over
// UDP (RFC 5426) or TCP with octet-counting framing (RFC 6587 §3.4.1), the incident class and
// the record's fields in structured data. A bounded queue and one sender thread: the caller (the
// links runner, the daemon) never waits on the network; what does not fit is counted as
// dropped, a collector that is down is retried with backoff.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/journal/journal.h"

namespace traboule::cp {

struct SyslogCollector {
  std::string host;  // an IPv4 or IPv6 address (no name resolution in the daemon)
  uint16_t port = 514;
  bool tcp = false;
};

// The structured-data id: the documentation enterprise number of RFC 5612 until the project
// has its own.
inline constexpr const char* kSyslogSdId = "traboule@32473";

// RFC 5424 numeric severity of a journal severity name (unknown: notice).
int syslog_severity(const std::string& name);
// "local0".."local7", "daemon", "user" → facility code; nullopt otherwise.
// Inline: the config parser (traboule_cp_config) checks the name without the sender's code.
inline std::optional<int> syslog_facility(const std::string& n) {
  if (n == "user") return 1;
  if (n == "daemon") return 3;
  if (n.size() == 6 && n.compare(0, 5, "local") == 0 && n[5] >= '0' && n[5] <= '7')
    return 16 + (n[5] - '0');
  return std::nullopt;
}

// One RFC 5424 message (no framing): <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG.
// Header fields are printable US-ASCII cut to their RFC lengths; SD-PARAM values escape
// '"', '\' and ']'; the message's control characters become spaces.
std::string format_rfc5424(const JournalEvent& e, int facility, const std::string& hostname,
                           int pid);

class SyslogSender {
 public:
  SyslogSender(std::vector<SyslogCollector> collectors, int facility, size_t queue = 1024);
  ~SyslogSender();  // sends what is queued (at most ~1 s), then stops
  SyslogSender(const SyslogSender&) = delete;
  SyslogSender& operator=(const SyslogSender&) = delete;

  void send(const JournalEvent& e);  // never blocks on the network
  uint64_t sent() const noexcept { return sent_.load(); }
  uint64_t dropped() const noexcept {
    return dropped_.load();
  }                                                            // queue full (or a TCP
                                                               // collector's backlog)
  uint64_t errors() const noexcept { return errors_.load(); }  // send or connect failures

 private:
  // A collector, and what it has not taken yet: a TCP collector that is down keeps its messages
  // (up to the queue size, the oldest dropped) until it is back; UDP sends and forgets.
  struct Conn {
    SyslogCollector c;
    int fd = -1;
    uint64_t retry_at_ns = 0;
    uint64_t backoff_ns = 0;
    std::deque<std::string> pending;
  };
  void run();
  void flush(Conn& c);
  bool deliver(Conn& c, const std::string& msg);
  bool open(Conn& c);

  std::vector<Conn> conns_;
  int facility_;
  size_t cap_;
  std::string hostname_;
  int pid_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  std::atomic<uint64_t> sent_{0}, dropped_{0}, errors_{0};
  std::thread thread_;
};

}  // namespace traboule::cp

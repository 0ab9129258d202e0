// SPDX-License-Identifier: Apache-2.0
// The daemon's HTTPS API, read-only with a viewer token, on a thread of its own so that a slow
// or hung daemon never holds up SNMP requests: the SNMP thread takes finished polls from here.
// No net-snmp in this file (the agent library is not thread-safe; only agent.cc touches it).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace traboule::snmp {

struct ApiSettings {
  std::string host = "127.0.0.1";
  uint16_t port = 8443;
  std::string ca_file;     // empty: the system's CAs
  std::string token_file;  // read at start and again after a 401 (a rotated token)
  double timeout_s = 2.0;  // per request (connect, read, write)
  unsigned interval_s = 5;
  unsigned report_interval_s = 60;  // GET /report/availability (computed from the whole journal)
};

// One poll: each document parsed, or nullopt with the reason in `failures`.
struct Poll {
  std::optional<nlohmann::json> status, uplinks, paths, counters, events, availability;
  std::vector<std::string> failures;  // safe to log: no token, bodies shortened
};

// "https://HOST:PORT" → host and port; false with `error` otherwise (plain http refused).
bool parse_server(const std::string& url, std::string& host, uint16_t& port, std::string& error);
// The token file's first line without surrounding blanks; empty with `error` when unusable.
std::string read_token(const std::string& path, std::string& error);

class Poller {
 public:
  explicit Poller(ApiSettings settings);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  // Starts the thread; false (with `error`) when the token file cannot be read.
  bool start(std::string& error);
  // The newest finished poll, if one is waiting (an older one not taken yet is replaced).
  std::optional<Poll> take();
  // `since` for the next GET /events (the SNMP thread's decider knows it).
  void set_events_since(uint64_t s) { events_since_.store(s); }

 private:
  struct Client;
  void run();
  Poll poll_once(bool with_report);
  std::optional<nlohmann::json> get(const std::string& target, Poll& poll);

  ApiSettings settings_;
  std::unique_ptr<Client> client_;
  std::string token_;
  std::atomic<uint64_t> events_since_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<Poll> ready_;
  std::thread thread_;
};

}  // namespace traboule::snmp

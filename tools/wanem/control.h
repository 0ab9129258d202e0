// SPDX-License-Identifier: Apache-2.0
// The run-time control channel: a unix stream socket at a path unique to the instance. One
// request per connection, one JSON line each way: {"words":[...]} in, the handler's JSON out.
// Clients are served one at a time with short timeouts, so a stuck client cannot wedge it.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace traboule::wanem {

inline constexpr size_t kMaxRequestBytes = 64 * 1024;

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& request)>;

  // Binds path (creating its parent directory). Refuses a path where another instance
  // answers, or that exists and is not a socket; removes a stale socket left by a crash.
  explicit ControlServer(const std::string& path);
  ~ControlServer();  // closes and unlinks
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Serves until stop_fd becomes readable.
  void serve(int stop_fd, const Handler& handler);

 private:
  void serve_one(int client, const Handler& handler);

  std::string path_;
  int fd_ = -1;
};

// Sends one request and returns the response line, or nullopt with *error set.
std::optional<std::string> control_request(const std::string& path, const std::string& request,
                                           int timeout_ms, std::string* error);

}  // namespace traboule::wanem

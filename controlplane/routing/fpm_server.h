// SPDX-License-Identifier: Apache-2.0
// The FPM server: zebra (dplane_fpm_nl) connects to us over TCP and streams its selected routes;
// one thread reads the frames into the RIB. Each new connection starts a resync (zebra replays
// everything); what is not re-sent is swept after the grace period. docs/routing.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/routing/fpm.h"
#include "controlplane/routing/rib.h"

namespace traboule::cp {

struct FpmServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 2620;  // 0: any free port (tests); port() tells which
  // After a (re)connection, routes not re-sent within this time (and 500 ms of quiet) go. It must
  // cover zebra's clients coming back too: staticd reconnects to a restarted zebra after about
  // 9 s (measured, FRR 8.4), and zebra replays only what its clients have re-sent by then.
  std::chrono::milliseconds resync_grace{15000};
};

struct FpmSessionStats {
  uint64_t connections = 0;
  uint64_t disconnections = 0;
  uint64_t replaced = 0;      // a new connection while one was open: the old one closed
  uint64_t fatal_closes = 0;  // closed because the stream was out of step (counters say why)
  uint64_t sweeps = 0;
  bool connected = false;
};

class FpmServer {
 public:
  FpmServer(Rib& rib, FpmServerOptions options);
  ~FpmServer();
  FpmServer(const FpmServer&) = delete;
  FpmServer& operator=(const FpmServer&) = delete;

  // Binds, listens and starts the thread; false and *error when the address cannot be used.
  bool start(std::string* error);
  void stop();
  uint16_t port() const noexcept { return bound_port_; }
  FpmCounters counters() const;
  FpmSessionStats session() const;
  // Called on the server thread after each batch that changed the RIB (to rebuild the FIB).
  void set_on_change(std::function<void()> fn);

 private:
  void run();
  void accept_client();
  bool read_client();  // false: the connection is to be closed
  void close_client();
  void maybe_sweep();

  Rib& rib_;
  FpmServerOptions options_;
  int listen_fd_ = -1, client_fd_ = -1, wake_fd_ = -1;
  uint16_t bound_port_ = 0;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::vector<uint8_t> buf_;
  std::chrono::steady_clock::time_point connected_at_{}, last_frame_at_{};
  bool sweep_pending_ = false;
  mutable std::mutex mu_;  // counters_, session_, on_change_
  FpmCounters counters_;
  FpmSessionStats session_;
  std::function<void()> on_change_;
};

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/routing/fpm_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace traboule::cp {
namespace {

constexpr size_t kReadChunk = 65536;
constexpr auto kQuiet = std::chrono::milliseconds(500);
constexpr int kPollMs = 50;

// A socket bound to address:port (IPv4 or IPv6 text), listening; -1 and *error otherwise.
int listen_on(const std::string& address, uint16_t port, std::string* error) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    len = sizeof *s4;
  } else if (inet_pton(AF_INET6, address.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    len = sizeof *s6;
  } else {
    *error = "fpm: not an IP address: '" + address + "'";
    return -1;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = std::string("fpm: socket: ") + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 4) != 0) {
    *error = "fpm: cannot listen on " + address + ":" + std::to_string(port) + ": " +
             std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace

FpmServer::FpmServer(Rib& rib, FpmServerOptions options)
    : rib_(rib), options_(std::move(options)) {}

FpmServer::~FpmServer() {
  stop();
}

bool FpmServer::start(std::string* error) {
  listen_fd_ = listen_on(options_.address, options_.port, error);
  if (listen_fd_ < 0) return false;
  bound_port_ = local_port(listen_fd_);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    *error = std::string("fpm: eventfd: ") + std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  running_ = true;
  thread_ = std::thread([this] { run(); });
  return true;
}

void FpmServer::stop() {
  if (!running_.exchange(false)) return;
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  close_client();
  ::close(listen_fd_);
  ::close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
}

FpmCounters FpmServer::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

FpmSessionStats FpmServer::session() const {
  std::lock_guard lock(mu_);
  return session_;
}

void FpmServer::set_on_change(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(fn);
}

void FpmServer::run() {
  while (running_) {
    pollfd fds[3] = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}, {client_fd_, POLLIN, 0}};
    const int n = ::poll(fds, client_fd_ >= 0 ? 3 : 2, kPollMs);
    if (n < 0 && errno != EINTR) break;
    if (!running_) break;
    if (n > 0 && (fds[1].revents & POLLIN) != 0) accept_client();
    if (n > 0 && client_fd_ >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
        !read_client()) {
      close_client();
    }
    maybe_sweep();
  }
}

void FpmServer::accept_client() {
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  const bool replacing = client_fd_ >= 0;
  close_client();
  client_fd_ = fd;
  buf_.clear();
  // zebra replays its whole RIB on every connection: a full sync starts now.
  rib_.begin_resync();
  connected_at_ = last_frame_at_ = std::chrono::steady_clock::now();
  sweep_pending_ = true;
  std::lock_guard lock(mu_);
  ++session_.connections;
  session_.replaced += replacing ? 1 : 0;
  session_.connected = true;
}

void FpmServer::close_client() {
  if (client_fd_ < 0) return;
  ::close(client_fd_);
  client_fd_ = -1;
  buf_.clear();
  // A replay cut short proves nothing: the sweep waits for the next complete connection.
  sweep_pending_ = false;
  std::lock_guard lock(mu_);
  ++session_.disconnections;
  session_.connected = false;
}

bool FpmServer::read_client() {
  const size_t old = buf_.size();
  buf_.resize(old + kReadChunk);
  const ssize_t got = ::read(client_fd_, buf_.data() + old, kReadChunk);
  buf_.resize(old + (got > 0 ? static_cast<size_t>(got) : 0));
  if (got == 0) return false;
  if (got < 0) return errno == EAGAIN || errno == EINTR;
  FpmCounters local;
  std::vector<RouteUpdate> updates;
  size_t off = 0;
  FrameStatus st = FrameStatus::kOk;
  while (off < buf_.size()) {
    size_t used = 0;
    st = decode_fpm_frame(std::span(buf_).subspan(off), true, &used, &updates, &local);
    if (st == FrameStatus::kNeedMore || st == FrameStatus::kFatal) break;
    off += used;
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(off));
  const auto now = std::chrono::system_clock::now();
  bool changed = false;
  for (const RouteUpdate& u : updates) changed |= rib_.apply(u, now);
  if (off > 0) last_frame_at_ = std::chrono::steady_clock::now();
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < kFpmCounterCount; ++i) counters_.v[i] += local.v[i];
    session_.fatal_closes += st == FrameStatus::kFatal ? 1 : 0;
    if (changed) notify = on_change_;
  }
  if (notify) notify();
  return st != FrameStatus::kFatal;
}

void FpmServer::maybe_sweep() {
  if (!sweep_pending_ || client_fd_ < 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < connected_at_ + options_.resync_grace || now < last_frame_at_ + kQuiet) return;
  sweep_pending_ = false;
  const bool changed = rib_.sweep_stale() > 0;
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    ++session_.sweeps;
    if (changed) notify = on_change_;
  }
  if (notify) notify();
}

}  // namespace traboule::cp

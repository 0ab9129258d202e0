// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace traboule::wanem {
namespace {

constexpr int kClientTimeoutMs = 2000;

bool make_address(const std::string& path, sockaddr_un* addr, std::string* error) {
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    *error = "control socket path \"" + path + "\" must be 1 to " +
             std::to_string(sizeof(addr->sun_path) - 1) + " bytes";
    return false;
  }
  *addr = sockaddr_un{};
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

void set_timeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads up to the first newline; false on timeout, error, or more than max bytes.
bool read_line(int fd, size_t max, std::string* line, std::string* error) {
  line->clear();
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : std::strerror(errno);
      return false;
    }
    if (n == 0) {
      if (line->empty()) {
        *error = "connection closed without a reply";
        return false;
      }
      return true;
    }
    line->append(buf, static_cast<size_t>(n));
    size_t nl = line->find('\n');
    if (nl != std::string::npos) {
      line->resize(nl);
      return true;
    }
    if (line->size() > max) {
      *error = "request longer than " + std::to_string(max) + " bytes";
      return false;
    }
  }
}

}  // namespace

ControlServer::ControlServer(const std::string& path) : path_(path) {
  sockaddr_un addr;
  std::string error;
  if (!make_address(path, &addr, &error)) throw std::runtime_error(error);
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      throw std::runtime_error("control socket directory " + parent.string() + ": " + ec.message());
    }
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error("control socket path " + path + " exists and is not a socket");
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool alive =
        probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (alive) {
      throw std::runtime_error("control socket " + path +
                               " is in use by another instance (each link needs its own --ctl)");
    }
    ::unlink(path.c_str());  // stale: its owner is gone
  }
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("control socket: ") + std::strerror(errno));
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd_, 8) < 0) {
    int err = errno;
    ::close(fd_);
    throw std::runtime_error("control socket " + path + ": " + std::strerror(err));
  }
  ::chmod(path.c_str(), 0660);
}

ControlServer::~ControlServer() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

void ControlServer::serve(int stop_fd, const Handler& handler) {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  while (true) {
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return;
    if (fds[0].revents & POLLIN) {
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      serve_one(client, handler);
      ::close(client);
    }
  }
}

void ControlServer::serve_one(int client, const Handler& handler) {
  set_timeouts(client, kClientTimeoutMs);
  std::string line, error;
  if (!read_line(client, kMaxRequestBytes, &line, &error)) {
    // Built by hand: the error text is ours and holds no quote or backslash to escape.
    write_all(client, "{\"ok\":false,\"error\":\"bad request: " + error + "\"}\n");
    return;
  }
  write_all(client, handler(line) + "\n");
}

std::optional<std::string> control_request(const std::string& path, const std::string& request,
                                           int timeout_ms, std::string* error) {
  sockaddr_un addr;
  if (!make_address(path, &addr, error)) return std::nullopt;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return std::nullopt;
  }
  set_timeouts(fd, timeout_ms);
  std::string line;
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    *error = "cannot reach wanem at " + path + ": " + std::strerror(errno);
  } else if (!write_all(fd, request + "\n")) {
    *error = "sending to " + path + ": " + std::strerror(errno);
  } else if (!read_line(fd, 16 * 1024 * 1024, &line, error)) {
    *error = "reply from " + path + ": " + *error;
  } else {
    ok = true;
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return line;
}

}  // namespace traboule::wanem

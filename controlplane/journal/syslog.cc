// SPDX-License-Identifier: Apache-2.0
#include "controlplane/journal/syslog.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace traboule::cp {
namespace {

uint64_t mono_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Printable US-ASCII (33-126) only, at most `max` characters, "-" when nothing is left.
std::string header_field(const std::string& s, size_t max) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 33 && c <= 126) out += ch;
    if (out.size() == max) break;
  }
  return out.empty() ? "-" : out;
}

// RFC 5424 §6.3.3: '"', '\' and ']' are escaped in PARAM-VALUE; control characters dropped.
std::string param_value(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (static_cast<unsigned char>(ch) < 32 || ch == 127) continue;
    if (ch == '"' || ch == '\\' || ch == ']') out += '\\';
    out += ch;
  }
  return out;
}

std::string timestamp(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
                (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
                tm.tm_sec % 100, static_cast<int>(unix_ms % 1000 + 1000) % 1000);
  return buf;
}

bool sockaddr_of(const SyslogCollector& c, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, c.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(c.port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET6, c.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(c.port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

constexpr size_t kUdpMax = 2048;  // RFC 5426 §3.2: receivers should take 2048 octets
constexpr uint64_t kBackoffMinNs = 1'000'000'000, kBackoffMaxNs = 30'000'000'000;

}  // namespace

int syslog_severity(const std::string& n) {
  static const char* kNames[] = {"emergency", "alert",  "critical", "error",
                                 "warning",   "notice", "info",     "debug"};
  for (int i = 0; i < 8; ++i)
    if (n == kNames[i]) return i;
  return 5;
}

std::string format_rfc5424(const JournalEvent& e, int facility, const std::string& hostname,
                           int pid) {
  const int pri = facility * 8 + syslog_severity(e.severity);
  std::string m = "<" + std::to_string(pri) + ">1 " + timestamp(e.unix_ms) + " " +
                  header_field(hostname, 255) + " trabouled " + std::to_string(pid) + " " +
                  header_field(e.kind, 32) + " [" + kSyslogSdId;
  auto param = [&](const char* name, const std::string& v) {
    m += std::string(" ") + name + "=\"" + param_value(v) + "\"";
  };
  param("seq", std::to_string(e.seq));
  param("incident", e.incident.empty() ? "none" : e.incident);
  param("kind", e.kind);
  param("subject", e.subject);
  param("state", e.state);
  param("source", e.source);
  m += "] ";
  for (char ch : e.text) m += static_cast<unsigned char>(ch) < 32 || ch == 127 ? ' ' : ch;
  return m;
}

SyslogSender::SyslogSender(std::vector<SyslogCollector> collectors, int facility, size_t queue)
    : facility_(facility), cap_(queue == 0 ? 1 : queue), pid_(static_cast<int>(::getpid())) {
  for (SyslogCollector& c : collectors) conns_.push_back(Conn{std::move(c)});
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) hostname_ = host;
  if (!conns_.empty()) thread_ = std::thread([this] { run(); });
}

SyslogSender::~SyslogSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  for (Conn& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
}

void SyslogSender::send(const JournalEvent& e) {
  if (conns_.empty()) return;
  std::string msg = format_rfc5424(e, facility_, hostname_, pid_);
  std::lock_guard lock(mu_);
  if (queue_.size() >= cap_) {
    dropped_.fetch_add(1);
    return;
  }
  queue_.push_back(std::move(msg));
  cv_.notify_one();
}

bool SyslogSender::open(Conn& c) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!sockaddr_of(c.c, ss, len)) return false;
  const int fd = ::socket(ss.ss_family, (c.c.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  if (c.c.tcp) {
    // Connect within 1 s, then sends time out after 1 s: a dead collector costs the sender
    // thread that much, never the caller.
    const int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t el = sizeof err;
      rc = ::poll(&p, 1, 1000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
                   err == 0
               ? 0
               : -1;
    }
    ::fcntl(fd, F_SETFL, fl);
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rc != 0) {
      ::close(fd);
      return false;
    }
  } else if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return false;
  }
  c.fd = fd;
  return true;
}

bool SyslogSender::deliver(Conn& c, const std::string& msg) {
  const uint64_t now = mono_ns();
  if (c.fd < 0) {
    if (now < c.retry_at_ns) return false;
    if (!open(c)) {
      c.backoff_ns = c.backoff_ns == 0 ? kBackoffMinNs : std::min(kBackoffMaxNs, c.backoff_ns * 2);
      c.retry_at_ns = now + c.backoff_ns;
      return false;
    }
  }
  std::string wire;
  if (c.c.tcp)
    wire = std::to_string(msg.size()) + " " + msg;  // RFC 6587 octet counting
  else
    wire = msg.substr(0, kUdpMax);
  size_t done = 0;
  while (done < wire.size()) {
    const ssize_t n = ::send(c.fd, wire.data() + done, wire.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (!c.c.tcp) return false;  // UDP: the collector's port refused one; the next may pass
      ::close(c.fd);
      c.fd = -1;
      c.backoff_ns = kBackoffMinNs;
      c.retry_at_ns = now + c.backoff_ns;
      return false;
    }
    done += static_cast<size_t>(n);
    if (!c.c.tcp) break;
  }
  c.backoff_ns = 0;
  return true;
}

void SyslogSender::flush(Conn& c) {
  while (!c.pending.empty()) {
    if (c.c.tcp && c.fd < 0 && mono_ns() < c.retry_at_ns) return;  // backing off: keep them
    if (deliver(c, c.pending.front())) {
      sent_.fetch_add(1);
    } else {
      errors_.fetch_add(1);
      if (c.c.tcp) return;  // kept for the next attempt
    }
    c.pending.pop_front();
  }
}

void SyslogSender::run() {
  std::unique_lock lock(mu_);
  uint64_t stop_by = 0;  // once stopping: what is still queued gets at most 1 s
  for (;;) {
    // Wake for a new message, for the next retry of a collector holding messages, or to stop.
    uint64_t next_retry = 0;
    for (const Conn& c : conns_)
      if (!c.pending.empty() && c.fd < 0 && (next_retry == 0 || c.retry_at_ns < next_retry))
        next_retry = c.retry_at_ns;
    auto ready = [this] { return stop_ || !queue_.empty(); };
    if (next_retry == 0) {
      cv_.wait(lock, ready);
    } else {
      const uint64_t now = mono_ns();
      cv_.wait_for(lock, std::chrono::nanoseconds(next_retry > now ? next_retry - now : 0), ready);
    }
    if (stop_) {
      if (stop_by == 0) stop_by = mono_ns() + 1'000'000'000;
      bool left = !queue_.empty();
      for (const Conn& c : conns_) left = left || (!c.pending.empty() && c.fd >= 0);
      if (!left || mono_ns() > stop_by) return;
    }
    std::deque<std::string> batch;
    batch.swap(queue_);
    lock.unlock();
    for (Conn& c : conns_) {
      for (const std::string& m : batch) {
        if (c.pending.size() >= cap_) {
          c.pending.pop_front();
          dropped_.fetch_add(1);
        }
        c.pending.push_back(m);
      }
      flush(c);
    }
    lock.lock();
  }
}

}  // namespace traboule::cp

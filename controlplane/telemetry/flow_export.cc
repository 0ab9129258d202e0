// SPDX-License-Identifier: Apache-2.0
#include "controlplane/telemetry/flow_export.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace traboule::cp {
namespace {

uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A connected UDP socket to the collector, or -1.
int open_udp(const IpfixCollector& c) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (c.host.is_v4()) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(c.port);
    std::memcpy(&a->sin_addr, c.host.v4_ptr(), 4);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(c.port);
    std::memcpy(&a->sin6_addr, c.host.b.data(), 16);
    len = sizeof *a;
  }
  const int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

void FlowExportTracker::emit(State& s, ipfix::EndReason reason, std::vector<ipfix::Record>& out) {
  const FlowSample& f = s.last;
  for (int d = 0; d < 2; ++d) {
    // Counters below what was sent: the slot was reset in place; all of it is new.
    const bool reset = f.packets[d] < s.sent_packets[d] || f.octets[d] < s.sent_octets[d];
    const uint64_t packets = reset ? f.packets[d] : f.packets[d] - s.sent_packets[d];
    const uint64_t octets = reset ? f.octets[d] : f.octets[d] - s.sent_octets[d];
    s.sent_packets[d] = f.packets[d];
    s.sent_octets[d] = f.octets[d];
    if (packets == 0) continue;
    ipfix::Record r;
    r.src = d == 0 ? f.src : f.dst;
    r.dst = d == 0 ? f.dst : f.src;
    r.src_port = d == 0 ? f.src_port : f.dst_port;
    r.dst_port = d == 0 ? f.dst_port : f.src_port;
    r.ingress = d == 0 ? f.in_if : f.out_if;
    r.egress = d == 0 ? f.out_if : f.in_if;
    r.proto = f.proto;
    r.tos = f.tos;
    r.post_tos = f.post_tos;
    r.reason = reason;
    r.octets = octets;
    r.packets = packets;
    r.start_ms = f.start_ms;
    r.end_ms = f.last_ms < f.start_ms ? f.start_ms : f.last_ms;
    r.app_id = f.app;
    out.push_back(std::move(r));
  }
}

std::vector<ipfix::Record> FlowExportTracker::update(const std::vector<FlowSample>& walk,
                                                     uint64_t now_ms) {
  std::vector<ipfix::Record> out;
  ++walk_;
  for (const FlowSample& f : walk) {
    auto [it, fresh] = flows_.try_emplace(f.identity);
    State& s = it->second;
    if (!fresh && s.seen_walk == walk_) continue;  // listed twice in one walk
    if (!fresh && s.last.created != f.created) {
      // The slot holds another flow now: the one before ended since the last walk.
      emit(s, ipfix::EndReason::kIdleTimeout, out);
      s = State{};
      fresh = true;
    }
    s.last = f;
    s.seen_walk = walk_;
    if (fresh) s.last_export_ms = f.start_ms != 0 && f.start_ms < now_ms ? f.start_ms : now_ms;
    if (f.closed && !s.end_sent) {
      emit(s, ipfix::EndReason::kEndOfFlow, out);
      s.end_sent = true;
      s.last_export_ms = now_ms;
    } else if (now_ms - std::min(now_ms, s.last_export_ms) >= active_ms_) {
      emit(s, ipfix::EndReason::kActiveTimeout, out);
      s.last_export_ms = now_ms;
    }
  }
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (it->second.seen_walk == walk_) {
      ++it;
      continue;
    }
    emit(it->second, ipfix::EndReason::kIdleTimeout, out);
    it = flows_.erase(it);
  }
  return out;
}

std::vector<ipfix::Record> FlowExportTracker::flush(uint64_t /*now_ms*/) {
  std::vector<ipfix::Record> out;
  for (auto& [id, s] : flows_) emit(s, ipfix::EndReason::kForcedEnd, out);
  flows_.clear();
  return out;
}

IpfixExporter::IpfixExporter(IpfixSettings settings, Walk walk, AppName app_name)
    : settings_(std::move(settings)),
      walk_(std::move(walk)),
      app_name_(std::move(app_name)),
      tracker_(uint64_t{settings_.active_timeout_s} * 1000),
      encoder_(settings_.domain_id, settings_.max_message) {
  for (const auto& c : settings_.collectors) fds_.push_back(open_udp(c));
  thread_ = std::thread([this] { run(); });
}

IpfixExporter::~IpfixExporter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  const uint64_t now = wall_ms();
  export_records(tracker_.flush(now), now);
  for (int fd : fds_)
    if (fd >= 0) ::close(fd);
}

IpfixExporter::Stats IpfixExporter::stats() const {
  return {records_.load(), messages_.load(), send_errors_.load(),
          walks_.load(),   tracked_.load(),  walk_us_.load()};
}

void IpfixExporter::run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<FlowSample> walk = walk_();
    const uint64_t now = wall_ms();
    export_records(tracker_.update(walk, now), now);
    walk_us_ = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    ++walks_;
    tracked_ = tracker_.tracked();
    lock.lock();
  }
}

void IpfixExporter::export_records(std::vector<ipfix::Record> records, uint64_t now_ms) {
  const bool templates = templates_at_ms_ == 0 || now_ms - std::min(now_ms, templates_at_ms_) >=
                                                      uint64_t{settings_.template_refresh_s} * 1000;
  if (records.empty() && !templates) return;
  for (auto& r : records)
    if (r.app_id != 0) r.app_name = app_name_(r.app_id);
  if (templates) templates_at_ms_ = now_ms;
  for (const std::string& m :
       encoder_.encode(records, static_cast<uint32_t>(now_ms / 1000), templates))
    send(m);
  records_ += records.size();
}

void IpfixExporter::send(const std::string& msg) {
  ++messages_;
  for (size_t i = 0; i < fds_.size(); ++i) {
    // A collector we could not reach at start (no route yet) is tried again.
    if (fds_[i] < 0) fds_[i] = open_udp(settings_.collectors[i]);
    if (fds_[i] < 0 || ::send(fds_[i], msg.data(), msg.size(), MSG_NOSIGNAL) < 0) ++send_errors_;
  }
}

}  // namespace traboule::cp

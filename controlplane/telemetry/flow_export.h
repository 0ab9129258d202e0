// SPDX-License-Identifier: Apache-2.0
// Flow export (docs/operations.md, "IPFIX"): the control plane walks the workers' flow tables
// once a second and turns what changed into IPFIX records, one per flow direction:
//   - a flow gone from the tables since the last walk ended (idle timeout): its remainder;
//   - a TCP flow that closed (FIN both ways, or RST): its counters at once (end of flow);
//   - a flow whose last record is older than the active timeout and that moved: the delta.
// The sum of a flow's records is its counters, whatever the timing. The walk cannot see a flow
// created and removed between two walks (less than a second plus its idle timeout: none today)
// and a TCP flow restarted in place by a SYN loses what it did since the last walk.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controlplane/telemetry/ipfix.h"
#include "dataplane/proto/ip_addr.h"

namespace traboule::cp {

// One flow as a walk of the tables saw it (the daemon fills these from FlowTable::for_each).
struct FlowSample {
  uint64_t identity = 0;  // worker and slot: the same while the flow lives
  uint32_t created = 0;   // creation stamp: a slot reused by another flow differs
  dp::IpAddr src, dst;    // the originator first
  uint16_t src_port = 0, dst_port = 0;
  uint8_t proto = 0;
  uint8_t tos = 0, post_tos = 0;  // see ipfix::Record
  bool closed = false;            // TCP: FIN both ways, or RST
  uint16_t app = 0;
  uint32_t in_if = 0, out_if = 0;  // ifIndex the originator's packets come in on and leave by
  uint64_t packets[2] = {0, 0};    // 0: the originator's direction, 1: the replies
  uint64_t octets[2] = {0, 0};
  uint64_t start_ms = 0, last_ms = 0;  // creation, last packet (ms since the epoch)
};

class FlowExportTracker {
 public:
  explicit FlowExportTracker(uint64_t active_timeout_ms) : active_ms_(active_timeout_ms) {}

  // One complete walk at now_ms: the records that are due (app names left empty: see
  // IpfixExporter). Samples with the same identity as an earlier one in the walk are ignored.
  std::vector<ipfix::Record> update(const std::vector<FlowSample>& walk, uint64_t now_ms);
  // Every tracked flow's remainder, reason forced end (the exporter stops), and forget them.
  std::vector<ipfix::Record> flush(uint64_t now_ms);
  size_t tracked() const noexcept { return flows_.size(); }

 private:
  struct State {
    FlowSample last;
    uint64_t sent_packets[2] = {0, 0};
    uint64_t sent_octets[2] = {0, 0};
    uint64_t last_export_ms = 0;
    uint64_t seen_walk = 0;
    bool end_sent = false;  // the end-of-flow records went out
  };
  // Appends the records for what `s` has not exported yet (a direction with no new packet has
  // none), then counts them as sent.
  static void emit(State& s, ipfix::EndReason reason, std::vector<ipfix::Record>& out);

  uint64_t active_ms_;
  uint64_t walk_ = 0;
  std::unordered_map<uint64_t, State> flows_;
};

struct IpfixCollector {
  dp::IpAddr host;
  uint16_t port = 4739;
};

struct IpfixSettings {
  std::vector<IpfixCollector> collectors;
  uint32_t active_timeout_s = 60;
  uint32_t template_refresh_s = 30;  // RFC 7011 §8.4: templates again over UDP
  uint32_t domain_id = 1;            // Observation Domain ID
  size_t max_message = ipfix::kDefaultMaxMessage;
};

// The exporter thread: walks, encodes, sends over UDP to every collector; flushes on stop.
class IpfixExporter {
 public:
  using Walk = std::function<std::vector<FlowSample>()>;
  using AppName = std::function<std::string(uint16_t)>;
  IpfixExporter(IpfixSettings settings, Walk walk, AppName app_name);
  ~IpfixExporter();  // exports every flow's remainder (forced end), then stops
  IpfixExporter(const IpfixExporter&) = delete;
  IpfixExporter& operator=(const IpfixExporter&) = delete;

  struct Stats {
    uint64_t records = 0, messages = 0, send_errors = 0, walks = 0, tracked = 0;
    uint64_t last_walk_us = 0;  // how long the last walk and encode took
  };
  Stats stats() const;

 private:
  void run();
  void export_records(std::vector<ipfix::Record> records, uint64_t now_ms);
  void send(const std::string& msg);

  IpfixSettings settings_;
  Walk walk_;
  AppName app_name_;
  FlowExportTracker tracker_;
  ipfix::Encoder encoder_;
  std::vector<int> fds_;  // one connected UDP socket per collector (-1: could not open)
  uint64_t templates_at_ms_ = 0;
  std::atomic<uint64_t> records_{0}, messages_{0}, send_errors_{0}, walks_{0}, tracked_{0},
      walk_us_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace traboule::cp

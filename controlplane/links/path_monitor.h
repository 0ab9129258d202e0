// SPDX-License-Identifier: Apache-2.0
// One measured path (an uplink towards one STAMP reflector): what happened to each probe, and
// from that the path's figures over a sliding window (RTT percentiles, RFC 3550 jitter, IPDV,
// loss split forward/backward, late, duplicates, reordering) and its BFD-like liveness.
// Pure C++: fed with StampRecords and the caller's clock, so tests drive it with exact values.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/model/stamp_ring.h"
#include "dataplane/proto/stamp.h"

namespace traboule::cp {

enum class LinkStatus : uint8_t { kUnknown = 0, kUp, kDown };
const char* to_string(LinkStatus s) noexcept;

// A stateless reflector echoes our sequence number, so loss cannot be split by direction.
enum class ReflectorMode : uint8_t { kStateful = 0, kStateless };

struct PathConfig {
  std::string name;            // unique, e.g. "fiber/hub1"
  std::string uplink;          // display
  std::string remote;          // display, e.g. "198.51.100.1:862"
  uint32_t interval_ms = 200;  // between probes
  uint32_t timeout_ms = 1000;  // a reply later than this is "late"; the probe counts as lost
  uint32_t window = 100;       // probes the window figures are computed over
  uint32_t down_after = 3;     // consecutive misses that take the path down
  uint32_t up_after = 5;       // consecutive answers that bring it up
  ReflectorMode reflector = ReflectorMode::kStateful;
  uint32_t first_seq = 0;
  uint16_t length = dp::kStampPacketLen;  // STAMP payload bytes per probe
  uint8_t dscp = 0;
  uint16_t ssid = 0;
  // Traffic classes whose own loss the probes measure (the per-class direct measurement TLV,
  // classes 1..n = the policy's first n SLA classes; 0: none). Edges to their hub only.
  uint8_t data_classes = 0;
};
// An error text naming the field and its bad value ("path \"x\": timeout_ms 0: ..."), or nullopt.
std::optional<std::string> validate(const PathConfig& c);

struct LinkEvent {
  std::string path;
  LinkStatus from = LinkStatus::kUnknown;
  LinkStatus to = LinkStatus::kUnknown;
  std::string reason;    // "3 consecutive probes lost", "5 consecutive probes answered"
  uint64_t time_ns = 0;  // the caller's clock, as passed to the call that made the change
};

struct MinAvgMax {
  double min_us = 0, avg_us = 0, max_us = 0;
};

struct PathMetrics {
  // Window: the last `window` settled probes (answered, lost, late or not sent), oldest first.
  uint32_t window_probes = 0;
  uint32_t received = 0;  // answered before the timeout
  uint32_t lost = 0;      // no answer before the timeout (and none since)
  uint32_t late = 0;      // answered after the timeout: neither received nor lost
  uint32_t not_sent = 0;  // the data plane could not send it (no neighbour, link down, ...)
  uint32_t duplicates = 0;
  uint32_t reordered = 0;  // arrived after a probe with a higher sequence number (RFC 4737)
  std::optional<double> loss_ratio;  // lost / (received + lost + late)
  uint32_t lost_forward = 0;         // stateful reflector: never reached it
  uint32_t lost_backward = 0;        // reached it, reply lost
  uint32_t lost_unknown_direction = 0;

  std::optional<double> rtt_min_us, rtt_avg_us, rtt_max_us, rtt_p50_us, rtt_p90_us, rtt_p99_us;
  // RFC 3550 §6.4.1 running estimators (not windowed) on round-trip, forward and backward
  // transit times; a clock offset between the two ends cancels out in the differences.
  std::optional<double> jitter_rtt_us, jitter_fwd_us, jitter_bwd_us;
  // RFC 3393 IPDV of the RTT between probes with consecutive sequence numbers: mean |IPDV|.
  std::optional<double> ipdv_mean_abs_us;
  // RFC 5481 PDV: 99th percentile of the RTT minus its minimum.
  std::optional<double> pdv_p99_us;
  // One-way delays: only from probes whose timestamps both ends declared synchronised (S bit).
  std::optional<MinAvgMax> forward_us, backward_us;
  std::optional<double> one_way_error_us;       // largest sum of both error estimates in the window
  std::optional<double> reflector_time_avg_us;  // T3 − T2
  std::optional<uint8_t> sender_ttl;            // last reply: TTL our probe had at the reflector
  std::optional<uint8_t> reply_ttl;             // last reply: TTL the reply had here

  // The overlay's own traffic on this path over the last data window (RFC 8972 Direct
  // Measurement: data packets counted by each end when a probe passed): each direction's loss
  // once at least kMinDataPackets were sent in the window, else unset (too little traffic to
  // say). Forward: edge → hub (the hub's count against ours); backward: hub → edge.
  std::optional<double> data_loss_forward, data_loss_backward;
  uint64_t data_sent_forward = 0, data_sent_backward = 0;  // packets in the window
  // The same per traffic class (entry i: class tag i + 1, the policy's SLA class i), for the
  // classes the probes asked about and the reflector answered. `*_low` is the lower end of a
  // one-sided 95 % confidence interval (Wilson score) of the loss: what the SLA decision uses,
  // so that 2 packets lost of 100 (2 %, but as likely from 0.5 % of loss) do not move voice
  // off a path bound at 1 %, while 50 of 1000 (5 %, lower bound 3.9 %) do.
  struct ClassLoss {
    std::optional<double> forward, backward;
    std::optional<double> forward_low, backward_low;
    uint64_t sent_forward = 0, sent_backward = 0;
    uint64_t lost_forward = 0, lost_backward = 0;
  };
  uint8_t data_classes = 0;  // entries of class_loss measured (the rest stay empty)
  std::array<ClassLoss, dp::kStampMaxClasses> class_loss{};
  uint64_t data_windows_reset = 0;  // counts that could not be true (a restarted end): restarted
  uint64_t data_reordered = 0;      // replies that overtook a newer one: skipped

  // Since the path was added.
  uint64_t total_requested = 0, total_sent = 0, total_received = 0, total_lost = 0, total_late = 0,
           total_not_sent = 0, total_duplicates = 0;
  // What the probes cost on the wire (for metered uplinks): probes sent and replies received,
  // late, duplicate and unknown ones included; payload bytes (STAMP or ICMP echo data).
  uint64_t wire_packets = 0, wire_payload_bytes = 0;
  uint64_t unknown_replies = 0;  // for a sequence number we never sent (or long forgotten)
  uint64_t t1_mismatch = 0;      // echoed T1 differs from the one we stamped: not our probe
  uint64_t bad_timestamps = 0;   // T4 before T1: no delay sample taken
  uint64_t bad_reflector_timestamps = 0;  // T3 before T2 or longer than the round trip
};

// The data window of the direct loss measurement, and the traffic it needs to say anything:
// 2 s of voice at 50 packets/s is 100 packets, enough to tell 5 % loss from a 1 % bound.
inline constexpr uint64_t kDataWindowNs = 2'000'000'000;
inline constexpr uint64_t kMinDataPackets = 100;
// Lower end of the one-sided confidence interval (Wilson score, z = 1.645: 95 %) of a loss
// ratio from `lost` of `sent` packets; 0 when nothing was sent.
double loss_lower_bound(uint64_t lost, uint64_t sent) noexcept;

class PathMonitor {
 public:
  explicit PathMonitor(PathConfig cfg);  // cfg must pass validate()

  const PathConfig& config() const noexcept { return cfg_; }
  // The sequence number of a new probe, requested now (its timeout runs from now).
  uint32_t begin_probe(uint64_t now_ns);
  // The request never reached the data plane (ring full): settled as not sent.
  void request_failed(uint32_t seq, uint64_t now_ns);
  // A record for this path's session: kSent, kSendFailed or kReply.
  void on_record(const dp::StampRecord& r, uint64_t now_ns);
  // Times out probes older than timeout_ms (each a miss for liveness).
  void tick(uint64_t now_ns);

  PathMetrics metrics() const;
  LinkStatus status() const noexcept { return status_; }
  uint64_t status_since_ns() const noexcept { return since_ns_; }
  uint32_t consecutive_answered() const noexcept { return ok_run_; }
  uint32_t consecutive_missed() const noexcept { return miss_run_; }
  // Events since the last call, oldest first.
  std::vector<LinkEvent> take_events();

 private:
  enum class Fate : uint8_t { kFree, kRequested, kSent, kReceived, kLost, kLate, kNotSent };
  struct Entry {
    uint32_t seq = 0;
    Fate fate = Fate::kFree;
    bool has_t1 = false;
    bool reordered = false;
    bool rtt_valid = false;
    bool owd_valid = false;
    bool refl_valid = false;
    dp::StampSendFailure failure = dp::StampSendFailure::kNone;
    uint16_t dups = 0;
    uint32_t reflector_seq = 0;
    uint64_t requested_ns = 0;
    uint64_t answered_ns = 0;  // the caller's clock when the reply was read
    uint64_t t1 = 0;
    int64_t rtt_ns = 0;
    int64_t fwd_ns = 0;  // T2 − T1 (clock offset included unless synchronised)
    int64_t bwd_ns = 0;  // T4 − T3
    int64_t refl_ns = 0;
    double owd_error_s = 0;
  };

  Entry* find(uint32_t seq) noexcept;
  void settle_lost(Entry& e, uint64_t now_ns);
  void received(Entry& e, const dp::StampRecord& r, uint64_t now_ns);
  void advance_liveness(uint64_t now_ns);
  void outcome(bool answered, uint64_t now_ns, dp::StampSendFailure why);
  void change(LinkStatus to, std::string reason, uint64_t now_ns);
  void data_sample(const dp::StampRecord& r, uint64_t now_ns);
  // The parts of metrics(). data_loss: the Direct Measurement loss over data_ (two samples at
  // least). slot: the probe `age` before the newest, null when gone. window: the newest
  // cfg_.window settled probes, oldest first; `age` where the walk stopped. probe_figures: the
  // window's counts, RTT, IPDV, reflector time and one-way delays. loss_direction: the window's
  // losses split forward and backward (stateful reflector).
  void data_loss(PathMetrics& m) const;
  const Entry* slot(uint64_t age) const;
  std::vector<const Entry*> window(uint64_t& age) const;
  static void count_fate(Fate fate, PathMetrics& m);
  static void probe_figures(const std::vector<const Entry*>& w, PathMetrics& m);
  static void rtt_figures(const std::vector<int64_t>& rtts, PathMetrics& m);
  static void ipdv_figure(const std::vector<const Entry*>& w, PathMetrics& m);
  void loss_direction(const std::vector<const Entry*>& w, uint64_t age, PathMetrics& m) const;

  // One Direct Measurement reading: the counters both ends had when the probe passed.
  struct DataSample {
    uint64_t time_ns;
    uint32_t seq;           // the probe's (our Session-Sender) sequence number
    uint32_t s_txc, r_rxc;  // edge sent, hub received (forward)
    uint32_t r_txc, s_rxc;  // hub sent, edge received (backward)
    uint8_t classes = 0;    // per-class entries the reflector filled
    std::array<uint32_t, dp::kStampMaxClasses> c_s_txc{}, c_r_rxc{}, c_r_txc{}, c_s_rxc{};
    // Packets estimated in flight when the probe passed (sent just before it, not arrived
    // yet): the rate since the previous sample times the probe's round trip. A window counts
    // those at its end as lost and those at its start as received: data_loss corrects both.
    double in_flight_f = 0, in_flight_b = 0;
    std::array<double, dp::kStampMaxClasses> c_in_flight_f{}, c_in_flight_b{};
  };
  std::deque<DataSample> data_;  // newest last, spanning at most kDataWindowNs
  uint64_t data_resets_ = 0;
  uint64_t data_reordered_ = 0;  // replies older than the newest sample: skipped, not a reset
  // A reflector that carries the TLV back without counting (another vendor's, or one that does
  // not know our site yet) leaves the hub's counters at zero: not a 100 % loss.
  bool reflector_counts_ = false;

  PathConfig cfg_;
  std::vector<Entry> ring_;  // by seq & mask_
  uint32_t mask_;
  uint32_t next_seq_;
  uint64_t allocated_ = 0;  // probes begun: entries older than the ring are gone
  uint32_t scan_from_;      // oldest sequence number that may still be in flight
  uint32_t live_next_;      // next sequence number whose outcome liveness has not counted
  bool have_max_rx_ = false;
  uint32_t max_rx_seq_ = 0;
  // RFC 3550 jitter state, in nanoseconds.
  bool have_prev_ = false;
  bool prev_one_way_ = false;
  int64_t prev_rtt_ = 0, prev_fwd_ = 0, prev_bwd_ = 0;
  double jit_rtt_ = 0, jit_fwd_ = 0, jit_bwd_ = 0;
  bool have_jit_ = false, have_jit_ow_ = false;
  std::optional<uint8_t> sender_ttl_, reply_ttl_;

  LinkStatus status_ = LinkStatus::kUnknown;
  uint64_t since_ns_ = 0;
  uint32_t ok_run_ = 0, miss_run_ = 0;
  dp::StampSendFailure last_miss_ = dp::StampSendFailure::kNone;
  // BFD-style detection time: when the last in-time answer came, and when probing started.
  uint64_t last_answer_ns_ = 0;
  uint64_t first_request_ns_ = 0;
  uint32_t requests_since_answer_ = 0;  // a silent path is only down if we kept asking
  std::vector<LinkEvent> events_;
  PathMetrics totals_;  // only the total_* and counter fields are kept here
};

}  // namespace traboule::cp

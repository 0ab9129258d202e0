// SPDX-License-Identifier: Apache-2.0
#include "controlplane/links/path_monitor.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace traboule::cp {
namespace {

using dp::StampSendFailure;

constexpr uint32_t kMaxWindow = 10000;
constexpr uint32_t kMaxRun = 255;
constexpr uint32_t kMinIntervalMs = 10;
constexpr uint32_t kMaxTimeoutMs = 60000;

double us(int64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

// Nearest-rank percentile of sorted values: the smallest value with at least p % of the
// values at or below it.
int64_t percentile(const std::vector<int64_t>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * n));
  if (rank < 1) rank = 1;
  if (rank > sorted.size()) rank = sorted.size();
  return sorted[rank - 1];
}

// Failures that say the path cannot carry a packet now (a miss for liveness); the others are
// the box's own trouble (pool, clock, configuration) and say nothing about the path.
bool path_failure(StampSendFailure f) {
  return f == StampSendFailure::kLinkDown || f == StampSendFailure::kNoSource ||
         f == StampSendFailure::kNoRoute || f == StampSendFailure::kNoNeighbor;
}

int64_t serial_diff(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b);
}

}  // namespace

const char* to_string(LinkStatus s) noexcept {
  switch (s) {
    case LinkStatus::kUnknown:
      return "unknown";
    case LinkStatus::kUp:
      return "up";
    case LinkStatus::kDown:
      return "down";
  }
  return "?";
}

std::optional<std::string> validate(const PathConfig& c) {
  const std::string who = "path \"" + c.name + "\": ";
  if (c.name.empty()) return std::string("path: name is empty");
  if (c.interval_ms < kMinIntervalMs)
    return who + "interval_ms " + std::to_string(c.interval_ms) + ": must be at least " +
           std::to_string(kMinIntervalMs);
  if (c.timeout_ms == 0 || c.timeout_ms > kMaxTimeoutMs)
    return who + "timeout_ms " + std::to_string(c.timeout_ms) + ": must be 1.." +
           std::to_string(kMaxTimeoutMs);
  if (c.window == 0 || c.window > kMaxWindow)
    return who + "window " + std::to_string(c.window) + ": must be 1.." +
           std::to_string(kMaxWindow);
  if (c.down_after == 0 || c.down_after > kMaxRun)
    return who + "down_after " + std::to_string(c.down_after) + ": must be 1.." +
           std::to_string(kMaxRun);
  if (c.up_after == 0 || c.up_after > kMaxRun)
    return who + "up_after " + std::to_string(c.up_after) + ": must be 1.." +
           std::to_string(kMaxRun);
  if (c.data_classes > dp::kStampMaxClasses)
    return who + "data_classes " + std::to_string(c.data_classes) + ": at most " +
           std::to_string(dp::kStampMaxClasses);
  if (c.length < dp::kStampPacketLen || c.length > dp::kStampMaxPacketLen)
    return who + "length " + std::to_string(c.length) + ": must be " +
           std::to_string(dp::kStampPacketLen) + ".." + std::to_string(dp::kStampMaxPacketLen);
  if (c.dscp > 63) return who + "dscp " + std::to_string(c.dscp) + ": must be 0..63";
  return std::nullopt;
}

PathMonitor::PathMonitor(PathConfig cfg) : cfg_(std::move(cfg)) {
  // Room for the window plus every probe that can be in flight (timeout / interval), so a
  // probe is settled before its slot is reused.
  const uint64_t need =
      uint64_t{cfg_.window} + cfg_.timeout_ms / std::max(1u, cfg_.interval_ms) + 16;
  uint32_t cap = 64;
  while (cap < need) cap <<= 1;
  ring_.resize(cap);
  mask_ = cap - 1;
  next_seq_ = cfg_.first_seq;
  scan_from_ = cfg_.first_seq;
  live_next_ = cfg_.first_seq;
}

PathMonitor::Entry* PathMonitor::find(uint32_t seq) noexcept {
  if (allocated_ == 0) return nullptr;
  const uint32_t age = next_seq_ - 1 - seq;
  if (age >= std::min<uint64_t>(ring_.size(), allocated_)) return nullptr;
  Entry& e = ring_[seq & mask_];
  if (e.fate == Fate::kFree || e.seq != seq) return nullptr;
  return &e;
}

uint32_t PathMonitor::begin_probe(uint64_t now_ns) {
  const uint32_t s = next_seq_;
  Entry& e = ring_[s & mask_];
  if (e.fate == Fate::kRequested || e.fate == Fate::kSent)
    settle_lost(e, now_ns);  // only when tick() is not called: the slot is needed
  e = Entry{};
  e.seq = s;
  e.fate = Fate::kRequested;
  e.requested_ns = now_ns;
  if (first_request_ns_ == 0) first_request_ns_ = now_ns;
  ++requests_since_answer_;
  ++next_seq_;
  ++allocated_;
  ++totals_.total_requested;
  return s;
}

void PathMonitor::request_failed(uint32_t seq, uint64_t now_ns) {
  Entry* e = find(seq);
  if (e == nullptr || e->fate != Fate::kRequested) return;
  e->fate = Fate::kNotSent;
  e->failure = StampSendFailure::kQueueFull;
  ++totals_.total_not_sent;
  advance_liveness(now_ns);
}

void PathMonitor::settle_lost(Entry& e, uint64_t now_ns) {
  e.fate = Fate::kLost;
  ++totals_.total_lost;
  advance_liveness(now_ns);
}

// Liveness counts outcomes in sequence order, like BFD counts intervals without a packet: a
// reply to probe k+3 that arrives before probe k times out does not hide that k, k+1 and k+2
// were all lost. So outcomes are taken in order, as soon as every earlier probe is settled.
void PathMonitor::advance_liveness(uint64_t now_ns) {
  while (live_next_ != next_seq_) {
    const Entry* e = find(live_next_);
    if (e != nullptr) {
      if (e->fate == Fate::kRequested || e->fate == Fate::kSent) return;
      // An answer received before the path was declared down is older than that decision:
      // it may not count towards bringing the path back. (A probe lost just before an outage
      // holds the answers after it in the queue until it times out, during the outage; taken
      // then, they read as consecutive answers and brought a cut path up.)
      if (e->fate == Fate::kReceived) {
        if (!(status_ == LinkStatus::kDown && e->answered_ns <= since_ns_))
          outcome(true, now_ns, StampSendFailure::kNone);
      } else if (e->fate == Fate::kLost || e->fate == Fate::kLate)
        outcome(false, now_ns, StampSendFailure::kNone);
      else if (e->fate == Fate::kNotSent && path_failure(e->failure))
        outcome(false, now_ns, e->failure);
    }
    ++live_next_;
  }
}

void PathMonitor::tick(uint64_t now_ns) {
  const uint64_t timeout_ns = uint64_t{cfg_.timeout_ms} * 1'000'000;
  // Detection time like BFD (RFC 5880 §6.8.4): no in-time answer for down_after intervals
  // (plus a tenth of one, so that down_after - 1 losses followed by an answer with a little
  // jitter are not taken for down_after) takes the path down now; the per-probe loss timeout
  // (much longer, for a satellite RTT) only settles the loss figures later. A path that never
  // answered is given its first probe's timeout before this applies. Only while we keep
  // probing: down_after probes must have been asked for since the last answer.
  // Jitter-aware: answers on a jittery path (4G, satellite) come up to a few jitters apart
  // without any loss, so twice the RFC 3550 round-trip jitter is added (capped at the probe
  // timeout); on a clean wire that is a fraction of a millisecond.
  const uint64_t jitter_allow_ns =
      have_jit_ ? std::min<uint64_t>(static_cast<uint64_t>(2 * jit_rtt_), timeout_ns) : 0;
  const uint64_t detect_ns =
      (uint64_t{cfg_.down_after} * cfg_.interval_ms + cfg_.interval_ms / 10) * 1'000'000 +
      jitter_allow_ns;
  const uint64_t quiet_from = last_answer_ns_ != 0
                                  ? last_answer_ns_
                                  : (first_request_ns_ != 0 ? first_request_ns_ + timeout_ns : 0);
  if (status_ != LinkStatus::kDown && quiet_from != 0 && now_ns > quiet_from &&
      now_ns - quiet_from >= detect_ns && requests_since_answer_ >= cfg_.down_after) {
    ok_run_ = 0;
    miss_run_ = std::max(miss_run_, cfg_.down_after);
    change(LinkStatus::kDown,
           "no answer for " + std::to_string((now_ns - quiet_from) / 1'000'000) + " ms to " +
               std::to_string(requests_since_answer_) +
               (requests_since_answer_ == 1 ? " probe (" : " probes (") +
               std::to_string(cfg_.down_after) + " x " + std::to_string(cfg_.interval_ms) +
               " ms interval" +
               (jitter_allow_ns >= 1'000'000
                    ? " + " + std::to_string(jitter_allow_ns / 1'000'000) + " ms for jitter"
                    : std::string()) +
               ")",
           now_ns);
  }
  while (scan_from_ != next_seq_) {
    Entry* e = find(scan_from_);
    if (e != nullptr && (e->fate == Fate::kRequested || e->fate == Fate::kSent)) {
      // Requests are made in sequence order, so the first one still in time ends the scan.
      if (now_ns < e->requested_ns || now_ns - e->requested_ns < timeout_ns) break;
      settle_lost(*e, now_ns);
    }
    ++scan_from_;
  }
}

void PathMonitor::on_record(const dp::StampRecord& r, uint64_t now_ns) {
  if (r.kind == dp::StampRecordKind::kSent || r.kind == dp::StampRecordKind::kReply) {
    ++totals_.wire_packets;
    totals_.wire_payload_bytes += r.length;
  }
  Entry* e = find(r.seq);
  switch (r.kind) {
    case dp::StampRecordKind::kSent:
      if (e == nullptr || !(e->fate == Fate::kRequested || e->fate == Fate::kLost)) return;
      if (e->fate == Fate::kRequested) e->fate = Fate::kSent;
      e->t1 = r.t1;
      e->has_t1 = true;
      ++totals_.total_sent;
      return;
    case dp::StampRecordKind::kSendFailed:
      if (e == nullptr) return;
      if (e->fate == Fate::kRequested) {
        e->fate = Fate::kNotSent;
        e->failure = r.failure;
        ++totals_.total_not_sent;
        advance_liveness(now_ns);
      } else if (e->fate == Fate::kLost) {  // timed out before this record was read
        e->fate = Fate::kNotSent;
        e->failure = r.failure;
        --totals_.total_lost;
        ++totals_.total_not_sent;
      }
      return;
    case dp::StampRecordKind::kReply:
      break;
    default:
      return;
  }
  if (e == nullptr || e->fate == Fate::kNotSent) {
    ++totals_.unknown_replies;
    return;
  }
  if (e->has_t1 && r.t1 != e->t1) {
    ++totals_.t1_mismatch;
    return;
  }
  switch (e->fate) {
    case Fate::kRequested:
    case Fate::kSent:
      received(*e, r, now_ns);
      return;
    case Fate::kReceived:
    case Fate::kLate:
      ++e->dups;
      ++totals_.total_duplicates;
      return;
    case Fate::kLost:
      // Late is not lost, but too late to count as received: the timeout was the promise.
      e->fate = Fate::kLate;
      e->reflector_seq = r.reflector_seq;
      --totals_.total_lost;
      ++totals_.total_late;
      return;
    default:
      ++totals_.unknown_replies;
      return;
  }
}

double loss_lower_bound(uint64_t lost, uint64_t sent) noexcept {
  if (sent == 0) return 0.0;
  constexpr double z = 1.645;
  const double n = static_cast<double>(sent);
  const double p = std::min(1.0, static_cast<double>(lost) / n);
  const double z2n = z * z / n;
  const double low = (p + z2n / 2 - z * std::sqrt(p * (1 - p) / n + z2n / (4 * n))) / (1 + z2n);
  return std::max(0.0, low);
}

// Direct loss measurement (RFC 8972 §4.5): the samples of the last data window. Counters are
// 32-bit and wrap; one that moved backwards more than it could have (an end restarted, its
// counters from zero) restarts the window rather than reading as a huge loss or gain.
void PathMonitor::data_sample(const dp::StampRecord& r, uint64_t now_ns) {
  DataSample s{now_ns, r.seq, r.dm_s_txc, r.dm_r_rxc, r.dm_r_txc, r.dm_s_rxc};
  s.classes = std::min(r.dm_classes, dp::kStampMaxClasses);
  s.c_s_txc = r.c_s_txc;
  s.c_r_rxc = r.c_r_rxc;
  s.c_r_txc = r.c_r_txc;
  s.c_s_rxc = r.c_s_rxc;
  if (s.r_rxc != 0 || s.r_txc != 0) reflector_counts_ = true;
  if (!data_.empty()) {
    const DataSample& last = data_.back();
    // A reply that overtook an older one (a reordering path: LTE, ECMP): its counters are older
    // than the newest sample's, so the differences would run backwards. Skip it; the window
    // only moves forward.
    if (static_cast<int32_t>(s.seq - last.seq) <= 0) {
      ++data_reordered_;
      return;
    }
    const uint32_t sent_f = s.s_txc - last.s_txc, recv_f = s.r_rxc - last.r_rxc;
    const uint32_t sent_b = s.r_txc - last.r_txc, recv_b = s.s_rxc - last.s_rxc;
    // More received than sent since the last probe beyond what reordering around a probe
    // explains (a packet or a few overtaking it): not the same counters any more.
    auto impossible = [](uint32_t sent, uint32_t recv) {
      return recv > sent + 64 + sent / 8 || sent > (1u << 30) || recv > (1u << 30);
    };
    bool bad = impossible(sent_f, recv_f) || impossible(sent_b, recv_b);
    for (uint8_t c = 0; c < std::min(s.classes, last.classes); ++c)
      bad = bad || impossible(s.c_s_txc[c] - last.c_s_txc[c], s.c_r_rxc[c] - last.c_r_rxc[c]) ||
            impossible(s.c_r_txc[c] - last.c_r_txc[c], s.c_s_rxc[c] - last.c_s_rxc[c]);
    if (bad) {
      data_.clear();
      ++data_resets_;
    } else {
      // In flight at this probe: the rate since the last sample over the probe's round trip.
      const int64_t rtt = std::clamp<int64_t>(
          dp::ntp_diff_ns(r.t4, r.t1) - std::max<int64_t>(0, dp::ntp_diff_ns(r.t3, r.t2)), 0,
          2'000'000'000);
      const double per =
          s.time_ns > last.time_ns
              ? static_cast<double>(rtt) / static_cast<double>(s.time_ns - last.time_ns)
              : 0.0;
      s.in_flight_f = sent_f * per;
      s.in_flight_b = sent_b * per;
      for (uint8_t c = 0; c < std::min(s.classes, last.classes); ++c) {
        s.c_in_flight_f[c] = static_cast<uint32_t>(s.c_s_txc[c] - last.c_s_txc[c]) * per;
        s.c_in_flight_b[c] = static_cast<uint32_t>(s.c_r_txc[c] - last.c_r_txc[c]) * per;
      }
    }
  }
  data_.push_back(s);
  while (data_.size() > 2 && now_ns - data_[1].time_ns >= kDataWindowNs) data_.pop_front();
}

void PathMonitor::received(Entry& e, const dp::StampRecord& r, uint64_t now_ns) {
  e.fate = Fate::kReceived;
  e.answered_ns = now_ns;
  if (r.dm) data_sample(r, now_ns);
  last_answer_ns_ = now_ns;
  requests_since_answer_ = 0;
  e.reflector_seq = r.reflector_seq;
  ++totals_.total_received;
  if (!e.has_t1) e.t1 = r.t1;  // the kSent record was lost: trust the echo

  const int64_t total = dp::ntp_diff_ns(r.t4, e.t1);
  const int64_t refl = dp::ntp_diff_ns(r.t3, r.t2);
  if (total < 0) {
    ++totals_.bad_timestamps;
  } else {
    e.rtt_valid = true;
    if (refl < 0 || refl > total) {
      ++totals_.bad_reflector_timestamps;
      e.rtt_ns = total;  // the reflector's own time is not trusted: left in
    } else {
      e.refl_valid = true;
      e.refl_ns = refl;
      e.rtt_ns = total - refl;
    }
  }
  e.fwd_ns = dp::ntp_diff_ns(r.t2, e.t1);
  e.bwd_ns = dp::ntp_diff_ns(r.t4, r.t3);
  const auto se = dp::ErrorEstimate::decode(r.sender_error);
  const auto re = dp::ErrorEstimate::decode(r.reflector_error);
  if (e.refl_valid && se.synced && re.synced && se.valid() && re.valid()) {
    e.owd_valid = true;
    e.owd_error_s = se.seconds() + re.seconds();
  }

  if (have_max_rx_ && serial_diff(e.seq, max_rx_seq_) < 0) {
    e.reordered = true;
  } else {
    max_rx_seq_ = e.seq;
    have_max_rx_ = true;
  }

  // RFC 3550 §6.4.1, in arrival order over the samples that have usable timestamps.
  if (e.rtt_valid) {
    if (have_prev_) {
      const double d = std::fabs(static_cast<double>(e.rtt_ns - prev_rtt_));
      jit_rtt_ += (d - jit_rtt_) / 16.0;
      have_jit_ = true;
      if (e.refl_valid && prev_one_way_) {
        jit_fwd_ += (std::fabs(static_cast<double>(e.fwd_ns - prev_fwd_)) - jit_fwd_) / 16.0;
        jit_bwd_ += (std::fabs(static_cast<double>(e.bwd_ns - prev_bwd_)) - jit_bwd_) / 16.0;
        have_jit_ow_ = true;
      }
    }
    have_prev_ = true;
    prev_rtt_ = e.rtt_ns;
    prev_one_way_ = e.refl_valid;
    prev_fwd_ = e.fwd_ns;
    prev_bwd_ = e.bwd_ns;
  }
  sender_ttl_ = r.sender_ttl;
  reply_ttl_ = r.reply_ttl;
  advance_liveness(now_ns);
}

void PathMonitor::outcome(bool answered, uint64_t now_ns, StampSendFailure why) {
  if (answered) {
    ++ok_run_;
    miss_run_ = 0;
    if (status_ != LinkStatus::kUp && ok_run_ >= cfg_.up_after)
      change(LinkStatus::kUp, std::to_string(cfg_.up_after) + " consecutive probes answered",
             now_ns);
    return;
  }
  ++miss_run_;
  ok_run_ = 0;
  last_miss_ = why;
  if (status_ != LinkStatus::kDown && miss_run_ >= cfg_.down_after) {
    std::string reason = std::to_string(cfg_.down_after) + " consecutive probes lost";
    if (why != StampSendFailure::kNone)
      reason = std::to_string(cfg_.down_after) +
               " consecutive probes lost or not sent (last: " + dp::to_string(why) + ")";
    change(LinkStatus::kDown, std::move(reason), now_ns);
  }
}

void PathMonitor::change(LinkStatus to, std::string reason, uint64_t now_ns) {
  events_.push_back(LinkEvent{cfg_.name, status_, to, std::move(reason), now_ns});
  status_ = to;
  since_ns_ = now_ns;
}

std::vector<LinkEvent> PathMonitor::take_events() {
  std::vector<LinkEvent> out;
  out.swap(events_);
  return out;
}

PathMetrics PathMonitor::metrics() const {
  PathMetrics m = totals_;
  if (have_jit_) m.jitter_rtt_us = jit_rtt_ / 1000.0;
  if (have_jit_ow_) {
    m.jitter_fwd_us = jit_fwd_ / 1000.0;
    m.jitter_bwd_us = jit_bwd_ / 1000.0;
  }
  m.sender_ttl = sender_ttl_;
  m.reply_ttl = reply_ttl_;
  m.data_windows_reset = data_resets_;
  m.data_reordered = data_reordered_;
  if (data_.size() >= 2 && reflector_counts_) data_loss(m);

  uint64_t age = 0;
  const std::vector<const Entry*> w = window(age);
  probe_figures(w, m);

  // Loss direction (stateful reflector). Between two probes that reached the reflector, a and
  // b: (seq_b − seq_a) − (rseq_b − rseq_a) probes never reached it; less those never sent, that
  // is the forward loss of the gap; the rest of the gap's losses are backward.
  if (cfg_.reflector == ReflectorMode::kStateless) {
    m.lost_unknown_direction = m.lost;
    return m;
  }
  loss_direction(w, age, m);
  return m;
}

void PathMonitor::data_loss(PathMetrics& m) const {
  const DataSample& a = data_.front();
  const DataSample& b = data_.back();
  // Lost in the window: sent − received, less those still in flight at its end, plus those
  // that were in flight at its start (sent before it, received in it).
  auto lost_of = [](uint32_t sent, uint32_t recv, double in_start, double in_end) {
    const double l = double(sent) - double(recv) + in_start - in_end;
    return l > 0 ? std::min(l, double(sent)) : 0.0;
  };
  auto loss = [&](uint32_t sent, uint32_t recv, double in_start = 0, double in_end = 0) {
    return sent > 0 ? lost_of(sent, recv, in_start, in_end) / double(sent) : 0.0;
  };
  m.data_sent_forward = uint32_t(b.s_txc - a.s_txc);
  m.data_sent_backward = uint32_t(b.r_txc - a.r_txc);
  if (m.data_sent_forward >= kMinDataPackets)
    m.data_loss_forward = loss(b.s_txc - a.s_txc, b.r_rxc - a.r_rxc, a.in_flight_f, b.in_flight_f);
  if (m.data_sent_backward >= kMinDataPackets)
    m.data_loss_backward = loss(b.r_txc - a.r_txc, b.s_rxc - a.s_rxc, a.in_flight_b, b.in_flight_b);
  // Per class, over the samples that carried it at both ends of the window.
  m.data_classes = std::min(a.classes, b.classes);
  for (uint8_t c = 0; c < m.data_classes; ++c) {
    PathMetrics::ClassLoss& cl = m.class_loss[c];
    const uint32_t sf = b.c_s_txc[c] - a.c_s_txc[c], rf = b.c_r_rxc[c] - a.c_r_rxc[c];
    const uint32_t sb = b.c_r_txc[c] - a.c_r_txc[c], rb = b.c_s_rxc[c] - a.c_s_rxc[c];
    cl.sent_forward = sf;
    cl.sent_backward = sb;
    cl.lost_forward =
        static_cast<uint64_t>(lost_of(sf, rf, a.c_in_flight_f[c], b.c_in_flight_f[c]) + 0.5);
    cl.lost_backward =
        static_cast<uint64_t>(lost_of(sb, rb, a.c_in_flight_b[c], b.c_in_flight_b[c]) + 0.5);
    if (sf >= kMinDataPackets) {
      cl.forward = double(cl.lost_forward) / double(sf);
      cl.forward_low = loss_lower_bound(cl.lost_forward, sf);
    }
    if (sb >= kMinDataPackets) {
      cl.backward = double(cl.lost_backward) / double(sb);
      cl.backward_low = loss_lower_bound(cl.lost_backward, sb);
    }
  }
}

const PathMonitor::Entry* PathMonitor::slot(uint64_t age) const {
  const uint32_t seq = next_seq_ - 1 - static_cast<uint32_t>(age);
  const Entry& e = ring_[seq & mask_];
  return e.fate == Fate::kFree || e.seq != seq ? nullptr : &e;
}

std::vector<const PathMonitor::Entry*> PathMonitor::window(uint64_t& age) const {
  // The newest `window` settled probes, oldest first. Probes still in flight are not part of
  // it yet.
  const uint64_t avail = std::min<uint64_t>(allocated_, ring_.size());
  std::vector<const Entry*> w;
  for (age = 0; age < avail && w.size() < cfg_.window; ++age) {
    const Entry* e = slot(age);
    if (e == nullptr || e->fate == Fate::kRequested || e->fate == Fate::kSent) continue;
    w.push_back(e);
  }
  std::reverse(w.begin(), w.end());
  return w;
}

void PathMonitor::count_fate(Fate fate, PathMetrics& m) {
  switch (fate) {
    case Fate::kReceived:
      ++m.received;
      break;
    case Fate::kLost:
      ++m.lost;
      break;
    case Fate::kLate:
      ++m.late;
      break;
    case Fate::kNotSent:
      ++m.not_sent;
      break;
    default:
      break;
  }
}

void PathMonitor::probe_figures(const std::vector<const Entry*>& w, PathMetrics& m) {
  std::vector<int64_t> rtts;
  int64_t refl_sum = 0;
  uint32_t refl_n = 0;
  MinAvgMax fwd{}, bwd{};
  uint32_t owd_n = 0;
  double owd_err = 0;
  for (const Entry* e : w) {
    ++m.window_probes;
    m.duplicates += e->dups;
    count_fate(e->fate, m);
    if (e->fate != Fate::kReceived) continue;
    if (e->reordered) ++m.reordered;
    if (e->rtt_valid) rtts.push_back(e->rtt_ns);
    if (e->refl_valid) {
      refl_sum += e->refl_ns;
      ++refl_n;
    }
    if (e->owd_valid) {
      const double f = us(e->fwd_ns), b = us(e->bwd_ns);
      if (owd_n == 0) {
        fwd = {f, 0, f};
        bwd = {b, 0, b};
      }
      fwd.min_us = std::min(fwd.min_us, f);
      fwd.max_us = std::max(fwd.max_us, f);
      fwd.avg_us += f;
      bwd.min_us = std::min(bwd.min_us, b);
      bwd.max_us = std::max(bwd.max_us, b);
      bwd.avg_us += b;
      owd_err = std::max(owd_err, e->owd_error_s);
      ++owd_n;
    }
  }
  const uint32_t denom = m.received + m.lost + m.late;
  if (denom > 0) m.loss_ratio = static_cast<double>(m.lost) / denom;
  rtt_figures(rtts, m);
  ipdv_figure(w, m);
  if (refl_n > 0) m.reflector_time_avg_us = static_cast<double>(refl_sum) / refl_n / 1000.0;
  if (owd_n > 0) {
    fwd.avg_us /= owd_n;
    bwd.avg_us /= owd_n;
    m.forward_us = fwd;
    m.backward_us = bwd;
    m.one_way_error_us = owd_err * 1e6;
  }
}

void PathMonitor::rtt_figures(const std::vector<int64_t>& rtts, PathMetrics& m) {
  if (rtts.empty()) return;
  int64_t sum = 0;
  for (int64_t v : rtts) sum += v;
  std::vector<int64_t> sorted = rtts;
  std::sort(sorted.begin(), sorted.end());
  m.rtt_min_us = us(sorted.front());
  m.rtt_max_us = us(sorted.back());
  m.rtt_avg_us = static_cast<double>(sum) / static_cast<double>(sorted.size()) / 1000.0;
  m.rtt_p50_us = us(percentile(sorted, 50));
  m.rtt_p90_us = us(percentile(sorted, 90));
  m.rtt_p99_us = us(percentile(sorted, 99));
  m.pdv_p99_us = us(percentile(sorted, 99) - sorted.front());
}

// RFC 3393 IPDV between probes with consecutive sequence numbers that were both answered.
void PathMonitor::ipdv_figure(const std::vector<const Entry*>& w, PathMetrics& m) {
  int64_t ipdv_sum = 0;
  uint32_t ipdv_n = 0;
  for (size_t i = 1; i < w.size(); ++i) {
    const Entry* a = w[i - 1];
    const Entry* b = w[i];
    if (b->seq != a->seq + 1 || a->fate != Fate::kReceived || b->fate != Fate::kReceived ||
        !a->rtt_valid || !b->rtt_valid)
      continue;
    const int64_t d = b->rtt_ns - a->rtt_ns;
    ipdv_sum += d < 0 ? -d : d;
    ++ipdv_n;
  }
  if (ipdv_n > 0) m.ipdv_mean_abs_us = static_cast<double>(ipdv_sum) / ipdv_n / 1000.0;
}

void PathMonitor::loss_direction(const std::vector<const Entry*>& w, uint64_t age,
                                 PathMetrics& m) const {
  const uint64_t avail = std::min<uint64_t>(allocated_, ring_.size());
  auto arrived = [](const Entry* e) {
    return e->fate == Fate::kReceived || e->fate == Fate::kLate;
  };
  const Entry* anchor = nullptr;
  uint32_t lost_in_gap = 0, not_sent_in_gap = 0;
  // The anchor may precede the window: the nearest arrived probe before it, if still known.
  for (uint64_t a = age; a < avail && !w.empty(); ++a) {
    const Entry* e = slot(a);
    if (e == nullptr) continue;
    if (arrived(e)) {
      anchor = e;
      break;
    }
    if (e->fate == Fate::kNotSent) ++not_sent_in_gap;
  }
  for (const Entry* e : w) {
    if (e->fate == Fate::kLost) {
      ++lost_in_gap;
    } else if (e->fate == Fate::kNotSent) {
      ++not_sent_in_gap;
    } else if (arrived(e)) {
      if (anchor != nullptr) {
        int64_t fwd_lost = serial_diff(e->seq, anchor->seq) -
                           serial_diff(e->reflector_seq, anchor->reflector_seq) - not_sent_in_gap;
        fwd_lost = std::clamp<int64_t>(fwd_lost, 0, lost_in_gap);
        m.lost_forward += static_cast<uint32_t>(fwd_lost);
        m.lost_backward += lost_in_gap - static_cast<uint32_t>(fwd_lost);
      } else {
        m.lost_unknown_direction += lost_in_gap;
      }
      anchor = e;
      lost_in_gap = 0;
      not_sent_in_gap = 0;
    }
  }
  m.lost_unknown_direction += lost_in_gap;  // after the last answer: direction not known yet
}

}  // namespace traboule::cp

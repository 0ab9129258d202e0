// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/link_model.h"

#include <algorithm>
#include <cmath>

namespace traboule::wanem {

LinkDirection::LinkDirection(uint64_t seed, size_t max_held_frames)
    : rng_(seed), max_held_frames_(max_held_frames) {}

void LinkDirection::configure(const DirectionParams& params, int64_t now_ns,
                              std::vector<uint64_t>* flushed) {
  if (params_.up && !params.up) {
    // A cut link loses what was on it too: frames in the modem queue and in flight.
    while (!heap_.empty()) {
      if (flushed) flushed->push_back(heap_.top().cookie);
      heap_.pop();
      ++counters_.drop_outage;
    }
    in_service_.clear();
    queue_bytes_ = 0;
    last_tx_end_ns_ = now_ns;
    last_departure_ns_ = now_ns;  // the flushed frames no longer hold the next ones back
  }
  if (params.rate_bps != params_.rate_bps) serial_remainder_ = 0;
  if (!params.ge || params.ge != params_.ge) ge_bad_ = false;
  params_ = params;
}

bool LinkDirection::lost_by_ge() {
  const GilbertElliott& ge = *params_.ge;
  // As netem: the loss is drawn in the state the frame finds, then the state may change.
  bool lost;
  if (ge_bad_) {
    lost = rng_.chance(ge.loss_bad);
    if (rng_.chance(ge.r)) ge_bad_ = false;
  } else {
    lost = rng_.chance(ge.loss_good);
    if (rng_.chance(ge.p)) ge_bad_ = true;
  }
  return lost;
}

int LinkDirection::arrive(uint64_t cookie, uint32_t len_bytes, int64_t now_ns) {
  ++counters_.rx_frames;
  counters_.rx_bytes += len_bytes;
  if (!params_.up) {
    ++counters_.drop_outage;
    return 0;
  }
  if (params_.loss > 0 && rng_.chance(params_.loss)) {
    ++counters_.drop_loss;
    return 0;
  }
  if (params_.ge && lost_by_ge()) {
    ++counters_.drop_ge_loss;
    return 0;
  }
  int copies = (params_.dup > 0 && rng_.chance(params_.dup)) ? 2 : 1;
  if (copies == 2) ++counters_.duplicated;  // the copy may still be dropped by the queue
  int scheduled = 0;
  for (int i = 0; i < copies; ++i) scheduled += schedule_copy(cookie, len_bytes, now_ns);
  return scheduled;
}

void LinkDirection::prune_queue(int64_t now_ns) {
  while (!in_service_.empty() && in_service_.front().end_ns <= now_ns) {
    queue_bytes_ -= in_service_.front().len_bytes;
    in_service_.pop_front();
  }
}

int64_t LinkDirection::jitter_sample_ns() {
  double j = static_cast<double>(params_.jitter_ns);
  double sample = params_.jitter_dist == JitterDist::kNormal ? rng_.normal() * j
                                                             : (rng_.uniform01() * 2.0 - 1.0) * j;
  return std::llround(sample);
}

bool LinkDirection::schedule_copy(uint64_t cookie, uint32_t len_bytes, int64_t now_ns) {
  if (heap_.size() >= max_held_frames_) {
    ++counters_.drop_overflow;
    return false;
  }
  int64_t base_ns = now_ns;
  if (params_.rate_bps > 0) {
    prune_queue(now_ns);
    bool full = params_.queue.unit == QueueUnit::kPackets
                    ? in_service_.size() + 1 > params_.queue.value
                    : queue_bytes_ + len_bytes > params_.queue.value;
    if (full) {
      ++counters_.drop_queue_full;
      return false;
    }
    // Serialisation starts when the line is free; the frame has arrived once its last bit has.
    int64_t start_ns = std::max(now_ns, last_tx_end_ns_);
    // bits * 1e9 fits in 64 bits for any frame (< 2^16 bytes): 2^19 * 1e9 < 2^59.
    uint64_t numer = static_cast<uint64_t>(len_bytes) * 8 * 1'000'000'000ULL + serial_remainder_;
    int64_t tx_ns = static_cast<int64_t>(numer / params_.rate_bps);
    serial_remainder_ = numer % params_.rate_bps;
    last_tx_end_ns_ = start_ns + tx_ns;
    in_service_.push_back({last_tx_end_ns_, len_bytes});
    queue_bytes_ += len_bytes;
    base_ns = last_tx_end_ns_;
  }
  int64_t delay_ns = params_.delay_ns;
  if (params_.jitter_ns > 0) delay_ns += jitter_sample_ns();
  int64_t depart_ns = base_ns + std::max<int64_t>(delay_ns, 0);
  if (!params_.reorder) depart_ns = std::max(depart_ns, last_departure_ns_);
  last_departure_ns_ = std::max(last_departure_ns_, depart_ns);
  heap_.push({depart_ns, next_seq_++, cookie, len_bytes});

  int64_t applied_ns = depart_ns - now_ns;
  ++counters_.delay_samples;
  counters_.delay_sum_ns += applied_ns;
  counters_.delay_last_ns = applied_ns;
  counters_.delay_max_ns = std::max(counters_.delay_max_ns, applied_ns);
  return true;
}

bool LinkDirection::pop_due(int64_t now_ns, Departure* out) {
  if (heap_.empty() || heap_.top().time_ns > now_ns) return false;
  const Scheduled& top = heap_.top();
  *out = {top.time_ns, top.cookie, top.len_bytes};
  heap_.pop();
  ++counters_.departed_frames;
  counters_.departed_bytes += out->len_bytes;
  return true;
}

QueueDepth LinkDirection::queue_depth(int64_t now_ns) {
  prune_queue(now_ns);
  return {queue_bytes_, in_service_.size()};
}

}  // namespace traboule::wanem

// SPDX-License-Identifier: Apache-2.0
// The impairment core of one link direction, with no sockets and no clock of its own: it is
// fed (frame, arrival time) and says when each surviving copy departs. Order of effects:
// outage -> random loss -> Gilbert-Elliott loss -> duplication -> bottleneck queue at the
// rate (tail drop) -> delay + jitter. Unit-tested on a simulated clock; see docs/wanem.md.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <queue>
#include <vector>

#include "tools/wanem/params.h"
#include "tools/wanem/rng.h"

namespace traboule::wanem {

struct DirectionCounters {
  uint64_t rx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t departed_frames = 0;  // handed out by pop_due (copies included)
  uint64_t departed_bytes = 0;
  uint64_t drop_loss = 0;
  uint64_t drop_ge_loss = 0;
  uint64_t drop_queue_full = 0;
  uint64_t drop_outage = 0;    // arrived while down, or held when the link went down
  uint64_t drop_overflow = 0;  // the emulator's own frame limit (not part of the model)
  uint64_t duplicated = 0;     // extra copies scheduled
  // Delay applied (departure - arrival, queueing included) to every scheduled copy.
  uint64_t delay_samples = 0;
  int64_t delay_sum_ns = 0;
  int64_t delay_last_ns = 0;
  int64_t delay_max_ns = 0;
};

struct Departure {
  int64_t time_ns = 0;
  uint64_t cookie = 0;
  uint32_t len_bytes = 0;
};

struct QueueDepth {
  uint64_t bytes = 0;
  uint64_t packets = 0;
};

class LinkDirection {
 public:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  // max_held_frames bounds the frames scheduled at once (memory), whatever the parameters.
  LinkDirection(uint64_t seed, size_t max_held_frames);

  // New parameters apply to frames arriving from now on; scheduled frames keep their time,
  // except when the link goes down: then every held frame is dropped (outage) and its cookie
  // appended to *flushed so that the caller can free it.
  void configure(const DirectionParams& params, int64_t now_ns, std::vector<uint64_t>* flushed);
  const DirectionParams& params() const { return params_; }

  // A frame of len_bytes arrives at now_ns. Returns how many copies were scheduled (0, 1 or
  // 2); each comes back once from pop_due (or flush) carrying cookie.
  int arrive(uint64_t cookie, uint32_t len_bytes, int64_t now_ns);

  int64_t next_departure_ns() const { return heap_.empty() ? kNever : heap_.top().time_ns; }
  // Pops the earliest departure if it is due at now_ns.
  bool pop_due(int64_t now_ns, Departure* out);

  // Frames in the bottleneck queue (waiting or being serialised) at now_ns.
  QueueDepth queue_depth(int64_t now_ns);
  size_t held_frames() const { return heap_.size(); }

  const DirectionCounters& counters() const { return counters_; }
  void zero_counters() { counters_ = DirectionCounters{}; }

 private:
  struct Scheduled {
    int64_t time_ns;
    uint64_t seq;  // ties leave in arrival order
    uint64_t cookie;
    uint32_t len_bytes;
    bool operator>(const Scheduled& o) const {
      return time_ns != o.time_ns ? time_ns > o.time_ns : seq > o.seq;
    }
  };
  struct InService {
    int64_t end_ns;
    uint32_t len_bytes;
  };

  bool lost_by_ge();
  bool schedule_copy(uint64_t cookie, uint32_t len_bytes, int64_t now_ns);
  int64_t jitter_sample_ns();
  void prune_queue(int64_t now_ns);

  DirectionParams params_;
  Rng rng_;
  size_t max_held_frames_;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<Scheduled>> heap_;
  uint64_t next_seq_ = 0;
  int64_t last_departure_ns_ = std::numeric_limits<int64_t>::min();
  bool ge_bad_ = false;
  // The bottleneck: frames not yet fully serialised, in order of their end of serialisation.
  std::deque<InService> in_service_;
  uint64_t queue_bytes_ = 0;
  int64_t last_tx_end_ns_ = std::numeric_limits<int64_t>::min();
  uint64_t serial_remainder_ = 0;  // of bits * 1e9 / rate, so the long-run rate is exact
  DirectionCounters counters_;
};

}  // namespace traboule::wanem

// SPDX-License-Identifier: Apache-2.0
// Egress scheduler on a simulated clock: hostile configs and enqueues, FIFO and strict
// priority order, DRR weights, caps (policed and shaped), minimum rates, the port shaper's
// long-run rate, release hints, statistics and drain.
#include "qos/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <vector>

namespace traboule::qos {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;

struct Pkt {
  uint32_t id = 0;
  uint32_t bytes = 0;
  uint8_t cls = 0;
};
struct PktSize {
  uint64_t operator()(const Pkt& p) const noexcept { return p.bytes; }
};
using Sched = Scheduler<Pkt, PktSize>;

SchedClassConfig cls(uint8_t priority, uint16_t weight = 1) {
  SchedClassConfig c;
  c.priority = priority;
  c.weight = weight;
  return c;
}

TEST(QosScheduler, BadConfigNamesFieldAndValue) {
  struct Row {
    const char* name;
    void (*mutate)(SchedulerConfig&);
    const char* error;
  };
  const std::vector<Row> rows = {
      {"no classes", [](SchedulerConfig& c) { c.classes.clear(); },
       "classes (count) 0: must be 1..8"},
      {"nine classes", [](SchedulerConfig& c) { c.classes.resize(9); },
       "classes (count) 9: must be 1..8"},
      {"priority 8", [](SchedulerConfig& c) { c.classes[1].priority = 8; },
       "classes[1].priority 8: must be 0..7"},
      {"weight 0", [](SchedulerConfig& c) { c.classes[1].weight = 0; },
       "classes[1].weight 0: must be 1..1000"},
      {"weight 1001", [](SchedulerConfig& c) { c.classes[0].weight = 1001; },
       "classes[0].weight 1001"},
      {"queue 0", [](SchedulerConfig& c) { c.classes[1].queue_packets = 0; },
       "classes[1].queue_packets 0"},
      {"queue huge", [](SchedulerConfig& c) { c.classes[1].queue_packets = UINT32_MAX; },
       "classes[1].queue_packets 4294967295"},
      {"min above max",
       [](SchedulerConfig& c) {
         c.classes[0].min_rate_bps = 2000;
         c.classes[0].max_rate_bps = 1000;
       },
       "classes[0].min_rate_bps 2000: above max_rate_bps 1000"},
      {"max rate huge", [](SchedulerConfig& c) { c.classes[0].max_rate_bps = UINT64_MAX; },
       "classes[0].max_rate_bps 18446744073709551615"},
      {"min rate huge", [](SchedulerConfig& c) { c.classes[0].min_rate_bps = kMaxRateBps + 1; },
       "classes[0].min_rate_bps 400000000001"},
      {"cap burst huge",
       [](SchedulerConfig& c) { c.classes[0].cap_burst_bytes = kMaxBurstBytes + 1; },
       "classes[0].cap_burst_bytes 536870913"},
      {"port rate huge", [](SchedulerConfig& c) { c.port_rate_bps = kMaxRateBps + 1; },
       "port_rate_bps 400000000001"},
      {"port burst huge", [](SchedulerConfig& c) { c.port_burst_bytes = UINT64_MAX; },
       "port_burst_bytes 18446744073709551615"},
      {"quantum tiny", [](SchedulerConfig& c) { c.quantum_bytes = 10; },
       "quantum_bytes 10: must be 64..1000000"},
      {"window 0", [](SchedulerConfig& c) { c.rate_window_ns = 0; }, "rate_window_ns 0"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    SchedulerConfig c;
    c.classes = {cls(0), cls(1)};
    ASSERT_EQ(c.validate(), "");
    r.mutate(c);
    std::string got = c.validate();
    EXPECT_NE(got.find(r.error), std::string::npos) << got;
    try {
      Sched s(c);
      ADD_FAILURE() << "constructed with " << r.error;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), got);
    }
  }
}

TEST(QosScheduler, EnqueueHostileTable) {
  SchedulerConfig c;
  c.classes = {cls(0), cls(1), cls(1)};
  c.classes[0].max_rate_bps = 8000;  // policed (level 0 is above level 1): 1 byte/ms
  c.classes[0].cap_burst_bytes = 1000;
  c.classes[1].queue_packets = 2;
  c.classes[2].queue_bytes = 3000;
  struct Row {
    size_t cls;
    uint32_t bytes;
    uint64_t t_ns;
    EnqueueResult want;
  };
  const std::vector<Row> rows = {
      {3, 100, 0, EnqueueResult::kUnknownClass},
      {SIZE_MAX, 100, 0, EnqueueResult::kUnknownClass},
      {kMaxSchedClasses, 100, 0, EnqueueResult::kUnknownClass},
      {1, 100, 0, EnqueueResult::kAccepted},
      {1, 0, 0, EnqueueResult::kAccepted},  // empty item: accepted, costs nothing
      {1, 100, 0, EnqueueResult::kQueueFullPackets},
      {2, kMaxSchedItemBytes + 1, 0, EnqueueResult::kTooLarge},
      {2, UINT32_MAX, 0, EnqueueResult::kTooLarge},
      {2, 2000, 0, EnqueueResult::kAccepted},
      {2, 1001, 0, EnqueueResult::kQueueFullBytes},
      {2, 1000, 0, EnqueueResult::kAccepted},
      {0, 600, 0, EnqueueResult::kAccepted},
      {0, 600, 0, EnqueueResult::kOverCap},  // 400 left in the cap bucket
      {0, 400, 0, EnqueueResult::kAccepted},
      {0, 1001, 10 * kSec, EnqueueResult::kOverCap},  // larger than the cap burst: never
      {0, 1, 5 * kSec, EnqueueResult::kAccepted},     // clock backwards: no new credit...
      {0, 1000, 5 * kSec, EnqueueResult::kOverCap},   // ...so 999 left from the 10 s refill
  };
  Sched s(c);
  EXPECT_TRUE(s.policed(0));
  EXPECT_FALSE(s.policed(1));
  EXPECT_FALSE(s.policed(99));
  uint32_t id = 0;
  for (const Row& r : rows) {
    SCOPED_TRACE(id);
    EXPECT_EQ(enqueue_result_name(s.enqueue(r.cls, Pkt{id++, r.bytes}, r.t_ns)),
              enqueue_result_name(r.want));
  }
  EXPECT_EQ(s.unknown_class_drops(), 3u);
  ClassStats a = s.class_stats(0, 10 * kSec), b = s.class_stats(1, 0), d = s.class_stats(2, 0);
  EXPECT_EQ(a.dropped(EnqueueResult::kOverCap), 3u);
  EXPECT_EQ(a.enqueued_packets, 3u);
  EXPECT_EQ(a.depth_bytes, 1001u);
  EXPECT_EQ(b.dropped(EnqueueResult::kQueueFullPackets), 1u);
  EXPECT_EQ(b.depth_packets, 2u);
  EXPECT_EQ(d.dropped(EnqueueResult::kTooLarge), 2u);
  EXPECT_EQ(d.dropped(EnqueueResult::kQueueFullBytes), 1u);
  EXPECT_EQ(d.depth_bytes, 3000u);
  EXPECT_EQ(d.dropped_bytes, uint64_t{kMaxSchedItemBytes} + 1 + UINT32_MAX + 1001);
  EXPECT_EQ(d.dropped(EnqueueResult::kAccepted), 0u);
  EXPECT_EQ(s.class_stats(3, 0).enqueued_packets, 0u);  // unknown index: zeros
  EXPECT_EQ(s.depth_packets(), 7u);
}

TEST(QosScheduler, StrictPriorityAndFifoOrder) {
  SchedulerConfig c;
  c.classes = {cls(2), cls(0), cls(1)};
  Sched s(c);
  // Interleaved arrivals; expected order: level 0 (class 1), level 1 (class 2), level 2 (class 0),
  // FIFO inside each class.
  const std::vector<uint8_t> arrivals = {0, 1, 2, 0, 1, 2, 0, 1, 2, 2};
  for (uint32_t i = 0; i < arrivals.size(); ++i)
    ASSERT_EQ(s.enqueue(arrivals[i], Pkt{i, 100, arrivals[i]}, 0), EnqueueResult::kAccepted);
  std::array<Pkt, 4> out;
  std::vector<uint32_t> order;
  EXPECT_EQ(s.dequeue(0, out, 0), 0u);  // max 0: nothing
  EXPECT_EQ(s.dequeue(0, std::span<Pkt>{}), 0u);
  for (size_t n; (n = s.dequeue(0, out)) != 0;)
    for (size_t i = 0; i < n; ++i) order.push_back(out[i].id);
  EXPECT_EQ(order, (std::vector<uint32_t>{1, 4, 7, 2, 5, 8, 9, 0, 3, 6}));
  EXPECT_EQ(s.next_release_ns(0), kNever);
}

// Backlogged classes of one level share by weight; measured in bytes over many dequeues.
TEST(QosScheduler, DrrWeightsTable) {
  struct Row {
    const char* name;
    std::vector<uint16_t> weights;
    std::vector<uint32_t> sizes;  // per class; 0: a deterministic mix of 64..1500
    uint32_t quantum;
  };
  const std::vector<Row> rows = {
      {"1:4 equal sizes", {1, 4}, {1000, 1000}, 1514},
      {"1:4 mixed sizes", {1, 4}, {0, 0}, 1514},
      {"1:4 small vs large packets", {1, 4}, {64, 1500}, 1514},
      {"1:4 large vs small packets", {1, 4}, {1500, 64}, 1514},
      {"1:4 jumbo items above the quantum", {1, 4}, {9000, 200}, 64},
      {"3:7:10", {3, 7, 10}, {0, 1200, 300}, 1514},
      {"1:1000", {1, 1000}, {1500, 1500}, 1514},
      {"eight equal", {1, 1, 1, 1, 1, 1, 1, 1}, {100, 200, 300, 400, 500, 600, 700, 800}, 1514},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    SchedulerConfig c;
    c.quantum_bytes = r.quantum;
    for (uint16_t w : r.weights) c.classes.push_back(cls(3, w));
    Sched s(c);
    uint32_t seed = 12345, id = 0;
    auto size_of = [&](size_t k) {
      if (r.sizes[k] != 0) return r.sizes[k];
      seed = seed * 1103515245 + 12345;
      return 64 + (seed >> 8) % 1437;
    };
    auto top_up = [&] {
      for (size_t k = 0; k < r.weights.size(); ++k)
        while (s.class_stats(k, 0).depth_packets < 16)
          ASSERT_EQ(s.enqueue(k, Pkt{id++, size_of(k), static_cast<uint8_t>(k)}, 0),
                    EnqueueResult::kAccepted);
    };
    std::vector<uint64_t> bytes(r.weights.size());
    std::array<Pkt, 8> out;
    uint64_t total_weight = 0;
    for (uint16_t w : r.weights) total_weight += w;
    // Long enough for every class, even weight 1 of 1001, to get hundreds of quanta.
    const uint64_t target = 400ull * 1514 * total_weight + 2'000'000;
    for (uint64_t sent = 0; sent < target;) {
      top_up();
      size_t n = s.dequeue(0, out);
      ASSERT_GT(n, 0u);
      for (size_t i = 0; i < n; ++i) {
        bytes[out[i].cls] += out[i].bytes;
        sent += out[i].bytes;
      }
    }
    uint64_t total = 0;
    for (uint64_t b : bytes) total += b;
    for (size_t k = 0; k < r.weights.size(); ++k) {
      double share = static_cast<double>(bytes[k]) / static_cast<double>(total);
      double want = static_cast<double>(r.weights[k]) / static_cast<double>(total_weight);
      EXPECT_NEAR(share / want, 1.0, 0.02) << "class " << k << " share " << share;
    }
  }
}

struct Flow {
  size_t cls;
  uint32_t bytes;
  uint64_t interval_ns;  // 0: backlogged (queue kept topped up)
};

struct SimResult {
  std::array<uint64_t, kMaxSchedClasses> bytes{};
  std::array<uint64_t, kMaxSchedClasses> offered{};
  std::array<uint64_t, kMaxSchedClasses> max_delay_ns{};  // enqueue to dequeue
  uint64_t stalls = 0;                                    // hint said "now" but nothing left
  uint64_t end_ns = 0;
};

// Event-driven simulation: time jumps to the next arrival or the scheduler's release hint;
// poll_ns > 0 instead polls at a fixed period like a busy worker loop.
SimResult simulate(Sched& s, const std::vector<Flow>& flows, uint64_t duration_ns,
                   uint64_t poll_ns = 0) {
  SimResult r;
  std::vector<uint64_t> next(flows.size(), 0);
  std::array<Pkt, 32> out;
  uint32_t id = 0;
  std::vector<uint64_t> enqueued_at;  // by item id
  auto offer = [&](const Flow& fl, uint64_t t) {
    r.offered[fl.cls] += fl.bytes;
    enqueued_at.push_back(t);
    return s.enqueue(fl.cls, Pkt{id++, fl.bytes, static_cast<uint8_t>(fl.cls)}, t);
  };
  auto top_up = [&](uint64_t t) {
    for (const Flow& fl : flows) {
      while (fl.interval_ns == 0 && s.class_stats(fl.cls, t).depth_packets < 8)
        if (offer(fl, t) != EnqueueResult::kAccepted) break;
    }
  };
  for (uint64_t t = 0; t < duration_ns;) {
    top_up(t);
    for (size_t f = 0; f < flows.size(); ++f) {
      const Flow& fl = flows[f];
      if (fl.interval_ns != 0) {
        for (; next[f] <= t; next[f] += fl.interval_ns) offer(fl, t);
      }
    }
    size_t n = s.dequeue(t, out);
    for (size_t i = 0; i < n; ++i) {
      r.bytes[out[i].cls] += out[i].bytes;
      uint64_t& d = r.max_delay_ns[out[i].cls];
      d = std::max(d, t - enqueued_at[out[i].id]);
    }
    top_up(t);  // a backlogged source never lets its queue run dry
    uint64_t nt = poll_ns ? t + poll_ns : s.next_release_ns(t);
    if (!poll_ns) {
      for (size_t f = 0; f < flows.size(); ++f)
        if (flows[f].interval_ns) nt = std::min(nt, next[f]);
      if (n == 0 && nt <= t) {
        ++r.stalls;
        nt = t + 1;
      }
      if (n == out.size()) nt = t;  // more may leave at this instant
    }
    t = nt;
  }
  r.end_ns = duration_ns;
  return r;
}

double bps(uint64_t bytes, uint64_t ns) {
  return static_cast<double>(bytes) * 8e9 / static_cast<double>(ns);
}

TEST(QosScheduler, PortShaperLongRunRateTable) {
  struct Row {
    const char* name;
    uint64_t rate_bps;
    uint64_t burst_bytes;  // 0: default
    uint32_t item_bytes;
    uint64_t duration_ns;
    uint64_t poll_ns;
  };
  const std::vector<Row> rows = {
      {"2 Mbit/s vdsl, 1500 B", 2'000'000, 0, 1500, 20 * kSec, 0},
      {"1 Mbit/s, 200 B voice-sized", 1'000'000, 0, 200, 10 * kSec, 0},
      {"odd rate 1234567 bit/s", 1'234'567, 0, 1000, 20 * kSec, 0},
      {"64 kbit/s, items 10x the burst", 64'000, 150, 1500, 100 * kSec, 0},
      {"2 Mbit/s polled every 1 ms", 2'000'000, 0, 1500, 20 * kSec, kMs},
      {"100 Mbit/s polled every 50 us", 100'000'000, 0, 1500, kSec, 50'000},
      {"10 Gbit/s jumbo", 10'000'000'000, 3028, 9000, 100 * kMs, 0},
      {"100 Gbit/s", 100'000'000'000, 3028, 1500, 10 * kMs, 0},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    SchedulerConfig c;
    c.port_rate_bps = r.rate_bps;
    c.port_burst_bytes = r.burst_bytes;
    c.classes = {cls(0)};
    c.classes[0].queue_packets = 64;
    Sched s(c);
    EXPECT_TRUE(s.shaped());
    SimResult res = simulate(s, {{0, r.item_bytes, 0}}, r.duration_ns, r.poll_ns);
    EXPECT_EQ(res.stalls, 0u);
    double got = bps(res.bytes[0], r.duration_ns);
    EXPECT_NEAR(got / static_cast<double>(r.rate_bps), 1.0, 0.01) << got;
  }
}

TEST(QosScheduler, UnshapedPortReleasesEverything) {
  SchedulerConfig c;
  c.classes = {cls(0)};
  c.classes[0].queue_packets = 1000;
  Sched s(c);
  EXPECT_FALSE(s.shaped());
  for (uint32_t i = 0; i < 1000; ++i)
    ASSERT_EQ(s.enqueue(0, Pkt{i, 9000}, 0), EnqueueResult::kAccepted);
  std::vector<Pkt> out(2000);
  EXPECT_EQ(s.dequeue(0, out), 1000u);
}

// Voice at level 0, capped; bulk at level 1 backlogged. The cap bounds what voice takes, so bulk
// gets the rest of the port whatever voice offers.
TEST(QosScheduler, CappedPriorityCannotStarveTable) {
  struct Row {
    const char* name;
    CapMode mode;
    uint64_t voice_interval_ns;  // 0: voice backlogged
    uint32_t voice_bytes;
  };
  const std::vector<Row> rows = {
      {"voice policed, offered 4x its cap", CapMode::kAuto, 0, 200},
      {"voice policed, backlogged", CapMode::kPolice, 0, 1500},
      {"voice shaped, offered 4x", CapMode::kShape, 0, 200},
      {"voice policed, paced 4x cap", CapMode::kAuto, 200 * 8 * kSec / 8'000'000, 200},
  };
  const uint64_t port = 10'000'000, cap = 2'000'000, duration = 10 * kSec;
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    SchedulerConfig c;
    c.port_rate_bps = port;
    c.classes = {cls(0), cls(1)};
    c.classes[0].max_rate_bps = cap;
    c.classes[0].cap_mode = r.mode;
    Sched s(c);
    EXPECT_EQ(s.policed(0), r.mode != CapMode::kShape);
    SimResult res = simulate(s, {{0, r.voice_bytes, r.voice_interval_ns}, {1, 1500, 0}}, duration);
    EXPECT_EQ(res.stalls, 0u);
    double voice = bps(res.bytes[0], duration), bulk = bps(res.bytes[1], duration);
    // The cap's burst (10 ms at 2 Mbit/s, at least 3028 B) is the only excess allowed.
    EXPECT_LE(voice, static_cast<double>(cap) * 1.01);
    EXPECT_GE(voice, static_cast<double>(cap) * 0.99);
    EXPECT_GE(bulk, static_cast<double>(port - cap) * 0.99);
    EXPECT_NEAR((voice + bulk) / static_cast<double>(port), 1.0, 0.01);
    ClassStats v = s.class_stats(0, duration);
    if (r.mode == CapMode::kShape) {
      EXPECT_EQ(v.dropped(EnqueueResult::kOverCap), 0u);
    } else {
      EXPECT_GT(v.dropped(EnqueueResult::kOverCap), 0u);
    }
  }
}

// The lab case on a simulated clock: a 2 Mbit/s uplink saturated by a bulk upload while
// a voice stream (50 packets/s of 200 B) runs. With QoS the voice wait is bounded by one bulk
// packet on the wire (6 ms), with no loss; without (one FIFO) it waits behind the bulk queue.
TEST(QosScheduler, VoiceDelayUnderBulkUpload) {
  struct Row {
    const char* name;
    bool qos;
    uint64_t max_voice_delay_ns;  // bound (qos) or floor (no qos)
  };
  const std::vector<Row> rows = {
      {"qos on", true, 6 * kMs + 1},
      {"qos off", false, 40 * kMs},
  };
  const uint64_t port = 2'000'000, duration = 60 * kSec;
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    SchedulerConfig c;
    c.port_rate_bps = port;
    c.port_burst_bytes = 1500;
    c.classes = {cls(0), cls(5)};
    c.classes[0].max_rate_bps = 200'000;
    c.classes[1].queue_packets = 64;
    Sched s(c);
    size_t voice_cls = r.qos ? 0 : 1;
    SimResult res = simulate(s, {{voice_cls, 200, 20 * kMs}, {1, 1500, 0}}, duration);
    EXPECT_EQ(res.stalls, 0u);
    if (r.qos) {
      EXPECT_LE(res.max_delay_ns[0], r.max_voice_delay_ns);
      EXPECT_EQ(s.class_stats(0, duration).dropped_bytes, 0u);
      EXPECT_GE(res.bytes[0], res.offered[0] - 200);  // at most the last packet in flight
      double bulk = bps(res.bytes[1], duration), voice = bps(res.bytes[0], duration);
      EXPECT_GE(bulk, 0.8 * (static_cast<double>(port) - voice));
    } else {
      EXPECT_GE(res.max_delay_ns[1], r.max_voice_delay_ns);  // voice shares the bulk FIFO
    }
  }
}

// With no cap, a strict level does starve the levels below; a min rate is what protects them.
TEST(QosScheduler, MinRateProtectsLowerLevels) {
  struct Row {
    const char* name;
    uint64_t min_bps;
    double want_low_bps;
  };
  const uint64_t port = 10'000'000, duration = 10 * kSec;
  const std::vector<Row> rows = {
      {"no min: starved", 0, 0},
      {"min 3 Mbit/s", 3'000'000, 3e6},
      {"min 500 kbit/s", 500'000, 5e5},
      {"min equal to the port", port, 1e7},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    SchedulerConfig c;
    c.port_rate_bps = port;
    c.classes = {cls(0), cls(5)};
    c.classes[1].min_rate_bps = r.min_bps;
    Sched s(c);
    SimResult res = simulate(s, {{0, 1500, 0}, {1, 1000, 0}}, duration);
    EXPECT_EQ(res.stalls, 0u);
    double low = bps(res.bytes[1], duration), high = bps(res.bytes[0], duration);
    if (r.want_low_bps == 0)
      EXPECT_LT(low, 10'000.0);  // only the first instant, before class 0 is backlogged
    else
      EXPECT_NEAR(low / r.want_low_bps, 1.0, 0.02) << low;
    EXPECT_NEAR((low + high) / static_cast<double>(port), 1.0, 0.01);
  }
}

// A shaped class at the lowest level waits for its cap and the hint says until when.
TEST(QosScheduler, ReleaseHintFollowsShapers) {
  SchedulerConfig c;
  c.port_rate_bps = 8'000'000;  // 1 byte/us
  c.port_burst_bytes = 1000;
  c.classes = {cls(0)};
  c.classes[0].max_rate_bps = 800'000;  // 1 byte per 10 us
  c.classes[0].cap_burst_bytes = 500;
  Sched s(c, PktSize{}, 0);
  EXPECT_FALSE(s.policed(0));  // the only level: shaped
  EXPECT_EQ(s.next_release_ns(0), kNever);
  for (uint32_t i = 0; i < 4; ++i)
    ASSERT_EQ(s.enqueue(0, Pkt{i, 500}, 0), EnqueueResult::kAccepted);
  std::array<Pkt, 4> out;
  EXPECT_EQ(s.next_release_ns(0), 0u);
  // Cap: 500 B of burst pays the first; the second leaves on a zero credit and puts the cap
  // 500 B in debt. Port: its 1000 B burst covers both.
  EXPECT_EQ(s.dequeue(0, out), 2u);
  EXPECT_EQ(s.next_release_ns(0), 5'000'000u);  // 500 B of cap debt at 1 B/10 us
  EXPECT_EQ(s.next_release_ns(10), 5'000'000u);
  EXPECT_EQ(s.dequeue(4'999'999, out), 0u);
  EXPECT_EQ(s.dequeue(3'000'000, out), 0u);  // clock backwards: nothing
  EXPECT_EQ(s.dequeue(5'000'000, out), 1u);
  EXPECT_EQ(s.next_release_ns(5'000'000), 10'000'000u);
  EXPECT_EQ(s.next_release_ns(UINT64_MAX - 1), UINT64_MAX - 1);
  EXPECT_EQ(s.dequeue(UINT64_MAX - 1, out), 1u);
  EXPECT_EQ(s.next_release_ns(UINT64_MAX - 1), kNever);
  // Port debt: one item of 3000 B on a 1000 B burst, then the port waits 2 ms.
  SchedulerConfig p;
  p.port_rate_bps = 8'000'000;
  p.port_burst_bytes = 1000;
  p.classes = {cls(0)};
  Sched q(p);
  ASSERT_EQ(q.enqueue(0, Pkt{1, 3000}, 0), EnqueueResult::kAccepted);
  ASSERT_EQ(q.enqueue(0, Pkt{2, 100}, 0), EnqueueResult::kAccepted);
  EXPECT_EQ(q.dequeue(0, out), 1u);
  EXPECT_EQ(q.next_release_ns(0), 2'000'000u);
  EXPECT_EQ(q.dequeue(2'000'000, out), 1u);
}

TEST(QosScheduler, StatsRatesAndDrain) {
  SchedulerConfig c;
  c.port_rate_bps = 1'000'000;
  c.rate_window_ns = 100 * kMs;
  c.classes = {cls(0), cls(1)};
  c.classes[1].queue_packets = 4;
  Sched s(c);
  // 2 Mbit/s offered into class 1 (1000 B every 4 ms) for 2 s: the port passes 1 Mbit/s.
  SimResult res = simulate(s, {{1, 1000, 4 * kMs}}, 2 * kSec);
  ClassStats st = s.class_stats(1, 2 * kSec - 1);
  EXPECT_NEAR(st.departure_rate_bps / 1e6, 1.0, 0.05);
  EXPECT_NEAR(st.arrival_rate_bps / 2e6, 1.0, 0.05);
  EXPECT_EQ(st.enqueued_bytes, st.dequeued_bytes + st.depth_bytes);
  EXPECT_EQ(st.enqueued_bytes + st.dropped_bytes, res.offered[1]);
  EXPECT_GT(st.dropped(EnqueueResult::kQueueFullPackets), 0u);
  EXPECT_EQ(st.dequeued_bytes, res.bytes[1]);
  // Long after the traffic stops, the estimate falls to zero.
  ClassStats later = s.class_stats(1, 600 * kSec);
  EXPECT_LT(later.departure_rate_bps, 1e6 / 100);
  EXPECT_EQ(s.class_stats(0, 2 * kSec).departure_rate_bps, 0.0);
  // Drain hands back every queued item.
  std::vector<uint32_t> drained;
  s.drain([&](Pkt p) { drained.push_back(p.id); });
  EXPECT_EQ(drained.size(), st.depth_packets);
  EXPECT_EQ(s.depth_packets(), 0u);
  EXPECT_EQ(s.class_stats(1, 2 * kSec).depth_bytes, 0u);
  EXPECT_TRUE(std::is_sorted(drained.begin(), drained.end()));
}

}  // namespace
}  // namespace traboule::qos

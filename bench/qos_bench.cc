// SPDX-License-Identifier: Apache-2.0
// QoS scheduler cost per item (enqueue + dequeue) for 1, 4 and 8 classes, unshaped and behind a
// 10 Gbit/s port shaper, next to a plain ring push/pop so results read as a ratio to the ring.
// Bursts of 32 items, as a worker would hand them over; a simulated clock, no real time.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <vector>

#include "qos/scheduler.h"

namespace {

using traboule::qos::EnqueueResult;
using traboule::qos::SchedClassConfig;
using traboule::qos::Scheduler;
using traboule::qos::SchedulerConfig;

struct Item {
  uint32_t bytes = 0;
  uint32_t id = 0;
};
struct ItemSize {
  uint64_t operator()(const Item& i) const noexcept { return i.bytes; }
};

constexpr size_t kBurst = 32;
constexpr uint32_t kBytes = 1000;

// The baseline: a power-of-two ring of the same items, no classes, no buckets.
void BM_RingPushPop(benchmark::State& state) {
  std::vector<Item> ring(1024);
  const size_t mask = ring.size() - 1;
  size_t head = 0, tail = 0;
  std::array<Item, kBurst> out;
  uint32_t id = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBurst; ++i) ring[tail++ & mask] = Item{kBytes, id++};
    for (size_t i = 0; i < kBurst; ++i) out[i] = ring[head++ & mask];
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
}
BENCHMARK(BM_RingPushPop);

// Args: number of classes, shaped (0/1). Classes spread over two levels with weights 1..n and
// a policed cap on class 0, so every mechanism is on the path.
void BM_SchedulerEnqueueDequeue(benchmark::State& state) {
  const size_t classes = static_cast<size_t>(state.range(0));
  const bool shaped = state.range(1) != 0;
  SchedulerConfig c;
  if (shaped) c.port_rate_bps = 10'000'000'000;
  for (size_t k = 0; k < classes; ++k) {
    SchedClassConfig cc;
    cc.priority = k == 0 ? 0 : 1;
    cc.weight = static_cast<uint16_t>(k + 1);
    cc.queue_packets = 1024;
    if (k == 0 && classes > 1) cc.max_rate_bps = 1'000'000'000;
    c.classes.push_back(cc);
  }
  Scheduler<Item, ItemSize> s(c);
  std::array<Item, kBurst> out;
  uint64_t now_ns = 0, accepted = 0, sent = 0;
  uint32_t id = 0;
  // One burst's wire time at 10 Gbit/s, so the shaper keeps up on average.
  const uint64_t step_ns = kBurst * kBytes * 8 / 10;
  for (auto _ : state) {
    for (size_t i = 0; i < kBurst; ++i)
      accepted += s.enqueue(i % classes, Item{kBytes, id++}, now_ns) == EnqueueResult::kAccepted;
    sent += s.dequeue(now_ns, out);
    benchmark::DoNotOptimize(out.data());
    now_ns += step_ns;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
  state.counters["accepted"] = static_cast<double>(accepted);
  state.counters["sent"] = static_cast<double>(sent);
}
BENCHMARK(BM_SchedulerEnqueueDequeue)
    ->ArgNames({"classes", "shaped"})
    ->Args({1, 0})
    ->Args({4, 0})
    ->Args({8, 0})
    ->Args({1, 1})
    ->Args({4, 1})
    ->Args({8, 1});

}  // namespace

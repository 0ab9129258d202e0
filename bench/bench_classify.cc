// SPDX-License-Identifier: Apache-2.0
// Application recognition costs: new flows classified per second by the nDPI Classifier (a
// DNS query: decided on its one packet; an HTTP session: handshake + GET, decided on the GET),
// and the classify stage on bursts of already-classified flows next to a pass-through stage,
// the floor any stage pays (cycles_per_pkt: the median burst, robust to preemption).
#include <benchmark/benchmark.h>
#include <rte_cycles.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "bench/bench_sink.h"
#include "dataplane/select/classifier.h"
#include "dataplane/stages/classify.h"
#include "dataplane/stages/flow.h"
#include "dataplane/stages/parse.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"

namespace {

using namespace traboule;
using traboule::testing::Frame;
using traboule::testing::PacketBuilder;

constexpr uint16_t kBurst = 32;

using traboule::bench::Sink;

std::vector<uint8_t> dns_query(unsigned i) {
  std::vector<uint8_t> b = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  const std::string label = "host" + std::to_string(i % 1000);
  b.push_back(static_cast<uint8_t>(label.size()));
  b.insert(b.end(), label.begin(), label.end());
  for (const char* l : {"example", "org"}) {
    b.push_back(static_cast<uint8_t>(std::char_traits<char>::length(l)));
    b.insert(b.end(), l, l + std::char_traits<char>::length(l));
  }
  b.insert(b.end(), {0, 0, 1, 0, 1});
  return b;
}

struct Fed {
  Frame frame;
  bool orig;
};

std::vector<Fed> http_session(uint16_t port) {
  const std::string get =
      "GET / HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
  auto tcp = [port](bool orig, uint8_t flags, uint32_t seq, uint32_t ack,
                    const std::string& data = {}) {
    PacketBuilder b;
    if (orig)
      b.eth().ipv4("192.168.10.10", "93.184.216.34").tcp(port, 80, flags, seq, ack);
    else
      b.eth().ipv4("93.184.216.34", "192.168.10.10").tcp(80, port, flags, seq, ack);
    if (!data.empty()) b.payload(std::vector<uint8_t>(data.begin(), data.end()));
    return Fed{b.build(), orig};
  };
  namespace f = testing::tcpf;
  return {tcp(true, f::kSyn, 1000, 0), tcp(false, f::kSyn | f::kAck, 5000, 1001),
          tcp(true, f::kAck, 1001, 5001), tcp(true, f::kAck | f::kPsh, 1001, 5001, get)};
}

void report(benchmark::State& state, const dp::Classifier& c, uint64_t flows) {
  const auto s = c.stats();
  state.SetItemsProcessed(static_cast<int64_t>(flows));
  state.counters["flows_per_s"] = benchmark::Counter(double(flows), benchmark::Counter::kIsRate);
  state.counters["pkts_per_flow"] = flows ? double(s.packets) / double(flows) : 0;
  state.counters["ndpi_allocs_per_flow"] = flows ? double(s.ndpi_allocs) / double(flows) : 0;
  state.counters["flow_heap_peak_B"] = double(c.memory().ndpi_flow_heap_peak_bytes);
}

void BM_ClassifyDnsFlows(benchmark::State& state) {
  dp::Classifier c(4096);
  std::vector<Frame> frames;
  for (unsigned i = 0; i < 1024; ++i)
    frames.push_back(PacketBuilder()
                         .eth()
                         .ipv4("192.168.10.10", "9.9.9.9")
                         .udp(static_cast<uint16_t>(20000 + i), 53)
                         .payload(dns_query(i))
                         .build());
  uint32_t id = 0;
  uint64_t flows = 0;
  for (auto _ : state) {
    const Frame& f = frames[id % frames.size()];
    auto v = c.feed(id, f.bytes.data() + f.l3_off, static_cast<uint16_t>(f.bytes.size() - f.l3_off),
                    id, true);
    ++id;
    benchmark::DoNotOptimize(v);
    flows += v.final();
  }
  report(state, c, flows);
}
BENCHMARK(BM_ClassifyDnsFlows);

void BM_ClassifyHttpFlows(benchmark::State& state) {
  dp::Classifier c(4096);
  const auto session = http_session(40000);
  uint32_t id = 0;
  uint64_t flows = 0;
  for (auto _ : state) {
    ++id;
    for (const Fed& p : session) {
      auto v = c.feed(id, p.frame.bytes.data() + p.frame.l3_off,
                      static_cast<uint16_t>(p.frame.bytes.size() - p.frame.l3_off), id, p.orig);
      if (v.final()) {
        ++flows;
        break;
      }
    }
  }
  report(state, c, flows);
}
BENCHMARK(BM_ClassifyHttpFlows);

// A pass-through stage: the per-packet floor of any stage (meta read, edge push).
class PassStage final : public dp::Stage {
 public:
  static constexpr std::array<std::string_view, 1> kEdges{"next"};
  std::string_view name() const noexcept override { return "pass"; }
  std::span<const std::string_view> edge_names() const noexcept override { return kEdges; }
  std::span<const std::string_view> drop_names() const noexcept override { return {}; }
  void process(rte_mbuf** pkts, uint16_t n, const dp::BurstContext& /*ctx*/,
               dp::Output& out) noexcept override {
    for (uint16_t i = 0; i < n; ++i) {
      benchmark::DoNotOptimize(dp::meta(pkts[i]).flow_id);
      out.to_index(0, pkts[i]);
    }
  }
};

// kBurst parsed UDP packets of kBurst flows, each flow created in `flows`.
std::vector<rte_mbuf*> flow_burst(dp::FlowTable& flows) {
  std::vector<rte_mbuf*> v;
  dp::ParseStage parse;
  dp::FlowStage flow(flows);
  Sink s;
  for (uint16_t i = 0; i < kBurst; ++i) {
    Frame f = PacketBuilder()
                  .eth()
                  .ipv4("192.168.10.10", "203.0.113." + std::to_string(i + 1))
                  .udp(static_cast<uint16_t>(40000 + i), 443)
                  .payload(64)
                  .build();
    rte_mbuf* m = testing::to_mbuf(testing::test_pool(), f, 0);
    dp::meta(m).flags = dp::meta_flag::kFromLan;
    v.push_back(m);
  }
  const dp::BurstContext ctx{.now_tsc = rte_rdtsc()};
  parse.process(v.data(), kBurst, ctx, s.out);
  s.reset();
  flow.process(v.data(), kBurst, ctx, s.out);
  return v;
}

template <class Stage>
void timed(benchmark::State& state, std::vector<rte_mbuf*>& pkts, Stage& stage,
           const dp::WorkerView* view = nullptr) {
  bench::timed(
      state, pkts, stage, [] {}, view);
}

void BM_ClassifyStagePassThroughBaseline(benchmark::State& state) {
  dp::FlowTable flows(4096, dp::FlowTimeouts{}, SOCKET_ID_ANY);
  auto pkts = flow_burst(flows);
  PassStage pass;
  timed(state, pkts, pass);
}
BENCHMARK(BM_ClassifyStagePassThroughBaseline)->UseManualTime();

// The steady state: every flow already carries its application.
void BM_ClassifyStageClassifiedFlows(benchmark::State& state) {
  dp::FlowTable flows(4096, dp::FlowTimeouts{}, SOCKET_ID_ANY);
  auto policy = std::make_shared<dp::PolicySnapshot>();
  policy->apps.resize(20);
  dp::WorkerView view{policy.get(), 1, nullptr};
  dp::ClassifyStage classify(flows, 1024);
  auto pkts = flow_burst(flows);
  for (auto* m : pkts) flows.entry(dp::meta(m).flow_id).app = 16;
  timed(state, pkts, classify, &view);
}
BENCHMARK(BM_ClassifyStageClassifiedFlows)->UseManualTime();

// Flows nDPI gave up on (application unknown, recognition done): the per-flow state check.
void BM_ClassifyStageDoneUnknownFlows(benchmark::State& state) {
  dp::FlowTable flows(4096, dp::FlowTimeouts{}, SOCKET_ID_ANY);
  auto policy = std::make_shared<dp::PolicySnapshot>();
  policy->apps.resize(20);
  dp::WorkerView view{policy.get(), 1, nullptr};
  dp::ClassifyStage classify(flows, 1024, 1);  // give up after one packet
  auto pkts = flow_burst(flows);
  Sink s;
  classify.process(pkts.data(), kBurst, dp::BurstContext{.now_tsc = rte_rdtsc(), .view = &view},
                   s.out);  // the one packet each: given up
  timed(state, pkts, classify, &view);
}
BENCHMARK(BM_ClassifyStageDoneUnknownFlows)->UseManualTime();

}  // namespace

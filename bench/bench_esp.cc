// SPDX-License-Identifier: Apache-2.0
// ESP AES-256-GCM per packet on one core (crypto_aesni_gcm, CPU crypto), by payload size: 64 B,
// 1400 B and IMIX (7 × 64, 4 × 576, 1 × 1500), sealing alone and sealing then opening, against
// copying the payload once in the same run (the cheapest thing a packet can cost). The mbuf is
// put back as it was after each packet, so the same buffers are reused, warm in the cache.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/crypto/esp_sa.h"
#include "tests/testing/eal_env.h"

namespace {

using traboule::dp::CryptoDevice;
using traboule::dp::EspInbound;
using traboule::dp::EspKey;
using traboule::dp::EspOutbound;
using traboule::dp::GcmSession;

struct Bench {  // members in this order so the SAs' sessions go before their device
  std::unique_ptr<CryptoDevice> dev;
  std::unique_ptr<EspOutbound> out;
  std::unique_ptr<EspInbound> in;
};

// Opened per benchmark (outside the timed loop) and closed before EAL is.
std::unique_ptr<Bench> open_bench() {
  auto x = std::make_unique<Bench>();
  std::string error;
  x->dev = CryptoDevice::open("crypto_aesni_gcm_bench", 8, error);
  if (!x->dev) {
    std::fprintf(stderr, "bench_esp: %s\n", error.c_str());
    std::exit(1);
  }
  EspKey k;
  for (unsigned i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<uint8_t>(i * 11);
  k.salt = 0x0a0b0c0d;
  x->out = std::make_unique<EspOutbound>(0x1234, k.salt, GcmSession::make(*x->dev, k, true, error));
  x->in = std::make_unique<EspInbound>(0x1234, k.salt, GcmSession::make(*x->dev, k, false, error));
  return x;
}

std::vector<uint16_t> sizes_for(int64_t arg) {
  if (arg > 0) return {static_cast<uint16_t>(arg)};
  std::vector<uint16_t> imix(7, 64);
  imix.insert(imix.end(), 4, 576);
  imix.push_back(1500);
  return imix;
}

std::vector<rte_mbuf*> packets(const std::vector<uint16_t>& sizes) {
  std::vector<rte_mbuf*> v;
  for (uint16_t s : sizes) {
    rte_mbuf* m = rte_pktmbuf_alloc(traboule::testing::test_pool());
    std::memset(rte_pktmbuf_append(m, s), 0x42, s);
    v.push_back(m);
  }
  return v;
}

void report(benchmark::State& state, const std::vector<uint16_t>& sizes, uint64_t cycles) {
  uint64_t bytes = 0;
  for (uint16_t s : sizes) bytes += s;
  const double pkts = static_cast<double>(state.iterations()) * static_cast<double>(sizes.size());
  state.counters["cycles/pkt"] = static_cast<double>(cycles) / pkts;
  state.SetItemsProcessed(static_cast<int64_t>(pkts));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// Times `each(b, m, i)` over the benchmark's packets (i: the packet's index in `sizes`).
template <class Each>
void timed(benchmark::State& state, Each&& each) {
  auto bp = open_bench();
  const auto sizes = sizes_for(state.range(0));
  auto pkts = packets(sizes);
  uint64_t cycles = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    for (size_t i = 0; i < pkts.size(); ++i) each(*bp, pkts[i], sizes[i]);
    cycles += rte_rdtsc() - t0;
  }
  report(state, sizes, cycles);
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
}

// Seal, then strip the ESP framing again without opening (cheap) so the next round seals the
// same payload length.
void BM_EspSeal(benchmark::State& state) {
  timed(state, [](Bench& b, rte_mbuf* m, uint16_t size) {
    if (b.out->protect(m, traboule::dp::kEspNextOverlay) != EspOutbound::Result::kOk) std::abort();
    benchmark::DoNotOptimize(rte_pktmbuf_mtod(m, uint8_t*)[20]);
    rte_pktmbuf_adj(m, traboule::dp::kEspPrefixLen);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - size));
  });
}

// Seal then open: the sender's and the receiver's work for one packet.
void BM_EspSealOpen(benchmark::State& state) {
  timed(state, [](Bench& b, rte_mbuf* m, uint16_t) {
    uint8_t nh = 0;
    if (b.out->protect(m, traboule::dp::kEspNextOverlay) != EspOutbound::Result::kOk ||
        b.in->open(m, nh) != EspInbound::Result::kOk) {
      std::abort();
    }
  });
}

// The baseline: copy each payload once.
void BM_EspBaselineCopy(benchmark::State& state) {
  std::vector<uint8_t> sink(2048);
  timed(state, [&sink](Bench&, rte_mbuf* m, uint16_t) {
    std::memcpy(sink.data(), rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m));
    benchmark::ClobberMemory();
  });
}

// Arg 0 is IMIX.
BENCHMARK(BM_EspBaselineCopy)->Arg(64)->Arg(1400)->Arg(0);
BENCHMARK(BM_EspSeal)->Arg(64)->Arg(1400)->Arg(0);
BENCHMARK(BM_EspSealOpen)->Arg(64)->Arg(1400)->Arg(0);

}  // namespace

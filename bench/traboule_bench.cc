// SPDX-License-Identifier: Apache-2.0
// traboule-bench: whole-pipeline throughput on one core. Measures, in the same run, ports and
// traffic, (a) a plain io-forward loop (the driver's limit) and (b) the full worker pipeline,
// over N distinct flows of real Ethernet/IPv4 UDP and TCP frames. Generation is timed apart
// and excluded from both figures, so the ratio compares like with like.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_memcpy.h>
#include <rte_random.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "dataplane/crypto/esp_sas.h"
#include "dataplane/io/mempool.h"
#include "dataplane/model/policy_snapshot.h"
#include "dataplane/model/stamp_clock.h"
#include "dataplane/model/stamp_sessions.h"
#include "dataplane/proto/stamp.h"
#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/runtime/site.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/tables/flow_table.h"
#include "dataplane/tables/overlay_sites.h"

namespace po = boost::program_options;
using namespace traboule;

namespace {

constexpr uint16_t kBurstMax = dp::kBurstMax;

struct Options {
  uint32_t flows = 1000;
  uint64_t packets = 20'000'000;
  uint16_t burst = 32;
  bool json = false;
  bool huge = false;
  bool per_stage = false;
  unsigned runs = 3;
  // As the daemon's defaults (dataplane/runtime/dataplane.h): 0 turns a stage off.
  uint32_t classify_slots = 4096;
  uint32_t names_cache = 16384;
  bool firewall = true;
  // Where the default rule's traffic goes: "off" (the uplink straight, as before), "clear" (the
  // overlay to a hub) or "esp" (the overlay sealed in ESP, docs/security.md).
  std::string overlay = "off";
};

// Per-burst TSC cycles (rx + processing + tx, generation excluded). The figure is the median
// burst: on a shared machine a burst during which the process was preempted costs
// milliseconds, and a plain sum would report the neighbours' load instead of our cost.
struct Result {
  uint64_t packets = 0;
  uint64_t cycles = 0;
  uint16_t burst = 32;
  std::vector<uint32_t> per_burst;
  double median_burst = 0;
  double p90_burst = 0;
  double slow_share = 0;  // bursts slower than 10x the median (preempted or interrupted)

  void finish() {
    if (per_burst.empty()) return;
    std::vector<uint32_t> v = per_burst;
    auto nth = [&](double q) {
      size_t k = static_cast<size_t>(q * double(v.size() - 1));
      std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
      return double(v[k]);
    };
    median_burst = nth(0.5);
    p90_burst = nth(0.9);
    size_t slow = 0;
    for (uint32_t c : per_burst) slow += c > 10 * median_burst;
    slow_share = double(slow) / double(per_burst.size());
  }
  double cycles_per_packet() const { return median_burst / burst; }
  double p90_cycles_per_packet() const { return p90_burst / burst; }
  double mpps(uint64_t hz) const {
    return median_burst ? double(burst) * double(hz) / median_burst / 1e6 : 0;
  }
};

const rte_ether_addr kLanMac = {{0x02, 0x00, 0x00, 0x00, 0x0a, 0x01}};
const rte_ether_addr kHostMac = {{0x02, 0x00, 0x00, 0x00, 0x0a, 0x10}};
const rte_ether_addr kUplinkMac = {{0x02, 0x00, 0x00, 0x00, 0x0b, 0x01}};
const rte_ether_addr kGatewayMac = {{0x02, 0x00, 0x00, 0x00, 0x0b, 0xfe}};

// Real frames: Ethernet + IPv4 + UDP or TCP (ACK), 64 bytes on the wire without FCS padding.
struct Templates {
  uint8_t udp[60];
  uint8_t tcp[60];
};

Templates make_templates() {
  Templates t{};
  for (int k = 0; k < 2; ++k) {
    uint8_t* f = k == 0 ? t.udp : t.tcp;
    auto* eth = reinterpret_cast<rte_ether_hdr*>(f);
    eth->dst_addr = kLanMac;
    eth->src_addr = kHostMac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f + 14);
    ip->version_ihl = 0x45;
    ip->total_length = rte_cpu_to_be_16(60 - 14);
    ip->time_to_live = 64;
    ip->next_proto_id = k == 0 ? IPPROTO_UDP : IPPROTO_TCP;
    ip->src_addr = rte_cpu_to_be_32(0xc0a80000);       // 192.168.x.y: patched per flow
    ip->dst_addr = rte_cpu_to_be_32(0xcb007100 | 10);  // 203.0.113.10
    if (k == 0) {
      auto* udp = reinterpret_cast<rte_udp_hdr*>(f + 34);
      udp->dst_port = rte_cpu_to_be_16(443);
      udp->dgram_len = rte_cpu_to_be_16(60 - 34);
    } else {
      auto* tcp = reinterpret_cast<rte_tcp_hdr*>(f + 34);
      tcp->dst_port = rte_cpu_to_be_16(443);
      tcp->data_off = 5 << 4;
      tcp->tcp_flags = RTE_TCP_ACK_FLAG;
      tcp->rx_win = rte_cpu_to_be_16(65535);
    }
  }
  return t;
}

// Fills `n` fresh mbufs with flow `idx[i]`'s frame: source address and port say which flow.
uint16_t generate(rte_mempool* pool, const Templates& t, const uint32_t* idx, uint16_t n,
                  rte_mbuf** out) {
  if (rte_pktmbuf_alloc_bulk(pool, out, n) != 0) return 0;
  for (uint16_t i = 0; i < n; ++i) {
    uint32_t flow = idx[i];
    const bool tcp = flow & 1;
    uint8_t* p = rte_pktmbuf_mtod(out[i], uint8_t*);
    rte_memcpy(p, tcp ? t.tcp : t.udp, 60);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
    // 192.168.0.0/16 hosts × 16 source ports: up to 1 M distinct flows.
    ip->src_addr = rte_cpu_to_be_32(0xc0a80000 | ((flow >> 4) & 0xffff));
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    *reinterpret_cast<uint16_t*>(p + 34) =
        rte_cpu_to_be_16(static_cast<uint16_t>(10000 + (flow & 15)));
    out[i]->data_len = out[i]->pkt_len = 60;
  }
  return n;
}

struct Bench {
  Options opt;
  rte_mempool* pool = nullptr;
  rte_ring* rx_ring = nullptr;
  uint16_t rx_port = 0;  // ring-backed: the generator fills it, the loop polls it
  uint16_t tx_port = 0;  // net_null: frees what it is given, like a NIC's TX completion
  Templates tpl = make_templates();
  std::vector<uint32_t> sequence;  // flow index of each generated packet (random order)

  template <class Process>
  Result run(uint64_t packets, Process&& process) {
    Result r;
    r.burst = opt.burst;
    r.per_burst.reserve(packets / opt.burst + 1);
    rte_mbuf* gen[kBurstMax];
    rte_mbuf* rx[kBurstMax];
    size_t pos = 0;
    while (r.packets < packets) {
      uint16_t n = opt.burst;
      if (pos + n > sequence.size()) pos = 0;
      uint16_t got = generate(pool, tpl, &sequence[pos], n, gen);
      pos += n;
      unsigned q = rte_ring_enqueue_burst(rx_ring, reinterpret_cast<void**>(gen), got, nullptr);
      for (unsigned k = q; k < got; ++k) rte_pktmbuf_free(gen[k]);
      const uint64_t t0 = rte_rdtsc_precise();
      uint16_t nb = rte_eth_rx_burst(rx_port, 0, rx, opt.burst);
      process(rx, nb);
      const uint64_t dt = rte_rdtsc_precise() - t0;
      r.cycles += dt;
      r.packets += nb;
      if (nb == opt.burst)
        r.per_burst.push_back(static_cast<uint32_t>(std::min<uint64_t>(dt, UINT32_MAX)));
    }
    r.finish();
    return r;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  po::options_description desc(
      "traboule-bench - whole-pipeline throughput against an io-forward baseline, on one core\n\n"
      "Usage: traboule-bench [--flows N] [--packets M] [--burst B] [--hugepages] "
      "[--json]\n\nOptions");
  desc.add_options()("help,h", "print this help")(
      "flows", po::value<uint32_t>(&opt.flows)->default_value(1000),
      "distinct flows (1 .. 1048576)")("packets",
                                       po::value<uint64_t>(&opt.packets)->default_value(20'000'000),
                                       "packets per measurement")(
      "runs", po::value<unsigned>(&opt.runs)->default_value(3),
      "measurements of each loop, alternated; the median run is reported, with min and max")(
      "burst", po::value<uint16_t>(&opt.burst)->default_value(32), "RX/TX burst size (1 .. 64)")(
      "hugepages", po::bool_switch(&opt.huge),
      "run EAL on hugepages (they must be reserved); default --no-huge")(
      "json", po::bool_switch(&opt.json), "print one JSON object instead of text")(
      "classify", po::value(&opt.classify_slots)->default_value(opt.classify_slots),
      "application recognition (nDPI): flows under classification at once, 0 = off")(
      "firewall", po::value(&opt.firewall)->default_value(opt.firewall),
      "the stateful firewall in the flow stage (1, as the daemon) or not (0): its cost")(
      "names", po::value(&opt.names_cache)->default_value(opt.names_cache),
      "first-packet recognition (DNS answers, SNI): name cache entries, 0 = off")(
      "overlay", po::value(&opt.overlay)->default_value(opt.overlay),
      "off: the default rule's traffic leaves the uplink as it is; clear: through the overlay "
      "(encap) to a hub; esp: the overlay sealed in ESP AES-256-GCM (crypto_aesni_gcm)")(
      "per-stage", po::bool_switch(&opt.per_stage),
      "after the measurement, a third run with per-stage cycle accounting (adds a TSC read per "
      "stage per burst)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "traboule-bench: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (opt.flows < 1 || opt.flows > (1u << 20) || opt.burst < 1 || opt.burst > kBurstMax ||
      opt.packets < 1000 ||
      (opt.overlay != "off" && opt.overlay != "clear" && opt.overlay != "esp")) {
    std::cerr << "traboule-bench: --flows must be 1..1048576, --burst 1..64, --packets >= 1000, "
                 "--overlay off|clear|esp\n";
    return 2;
  }

  // EAL: one lcore, a ring port for RX and a null port for TX.
  const uint32_t capacity = std::max<uint32_t>(1024, opt.flows + opt.flows / 4);
  std::string prefix = "tbbench_" + std::to_string(getpid());
  uint64_t mem_mb = 256 + uint64_t{capacity} * 256 / (1 << 20);
  std::vector<std::string> eal = {"traboule-bench",
                                  "-l",
                                  "0",
                                  "--no-pci",
                                  "--file-prefix",
                                  prefix,
                                  "--log-level",
                                  "*:warning",
                                  "--vdev",
                                  "net_null0,no-rx=1",
                                  "-m",
                                  std::to_string(mem_mb)};
  if (!opt.huge) {
    eal.push_back("--no-huge");
    eal.push_back("--no-shconf");
  } else {
    eal.push_back("--huge-unlink");
  }
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::cerr << "traboule-bench: EAL init failed: " << rte_strerror(rte_errno)
              << (opt.huge ? " (are hugepages reserved? see bench/RESULTS.md)" : "") << "\n";
    return 1;
  }
  int rc = 0;
  {
    Bench b;
    b.opt = opt;
    b.pool = dp::make_packet_pool("bench_pool", 8191, 0);
    b.rx_ring = rte_ring_create("bench_rx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (b.pool == nullptr || b.rx_ring == nullptr) {
      std::cerr << "traboule-bench: cannot allocate pool/ring: " << rte_strerror(rte_errno) << "\n";
      return 1;
    }
    int ring_port = rte_eth_from_ring(b.rx_ring);
    if (ring_port < 0 || rte_eth_dev_get_port_by_name("net_null0", &b.tx_port) != 0) {
      std::cerr << "traboule-bench: cannot create ports\n";
      return 1;
    }
    b.rx_port = static_cast<uint16_t>(ring_port);
    for (uint16_t port : {b.rx_port, b.tx_port}) {
      rte_eth_conf conf{};
      if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
          rte_eth_rx_queue_setup(port, 0, 1024, 0, nullptr, b.pool) != 0 ||
          rte_eth_tx_queue_setup(port, 0, 1024, 0, nullptr) != 0 || rte_eth_dev_start(port) != 0) {
        std::cerr << "traboule-bench: cannot start port " << port << "\n";
        return 1;
      }
    }

    // The site: LAN on the ring port, one uplink on the null port with a static gateway.
    dp::Site site;
    auto lan = std::make_unique<dp::Interface>();
    lan->name = "lan";
    lan->is_lan = true;
    lan->port_id = b.rx_port;
    lan->mac = kLanMac;
    lan->v4 = dp::IfAddr{*dp::IpAddr::parse("192.168.0.1"), 16};
    lan->neighbors = std::make_unique<dp::NeighborTable>(1024);
    auto up = std::make_unique<dp::Interface>();
    up->name = "fiber";
    up->uplink = 0;
    up->port_id = b.tx_port;
    up->mac = kUplinkMac;
    up->v4 = dp::IfAddr{*dp::IpAddr::parse("100.64.0.2"), 30};
    up->gw4 = *dp::IpAddr::parse("100.64.0.1");
    up->neighbors = std::make_unique<dp::NeighborTable>(1024);
    up->neighbors->set_static(*up->gw4, kGatewayMac);
    up->link_up = true;
    lan->link_up = true;
    site.by_port[b.rx_port] = lan.get();
    site.by_port[b.tx_port] = up.get();
    site.lan = lan.get();
    site.uplinks.push_back(up.get());
    site.lan_prefixes.push_back(*dp::IpPrefix::parse("192.168.0.0/16"));
    site.ifaces.push_back(std::move(lan));
    site.ifaces.push_back(std::move(up));
    site.flows.capacity = capacity;

    const uint64_t heap_before = [] {
      rte_malloc_socket_stats s{};
      rte_malloc_get_socket_stats(0, &s);
      return s.heap_allocsz_bytes;
    }();
    dp::FlowTable flows(capacity, site.flows.timeouts, 0);
    std::array<bool, dp::kMaxPorts> ready{};
    ready[b.rx_port] = ready[b.tx_port] = true;
    // One default rule to the uplink, as the daemon's built-in default policy would have it.
    auto policy = std::make_shared<dp::PolicySnapshot>();
    policy->uplinks = {{.name = "wan"}};
    policy->rules.push_back({.name = "default", .match = {}, .action = {.uplinks = {0}}});
    policy->prepare_hits();
    dp::WorkerView view{policy.get(), 1};
    // The probe stage as the daemon wires it on an edge's worker 0 (reflector, sessions, rings):
    // every IP packet crosses it.
    dp::SharedTscClock clock;
    clock.store(dp::TscClock::anchor(rte_rdtsc(), 1'700'000'000'000'000'000ull, rte_get_tsc_hz()));
    dp::StampSessionTable sessions(40000);
    rte_ring* results = dp::make_stamp_result_ring("tbb_stamp_res", 1024, 0);
    rte_ring* requests = dp::make_stamp_request_ring("tbb_stamp_req", 256, 0);
    if (results == nullptr || requests == nullptr) {
      std::fprintf(stderr, "traboule-bench: cannot create the STAMP rings\n");
      return 1;
    }
    struct RingGuard {  // declared before the pipeline: freed after it
      rte_ring* a;
      rte_ring* b;
      ~RingGuard() {
        rte_ring_free(a);
        rte_ring_free(b);
      }
    } ring_guard{results, requests};
    // The overlay as an edge's daemon wires it (site 1, a hub beyond the uplink's gateway), and
    // for "esp" the SA a control session would install (a fixed key: a benchmark).
    dp::OverlaySites overlay_sites;
    std::unique_ptr<dp::CryptoDevice> crypto;
    std::unique_ptr<dp::EspSas> sas;
    if (opt.overlay != "off") {
      policy->peers = {{"hub", {*dp::IpAddr::parse("198.51.100.1")}, 4500}};
      policy->prepare_hits();
    }
    if (opt.overlay == "esp") {
      std::string error;
      crypto = dp::CryptoDevice::open("crypto_aesni_gcm_bench", 16, error);
      if (crypto) sas = std::make_unique<dp::EspSas>(*crypto, nullptr);
      dp::EspKey key;
      for (unsigned i = 0; i < key.key.size(); ++i) key.key[i] = static_cast<uint8_t>(i * 7);
      key.salt = 0x01020304;
      if (!sas || !sas->set_outbound(0, 0, 0x00010001, key, error)) {
        std::cerr << "traboule-bench: " << error << "\n";
        return 1;
      }
    }
    dp::WorkerDeps deps{0, &site, &flows, b.pool, {nullptr}, ready};
    if (opt.overlay != "off") {
      deps.overlay = {.port = 4500, .site_id = 1, .encrypt = opt.overlay == "esp"};
      deps.sites = &overlay_sites;
      deps.esp = sas.get();
    }
    deps.probe = {&clock, &sessions, results, requests, b.pool};
    deps.classify_slots = opt.classify_slots;
    deps.names_cache = opt.names_cache;
    deps.firewall = opt.firewall;
    auto pipeline = dp::make_worker_pipeline(std::move(deps));
    const uint16_t parse = pipeline->node_index("parse");

    // Warm-up sequence: every flow once (creates them), then a random order over the flows.
    std::vector<uint32_t> warm(opt.flows);
    for (uint32_t i = 0; i < opt.flows; ++i) warm[i] = i;
    b.sequence.resize(std::max<size_t>(opt.flows, 1u << 22));
    rte_srand(42);
    for (auto& s : b.sequence) s = static_cast<uint32_t>(rte_rand_max(opt.flows));

    auto io_forward = [&](rte_mbuf** pkts, uint16_t n) {
      uint16_t sent = rte_eth_tx_burst(b.tx_port, 0, pkts, n);
      if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    };
    // As the worker does: one context per burst, its time read once.
    dp::BurstContext ctx{.view = &view};
    auto full = [&](rte_mbuf** pkts, uint16_t n) {
      dp::mark_rx(pkts, n, b.rx_port, true);
      ctx.now_tsc = rte_rdtsc();
      pipeline->run(parse, pkts, n, ctx);
    };
    // Create every flow first (not timed), so the measurement is the steady state.
    {
      std::swap(b.sequence, warm);
      b.run(opt.flows, full);
      std::swap(b.sequence, warm);
    }
    const uint64_t heap_after = [] {
      rte_malloc_socket_stats s{};
      rte_malloc_get_socket_stats(0, &s);
      return s.heap_allocsz_bytes;
    }();
    // Alternate the two loops so both see the same neighbours; keep the median run of each.
    std::vector<Result> bases, pipes;
    for (unsigned r = 0; r < std::max(1u, opt.runs); ++r) {
      bases.push_back(b.run(opt.packets, io_forward));
      pipes.push_back(b.run(opt.packets, full));
    }
    auto by_cost = [](const Result& x, const Result& y) { return x.median_burst < y.median_burst; };
    std::sort(bases.begin(), bases.end(), by_cost);
    std::sort(pipes.begin(), pipes.end(), by_cost);
    const Result& base = bases[bases.size() / 2];
    const Result& pipe = pipes[pipes.size() / 2];
    const double pipe_min = pipes.front().cycles_per_packet(),
                 pipe_max = pipes.back().cycles_per_packet();

    std::vector<dp::Pipeline::StageProfile> stages;
    if (opt.per_stage) {
      pipeline->set_profiling(true);
      b.run(opt.packets, full);
      pipeline->set_profiling(false);
      stages = pipeline->profile();
    }
    std::vector<dp::CounterValue> counters;
    pipeline->collect(counters);
    const uint64_t drops = pipeline->total_drops();
    const uint64_t hz = rte_get_tsc_hz();
    const double per_flow = double(flows.memory_bytes()) / double(capacity);
    if (opt.json) {
      std::printf(
          "{\"overlay\": \"%s\", \"flows\": %u, \"flow_capacity\": %u, \"active_flows\": %zu, "
          "\"packets\": %" PRIu64 ", \"burst\": %u, \"hugepages\": %s, \"tsc_hz\": %" PRIu64
          ", \"io_forward\": {\"mpps\": %.3f, \"cycles_per_packet\": %.1f}, "
          "\"pipeline\": {\"mpps\": %.3f, \"cycles_per_packet\": %.1f, \"p90_cycles_per_packet\": "
          "%.1f, "
          "\"min_run_cycles_per_packet\": %.1f, \"max_run_cycles_per_packet\": %.1f}, \"runs\": "
          "%u, \"ratio\": %.3f, "
          "\"pipeline_only_cycles_per_packet\": %.1f, \"memory_per_flow_bytes\": %.1f, "
          "\"heap_bytes_for_flows\": %" PRIu64 ", \"pipeline_drops\": %" PRIu64
          ", \"slow_bursts_share\": %.4f",
          opt.overlay.c_str(), opt.flows, capacity, static_cast<size_t>(flows.size()), opt.packets,
          opt.burst, opt.huge ? "true" : "false", hz, base.mpps(hz), base.cycles_per_packet(),
          pipe.mpps(hz), pipe.cycles_per_packet(), pipe.p90_cycles_per_packet(), pipe_min, pipe_max,
          opt.runs, pipe.cycles_per_packet() / base.cycles_per_packet(),
          pipe.cycles_per_packet() - base.cycles_per_packet(), per_flow, heap_after - heap_before,
          drops, std::max(base.slow_share, pipe.slow_share));
      if (!stages.empty()) {
        std::printf(", \"stages\": {");
        for (size_t i = 0; i < stages.size(); ++i)
          std::printf(
              "%s\"%s\": %.1f", i ? ", " : "", stages[i].name.c_str(),
              stages[i].packets ? double(stages[i].cycles) / double(stages[i].packets) : 0.0);
        std::printf("}");
      }
      std::printf("}\n");
    } else {
      std::printf("traboule-bench: %u flows (table %u), %u x %" PRIu64
                  " packets per loop, burst %u, overlay %s, %s, TSC %.2f GHz\n",
                  opt.flows, capacity, opt.runs, opt.packets, opt.burst, opt.overlay.c_str(),
                  opt.huge ? "hugepages" : "no hugepages", double(hz) / 1e9);
      std::printf("  io-forward  %8.3f Mpps  %7.1f cycles/packet\n", base.mpps(hz),
                  base.cycles_per_packet());
      std::printf(
          "  pipeline    %8.3f Mpps  %7.1f cycles/packet (p90 burst %.1f; runs %.1f .. %.1f)\n",
          pipe.mpps(hz), pipe.cycles_per_packet(), pipe.p90_cycles_per_packet(), pipe_min,
          pipe_max);
      std::printf("  ratio pipeline/io-forward %.2f; pipeline alone %.1f cycles/packet\n",
                  pipe.cycles_per_packet() / base.cycles_per_packet(),
                  pipe.cycles_per_packet() - base.cycles_per_packet());
      std::printf("  memory per flow %.1f bytes (flow table %.1f MiB); pipeline drops %" PRIu64
                  "\n",
                  per_flow, double(flows.memory_bytes()) / (1 << 20), drops);
      for (auto& c : counters)
        if (c.name.rfind("classify.", 0) == 0 && c.name.find("memory") == std::string::npos &&
            c.value != 0)
          std::printf("  %s %" PRIu64 "\n", c.name.c_str(), c.value);
      std::printf(
          "  (median burst; %.2f%% of bursts were >10x slower: preemption on a shared machine)\n",
          100 * std::max(base.slow_share, pipe.slow_share));
      if (!stages.empty()) {
        std::printf(
            "  per stage (mean cycles per packet that reached it, includes preempted bursts):\n");
        for (auto& st : stages)
          std::printf("    %-10s %7.1f\n", st.name.c_str(),
                      st.packets ? double(st.cycles) / double(st.packets) : 0.0);
      }
    }
    if (drops != 0) {
      std::fprintf(stderr,
                   "traboule-bench: the pipeline dropped %" PRIu64
                   " packets: the figures are not valid\n",
                   drops);
      for (auto& c : counters)
        if (c.value != 0) std::fprintf(stderr, "  %s %" PRIu64 "\n", c.name.c_str(), c.value);
      rc = 1;
    }
    pipeline.reset();
    rte_eth_dev_stop(b.rx_port);
    rte_eth_dev_stop(b.tx_port);
    rte_eth_dev_close(b.rx_port);
    rte_eth_dev_close(b.tx_port);
  }
  rte_eal_cleanup();
  std::error_code ec;  // EAL leaves its runtime directory behind
  std::filesystem::remove_all("/var/run/dpdk/" + prefix, ec);
  return rc;
}

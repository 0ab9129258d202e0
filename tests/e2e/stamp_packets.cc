// SPDX-License-Identifier: Apache-2.0
// STAMP packets made by our own code, for tests/e2e/stamp_decode_test.py to decode with scapy's
// STAMP layer (an independent decoder), and our reflector run over packets scapy made:
//   stamp_packets write DIR       DIR/sender.pcap: probes built by the probe stage (IPv4, IPv6,
//                                 padded); DIR/reflected.pcap: our reflector's answers to them;
//                                 DIR/expect.json: every field as our code encoded and decoded it
//   stamp_packets reflect IN OUT  each frame of IN through parse and the probe stage (reflector,
//                                 stateful) of an uplink 203.0.113.2 / 2001:db8:ff::2 with MAC
//                                 02:00:00:00:00:20; answers to OUT, one JSON verdict a line
#include <rte_cycles.h>
#include <rte_ring_elem.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/model/stamp_clock.h"
#include "dataplane/model/stamp_ring.h"
#include "dataplane/model/stamp_sessions.h"
#include "dataplane/proto/stamp.h"
#include "dataplane/stages/parse.h"
#include "dataplane/stages/probe.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/pcap_file.h"
#include "tests/testing/stage_harness.h"

namespace {

using traboule::dp::ErrorEstimate;
using traboule::dp::Interface;
using traboule::dp::IpAddr;
using traboule::dp::ProbeStage;
using traboule::dp::Site;
using traboule::dp::StampRecord;
using traboule::dp::StampRecordKind;
using traboule::dp::StampRequest;
using traboule::testing::Frame;
using traboule::testing::read_pcap;
using traboule::testing::StageHarness;
using traboule::testing::write_pcap;
using Bytes = std::vector<uint8_t>;

constexpr uint16_t kPort = 1;
constexpr uint16_t kSenderBase = 40000;

// --- a box

std::unique_ptr<Interface> iface(const char* mac, const char* v4, const char* v6) {
  auto ifc = std::make_unique<Interface>();
  ifc->name = "fiber";
  ifc->port_id = kPort;
  ifc->uplink = 0;
  ifc->mac = traboule::testing::mac(mac);
  ifc->v4 = traboule::dp::IfAddr{*IpAddr::parse(v4), 24};
  ifc->v6 = traboule::dp::IfAddr{*IpAddr::parse(v6), 64};
  ifc->v6_link_local = traboule::dp::link_local_from_mac(ifc->mac);
  ifc->neighbors = std::make_unique<traboule::dp::NeighborTable>(64);
  ifc->link_up.store(true);
  return ifc;
}

std::unique_ptr<Site> site_with(std::unique_ptr<Interface> ifc) {
  auto s = std::make_unique<Site>();
  s->uplinks.push_back(ifc.get());
  s->by_port[kPort] = ifc.get();
  s->ifaces.push_back(std::move(ifc));
  return s;
}

uint64_t unix_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

bool parse(rte_mbuf* m) {
  static traboule::dp::ParseStage ps;
  traboule::dp::Burst edges[3];
  traboule::dp::Burst* ptrs[3] = {&edges[0], &edges[1], &edges[2]};
  uint64_t counts[3] = {};
  traboule::dp::Burst drops;
  uint64_t dcounts[traboule::dp::ParseStage::kDrops.size()] = {};
  uint64_t overflow = 0;
  traboule::dp::Output o;
  o.wire(0, ptrs, counts, &drops, dcounts, &overflow, nullptr);
  ps.process(&m, 1, traboule::dp::BurstContext{}, o);
  if (drops.n != 0) {
    rte_pktmbuf_free(drops.pkts[0]);
    return false;
  }
  return true;
}

// Runs one frame through parse and `h`'s stage; the verdict, and the frame when it left on an
// edge.
std::string run_one(StageHarness& h, const Bytes& frame, Bytes* out) {
  rte_mbuf* m = traboule::testing::to_mbuf(traboule::testing::test_pool(), Frame{frame}, kPort);
  if (m == nullptr) return "no_mbuf";
  if (!parse(m)) return "parse_drop";
  auto v = h.run({m});
  if (v.size() != 1) return "lost";
  if (v[0].pkt != nullptr) *out = traboule::testing::from_mbuf(v[0].pkt);
  return v[0].where;
}

int cmd_write(const std::string& dir) {
  auto us = site_with(iface("02:00:00:00:00:20", "203.0.113.2", "2001:db8:ff::2"));
  us->uplinks[0]->gw4 = *IpAddr::parse("203.0.113.1");
  us->uplinks[0]->gw6 = *IpAddr::parse("fe80::1");
  us->uplinks[0]->neighbors->set_static(*IpAddr::parse("203.0.113.1"),
                                        traboule::testing::mac("02:00:00:00:00:ee"));
  us->uplinks[0]->neighbors->set_static(*IpAddr::parse("fe80::1"),
                                        traboule::testing::mac("02:00:00:00:00:ee"));
  auto far = site_with(iface("02:00:00:00:00:ee", "198.51.100.7", "2001:db8:99::7"));

  traboule::dp::SharedTscClock our_clock, far_clock;
  our_clock.store(traboule::dp::TscClock::anchor(rte_rdtsc(), unix_now_ns(), rte_get_tsc_hz(),
                                                 ErrorEstimate::from_seconds(0.001, true)));
  far_clock.store(traboule::dp::TscClock::anchor(rte_rdtsc(), unix_now_ns(), rte_get_tsc_hz(),
                                                 ErrorEstimate::from_seconds(0.01, false)));
  traboule::dp::StampSessionTable sessions(kSenderBase);
  const struct {
    const char* remote;
    uint16_t length;
    uint8_t dscp;
    uint16_t ssid;
    uint32_t seq;
  } probes[] = {
      {"198.51.100.7", 44, 0, 1, 1000},
      {"2001:db8:99::7", 44, 46, 2, 0xfffffffe},
      {"198.51.100.7", 120, 46, 0x0203, 7},
  };
  rte_ring* results = traboule::dp::make_stamp_result_ring("e2e_res", 64, 0);
  rte_ring* requests = traboule::dp::make_stamp_request_ring("e2e_req", 64, 0);
  if (results == nullptr || requests == nullptr) {
    std::fprintf(stderr, "cannot create the rings\n");
    return 1;
  }
  ProbeStage sender(*us, {},
                    {&our_clock, &sessions, results, requests, traboule::testing::test_pool()});
  ProbeStage reflector(*far, {}, {&far_clock});
  StageHarness sh(sender), rh(reflector);

  std::vector<Bytes> sent, reflected;
  std::string json = "{\"probes\": [";
  for (size_t i = 0; i < std::size(probes); ++i) {
    const auto& p = probes[i];
    auto err = sessions.set(static_cast<uint16_t>(i), {0, *IpAddr::parse(p.remote), 862});
    if (err) {
      std::fprintf(stderr, "%s\n", err->c_str());
      return 1;
    }
    StampRequest rq;
    rq.session = static_cast<uint16_t>(i);
    rq.seq = p.seq;
    rq.length = p.length;
    rq.dscp = p.dscp;
    rq.ssid = p.ssid;
    rte_ring_enqueue_elem(requests, &rq, sizeof rq);
    auto v = sh.idle(rte_rdtsc());
    if (v.size() != 1 || v[0].pkt == nullptr) {
      std::fprintf(stderr, "probe %zu not built\n", i);
      return 1;
    }
    Bytes probe = traboule::testing::from_mbuf(v[0].pkt);
    StampRecord rec;
    if (rte_ring_dequeue_elem(results, &rec, sizeof rec) != 0 ||
        rec.kind != StampRecordKind::kSent) {
      std::fprintf(stderr, "no sent record for probe %zu\n", i);
      return 1;
    }
    Bytes answer;
    std::string verdict = run_one(rh, probe, &answer);
    if (verdict != "edge:reply") {
      std::fprintf(stderr, "probe %zu: reflector said %s\n", i, verdict.c_str());
      return 1;
    }
    Bytes unused;
    verdict = run_one(sh, answer, &unused);
    StampRecord back;
    if (verdict != "edge:consumed" || rte_ring_dequeue_elem(results, &back, sizeof back) != 0) {
      std::fprintf(stderr, "probe %zu: our stage said %s to the answer\n", i, verdict.c_str());
      return 1;
    }
    sent.push_back(probe);
    reflected.push_back(answer);
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "%s{\"seq\": %u, \"t1\": %" PRIu64
                  ", \"error\": %u, \"ssid\": %u, \"dscp\": %u, \"length\": %u, \"sport\": %u,"
                  " \"remote\": \"%s\", \"reply\": {\"reflector_seq\": %u, \"t1\": %" PRIu64
                  ", \"t2\": %" PRIu64 ", \"t3\": %" PRIu64 ", \"t4\": %" PRIu64
                  ", \"reflector_error\": %u, \"sender_error\": %u, \"sender_ttl\": %u,"
                  " \"ssid\": %u, \"length\": %u}}",
                  i == 0 ? "" : ", ", rec.seq, rec.t1, rec.sender_error, rec.ssid, p.dscp,
                  rec.length, kSenderBase + static_cast<unsigned>(i), p.remote, back.reflector_seq,
                  back.t1, back.t2, back.t3, back.t4, back.reflector_error, back.sender_error,
                  back.sender_ttl, back.ssid, back.length);
    json += buf;
  }
  json += "]}\n";
  rte_ring_free(results);
  rte_ring_free(requests);
  if (!write_pcap(dir + "/sender.pcap", sent, 10) ||
      !write_pcap(dir + "/reflected.pcap", reflected, 10))
    return 1;
  FILE* f = std::fopen((dir + "/expect.json").c_str(), "w");
  if (f == nullptr) return 1;
  std::fputs(json.c_str(), f);
  return std::fclose(f) == 0 ? 0 : 1;
}

int cmd_reflect(const std::string& in, const std::string& out) {
  std::vector<Bytes> frames;
  if (!read_pcap(in, &frames)) return 1;
  auto us = site_with(iface("02:00:00:00:00:20", "203.0.113.2", "2001:db8:ff::2"));
  traboule::dp::SharedTscClock clock;
  clock.store(traboule::dp::TscClock::anchor(rte_rdtsc(), unix_now_ns(), rte_get_tsc_hz(),
                                             ErrorEstimate::from_seconds(0.001, true)));
  ProbeStage reflector(*us, {}, {&clock});
  StageHarness h(reflector);
  std::vector<Bytes> answers;
  for (const Bytes& f : frames) {
    Bytes answer;
    std::string verdict = run_one(h, f, &answer);
    std::printf("{\"verdict\": \"%s\"}\n", verdict.c_str());
    if (verdict == "edge:reply") answers.push_back(answer);
  }
  return write_pcap(out, answers, 10) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (!((cmd == "write" && argc == 3) || (cmd == "reflect" && argc == 4))) {
    std::fprintf(stderr, "usage: %s write DIR | reflect IN.pcap OUT.pcap\n", argv[0]);
    return 2;
  }
  traboule::testing::init_test_eal();
  int rc = cmd == "write" ? cmd_write(argv[2]) : cmd_reflect(argv[2], argv[3]);
  traboule::testing::cleanup_test_eal();
  return rc;
}

// SPDX-License-Identifier: Apache-2.0
// Application recognition: real protocol exchanges (DNS, HTTP, TLS with SNI, QUIC Initial,
// SIP, RTP) crafted with PacketBuilder and fed to the nDPI Classifier and the classify stage;
// the nDPI → catalog table checked against nDPI 4.2 and app_catalog.cc; hostile rows
// (truncated IP, empty payloads, slot exhaustion, release, give-up, id reuse).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/graph/mbuf_parse.h"
#include "dataplane/model/app_ids.h"
#include "dataplane/select/classifier.h"
#include "dataplane/stages/classify.h"
#include "dataplane/stages/flow.h"
#include "dataplane/stages/parse.h"
#include "dataplane/tables/flow_table.h"
#include "tests/testing/app_messages.h"
#include "tests/testing/eal_env.h"
#include "tests/testing/packet_builder.h"
#include "tests/testing/stage_harness.h"

namespace traboule::dp {
namespace {

using traboule::testing::Frame;
using traboule::testing::PacketBuilder;
namespace tcpf = traboule::testing::tcpf;
using Bytes = std::vector<uint8_t>;
using testing::append;
using testing::client_hello;
using testing::dns_message;
using testing::quic_initial;
using testing::rtp;
using testing::sip_invite;
using testing::tls_record;

constexpr const char* kClient = "192.168.10.10";

struct Pkt {
  Frame frame;
  bool from_originator = true;
};

Frame udp(std::string_view src, std::string_view dst, uint16_t sport, uint16_t dport,
          const Bytes& payload) {
  return PacketBuilder().eth().ipv4(src, dst).udp(sport, dport).payload(payload).build();
}
Frame tcp(std::string_view src, std::string_view dst, uint16_t sport, uint16_t dport, uint8_t flags,
          uint32_t seq, uint32_t ack, const Bytes& payload = {}) {
  PacketBuilder b;
  b.eth().ipv4(src, dst).tcp(sport, dport, flags, seq, ack);
  if (!payload.empty()) b.payload(payload);
  return b.build();
}

// Client handshake with `server:port`, then the client's first data segment, then the
// server's acknowledgement.
std::vector<Pkt> tcp_session(std::string_view server, uint16_t port, const Bytes& data) {
  const uint32_t c = 1000, s = 5000;
  const uint16_t cp = 50123;
  std::vector<Pkt> v;
  v.push_back({tcp(kClient, server, cp, port, tcpf::kSyn, c, 0), true});
  v.push_back({tcp(server, kClient, port, cp, tcpf::kSyn | tcpf::kAck, s, c + 1), false});
  v.push_back({tcp(kClient, server, cp, port, tcpf::kAck, c + 1, s + 1), true});
  v.push_back({tcp(kClient, server, cp, port, tcpf::kAck | tcpf::kPsh, c + 1, s + 1, data), true});
  v.push_back({tcp(server, kClient, port, cp, tcpf::kAck, s + 1,
                   c + 1 + static_cast<uint32_t>(data.size())),
               false});
  return v;
}

// Feeds the exchange until a final verdict; `used` says how many packets that took.
AppVerdict run(Classifier& c, uint32_t flow_id, const std::vector<Pkt>& pkts, size_t* used,
               uint64_t t0_ms = 1000) {
  AppVerdict v;
  for (size_t i = 0; i < pkts.size(); ++i) {
    const Frame& f = pkts[i].frame;
    v = c.feed(flow_id, f.bytes.data() + f.l3_off, static_cast<uint16_t>(f.bytes.size() - f.l3_off),
               t0_ms + i, pkts[i].from_originator);
    if (v.final()) {
      *used = i + 1;
      return v;
    }
  }
  *used = pkts.size();
  return v;
}

struct ExchangeRow {
  const char* what;
  std::vector<Pkt> pkts;
  AppVerdict::State state;
  std::string master;
  std::string app;
  std::string category;
  std::string catalog;  // the catalog name the verdict maps to ("" for none)
  size_t max_packets;   // decided within this many packets
};

std::vector<ExchangeRow> exchanges() {
  std::vector<ExchangeRow> rows;
  const auto dns_pair = [](std::string_view name) {
    return std::vector<Pkt>{{udp(kClient, "9.9.9.9", 41000, 53, dns_message(name, false)), true},
                            {udp("9.9.9.9", kClient, 53, 41000, dns_message(name, true)), false}};
  };
  rows.push_back({"dns query+answer", dns_pair("www.example.org"), AppVerdict::State::kClassified,
                  "Unknown", "DNS", "Network", "dns", 2});
  rows.push_back({"dns for a Teams name stays dns", dns_pair("teams.microsoft.com"),
                  AppVerdict::State::kClassified, "DNS", "Teams", "Collaborative", "dns", 2});
  Bytes get;
  append(get,
         "GET /index.html HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: curl/7.88.1\r\n"
         "Accept: */*\r\n\r\n");
  rows.push_back({"http get with host", tcp_session("93.184.216.34", 80, get),
                  AppVerdict::State::kClassified, "Unknown", "HTTP", "Web", "http", 5});
  rows.push_back({"tls sni teams.microsoft.com",
                  tcp_session("52.112.0.10", 443, tls_record(client_hello("teams.microsoft.com"))),
                  AppVerdict::State::kClassified, "TLS", "Teams", "Collaborative", "teams", 4});
  rows.push_back({"tls sni www.youtube.com",
                  tcp_session("203.0.113.80", 443, tls_record(client_hello("www.youtube.com"))),
                  AppVerdict::State::kClassified, "TLS", "YouTube", "Media", "youtube", 4});
  rows.push_back(
      {"tls sni outlook.office365.com",
       tcp_session("203.0.113.81", 443, tls_record(client_hello("outlook.office365.com"))),
       AppVerdict::State::kClassified, "TLS", "Microsoft365", "Collaborative", "microsoft365", 4});
  rows.push_back(
      {"quic initial sni www.youtube.com",
       {{udp(kClient, "203.0.113.90", 52000, 443, quic_initial(client_hello("www.youtube.com"))),
         true}},
       AppVerdict::State::kClassified,
       "QUIC",
       "YouTube",
       "Media",
       "youtube",
       1});
  rows.push_back({"sip invite udp 5060",
                  {{udp(kClient, "203.0.113.5", 5060, 5060, sip_invite()), true}},
                  AppVerdict::State::kClassified,
                  "Unknown",
                  "SIP",
                  "VoIP",
                  "sip",
                  1});
  std::vector<Pkt> media;
  for (uint16_t i = 0; i < 6; ++i) {
    media.push_back({udp(kClient, "203.0.113.5", 40000, 30000, rtp(100 + i, 0x11223344)), true});
    media.push_back({udp("203.0.113.5", kClient, 30000, 40000, rtp(700 + i, 0x55667788)), false});
  }
  rows.push_back({"rtp both ways", media, AppVerdict::State::kClassified, "Unknown", "RTP", "Media",
                  "rtp", 12});
  return rows;
}

TEST(ClassifierExchanges, RecognisesRealProtocols) {
  Classifier c(64);
  uint32_t id = 0;
  for (const auto& row : exchanges()) {
    SCOPED_TRACE(row.what);
    size_t used = 0;
    const AppVerdict v = run(c, ++id, row.pkts, &used);
    EXPECT_EQ(v.state, row.state) << v.master_name << "." << v.app_name;
    EXPECT_EQ(std::string(v.master_name), row.master);
    EXPECT_EQ(std::string(v.app_name), row.app);
    EXPECT_EQ(std::string(v.category_name), row.category);
    EXPECT_FALSE(v.by_port);
    const std::string_view catalog =
        v.app_row == kNoAppRow ? "" : kNdpiApps[static_cast<size_t>(v.app_row)].app;
    EXPECT_EQ(catalog, row.catalog);
    EXPECT_LE(used, row.max_packets);
    EXPECT_FALSE(c.classifying(id)) << "a final verdict frees the slot";
  }
  const auto s = c.stats();
  EXPECT_EQ(s.classified, exchanges().size());
  EXPECT_EQ(s.slots_in_use, 0u);
  EXPECT_GT(c.memory().ndpi_flow_heap_peak_bytes, 0);
  // nDPI creates some module caches on first use (the TLS certificate LRU, 8 KiB); past that,
  // every allocation made for a flow goes back with its slot: a second round leaves no more.
  const int64_t warm = c.memory().ndpi_flow_heap_bytes;
  EXPECT_LE(warm, 64 * 1024);
  for (const auto& row : exchanges()) {
    size_t used = 0;
    run(c, ++id, row.pkts, &used);
  }
  EXPECT_EQ(c.memory().ndpi_flow_heap_bytes, warm);
  EXPECT_EQ(c.stats().classified, 2 * exchanges().size());
}

// The answer alone (the query was not seen: the flow began mid-exchange) is still DNS.
TEST(ClassifierExchanges, DirectionFromCallerNotAddresses) {
  Classifier c(4);
  const Frame f = udp("9.9.9.9", kClient, 53, 41000, dns_message("www.example.org", true));
  const AppVerdict v = c.feed(7, f.bytes.data() + f.l3_off,
                              static_cast<uint16_t>(f.bytes.size() - f.l3_off), 5, false);
  EXPECT_EQ(v.state, AppVerdict::State::kClassified);
  EXPECT_EQ(std::string(v.app_name), "DNS");
}

struct HostileRow {
  const char* what;
  Bytes l3;  // what feed() is given
  AppVerdict::State state;
};

TEST(ClassifierHostile, RefusesOrWaitsNeverCrashes) {
  const Frame ok = udp(kClient, "9.9.9.9", 41000, 53, dns_message("a.example", false));
  const Bytes l3(ok.bytes.begin() + static_cast<long>(ok.l3_off), ok.bytes.end());
  auto edit = [&l3](size_t off, uint8_t v) {
    Bytes b = l3;
    b.at(off) = v;
    return b;
  };
  const Frame empty_udp = udp(kClient, "9.9.9.9", 41000, 5555, {});
  const Frame empty_tcp = tcp(kClient, "9.9.9.9", 41000, 443, tcpf::kAck, 1, 1);
  const Frame v6 = PacketBuilder().eth().ipv6("fd00:10::10", "2001:db8::1").udp(1, 2).build();
  std::vector<HostileRow> rows = {
      {"empty", {}, AppVerdict::State::kBadPacket},
      {"truncated ip header", Bytes(l3.begin(), l3.begin() + 10), AppVerdict::State::kBadPacket},
      {"ihl beyond the buffer", edit(0, 0x4f), AppVerdict::State::kBadPacket},
      {"ihl below 5", edit(0, 0x44), AppVerdict::State::kBadPacket},
      {"total length below header", edit(3, 8), AppVerdict::State::kBadPacket},
      {"not ip (version 5)", edit(0, 0x55), AppVerdict::State::kBadPacket},
      {"truncated ipv6",
       Bytes(v6.bytes.begin() + static_cast<long>(v6.l3_off),
             v6.bytes.begin() + static_cast<long>(v6.l3_off) + 30),
       AppVerdict::State::kBadPacket},
      {"total length beyond buffer (truncated capture)", edit(2, 0x40),
       AppVerdict::State::kBadPacket},
      {"cut after the udp header", Bytes(l3.begin(), l3.begin() + 28),
       AppVerdict::State::kBadPacket},
      {"zero-length udp payload",
       Bytes(empty_udp.bytes.begin() + static_cast<long>(empty_udp.l3_off), empty_udp.bytes.end()),
       AppVerdict::State::kPending},
      {"zero-length tcp payload",
       Bytes(empty_tcp.bytes.begin() + static_cast<long>(empty_tcp.l3_off), empty_tcp.bytes.end()),
       AppVerdict::State::kPending},
  };
  Classifier c(8);
  uint32_t id = 100;
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    const AppVerdict v = c.feed(++id, row.l3.empty() ? nullptr : row.l3.data(),
                                static_cast<uint16_t>(row.l3.size()), 1000, true);
    EXPECT_EQ(v.state, row.state);
    c.release(id);
  }
  EXPECT_EQ(c.stats().bad_packets, 9u);
  EXPECT_EQ(c.stats().slots_in_use, 0u);
  // kNoFlow is not a flow.
  EXPECT_EQ(c.feed(kNoFlow, l3.data(), static_cast<uint16_t>(l3.size()), 1, true).state,
            AppVerdict::State::kBadPacket);
}

TEST(ClassifierHostile, ThousandFlowsRaceForSixtyFourSlots) {
  Classifier c(64);
  for (uint32_t i = 0; i < 1000; ++i) {
    const Frame f =
        tcp(kClient, "203.0.113.1", static_cast<uint16_t>(20000 + i), 443, tcpf::kSyn, i, 0);
    const AppVerdict v = c.feed(i, f.bytes.data() + f.l3_off,
                                static_cast<uint16_t>(f.bytes.size() - f.l3_off), 1000, true);
    EXPECT_EQ(v.state, i < 64 ? AppVerdict::State::kPending : AppVerdict::State::kNoSlot) << i;
  }
  auto s = c.stats();
  EXPECT_EQ(s.slots_in_use, 64u);
  EXPECT_EQ(s.slot_exhausted, 936u);
  EXPECT_EQ(s.packets, 64u);
  // Slots idle past kSlotIdleMs go to newcomers; busy ones are never taken.
  const Frame f = tcp(kClient, "203.0.113.2", 999, 443, tcpf::kSyn, 1, 0);
  const auto* l3 = f.bytes.data() + f.l3_off;
  const auto len = static_cast<uint16_t>(f.bytes.size() - f.l3_off);
  EXPECT_EQ(c.feed(5000, l3, len, 1000 + Classifier::kSlotIdleMs - 1, true).state,
            AppVerdict::State::kNoSlot);
  EXPECT_EQ(c.feed(5000, l3, len, 1000 + Classifier::kSlotIdleMs, true).state,
            AppVerdict::State::kPending);
  s = c.stats();
  EXPECT_EQ(s.reclaimed, 1u);
  EXPECT_EQ(s.slots_in_use, 64u);
  EXPECT_TRUE(c.classifying(5000));
  for (uint32_t i = 0; i < 1000; ++i) c.release(i);
  c.release(5000);
  EXPECT_EQ(c.stats().slots_in_use, 0u);
  EXPECT_EQ(c.memory().ndpi_flow_heap_bytes, 0);  // SYNs only: no lazy module caches
}

TEST(ClassifierHostile, ReleaseMidClassificationThenStartAfresh) {
  Classifier c(2);
  const auto tls = tcp_session("52.112.0.10", 443, tls_record(client_hello("teams.microsoft.com")));
  auto feed = [&c](uint32_t id, const Pkt& p) {
    const Frame& f = p.frame;
    return c.feed(id, f.bytes.data() + f.l3_off, static_cast<uint16_t>(f.bytes.size() - f.l3_off),
                  10, p.from_originator);
  };
  EXPECT_EQ(feed(1, tls[0]).state, AppVerdict::State::kPending);
  EXPECT_EQ(feed(1, tls[1]).state, AppVerdict::State::kPending);
  EXPECT_TRUE(c.classifying(1));
  c.release(1);
  c.release(1);   // twice: no-op
  c.release(42);  // never seen: no-op
  EXPECT_FALSE(c.classifying(1));
  EXPECT_EQ(c.stats().released, 1u);
  EXPECT_EQ(c.stats().slots_in_use, 0u);
  // The id is reused by a new flow: fresh nDPI state, and the new flow is recognised.
  size_t used = 0;
  const AppVerdict v = run(c, 1, tls, &used);
  EXPECT_EQ(std::string(v.app_name), "Teams");
}

TEST(ClassifierHostile, GivesUpAfterMaxPackets) {
  for (uint32_t max : {1u, 3u, Classifier::kDefaultMaxPackets}) {
    SCOPED_TRACE(max);
    Classifier c(4, max);
    std::vector<Pkt> noise;
    for (uint32_t i = 0; i < max + 2; ++i)
      noise.push_back({udp(kClient, "198.51.100.7", 47001, 47002, Bytes(64, 0x3c)), i % 2 == 0});
    size_t used = 0;
    const AppVerdict v = run(c, 9, noise, &used);
    EXPECT_EQ(v.state, AppVerdict::State::kGaveUp);
    EXPECT_EQ(used, max);
    EXPECT_EQ(v.app_row, kNoAppRow);
    EXPECT_EQ(c.stats().given_up, 1u);
    EXPECT_EQ(c.stats().slots_in_use, 0u);
  }
}

// A port guess at give-up (UDP 5355 "is" LLMNR) is reported but not mapped to an app.
TEST(ClassifierHostile, PortGuessAtGiveUpIsNotTrusted) {
  Classifier c(4, 2);
  std::vector<Pkt> pkts(2, Pkt{udp(kClient, "198.51.100.7", 47001, 1812, Bytes(40, 0xee)), true});
  size_t used = 0;
  const AppVerdict v = run(c, 3, pkts, &used);
  EXPECT_EQ(v.state, AppVerdict::State::kGaveUp);
  EXPECT_TRUE(v.by_port) << v.app_name;
  EXPECT_EQ(v.app_row, kNoAppRow);
}

TEST(ClassifierConfig, RejectsBadSizesByName) {
  auto what = [](uint32_t slots, uint32_t max) -> std::string {
    try {
      Classifier c(slots, max);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(what(0, 12).find("slots: 0"), std::string::npos);
  EXPECT_NE(what(70000, 12).find("slots: 70000"), std::string::npos);
  EXPECT_NE(what(8, 0).find("max_packets: 0"), std::string::npos);
  EXPECT_NE(what(8, 256).find("max_packets: 256"), std::string::npos);
}

TEST(ClassifierMemory, ReportsPerFlowCost) {
  Classifier c(16);
  const auto m = c.memory();
  EXPECT_GE(m.per_flow_state_bytes, 600u);  // sizeof(ndpi_flow_struct) is 688 in 4.2
  EXPECT_EQ(m.per_flow_state_bytes % 64, 0u);
  EXPECT_EQ(m.per_flow_after_bytes, 0u);
  EXPECT_GE(m.pool_bytes, 16 * m.per_flow_state_bytes);
  EXPECT_GT(m.module_heap_bytes, 1 << 20);
  EXPECT_GT(m.module_heap_allocs, 1000u);
}

// --- the nDPI → catalog table -----------------------------------------------------------------

std::set<std::string> catalog_names() {
  std::string here = __FILE__;
  const std::string root = here.substr(0, here.rfind("/tests/unit/"));
  std::ifstream in(root + "/controlplane/policy/app_catalog.cc");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::regex app(R"re(\{(\d+), "([a-z0-9-]+)", "([a-z-]+)", ")re");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), app); it != std::sregex_iterator();
       ++it)
    names.insert((*it)[2].str());
  return names;
}

TEST(ClassifierAppIds, TableMatchesNdpiAndCatalog) {
  Classifier c(1);
  std::set<std::string> ndpi;
  for (uint16_t id = 0; id < 400; ++id) ndpi.insert(c.proto_name(id));
  const auto catalog = catalog_names();
  ASSERT_EQ(catalog.size(), 69u) << "app_catalog.cc layout changed: update this reader";
  std::set<std::string_view> seen;
  for (const auto& row : kNdpiApps) {
    EXPECT_TRUE(ndpi.count(std::string(row.ndpi))) << row.ndpi << " is not an nDPI 4.2 name";
    EXPECT_TRUE(catalog.count(std::string(row.app))) << row.app << " is not a catalog name";
    EXPECT_TRUE(seen.insert(row.ndpi).second) << row.ndpi << " listed twice";
  }
  EXPECT_EQ(catalog_app_for("Teams"), "teams");
  EXPECT_EQ(catalog_app_for("Nope"), "");
  EXPECT_EQ(catalog_app_for(""), "");
}

TEST(ClassifierAppIds, ResolvesAgainstPolicyApps) {
  std::vector<AppDef> apps(4);
  apps[1] = {.name = "teams", .category = "video-conferencing", .id = 1};
  apps[2] = {.name = "dns", .category = "network-service", .id = 2};
  apps[3] = {.name = "https", .category = "web", .id = 3, .custom = true};  // custom: ignored
  const AppIdMap m = resolve_app_ids(apps);
  EXPECT_EQ(m.app_for(ndpi_app_row("Teams")), 1);
  EXPECT_EQ(m.app_for(ndpi_app_row("Skype_Teams")), 1);
  EXPECT_EQ(m.app_for(ndpi_app_row("DNS")), 2);
  EXPECT_EQ(m.app_for(ndpi_app_row("TLS")), kAppUnknown);
  EXPECT_EQ(m.app_for(ndpi_app_row("Zoom")), kAppUnknown);
  EXPECT_EQ(m.app_for(kNoAppRow), kAppUnknown);
  EXPECT_EQ(m.app_for(32000), kAppUnknown);
  EXPECT_EQ(resolve_app_ids({}).app_for(ndpi_app_row("Teams")), kAppUnknown);
}

// --- the classify stage -----------------------------------------------------------------------

struct StageRig {
  FlowTable flows{FlowTable::kMinCapacity, FlowTimeouts{}, SOCKET_ID_ANY};
  std::shared_ptr<PolicySnapshot> policy = std::make_shared<PolicySnapshot>();
  WorkerView view;
  ParseStage parse;
  FlowStage flow{flows};
  ClassifyStage classify;
  uint64_t now_tsc = 1;

  explicit StageRig(uint32_t slots = 64) : classify(flows, slots) {
    policy->apps.resize(20);
    policy->apps[14] = {.name = "dns", .category = "network-service", .id = 14};
    policy->apps[5] = {.name = "teams", .category = "video-conferencing", .id = 5};
    policy->apps[13] = {.name = "rtp", .category = "voip", .id = 13};
    view.policy = policy.get();
    view.policy_gen = 1;
  }
  // Parse + flow stages, then the classify stage; returns the packet's flow id.
  uint32_t send(const Pkt& p, testing::StageHarness& h) {
    rte_mbuf* m = testing::to_mbuf(testing::test_pool(), p.frame, 0);
    meta(m) = PacketMeta{};
    meta(m).in_port = 0;
    meta(m).flags = meta_flag::kFromLan;
    // Parse and flow run outside harnesses: a harness frees what it holds, so the packet must
    // belong to one harness only (handing one harness's output to another freed it twice and
    // corrupted the shared test pool for every later test).
    const unsigned pr = parse_mbuf(m);
    EXPECT_LT(pr, 2u) << "parse: " << pr;
    Burst next, drops;
    Burst* edges[1] = {&next};
    uint64_t edge_counts[1] = {}, drop_counts[FlowStage::kDrops.size()] = {}, overflow = 0;
    Trace trace;
    Output out;
    out.wire(0, edges, edge_counts, &drops, drop_counts, &overflow, &trace);
    rte_mbuf* pkts[1] = {m};
    flow.process(pkts, 1, BurstContext{.now_tsc = rte_rdtsc(), .view = &view}, out);
    EXPECT_EQ(next.n, 1u);
    EXPECT_EQ(drops.n, 0u);
    const uint32_t id = meta(m).flow_id;
    auto r3 = h.run({m});
    EXPECT_EQ(r3.at(0).where, "edge:next") << "classify never drops";
    return id;
  }
};

TEST(ClassifyStage, CachesPolicyAppIdInFlow) {
  StageRig rig;
  testing::StageHarness h(rig.classify, &rig.view);
  struct Row {
    const char* what;
    std::vector<Pkt> pkts;
    uint16_t app;
  };
  std::vector<Pkt> media;
  for (uint16_t i = 0; i < 6; ++i) {
    media.push_back({udp(kClient, "203.0.113.5", 40000, 30000, rtp(100 + i, 0x11223344)), true});
    media.push_back({udp("203.0.113.5", kClient, 30000, 40000, rtp(700 + i, 0x55667788)), false});
  }
  const std::vector<Row> rows = {
      {"teams over tls",
       tcp_session("52.112.0.10", 443, tls_record(client_hello("teams.microsoft.com"))), 5},
      {"dns", {{udp(kClient, "9.9.9.9", 41000, 53, dns_message("a.example", false)), true}}, 14},
      {"rtp", media, 13},
      {"youtube: not in this policy",
       tcp_session("203.0.113.80", 443, tls_record(client_hello("www.youtube.com"))), kAppUnknown},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    uint32_t id = kNoFlow;
    for (const auto& p : row.pkts) {
      id = rig.send(p, h);
      if (rig.classify.done(id)) break;
    }
    ASSERT_NE(id, kNoFlow);
    EXPECT_TRUE(rig.classify.done(id));
    EXPECT_EQ(rig.flows.entry(id).app, row.app);
  }
  // Later packets of a recognised flow are not inspected again.
  const uint64_t inspected = rig.classify.classifier().stats().packets;
  for (int i = 0; i < 5; ++i)
    rig.send({udp(kClient, "9.9.9.9", 41000, 53, dns_message("a.example", false)), true}, h);
  EXPECT_EQ(rig.classify.classifier().stats().packets, inspected);
  EXPECT_EQ(rig.classify.classifier().stats().slots_in_use, 0u);
  std::vector<CounterValue> extra;
  rig.classify.collect_extra(extra);
  bool found = false;
  for (const auto& cv : extra)
    if (cv.name == "classify.unresolved_app") {
      found = true;
      EXPECT_EQ(cv.value, 1u);  // youtube
    }
  EXPECT_TRUE(found);
}

TEST(ClassifyStage, PassesPacketsWithoutFlowOrPolicy) {
  StageRig rig;
  testing::StageHarness h(rig.classify, &rig.view);
  const Frame f = udp(kClient, "9.9.9.9", 41000, 53, dns_message("a.example", false));
  rte_mbuf* m = testing::to_mbuf(testing::test_pool(), f, 0);
  meta(m) = PacketMeta{};
  meta(m).flow_id = kNoFlow;
  EXPECT_EQ(h.run({m}).at(0).where, "edge:next");
  rte_mbuf* m2 = testing::to_mbuf(testing::test_pool(), f, 0);
  meta(m2) = PacketMeta{};
  meta(m2).flow_id = 1u << 30;  // beyond the table: refused, not read
  EXPECT_EQ(h.run({m2}).at(0).where, "edge:next");
  rig.view.policy = nullptr;
  const uint32_t id = rig.send({f, true}, h);
  EXPECT_FALSE(rig.classify.done(id));
  EXPECT_EQ(rig.classify.classifier().stats().packets, 0u);
}

TEST(ClassifyStage, FloodOfNewFlowsIsBoundedAndAbandoned) {
  StageRig rig(4);
  testing::StageHarness h(rig.classify, &rig.view);
  std::vector<uint32_t> ids;
  for (uint16_t i = 0; i < 16; ++i)
    ids.push_back(rig.send(
        {tcp(kClient, "203.0.113.1", static_cast<uint16_t>(30000 + i), 443, tcpf::kSyn, 1, 0),
         true},
        h));
  EXPECT_EQ(rig.classify.classifier().stats().slots_in_use, 4u);
  // Every slot taken: the 12 other flows try for one on 1 packet in 64 only (a flood of new
  // flows must not pay a slot search per packet), so at most one of their 12 packets tried.
  EXPECT_LE(rig.classify.classifier().stats().slot_exhausted, 1u);
  EXPECT_EQ(rig.classify.classifier().stats().slots_in_use, 4u);
  // A flow that never got a slot stops trying once it is past kAttemptPacketsFactor *
  // max_packets packets (at its next try).
  const Pkt again{tcp(kClient, "203.0.113.1", 30015, 443, tcpf::kSyn, 1, 0), true};
  for (uint64_t i = 0;
       i < 64 * (ClassifyStage::kAttemptPacketsFactor * Classifier::kDefaultMaxPackets + 1); ++i)
    rig.send(again, h);
  EXPECT_TRUE(rig.classify.done(ids.back()));
  EXPECT_EQ(rig.flows.entry(ids.back()).app, kAppUnknown);
  // forget() gives a slot back.
  rig.classify.forget(ids[0]);
  EXPECT_EQ(rig.classify.classifier().stats().slots_in_use, 3u);
}

}  // namespace
}  // namespace traboule::dp

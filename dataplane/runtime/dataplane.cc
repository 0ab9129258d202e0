// SPDX-License-Identifier: Apache-2.0
#include "dataplane/runtime/dataplane.h"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "dataplane/io/kernel_twin.h"
#include "dataplane/io/mempool.h"
#include "dataplane/runtime/pipeline_factory.h"
#include "dataplane/stages/forward.h"
#include "dataplane/stages/route.h"

namespace traboule::dp {

Dataplane::Dataplane(Site& site, std::vector<PortSetup> ports, DataplaneSettings settings,
                     std::shared_ptr<const PolicySnapshot> policy)
    : site_(site), settings_(settings) {
  const unsigned n = settings.workers;
  if (n == 0) throw std::runtime_error("dataplane: at least one worker is needed");
  if (n > kMaxWorkers)
    throw std::runtime_error("dataplane: at most " + std::to_string(kMaxWorkers) +
                             " workers (got " + std::to_string(n) + ")");
  if (policy == nullptr) throw std::runtime_error("dataplane: no policy to start with");
  if (std::string why = check_policy(*policy); !why.empty())
    throw std::runtime_error("dataplane: the policy does not fit this site: " + why);
  if (rte_lcore_count() < n)
    throw std::runtime_error("dataplane: " + std::to_string(n) + " workers need " +
                             std::to_string(n) + " EAL lcores, EAL has " +
                             std::to_string(rte_lcore_count()));
  if (ports.size() != site.ifaces.size())
    throw std::runtime_error("dataplane: one port setup per interface");
  // A failure half-way (a port, a flow table, a ring) must not leave started ports behind.
  try {
    start(std::move(ports), std::move(policy));
  } catch (...) {
    release();
    throw;
  }
}

std::string Dataplane::check_policy(const PolicySnapshot& p) const {
  if (p.rules.empty()) return "it has no rules";
  if (p.rules.size() >= 0xffff) return "too many rules (" + std::to_string(p.rules.size()) + ")";
  if (p.uplinks.size() != site_.uplinks.size())
    return "it describes " + std::to_string(p.uplinks.size()) + " uplinks, the site has " +
           std::to_string(site_.uplinks.size());
  for (size_t r = 0; r < p.rules.size(); ++r)
    for (uint8_t u : p.rules[r].action.uplinks)
      if (u >= site_.uplinks.size())
        return "rule " + p.rules[r].name + " names uplink index " + std::to_string(u);
  return "";
}

void Dataplane::publish_policy(std::shared_ptr<const PolicySnapshot> p) {
  if (p == nullptr) throw std::invalid_argument("publish_policy: null policy");
  if (std::string why = check_policy(*p); !why.empty())
    throw std::invalid_argument("the policy does not fit this site: " + why);
  p->prepare_hits();
  // Each worker's QoS plan for this policy is built here and waits for it (QosStage::offer).
  policy_->publish(std::move(p), [this](const PolicySnapshot& snap, uint16_t gen) {
    offer_qos_plans(snap, gen);
  });
}

void Dataplane::offer_qos_plans(const PolicySnapshot& p, uint16_t gen) {
  for (PerWorker& pw : workers_)
    if (pw.qos != nullptr)
      pw.qos->offer(QosStage::plan(&p, gen, site_, static_cast<unsigned>(workers_.size()),
                                   QosStage::tsc_now_ns()));
}

void Dataplane::start(std::vector<PortSetup> ports, std::shared_ptr<const PolicySnapshot> policy) {
  start_shared(std::move(policy));
  Startup s;
  s.twin_infos.resize(ports.size());
  s.has_twin.assign(ports.size(), false);
  s.punt_deps.twin_of.fill(kNoPort);
  start_ports(ports, s);
  if (settings_.punt.enabled) start_twins(ports, s);
  warn_small_pool(ports, s);
  // Resolution of every uplink's gateways starts now.
  for (Interface* up : site_.uplinks) {
    if (up->gw4) up->neighbors->want(*up->gw4);
    if (up->gw6) up->neighbors->want(*up->gw6);
  }
  poll_links();
  make_handoff_rings();
  workers_.resize(settings_.workers);
  for (unsigned w = 0; w < settings_.workers; ++w) start_worker(w, s);
  // The first policy's QoS plans, before any worker runs.
  const Published<PolicySnapshot>* first = policy_->load();
  offer_qos_plans(*first->object, first->generation);
}

// What the workers share: RCU, the snapshot slots, the STAMP rings and the packet pool.
void Dataplane::start_shared(std::shared_ptr<const PolicySnapshot> policy) {
  const DataplaneSettings& settings = settings_;
  rcu_ = std::make_unique<Rcu>(settings.workers);
  policy->prepare_hits();
  policy_ = std::make_unique<SnapshotSlot<PolicySnapshot>>(*rcu_, std::move(policy));
  links_ = std::make_unique<SnapshotSlot<LinkSnapshot>>(*rcu_, std::make_shared<LinkSnapshot>());
  if (settings.overlay.port != 0) overlay_sites_ = std::make_unique<OverlaySites>();
  if (settings.stamp_port_base != 0) {
    sessions_ = std::make_unique<StampSessionTable>(settings.stamp_port_base);
    const int socket = static_cast<int>(rte_socket_id());
    stamp_results_ = make_stamp_result_ring("tb_stamp_res", 4096, socket);
    stamp_requests_ = make_stamp_request_ring("tb_stamp_req", 1024, socket);
    if (stamp_results_ == nullptr || stamp_requests_ == nullptr)
      throw std::runtime_error(std::string("dataplane: cannot create the STAMP rings: ") +
                               rte_strerror(rte_errno));
  }
  pool_ = make_packet_pool("tb_pkts", settings.mbufs, static_cast<int>(rte_socket_id()));
  if (pool_ == nullptr)
    throw std::runtime_error("dataplane: cannot allocate " + std::to_string(settings.mbufs) +
                             " packet buffers (" + rte_strerror(rte_errno) +
                             "); give EAL more memory (-m) or lower dataplane.mbufs");
}

void Dataplane::start_ports(std::vector<PortSetup>& ports, Startup& s) {
  for (size_t i = 0; i < ports.size(); ++i) {
    ports[i].workers = static_cast<uint16_t>(settings_.workers);
    PortInfo info = start_port(ports[i], pool_);
    if (info.port_id >= kMaxPorts)
      throw std::runtime_error("port " + ports[i].label + ": port id too large");
    Interface& itf = *site_.ifaces[i];
    itf.port_id = info.port_id;
    itf.mac = info.mac;
    itf.v6_link_local = link_local_from_mac(info.mac);
    site_.by_port[info.port_id] = &itf;
    s.ready[info.port_id] = true;
    port_ids_.push_back(info.port_id);
    s.infos.push_back(info);
  }
}

// Kernel twins (docs/kernel.md): a net_tap port per interface with the interface's MAC and
// addresses. Twins vanish with their file descriptors, so a crashed run leaves none; the
// routing rules it added outlive it and are removed first.
void Dataplane::start_twins(const std::vector<PortSetup>& ports, Startup& s) {
  remove_twin_rules(static_cast<unsigned>(site_.uplinks.size()));
  reserve_box_ports();
  box_ports_ = std::make_unique<BoxPorts>(static_cast<unsigned>(site_.ifaces.size()),
                                          rte_get_tsc_hz(), rte_rdtsc());
  own_ = std::make_unique<OwnAddresses>(site_);
  s.punt_deps.box_ports = box_ports_.get();
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string name = i < settings_.twins.size() ? settings_.twins[i] : "";
    if (!name.empty()) start_twin(i, name, s);
  }
}

// The kernel must not pick, as a client, a port whose answers the data plane keeps.
void Dataplane::reserve_box_ports() {
  const DataplaneSettings& settings = settings_;
  std::string reserved;
  if (settings.stamp_port_base != 0)
    reserved = std::to_string(settings.stamp_port_base) + "-" +
               std::to_string(settings.stamp_port_base + kMaxStampSessions - 1);
  if (settings.nat && settings.nat_ports != 0) {
    const uint32_t last =
        std::min<uint32_t>(65535, settings.nat_port_base + settings.nat_ports - 1);
    reserved += (reserved.empty() ? "" : ",") + std::to_string(settings.nat_port_base) + "-" +
                std::to_string(last);
  }
  if (!reserved.empty()) reserve_kernel_ports(reserved);
}

void Dataplane::start_twin(size_t i, const std::string& name, Startup& s) {
  if (kernel_interface_exists(name))
    throw std::runtime_error("twin " + name +
                             ": the kernel has an interface of that name already (give the "
                             "port another \"twin\" name)");
  Interface& itf = *site_.ifaces[i];
  const std::string vdev = "net_tap_twin" + std::to_string(i);
  char mac[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(mac, sizeof mac, &itf.mac);
  const std::string args = "iface=" + name + ",mac=" + mac;
  if (int rc = rte_eal_hotplug_add("vdev", vdev.c_str(), args.c_str()); rc != 0)
    throw std::runtime_error("twin " + name + ": cannot create the tap device (" +
                             rte_strerror(rc < 0 ? -rc : rc) + "); is /dev/net/tun there?");
  twin_vdevs_.push_back(vdev);
  PortSetup ts;
  ts.label = "twin " + name;
  ts.device_name = vdev;
  ts.workers = static_cast<uint16_t>(settings_.workers);
  ts.rx_desc = 256;
  ts.tx_desc = 256;
  PortInfo ti = start_port(ts, pool_);
  if (ti.port_id >= kMaxPorts) throw std::runtime_error("twin " + name + ": port id too large");
  s.ready[ti.port_id] = true;
  port_ids_.push_back(ti.port_id);
  s.twin_infos[i] = ti;
  s.has_twin[i] = true;
  s.punt_deps.twin_of[itf.port_id] = ti.port_id;
  TwinKernelSetup ks;
  ks.ifname = name;
  if (itf.v4) ks.addrs.push_back(*itf.v4);
  if (itf.v6) ks.addrs.push_back(*itf.v6);
  ks.default_route = itf.is_lan && settings_.twin_default_route;
  if (!itf.is_lan) {
    ks.gw4 = itf.gw4;
    ks.gw6 = itf.gw6;
    ks.table = kTwinTableBase + itf.uplink;
    ks.rule_priority = kTwinRuleBase + itf.uplink;
  }
  configure_twin_kernel(ks);
}

// Buffers the drivers may hold at once: full RX and TX rings plus the per-lcore caches. A
// pool smaller than that can stall RX silently, so say so at start (some drivers, AF_PACKET
// and pcap among them, hold fewer: a warning, not a refusal).
void Dataplane::warn_small_pool(const std::vector<PortSetup>& ports, const Startup& s) const {
  uint64_t held = uint64_t{settings_.workers} * (256 + 2 * kBurstMax);
  for (size_t i = 0; i < ports.size(); ++i)
    held += uint64_t{s.infos[i].rx_queues} * ports[i].rx_desc +
            uint64_t{s.infos[i].tx_queues} * ports[i].tx_desc;
  if (settings_.mbufs < held)
    std::fprintf(
        stderr,
        "trabouled: warning: dataplane.mbufs = %u, but the ports' rings and caches can hold %llu "
        "buffers; raise dataplane.mbufs if RX stalls\n",
        settings_.mbufs, static_cast<unsigned long long>(held));
}

// Hand-off rings: one single-producer/single-consumer ring per ordered worker pair.
void Dataplane::make_handoff_rings() {
  const unsigned n = settings_.workers;
  rings_.assign(size_t{n} * n, nullptr);
  for (unsigned from = 0; from < n; ++from)
    for (unsigned to = 0; to < n; ++to) {
      if (from == to) continue;
      std::string name = "tb_ho_" + std::to_string(from) + "_" + std::to_string(to);
      rte_ring* r = rte_ring_create(name.c_str(), 4096, static_cast<int>(rte_socket_id()),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r == nullptr) throw std::runtime_error("dataplane: cannot create ring " + name);
      rings_[from * n + to] = r;
    }
}

void Dataplane::start_worker(unsigned w, const Startup& s) {
  const DataplaneSettings& settings = settings_;
  const unsigned n = settings.workers;
  auto& pw = workers_[w];
  pw.flows = std::make_unique<FlowTable>(site_.flows.capacity, site_.flows.timeouts,
                                         static_cast<int>(rte_socket_id()));
  std::vector<rte_ring*> to_worker(n, nullptr), inbound;
  for (unsigned o = 0; o < n; ++o)
    if (o != w) {
      to_worker[o] = rings_[w * n + o];
      inbound.push_back(rings_[o * n + w]);
    }
  pw.view = std::make_unique<WorkerView>();
  WorkerDeps deps{w, &site_, pw.flows.get(), pool_, to_worker, s.ready};
  deps.probe_cfg = settings.probe;
  deps.probe.clock = &clock_;
  deps.probe.sessions = sessions_.get();
  deps.probe.results = stamp_results_;
  deps.probe.requests = w == 0 ? stamp_requests_ : nullptr;
  deps.probe.pool = pool_;
  if (settings.nat) {
    NatConfig nc;
    nc.capacity = settings.nat_mappings;
    nc.port_base = settings.nat_port_base;
    nc.port_range_size = settings.nat_ports / n;
    nc.worker = w;
    pw.nat = std::make_unique<NatTable>(nc);
  }
  deps.nat = pw.nat.get();
  deps.classify_slots = settings.classify_slots;
  deps.names_cache = settings.names_cache;
  deps.qos = settings.qos;
  deps.overlay = settings.overlay;
  deps.sites = overlay_sites_.get();
  deps.punt = settings.punt;
  deps.punt_deps = s.punt_deps;
  pw.pipeline = make_worker_pipeline(std::move(deps));
  pw.qos = pw.pipeline->find<QosStage>("qos");  // null: QoS off
  if (pw.qos != nullptr && n > 1) {
    if (!qos_shared_) qos_shared_ = std::make_unique<QosShared>();
    pw.qos->share(qos_shared_.get());
  }
  pw.worker = std::make_unique<Worker>(
      *pw.pipeline, rx_queues(w, s), std::move(inbound), settings.polling, stop_,
      WorkerSync{rcu_.get(), w, policy_.get(), links_.get(), pw.view.get()});
  pw.worker->set_twins(box_ports_.get(), own_.get(), static_cast<uint16_t>(w));
}

// RX: a port with a queue per worker gives each worker its own; single-queue ports are shared
// out round-robin. Twins' single queues all go to worker 0.
std::vector<RxQueue> Dataplane::rx_queues(unsigned w, const Startup& s) const {
  const unsigned n = settings_.workers;
  std::vector<RxQueue> rx;
  for (size_t i = 0; i < s.infos.size(); ++i) {
    const bool lan = site_.ifaces[i]->is_lan;
    if (s.infos[i].rx_queues > 1)
      rx.push_back({s.infos[i].port_id, static_cast<uint16_t>(w), lan});
    else if (i % n == w)
      rx.push_back({s.infos[i].port_id, 0, lan});
  }
  for (size_t i = 0; i < s.has_twin.size(); ++i) {
    if (!s.has_twin[i]) continue;
    const bool lan = site_.ifaces[i]->is_lan;
    const auto idx = static_cast<uint8_t>(i);
    const PortInfo& t = s.twin_infos[i];
    if (t.rx_queues > 1)
      rx.push_back({t.port_id, static_cast<uint16_t>(w), lan, s.infos[i].port_id, idx,
                    site_.ifaces[i]->vlan});
    else if (w == 0)
      rx.push_back({t.port_id, 0, lan, s.infos[i].port_id, idx, site_.ifaces[i]->vlan});
  }
  return rx;
}

Dataplane::~Dataplane() {
  release();
}

void Dataplane::release() noexcept {
  stop();
  rte_eal_mp_wait_lcore();
  for (uint16_t p : port_ids_) stop_port(p);
  port_ids_.clear();
  for (const std::string& v : twin_vdevs_) rte_eal_hotplug_remove("vdev", v.c_str());
  twin_vdevs_.clear();
  workers_.clear();  // pipelines free what they still hold
  for (rte_ring* r : rings_)
    if (r != nullptr) {
      void* m;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(r);
    }
  rings_.clear();
  rte_ring_free(stamp_results_);
  rte_ring_free(stamp_requests_);
  stamp_results_ = stamp_requests_ = nullptr;
  rte_mempool_free(pool_);
  pool_ = nullptr;
}

void Dataplane::run() {
  unsigned w = 1;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (w >= workers_.size()) break;
    Worker* worker = workers_[w++].worker.get();
    rte_eal_remote_launch([](void* arg) { return static_cast<Worker*>(arg)->run(); }, worker,
                          lcore);
  }
  workers_[0].worker->run();
  rte_eal_mp_wait_lcore();
}

void Dataplane::poll_links() {
  for (auto& itf : site_.ifaces) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(itf->port_id, &link) == 0)
      itf->link_up.store(link.link_status == RTE_ETH_LINK_UP, std::memory_order_relaxed);
  }
}

std::vector<uint64_t> Dataplane::worker_loops() const {
  std::vector<uint64_t> loops;
  loops.reserve(workers_.size());
  for (const auto& pw : workers_) loops.push_back(pw.worker->stats().loops);
  return loops;
}

Dataplane::Runtime Dataplane::runtime() const {
  Runtime r;
  for (const auto& pw : workers_) {
    r.workers.push_back(pw.worker->stats());
    for (const Pipeline::StageProfile& p : pw.pipeline->profile()) {
      auto it = std::find_if(r.stages.begin(), r.stages.end(),
                             [&](const Pipeline::StageProfile& s) { return s.name == p.name; });
      if (it == r.stages.end()) {
        r.stages.push_back(p);
        continue;
      }
      it->cycles += p.cycles;
      it->packets += p.packets;
      it->calls += p.calls;
      it->vectors += p.vectors;
      it->timed_calls += p.timed_calls;
    }
  }
  return r;
}

std::vector<CounterValue> Dataplane::counters() const {
  std::map<std::string, uint64_t> sum;
  std::vector<CounterValue> one;
  for (auto& pw : workers_) {
    one.clear();
    pw.pipeline->collect(one);
    for (auto& c : one) sum[c.name] += c.value;
    // Real data-plane load: a polling worker always looks 100 % busy to the OS.
    const WorkerStats ws = pw.worker->stats();
    const std::string w = "worker" + std::to_string(&pw - workers_.data());
    sum[w + ".loops"] = ws.loops;
    sum[w + ".busy_loops"] = ws.busy_loops;
    sum[w + ".rx_packets"] = ws.rx_packets;
    sum[w + ".sleeps"] = ws.sleeps;
    if (settings_.punt.enabled) {
      const TwinStats ts = pw.worker->twin_stats();
      sum["twin.rx"] += ts.rx;
      sum["twin.to_wire"] += ts.to_wire;
      sum["twin.injected"] += ts.injected;
      sum["twin.tx_full"] += ts.tx_full;
      sum["twin.vlan_no_room"] += ts.vlan_no_room;
    }
  }
  // Each port's driver counters (Ethernet frames without FCS, the box's own packets and drops
  // included): what the line carried, for IF-MIB (docs/snmp.md) and Prometheus.
  for (const auto& i : site_.ifaces) {
    rte_eth_stats st{};
    if (i->port_id == kNoPort || rte_eth_stats_get(i->port_id, &st) != 0) continue;
    const std::string p = "port." + i->name;
    sum[p + ".rx_packets"] = st.ipackets;
    sum[p + ".rx_bytes"] = st.ibytes;
    sum[p + ".tx_packets"] = st.opackets;
    sum[p + ".tx_bytes"] = st.obytes;
    sum[p + ".rx_missed"] = st.imissed;  // full receive queues: the workers did not keep up
    sum[p + ".rx_errors"] = st.ierrors;
    sum[p + ".tx_errors"] = st.oerrors;
    sum[p + ".rx_nombuf"] = st.rx_nombuf;  // no mbuf to receive into
  }
  std::vector<CounterValue> out;
  for (auto& [k, v] : sum) out.push_back({k, v});
  return out;
}

std::vector<UplinkStatus> Dataplane::uplinks() const {
  std::vector<UplinkStatus> out;
  for (auto* up : site_.uplinks) {
    UplinkStatus s;
    s.name = up->name;
    s.port_id = up->port_id;
    s.link_up = up->link_up.load(std::memory_order_relaxed);
    rte_ether_addr mac;
    s.gateway_resolved = (up->gw4 && up->neighbors->lookup(*up->gw4, &mac)) ||
                         (up->gw6 && up->neighbors->lookup(*up->gw6, &mac));
    for (auto& pw : workers_)
      if (auto* fwd = pw.pipeline->find<ForwardStage>("forward")) {
        auto c = fwd->uplink_counters(up->uplink);
        s.tx_packets += c.tx_packets;
        s.tx_bytes += c.tx_bytes;
        s.rx_packets += c.rx_packets;
        s.rx_bytes += c.rx_bytes;
      }
    rte_eth_stats st{};
    if (rte_eth_stats_get(up->port_id, &st) == 0) {
      s.port_tx_packets = st.opackets;
      s.port_tx_bytes = st.obytes;
      s.port_rx_packets = st.ipackets;
      s.port_rx_bytes = st.ibytes;
    }
    out.push_back(s);
  }
  return out;
}

Dataplane::FlowSummary Dataplane::flows() const {
  FlowSummary s;
  for (auto& pw : workers_) {
    s.active += pw.flows->size();
    s.capacity += pw.flows->capacity();
    s.created += pw.flows->created();
    s.expired += pw.flows->expired();
    s.memory_bytes += pw.flows->memory_bytes();
  }
  return s;
}

std::vector<CounterValue> Dataplane::drops() const {
  std::map<std::string, uint64_t> sum;
  std::vector<CounterValue> one;
  for (auto& pw : workers_) {
    one.clear();
    pw.pipeline->collect_drops(one);
    for (auto& c : one) sum[c.name] += c.value;
  }
  std::vector<CounterValue> out;
  for (auto& [k, v] : sum)
    if (v != 0) out.push_back({k, v});
  return out;
}

std::vector<Dataplane::AppUse> Dataplane::app_use() const {
  std::vector<AppUse> out(ForwardStage::kAppSlots);
  for (const PerWorker& pw : workers_) {
    if (!pw.pipeline) continue;
    if (const auto* f = pw.pipeline->find<ForwardStage>("forward"))
      for (uint16_t a = 0; a < ForwardStage::kAppSlots; ++a) {
        const ForwardStage::AppTraffic t = f->app_traffic(a);
        for (unsigned u = 0; u < kMaxUplinks; ++u)
          for (unsigned d = 0; d < 2; ++d) {
            out[a].traffic.packets[u][d] += t.packets[u][d];
            out[a].traffic.bytes[u][d] += t.bytes[u][d];
          }
      }
    pw.flows->for_each([&](const FlowView& v) {
      const uint16_t a = v.entry.app;
      ++out[a < ForwardStage::kAppSlots ? a : ForwardStage::kAppSlots - 1].active_flows;
    });
  }
  return out;
}

std::vector<const PathEventLog*> Dataplane::path_events() const {
  std::vector<const PathEventLog*> out;
  for (const PerWorker& pw : workers_)
    if (pw.pipeline)
      if (const auto* r = pw.pipeline->find<RouteStage>("route")) out.push_back(&r->events());
  return out;
}

std::vector<const FwEventLog*> Dataplane::fw_events() const {
  std::vector<const FwEventLog*> out;
  for (const PerWorker& pw : workers_)
    if (pw.pipeline)
      if (const auto* f = pw.pipeline->find<FlowStage>("flow")) out.push_back(&f->fw_events());
  return out;
}

std::vector<Dataplane::FlowRecord> Dataplane::top_flows(size_t n) const {
  std::vector<FlowRecord> top;
  if (n == 0) return top;
  auto bytes = [](const FlowRecord& r) { return r.view.entry.bytes[0] + r.view.entry.bytes[1]; };
  auto larger = [&](const FlowRecord& a, const FlowRecord& b) { return bytes(a) > bytes(b); };
  for (size_t w = 0; w < workers_.size(); ++w)
    workers_[w].flows->for_each([&](const FlowView& v) {
      FlowRecord r{static_cast<unsigned>(w), v};
      if (top.size() < n) {
        top.push_back(r);
        std::push_heap(top.begin(), top.end(), larger);  // min-heap on bytes
      } else if (bytes(r) > bytes(top.front())) {
        std::pop_heap(top.begin(), top.end(), larger);
        top.back() = r;
        std::push_heap(top.begin(), top.end(), larger);
      }
    });
  std::sort(top.begin(), top.end(), larger);
  return top;
}

std::vector<std::string> Dataplane::trace_lines(size_t max) const {
  // Packet by packet: a packet's records stay together, packets in the order they arrived.
  struct Line {
    uint64_t first_tsc;  // of the packet's first record
    uint64_t tsc;
    std::string text;
  };
  std::vector<Line> all;
  for (size_t w = 0; w < workers_.size(); ++w) {
    Pipeline& p = *workers_[w].pipeline;
    std::map<uint16_t, uint64_t> first;
    auto records = p.trace().snapshot();
    for (const TraceRecord& r : records) first.emplace(r.trace_id, r.tsc);
    for (const TraceRecord& r : records) {
      if (r.stage_id >= p.size()) continue;
      Stage& st = p.stage(r.stage_id);
      auto names = r.is_drop ? st.drop_names() : st.edge_names();
      std::string what = r.code < names.size() ? std::string(names[r.code]) : "?";
      all.push_back({first[r.trace_id], r.tsc,
                     "w" + std::to_string(w) + " #" + std::to_string(r.trace_id) + " " +
                         std::string(st.name()) + (r.is_drop ? " DROP " : " -> ") + what + " (" +
                         std::to_string(r.pkt_len) + " B)"});
    }
  }
  std::sort(all.begin(), all.end(), [](const Line& a, const Line& b) {
    return a.first_tsc != b.first_tsc ? a.first_tsc < b.first_tsc : a.tsc < b.tsc;
  });
  std::vector<std::string> out;
  for (size_t i = all.size() > max ? all.size() - max : 0; i < all.size(); ++i)
    out.push_back(all[i].text);
  return out;
}

void Dataplane::set_trace(bool on) {
  for (auto& pw : workers_) pw.worker->set_trace(on);
}

}  // namespace traboule::dp

// SPDX-License-Identifier: Apache-2.0
// The assembled data plane: packet pool, ports, per-worker flow tables and pipelines wired from
// one table, hand-off rings between workers, and the read side for control threads (counters,
// flows, link state). Built once at start-up; workers then run until stop() is called.
#pragma once

#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/graph/pipeline.h"
#include "dataplane/graph/worker_view.h"
#include "dataplane/io/port.h"
#include "dataplane/model/box_ports.h"
#include "dataplane/model/link_snapshot.h"
#include "dataplane/model/overlay_config.h"
#include "dataplane/model/path_events.h"
#include "dataplane/model/policy_snapshot.h"
#include "dataplane/model/stamp_clock.h"
#include "dataplane/model/stamp_sessions.h"
#include "dataplane/proto/stamp.h"
#include "dataplane/runtime/own_addresses.h"
#include "dataplane/runtime/rcu.h"
#include "dataplane/runtime/site.h"
#include "dataplane/runtime/worker.h"
#include "dataplane/stages/flow.h"
#include "dataplane/stages/forward.h"
#include "dataplane/stages/probe.h"
#include "dataplane/stages/punt.h"
#include "dataplane/stages/qos.h"
#include "dataplane/tables/flow_table.h"
#include "dataplane/tables/nat_table.h"
#include "dataplane/tables/overlay_sites.h"

namespace traboule::dp {

struct DataplaneSettings {
  unsigned workers = 1;
  Polling polling = Polling::kAdaptive;
  uint32_t mbufs = 16383;
  // STAMP: the reflector answers on probe.reflector_port (0: off); our Session-Sender sessions
  // use local UDP ports [stamp_port_base, +kMaxStampSessions) (0: this box sends no probes).
  ProbeConfig probe;
  uint16_t stamp_port_base = 0;
  OverlayConfig overlay;  // port 0: no overlay
  // Breakout source NAT: each worker owns external ports [nat_port_base + w × size, ...) with
  // size = nat_ports / workers; outside the box's own ports (STAMP 862 and 40000-40255, overlay).
  bool nat = true;
  uint16_t nat_port_base = 49152;
  uint32_t nat_ports = 16384;
  uint32_t nat_mappings = 1 << 14;  // per worker
  uint32_t classify_slots = 4096;   // flows under application recognition per worker; 0: off
  uint32_t names_cache = 16384;     // addresses named by DNS answers, per worker; 0: off
  bool qos = true;                  // per-uplink scheduling and shaping (policy's QoS classes)
  // Kernel twins (docs/kernel.md): with punt.enabled, twins[i] names site.ifaces[i]'s twin;
  // twin_default_route: the kernel's default route goes through the data plane (LAN twin).
  PuntSettings punt;
  std::vector<std::string> twins;
  bool twin_default_route = true;
};

struct UplinkStatus {
  std::string name;
  uint16_t port_id = 0;
  bool link_up = false;
  bool gateway_resolved = false;
  // What the forward stage forwarded (LAN traffic out, after encapsulation; traffic in, after
  // decapsulation).
  uint64_t tx_packets = 0, tx_bytes = 0, rx_packets = 0, rx_bytes = 0;
  // Everything the port received and sent, the box's own packets and dropped ones included
  // (the driver's counters, Ethernet frames without FCS): what the line carried.
  uint64_t port_tx_packets = 0, port_tx_bytes = 0, port_rx_packets = 0, port_rx_bytes = 0;
};

class Dataplane {
 public:
  // `ports[i]` configures site.ifaces[i] (LAN first, then uplinks). Fills in port ids and MACs
  // in the Site. `policy` is the first active policy. Throws std::runtime_error with a clear
  // message on failure.
  Dataplane(Site& site, std::vector<PortSetup> ports, DataplaneSettings settings,
            std::shared_ptr<const PolicySnapshot> policy);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Runs worker 0 on the calling (main) lcore and the others on remote lcores; returns after
  // stop() once every worker has left its loop.
  void run();
  void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }

  // Control-thread side.
  // Makes `p` the active policy without pausing the workers; returns once no worker can still
  // see the previous one. Throws std::invalid_argument if `p` does not fit this site.
  void publish_policy(std::shared_ptr<const PolicySnapshot> p);
  std::shared_ptr<const PolicySnapshot> policy() const { return policy_->current(); }
  // Measured uplink health, published by the link monitor (same RCU rules as the policy).
  void publish_links(std::shared_ptr<const LinkSnapshot> s) { links_->publish(std::move(s)); }
  std::shared_ptr<const LinkSnapshot> links() const { return links_->current(); }
  // STAMP plumbing for the link monitor: the TSC → NTP clock it keeps, the session table it
  // fills, the rings it drains (results) and feeds (requests, to worker 0). Sessions and rings
  // are null when stamp_port_base is 0.
  SharedTscClock& stamp_clock() noexcept { return clock_; }
  StampSessionTable* stamp_sessions() noexcept { return sessions_.get(); }
  rte_ring* stamp_results() noexcept { return stamp_results_; }
  rte_ring* stamp_requests() noexcept { return stamp_requests_; }
  const OverlaySites* overlay_sites() const noexcept { return overlay_sites_.get(); }
  // Why `p` cannot run on this site, or "" when it can.
  std::string check_policy(const PolicySnapshot& p) const;
  void poll_links();                           // refreshes Interface::link_up from the drivers
  std::vector<CounterValue> counters() const;  // summed over workers, sorted by name
  std::vector<UplinkStatus> uplinks() const;
  struct FlowSummary {
    uint64_t active = 0, capacity = 0, created = 0, expired = 0, memory_bytes = 0;
  };
  FlowSummary flows() const;
  // Drop counters summed over workers, non-zero ones only, sorted by name.
  std::vector<CounterValue> drops() const;
  struct FlowRecord {
    unsigned worker = 0;
    FlowView view;
  };
  // The `n` flows with the most bytes (both directions), largest first. Walks every table: for
  // the API, not for anything periodic.
  std::vector<FlowRecord> top_flows(size_t n) const;
  // `show runtime` (docs/dataplane.md "Runtime"): each stage's figures summed over the
  // workers, in pipeline order, and each worker's loop figures. Relaxed reads, any thread.
  struct Runtime {
    std::vector<Pipeline::StageProfile> stages;
    std::vector<WorkerStats> workers;
  };
  Runtime runtime() const;
  // Calls fn(worker, const FlowView&) for every flow of every worker (FlowTable::for_each:
  // best-effort, from a control thread; flow export walks with it once a second).
  template <class Fn>
  void for_each_flow(Fn&& fn) const {
    for (size_t w = 0; w < workers_.size(); ++w)
      workers_[w].flows->for_each([&](const FlowView& v) { fn(static_cast<unsigned>(w), v); });
  }
  // Per application id (forward stage's slots): traffic per uplink and direction summed over
  // workers, and the flows of that application in the tables now.
  struct AppUse {
    ForwardStage::AppTraffic traffic;
    uint64_t active_flows = 0;
  };
  std::vector<AppUse> app_use() const;
  // Each worker's log of flows moved between uplinks (route stage), by worker.
  std::vector<const PathEventLog*> path_events() const;
  // Per worker: the firewall's decisions worth a log line (flow stage).
  std::vector<const FwEventLog*> fw_events() const;
  void set_trace(bool on);
  // The latest trace records of every worker, oldest first, as text:
  // "w0 #17 parse -> ipv4 (60 B)" or "w0 #18 forward DROP ttl_exceeded (60 B)".
  std::vector<std::string> trace_lines(size_t max) const;
  unsigned workers() const noexcept { return static_cast<unsigned>(workers_.size()); }
  // Each worker's loop count (relaxed reads, any thread): a worker whose count stops moving is
  // stuck (the daemon's systemd watchdog pings only while every count moves).
  std::vector<uint64_t> worker_loops() const;
  Site& site() noexcept { return site_; }
  const Site& site() const noexcept { return site_; }

 private:
  struct PerWorker {
    std::unique_ptr<FlowTable> flows;
    std::unique_ptr<Pipeline> pipeline;
    std::unique_ptr<Worker> worker;
    std::unique_ptr<WorkerView> view;
    std::unique_ptr<NatTable> nat;
    QosStage* qos = nullptr;  // in `pipeline`, when QoS is on
  };
  // What start() learns about the ports on the way, for the workers' wiring.
  struct Startup {
    std::array<bool, kMaxPorts> ready{};
    std::vector<PortInfo> infos;       // per interface
    std::vector<PortInfo> twin_infos;  // per interface, valid where has_twin
    std::vector<bool> has_twin;
    PuntDeps punt_deps;
  };
  void start(std::vector<PortSetup> ports, std::shared_ptr<const PolicySnapshot> policy);
  void start_shared(std::shared_ptr<const PolicySnapshot> policy);
  void start_ports(std::vector<PortSetup>& ports, Startup& s);
  void start_twins(const std::vector<PortSetup>& ports, Startup& s);
  void start_twin(size_t i, const std::string& name, Startup& s);
  void reserve_box_ports();
  void warn_small_pool(const std::vector<PortSetup>& ports, const Startup& s) const;
  void make_handoff_rings();
  void start_worker(unsigned w, const Startup& s);
  std::vector<RxQueue> rx_queues(unsigned w, const Startup& s) const;
  // Builds and offers each worker's QoS plan for `p`, about to be published as `gen`.
  void offer_qos_plans(const PolicySnapshot& p, uint16_t gen);
  std::unique_ptr<QosShared> qos_shared_;  // the uplinks' budgets, shared by the workers
  // (start: the constructor's work, undone by release())
  void release() noexcept;

  Site& site_;
  DataplaneSettings settings_;
  rte_mempool* pool_ = nullptr;
  std::vector<uint16_t> port_ids_;
  std::vector<std::string> twin_vdevs_;  // uninit after their ports are closed
  std::unique_ptr<BoxPorts> box_ports_;
  std::unique_ptr<OwnAddresses> own_;
  std::vector<rte_ring*> rings_;  // rings_[from * n + to]
  std::vector<PerWorker> workers_;
  std::unique_ptr<Rcu> rcu_;
  std::unique_ptr<SnapshotSlot<PolicySnapshot>> policy_;
  std::unique_ptr<SnapshotSlot<LinkSnapshot>> links_;
  SharedTscClock clock_;
  std::unique_ptr<StampSessionTable> sessions_;
  std::unique_ptr<OverlaySites> overlay_sites_;
  rte_ring* stamp_results_ = nullptr;
  rte_ring* stamp_requests_ = nullptr;
  std::atomic<bool> stop_{false};
};

}  // namespace traboule::dp

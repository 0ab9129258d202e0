// SPDX-License-Identifier: Apache-2.0
#include "dataplane/graph/pipeline.h"

#include <rte_cycles.h>

#include <map>
#include <stdexcept>

namespace traboule::dp {

Pipeline::Pipeline(std::vector<NodeSpec> specs) {
  // Index the nodes by name.
  std::map<std::string, size_t, std::less<>> by_name;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!specs[i].stage)
      throw std::invalid_argument("pipeline: node " + std::to_string(i) + " has no stage");
    std::string name(specs[i].stage->name());
    if (!by_name.emplace(name, i).second)
      throw std::invalid_argument("pipeline: duplicate node '" + name + "'");
    if (specs[i].stage->edge_names().size() > kMaxEdges)
      throw std::invalid_argument("pipeline: node '" + name + "' has too many edges");
  }
  // Resolve edges: succ[i][e] = node index.
  std::vector<std::vector<size_t>> succ(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    auto& st = *specs[i].stage;
    auto edge_names = st.edge_names();
    succ[i].assign(edge_names.size(), SIZE_MAX);
    for (auto& [edge, target] : specs[i].edges) {
      size_t e = 0;
      while (e < edge_names.size() && edge_names[e] != edge) ++e;
      if (e == edge_names.size())
        throw std::invalid_argument("pipeline: node '" + std::string(st.name()) +
                                    "' has no edge '" + edge + "'");
      auto it = by_name.find(target);
      if (it == by_name.end())
        throw std::invalid_argument("pipeline: edge '" + std::string(st.name()) + "." + edge +
                                    "' goes to unknown node '" + target + "'");
      if (it->second == i)
        throw std::invalid_argument("pipeline: edge '" + std::string(st.name()) + "." + edge +
                                    "' loops");
      // An edge named like a node leads to that node (local.tx to tx): in counters
      // (<stage>.out.<edge>) and traces the name is read as the place.
      if (auto same = by_name.find(edge); same != by_name.end() && same->second != it->second)
        throw std::invalid_argument("pipeline: edge '" + std::string(st.name()) + "." + edge +
                                    "' is named like node '" + edge + "' but goes to '" + target +
                                    "'");
      succ[i][e] = it->second;
    }
    for (size_t e = 0; e < edge_names.size(); ++e)
      if (succ[i][e] == SIZE_MAX)
        throw std::invalid_argument("pipeline: edge '" + std::string(st.name()) + "." +
                                    std::string(edge_names[e]) + "' is not wired");
  }
  // Topological order (Kahn), keeping the table order among ready nodes.
  std::vector<int> indeg(specs.size(), 0);
  for (auto& s : succ)
    for (size_t t : s) ++indeg[t];
  std::vector<size_t> order;
  std::vector<bool> done(specs.size(), false);
  while (order.size() < specs.size()) {
    size_t pick = SIZE_MAX;
    for (size_t i = 0; i < specs.size() && pick == SIZE_MAX; ++i)
      if (!done[i] && indeg[i] == 0) pick = i;
    if (pick == SIZE_MAX) throw std::invalid_argument("pipeline: the wiring has a cycle");
    done[pick] = true;
    order.push_back(pick);
    for (size_t t : succ[pick]) --indeg[t];
  }
  std::vector<size_t> pos(specs.size());
  for (size_t k = 0; k < order.size(); ++k) pos[order[k]] = k;

  nodes_.resize(specs.size());
  for (size_t k = 0; k < order.size(); ++k) {
    Node& n = nodes_[k];
    n.stage = std::move(specs[order[k]].stage);
    n.edge_counts.assign(n.stage->edge_names().size(), 0);
    n.drop_counts.assign(n.stage->drop_names().size(), 0);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    Node& n = nodes_[k];
    auto& s = succ[order[k]];
    for (size_t e = 0; e < s.size(); ++e) n.next[e] = &nodes_[pos[s[e]]].input;
    n.out.wire(static_cast<uint16_t>(k), n.next, n.edge_counts.data(), &drops_,
               n.drop_counts.data(), &overflow_, &trace_);
  }
}

Pipeline::~Pipeline() {
  for (auto& n : nodes_) rte_pktmbuf_free_bulk(n.input.pkts, n.input.n);
  rte_pktmbuf_free_bulk(drops_.pkts, drops_.n);
}

uint16_t Pipeline::node_index(std::string_view name) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].stage->name() == name) return static_cast<uint16_t>(i);
  throw std::out_of_range("pipeline: no node '" + std::string(name) + "'");
}

void Pipeline::drain(size_t from, const BurstContext& ctx) noexcept {
  const bool timed = (drains_++ & sample_mask_) == 0;
  for (size_t i = from; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (n.input.n == 0) continue;
    uint16_t cnt = n.input.n;
    n.input.n = 0;  // stages never emit to themselves, so the array is stable during process()
    bump(n.calls);
    bump(n.vectors, cnt);
    if (timed) [[unlikely]] {
      const uint64_t t0 = rte_rdtsc();
      n.stage->process(n.input.pkts, cnt, ctx, n.out);
      bump(n.prof_cycles, rte_rdtsc() - t0);
      bump(n.prof_packets, cnt);
      bump(n.prof_calls);
      continue;
    }
    n.stage->process(n.input.pkts, cnt, ctx, n.out);
  }
  if (drops_.n != 0) {
    rte_pktmbuf_free_bulk(drops_.pkts, drops_.n);
    drops_.n = 0;
  }
}

void Pipeline::run(uint16_t entry, rte_mbuf** pkts, uint16_t n, const BurstContext& ctx) noexcept {
  Burst& in = nodes_[entry].input;
  for (uint16_t i = 0; i < n; ++i) in.pkts[in.n++] = pkts[i];
  drain(entry, ctx);
}

void Pipeline::idle(const BurstContext& ctx) noexcept {
  for (auto& n : nodes_) n.stage->on_idle(ctx, n.out);
  drain(0, ctx);
}

std::vector<Pipeline::StageProfile> Pipeline::profile() const {
  std::vector<StageProfile> out;
  for (auto& n : nodes_)
    out.push_back({std::string(n.stage->name()), read_counter(n.prof_cycles),
                   read_counter(n.prof_packets), read_counter(n.calls), read_counter(n.vectors),
                   read_counter(n.prof_calls)});
  return out;
}

uint64_t Pipeline::total_drops() const {
  uint64_t sum = read_counter(overflow_);
  for (auto& n : nodes_)
    for (auto& c : n.drop_counts) sum += read_counter(c);
  return sum;
}

void Pipeline::collect_drops(std::vector<CounterValue>& out) const {
  for (auto& n : nodes_) {
    std::string base(n.stage->name());
    auto drops = n.stage->drop_names();
    for (size_t i = 0; i < drops.size(); ++i)
      out.push_back({base + "." + std::string(drops[i]), read_counter(n.drop_counts[i])});
  }
}

void Pipeline::collect(std::vector<CounterValue>& out) const {
  for (auto& n : nodes_) {
    std::string base(n.stage->name());
    auto drops = n.stage->drop_names();
    for (size_t i = 0; i < drops.size(); ++i)
      out.push_back({base + "." + std::string(drops[i]), read_counter(n.drop_counts[i])});
    auto edges = n.stage->edge_names();
    for (size_t i = 0; i < edges.size(); ++i)
      out.push_back({base + ".out." + std::string(edges[i]), read_counter(n.edge_counts[i])});
    n.stage->collect_extra(out);
  }
  out.push_back({"pipeline.overflow", read_counter(overflow_)});
}

}  // namespace traboule::dp

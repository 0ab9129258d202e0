// SPDX-License-Identifier: Apache-2.0
#include "controlplane/routing/rib.h"

namespace traboule::cp {
namespace {

bool same_route(const Route& a, const Route& b) {
  return a.protocol == b.protocol && a.type == b.type && a.metric == b.metric &&
         a.nh_id == b.nh_id && a.next_hops == b.next_hops;
}

}  // namespace

bool Rib::apply(const RouteUpdate& u, std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  const Key key{u.route.table, u.route.prefix};
  auto it = routes_.find(key);
  if (!u.add) {
    if (it == routes_.end()) {
      ++stats_.unknown_deletes;
      return false;
    }
    routes_.erase(it);
    ++stats_.deletes;
    ++version_;
    return true;
  }
  if (it != routes_.end() && same_route(it->second.route, u.route)) {
    it->second.epoch = epoch_;
    ++stats_.refreshes;
    return false;
  }
  routes_[key] = RibEntry{u.route, now, epoch_};
  ++stats_.adds;
  ++version_;
  return true;
}

void Rib::begin_resync() {
  std::lock_guard lock(mu_);
  ++epoch_;
  ++stats_.resyncs;
}

size_t Rib::sweep_stale() {
  std::lock_guard lock(mu_);
  size_t removed = 0;
  for (auto it = routes_.begin(); it != routes_.end();) {
    if (it->second.epoch < epoch_) {
      it = routes_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  stats_.stale_removed += removed;
  if (removed > 0) ++version_;
  return removed;
}

std::vector<RibEntry> Rib::entries() const {
  std::lock_guard lock(mu_);
  std::vector<RibEntry> out;
  out.reserve(routes_.size());
  for (const auto& [k, e] : routes_) out.push_back(e);
  return out;
}

size_t Rib::size() const {
  std::lock_guard lock(mu_);
  return routes_.size();
}

uint64_t Rib::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

RibStats Rib::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace traboule::cp

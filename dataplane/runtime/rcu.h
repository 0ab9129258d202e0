// SPDX-License-Identifier: Apache-2.0
// Publication of immutable snapshots to the workers with DPDK's QSBR RCU: the control thread
// swaps a pointer and frees the old snapshot only after every worker has passed a quiescent
// point (the end of a loop iteration). Workers never wait and are never paused.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

namespace traboule::dp {

// One QSBR variable shared by every snapshot kind; reader ids are worker indexes.
class Rcu {
 public:
  explicit Rcu(unsigned readers);
  ~Rcu();
  Rcu(const Rcu&) = delete;
  Rcu& operator=(const Rcu&) = delete;

  // Worker side.
  void online(unsigned id) noexcept;
  void offline(unsigned id) noexcept;
  void quiescent(unsigned id) noexcept { rte_rcu_qsbr_quiescent(v_, id); }

  // Control side: returns once every online reader has reported a quiescent state after the
  // call started (readers that are offline are not waited for).
  void synchronize() noexcept;
  unsigned readers() const noexcept { return readers_; }

 private:
  rte_rcu_qsbr* v_ = nullptr;
  unsigned readers_;
};

// A published snapshot and its generation, swapped as one pointer so a reader never pairs a
// snapshot with another one's generation. Readers load `load()` once per loop iteration.
template <class T>
struct Published {
  std::shared_ptr<const T> object;
  uint16_t generation = 0;  // 1, 2, ... wrapping; never 0 or 0xffff (reserved by readers)
};

template <class T>
class SnapshotSlot {
 public:
  SnapshotSlot(Rcu& rcu, std::shared_ptr<const T> initial) : rcu_(rcu) {
    current_ = std::make_unique<Published<T>>(Published<T>{std::move(initial), 1});
    ptr_.store(current_.get(), std::memory_order_release);
  }

  const Published<T>* load() const noexcept { return ptr_.load(std::memory_order_acquire); }

  // Control threads (serialised here). After it returns no worker holds the previous snapshot.
  // `before`, if given, runs under the lock with the snapshot and the generation it is about to
  // get, before any worker can see it (what workers need ready for it: QoS plans).
  void publish(std::shared_ptr<const T> next,
               const std::function<void(const T&, uint16_t)>& before = {}) {
    std::lock_guard lock(mu_);
    uint16_t gen = static_cast<uint16_t>(current_->generation + 1);
    if (gen == 0xffff || gen == 0) gen = 1;
    if (before) before(*next, gen);
    auto fresh = std::make_unique<Published<T>>(Published<T>{std::move(next), gen});
    ptr_.store(fresh.get(), std::memory_order_release);
    std::unique_ptr<Published<T>> old = std::move(current_);
    current_ = std::move(fresh);
    rcu_.synchronize();
    old.reset();  // the object may live on in a control thread's shared_ptr: fine
  }
  std::shared_ptr<const T> current() const {
    std::lock_guard lock(mu_);
    return current_->object;
  }
  uint16_t generation() const {
    std::lock_guard lock(mu_);
    return current_->generation;
  }

 private:
  Rcu& rcu_;
  mutable std::mutex mu_;
  std::unique_ptr<Published<T>> current_;
  std::atomic<const Published<T>*> ptr_{nullptr};
};

}  // namespace traboule::dp

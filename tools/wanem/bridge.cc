// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/bridge.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "tools/wanem/frame_fixup.h"

namespace traboule::wanem {
namespace {

int64_t clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
int64_t mono_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Fixed-size slots for frames held by the core, recycled so that steady traffic allocates
// nothing. A slot is shared by a frame and its duplicate: refs counts the copies left.
class FramePool {
 public:
  FramePool(uint32_t slot_bytes, size_t max_slots) : slot_bytes_(slot_bytes), max_(max_slots) {}

  bool alloc(uint32_t* slot) {
    if (free_.empty()) {
      if (count_ >= max_) return false;
      size_t n = std::min(kChunk, max_ - count_);
      chunks_.push_back(std::make_unique<uint8_t[]>(n * slot_bytes_));
      for (size_t i = 0; i < n; ++i) {
        free_.push_back(static_cast<uint32_t>(count_ + n - 1 - i));
        slots_.push_back({chunks_.back().get() + i * slot_bytes_, 0, 0});
      }
      count_ += n;
    }
    *slot = free_.back();
    free_.pop_back();
    return true;
  }
  uint8_t* data(uint32_t slot) { return slots_[slot].data; }
  uint32_t& len(uint32_t slot) { return slots_[slot].len; }
  void set_refs(uint32_t slot, int refs) { slots_[slot].refs = refs; }
  void unref(uint32_t slot) {
    if (--slots_[slot].refs <= 0) free_.push_back(slot);
  }
  void free(uint32_t slot) { free_.push_back(slot); }

 private:
  static constexpr size_t kChunk = 512;
  struct Slot {
    uint8_t* data;
    uint32_t len;
    int refs;
  };
  uint32_t slot_bytes_;
  size_t max_;
  size_t count_ = 0;
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

}  // namespace

class DirectionWorker {
 public:
  DirectionWorker(Dir dir, PacketPort* in, PacketPort* out, const BridgeOptions& options,
                  const DirectionParams& initial)
      : dir_(dir),
        in_(in),
        out_(out),
        max_spin_ns_(options.max_spin_ns),
        rt_priority_(options.rt_priority),
        pop_vid_(dir == Dir::kA2B ? options.vlan_a : 0),
        push_vid_(dir == Dir::kB2A ? options.vlan_a : 0),
        log_(options.log),
        slot_bytes_((std::max(in->max_frame_bytes(), out->max_frame_bytes()) + 63) & ~63u),
        max_slots_(std::max<size_t>(1024, options.max_held_bytes / slot_bytes_)),
        pool_(slot_bytes_, max_slots_),
        core_(options.seed, max_slots_) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (wake_fd_ < 0 || timer_fd_ < 0) {
      throw std::runtime_error(std::string("eventfd/timerfd: ") + std::strerror(errno));
    }
    core_.configure(initial, mono_ns(), nullptr);
    publish(mono_ns());
  }
  ~DirectionWorker() {
    stop();
    ::close(wake_fd_);
    ::close(timer_fd_);
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    poke();
    thread_.join();
  }

  // Called by the control thread: waits until the worker has applied the change.
  bool post(const std::optional<DirectionParams>& params, bool zero) {
    std::unique_lock lock(mail_mutex_);
    if (params) mail_params_ = params;
    mail_zero_ = mail_zero_ || zero;
    uint64_t ticket = ++mail_posted_;
    mail_pending_.store(true, std::memory_order_release);
    lock.unlock();
    if (!thread_.joinable()) {  // not started: apply here, nothing else touches the core yet
      take_mail();
      return true;
    }
    poke();
    lock.lock();
    return mail_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return mail_done_ >= ticket; });
  }

  DirectionSnapshot snapshot() const {
    std::lock_guard lock(snap_mutex_);
    return snap_;
  }

 private:
  void poke() {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }

  void take_mail() {
    std::unique_lock lock(mail_mutex_);
    std::optional<DirectionParams> params = std::move(mail_params_);
    mail_params_.reset();
    bool zero = mail_zero_;
    mail_zero_ = false;
    uint64_t ticket = mail_posted_;
    mail_pending_.store(false, std::memory_order_relaxed);
    lock.unlock();

    int64_t now = mono_ns();
    if (params) {
      flushed_.clear();
      core_.configure(*params, now, &flushed_);
      for (uint64_t slot : flushed_) pool_.unref(static_cast<uint32_t>(slot));
    }
    if (zero) {
      core_.zero_counters();
      io_ = IoCounters{};
    }
    publish(now);
    lock.lock();
    mail_done_ = ticket;
    lock.unlock();
    mail_cv_.notify_all();
  }

  void publish(int64_t now) {
    QueueDepth depth = core_.queue_depth(now);
    std::lock_guard lock(snap_mutex_);
    snap_.params = core_.params();
    snap_.core = core_.counters();
    snap_.io = io_;
    snap_.queue = depth;
    snap_.held_frames = core_.held_frames();
    snap_.wake_margin_ns = wake_margin_ns_;
  }

  // Kernel arrival time (CLOCK_REALTIME) moved to CLOCK_MONOTONIC; our own clock if the
  // stamp is missing or implausible (a sender's delivery-time stamp crossing namespaces).
  int64_t arrival_ns(const RxFrame& f, int64_t mono_now, int64_t real_minus_mono) {
    int64_t t = mono_now;
    if (f.kernel_ts_realtime_ns != 0) {
      int64_t k = f.kernel_ts_realtime_ns - real_minus_mono;
      if (k <= mono_now && k > mono_now - 1'000'000'000) t = k;
    }
    t = std::max(t, last_arrival_ns_);
    last_arrival_ns_ = t;
    return t;
  }

  void receive(int budget) {
    int64_t now = mono_ns();
    int64_t real_minus_mono = clock_ns(CLOCK_REALTIME) - now;
    RxFrame f;
    while (budget-- > 0 && in_->peek(&f)) {
      uint32_t len = f.captured_bytes + (f.has_vlan ? 4 : 0);
      if (f.captured_bytes < f.wire_bytes || len > slot_bytes_) {
        // Powers of two: the first one is explained, a flood does not flood the log.
        uint64_t n = ++io_.drop_oversize;
        if ((n & (n - 1)) == 0 && log_) {
          log_(std::string(to_string(dir_)) + ": dropped " + std::to_string(n) +
               " frame(s) longer than the MTU of " + in_->name() + " (this one " +
               std::to_string(f.wire_bytes) + " bytes): the sending side uses GSO/TSO or GRO; " +
               "on the peer of " + in_->name() + " run: ip link set dev PEER gso_max_segs 1 " +
               "(or ethtool -K PEER tso off gso off), and keep GRO off on " + in_->name());
        }
      } else if (f.captured_bytes < 14) {
        ++io_.drop_runt;
      } else {
        uint32_t slot;
        if (!pool_.alloc(&slot)) {
          ++io_.drop_no_buffer;
        } else {
          uint8_t* dst = pool_.data(slot);
          if (f.has_vlan) {  // the driver took the tag off: put it back where it was
            std::memcpy(dst, f.data, 12);
            dst[12] = static_cast<uint8_t>(f.vlan_tpid >> 8);
            dst[13] = static_cast<uint8_t>(f.vlan_tpid);
            dst[14] = static_cast<uint8_t>(f.vlan_tci >> 8);
            dst[15] = static_cast<uint8_t>(f.vlan_tci);
            std::memcpy(dst + 16, f.data + 12, f.captured_bytes - 12);
          } else {
            std::memcpy(dst, f.data, f.captured_bytes);
          }
          if (!retag(dst, &len)) {
            pool_.free(slot);
            in_->release();
            continue;
          }
          if (f.csum_not_ready && complete_l4_checksum(dst, len) == FixupResult::kFixed) {
            ++io_.csum_completed;
          }
          pool_.len(slot) = len;
          int copies = core_.arrive(slot, len, arrival_ns(f, now, real_minus_mono));
          if (copies == 0) {
            pool_.free(slot);
          } else {
            pool_.set_refs(slot, copies);
          }
        }
      }
      in_->release();
    }
  }

  // --vlan-a: the tag comes off what the site sends and goes on what it receives. False: the
  // frame is dropped (counted).
  bool retag(uint8_t* dst, uint32_t* len) {
    if (pop_vid_ != 0) {
      const bool ours = *len >= 18 && dst[12] == 0x81 && dst[13] == 0x00 &&
                        ((dst[14] << 8 | dst[15]) & 0x0fff) == pop_vid_;
      if (!ours) {
        ++io_.drop_vlan;
        return false;
      }
      std::memmove(dst + 12, dst + 16, *len - 16);
      *len -= 4;
    } else if (push_vid_ != 0) {
      if (*len + 4 > slot_bytes_) {
        ++io_.drop_oversize;
        return false;
      }
      std::memmove(dst + 16, dst + 12, *len - 12);
      dst[12] = 0x81;
      dst[13] = 0x00;
      dst[14] = static_cast<uint8_t>(push_vid_ >> 8);
      dst[15] = static_cast<uint8_t>(push_vid_);
      *len += 4;
    }
    return true;
  }

  void send_due() {
    int64_t now = mono_ns();
    Departure d;
    while (core_.pop_due(now, &d)) {
      auto slot = static_cast<uint32_t>(d.cookie);
      int err = out_->send(pool_.data(slot), d.len_bytes);
      if (err == 0) {
        ++io_.tx_frames;
        io_.tx_bytes += d.len_bytes;
      } else {
        ++io_.tx_error;
        io_.last_tx_errno = err;
      }
      pool_.unref(slot);
    }
  }

  void arm_timer(int64_t at_ns) {
    // Frames arriving while a departure is pending usually leave the target unchanged.
    if (at_ns == timer_target_ns_ && timer_armed_) return;
    timer_armed_ = at_ns != LinkDirection::kNever;
    itimerspec its{};
    if (at_ns != LinkDirection::kNever) {
      at_ns = std::max<int64_t>(at_ns, 1);
      its.it_value.tv_sec = at_ns / 1'000'000'000;
      its.it_value.tv_nsec = at_ns % 1'000'000'000;
    }
    timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
    timer_target_ns_ = at_ns;
  }

  void run() {
    // Timer slack would round our wake-ups by 50 us; departures want the exact time.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    pthread_setname_np(pthread_self(), dir_ == Dir::kA2B ? "wanem-a2b" : "wanem-b2a");
    if (rt_priority_ > 0) {
      sched_param sp{};
      sp.sched_priority = rt_priority_;
      int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
      if (err != 0 && log_) {
        log_(std::string(to_string(dir_)) + ": SCHED_FIFO " + std::to_string(rt_priority_) +
             " refused (" + std::strerror(err) + "): normal scheduling, departures may be " +
             "late when the CPUs are busy");
      }
    }
    pollfd fds[3] = {{in_->fd(), POLLIN, 0}, {timer_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int64_t last_stats_ns = 0;
    RxFrame probe;
    while (!stop_.load(std::memory_order_relaxed)) {
      if (mail_pending_.load(std::memory_order_acquire)) take_mail();
      receive(256);
      send_due();
      int64_t now = mono_ns();
      if (now - last_stats_ns > 100'000'000) {
        io_.drop_ring_full += in_->take_ring_drops();
        last_stats_ns = now;
      }
      publish(now);
      if (in_->peek(&probe)) continue;

      int64_t next = core_.next_departure_ns();
      if (next != LinkDirection::kNever && next - now <= wake_margin_ns_) {
        // Short spin to the departure; an arriving frame or a command interrupts it.
        while (mono_ns() < next && !in_->peek(&probe) &&
               !mail_pending_.load(std::memory_order_relaxed) &&
               !stop_.load(std::memory_order_relaxed)) {
          cpu_relax();
        }
        continue;
      }
      arm_timer(next == LinkDirection::kNever ? next : next - wake_margin_ns_);
      int n = poll(fds, 3, -1);
      if (n < 0 && errno != EINTR) {
        if (log_) log_(std::string(to_string(dir_)) + ": poll failed: " + std::strerror(errno));
        break;
      }
      uint64_t drain;
      if (fds[1].revents & POLLIN) {
        (void)!::read(timer_fd_, &drain, sizeof drain);
        timer_armed_ = false;
        // Learn how late this machine wakes us, and ask that much earlier next time.
        int64_t late = mono_ns() - timer_target_ns_;
        late_ewma_ns_ += (std::clamp<int64_t>(late, 0, 1'000'000) - late_ewma_ns_) / 8;
        wake_margin_ns_ = std::clamp<int64_t>(late_ewma_ns_, 0, max_spin_ns_);
      }
      if (fds[2].revents & POLLIN) (void)!::read(wake_fd_, &drain, sizeof drain);
    }
    publish(mono_ns());
  }

  Dir dir_;
  PacketPort* in_;
  PacketPort* out_;
  int64_t max_spin_ns_;
  int rt_priority_;
  uint16_t pop_vid_;   // A2B with --vlan-a: the tag the site must send, taken off
  uint16_t push_vid_;  // B2A with --vlan-a: the tag put on towards the site
  std::function<void(const std::string&)> log_;
  uint32_t slot_bytes_;
  size_t max_slots_;
  FramePool pool_;
  LinkDirection core_;
  IoCounters io_;
  std::vector<uint64_t> flushed_;
  int64_t last_arrival_ns_ = 0;
  int64_t timer_target_ns_ = 0;
  bool timer_armed_ = false;
  int64_t late_ewma_ns_ = 0;
  int64_t wake_margin_ns_ = 0;
  int wake_fd_ = -1;
  int timer_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  std::mutex mail_mutex_;
  std::condition_variable mail_cv_;
  std::atomic<bool> mail_pending_{false};
  std::optional<DirectionParams> mail_params_;
  bool mail_zero_ = false;
  uint64_t mail_posted_ = 0;
  uint64_t mail_done_ = 0;

  mutable std::mutex snap_mutex_;
  DirectionSnapshot snap_;
};

Bridge::Bridge(const BridgeOptions& options, const LinkParams& initial)
    : options_(options), params_(initial) {
  if (options.if_a == options.if_b) {
    throw std::runtime_error("--a and --b name the same interface (" + options.if_a + ")");
  }
  port_a_ = std::make_unique<PacketPort>(options.if_a, options.ring_bytes);
  port_b_ = std::make_unique<PacketPort>(options.if_b, options.ring_bytes);
  BridgeOptions a2b = options;
  BridgeOptions b2a = options;
  // Two independent streams of decisions from one seed.
  uint64_t s = options.seed;
  a2b.seed = Rng::splitmix64(&s);
  b2a.seed = Rng::splitmix64(&s);
  workers_[0] = std::make_unique<DirectionWorker>(Dir::kA2B, port_a_.get(), port_b_.get(), a2b,
                                                  initial[Dir::kA2B]);
  workers_[1] = std::make_unique<DirectionWorker>(Dir::kB2A, port_b_.get(), port_a_.get(), b2a,
                                                  initial[Dir::kB2A]);
}

Bridge::~Bridge() {
  stop();
}

void Bridge::start() {
  for (auto& w : workers_) w->start();
}

void Bridge::stop() {
  for (auto& w : workers_) {
    if (w) w->stop();
  }
}

bool Bridge::apply(const LinkParams& params) {
  std::lock_guard lock(params_mutex_);
  bool ok = true;
  for (int d = 0; d < kDirCount; ++d) {
    if (params.dir[d] == params_.dir[d]) continue;
    ok = workers_[d]->post(params.dir[d], false) && ok;
  }
  params_ = params;
  return ok;
}

bool Bridge::zero_counters() {
  bool ok = true;
  for (auto& w : workers_) ok = w->post(std::nullopt, true) && ok;
  return ok;
}

LinkParams Bridge::params() const {
  std::lock_guard lock(params_mutex_);
  return params_;
}

DirectionSnapshot Bridge::snapshot(Dir d) const {
  return workers_[static_cast<int>(d)]->snapshot();
}

}  // namespace traboule::wanem

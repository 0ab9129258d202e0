// SPDX-License-Identifier: Apache-2.0
// Impairment parameters of one direction of an emulated WAN link, and their text syntax
// ("delay=20ms loss=2% rate=2mbit ..."), shared by the command line, the control socket and
// the profiles. Parsing never throws: bad input comes back as an error naming key and value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace traboule::wanem {

enum class JitterDist { kUniform, kNormal };
enum class QueueUnit { kBytes, kPackets };

// netem's "gemodel": p = good->bad, r = bad->good, loss_bad = 1-h, loss_good = 1-k.
struct GilbertElliott {
  double p = 0.0;
  double r = 0.0;
  double loss_bad = 1.0;
  double loss_good = 0.0;

  // Long-run loss probability: pi_bad * (1-h) + pi_good * (1-k), pi_bad = p / (p + r).
  double stationary_loss() const;
  bool operator==(const GilbertElliott&) const = default;
};

struct QueueLimit {
  QueueUnit unit = QueueUnit::kPackets;
  uint64_t value = 1000;  // netem's default limit, in packets
  bool operator==(const QueueLimit&) const = default;
};

struct DirectionParams {
  bool up = true;  // false: outage, every frame is dropped
  int64_t delay_ns = 0;
  int64_t jitter_ns = 0;
  JitterDist jitter_dist = JitterDist::kUniform;
  bool reorder = false;  // false: a frame never leaves before the one that arrived before it
  double loss = 0.0;     // probability in [0, 1]
  std::optional<GilbertElliott> ge;
  uint64_t rate_bps = 0;  // 0: no rate limit (and so no queue)
  QueueLimit queue;
  double dup = 0.0;  // probability in [0, 1]

  bool operator==(const DirectionParams&) const = default;
};

enum class Dir { kA2B = 0, kB2A = 1 };
inline constexpr int kDirCount = 2;
const char* to_string(Dir d);

// Both directions; a is the site side (a2b = upload), b the network side (b2a = download).
struct LinkParams {
  DirectionParams dir[kDirCount];
  DirectionParams& operator[](Dir d) { return dir[static_cast<int>(d)]; }
  const DirectionParams& operator[](Dir d) const { return dir[static_cast<int>(d)]; }
  bool operator==(const LinkParams&) const = default;
};

// Limits that keep every computation in int64 nanoseconds far from overflow.
inline constexpr int64_t kMaxDelayNs = 60'000'000'000;   // 60 s
inline constexpr int64_t kMaxJitterNs = 10'000'000'000;  // 10 s
inline constexpr uint64_t kMinRateBps = 1'000;
inline constexpr uint64_t kMaxRateBps = 400'000'000'000;  // 400 Gbit/s
inline constexpr uint64_t kMaxQueueBytes = 1ULL << 30;
inline constexpr uint64_t kMaxQueuePackets = 1'000'000;

// Sets one key of p from its text value. Returns an error message naming key and value, or
// nullopt. Keys: delay jitter jitter_dist reorder loss ge rate queue dup.
std::optional<std::string> set_param(DirectionParams* p, std::string_view key,
                                     std::string_view value);

// The canonical text of p: every key, in a form set_param reads back to the same value.
std::string format_params(const DirectionParams& p);

// Units: "20ms" -> 20'000'000 ns; "2mbit" -> 2'000'000 bps; "64kb" -> 65536 bytes.
std::string format_duration(int64_t ns);
std::string format_rate(uint64_t bps);
std::string format_percent(double probability);
std::string format_queue(const QueueLimit& q);

// A value as it may be shown in an error: quoted, control bytes escaped, long input cut.
std::string quote(std::string_view s);

}  // namespace traboule::wanem

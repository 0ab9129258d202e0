// SPDX-License-Identifier: Apache-2.0
// Monthly data use per uplink, for caps on metered uplinks (4G/5G backups): what the line's
// operator counts, i.e. IP bytes in both directions on the wire, with the box's own probes
// shown apart. Summed over the current UTC calendar month from monotonic counters, kept across
// restarts in a small JSON file (written atomically). A new month starts from zero.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace traboule::cp {

// What is metered, per uplink. `rx` and `tx` are everything the port received and sent (the
// operator's count); `probes` is the share of them that the box's own link probes took.
enum class CapChannel : uint8_t { kRx = 0, kTx, kProbes };
inline constexpr size_t kCapChannels = 3;

// Monotonic counters while the daemon runs (they restart from zero with it), in bytes.
struct CapCounters {
  uint64_t rx = 0, tx = 0, probes = 0;
};

// Bytes used this month.
struct CapUse {
  uint64_t rx = 0, tx = 0, probes = 0;
  uint64_t total() const noexcept { return rx + tx; }  // what the allowance is compared with
};

class CapMeter {
 public:
  // "2026-11" for a time in November 2026 (UTC).
  static std::string month_of(int64_t unix_s);

  // Feeds `uplink`'s counters; returns this month's use. The first reading of each counter
  // after a start only sets its baseline; a counter that went backwards sets a new one.
  CapUse update(const std::string& uplink, const CapCounters& counters, int64_t unix_s);
  CapUse used(const std::string& uplink) const;
  const std::string& month() const noexcept { return month_; }

  nlohmann::json to_json() const;
  // Restores a saved state; an error naming the field and value leaves the meter empty. The
  // format before directions were kept ({"bytes": {uplink: n}}, upload only) is read as tx.
  std::optional<std::string> from_json(const nlohmann::json& j);
  // Atomic write (temp file, fsync, rename); an error text or nullopt.
  std::optional<std::string> save(const std::string& path) const;
  // Missing file: nullopt and an empty meter. Unreadable or bad: the error, meter empty.
  std::optional<std::string> load(const std::string& path);

 private:
  struct Channel {
    uint64_t bytes = 0;
    uint64_t last_counter = 0;
    bool primed = false;
  };
  using Use = std::array<Channel, kCapChannels>;
  static CapUse view(const Use& u) noexcept;
  std::string month_;
  std::map<std::string, Use> uplinks_;
};

}  // namespace traboule::cp

// Monthly data use per uplink, for caps on metered uplinks (4G/5G backups): bytes the data plane
// forwarded out of each uplink, summed over the current UTC calendar month, kept across restarts
// in a small JSON file (written atomically). A new month starts from zero.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace traboule::cp {

class CapMeter {
 public:
  // "2026-11" for a time in November 2026 (UTC).
  static std::string month_of(int64_t unix_s);

  // Feeds `uplink`'s forwarded-bytes counter (monotonic while the daemon runs); returns the
  // bytes used this month. The first reading after a start only sets the baseline.
  uint64_t update(const std::string& uplink, uint64_t counter_bytes, int64_t unix_s);
  uint64_t used(const std::string& uplink) const;
  const std::string& month() const noexcept { return month_; }

  nlohmann::json to_json() const;
  // Restores a saved state; an error naming the field and value leaves the meter empty.
  std::optional<std::string> from_json(const nlohmann::json& j);
  // Atomic write (temp file, fsync, rename); an error text or nullopt.
  std::optional<std::string> save(const std::string& path) const;
  // Missing file: nullopt and an empty meter. Unreadable or bad: the error, meter empty.
  std::optional<std::string> load(const std::string& path);

 private:
  struct Use {
    uint64_t bytes = 0;
    uint64_t last_counter = 0;
    bool primed = false;
  };
  std::string month_;
  std::map<std::string, Use> uplinks_;
};

}  // namespace traboule::cp

// SPDX-License-Identifier: Apache-2.0
#include "controlplane/links/cap_meter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace traboule::cp {

std::string CapMeter::month_of(int64_t unix_s) {
  const time_t t = static_cast<time_t>(unix_s);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d", utc.tm_year + 1900, utc.tm_mon + 1);
  return buf;
}

uint64_t CapMeter::update(const std::string& uplink, uint64_t counter_bytes, int64_t unix_s) {
  const std::string m = month_of(unix_s);
  if (m != month_) {
    month_ = m;
    for (auto& [name, u] : uplinks_) u.bytes = 0;
  }
  Use& u = uplinks_[uplink];
  // A counter that went backwards (data plane restarted under us) restarts the baseline.
  if (u.primed && counter_bytes >= u.last_counter) u.bytes += counter_bytes - u.last_counter;
  u.last_counter = counter_bytes;
  u.primed = true;
  return u.bytes;
}

uint64_t CapMeter::used(const std::string& uplink) const {
  const auto it = uplinks_.find(uplink);
  return it == uplinks_.end() ? 0 : it->second.bytes;
}

nlohmann::json CapMeter::to_json() const {
  nlohmann::json used = nlohmann::json::object();
  for (const auto& [name, u] : uplinks_) used[name] = u.bytes;
  return {{"month", month_}, {"bytes", used}};
}

std::optional<std::string> CapMeter::from_json(const nlohmann::json& j) {
  month_.clear();
  uplinks_.clear();
  if (!j.is_object() || !j.contains("month") || !j["month"].is_string())
    return "/month: must be a \"YYYY-MM\" string (got " +
           (j.is_object() && j.contains("month") ? j["month"].dump() : std::string("nothing")) +
           ")";
  const std::string m = j["month"].get<std::string>();
  if (m.size() != 7 || m[4] != '-') return "/month: must be \"YYYY-MM\" (got \"" + m + "\")";
  if (!j.contains("bytes") || !j["bytes"].is_object()) return "/bytes: must be an object";
  std::map<std::string, Use> loaded;
  for (const auto& [name, v] : j["bytes"].items()) {
    if (!v.is_number_unsigned())
      return "/bytes/" + name + ": must be a byte count (got " + v.dump() + ")";
    loaded[name].bytes = v.get<uint64_t>();
  }
  month_ = m;
  uplinks_ = std::move(loaded);
  return std::nullopt;
}

std::optional<std::string> CapMeter::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  const std::string text = to_json().dump() + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write " + tmp;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return "cannot write " + path;
  return std::nullopt;
}

std::optional<std::string> CapMeter::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return path + ": not valid JSON";
  if (auto err = from_json(j)) return path + ": " + *err;
  return std::nullopt;
}

}  // namespace traboule::cp

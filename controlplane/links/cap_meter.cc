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

namespace {
constexpr const char* kChannelNames[kCapChannels] = {"rx", "tx", "probes"};
}  // namespace

CapUse CapMeter::view(const Use& u) noexcept {
  return {u[0].bytes, u[1].bytes, u[2].bytes};
}

CapUse CapMeter::update(const std::string& uplink, const CapCounters& counters, int64_t unix_s) {
  const std::string m = month_of(unix_s);
  if (m != month_) {
    month_ = m;
    for (auto& [name, u] : uplinks_)
      for (Channel& c : u) c.bytes = 0;
  }
  Use& u = uplinks_[uplink];
  const uint64_t now[kCapChannels] = {counters.rx, counters.tx, counters.probes};
  for (size_t i = 0; i < kCapChannels; ++i) {
    Channel& c = u[i];
    // A counter that went backwards (data plane restarted under us) restarts the baseline.
    if (c.primed && now[i] >= c.last_counter) c.bytes += now[i] - c.last_counter;
    c.last_counter = now[i];
    c.primed = true;
  }
  return view(u);
}

CapUse CapMeter::used(const std::string& uplink) const {
  const auto it = uplinks_.find(uplink);
  return it == uplinks_.end() ? CapUse{} : view(it->second);
}

nlohmann::json CapMeter::to_json() const {
  nlohmann::json ups = nlohmann::json::object();
  for (const auto& [name, u] : uplinks_) {
    nlohmann::json one = nlohmann::json::object();
    for (size_t i = 0; i < kCapChannels; ++i) one[kChannelNames[i]] = u[i].bytes;
    ups[name] = one;
  }
  return {{"month", month_}, {"uplinks", ups}};
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
  std::map<std::string, Use> loaded;
  if (j.contains("uplinks")) {
    if (!j["uplinks"].is_object()) return "/uplinks: must be an object";
    for (const auto& [name, v] : j["uplinks"].items()) {
      if (!v.is_object()) return "/uplinks/" + name + ": must be an object";
      for (size_t i = 0; i < kCapChannels; ++i) {
        const nlohmann::json b =
            v.contains(kChannelNames[i]) ? v[kChannelNames[i]] : nlohmann::json(uint64_t{0});
        if (!b.is_number_unsigned())
          return "/uplinks/" + name + "/" + kChannelNames[i] + ": must be a byte count (got " +
                 b.dump() + ")";
        loaded[name][i].bytes = b.get<uint64_t>();
      }
    }
  } else if (j.contains("bytes")) {  // the upload-only format of earlier versions
    if (!j["bytes"].is_object()) return "/bytes: must be an object";
    for (const auto& [name, v] : j["bytes"].items()) {
      if (!v.is_number_unsigned())
        return "/bytes/" + name + ": must be a byte count (got " + v.dump() + ")";
      loaded[name][static_cast<size_t>(CapChannel::kTx)].bytes = v.get<uint64_t>();
    }
  } else {
    return "/uplinks: must be an object";
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

// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/status.h"

#include <cstdio>

namespace traboule::wanem {
namespace {

double us(int64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}
double pct(double probability) {
  return probability * 100.0;
}

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object() || !j.contains(key)) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

std::string num(double x, int decimals = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

}  // namespace

nlohmann::json params_to_json(const DirectionParams& p) {
  nlohmann::json j;
  j["state"] = p.up ? "up" : "down";
  j["delay_us"] = us(p.delay_ns);
  j["jitter_us"] = us(p.jitter_ns);
  j["jitter_dist"] = p.jitter_dist == JitterDist::kNormal ? "normal" : "uniform";
  j["reorder"] = p.reorder;
  j["loss_pct"] = pct(p.loss);
  if (p.ge) {
    j["ge"] = {{"p_pct", pct(p.ge->p)},
               {"r_pct", pct(p.ge->r)},
               {"loss_bad_pct", pct(p.ge->loss_bad)},
               {"loss_good_pct", pct(p.ge->loss_good)},
               {"stationary_loss_pct", pct(p.ge->stationary_loss())}};
  } else {
    j["ge"] = nullptr;
  }
  j["rate_bps"] = p.rate_bps;
  j["queue"] = {{"limit", p.queue.value},
                {"unit", p.queue.unit == QueueUnit::kBytes ? "bytes" : "packets"}};
  j["dup_pct"] = pct(p.dup);
  j["text"] = format_params(p);
  return j;
}

nlohmann::json snapshot_to_json(const DirectionSnapshot& s) {
  const DirectionCounters& c = s.core;
  nlohmann::json counters;
  counters["rx_frames"] = c.rx_frames;
  counters["rx_bytes"] = c.rx_bytes;
  counters["tx_frames"] = s.io.tx_frames;
  counters["tx_bytes"] = s.io.tx_bytes;
  counters["dropped"] = {{"loss", c.drop_loss},
                         {"ge_loss", c.drop_ge_loss},
                         {"queue_full", c.drop_queue_full},
                         {"outage", c.drop_outage},
                         {"overflow", c.drop_overflow},
                         {"oversize", s.io.drop_oversize},
                         {"runt", s.io.drop_runt},
                         {"ring_full", s.io.drop_ring_full},
                         {"no_buffer", s.io.drop_no_buffer},
                         {"vlan", s.io.drop_vlan},
                         {"tx_error", s.io.tx_error}};
  counters["duplicated"] = c.duplicated;
  counters["csum_completed"] = s.io.csum_completed;
  counters["queue_bytes"] = s.queue.bytes;
  counters["queue_packets"] = s.queue.packets;
  counters["held_frames"] = s.held_frames;
  double mean_ns = c.delay_samples
                       ? static_cast<double>(c.delay_sum_ns) / static_cast<double>(c.delay_samples)
                       : 0.0;
  counters["delay_applied_us"] = {{"last", us(c.delay_last_ns)},
                                  {"mean", mean_ns / 1000.0},
                                  {"max", us(c.delay_max_ns)},
                                  {"samples", c.delay_samples}};
  counters["wake_margin_us"] = us(s.wake_margin_ns);
  if (s.io.last_tx_errno != 0) counters["last_tx_errno"] = s.io.last_tx_errno;
  return {{"params", params_to_json(s.params)}, {"counters", counters}};
}

nlohmann::json status_to_json(const LinkInfo& info, const DirectionSnapshot& a2b,
                              const DirectionSnapshot& b2a) {
  return {{"name", info.name},
          {"a", info.if_a},
          {"b", info.if_b},
          {"seed", info.seed},
          {"uptime_s", info.uptime_s},
          {"a2b", snapshot_to_json(a2b)},
          {"b2a", snapshot_to_json(b2a)}};
}

std::string format_status(const nlohmann::json& status) {
  std::string out = "link " + get_or<std::string>(status, "name", "?") +
                    ": a=" + get_or<std::string>(status, "a", "?") +
                    " b=" + get_or<std::string>(status, "b", "?") +
                    " seed=" + std::to_string(get_or<uint64_t>(status, "seed", 0)) +
                    " uptime=" + num(get_or<double>(status, "uptime_s", 0), 1) + "s\n";
  for (const char* dir : {"a2b", "b2a"}) {
    if (!status.contains(dir)) continue;
    const nlohmann::json& d = status[dir];
    nlohmann::json params = get_or<nlohmann::json>(d, "params", nlohmann::json::object());
    nlohmann::json c = get_or<nlohmann::json>(d, "counters", nlohmann::json::object());
    nlohmann::json drop = get_or<nlohmann::json>(c, "dropped", nlohmann::json::object());
    nlohmann::json delay = get_or<nlohmann::json>(c, "delay_applied_us", nlohmann::json::object());
    out += std::string(dir) + (std::string(dir) == "a2b" ? " (upload)  " : " (download)") + " " +
           get_or<std::string>(params, "state", "?") + "  " +
           get_or<std::string>(params, "text", "") + "\n";
    out += "  rx " + std::to_string(get_or<uint64_t>(c, "rx_frames", 0)) + " frames " +
           std::to_string(get_or<uint64_t>(c, "rx_bytes", 0)) + " B, tx " +
           std::to_string(get_or<uint64_t>(c, "tx_frames", 0)) + " frames " +
           std::to_string(get_or<uint64_t>(c, "tx_bytes", 0)) + " B, duplicated " +
           std::to_string(get_or<uint64_t>(c, "duplicated", 0)) + "\n";
    out += "  dropped:";
    // The model's causes first, then the I/O's; any other key the server adds comes last.
    static const char* const kOrder[] = {"loss",      "ge_loss",  "queue_full", "outage",
                                         "overflow",  "oversize", "runt",       "ring_full",
                                         "no_buffer", "tx_error"};
    auto cause_text = [&](const std::string& cause) {
      const nlohmann::json& n = drop[cause];
      return " " + cause + "=" +
             (n.is_number_unsigned() ? std::to_string(n.get<uint64_t>()) : std::string("?"));
    };
    for (const char* cause : kOrder) {
      if (drop.contains(cause)) out += cause_text(cause);
    }
    for (const auto& item : drop.items()) {
      bool known = false;
      for (const char* cause : kOrder) known = known || item.key() == cause;
      if (!known) out += cause_text(item.key());
    }
    out += "\n  queue " + std::to_string(get_or<uint64_t>(c, "queue_bytes", 0)) + " B / " +
           std::to_string(get_or<uint64_t>(c, "queue_packets", 0)) + " pkt, held " +
           std::to_string(get_or<uint64_t>(c, "held_frames", 0)) + " frames, delay applied " +
           "last " + num(get_or<double>(delay, "last", 0) / 1000.0) + " ms mean " +
           num(get_or<double>(delay, "mean", 0) / 1000.0) + " ms max " +
           num(get_or<double>(delay, "max", 0) / 1000.0) + " ms\n";
  }
  return out;
}

}  // namespace traboule::wanem

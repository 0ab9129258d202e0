// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/params.h"

#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <vector>

namespace traboule::wanem {
namespace {

struct Unit {
  std::string_view suffix;
  double scale;
};

// Reads "<number><unit>" where unit is one of units (longest match first is the caller's
// order). A bare 0 needs no unit. Negative, non-finite and hex numbers are refused.
std::optional<std::string> parse_scaled(std::string_view key, std::string_view value,
                                        const std::vector<Unit>& units, const char* expected,
                                        double* out) {
  auto bad = [&](const std::string& why) {
    return "bad value for " + std::string(key) + ": " + quote(value) + ": " + why;
  };
  if (value.empty()) return bad(std::string("empty; expected ") + expected);
  if (value.front() == '-') return bad("must not be negative");
  if (value.front() == '+' || value.front() == ' ') return bad(std::string("expected ") + expected);
  double number = 0;
  auto [end, ec] =
      std::from_chars(value.data(), value.data() + value.size(), number, std::chars_format::fixed);
  if (ec == std::errc::result_out_of_range) return bad("number out of range");
  if (ec != std::errc() || end == value.data()) return bad(std::string("expected ") + expected);
  if (!std::isfinite(number)) return bad("number out of range");
  std::string_view suffix(end, value.data() + value.size() - end);
  if (suffix.empty()) {
    if (number == 0) {
      *out = 0;
      return std::nullopt;
    }
    return bad(std::string("missing unit; expected ") + expected);
  }
  for (const Unit& u : units) {
    if (suffix == u.suffix) {
      *out = number * u.scale;
      return std::nullopt;
    }
  }
  return bad("unknown unit " + quote(suffix) + "; expected " + expected);
}

std::optional<std::string> parse_duration(std::string_view key, std::string_view value,
                                          int64_t max_ns, int64_t* out_ns) {
  static const std::vector<Unit> kUnits = {{"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  double ns = 0;
  if (auto err = parse_scaled(key, value, kUnits, "a duration such as 20ms, 500us or 1.5s", &ns))
    return err;
  if (ns > static_cast<double>(max_ns)) {
    return "bad value for " + std::string(key) + ": " + quote(value) + ": at most " +
           format_duration(max_ns);
  }
  *out_ns = std::llround(ns);
  return std::nullopt;
}

// "2%" -> 0.02. The percent sign is required so that "loss=2" cannot mean 2 % or 200 %.
std::optional<std::string> parse_percent(std::string_view key, std::string_view value,
                                         double* out) {
  auto bad = [&](const std::string& why) {
    return "bad value for " + std::string(key) + ": " + quote(value) + ": " + why;
  };
  static const std::vector<Unit> kUnits = {{"%", 1.0}};
  double pct = 0;
  if (auto err = parse_scaled(key, value, kUnits, "a percentage such as 2% or 0.1%", &pct))
    return err;
  if (pct > 100.0) return bad("at most 100%");
  *out = pct / 100.0;
  return std::nullopt;
}

std::optional<std::string> parse_rate(std::string_view key, std::string_view value,
                                      uint64_t* out_bps) {
  if (value == "off") {
    *out_bps = 0;
    return std::nullopt;
  }
  static const std::vector<Unit> kUnits = {
      {"bit", 1.0}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}};
  double bps = 0;
  if (auto err = parse_scaled(key, value, kUnits,
                              "a rate such as 2mbit, 512kbit or 1gbit (or 0/off: unlimited)", &bps))
    return err;
  if (bps == 0) {
    *out_bps = 0;
    return std::nullopt;
  }
  if (bps < static_cast<double>(kMinRateBps) || bps > static_cast<double>(kMaxRateBps)) {
    return "bad value for " + std::string(key) + ": " + quote(value) + ": must be between " +
           format_rate(kMinRateBps) + " and " + format_rate(kMaxRateBps) + " (or 0/off)";
  }
  *out_bps = static_cast<uint64_t>(std::llround(bps));
  return std::nullopt;
}

std::optional<std::string> parse_queue(std::string_view key, std::string_view value,
                                       QueueLimit* out) {
  auto bad = [&](const std::string& why) {
    return "bad value for " + std::string(key) + ": " + quote(value) + ": " + why;
  };
  static const std::vector<Unit> kUnits = {
      {"b", 1.0}, {"kb", 1024.0}, {"mb", 1024.0 * 1024.0}, {"pkt", -1.0}};
  double n = 0;
  if (auto err = parse_scaled(key, value, kUnits, "a size such as 64kb, 1500b or 100pkt", &n))
    return err;
  if (n == 0) return bad("must be greater than 0");
  if (n < 0) {  // packets: the scale -1 marks the unit
    double pkts = -n;
    if (pkts != std::floor(pkts)) return bad("a packet count must be a whole number");
    if (pkts > static_cast<double>(kMaxQueuePackets)) {
      return bad("at most " + std::to_string(kMaxQueuePackets) + "pkt");
    }
    *out = {QueueUnit::kPackets, static_cast<uint64_t>(pkts)};
    return std::nullopt;
  }
  if (n < 64) return bad("at least 64b (the smallest Ethernet frame)");
  if (n > static_cast<double>(kMaxQueueBytes)) return bad("at most 1024mb");
  *out = {QueueUnit::kBytes, static_cast<uint64_t>(std::llround(n))};
  return std::nullopt;
}

std::optional<std::string> parse_ge(std::string_view key, std::string_view value,
                                    std::optional<GilbertElliott>* out) {
  auto bad = [&](const std::string& why) {
    return "bad value for " + std::string(key) + ": " + quote(value) + ": " + why;
  };
  if (value == "off") {
    out->reset();
    return std::nullopt;
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t comma = value.find(',', start);
    parts.push_back(value.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (parts.size() < 2 || parts.size() > 4) {
    return bad("expected p,r[,1-h[,1-k]] as percentages (e.g. 1%,30% or 1%,30%,100%,0%) or off");
  }
  static const char* const kNames[] = {"ge.p", "ge.r", "ge.1-h", "ge.1-k"};
  double v[4] = {0.0, 0.0, 1.0, 0.0};
  for (size_t i = 0; i < parts.size(); ++i) {
    if (auto err = parse_percent(kNames[i], parts[i], &v[i])) return err;
  }
  if (v[0] > 0 && v[1] == 0) {
    return bad("r must be greater than 0% when p is (with r=0 the bad state is never left)");
  }
  *out = GilbertElliott{v[0], v[1], v[2], v[3]};
  return std::nullopt;
}

std::string format_number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

}  // namespace

double GilbertElliott::stationary_loss() const {
  if (p + r == 0) return loss_good;  // never leaves the good state it starts in
  double pi_bad = p / (p + r);
  return pi_bad * loss_bad + (1.0 - pi_bad) * loss_good;
}

const char* to_string(Dir d) {
  return d == Dir::kA2B ? "a2b" : "b2a";
}

std::optional<std::string> set_param(DirectionParams* p, std::string_view key,
                                     std::string_view value) {
  auto bad = [&](const char* expected) {
    return "bad value for " + std::string(key) + ": " + quote(value) + ": expected " + expected;
  };
  if (key == "delay") return parse_duration(key, value, kMaxDelayNs, &p->delay_ns);
  if (key == "jitter") return parse_duration(key, value, kMaxJitterNs, &p->jitter_ns);
  if (key == "jitter_dist") {
    if (value == "uniform") {
      p->jitter_dist = JitterDist::kUniform;
    } else if (value == "normal") {
      p->jitter_dist = JitterDist::kNormal;
    } else {
      return bad("uniform or normal");
    }
    return std::nullopt;
  }
  if (key == "reorder") {
    if (value == "on") {
      p->reorder = true;
    } else if (value == "off") {
      p->reorder = false;
    } else {
      return bad("on or off");
    }
    return std::nullopt;
  }
  if (key == "loss") return parse_percent(key, value, &p->loss);
  if (key == "dup") return parse_percent(key, value, &p->dup);
  if (key == "ge") return parse_ge(key, value, &p->ge);
  if (key == "rate") return parse_rate(key, value, &p->rate_bps);
  if (key == "queue") return parse_queue(key, value, &p->queue);
  return "unknown key " + quote(key) +
         "; known keys: delay, jitter, jitter_dist, reorder, loss, ge, rate, queue, dup";
}

std::string format_duration(int64_t ns) {
  if (ns == 0) return "0ms";
  if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64 "us", ns / 1000, ns % 1000);
  return buf;
}

std::string format_rate(uint64_t bps) {
  if (bps == 0) return "off";
  if (bps % 1'000'000'000 == 0) return std::to_string(bps / 1'000'000'000) + "gbit";
  if (bps % 1'000'000 == 0) return std::to_string(bps / 1'000'000) + "mbit";
  if (bps % 1'000 == 0) return std::to_string(bps / 1'000) + "kbit";
  return std::to_string(bps) + "bit";
}

std::string format_percent(double probability) {
  return format_number(probability * 100) + "%";
}

std::string format_queue(const QueueLimit& q) {
  if (q.unit == QueueUnit::kPackets) return std::to_string(q.value) + "pkt";
  if (q.value % (1024 * 1024) == 0) return std::to_string(q.value / (1024 * 1024)) + "mb";
  if (q.value % 1024 == 0) return std::to_string(q.value / 1024) + "kb";
  return std::to_string(q.value) + "b";
}

std::string format_params(const DirectionParams& p) {
  std::string s = "delay=" + format_duration(p.delay_ns) +
                  " jitter=" + format_duration(p.jitter_ns) +
                  " jitter_dist=" + (p.jitter_dist == JitterDist::kNormal ? "normal" : "uniform") +
                  " reorder=" + (p.reorder ? "on" : "off") + " loss=" + format_percent(p.loss);
  if (p.ge) {
    s += " ge=" + format_percent(p.ge->p) + "," + format_percent(p.ge->r) + "," +
         format_percent(p.ge->loss_bad) + "," + format_percent(p.ge->loss_good);
  } else {
    s += " ge=off";
  }
  s += " rate=" + format_rate(p.rate_bps) + " queue=" + format_queue(p.queue) +
       " dup=" + format_percent(p.dup);
  return s;
}

std::string quote(std::string_view s) {
  constexpr size_t kMaxShown = 64;
  std::string out = "\"";
  size_t shown = 0;
  for (unsigned char c : s) {
    if (shown == kMaxShown) {
      out += "...";
      break;
    }
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
    ++shown;
  }
  out += "\"";
  return out;
}

}  // namespace traboule::wanem

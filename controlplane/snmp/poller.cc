// SPDX-License-Identifier: Apache-2.0
#include "controlplane/snmp/poller.h"

#include <httplib.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <fstream>

#include "controlplane/snmp/model.h"

namespace traboule::snmp {
namespace {

// The API's largest answers (GET /uplinks with every path's figures) are tens of KiB; anything
// far beyond is not our daemon and is refused before it is parsed.
constexpr size_t kMaxBodyBytes = 8u << 20;

// The month whose availability we serve, in the subagent's local time (TZ): set TZ to the
// daemon's operations.timezone (docs/snmp.md) so the month turns over when the report's does.
std::string this_month() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m", &tm);
  return buf;
}

}  // namespace

struct Poller::Client {
  explicit Client(const ApiSettings& s) : http(s.host, s.port) {
    const auto whole = static_cast<time_t>(s.timeout_s);
    const auto usec = static_cast<time_t>((s.timeout_s - static_cast<double>(whole)) * 1e6);
    http.set_connection_timeout(whole, usec);
    http.set_read_timeout(whole, usec);
    http.set_write_timeout(whole, usec);
    http.enable_server_certificate_verification(true);
    if (!s.ca_file.empty()) http.set_ca_cert_path(s.ca_file);
    http.set_follow_location(false);
    http.set_keep_alive(true);
  }
  httplib::SSLClient http;
};

bool parse_server(const std::string& url, std::string& host, uint16_t& port, std::string& error) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    error = "--server must be https://HOST[:PORT] (the token must not travel in clear)";
    return false;
  }
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string port_text = "8443";
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) return error = "--server: unclosed [", false;
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return error = "--server: junk after ]", false;
      port_text = rest.substr(close + 2);
    }
  } else {
    const size_t colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
  }
  unsigned p = 0;
  const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
  if (host.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || p == 0 ||
      p > 65535) {
    error = "--server: want https://HOST[:PORT] with a port 1-65535";
    return false;
  }
  port = static_cast<uint16_t>(p);
  return true;
}

std::string read_token(const std::string& path, std::string& error) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    error = "cannot read the token file " + path;
    return {};
  }
  const auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!line.empty() && blank(static_cast<unsigned char>(line.back()))) line.pop_back();
  size_t b = 0;
  while (b < line.size() && blank(static_cast<unsigned char>(line[b]))) ++b;
  line.erase(0, b);
  if (line.empty()) error = "the token file " + path + " is empty";
  return line;
}

Poller::Poller(ApiSettings settings) : settings_(std::move(settings)) {}

Poller::~Poller() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Poller::start(std::string& error) {
  token_ = read_token(settings_.token_file, error);
  if (token_.empty()) return false;
  client_ = std::make_unique<Client>(settings_);
  thread_ = std::thread([this] { run(); });
  return true;
}

std::optional<Poll> Poller::take() {
  std::lock_guard lock(mu_);
  std::optional<Poll> out = std::move(ready_);
  ready_.reset();
  return out;
}

void Poller::run() {
  using Clock = std::chrono::steady_clock;
  auto next_report = Clock::now();
  for (;;) {
    const auto start = Clock::now();
    const bool with_report = start >= next_report;
    Poll p = poll_once(with_report);
    if (with_report)
      next_report = start + std::chrono::seconds(p.availability ? settings_.report_interval_s
                                                                : settings_.interval_s);
    std::unique_lock lock(mu_);
    // A poll the SNMP thread has not taken yet is replaced, but its report is kept: the next one
    // is a whole --report-interval away. (Its events are not lost: `since` has not moved.)
    if (ready_ && !p.availability) p.availability = std::move(ready_->availability);
    ready_ = std::move(p);
    if (cv_.wait_until(lock, start + std::chrono::seconds(settings_.interval_s),
                       [this] { return stop_; }))
      return;
  }
}

Poll Poller::poll_once(bool with_report) {
  Poll p;
  // /uplinks before /events: a path change the snapshot shows is then already in the journal's
  // answer, which says it with its text and sequence number (TrapDecider).
  p.uplinks = get("/api/v1/uplinks", p);
  if (!p.uplinks) return p;  // the daemon is down or refuses us: no use asking four more times
  p.status = get("/api/v1/status", p);
  p.paths = get("/api/v1/paths", p);
  p.counters = get("/api/v1/counters", p);
  p.events = get("/api/v1/events?since=" + std::to_string(events_since_.load()), p);
  if (with_report) p.availability = get("/api/v1/report/availability?month=" + this_month(), p);
  return p;
}

std::optional<nlohmann::json> Poller::get(const std::string& target, Poll& poll) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    httplib::Headers headers = {{"Accept", "application/json"},
                                {"User-Agent", "traboule-snmp"},
                                {"Authorization", "Bearer " + token_}};
    std::string body;
    bool too_large = false;
    auto res = client_->http.Get(target, headers, [&](const char* data, size_t len) {
      if (body.size() + len > kMaxBodyBytes) return !(too_large = true);
      body.append(data, len);
      return true;
    });
    if (too_large) return poll.failures.push_back(target + ": answer too large"), std::nullopt;
    if (!res) {
      poll.failures.push_back(target + ": " + httplib::to_string(res.error()));
      return std::nullopt;
    }
    if (res->status == 401 && attempt == 0) {  // the token may have been rotated: read it again
      std::string error;
      std::string fresh = read_token(settings_.token_file, error);
      if (!fresh.empty() && fresh != token_) {
        token_ = std::move(fresh);
        continue;
      }
    }
    if (res->status != 200) {
      poll.failures.push_back(target + ": HTTP " + std::to_string(res->status) + " " +
                              clean_text(body, 120));
      return std::nullopt;
    }
    auto doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_discarded()) {
      poll.failures.push_back(target + ": not JSON: " + clean_text(body, 80));
      return std::nullopt;
    }
    return doc;
  }
  poll.failures.push_back(target + ": HTTP 401 with the token file's token");
  return std::nullopt;
}

}  // namespace traboule::snmp

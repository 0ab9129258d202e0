// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/commands.h"

#include <ctime>

#include "controlplane/journal/availability.h"

#include <chrono>
#include <filesystem>
#include <ostream>
#include <thread>

#include "controlplane/policy/policy.h"
#include "tools/traboulectl/json_util.h"
#include "tools/traboulectl/offline.h"
#include "tools/traboulectl/render.h"
#include "tools/traboulectl/table.h"

namespace traboule::ctl {
namespace {

// "2026-12-07 09:15:02" in the local time zone, from ms since the epoch.
std::string local_time_text(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

constexpr size_t kMaxTokenFileBytes = 8192;
constexpr size_t kMaxDevicesFileBytes = 8u << 20;

// Trims surrounding whitespace and checks a token can go into an HTTP header as it is.
bool check_token(std::string& token, const std::string& origin, std::string& error) {
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  size_t start = 0;
  while (start < token.size() && std::isspace(static_cast<unsigned char>(token[start]))) ++start;
  token.erase(0, start);
  if (token.empty()) {
    error = origin + ": the token is empty";
    return false;
  }
  if (token.size() > 4096) {
    error = origin + ": the token is longer than 4096 bytes";
    return false;
  }
  for (const char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) {
      error = origin + ": the token holds a space, control or non-ASCII character";
      return false;
    }
  }
  return true;
}

class Runner {
 public:
  Runner(const Invocation& inv, const Environment& env, std::ostream& out, std::ostream& err,
         const CliDeps& deps)
      : inv_(inv), env_(env), out_(out), err_(err), deps_(deps) {}

  int run() {
    const auto& cmd = inv_.command;
    const std::string name = cmd.size() == 1 ? cmd[0] : cmd[0] + " " + cmd[1];
    if (name == "policy validate" && !inv_.remote) return policy_validate_offline();
    if (name == "fleet apply") return fleet_apply();
    if (!connect()) return kExitUsage;
    if (name == "status") return show("/status", "", {});
    if (name == "links") {
      const ApiResult r = client_->get("/uplinks");
      if (!r.ok) return fail(r.error);
      if (inv_.global.json) return print_json(r.body);
      out_ << render_rows(link_rows(r.body), kLinkColumns);
      return kExitOk;
    }
    if (name == "paths") {
      const ApiResult r = client_->get("/paths");
      if (!r.ok) return fail(r.error);
      if (inv_.global.json) return print_json(r.body);
      out_ << render_listing(r.body, "rules",
                             {"rule", "egress", "uplink", "second", "sla_class", "reason"});
      out_ << "\n"
           << render_listing(
                  r.body, "events",
                  {"kind", "rule", "uplink", "sla_class", "from", "to", "reason", "ago_s"});
      if (r.body.contains("flow_moves") && r.body["flow_moves"].is_object()) {
        const auto& fm = r.body["flow_moves"];
        out_ << "\nflows moved: " << fm.value("total", uint64_t{0}) << " (last "
             << (fm.contains("last") ? fm["last"].size() : 0) << " below)\n";
        out_ << render_listing(fm, "last", {"flow", "rule", "from", "to", "reason", "ago_s"});
      }
      return kExitOk;
    }
    if (name == "usage") {
      const ApiResult r = client_->get("/paths");
      if (!r.ok) return fail(r.error);
      const nlohmann::json usage = r.body.is_object() && r.body.contains("usage")
                                       ? nlohmann::json{{"usage", r.body["usage"]}}
                                       : nlohmann::json{{"usage", nlohmann::json::array()}};
      if (inv_.global.json) return print_json(usage);
      out_ << render_listing(usage, "usage",
                             {"uplink", "month", "bytes", "rx_bytes", "tx_bytes", "probe_bytes",
                              "traffic_bytes", "metered", "cap_bytes", "cap_reached"});
      return kExitOk;
    }
    if (name == "flows") {
      return show(
          "/flows" + (inv_.top ? "?top=" + std::to_string(*inv_.top) : std::string()), "flows",
          {"proto", "src", "src_port", "dst", "dst_port", "uplink", "rule", "app", "moves",
           "bytes_out", "bytes_in", "packets_out", "packets_in", "tcp_state", "age_s", "idle_ms"});
    }
    if (name == "apps") {
      return show("/apps/top" + (inv_.top ? "?top=" + std::to_string(*inv_.top) : std::string()),
                  "apps",
                  {"name", "category", "active_flows", "bytes_out", "bytes_in", "packets_out",
                   "packets_in"});
    }
    if (name == "apps catalog") return show("/apps", "apps", {"id", "name", "category", "custom"});
    if (name == "counters") {
      return show("/counters" + (inv_.prefix ? "?prefix=" + url_encode(*inv_.prefix) : ""),
                  "counters", {});
    }
    if (name == "rules") {
      return show("/rules", "rules",
                  {"index", "name", "hits.flows", "hits.packets", "hits.bytes", "uplinks"},
                  "rules");
    }
    if (name == "qos") {
      return show("/qos", "qos",
                  {"name", "enforced", "priority", "weight", "min_rate_bps", "max_rate_bps"});
    }
    if (name == "routes") {
      return show("/routes", "routes", {"prefix", "via", "gateway", "usable", "source"});
    }
    if (name == "drops") return show("/drops", "counters", {}, "drops");
    if (name == "events") {
      std::string q;
      auto add = [&](const std::string& kv) { q += (q.empty() ? "?" : "&") + kv; };
      if (inv_.since_s) add("since=" + std::to_string(*inv_.since_s));
      if (inv_.incident) add("class=" + *inv_.incident);
      if (inv_.limit) add("limit=" + std::to_string(*inv_.limit));
      const ApiResult r = client_->get("/events" + q);
      if (!r.ok) return fail(r.error);
      if (inv_.global.json) return print_json(r.body);
      nlohmann::json doc = {{"events", nlohmann::json::array()}};
      if (r.body.contains("events") && r.body["events"].is_array())
        for (nlohmann::json e : r.body["events"]) {
          if (!e.is_object()) continue;
          e["time"] = local_time_text(e.value("time_ms", int64_t{0}));
          e["class"] = e.value("incident", std::string());
          e.erase("time_ms");  // shown as `time` and `class` already
          e.erase("incident");
          doc["events"].push_back(std::move(e));
        }
      out_ << render_listing(doc, "events",
                             {"time", "class", "severity", "kind", "subject", "state", "text"});
      return kExitOk;
    }
    if (name == "runtime") {
      ApiResult first = client_->get("/runtime");
      if (!first.ok) return fail(first.error);
      ApiResult r = first;
      if (inv_.interval_s) {
        std::this_thread::sleep_for(std::chrono::seconds(*inv_.interval_s));
        r = client_->get("/runtime");
        if (!r.ok) return fail(r.error);
      }
      const nlohmann::json rows = runtime_rows(r.body, inv_.interval_s ? &first.body : nullptr,
                                               inv_.interval_s ? double(*inv_.interval_s) : 0);
      if (inv_.global.json)
        return print_json(inv_.interval_s
                              ? nlohmann::json{{"interval_s", *inv_.interval_s}, {"stages", rows}}
                              : r.body);
      std::vector<std::string> cols = kRuntimeColumns;
      if (inv_.interval_s) cols.push_back("rate_pps");
      out_ << render_rows(rows, cols);
      if (!inv_.interval_s && r.body.is_object() && r.body.contains("cycles_per_rx_packet") &&
          r.body["cycles_per_rx_packet"].is_number())
        out_ << "\ncycles per received packet, all stages: "
             << r.body["cycles_per_rx_packet"].get<double>() << "\n";
      return kExitOk;
    }
    if (name == "report availability") {
      const ApiResult r = client_->get("/report/availability?month=" + inv_.month);
      if (!r.ok) return fail(r.error);
      if (inv_.global.json) return print_json(r.body);
      if (inv_.csv) {
        out_ << cp::availability_csv(r.body);
        return kExitOk;
      }
      out_ << "month " << r.body.value("month", std::string("?")) << " ("
           << r.body.value("from", std::string()) << " to " << r.body.value("to", std::string())
           << ", observed from " << r.body.value("observed_from", std::string()) << "), time zone "
           << r.body.value("timezone", std::string("?")) << "\n";
      out_ << "target " << r.body.value("target_percent", 0.0) << " %: at most "
           << r.body.value("allowed_unavailable_s", 0.0) << " s unavailable in the month\n\n";
      nlohmann::json doc = {{"subjects", nlohmann::json::array()}};
      if (r.body.contains("subjects") && r.body["subjects"].is_array())
        for (nlohmann::json s : r.body["subjects"]) {
          if (!s.is_object()) continue;
          if (s.contains("business_hours") && s["business_hours"].is_object()) {
            s["business_unavailable_s"] = s["business_hours"].value("unavailable_s", 0.0);
            s["business_percent"] = s["business_hours"].value("availability_percent", 0.0);
            s.erase("business_hours");
          }
          doc["subjects"].push_back(std::move(s));
        }
      out_ << render_listing(
          doc, "subjects",
          {"kind", "name", "availability_percent", "unavailable_s", "outages", "longest_outage_s",
           "meets_target", "business_percent", "business_unavailable_s"});
      return kExitOk;
    }
    if (name == "firewall") {
      const ApiResult r = client_->get(
          "/firewall" + (inv_.top ? "?top=" + std::to_string(*inv_.top) : std::string()));
      if (!r.ok) return fail(r.error);
      if (inv_.global.json) return print_json(r.body);
      // Each part on its own: a listing prints the document's other fields above its table.
      auto part = [&](const char* key) {
        nlohmann::json d = nlohmann::json::object();
        d[key] = r.body.contains(key) ? r.body[key] : nlohmann::json::array();
        if (d[key].is_array())
          for (auto& row : d[key])
            if (row.is_object()) row.erase("time_ns");
        return d;
      };
      out_ << "lan source check: " << r.body.value("lan_source_check", std::string("?")) << "\n";
      out_ << "\ninbound rules\n"
           << render_listing(
                  part("inbound"), "inbound",
                  {"index", "name", "from", "to", "proto", "dst_ports", "action", "log", "hits"});
      out_ << "\nport forwards\n"
           << render_listing(part("port_forwards"), "port_forwards",
                             {"name", "uplink", "proto", "port", "to", "to_port", "hits"});
      for (const char* key : {"verdicts", "denied_by_zones"}) {
        out_ << "\n" << key << "\n";
        if (r.body.contains(key)) out_ << render_document(r.body[key]);
      }
      out_ << "\ntop denied sources\n"
           << render_listing(part("top_denied_sources"), "top_denied_sources",
                             {"source", "denied"});
      out_ << "\nlast decisions logged\n"
           << render_listing(part("last"), "last", {"ago_s", "verdict", "zones", "flow", "rule"});
      return kExitOk;
    }
    if (name == "policy validate") return policy_validate_remote();
    if (name == "policy apply") return policy_apply();
    if (name == "policy confirm") return policy_confirm();
    if (name == "policy rollback") return policy_rollback();
    if (name == "policy history") return policy_history();
    if (name == "policy diff") return policy_diff();
    if (name == "policy show") return policy_show();
    err_ << "traboulectl: internal error: command " << name << " has no handler\n";
    return kExitFailed;
  }

 private:
  bool connect() {
    std::string error;
    const auto settings = resolve_connection(inv_.global, env_, error);
    if (!settings) {
      err_ << "traboulectl: " << error << "\n";
      return false;
    }
    client_.emplace(deps_.make_transport(*settings), settings->server.text());
    return true;
  }

  // Prints a failed call: the message (and details) on stderr; with --json, the server's error
  // document (or one made from the message) on stdout too.
  int fail(const CtlError& e, bool details_to_stdout = false) {
    err_ << "traboulectl: " << e.message << "\n";
    for (const auto& line : e.details)
      (details_to_stdout && !inv_.global.json ? out_ : err_) << line << "\n";
    if (inv_.global.json) {
      nlohmann::json doc =
          e.body.is_object() && e.body.contains("error")
              ? e.body
              : nlohmann::json{{"error", {{"code", "traboulectl"}, {"message", e.message}}}};
      doc["http_status"] = e.http_status;
      out_ << safe_dump(doc, 2) << "\n";
    }
    return e.exit_code;
  }

  int print_json(const nlohmann::json& body) {
    out_ << safe_dump(body, 2) << "\n";
    return kExitOk;
  }

  // A GET whose answer is printed as it is (--json) or as tables: the array under `rows_key`
  // as a table (or, when it is an object of counters, as a name/value table), the rest above.
  // With `unwrap`, an object under that key is the document (/drops answers {"drops": {...}}).
  int show(const std::string& path, const std::string& rows_key,
           const std::vector<std::string>& preferred, const std::string& unwrap = "") {
    const ApiResult r = client_->get(path);
    if (!r.ok) return fail(r.error);
    if (inv_.global.json) return print_json(r.body);
    const nlohmann::json* doc = &r.body;
    if (!unwrap.empty() && r.body.is_object()) {
      const auto inner = r.body.find(unwrap);
      if (inner != r.body.end() && inner->is_object() && r.body.size() == 1) doc = &*inner;
    }
    if (rows_key.empty()) {
      out_ << render_document(*doc);
    } else {
      out_ << render_listing(*doc, rows_key, preferred);
    }
    return kExitOk;
  }

  std::optional<std::string> read_policy_file(std::string& error) {
    return read_text_file(inv_.file, kMaxPolicyBytes, error);
  }

  int policy_validate_offline() {
    std::string error;
    const auto text = read_policy_file(error);
    if (!text) {
      err_ << "traboulectl: " << error << "\n";
      return kExitFailed;
    }
    std::optional<cp::SiteFacts> site;
    SiteSource source = SiteSource::kPolicy;
    if (inv_.uplinks) {
      cp::SiteFacts facts;
      facts.uplink_names = *inv_.uplinks;
      site = facts;
      source = SiteSource::kCommandLine;
    } else if (inv_.config_file) {
      site = site_from_config(*inv_.config_file, error);
      if (!site) {
        err_ << "traboulectl: " << error << "\n";
        return kExitFailed;
      }
      source = SiteSource::kConfigFile;
    }
    if (site && !inv_.role && source == SiteSource::kCommandLine) {
      // --uplinks alone: the role the policy is written for.
      nlohmann::json doc = nlohmann::json::parse(*text, nullptr, false);
      site->role = policy_role(doc.is_discarded() ? nlohmann::json() : doc);
    }
    const OfflineReport report = validate_policy_text(inv_.file, *text, site, source, inv_.role);
    if (inv_.global.json) {
      out_ << safe_dump(offline_report_json(report), 2) << "\n";
    } else {
      out_ << render_offline_report(report);
    }
    if (!report.valid) {
      err_ << "traboulectl: " << sanitize_text(inv_.file) << ": invalid (" << report.errors.size()
           << (report.errors.size() == 1 ? " problem" : " problems") << ")\n";
      return kExitFailed;
    }
    return kExitOk;
  }

  int policy_validate_remote() {
    std::string error;
    const auto text = read_policy_file(error);
    if (!text) {
      err_ << "traboulectl: " << error << "\n";
      return kExitFailed;
    }
    const ApiResult r = client_->post_text("/policy/validate", *text);
    if (!r.ok) return fail(r.error, /*details_to_stdout=*/true);
    if (inv_.global.json) return print_json(r.body);
    const auto valid = r.body.is_object() ? r.body.find("valid") : r.body.end();
    if (!r.body.is_object() || valid == r.body.end() || !valid->is_boolean()) {
      return fail(malformed_answer("no \"valid\" in the validation answer", safe_dump(r.body)));
    }
    if (!valid->get<bool>()) {
      // A server that answers 200 with valid:false still says why in "errors"/"details".
      const nlohmann::json problems = find_rows(r.body, {"errors", "details"});
      if (problems.is_array()) {
        for (const auto& p : problems) out_ << format_detail(p) << "\n";
      }
      err_ << "traboulectl: " << sanitize_text(inv_.file) << ": invalid on " << client_->server()
           << "\n";
      return kExitFailed;
    }
    out_ << sanitize_text(inv_.file) << ": valid on " << client_->server();
    const auto diff = r.body.find("diff");
    if (diff != r.body.end() && diff->is_array()) {
      out_ << "; applying it would change:\n" << render_patch(*diff);
    } else {
      out_ << "\n";
    }
    return kExitOk;
  }

  // The outcome of apply/rollback: the version, its hash, the pending deadline, the changes.
  int print_change(const std::string& verb, const nlohmann::json& body) {
    std::string error;
    const auto change = parse_change_answer(body, error);
    if (!change) return fail(malformed_answer(error, safe_dump(body)));
    std::string hash = change->hash.size() > 12 ? change->hash.substr(0, 12) + "…" : change->hash;
    out_ << verb << ": version " << change->version << " is running"
         << (hash.empty() ? "" : " (sha256 " + sanitize_text(hash) + ")") << "\n";
    if (change->pending) {
      out_ << "pending confirmation until "
           << (change->deadline.empty() ? "?" : sanitize_text(change->deadline))
           << ": run `traboulectl policy confirm` before then, or the box rolls back by itself\n";
    }
    if (change->diff.is_array()) out_ << "changes:\n" << render_patch(change->diff);
    return kExitOk;
  }

  int policy_apply() {
    std::string error;
    const auto text = read_policy_file(error);
    if (!text) {
      err_ << "traboulectl: " << error << "\n";
      return kExitFailed;
    }
    nlohmann::json doc;
    std::vector<cp::PolicyError> errors;
    if (!cp::parse_policy_text(*text, doc, errors)) {
      for (const auto& e : errors) err_ << sanitize_text(cp::to_string(e)) << "\n";
      err_ << "traboulectl: " << sanitize_text(inv_.file)
           << " is not a JSON policy; nothing sent\n";
      return kExitFailed;
    }
    nlohmann::json body = {{"policy", doc}};
    if (inv_.comment) body["comment"] = *inv_.comment;
    if (inv_.confirm_timeout_s) body["confirm_timeout_s"] = *inv_.confirm_timeout_s;
    const ApiResult r = client_->post("/policy/apply", body);
    if (!r.ok) return fail(r.error);
    if (inv_.global.json) return print_json(r.body);
    return print_change("applied", r.body);
  }

  int policy_confirm() {
    const ApiResult r = client_->post("/policy/confirm", nlohmann::json::object());
    if (!r.ok) return fail(r.error);
    if (inv_.global.json) return print_json(r.body);
    std::string error;
    const auto change = parse_change_answer(r.body, error);
    if (!change) return fail(malformed_answer(error, safe_dump(r.body)));
    out_ << "confirmed: version " << change->version << " is committed\n";
    return kExitOk;
  }

  int policy_rollback() {
    nlohmann::json body = {{"version", *inv_.version}};
    if (inv_.comment) body["comment"] = *inv_.comment;
    const ApiResult r = client_->post("/policy/rollback", body);
    if (!r.ok) return fail(r.error);
    if (inv_.global.json) return print_json(r.body);
    return print_change("rolled back to version " + std::to_string(*inv_.version), r.body);
  }

  int policy_history() {
    const ApiResult r = client_->get("/policy/history");
    if (!r.ok) return fail(r.error);
    if (inv_.global.json) return print_json(r.body);
    const nlohmann::json versions = find_rows(r.body, {"versions", "history"});
    if (!versions.is_array()) {
      return fail(malformed_answer("no list of versions", safe_dump(r.body)));
    }
    const auto running = running_version_of(r.body);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& v : versions) {
      if (!v.is_object()) {
        rows.push_back({{"version", v}});
        continue;
      }
      nlohmann::json row = nlohmann::json::object();
      for (const char* key : {"version", "state", "time", "author", "hash", "comment"}) {
        const auto it = v.find(key);
        row[key] = it == v.end() ? nlohmann::json(nullptr) : *it;
      }
      const auto hash = row.find("hash");
      if (hash->is_string() && hash->get<std::string>().size() > 12) {
        *hash = hash->get<std::string>().substr(0, 12);
      }
      const auto number = v.find("version");
      if (running && number != v.end() && number->is_number_unsigned() &&
          number->get<uint64_t>() == *running && row["state"].is_string()) {
        row["state"] = row["state"].get<std::string>() + " (running)";
      }
      rows.push_back(std::move(row));
    }
    out_ << render_rows(rows, {"version", "state", "time", "author", "hash", "comment"});
    const auto pending = r.body.is_object() ? r.body.find("pending") : r.body.end();
    if (pending != r.body.end() && pending->is_object()) {
      out_ << "pending: version " << sanitize_text(field_text(*pending, "version"))
           << ", confirm before " << sanitize_text(field_text(*pending, "deadline"))
           << " or version " << sanitize_text(field_text(*pending, "restores_version"))
           << " comes back\n";
    }
    return kExitOk;
  }

  int policy_diff() {
    const ApiResult r = client_->get("/policy/diff?from=" + std::to_string(inv_.diff_from) +
                                     "&to=" + std::to_string(inv_.diff_to));
    if (!r.ok) return fail(r.error);
    if (inv_.global.json) return print_json(r.body);
    const nlohmann::json patch = r.body.is_array() ? r.body : find_rows(r.body, {"diff", "patch"});
    if (!patch.is_array())
      return fail(malformed_answer("not an RFC 6902 patch", safe_dump(r.body)));
    out_ << render_patch(patch);
    return kExitOk;
  }

  int policy_show() {
    const ApiResult r =
        client_->get(inv_.version ? "/policy/versions/" + std::to_string(*inv_.version)
                                  : std::string("/policy"));
    if (!r.ok) return fail(r.error);
    if (inv_.global.json) return print_json(r.body);
    const auto policy = r.body.is_object() ? r.body.find("policy") : r.body.end();
    if (policy == r.body.end() || !policy->is_object()) {
      return fail(malformed_answer("no policy document in the answer", safe_dump(r.body)));
    }
    // The record on stderr, the document alone on stdout: `policy show > p.json` can be edited
    // and applied again.
    std::vector<std::pair<std::string, std::string>> meta;
    for (const char* key : {"version", "state", "time", "author", "comment", "hash", "parent",
                            "rollback_of", "confirm_deadline"}) {
      if (r.body.contains(key)) meta.emplace_back(key, field_text(r.body, key));
    }
    err_ << render_key_values(meta);
    out_ << safe_dump(*policy, 2) << "\n";
    return kExitOk;
  }

  int fleet_apply() {
    std::string error;
    const auto devices_text = read_text_file(inv_.devices_file, kMaxDevicesFileBytes, error);
    if (!devices_text) {
      err_ << "traboulectl: " << error << "\n";
      return kExitFailed;
    }
    const std::string base_dir = std::filesystem::path(inv_.devices_file).parent_path().string();
    const auto devices = parse_devices(*devices_text, base_dir, inv_.global.timeout_s, error);
    if (!devices) {
      err_ << "traboulectl: bad devices file " << sanitize_text(inv_.devices_file) << ": " << error
           << "\n";
      return kExitFailed;
    }
    if (inv_.canary) {
      const bool known = std::any_of(devices->begin(), devices->end(),
                                     [&](const FleetDevice& d) { return d.name == *inv_.canary; });
      if (!known) {
        err_ << "traboulectl: --canary: no device is named \"" << sanitize_text(*inv_.canary)
             << "\" in " << sanitize_text(inv_.devices_file) << "\n";
        return kExitUsage;
      }
    }
    const auto policy_text = read_policy_file(error);
    if (!policy_text) {
      err_ << "traboulectl: " << error << "\n";
      return kExitFailed;
    }
    FleetOptions options;
    options.confirm_timeout_s = inv_.confirm_timeout_s.value_or(120);
    options.canary = inv_.canary;
    options.settle_s = inv_.settle_s;
    if (inv_.comment) options.comment = *inv_.comment;
    const FleetReport report =
        run_fleet(inv_.file, *policy_text, *devices, options, deps_.make_transport, deps_.sleep,
                  [&](const std::string& line) { err_ << sanitize_text(line) << "\n"; });
    if (inv_.global.json) {
      out_ << safe_dump(fleet_report_json(report), 2) << "\n";
    } else {
      out_ << render_fleet_report(report);
    }
    return report.ok ? kExitOk : kExitFailed;
  }

  const Invocation& inv_;
  const Environment& env_;
  std::ostream& out_;
  std::ostream& err_;
  const CliDeps& deps_;
  std::optional<ApiClient> client_;
};

}  // namespace

std::optional<ConnectionSettings> resolve_connection(const GlobalOptions& options,
                                                     const Environment& env, std::string& error) {
  ConnectionSettings settings;
  std::string url_text = kDefaultServer;
  std::string origin = "default server";
  if (options.server) {
    url_text = *options.server;
    origin = "--server";
  } else if (env.server && !env.server->empty()) {
    url_text = *env.server;
    origin = "TRABOULE_SERVER";
  }
  std::string url_error;
  const auto url = parse_server_url(url_text, url_error);
  if (!url) {
    error = origin + ": " + url_error;
    return std::nullopt;
  }
  settings.server = *url;
  if (options.token) {
    settings.token = *options.token;
    if (!check_token(settings.token, "--token", error)) return std::nullopt;
  } else if (options.token_file) {
    std::string read_error;
    const auto content = read_text_file(*options.token_file, kMaxTokenFileBytes, read_error);
    if (!content) {
      error = "--token-file: " + read_error;
      return std::nullopt;
    }
    settings.token = *content;
    if (!check_token(settings.token, "--token-file " + sanitize_text(*options.token_file), error)) {
      return std::nullopt;
    }
  } else if (env.token) {
    settings.token = *env.token;
    if (!check_token(settings.token, "TRABOULE_TOKEN", error)) return std::nullopt;
  } else {
    error = "no API token: give --token, --token-file or set TRABOULE_TOKEN";
    return std::nullopt;
  }
  if (options.ca_file)
    settings.ca_file = *options.ca_file;
  else if (env.ca && !env.ca->empty() && !options.insecure)
    settings.ca_file = *env.ca;
  settings.insecure = options.insecure;
  settings.timeout_s = options.timeout_s;
  return settings;
}

int run_cli(const std::vector<std::string>& args, const Environment& env, std::ostream& out,
            std::ostream& err, const CliDeps& deps) {
  const ParseOutcome parsed = parse_command_line(args);
  if (!parsed.ok) {
    err << "traboulectl: " << parsed.error << "\n";
    return kExitUsage;
  }
  if (parsed.invocation.help) {
    out << *parsed.invocation.help;
    return kExitOk;
  }
  try {
    Runner runner(parsed.invocation, env, out, err, deps);
    return runner.run();
  } catch (const std::exception& e) {
    // Nothing above is meant to throw; if something does, say so instead of aborting.
    err << "traboulectl: unexpected error: " << sanitize_text(e.what()) << "\n";
    return kExitFailed;
  }
}

}  // namespace traboule::ctl

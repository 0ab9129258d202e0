// SPDX-License-Identifier: Apache-2.0
// TrapDecider (model.h): journal records and path state changes → notifications, once each.
#include <algorithm>

#include "controlplane/snmp/model.h"

namespace traboule::snmp {
namespace {

using nlohmann::json;

std::string text_field(const json& e, const char* key, size_t max = kMaxTextBytes) {
  const auto it = e.find(key);
  return it != e.end() && it->is_string() ? clean_text(it->get<std::string>(), max) : "";
}

// The path row a journal record names: the snapshot's when it has it (index and figures), else
// one built from the name (index 0: the path is not in the last snapshot).
PathRow path_for(const std::string& name, const std::map<std::string, PathRow>& paths) {
  if (const auto it = paths.find(name); it != paths.end()) return it->second;
  PathRow r;
  r.name = name;
  if (const auto parts = split_path_name(name)) {
    r.uplink = parts->first;
    r.target = parts->second;
  }
  return r;
}

}  // namespace

std::optional<TrapDecision> TrapDecider::decide(const json& e,
                                                const std::map<std::string, PathRow>& paths) {
  TrapDecision d;
  d.seq = e["seq"].get<uint64_t>();
  d.time_ms = as_u64(&e["time_ms"]).value_or(0);
  d.source = text_field(e, "source", kMaxNameBytes);
  d.record_kind = text_field(e, "kind", kMaxNameBytes);
  d.subject = text_field(e, "subject", kMaxNameBytes);
  d.state = text_field(e, "state", kMaxNameBytes);
  d.severity = text_field(e, "severity", kMaxNameBytes);
  d.text = text_field(e, "text");
  const std::string incident = text_field(e, "incident", 2);
  const std::string key = d.record_kind + "/" + d.subject;
  if (d.record_kind == "path" && (d.state == "down" || d.state == "up")) {
    const PathState s = d.state == "down" ? PathState::kDown : PathState::kUp;
    if (notified_[d.subject] == s) return std::nullopt;  // the snapshot already told
    notified_[d.subject] = s;
    d.kind = s == PathState::kDown ? TrapKind::kPathDown : TrapKind::kPathUp;
    d.path = path_for(d.subject, paths);
    d.path.state = s;
    return d;
  }
  if (incident == "P0" || incident == "P1") {
    d.kind = TrapKind::kIncident;
    d.incident = incident;
    open_incident_[key] = incident;
    return d;
  }
  // A record without a class closes what its subject opened (docs/operations.md).
  if (const auto it = open_incident_.find(key); incident.empty() && it != open_incident_.end()) {
    d.kind = TrapKind::kIncidentCleared;
    d.incident = it->second;
    open_incident_.erase(it);
    return d;
  }
  return std::nullopt;  // P2 and information: in the journal and syslog, not worth a trap
}

std::optional<std::vector<TrapDecision>> TrapDecider::on_events(
    const json& doc, const std::map<std::string, PathRow>& paths, Problems& problems) {
  const auto list = doc.is_object() ? doc.find("events") : doc.end();
  if (!doc.is_object() || list == doc.end() || !list->is_array()) return std::nullopt;
  std::vector<const json*> records;
  uint64_t max_seq = 0;
  for (const json& e : *list) {
    const auto seq = e.is_object() && e.contains("seq") ? as_u64(&e["seq"]) : std::nullopt;
    const bool named = e.is_object() && e.contains("kind") && e["kind"].is_string() &&
                       e.contains("subject") && e["subject"].is_string();
    if (!seq || !named || !e["seq"].is_number_integer()) {
      problems.push_back("journal record skipped (no seq, kind or subject): " +
                         clean_text(e.dump(-1, ' ', false, json::error_handler_t::replace), 80));
      continue;
    }
    records.push_back(&e);
    max_seq = std::max(max_seq, *seq);
  }
  std::sort(records.begin(), records.end(), [](const json* a, const json* b) {
    return (*a)["seq"].get<uint64_t>() < (*b)["seq"].get<uint64_t>();
  });
  const bool first = !last_seq_.has_value();
  // A journal that starts again (state dir replaced): its records are all newer than our `since`.
  const bool reset = !first && !records.empty() && max_seq < *last_seq_;
  if (reset) problems.push_back("the journal's sequence went back: taken as a new journal");
  std::vector<TrapDecision> out;
  for (const json* e : records) {
    const uint64_t seq = (*e)["seq"].get<uint64_t>();
    if (!first && !reset && seq <= *last_seq_) continue;
    auto d = decide(*e, paths);
    // The first answer is history: it only sets what is open and what paths last said.
    if (d && !first) out.push_back(std::move(*d));
    last_time_ms_ = std::max(last_time_ms_, as_u64(&(*e)["time_ms"]).value_or(0));
  }
  if (first || reset || max_seq > last_seq_.value_or(0)) last_seq_ = max_seq;
  return out;
}

std::vector<TrapDecision> TrapDecider::on_paths(const std::vector<PathRow>& paths) {
  std::vector<TrapDecision> out;
  for (const PathRow& p : paths) {
    if (p.state == PathState::kUnknown) continue;
    const auto it = notified_.find(p.name);
    if (it == notified_.end()) {  // first sight: its state is not news
      notified_[p.name] = p.state;
      continue;
    }
    if (it->second == p.state) continue;
    it->second = p.state;
    TrapDecision d;
    d.kind = p.state == PathState::kDown ? TrapKind::kPathDown : TrapKind::kPathUp;
    d.source = "traboule-snmp";
    d.record_kind = "path";
    d.subject = p.name;
    d.state = p.state == PathState::kDown ? "down" : "up";
    d.text = "path " + p.name + " " + d.state + " (seen by polling; not in the journal)";
    d.path = p;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace traboule::snmp

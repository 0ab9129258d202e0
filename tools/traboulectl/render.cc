// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/render.h"

#include <algorithm>
#include <cmath>

#include "tools/traboulectl/table.h"
#include "tools/traboulectl/units.h"

namespace traboule::ctl {
namespace {

constexpr int kMaxFlattenDepth = 3;

// Adds `value` under `path` to `out`, flattening objects up to kMaxFlattenDepth.
void flatten(const std::string& path, const nlohmann::json& value, int depth,
             std::vector<std::pair<std::string, const nlohmann::json*>>& out) {
  if (value.is_object() && depth < kMaxFlattenDepth && !value.empty()) {
    for (const auto& [k, v] : value.items()) {
      flatten(path.empty() ? k : path + "." + k, v, depth + 1, out);
    }
    return;
  }
  out.emplace_back(path, &value);
}

bool is_object_array(const nlohmann::json& v) {
  return v.is_array() && !v.empty() &&
         std::any_of(v.begin(), v.end(), [](const auto& e) { return e.is_object(); });
}

std::string pointer_text(const nlohmann::json& op, const char* key) {
  const auto it = op.find(key);
  if (it == op.end()) return "?";
  return it->is_string() ? it->get<std::string>() : safe_dump(*it);
}

std::string value_text(const nlohmann::json& op) {
  const auto it = op.find("value");
  if (it == op.end()) return "(no value)";
  return truncate_text(sanitize_text(safe_dump(*it)), 200);
}

}  // namespace

std::string field_text(const nlohmann::json& doc, const char* key) {
  if (!doc.is_object()) return "-";
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : safe_dump(*it);
}

nlohmann::json find_rows(const nlohmann::json& doc, const std::vector<std::string>& keys) {
  if (doc.is_array()) return doc;
  if (!doc.is_object()) return nullptr;
  for (const auto& key : keys) {
    const auto it = doc.find(key);
    if (it != doc.end() && it->is_array()) return *it;
  }
  const nlohmann::json* only = nullptr;
  for (const auto& [k, v] : doc.items()) {
    if (v.is_array()) {
      if (only != nullptr) return nullptr;
      only = &v;
    }
  }
  return only != nullptr ? *only : nlohmann::json(nullptr);
}

nlohmann::json runtime_rows(const nlohmann::json& now, const nlohmann::json* before,
                            double seconds) {
  auto u64 = [](const nlohmann::json& o, const char* k) -> double {
    const auto it = o.find(k);
    return it != o.end() && it->is_number() && it->get<double>() >= 0 ? it->get<double>() : 0;
  };
  auto list = [](const nlohmann::json& doc) {
    const auto it = doc.is_object() ? doc.find("stages") : doc.end();
    return it != doc.end() && it->is_array() ? *it : nlohmann::json::array();
  };
  const nlohmann::json cur = list(now), old = before != nullptr ? list(*before) : nlohmann::json();
  const double hz = now.is_object() ? u64(now, "tsc_hz") : 0;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : cur) {
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string()) continue;
    double calls = u64(s, "calls"), packets = u64(s, "packets");
    double cycles = u64(s, "timed_cycles"), timed = u64(s, "timed_packets");
    if (before != nullptr) {
      for (const auto& o : old)
        if (o.is_object() && o.value("name", nlohmann::json()) == s["name"]) {
          calls -= std::min(calls, u64(o, "calls"));
          packets -= std::min(packets, u64(o, "packets"));
          cycles -= std::min(cycles, u64(o, "timed_cycles"));
          timed -= std::min(timed, u64(o, "timed_packets"));
        }
    }
    nlohmann::json r = {
        {"stage", sanitize_text(s["name"].get<std::string>())},
        {"calls", calls},
        {"packets", packets},
        {"packets_per_call", calls > 0 ? std::round(packets / calls * 10) / 10 : 0}};
    const double cpp = timed > 0 ? cycles / timed : -1;
    r["cycles_per_packet"] =
        cpp >= 0 ? nlohmann::json(std::round(cpp * 10) / 10) : nlohmann::json();
    r["ns_per_packet"] =
        cpp >= 0 && hz > 0 ? nlohmann::json(std::round(cpp * 1e10 / hz) / 10) : nlohmann::json();
    if (before != nullptr && seconds > 0) r["rate_pps"] = std::round(packets / seconds);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string render_rows(const nlohmann::json& rows, const std::vector<std::string>& preferred) {
  if (!rows.is_array()) return render_document(rows);
  if (rows.empty()) return "(none)\n";
  // The server's objects come back with sorted keys; a row's identity reads best first.
  std::vector<std::string> keys = preferred;
  for (const char* id : {"name", "id"}) {
    if (std::find(keys.begin(), keys.end(), id) == keys.end()) keys.push_back(id);
  }
  std::vector<std::vector<std::pair<std::string, const nlohmann::json*>>> flat_rows;
  for (const auto& row : rows) {
    std::vector<std::pair<std::string, const nlohmann::json*>> flat;
    if (row.is_object()) {
      flatten("", row, 0, flat);
      if (row.empty()) flat.clear();
    } else {
      flat.emplace_back("value", &row);
    }
    for (const auto& [k, v] : flat) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    flat_rows.push_back(std::move(flat));
  }
  // Drop preferred columns that no row has.
  std::vector<std::string> present;
  for (const auto& key : keys) {
    const bool any = std::any_of(flat_rows.begin(), flat_rows.end(), [&](const auto& flat) {
      return std::any_of(flat.begin(), flat.end(), [&](const auto& p) { return p.first == key; });
    });
    if (any) present.push_back(key);
  }
  if (present.empty()) return "(" + std::to_string(rows.size()) + " empty rows)\n";
  std::vector<Column> columns;
  for (const auto& key : present) {
    bool numeric = false;
    bool other = false;
    for (const auto& flat : flat_rows) {
      for (const auto& [k, v] : flat) {
        if (k != key || v->is_null()) continue;
        (is_numeric_cell(*v) ? numeric : other) = true;
      }
    }
    columns.push_back({header_for_key(key), numeric && !other ? Align::kRight : Align::kLeft});
  }
  Table table(columns);
  for (const auto& flat : flat_rows) {
    std::vector<std::string> cells;
    for (const auto& key : present) {
      const auto it =
          std::find_if(flat.begin(), flat.end(), [&](const auto& p) { return p.first == key; });
      cells.push_back(it == flat.end() ? "-" : format_cell(key, *it->second));
    }
    table.add_row(std::move(cells));
  }
  return table.render();
}

namespace {

// An object's scalars (flattened) as aligned lines, then its arrays of objects as tables. With
// `counter_table`, an object of numbers only is a name/value table instead.
std::string render_object(const nlohmann::json& doc, bool counter_table) {
  if (doc.empty()) return "(empty)\n";
  std::vector<std::pair<std::string, const nlohmann::json*>> flat;
  flatten("", doc, 0, flat);
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<std::pair<std::string, const nlohmann::json*>> tables;
  bool all_numeric = true;
  for (const auto& [k, v] : flat) {
    if (is_object_array(*v)) {
      tables.emplace_back(k, v);
      continue;
    }
    if (!is_numeric_cell(*v)) all_numeric = false;
    pairs.emplace_back(header_for_key(k), format_cell(k, *v));
  }
  std::string out;
  if (!pairs.empty()) {
    if (all_numeric && counter_table) {
      // Counters and the like: numbers right-aligned in their column.
      Table table({{"name", Align::kLeft}, {"value", Align::kRight}});
      for (auto& [k, v] : pairs) table.add_row({k, v});
      out += table.render();
    } else {
      out += render_key_values(pairs);
    }
  }
  for (const auto& [k, v] : tables) {
    if (!out.empty()) out += "\n";
    out += sanitize_text(k) + ":\n" + render_rows(*v);
  }
  return out;
}

}  // namespace

std::string render_document(const nlohmann::json& doc) {
  if (doc.is_array()) return render_rows(doc);
  if (!doc.is_object()) return sanitize_text(format_cell("", doc)) + "\n";
  return render_object(doc, true);
}

std::string render_listing(const nlohmann::json& doc, const std::string& rows_key,
                           const std::vector<std::string>& preferred) {
  if (doc.is_array()) return render_rows(doc, preferred);
  if (!doc.is_object()) return render_document(doc);
  const auto rows = doc.find(rows_key);
  if (rows == doc.end() || !rows->is_structured()) return render_document(doc);
  // The other members, without the empty ones (an empty prefix says nothing).
  nlohmann::json rest = nlohmann::json::object();
  for (const auto& [k, v] : doc.items()) {
    if (k == rows_key || v.is_null() || (v.is_string() && v.get<std::string>().empty())) continue;
    rest[k] = v;
  }
  std::string out = rest.empty() ? "" : render_object(rest, false) + "\n";
  // An object under the key (counters by name) is a name/value table of its own.
  return out + (rows->is_array() ? render_rows(*rows, preferred) : render_document(*rows));
}

std::string render_patch(const nlohmann::json& patch) {
  if (!patch.is_array())
    return "(not a patch: " + truncate_text(sanitize_text(safe_dump(patch)), 80) + ")\n";
  if (patch.empty()) return "(no change)\n";
  std::string out;
  for (const auto& op : patch) {
    if (!op.is_object()) {
      out += "(bad operation: " + truncate_text(sanitize_text(safe_dump(op)), 80) + ")\n";
      continue;
    }
    const std::string kind = field_text(op, "op");
    const std::string path = sanitize_text(pointer_text(op, "path"));
    std::string line;
    if (kind == "add") {
      line = "+ " + path + ": " + value_text(op);
    } else if (kind == "remove") {
      line = "- " + path;
    } else if (kind == "replace") {
      line = "~ " + path + ": " + value_text(op);
    } else if (kind == "move") {
      line = "> " + sanitize_text(pointer_text(op, "from")) + " → " + path;
    } else if (kind == "copy") {
      line = "= " + sanitize_text(pointer_text(op, "from")) + " → " + path;
    } else if (kind == "test") {
      line = "? " + path + ": " + value_text(op);
    } else {
      line = "(unknown operation " + truncate_text(sanitize_text(kind), 20) + ") " + path;
    }
    out += line + "\n";
  }
  return out;
}

nlohmann::json link_rows(const nlohmann::json& doc) {
  using nlohmann::json;
  json rows = json::array();
  const json uplinks = find_rows(doc, {"uplinks"});
  if (!uplinks.is_array()) return rows;
  auto at = [](const json& j, std::initializer_list<const char*> path) -> json {
    const json* cur = &j;
    for (const char* k : path) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(k);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    }
    return *cur;
  };
  for (const json& u : uplinks) {
    if (!u.is_object()) continue;
    json base = json::object();
    base["uplink"] = at(u, {"name"});
    base["kind"] = at(u, {"kind"});
    base["role"] = at(u, {"role"});
    const json up = at(u, {"link_up"});
    base["link"] = up.is_boolean() ? json(up.get<bool>() ? "up" : "down") : json(nullptr);
    const json paths = at(u, {"paths"});
    if (!paths.is_array() || paths.empty()) {
      json r = base;
      r["path"] = nullptr;
      r["state"] = "not measured";
      rows.push_back(r);
      continue;
    }
    for (const json& p : paths) {
      if (!p.is_object()) continue;
      json r = base;
      r["path"] = at(p, {"remote"});
      r["state"] = at(p, {"state"});
      r["rtt_avg_us"] = at(p, {"rtt_us", "avg"});
      r["rtt_p99_us"] = at(p, {"rtt_us", "p99"});
      r["jitter_us"] = at(p, {"jitter_us", "rtt"});
      r["loss_ratio"] = at(p, {"window", "loss_ratio"});
      r["fwd_us"] = at(p, {"one_way_us", "forward"});
      r["bwd_us"] = at(p, {"one_way_us", "backward"});
      r["sent"] = at(p, {"totals", "sent"});
      r["received"] = at(p, {"totals", "received"});
      r["last_change"] = at(p, {"last_change", "reason"});
      r["changed_ago_s"] = at(p, {"last_change", "ago_s"});
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace traboule::ctl

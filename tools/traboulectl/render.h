// SPDX-License-Identifier: Apache-2.0
// Human renderings of the API's answers. Everything here takes whatever the server sent:
// missing fields print as "-", unexpected types print as compact JSON, and nothing throws on
// any JSON input, so a hostile or newer server cannot crash traboulectl.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tools/traboulectl/json_util.h"

namespace traboule::ctl {

// Any document: scalars (nested objects flattened as a.b) as aligned "key  value" lines, then
// each array of objects as a titled table; a top-level array is one table.
std::string render_document(const nlohmann::json& doc);

// An array of rows as one table: columns are the union of the rows' keys in first-seen order
// (nested objects flattened), after `preferred` and then name and id when present; numeric
// columns right-aligned;
// values humanised from the key's unit suffix.
std::string render_rows(const nlohmann::json& rows, const std::vector<std::string>& preferred = {});

// A list answer such as {"top": 10, "flows": [...]}: the other members as key/value lines,
// then the rows of `rows_key` as a table (render_rows with `preferred`; an object there, such
// as counters by name, is rendered as a document of its own). Falls back to
// render_document when the answer has no such array.
std::string render_listing(const nlohmann::json& doc, const std::string& rows_key,
                           const std::vector<std::string>& preferred);

// GET /uplinks as rows for `traboulectl links`: one per measured path (uplink × remote), with
// its state, RTT, jitter, loss, one-way delays (when both clocks are synchronised), probes sent
// and received and its last state change; one row for an uplink with no path.
nlohmann::json link_rows(const nlohmann::json& doc);
// GET /runtime as table rows: the figures of `now`, or with `before` (a reading `seconds`
// earlier) what happened in between, packets per second included. Hostile shapes give no row.
nlohmann::json runtime_rows(const nlohmann::json& now, const nlohmann::json* before,
                            double seconds);
inline const std::vector<std::string> kRuntimeColumns = {
    "stage", "calls", "packets", "packets_per_call", "cycles_per_packet", "ns_per_packet"};
inline const std::vector<std::string> kLinkColumns = {
    "uplink",     "kind",       "role",        "link",         "path",   "state",
    "rtt_avg_us", "rtt_p99_us", "jitter_us",   "loss_ratio",   "fwd_us", "bwd_us",
    "sent",       "received",   "last_change", "changed_ago_s"};

// An RFC 6902 patch, one operation per line: "+ /path: value", "- /path", "~ /path: value",
// "> /from → /path" (move), "= /from → /path" (copy), "? /path: value" (test).
std::string render_patch(const nlohmann::json& patch);

// The rows of a list answer: the array itself, or the first array member among `keys`, or the
// only array member of an object. Null when there is none.
nlohmann::json find_rows(const nlohmann::json& doc, const std::vector<std::string>& keys);

// A member as a string for messages ("-" when missing; JSON text when not a string).
std::string field_text(const nlohmann::json& doc, const char* key);

}  // namespace traboule::ctl

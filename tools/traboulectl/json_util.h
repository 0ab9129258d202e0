// SPDX-License-Identifier: Apache-2.0
// JSON helpers shared by traboulectl's files.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace traboule::ctl {

// JSON text that never throws: invalid UTF-8 (from a file name or a command-line argument) is
// replaced rather than reported as an exception.
inline std::string safe_dump(const nlohmann::json& doc, int indent = -1) {
  return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
// A small text-table formatter for traboulectl's human output: aligned columns, numbers
// right-aligned, and every cell made safe to print (server strings may hold control
// characters or invalid UTF-8, which must not reach the operator's terminal).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace traboule::ctl {

enum class Align { kLeft, kRight };

inline constexpr size_t kDefaultCellWidth = 60;

struct Column {
  std::string header;
  Align align = Align::kLeft;
  size_t max_width = kDefaultCellWidth;  // longer cells are cut, ending in "…"
};

// Replaces what a terminal would interpret: C0/C1 controls and DEL become "\xNN", invalid UTF-8
// bytes become "\xNN"; valid UTF-8 text is kept.
std::string sanitize_text(std::string_view text);

// Cuts `text` (already sanitized) to at most `max_width` code points, ending in "…" when cut.
std::string truncate_text(std::string_view text, size_t max_width);

// Code points in valid UTF-8 (what a terminal column count approximates for our output).
size_t display_width(std::string_view text);

class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // Rows shorter than the header are padded with empty cells; longer ones are a programming
  // error (std::invalid_argument). Cells are sanitized and cut at their column's max_width.
  void add_row(std::vector<std::string> cells);

  size_t rows() const { return rows_.size(); }

  // Header in capitals, then the rows; two spaces between columns; no trailing spaces.
  std::string render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "key  value" lines with the keys aligned (for single objects such as /status).
std::string render_key_values(const std::vector<std::pair<std::string, std::string>>& pairs);

}  // namespace traboule::ctl

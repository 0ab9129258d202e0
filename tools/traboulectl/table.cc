// SPDX-License-Identifier: Apache-2.0
#include "tools/traboulectl/table.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace traboule::ctl {
namespace {

void append_escaped(std::string& out, unsigned char byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", byte);
  out += buf;
}

// Length of the valid UTF-8 sequence starting at `i`, or 0 when the bytes there are not one
// (overlong forms, surrogates and code points past U+10FFFF are invalid too).
size_t utf8_sequence_length(std::string_view s, size_t i, uint32_t& code_point) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (b0 < 0x80) {
    code_point = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  code_point = cp;
  return len;
}

}  // namespace

std::string sanitize_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    const size_t len = utf8_sequence_length(text, i, cp);
    if (len == 0) {
      append_escaped(out, static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
      if (cp < 0x80) {
        append_escaped(out, static_cast<unsigned char>(cp));
      } else {
        out += "\\u00";
        const char* hex = "0123456789abcdef";
        out += hex[cp >> 4];
        out += hex[cp & 0xf];
      }
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

size_t display_width(std::string_view text) {
  size_t width = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++width;
  }
  return width;
}

std::string truncate_text(std::string_view text, size_t max_width) {
  if (display_width(text) <= max_width) return std::string(text);
  if (max_width == 0) return {};
  std::string out;
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool starts_code_point = (static_cast<unsigned char>(text[i]) & 0xc0) != 0x80;
    if (starts_code_point) {
      if (width == max_width - 1) break;
      ++width;
    }
    out += text[i];
  }
  return out + "…";
}

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {
  if (columns_.empty()) throw std::invalid_argument("Table: no columns");
}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > columns_.size()) {
    throw std::invalid_argument("Table: row has " + std::to_string(cells.size()) + " cells for " +
                                std::to_string(columns_.size()) + " columns");
  }
  cells.resize(columns_.size());
  for (size_t c = 0; c < cells.size(); ++c) {
    cells[c] = truncate_text(sanitize_text(cells[c]), columns_[c].max_width);
  }
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::string> headers;
  std::vector<size_t> widths;
  for (const auto& col : columns_) {
    std::string h = truncate_text(sanitize_text(col.header), kDefaultCellWidth);
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) {
      return c < 0x80 ? static_cast<char>(std::toupper(c)) : static_cast<char>(c);
    });
    widths.push_back(display_width(h));
    headers.push_back(std::move(h));
  }
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      const size_t pad = widths[c] - display_width(cells[c]);
      if (c > 0) line += "  ";
      if (columns_[c].align == Align::kRight) {
        line.append(pad, ' ');
        line += cells[c];
      } else {
        line += cells[c];
        line.append(pad, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  emit(headers);
  for (const auto& row : rows_) emit(row);
  return out;
}

std::string render_key_values(const std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t width = 0;
  std::vector<std::pair<std::string, std::string>> clean;
  for (const auto& [k, v] : pairs) {
    clean.emplace_back(truncate_text(sanitize_text(k), kDefaultCellWidth),
                       truncate_text(sanitize_text(v), 200));
    width = std::max(width, display_width(clean.back().first));
  }
  std::string out;
  for (const auto& [k, v] : clean) {
    out += k;
    out.append(width - display_width(k) + 2, ' ');
    out += v;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  return out;
}

}  // namespace traboule::ctl

// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/command.h"

#include "tools/wanem/profiles.h"

namespace traboule::wanem {
namespace {

bool is_standalone(const std::string& w) {
  return w == "show" || w == "zero";
}

}  // namespace

std::optional<std::string> parse_command(const std::vector<std::string>& words,
                                         const LinkParams& current, Command* out) {
  if (words.empty()) {
    return std::string(
        "empty command; expected key=value words, profile=NAME, down, up, "
        "clear, zero or show [--json]");
  }
  if (words.size() > kMaxWords) {
    return "too many words (" + std::to_string(words.size()) + "; at most " +
           std::to_string(kMaxWords) + ")";
  }
  for (const std::string& w : words) {
    if (w.size() > kMaxWordBytes) {
      return "word too long (" + std::to_string(w.size()) + " bytes; at most " +
             std::to_string(kMaxWordBytes) + "): " + quote(w);
    }
  }
  Command cmd;
  cmd.params = current;
  if (is_standalone(words[0])) {
    cmd.kind = words[0] == "show" ? CommandKind::kShow : CommandKind::kZero;
    for (size_t i = 1; i < words.size(); ++i) {
      if (cmd.kind == CommandKind::kShow && (words[i] == "--json" || words[i] == "json")) {
        cmd.json = true;
      } else {
        return quote(words[0]) + " takes " +
               (cmd.kind == CommandKind::kShow ? "only --json" : "no argument") + " (got " +
               quote(words[i]) + ")";
      }
    }
    *out = cmd;
    return std::nullopt;
  }

  bool target[kDirCount] = {true, true};
  for (const std::string& w : words) {
    if (is_standalone(w)) return quote(w) + " must be the only word of its command";
    if (w == "down" || w == "up" || w == "clear") {
      for (int d = 0; d < kDirCount; ++d) {
        if (!target[d]) continue;
        if (w == "clear") {
          cmd.params.dir[d] = DirectionParams{};
        } else {
          cmd.params.dir[d].up = w == "up";
        }
      }
      continue;
    }
    size_t eq = w.find('=');
    if (eq == std::string::npos) {
      return "unknown word " + quote(w) +
             "; expected key=value, profile=NAME, dir=a2b|b2a|both, down, up, clear, zero or "
             "show [--json]";
    }
    std::string key = w.substr(0, eq);
    std::string value = w.substr(eq + 1);
    if (key == "dir") {
      if (value == "a2b") {
        target[0] = true, target[1] = false;
      } else if (value == "b2a") {
        target[0] = false, target[1] = true;
      } else if (value == "both") {
        target[0] = target[1] = true;
      } else {
        return "bad value for dir: " + quote(value) + ": expected a2b, b2a or both";
      }
      continue;
    }
    if (key == "profile") {
      const Profile* profile = find_profile(value);
      if (!profile) {
        return "bad value for profile: " + quote(value) + ": expected one of " + profile_names();
      }
      for (int d = 0; d < kDirCount; ++d) {
        if (!target[d]) continue;
        if (auto err = apply_profile(*profile, static_cast<Dir>(d), &cmd.params.dir[d])) return err;
      }
      continue;
    }
    for (int d = 0; d < kDirCount; ++d) {
      if (!target[d]) continue;
      if (auto err = set_param(&cmd.params.dir[d], key, value)) return err;
    }
  }
  *out = cmd;
  return std::nullopt;
}

}  // namespace traboule::wanem

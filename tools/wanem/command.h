// SPDX-License-Identifier: Apache-2.0
// The words of a `traboule-wanem ctl` command (and the parameters of `run`), read left to
// right against the current parameters: dir= picks the direction(s) the following words
// change; profile=, key=value, down, up and clear change them; show and zero stand alone.
// The whole command is checked before anything is applied.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tools/wanem/params.h"

namespace traboule::wanem {

enum class CommandKind { kUpdate, kShow, kZero };

struct Command {
  CommandKind kind = CommandKind::kUpdate;
  bool json = false;  // show --json
  LinkParams params;  // kUpdate: the parameters once the command is applied
};

// Longest word accepted; longer input is refused rather than echoed whole.
inline constexpr size_t kMaxWordBytes = 256;
inline constexpr size_t kMaxWords = 64;

// Returns an error naming the bad word, key or value, or nullopt with *out filled.
std::optional<std::string> parse_command(const std::vector<std::string>& words,
                                         const LinkParams& current, Command* out);

}  // namespace traboule::wanem

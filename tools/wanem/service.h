// SPDX-License-Identifier: Apache-2.0
// Turns one control request ({"words":[...]}) into its JSON reply against a running link:
// parameter changes, profile, down/up/clear, zero, show. Hostile requests get an error reply
// naming what is wrong; nothing is applied unless the whole command is valid.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tools/wanem/snapshot.h"
#include "tools/wanem/status.h"

namespace traboule::wanem {

using LogFn = std::function<void(const std::string&)>;

std::string handle_request(const std::string& request, LinkControl* link, const LinkInfo& info,
                           const LogFn& log);

// The JSON request a client sends for these words.
std::string make_request(const std::vector<std::string>& words);

}  // namespace traboule::wanem

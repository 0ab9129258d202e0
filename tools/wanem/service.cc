// SPDX-License-Identifier: Apache-2.0
#include "tools/wanem/service.h"

#include "tools/wanem/command.h"

namespace traboule::wanem {
namespace {

std::string error_reply(const std::string& message) {
  return nlohmann::json{{"ok", false}, {"error", message}}.dump();
}

nlohmann::json params_json(const LinkParams& p) {
  return {{"a2b", params_to_json(p[Dir::kA2B])}, {"b2a", params_to_json(p[Dir::kB2A])}};
}

}  // namespace

std::string make_request(const std::vector<std::string>& words) {
  // Invalid UTF-8 in a word must not make dump() throw: it is replaced, and the server then
  // reports the word as unknown.
  return nlohmann::json{{"words", words}}.dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

std::string handle_request(const std::string& request, LinkControl* link, const LinkInfo& info,
                           const LogFn& log) {
  nlohmann::json req = nlohmann::json::parse(request, nullptr, false);
  if (req.is_discarded()) return error_reply("bad request: not JSON");
  if (!req.is_object() || !req.contains("words") || !req["words"].is_array()) {
    return error_reply("bad request: expected {\"words\": [\"key=value\", ...]}");
  }
  std::vector<std::string> words;
  for (const nlohmann::json& w : req["words"]) {
    if (!w.is_string()) return error_reply("bad request: every word must be a string");
    words.push_back(w.get<std::string>());
  }
  Command cmd;
  if (auto err = parse_command(words, link->params(), &cmd)) return error_reply(*err);

  auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  switch (cmd.kind) {
    case CommandKind::kShow:
      return dump(
          {{"ok", true},
           {"status", status_to_json(info, link->snapshot(Dir::kA2B), link->snapshot(Dir::kB2A))}});
    case CommandKind::kZero:
      if (!link->zero_counters()) return error_reply("a direction thread did not answer");
      if (log) log("counters zeroed");
      return dump({{"ok", true}});
    case CommandKind::kUpdate:
      break;
  }
  LinkParams before = link->params();
  if (!link->apply(cmd.params)) return error_reply("a direction thread did not answer");
  if (log) {
    for (int d = 0; d < kDirCount; ++d) {
      if (before.dir[d] == cmd.params.dir[d]) continue;
      const DirectionParams& p = cmd.params.dir[d];
      log(std::string(to_string(static_cast<Dir>(d))) + ": " + (p.up ? "up " : "DOWN ") +
          format_params(p));
    }
  }
  return dump({{"ok", true}, {"params", params_json(cmd.params)}});
}

}  // namespace traboule::wanem

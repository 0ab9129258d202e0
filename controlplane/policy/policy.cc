// SPDX-License-Identifier: Apache-2.0
#include "controlplane/policy/policy.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "controlplane/policy/policy_internal.h"

namespace traboule::cp {
namespace detail {

std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() <= 80) return s;
  size_t cut = 77;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  if (a.size() > 64 || b.size() > 64) return 99;  // names are short; this is not worth the time
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string escape_token(const std::string& key) {
  std::string k;
  for (char ch : key)
    k += ch == '~' ? std::string("~0") : ch == '/' ? std::string("~1") : std::string(1, ch);
  return k;
}

// Bytes of untrusted input quoted in a message: printable ASCII stays, the rest is \xHH, so
// the message is always valid UTF-8 (nlohmann throws when dumping anything else).
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

namespace {

// Deepest nesting of `doc`, walked without recursion.
size_t depth_of(const json& doc) {
  size_t deepest = 0;
  std::vector<std::pair<const json*, size_t>> todo{{&doc, 1}};
  while (!todo.empty()) {
    auto [j, d] = todo.back();
    todo.pop_back();
    if (!j->is_structured()) continue;
    deepest = std::max(deepest, d);
    if (d > kMaxDepth) break;
    for (auto& v : *j) todo.push_back({&v, d + 1});
  }
  return deepest;
}

// Both layers; `built` is complete only when `errors` stays empty.
Built check(const json& doc, const SiteFacts& site, std::vector<PolicyError>& errors) {
  if (depth_of(doc) > kMaxDepth) {
    errors.push_back(
        {"", "", "is nested deeper than " + std::to_string(kMaxDepth) + " levels: no policy is"});
    return {};
  }
  std::vector<PolicyError> schema = schema_errors(doc);
  errors.insert(errors.end(), schema.begin(), schema.end());
  Built built = semantic_check(doc, site, schema, errors);
  if (errors.size() > kMaxErrors) {
    size_t more = errors.size() - kMaxErrors;
    errors.resize(kMaxErrors);
    errors.push_back({"", "", std::to_string(more) + " more errors not shown"});
  }
  return built;
}

}  // namespace
}  // namespace detail

using detail::json;

std::string to_string(const PolicyError& e) {
  std::string out = e.pointer.empty() ? "/" : e.pointer;
  if (!e.value.empty()) out += ": " + e.value;
  return out + ": " + e.message;
}

nlohmann::json to_json(const std::vector<PolicyError>& errors) {
  json out = json::array();
  for (auto& e : errors)
    out.push_back({{"pointer", e.pointer}, {"value", e.value}, {"message", e.message}});
  return out;
}

std::string canonical_text(const nlohmann::json& doc) {
  // object_t is a std::map: keys come out sorted, and dump() adds no whitespace.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    return {};  // only on allocation failure inside OpenSSL
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

namespace {

// The nesting error of `text`, checked on the text before parsing: later steps (dump, diff)
// recurse.
std::optional<PolicyError> too_deep(const std::string& text) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > detail::kMaxDepth)
        return PolicyError{"", "",
                           "is nested deeper than " + std::to_string(detail::kMaxDepth) +
                               " levels at byte " + std::to_string(i + 1) + ": no policy is"};
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

// JSON keeps the last of two equal keys in an object: a silently lost section is refused. The
// parser calls `on_event` for every event; `dups` collects the keys given twice.
class DuplicateKeys {
 public:
  bool on_event(json::parse_event_t ev, const json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
        stack_.push_back({true, {}, {}, 0});
        break;
      case json::parse_event_t::array_start:
        stack_.push_back({false, {}, {}, 0});
        break;
      case json::parse_event_t::key:
        if (!stack_.empty() && parsed.is_string()) {
          Level& top = stack_.back();
          top.key = parsed.get<std::string>();
          if (!top.keys.insert(top.key).second && dups.size() < detail::kMaxErrors)
            dups.push_back(
                {path(), "", "is given twice in one object (JSON would keep only the last)"});
        }
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack_.empty()) stack_.pop_back();
        element_done();
        break;
      case json::parse_event_t::value:
        element_done();
        break;
    }
    return true;
  }

  std::vector<PolicyError> dups;

 private:
  struct Level {
    bool object;
    std::set<std::string> keys;
    std::string key;
    size_t index = 0;
  };

  std::string path() const {
    std::string p;
    for (auto& l : stack_)
      p += "/" + (l.object ? detail::escape_token(l.key) : std::to_string(l.index));
    return p;
  }
  void element_done() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
  }

  std::vector<Level> stack_;
};

// "parse error at line 1, column 5: syntax error ..." → "... at byte N (line 1, column 5): ...".
std::string syntax_message(const json::parse_error& e) {
  std::string what = e.what();
  auto at = what.find("parse error at ");
  std::string reason = at == std::string::npos ? what : what.substr(at + 15);
  auto colon = reason.find(": ");
  if (reason.rfind("line ", 0) == 0 && colon != std::string::npos)
    reason = " (" + reason.substr(0, colon) + ")" + reason.substr(colon);
  else
    reason = ": " + reason;
  return detail::printable("not valid JSON at byte " + std::to_string(e.byte) + reason);
}

// A number beyond a double (406): valid JSON grammar, but no value can hold it.
std::string too_large_message(const json::out_of_range& e, const std::string& text) {
  std::string what = e.what();
  auto q1 = what.find('\'');
  auto q2 = what.rfind('\'');
  std::string literal = q1 != std::string::npos && q2 > q1 ? what.substr(q1 + 1, q2 - q1 - 1) : "";
  size_t at = literal.empty() ? std::string::npos : text.find(literal);
  std::string shown_literal = literal.size() > 40 ? literal.substr(0, 37) + "..." : literal;
  return detail::printable(
      "not valid JSON" +
      (at == std::string::npos ? std::string() : " at byte " + std::to_string(at + 1)) +
      ": number " + shown_literal + " is too large to represent");
}

}  // namespace

bool parse_policy_text(const std::string& text, nlohmann::json& doc,
                       std::vector<PolicyError>& errors) {
  doc = nullptr;
  if (auto deep = too_deep(text)) {
    errors.push_back(*deep);
    return false;
  }
  DuplicateKeys keys;
  json::parser_callback_t cb = [&keys](int, json::parse_event_t ev, json& parsed) {
    return keys.on_event(ev, parsed);
  };
  std::string message;
  try {
    doc = json::parse(text, cb);
  } catch (const json::parse_error& e) {
    message = syntax_message(e);
  } catch (const json::out_of_range& e) {
    message = too_large_message(e, text);
  } catch (const json::exception& e) {
    message = detail::printable(std::string("not valid JSON: ") + e.what());
  }
  if (!message.empty()) {
    errors.push_back({"", "", message});
    doc = nullptr;
    return false;
  }
  if (!keys.dups.empty()) {
    errors.insert(errors.end(), keys.dups.begin(), keys.dups.end());
    doc = nullptr;
    return false;
  }
  return true;
}

std::vector<PolicyError> validate_policy(const nlohmann::json& doc, const SiteFacts& site) {
  std::vector<PolicyError> errors;
  detail::check(doc, site, errors);
  return errors;
}

std::shared_ptr<const CompiledPolicy> compile_policy(const nlohmann::json& doc,
                                                     const SiteFacts& site, uint64_t version,
                                                     std::vector<PolicyError>& errors) {
  std::vector<PolicyError> found;
  detail::Built built = detail::check(doc, site, found);
  if (!found.empty()) {
    errors.insert(errors.end(), found.begin(), found.end());
    return nullptr;
  }
  auto out = std::make_shared<CompiledPolicy>();
  out->source = doc;
  out->hash = sha256_hex(canonical_text(doc));
  built.snapshot->version = version;
  built.snapshot->hash = out->hash;
  for (const OverlayPeer& peer : built.peers)
    built.snapshot->peers.push_back({peer.name, peer.endpoints, peer.port});
  // Domains → applications for first-packet recognition: the policy's custom applications
  // first (they take precedence), then the box's SaaS lists for the built-in ones; a pattern
  // already taken keeps its first application.
  {
    std::vector<dp::DomainPattern> patterns;
    std::set<std::string> taken;
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    for (const dp::AppDef& a : built.snapshot->apps)
      if (a.custom)
        for (const std::string& d : a.domains)
          if (taken.insert(lower(d)).second) patterns.push_back({lower(d), a.id});
    std::map<std::string, uint16_t> builtin;
    for (const dp::AppDef& a : built.snapshot->apps)
      if (!a.custom && a.id != dp::kAppUnknown) builtin[a.name] = a.id;
    for (const auto& [pattern, app] : site.saas_domains) {
      const auto it = builtin.find(app);
      if (it != builtin.end() && dp::DomainMatcher::check_pattern(pattern).empty() &&
          taken.insert(lower(pattern)).second)
        patterns.push_back({lower(pattern), it->second});
    }
    std::string why;
    auto matcher = dp::DomainMatcher::build(patterns, &why);
    if (!matcher) {
      errors.push_back({"/applications", "", "cannot compile the domain patterns: " + why});
      return nullptr;
    }
    built.snapshot->domains = std::make_shared<const dp::DomainMatcher>(std::move(*matcher));
  }
  out->snapshot = std::move(built.snapshot);
  out->probes = built.probes;
  out->peers = std::move(built.peers);
  out->breakout_targets = std::move(built.breakout_targets);
  return out;
}

nlohmann::json default_policy(const SiteFacts& site) {
  json uplinks = json::array();
  for (auto& n : site.uplink_names)
    uplinks.push_back({{"name", n}, {"kind", "other"}, {"role", "primary"}});
  json action = {{"egress", "overlay"}, {"strategy", "priority"}};
  if (!site.uplink_names.empty()) action["uplinks"] = site.uplink_names;
  return {
      {"version", 1},
      {"name", "default"},
      {"description",
       "Built in: every uplink primary, preferred in config order; all traffic through the "
       "default rule."},
      {"role", site.role == "hub" ? "hub" : "edge"},
      {"uplinks", uplinks},
      {"rules", json::array({{{"name", "default"}, {"action", action}}})},
  };
}

nlohmann::json policy_diff(const nlohmann::json& from, const nlohmann::json& to) {
  return json::diff(from, to);
}

}  // namespace traboule::cp

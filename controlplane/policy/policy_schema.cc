// SPDX-License-Identifier: Apache-2.0
// Layer 1 of validation: valijson against the embedded schema, with valijson's generic
// messages rewritten from the schema itself ("must be from 0 to 63") and its context paths
// turned into JSON pointers.
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "controlplane/policy/policy_internal.h"

namespace traboule::cp {
extern const char* const kPolicySchemaV1;  // generated from policies/schema/policy.v1.json
}

namespace traboule::cp::detail {
namespace {

// std::regex matches recursively, one frame per character: a 100 kB string given to a
// `pattern` overflows the stack. Every string limit of the schema is below this, so strings are
// cut to it (in code points) before validation and still fail their maxLength.
constexpr size_t kMaxCheckedCodePoints = 1001;

struct LoadedSchema {
  json doc;
  valijson::Schema schema;
  LoadedSchema() {
    doc = json::parse(kPolicySchemaV1);
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(doc);
    parser.populateSchema(adapter, schema);
  }
};

const LoadedSchema& loaded() {
  static const LoadedSchema s;
  return s;
}

// Byte length of the first `n` code points of valid UTF-8 text, or npos if it has fewer.
size_t prefix_bytes(const std::string& s, size_t n) {
  size_t cps = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) {
      if (cps == n) return i;
      ++cps;
    }
  }
  return std::string::npos;
}

// Cuts overlong strings in place; iterative (the depth was checked, but cheaply safe anyway).
bool clamp_strings(json& doc) {
  bool changed = false;
  std::vector<json*> todo{&doc};
  while (!todo.empty()) {
    json* j = todo.back();
    todo.pop_back();
    if (j->is_string()) {
      auto& s = j->get_ref<std::string&>();
      size_t cut = s.size() > kMaxCheckedCodePoints ? prefix_bytes(s, kMaxCheckedCodePoints)
                                                    : std::string::npos;
      if (cut != std::string::npos) {
        s.resize(cut);
        changed = true;
      }
    } else if (j->is_structured()) {
      for (auto& v : *j) todo.push_back(&v);
    }
  }
  return changed;
}

bool has_long_string(const json& doc) {
  std::vector<const json*> todo{&doc};
  while (!todo.empty()) {
    const json* j = todo.back();
    todo.pop_back();
    if (j->is_string() && j->get_ref<const std::string&>().size() > kMaxCheckedCodePoints)
      return true;
    if (j->is_structured())
      for (auto& v : *j) todo.push_back(&v);
  }
  return false;
}

// The schema fragment that describes the value at a path, following $ref.
class SchemaWalker {
 public:
  explicit SchemaWalker(const json& root) : root_(root) {}

  const json* resolve(const json* f) const {
    for (int hops = 0; f && f->is_object() && f->contains("$ref") && hops < 16; ++hops) {
      const json& ref = f->at("$ref");
      if (!ref.is_string()) return nullptr;
      const std::string& r = ref.get_ref<const std::string&>();
      if (r.empty() || r[0] != '#') return nullptr;
      try {
        f = &root_.at(json::json_pointer(r.substr(1)));
      } catch (const json::exception&) {
        return nullptr;
      }
    }
    return f;
  }
  const json* step(const json* f, const std::string& token, bool index) const {
    f = resolve(f);
    if (!f || !f->is_object()) return nullptr;
    if (index) {
      auto it = f->find("items");
      return it != f->end() && it->is_object() ? &*it : nullptr;
    }
    auto props = f->find("properties");
    if (props != f->end() && props->is_object() && props->contains(token)) return &props->at(token);
    auto extra = f->find("additionalProperties");
    return extra != f->end() && extra->is_object() ? &*extra : nullptr;
  }

 private:
  const json& root_;
};

// One step of a path: the token and whether it indexes an array.
struct Step {
  std::string token;
  bool index = false;
};

std::string pointer_of(const std::vector<Step>& path) {
  std::string p;
  for (auto& s : path) p += "/" + escape_token(s.token);
  return p;
}

std::string number_text(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15)
    return std::to_string(static_cast<long long>(d));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

std::string type_phrase(const json& t) {
  auto one = [](const std::string& n) -> std::string {
    if (n == "integer") return "an integer";
    if (n == "number") return "a number";
    if (n == "string") return "a string";
    if (n == "boolean") return "true or false";
    if (n == "object") return "an object";
    if (n == "array") return "an array";
    return n;
  };
  if (t.is_string()) return one(t.get<std::string>());
  std::string out;
  if (t.is_array())
    for (auto& x : t)
      if (x.is_string()) out += (out.empty() ? "" : " or ") + one(x.get<std::string>());
  return out;
}

std::string str_or(const json* f, const char* key, const std::string& dflt) {
  if (!f) return dflt;
  auto it = f->find(key);
  return it != f->end() && it->is_string() ? it->get<std::string>() : dflt;
}

const json* member(const json* f, const char* key) {
  if (!f || !f->is_object()) return nullptr;
  auto it = f->find(key);
  return it == f->end() ? nullptr : &*it;
}

std::string range_message(const json* f) {
  const json* lo = member(f, "minimum");
  const json* xlo = member(f, "exclusiveMinimum");
  const json* hi = member(f, "maximum");
  const json* xhi = member(f, "exclusiveMaximum");
  auto n = [](const json* v) { return v && v->is_number() ? number_text(v->get<double>()) : ""; };
  if (lo && hi) return "must be from " + n(lo) + " to " + n(hi);
  std::string low = lo ? "at least " + n(lo) : xlo ? "greater than " + n(xlo) : "";
  std::string high = hi ? "at most " + n(hi) : xhi ? "less than " + n(xhi) : "";
  if (!low.empty() && !high.empty()) return "must be " + low + " and " + high;
  return "must be " + (low.empty() ? high : low);
}

std::string count_message(const json* f, const char* min_key, const char* max_key,
                          const std::string& unit) {
  const json* lo = member(f, min_key);
  const json* hi = member(f, max_key);
  long long a = lo && lo->is_number_unsigned() ? lo->get<long long>() : 0;
  long long b = hi && hi->is_number_unsigned() ? hi->get<long long>() : -1;
  if (b < 0)
    return a <= 1 ? "must not be empty" : "must have at least " + std::to_string(a) + " " + unit;
  if (a == 0) return "must have at most " + std::to_string(b) + " " + unit;
  return "must have " + std::to_string(a) + " to " + std::to_string(b) + " " + unit;
}

std::string unknown_field_message(const std::string& key, const json* f) {
  const json* props = member(f, "properties");
  if (!props || !props->is_object() || props->empty()) return "unknown field";
  std::string best, all;
  size_t best_d = 99, best_prefix = 0;
  for (auto& [name, _] : props->items()) {
    all += (all.empty() ? "" : ", ") + name;
    size_t d = edit_distance(key, name);
    if (d > 3 || d > std::max<size_t>(name.size() / 3, 1)) continue;
    size_t prefix = 0;
    while (prefix < key.size() && prefix < name.size() && key[prefix] == name[prefix]) ++prefix;
    if (d < best_d || (d == best_d && prefix > best_prefix)) {
      best_d = d;
      best_prefix = prefix;
      best = name;
    }
  }
  if (!best.empty()) return "unknown field (did you mean \"" + best + "\"?)";
  return "unknown field (fields here: " + all + ")";
}

std::vector<std::string> tokens_of(const std::string& ptr) {
  std::vector<std::string> t;
  size_t pos = 0;
  while (pos < ptr.size()) {
    size_t next = ptr.find('/', pos + 1);
    t.push_back(
        ptr.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1));
    pos = next == std::string::npos ? ptr.size() : next;
  }
  return t;
}

bool is_index(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool document_order(const std::string& a, const std::string& b) {
  auto ta = tokens_of(a), tb = tokens_of(b);
  for (size_t i = 0; i < ta.size() && i < tb.size(); ++i) {
    if (ta[i] == tb[i]) continue;
    if (is_index(ta[i]) && is_index(tb[i])) return std::stoul(ta[i]) < std::stoul(tb[i]);
    return ta[i] < tb[i];
  }
  return ta.size() < tb.size();
}

bool starts_with(const std::string& s, const char* p) {
  return s.rfind(p, 0) == 0;
}

// One valijson error, located: the path, the value there (in the original document) and the
// schema fragment that describes it.
struct Raw {
  std::vector<Step> path;
  const json* value;
  const json* frag;
  std::string description;
};

Raw locate(const valijson::ValidationResults::Error& e, const json& original,
           const SchemaWalker& walker, const json& schema_doc) {
  Raw r{{}, &original, &schema_doc, e.description};
  for (size_t i = 0; i < e.context.size(); ++i) {
    const std::string& c = e.context[i];
    if (i == 0 && c == "<root>") continue;
    Step s;
    s.token = c.size() >= 2 && c.front() == '[' && c.back() == ']' ? c.substr(1, c.size() - 2) : c;
    const json* v = r.value;
    if (v && v->is_array()) {
      s.index = true;
      size_t idx = 0;
      bool digits = !s.token.empty() && s.token.size() < 10;
      for (char ch : s.token) digits = digits && ch >= '0' && ch <= '9';
      if (digits) idx = std::stoul(s.token);
      r.value = digits && idx < v->size() ? &(*v)[idx] : nullptr;
    } else if (v && v->is_object()) {
      auto it = v->find(s.token);
      r.value = it != v->end() ? &*it : nullptr;
    } else {
      r.value = nullptr;
    }
    r.frag = walker.step(r.frag, s.token, s.index);
    r.path.push_back(std::move(s));
  }
  r.frag = walker.resolve(r.frag);
  return r;
}

std::string enum_message(const Raw& r, const std::string& ptr) {
  if (ptr == "/version") return "is not a policy version this box reads (it reads version 1)";
  const json* en = member(r.frag, "enum");
  std::string list;
  if (en && en->is_array())
    for (auto& x : *en)
      list += (list.empty() ? "" : ", ") + (x.is_string() ? x.get<std::string>() : x.dump());
  return "must be one of: " + list;
}

std::string length_message(const Raw& r) {
  const json* lo = member(r.frag, "minLength");
  const json* hi = member(r.frag, "maxLength");
  if (lo && lo->is_number_unsigned() && lo->get<unsigned>() > 1 && hi)
    return "must be " + lo->dump() + " to " + hi->dump() + " characters long";
  if (hi && r.value && r.value->is_string() && !r.value->get_ref<const std::string&>().empty())
    return "must be at most " + hi->dump() + " characters long";
  return "must not be empty";
}

// The message for an error about the value itself (not its type, fields or items).
std::string value_message(const Raw& r, const std::string& ptr) {
  const std::string& d = r.description;
  if (starts_with(d, "Failed to match against any enum values") ||
      starts_with(d, "Failed to match expected value set by 'const'"))
    return enum_message(r, ptr);
  if (starts_with(d, "Expected number")) return range_message(r.frag);
  if (starts_with(d, "Failed to match regex")) {
    std::string hint = str_or(r.frag, "x-hint", "");
    return hint.empty() ? "must match " + str_or(r.frag, "pattern", "its pattern")
                        : "must be " + hint;
  }
  if (starts_with(d, "String should be")) return length_message(r);
  if (starts_with(d, "Array should contain"))
    return count_message(r.frag, "minItems", "maxItems", "items");
  return d;  // not expected from this schema: say it as valijson does rather than lose it
}

// Adds the policy errors for one valijson error (none for a wrapper, or where the type is
// wrong: other complaints there are noise).
void explain(const Raw& r, const std::set<std::string>& type_errors,
             std::vector<PolicyError>& out) {
  const std::string ptr = pointer_of(r.path);
  const std::string value = r.value ? shown(*r.value) : "";
  const std::string& d = r.description;
  if (starts_with(d, "Failed to validate item #") || starts_with(d, "Cannot validate item #") ||
      starts_with(d, "Failed to validate against schema associated with property") ||
      starts_with(d, "Failed to validate against additional properties schema"))
    return;  // a wrapper around the errors below it
  if (starts_with(d, "Value type not permitted")) {
    std::string hint = str_or(r.frag, "x-hint", "");
    const json* t = member(r.frag, "type");
    out.push_back({ptr, value, "must be " + (hint.empty() && t ? type_phrase(*t) : hint)});
    return;
  }
  if (type_errors.count(ptr)) return;
  if (starts_with(d, "Object contains a property that could not be validated")) {
    // valijson names only the first unknown field: list them all.
    const json* props = member(r.frag, "properties");
    if (r.value && r.value->is_object())
      for (auto& [k, v] : r.value->items())
        if (!props || !props->contains(k))
          out.push_back({ptr + "/" + escape_token(k), shown(v), unknown_field_message(k, r.frag)});
    return;
  }
  if (starts_with(d, "Missing required property '")) {
    std::string key = d.substr(27);
    if (key.size() >= 2) key.resize(key.size() - 2);  // "'."
    out.push_back({ptr + "/" + escape_token(key), "", "is required"});
    return;
  }
  out.push_back({ptr, value, value_message(r, ptr)});
}

// One complaint per field is enough (an empty name breaks its length and its pattern), in
// document order (array indexes as numbers), whatever order valijson walked in.
std::vector<PolicyError> first_per_field(std::vector<PolicyError> out) {
  std::vector<PolicyError> unique;
  std::set<std::string> seen;
  for (auto& x : out)
    if (seen.insert(x.pointer).second) unique.push_back(std::move(x));
  std::stable_sort(unique.begin(), unique.end(), [](const PolicyError& a, const PolicyError& b) {
    return document_order(a.pointer, b.pointer);
  });
  return unique;
}

}  // namespace

std::vector<PolicyError> schema_errors(const json& original) {
  const LoadedSchema& ls = loaded();
  json clamped;
  const json* doc = &original;
  if (has_long_string(original)) {
    clamped = original;
    clamp_strings(clamped);
    doc = &clamped;
  }

  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(*doc);
  if (validator.validate(ls.schema, adapter, &results)) return {};

  SchemaWalker walker(ls.doc);
  std::set<std::string> type_errors;  // pointers: other complaints there are noise
  valijson::ValidationResults::Error e;
  std::vector<Raw> raws;
  while (results.popError(e)) {
    Raw r = locate(e, original, walker, ls.doc);
    if (starts_with(r.description, "Value type not permitted"))
      type_errors.insert(pointer_of(r.path));
    raws.push_back(std::move(r));
  }
  std::vector<PolicyError> out;
  for (auto& r : raws) explain(r, type_errors, out);
  return first_per_field(std::move(out));
}

}  // namespace traboule::cp::detail

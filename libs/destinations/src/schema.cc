// The generic pass over a config object: one place for kinds, ranges, choices and defaults.
#include "bp/destinations/schema.h"

#include <cctype>

namespace bp::destinations {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

void check_field(const FieldSpec& f, const rapidjson::Value& v, FieldErrors& errors) {
  const std::string key = "config." + f.name;
  switch (f.kind) {
    case FieldKind::kString: {
      if (!v.IsString()) {
        errors[key] = "must be a string";
        return;
      }
      std::string_view s(v.GetString(), v.GetStringLength());
      if (f.required && s.empty()) errors[key] = "must not be empty";
      if (f.max > 0 && static_cast<int64_t>(s.size()) > f.max) {
        errors[key] = "must be at most " + std::to_string(f.max) + " characters";
      }
      if (!f.choices.empty()) {
        bool found = false;
        for (const auto& c : f.choices) found = found || c == s;
        if (!found) errors[key] = "must be one of: " + join(f.choices);
      }
      return;
    }
    case FieldKind::kInteger:
      if (!v.IsInt64()) {
        errors[key] = "must be an integer";
      } else if ((f.min || f.max) && (v.GetInt64() < f.min || v.GetInt64() > f.max)) {
        errors[key] = "must be between " + std::to_string(f.min) + " and " + std::to_string(f.max);
      }
      return;
    case FieldKind::kBoolean:
      if (!v.IsBool()) errors[key] = "must be true or false";
      return;
    case FieldKind::kStringMap:
      if (!v.IsObject()) {
        errors[key] = "must be an object of strings";
        return;
      }
      for (const auto& m : v.GetObject()) {
        if (!m.value.IsString()) errors[key + "." + m.name.GetString()] = "must be a string";
      }
      return;
  }
}

}  // namespace

std::vector<std::string> Schema::secret_fields() const {
  std::vector<std::string> out;
  for (const auto& f : fields) {
    if (f.secret) out.push_back(f.name);
  }
  return out;
}

Result<rapidjson::Document> validate(const Schema& schema, const rapidjson::Value& config) {
  if (!config.IsObject()) return Error::invalid("Invalid destination config", {{"config", "must be an object"}});
  FieldErrors errors;
  for (const auto& m : config.GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    bool known = false;
    for (const auto& f : schema.fields) known = known || f.name == name;
    if (!known) errors["config." + name] = "is not a " + schema.type + " destination setting";
  }
  rapidjson::Document out(rapidjson::kObjectType);
  auto& alloc = out.GetAllocator();
  for (const auto& f : schema.fields) {
    const auto* v = json::find(config, f.name);
    if (!v || v->IsNull()) {
      if (f.required) {
        errors["config." + f.name] = "is required";
      } else if (!f.default_json.empty()) {
        auto def = json::parse(f.default_json);
        out.AddMember(rapidjson::Value(f.name, alloc), rapidjson::Value(*def, alloc), alloc);
      }
      continue;
    }
    check_field(f, *v, errors);
    out.AddMember(rapidjson::Value(f.name, alloc), rapidjson::Value(*v, alloc), alloc);
  }
  if (schema.check) {
    // Cross-field rules see the same object; an error already found for a field wins.
    FieldErrors rule_errors;
    schema.check(out, rule_errors);
    errors.insert(rule_errors.begin(), rule_errors.end());
  }
  if (!errors.empty()) return Error::invalid("Invalid " + schema.type + " destination config", std::move(errors));
  return out;
}

bool is_sql_identifier(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

bool is_http_url(std::string_view s) {
  std::string_view rest;
  if (s.rfind("https://", 0) == 0) {
    rest = s.substr(8);
  } else if (s.rfind("http://", 0) == 0) {
    rest = s.substr(7);
  } else {
    return false;
  }
  auto host_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, host_end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace bp::destinations

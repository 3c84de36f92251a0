// Destination config schemas: declared fields per type, checked in one generic pass, with
// per-type extra rules. The control-plane validates with these; workers read configs with them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bp/json.h"
#include "bp/result.h"

namespace bp::destinations {

using FieldErrors = std::map<std::string, std::string>;

enum class FieldKind { kString, kInteger, kBoolean, kStringMap };

struct FieldSpec {
  std::string name;
  FieldKind kind = FieldKind::kString;
  bool required = false;
  std::string default_json;           // JSON text of the default; empty = none
  std::vector<std::string> choices;   // allowed string values; empty = any
  int64_t min = 0, max = 0;           // integer range (both 0 = unbounded); string length for strings
  bool secret = false;                // encrypted at rest, redacted in responses
};

struct Schema {
  std::string type;
  std::vector<FieldSpec> fields;
  // Rules across fields or beyond the field kinds (URL shapes, paths). Adds to errors.
  std::function<void(const rapidjson::Value& config, FieldErrors& errors)> check;

  std::vector<std::string> secret_fields() const;
};

// Validates `config` (a JSON object) against `schema`: unknown fields, kinds, ranges, choices,
// required fields; fills defaults. Error keys are "config.<field>". Returns the normalised config.
Result<rapidjson::Document> validate(const Schema& schema, const rapidjson::Value& config);

// The shared field rules that per-type schemas compose.
bool is_sql_identifier(std::string_view s);
bool is_http_url(std::string_view s);

}  // namespace bp::destinations

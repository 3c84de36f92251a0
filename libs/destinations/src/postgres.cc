// The postgres destination: where and how rows are written.
#include "bp/destinations/registry.h"

namespace bp::destinations {

Schema postgres_schema() {
  Schema s;
  s.type = "postgres";
  s.fields = {
      {"host", FieldKind::kString, true, "", {}, 0, 255},
      {"port", FieldKind::kInteger, false, "5432", {}, 1, 65535},
      {"database", FieldKind::kString, true, "", {}, 0, 63},
      {"user", FieldKind::kString, true, "", {}, 0, 63},
      {"password", FieldKind::kString, false, "\"\"", {}, 0, 1024, true},
      {"schema", FieldKind::kString, false, "\"public\"", {}, 0, 63},
      {"table", FieldKind::kString, true, "", {}, 0, 63},
      {"sslmode", FieldKind::kString, false, "\"prefer\"",
       {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
      {"mode", FieldKind::kString, false, "\"jsonb\"", {"jsonb", "columns"}},
  };
  s.check = [](const rapidjson::Value& c, FieldErrors& errors) {
    for (const char* name : {"schema", "table"}) {
      if (!is_sql_identifier(json::get_string(c, name).value_or(""))) {
        errors[std::string("config.") + name] =
            "must be a plain SQL identifier (letters, digits, underscore; at most 63 characters)";
      }
    }
  };
  return s;
}

}  // namespace bp::destinations

// The s3 destination: gzip NDJSON objects in any S3-compatible store.
#include <algorithm>
#include <cctype>

#include "bp/destinations/registry.h"

namespace bp::destinations {

Schema s3_schema() {
  Schema s;
  s.type = "s3";
  s.fields = {
      {"endpoint", FieldKind::kString, true, "", {}, 0, 2048},
      {"region", FieldKind::kString, false, "\"us-east-1\"", {}, 0, 64},
      {"bucket", FieldKind::kString, true, "", {}, 0, 63},
      {"prefix", FieldKind::kString, false, "\"\"", {}, 0, 512},
      {"access_key_id", FieldKind::kString, true, "", {}, 0, 256},
      {"secret_access_key", FieldKind::kString, true, "", {}, 0, 256, true},
      {"format", FieldKind::kString, false, "\"ndjson\"", {"ndjson"}},
  };
  s.check = [](const rapidjson::Value& c, FieldErrors& errors) {
    if (!is_http_url(json::get_string(c, "endpoint").value_or(""))) {
      errors["config.endpoint"] = "must be an http:// or https:// URL with a host";
    }
    std::string bucket = json::get_string(c, "bucket").value_or("");
    bool valid = bucket.size() >= 3 && std::all_of(bucket.begin(), bucket.end(), [](unsigned char ch) {
      return std::islower(ch) || std::isdigit(ch) || ch == '-' || ch == '.';
    });
    if (!valid) errors["config.bucket"] = "must be 3-63 characters of lowercase letters, digits, '-' and '.'";
  };
  return s;
}

}  // namespace bp::destinations

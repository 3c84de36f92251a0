// The webhook destination: an HTTP(S) endpoint receiving signed batches.
#include <algorithm>
#include <cctype>

#include "bp/destinations/registry.h"

namespace bp::destinations {

Schema webhook_schema() {
  Schema s;
  s.type = "webhook";
  s.fields = {
      {"url", FieldKind::kString, true, "", {}, 0, 2048},
      {"headers", FieldKind::kStringMap, false, "{}", {}, 0, 0},
      {"signing_secret", FieldKind::kString, false, "\"\"", {}, 0, 512, true},
      {"format", FieldKind::kString, false, "\"json\"", {"json", "ndjson"}},
      {"timeout_ms", FieldKind::kInteger, false, "10000", {}, 100, 120000},
  };
  s.check = [](const rapidjson::Value& c, FieldErrors& errors) {
    if (!is_http_url(json::get_string(c, "url").value_or(""))) {
      errors["config.url"] = "must be an http:// or https:// URL with a host";
    }
    // Headers the sink sets itself cannot be overridden.
    const auto* headers = json::find(c, "headers");
    if (!headers || !headers->IsObject()) return;
    for (const auto& h : headers->GetObject()) {
      std::string name = h.name.GetString();
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
      bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char ch) {
        return std::isalnum(ch) || ch == '-' || ch == '_';
      });
      if (!token) {
        errors["config.headers." + std::string(h.name.GetString())] = "is not a valid header name";
      } else if (name == "host" || name == "content-length" || name == "content-type" ||
                 name.rfind("webhook-", 0) == 0) {
        errors["config.headers." + std::string(h.name.GetString())] = "is set by BatchPipe and cannot be overridden";
      }
    }
  };
  return s;
}

}  // namespace bp::destinations

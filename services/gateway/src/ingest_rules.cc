// Seed 000's ingest rules: origin and CORS-only checks, body shape, limits and enrichment.
#include "bp/gateway/ingest_rules.h"

#include "bp/json.h"
#include "bp/origin.h"

namespace bp::gateway {

OriginVerdict check_origin(const ::batchpipe::v1::Pipe& pipe, std::optional<std::string_view> origin) {
  if (!origin) return {};
  auto normalized = origin::normalize(*origin);
  if (pipe.allow_any_browser_origin()) {
    if (!normalized) return {false, ""};
    return {true, std::string(*origin)};
  }
  if (pipe.allowed_origins_size() == 0) {
    // No origin checks configured (API-key pipe): the key is what authenticates; nothing to echo.
    return {};
  }
  if (normalized) {
    for (const auto& allowed : pipe.allowed_origins()) {
      if (allowed.origin_domain() == *normalized) return {true, std::string(*origin)};
    }
  }
  return {false, ""};
}

std::optional<Rejection> check_cors_only(const ::batchpipe::v1::Pipe& pipe, std::optional<std::string_view> origin) {
  if (!pipe.allow_any_browser_origin() && pipe.allowed_origins_size() == 0) {
    return Rejection{500, "configuration_error",
                     "This pipe accepts browser requests only, but has neither allowed origins nor any browser "
                     "origin enabled"};
  }
  if (!origin) return Rejection{401, "unauthorized", "Missing Origin header: this pipe accepts browser requests only"};
  return std::nullopt;
}

namespace {

void add_field(rapidjson::Value& record, std::string_view name, std::string_view value,
               rapidjson::Document::AllocatorType& alloc) {
  if (name.empty()) return;
  auto size = [](std::string_view s) { return static_cast<rapidjson::SizeType>(s.size()); };
  auto it = record.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), size(name))));
  // Server-set values win, so a client cannot forge them.
  if (it != record.MemberEnd()) {
    it->value.SetString(value.data(), size(value), alloc);
  } else {
    record.AddMember(rapidjson::Value(name.data(), size(name), alloc), rapidjson::Value(value.data(), size(value), alloc),
                     alloc);
  }
}

// Built when needed: its message would be an allocation on every request.
Rejection not_objects() { return {400, "invalid_payload", "Body must be a JSON object or an array of JSON objects"}; }

std::optional<Rejection> check_record_count(int64_t count, std::optional<int64_t> max_records) {
  if (max_records && count > *max_records) {
    return Rejection{413, "batch_too_large",
                     "Request has " + std::to_string(count) + " records; this pipe accepts at most " +
                         std::to_string(*max_records) + " per request"};
  }
  return std::nullopt;
}

// Without enrichment the records leave as the client wrote them: validated by a SAX pass (no DOM,
// no re-serialization), an object wrapped into a one-element array. An array that is the whole of
// `owned` (the body, when the caller gives it up) leaves in its buffer.
std::variant<PreparedRecords, Rejection> check_records(std::string_view body, std::optional<int64_t> max_records,
                                                       int max_depth, std::string* owned) {
  auto shape = json::scan(body, max_depth);
  if (!shape) return Rejection{400, "invalid_payload", shape.error().message};
  switch (shape->root) {
    case json::Shape::kObject: {
      if (auto refused = check_record_count(1, max_records)) return *refused;
      std::string out;
      out.reserve(shape->text.size() + 2);
      out += '[';
      out += shape->text;
      out += ']';
      return PreparedRecords{std::move(out), 1};
    }
    case json::Shape::kArray:
      if (shape->elements == 0) return Rejection{400, "empty_payload", "Empty array: send at least one record"};
      if (!shape->all_objects) return not_objects();
      if (auto refused = check_record_count(static_cast<int64_t>(shape->elements), max_records)) return *refused;
      if (owned && shape->text.size() == owned->size()) {
        return PreparedRecords{std::move(*owned), static_cast<int64_t>(shape->elements)};
      }
      return PreparedRecords{std::string(shape->text), static_cast<int64_t>(shape->elements)};
    case json::Shape::kOther:
      break;
  }
  return not_objects();
}

std::variant<PreparedRecords, Rejection> prepare(std::string_view body, const Enrichment& enrichment,
                                                 std::optional<int64_t> max_records, int max_depth, std::string* owned) {
  if (body.find_first_not_of(" \n\r\t") == std::string_view::npos) return Rejection{400, "empty_payload", "Body is empty: send a JSON object or an array of objects"};
  if (enrichment.timestamp_field.empty() && enrichment.client_ip_field.empty()) {
    return check_records(body, max_records, max_depth, owned);
  }
  auto parsed = json::parse(body, max_depth);
  if (!parsed) return Rejection{400, "invalid_payload", parsed.error().message};
  rapidjson::Document& doc = *parsed;
  auto& alloc = doc.GetAllocator();

  rapidjson::Value array(rapidjson::kArrayType);
  if (doc.IsObject()) {
    array.PushBack(rapidjson::Value(doc, alloc), alloc);
  } else if (doc.IsArray()) {
    if (doc.Empty()) return Rejection{400, "empty_payload", "Empty array: send at least one record"};
    for (auto& v : doc.GetArray()) {
      if (!v.IsObject()) return not_objects();
    }
    array = rapidjson::Value(doc, alloc);
  } else {
    return not_objects();
  }
  int64_t count = array.Size();
  if (auto refused = check_record_count(count, max_records)) return *refused;
  if (!enrichment.timestamp_field.empty() || !enrichment.client_ip_field.empty()) {
    for (auto& record : array.GetArray()) {
      add_field(record, enrichment.timestamp_field, enrichment.timestamp_value, alloc);
      add_field(record, enrichment.client_ip_field, enrichment.client_ip_value, alloc);
    }
  }
  return PreparedRecords{json::to_string(array), count};
}

}  // namespace

std::variant<PreparedRecords, Rejection> prepare_records(std::string_view body, const Enrichment& enrichment,
                                                         std::optional<int64_t> max_records, int max_depth) {
  return prepare(body, enrichment, max_records, max_depth, nullptr);
}

std::variant<PreparedRecords, Rejection> prepare_owned_records(std::string&& body, const Enrichment& enrichment,
                                                               std::optional<int64_t> max_records, int max_depth) {
  return prepare(body, enrichment, max_records, max_depth, &body);
}

bool valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (unsigned char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace bp::gateway

// Management input rules: names, statuses, limits, ids, pagination.
#include "bp/control_plane/validation.h"

#include <cctype>
#include <charconv>

#include "bp/crypto.h"
#include "bp/uuid.h"

namespace bp::control_plane {
namespace {

struct LimitRange {
  const char* name;
  int64_t min;
  int64_t max;
  bool (::batchpipe::v1::PipeLimits::*has)() const;
  int64_t (::batchpipe::v1::PipeLimits::*get)() const;
};

using L = ::batchpipe::v1::PipeLimits;
const LimitRange kLimitRanges[] = {
    {"pl_ingest_max_records_per_request", 1, 100000, &L::has_pl_ingest_max_records_per_request,
     &L::pl_ingest_max_records_per_request},
    {"pl_ingest_max_bytes_per_request", 1, 32 * 1024 * 1024, &L::has_pl_ingest_max_bytes_per_request,
     &L::pl_ingest_max_bytes_per_request},
    {"pl_ingest_max_requests_per_second", 1, 1000000, &L::has_pl_ingest_max_requests_per_second,
     &L::pl_ingest_max_requests_per_second},
    {"pl_delivery_max_records", 1, 100000, &L::has_pl_delivery_max_records, &L::pl_delivery_max_records},
    {"pl_delivery_max_bytes", 1024, 64 * 1024 * 1024, &L::has_pl_delivery_max_bytes, &L::pl_delivery_max_bytes},
    {"pl_delivery_max_interval_ms", 10, 3600000, &L::has_pl_delivery_max_interval_ms,
     &L::pl_delivery_max_interval_ms},
    {"pl_delivery_max_attempts", 1, 1000, &L::has_pl_delivery_max_attempts, &L::pl_delivery_max_attempts},
};

bool has_control_chars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

void check_name(std::string_view field, std::string_view value, FieldErrors& errors) {
  bool blank = true;
  for (unsigned char c : value) blank = blank && std::isspace(c);
  if (blank) {
    errors[std::string(field)] = "must not be empty";
  } else if (value.size() > 100) {
    errors[std::string(field)] = "must be at most 100 characters";
  } else if (has_control_chars(value)) {
    errors[std::string(field)] = "must not contain control characters";
  }
}

void check_description(std::string_view value, FieldErrors& errors) {
  if (value.size() > 1000) errors["description"] = "must be at most 1000 characters";
}

void check_pipe_status(std::string_view value, FieldErrors& errors) {
  if (value != "active" && value != "paused" && value != "inactive") {
    errors["status"] = "must be one of: active, paused, inactive";
  }
}

void check_destination_status(std::string_view field, std::string_view value, FieldErrors& errors) {
  if (value != "active" && value != "blocked") errors[std::string(field)] = "must be one of: active, blocked";
}

void check_enrich_field(std::string_view field, std::string_view value, FieldErrors& errors) {
  if (value.empty()) return;
  bool ok = value.size() <= 64 && (std::isalpha(static_cast<unsigned char>(value[0])) || value[0] == '_');
  for (unsigned char c : value) ok = ok && (std::isalnum(c) || c == '_');
  if (!ok) errors[std::string(field)] = "must be a field name of letters, digits and _ (at most 64), or empty for off";
}

void check_limits(const ::batchpipe::v1::PipeLimits& limits, FieldErrors& errors) {
  for (const auto& r : kLimitRanges) {
    if (!(limits.*r.has)()) continue;
    int64_t v = (limits.*r.get)();
    if (v < r.min || v > r.max) {
      errors[r.name] = "must be an integer between " + std::to_string(r.min) + " and " + std::to_string(r.max);
    }
  }
}

Status check_id(std::string_view what, std::string_view id) {
  if (!uuid::is_valid(id)) return Error::not_found(std::string(what) + " not found");
  return ok_status();
}

Status to_status(FieldErrors errors) {
  if (errors.empty()) return ok_status();
  std::string message = "Invalid request: ";
  bool first = true;
  for (const auto& [path, why] : errors) {
    message += (first ? "" : "; ") + path + " " + why;
    first = false;
  }
  return Error::invalid(std::move(message), std::move(errors));
}

std::string encode_cursor(const Cursor& cursor) {
  return crypto::base64_encode(cursor.created_at_us + "," + cursor.id);
}

Result<std::optional<Cursor>> decode_cursor(std::string_view text) {
  if (text.empty()) return std::optional<Cursor>();
  auto bad = [] { return Error::invalid("Invalid cursor", {{"cursor", "is not a cursor returned by this API"}}); };
  auto raw = crypto::base64_decode(text);
  if (!raw) return bad();
  auto comma = raw->find(',');
  if (comma == std::string::npos) return bad();
  Cursor c{raw->substr(0, comma), raw->substr(comma + 1)};
  int64_t us = 0;
  auto [ptr, ec] = std::from_chars(c.created_at_us.data(), c.created_at_us.data() + c.created_at_us.size(), us);
  if (ec != std::errc() || ptr != c.created_at_us.data() + c.created_at_us.size() || !uuid::is_valid(c.id)) {
    return bad();
  }
  return std::optional<Cursor>(std::move(c));
}

Result<int> page_limit(int requested) {
  if (requested == 0) return 50;
  if (requested < 1 || requested > 200) {
    return Error::invalid("Invalid limit", {{"limit", "must be an integer between 1 and 200"}});
  }
  return requested;
}

}  // namespace bp::control_plane

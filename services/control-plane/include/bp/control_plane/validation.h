// Validation rules for management input, as plain functions that add dot-path field errors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "batchpipe/v1/control_plane.pb.h"
#include "bp/result.h"

namespace bp::control_plane {

using FieldErrors = std::map<std::string, std::string>;

void check_name(std::string_view field, std::string_view value, FieldErrors& errors);
void check_description(std::string_view value, FieldErrors& errors);
void check_pipe_status(std::string_view value, FieldErrors& errors);
void check_destination_status(std::string_view field, std::string_view value, FieldErrors& errors);
// Enrichment target field names; "" means off.
void check_enrich_field(std::string_view field, std::string_view value, FieldErrors& errors);
void check_limits(const ::batchpipe::v1::PipeLimits& limits, FieldErrors& errors);
// A uuid path parameter; kNotFound (not a 400) for malformed ids, as for unknown ones.
Status check_id(std::string_view what, std::string_view id);

// Error::invalid with a summary message when errors is non-empty.
Status to_status(FieldErrors errors);

// Cursor pagination: "(created_at microseconds, id)" keyset position, opaque to clients.
struct Cursor {
  std::string created_at_us;
  std::string id;
};
std::string encode_cursor(const Cursor& cursor);
Result<std::optional<Cursor>> decode_cursor(std::string_view text);  // "" -> nullopt
// 1..200, 0 means the default (50).
Result<int> page_limit(int requested);

}  // namespace bp::control_plane

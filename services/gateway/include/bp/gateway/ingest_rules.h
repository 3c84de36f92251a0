// The ingest rules of seed 000 as pure functions: who may send, from which origin, what body.
// No I/O and no Asio, so they are unit-tested and fuzzed directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "batchpipe/v1/resources.pb.h"

namespace bp::gateway {

// A refusal: the HTTP status and the error code/message of seed 000's table.
struct Rejection {
  unsigned status;
  std::string code;
  std::string message;
};

// The origin check: ok (echo = the Origin to put in Access-Control-Allow-Origin, "" for none).
struct OriginVerdict {
  bool allowed = true;
  std::string echo;
};

// Applies the pipe's origin rules to the request's Origin header (nullopt when absent).
OriginVerdict check_origin(const ::batchpipe::v1::Pipe& pipe, std::optional<std::string_view> origin);

// CORS-only pipes: configuration_error / unauthorized before the origin rule. nullopt = go on.
std::optional<Rejection> check_cors_only(const ::batchpipe::v1::Pipe& pipe, std::optional<std::string_view> origin);

// Views of the pipe's settings and the request's values: they outlive prepare_records.
struct Enrichment {
  std::string_view timestamp_field;  // "" = off
  std::string_view timestamp_value;
  std::string_view client_ip_field;  // "" = off
  std::string_view client_ip_value;
};

struct PreparedRecords {
  std::string json;  // one JSON array of the (enriched) records
  int64_t count = 0;
};

// Checks the body (object or non-empty array of objects) and enforces the record cap. With
// enrichment the records are parsed, get the fields and are serialized again as one array;
// without, they are only validated (SAX) and keep the client's bytes (an object is wrapped in [ ]).
std::variant<PreparedRecords, Rejection> prepare_records(std::string_view body, const Enrichment& enrichment,
                                                         std::optional<int64_t> max_records, int max_depth);
// The same for a body the caller gives up: where the records leave as the client wrote them (an
// array without enrichment, nothing around it) the body's buffer becomes the result's, with no
// copy (a 100-record body is 30 KB). Otherwise, and on a rejection, `body` is left as it was.
std::variant<PreparedRecords, Rejection> prepare_owned_records(std::string&& body, const Enrichment& enrichment,
                                                               std::optional<int64_t> max_records, int max_depth);

// A client's Idempotency-Key is usable when 1..255 visible ASCII characters.
bool valid_idempotency_key(std::string_view key);
// A client's X-Request-ID is echoed when 1..128 of [A-Za-z0-9._:-].
bool valid_request_id(std::string_view id);

}  // namespace bp::gateway

// The ingest message: what the gateway publishes to "bp.in.<pipe_id>" and the delivery worker
// reads back. Its payload is one JSON array of records. Its headers say whose records they are:
//   Bp-Request-Id, Bp-Received-At  the request (the first one, when there are several)
//   Bp-Record-Count                the records in the message
//   Bp-Requests                    only when the message carries several requests (decision
//                                  0014): "<request_id> <count> <received_at>" per request, in
//                                  the order of their records, separated by ","
// A record's id is "<request_id>:<index in its request>".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bp::nats::ingest {

inline constexpr const char* kRequestIdHeader = "Bp-Request-Id";
inline constexpr const char* kReceivedAtHeader = "Bp-Received-At";
inline constexpr const char* kRecordCountHeader = "Bp-Record-Count";
inline constexpr const char* kRequestsHeader = "Bp-Requests";

// A pipe's delivery batch limits when it sets none (pl_delivery_max_records and
// pl_delivery_max_bytes): the worker closes batches there, and the gateway joins requests into
// one message only up to a tenth of them, so that batches still close nearly full.
inline constexpr int64_t kDefaultBatchMaxRecords = 1000;
inline constexpr int64_t kDefaultBatchMaxBytes = 1 << 20;

// One request's share of a message.
struct RequestSpan {
  std::string request_id;
  int64_t count = 0;
  std::string received_at;
};

// Appends one request to a Bp-Requests value.
void append_request(std::string& header, std::string_view request_id, int64_t count, std::string_view received_at);

// The requests a Bp-Requests value lists; nullopt when it is malformed (an empty id or time, a
// count that is not a positive number, a field missing or extra).
std::optional<std::vector<RequestSpan>> parse_requests(std::string_view header);

}  // namespace bp::nats::ingest

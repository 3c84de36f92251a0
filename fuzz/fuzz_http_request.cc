// What the gateway does with raw bytes before any network call: Beast parses a request (with the
// gateway's header and body caps), the router matches it, and an ingest body goes through the
// body check; header helpers run on whatever arrived.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstddef>
#include <cstdint>

#include "bp/gateway/http.h"
#include "bp/gateway/ingest_rules.h"
#include "bp/gateway/router.h"

namespace http = boost::beast::http;
using namespace bp::gateway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RequestParser parser;  // the gateway's
  parser.header_limit(8192);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < size && !parser.is_done()) {
    size_t n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_header_done()) return 0;
  Request req = parser.release();
  Route r = match_route(req.method(), std::string_view(req.target().data(), req.target().size()));
  (void)bearer_token(req);
  if (auto it = req.find(http::field::content_type); it != req.end()) {
    (void)is_json_content_type(std::string_view(it->value().data(), it->value().size()));
  }
  if (auto it = req.find("Idempotency-Key"); it != req.end()) {
    (void)valid_idempotency_key(std::string_view(it->value().data(), it->value().size()));
  }
  if (auto it = req.find("X-Request-ID"); it != req.end()) {
    (void)valid_request_id(std::string_view(it->value().data(), it->value().size()));
  }
  if (r.id == RouteId::kIngestPost) (void)prepare_records(req.body(), Enrichment{}, std::nullopt, 64);
  return 0;
}

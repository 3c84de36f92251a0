// The ingest body check on any bytes, with and without enrichment (the SAX pass-through and the
// DOM path must agree on what they accept) and with a record cap; a body given up
// (prepare_owned_records, as the gateway calls it) gives what a viewed one gives.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bp/gateway/ingest_rules.h"
#include "bp/json.h"

using namespace bp::gateway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  Enrichment none;
  Enrichment both{"received_at", "2026-01-01T00:00:00.000Z", "ip", "203.0.113.1"};
  auto fast = prepare_records(body, none, std::nullopt, 64);
  auto slow = prepare_records(body, both, std::nullopt, 64);
  // Same verdict either way; an accepted body is one JSON array of as many objects as counted.
  if (fast.index() != slow.index()) std::abort();
  if (auto* ok = std::get_if<PreparedRecords>(&fast)) {
    auto parsed = bp::json::parse(ok->json, 65);
    if (!parsed || !parsed->IsArray() || static_cast<int64_t>(parsed->Size()) != ok->count) std::abort();
    if (std::get<PreparedRecords>(slow).count != ok->count) std::abort();
  } else if (std::get<Rejection>(fast).code != std::get<Rejection>(slow).code) {
    std::abort();
  }
  (void)prepare_records(body, none, int64_t{1}, 8);
  std::string owned(body);
  auto moved = prepare_owned_records(std::move(owned), none, std::nullopt, 64);
  if (moved.index() != fast.index()) std::abort();
  if (auto* ok = std::get_if<PreparedRecords>(&fast)) {
    const auto& other = std::get<PreparedRecords>(moved);
    if (other.json != ok->json || other.count != ok->count) std::abort();
  } else if (std::get<Rejection>(moved).message != std::get<Rejection>(fast).message || owned != body) {
    std::abort();  // a rejected body is left as it was
  }
  return 0;
}

// Management input rules, without a database.
#include <catch2/catch.hpp>

#include "bp/control_plane/validation.h"

using namespace bp::control_plane;

TEST_CASE("names must be non-blank, bounded and free of control characters") {
  FieldErrors e;
  check_name("name", "my_pipe", e);
  CHECK(e.empty());
  check_name("name", "   ", e);
  CHECK(e.at("name") == "must not be empty");
  e.clear();
  check_name("name", std::string(101, 'a'), e);
  CHECK(e.at("name") == "must be at most 100 characters");
  e.clear();
  check_name("name", "a\nb", e);
  CHECK(e.count("name") == 1);
}

TEST_CASE("pipe and destination statuses are closed sets") {
  FieldErrors e;
  for (const char* ok : {"active", "paused", "inactive"}) check_pipe_status(ok, e);
  CHECK(e.empty());
  check_pipe_status("stopped", e);
  CHECK(e.count("status") == 1);
  FieldErrors d;
  check_destination_status("destination_status", "blocked", d);
  CHECK(d.empty());
  check_destination_status("destination_status", "paused", d);
  CHECK(d.count("destination_status") == 1);
}

TEST_CASE("enrichment field names are identifiers, or empty for off") {
  FieldErrors e;
  check_enrich_field("enrich_client_ip_field", "", e);
  check_enrich_field("enrich_client_ip_field", "client_ip", e);
  CHECK(e.empty());
  check_enrich_field("enrich_client_ip_field", "client ip", e);
  CHECK(e.count("enrich_client_ip_field") == 1);
}

TEST_CASE("limits must be in their ranges, unset limits are fine") {
  ::batchpipe::v1::PipeLimits l;
  FieldErrors e;
  check_limits(l, e);
  CHECK(e.empty());
  l.set_pl_ingest_max_records_per_request(500);
  l.set_pl_delivery_max_interval_ms(200);
  check_limits(l, e);
  CHECK(e.empty());
  l.set_pl_ingest_max_records_per_request(0);
  l.set_pl_delivery_max_attempts(100000);
  check_limits(l, e);
  CHECK(e.count("pl_ingest_max_records_per_request") == 1);
  CHECK(e.count("pl_delivery_max_attempts") == 1);
  CHECK(e.size() == 2);
}

TEST_CASE("to_status turns field errors into one invalid-argument error") {
  CHECK(to_status({}).ok());
  auto s = to_status({{"name", "must not be empty"}});
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == bp::ErrorCode::kInvalidArgument);
  CHECK(s.error().field_errors.at("name") == "must not be empty");
  CHECK(s.error().message.find("name must not be empty") != std::string::npos);
}

TEST_CASE("cursors round-trip and forged cursors are refused") {
  Cursor c{"1712923200000000", "123e4567-e89b-42d3-a456-426614174000"};
  auto decoded = decode_cursor(encode_cursor(c));
  REQUIRE(decoded.ok());
  REQUIRE(decoded->has_value());
  CHECK((*decoded)->created_at_us == c.created_at_us);
  CHECK((*decoded)->id == c.id);
  auto empty = decode_cursor("");
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());
  for (const char* bad : {"!!!", "bm90IGEgY3Vyc29y", "MTIzLG5vdC1hLXV1aWQ="}) {
    INFO(bad);
    auto r = decode_cursor(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field_errors.count("cursor") == 1);
  }
}

TEST_CASE("page limits default to 50 and stay within 1..200") {
  CHECK(page_limit(0).value() == 50);
  CHECK(page_limit(200).value() == 200);
  CHECK_FALSE(page_limit(201).ok());
  CHECK_FALSE(page_limit(-1).ok());
}

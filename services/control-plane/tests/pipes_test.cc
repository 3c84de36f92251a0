// Pipes, limits and allowed origins through the real gRPC API.
#include <catch2/catch.hpp>

#include <set>

#include "fixture.h"

using namespace bp::control_plane::testing;

TEST_CASE("a management call without a valid key is unauthenticated", "[integration]") {
  Fixture f;
  v1::ListPipesResponse out;
  grpc::ClientContext bare;
  CHECK(f.stub().ListPipes(&bare, {}, &out).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(f.stub().ListPipes(f.as("bp_v1_not_a_real_key").get(), {}, &out).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("pipes: create with defaults, read, update, list, delete", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "my_pipe");
  CHECK(pipe.name() == "my_pipe");
  CHECK(pipe.status() == "active");
  CHECK(pipe.require_api_key());
  CHECK_FALSE(pipe.allow_any_browser_origin());
  CHECK_FALSE(pipe.has_enrich_client_ip_field());
  CHECK_FALSE(pipe.has_limits());
  CHECK(pipe.workspace_id() == ws.id);
  CHECK(pipe.created_at().size() == 24);  // 2026-04-12T12:00:00.000Z

  v1::UpdatePipeRequest upd;
  upd.set_pipe_id(pipe.id());
  upd.set_description("signups");
  upd.set_status("paused");
  upd.set_require_api_key(false);
  upd.set_allow_any_browser_origin(true);
  upd.set_enrich_client_ip_field("client_ip");
  upd.set_enrich_ingest_timestamp_field("received_at");
  v1::Pipe updated;
  REQUIRE(f.stub().UpdatePipe(f.as(ws.api_key).get(), upd, &updated).ok());
  CHECK(updated.name() == "my_pipe");  // untouched
  CHECK(updated.description() == "signups");
  CHECK(updated.status() == "paused");
  CHECK_FALSE(updated.require_api_key());
  CHECK(updated.allow_any_browser_origin());
  CHECK(updated.enrich_client_ip_field() == "client_ip");

  // "" turns enrichment off; fields not sent stay.
  v1::UpdatePipeRequest off;
  off.set_pipe_id(pipe.id());
  off.set_enrich_client_ip_field("");
  REQUIRE(f.stub().UpdatePipe(f.as(ws.api_key).get(), off, &updated).ok());
  CHECK_FALSE(updated.has_enrich_client_ip_field());
  CHECK(updated.enrich_ingest_timestamp_field() == "received_at");

  v1::GetPipeRequest get;
  get.set_pipe_id(pipe.id());
  v1::Pipe read;
  REQUIRE(f.stub().GetPipe(f.as(ws.api_key).get(), get, &read).ok());
  CHECK(read.status() == "paused");

  v1::DeletePipeRequest del;
  del.set_pipe_id(pipe.id());
  v1::Empty empty;
  REQUIRE(f.stub().DeletePipe(f.as(ws.api_key).get(), del, &empty).ok());
  CHECK(f.stub().GetPipe(f.as(ws.api_key).get(), get, &read).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(f.stub().DeletePipe(f.as(ws.api_key).get(), del, &empty).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("pipes: invalid input comes back as field errors and changes nothing", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  v1::CreatePipeRequest bad;
  bad.set_name(" ");
  bad.set_status("running");
  bad.set_enrich_client_ip_field("not a field");
  v1::Pipe out;
  auto status = f.stub().CreatePipe(f.as(ws.api_key).get(), bad, &out);
  REQUIRE(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  auto errors = field_errors(status);
  CHECK(errors.count("name") == 1);
  CHECK(errors.count("status") == 1);
  CHECK(errors.count("enrich_client_ip_field") == 1);
  v1::ListPipesResponse list;
  REQUIRE(f.stub().ListPipes(f.as(ws.api_key).get(), {}, &list).ok());
  CHECK(list.pipes_size() == 0);

  f.create_pipe(ws, "orders");
  v1::CreatePipeRequest dup;
  dup.set_name("orders");
  status = f.stub().CreatePipe(f.as(ws.api_key).get(), dup, &out);
  REQUIRE(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(status).count("name") == 1);

  v1::GetPipeRequest malformed;
  malformed.set_pipe_id("not-a-uuid");
  CHECK(f.stub().GetPipe(f.as(ws.api_key).get(), malformed, &out).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("pipes: cursor pagination walks every pipe once, newest first", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  for (int i = 0; i < 5; ++i) f.create_pipe(ws, "p" + std::to_string(i));
  std::vector<std::string> names;
  std::string cursor;
  int pages = 0;
  do {
    v1::ListPipesRequest req;
    req.set_limit(2);
    req.set_cursor(cursor);
    v1::ListPipesResponse page;
    REQUIRE(f.stub().ListPipes(f.as(ws.api_key).get(), req, &page).ok());
    for (const auto& p : page.pipes()) names.push_back(p.name());
    cursor = page.next_cursor();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  CHECK(pages == 3);
  CHECK(names == std::vector<std::string>{"p4", "p3", "p2", "p1", "p0"});

  v1::ListPipesRequest bad;
  bad.set_cursor("garbage!");
  v1::ListPipesResponse page;
  auto status = f.stub().ListPipes(f.as(ws.api_key).get(), bad, &page);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(status).count("cursor") == 1);
}

TEST_CASE("limits: upsert replaces the row, out-of-range values are refused", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "limited");
  v1::PutPipeLimitsRequest put;
  put.set_pipe_id(pipe.id());
  put.mutable_limits()->set_pl_ingest_max_records_per_request(100);
  put.mutable_limits()->set_pl_delivery_max_interval_ms(200);
  v1::PipeLimits limits;
  REQUIRE(f.stub().PutPipeLimits(f.as(ws.api_key).get(), put, &limits).ok());
  CHECK(limits.pl_ingest_max_records_per_request() == 100);

  put.mutable_limits()->clear_pl_delivery_max_interval_ms();  // replace, not merge
  REQUIRE(f.stub().PutPipeLimits(f.as(ws.api_key).get(), put, &limits).ok());
  CHECK_FALSE(limits.has_pl_delivery_max_interval_ms());

  v1::GetPipeRequest get;
  get.set_pipe_id(pipe.id());
  v1::Pipe read;
  REQUIRE(f.stub().GetPipe(f.as(ws.api_key).get(), get, &read).ok());
  CHECK(read.has_limits());
  CHECK(read.limits().pl_ingest_max_records_per_request() == 100);

  put.mutable_limits()->set_pl_ingest_max_records_per_request(0);
  auto status = f.stub().PutPipeLimits(f.as(ws.api_key).get(), put, &limits);
  REQUIRE(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(field_errors(status).count("pl_ingest_max_records_per_request") == 1);
  REQUIRE(f.stub().GetPipe(f.as(ws.api_key).get(), get, &read).ok());
  CHECK(read.limits().pl_ingest_max_records_per_request() == 100);
}

TEST_CASE("allowed origins: normalised on add, refused when not an origin, removable", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  auto pipe = f.create_pipe(ws, "web");
  v1::AddAllowedOriginRequest add;
  add.set_pipe_id(pipe.id());
  add.set_origin_domain("HTTPS://App.Example.com:443");
  v1::AllowedOrigin origin;
  REQUIRE(f.stub().AddAllowedOrigin(f.as(ws.api_key).get(), add, &origin).ok());
  CHECK(origin.origin_domain() == "https://app.example.com");

  for (const char* bad : {"app.example.com", "https://app.example.com/path", "null", "ftp://x.com"}) {
    add.set_origin_domain(bad);
    auto status = f.stub().AddAllowedOrigin(f.as(ws.api_key).get(), add, &origin);
    INFO(bad);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(field_errors(status).count("origin_domain") == 1);
  }

  v1::GetPipeRequest get;
  get.set_pipe_id(pipe.id());
  v1::Pipe read;
  REQUIRE(f.stub().GetPipe(f.as(ws.api_key).get(), get, &read).ok());
  REQUIRE(read.allowed_origins_size() == 1);

  v1::RemoveAllowedOriginRequest rm;
  rm.set_pipe_id(pipe.id());
  rm.set_origin_id(read.allowed_origins(0).id());
  v1::Empty empty;
  REQUIRE(f.stub().RemoveAllowedOrigin(f.as(ws.api_key).get(), rm, &empty).ok());
  CHECK(f.stub().RemoveAllowedOrigin(f.as(ws.api_key).get(), rm, &empty).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

// Workspace isolation: every management call with another workspace's ids is NOT_FOUND and
// changes nothing.
#include <catch2/catch.hpp>

#include "fixture.h"

using namespace bp::control_plane::testing;

TEST_CASE("another workspace's ids answer NOT_FOUND everywhere and change nothing", "[integration]") {
  Fixture f;
  auto a = f.new_workspace();
  auto b = f.new_workspace();
  auto pipe = f.create_pipe(a, "private");
  v1::CreateDestinationRequest cd;
  cd.set_pipe_id(pipe.id());
  cd.set_type("webhook");
  cd.set_name("hook");
  cd.set_config_json(R"({"url":"https://example.com/hook","signing_secret":"whsec_topsecret"})");
  v1::Destination dest;
  REQUIRE(f.stub().CreateDestination(f.as(a.api_key).get(), cd, &dest).ok());
  v1::AddAllowedOriginRequest ao;
  ao.set_pipe_id(pipe.id());
  ao.set_origin_domain("https://a.example.com");
  v1::AllowedOrigin origin;
  REQUIRE(f.stub().AddAllowedOrigin(f.as(a.api_key).get(), ao, &origin).ok());
  v1::ListApiKeysResponse a_keys;
  REQUIRE(f.stub().ListApiKeys(f.as(a.api_key).get(), {}, &a_keys).ok());
  v1::Pipe before;
  v1::GetPipeRequest get;
  get.set_pipe_id(pipe.id());
  REQUIRE(f.stub().GetPipe(f.as(a.api_key).get(), get, &before).ok());

  auto as_b = [&] { return f.as(b.api_key); };
  constexpr auto kNotFound = grpc::StatusCode::NOT_FOUND;
  v1::Pipe p;
  v1::Empty e;
  v1::Destination d;
  CHECK(f.stub().GetPipe(as_b().get(), get, &p).error_code() == kNotFound);
  v1::UpdatePipeRequest up;
  up.set_pipe_id(pipe.id());
  up.set_name("stolen");
  CHECK(f.stub().UpdatePipe(as_b().get(), up, &p).error_code() == kNotFound);
  v1::DeletePipeRequest dp;
  dp.set_pipe_id(pipe.id());
  CHECK(f.stub().DeletePipe(as_b().get(), dp, &e).error_code() == kNotFound);
  cd.set_name("intruder");
  CHECK(f.stub().CreateDestination(as_b().get(), cd, &d).error_code() == kNotFound);
  v1::UpdateDestinationRequest ud;
  ud.set_pipe_id(pipe.id());
  ud.set_destination_id(dest.id());
  ud.set_config_json(R"({"url":"https://evil.example.com"})");
  CHECK(f.stub().UpdateDestination(as_b().get(), ud, &d).error_code() == kNotFound);
  v1::SetDestinationStatusRequest sd;
  sd.set_pipe_id(pipe.id());
  sd.set_destination_id(dest.id());
  sd.set_destination_status("blocked");
  CHECK(f.stub().SetDestinationStatus(as_b().get(), sd, &d).error_code() == kNotFound);
  v1::DeleteDestinationRequest dd;
  dd.set_pipe_id(pipe.id());
  dd.set_destination_id(dest.id());
  CHECK(f.stub().DeleteDestination(as_b().get(), dd, &e).error_code() == kNotFound);
  v1::PutPipeLimitsRequest pl;
  pl.set_pipe_id(pipe.id());
  pl.mutable_limits()->set_pl_ingest_max_records_per_request(1);
  v1::PipeLimits limits;
  CHECK(f.stub().PutPipeLimits(as_b().get(), pl, &limits).error_code() == kNotFound);
  ao.set_origin_domain("https://evil.example.com");
  CHECK(f.stub().AddAllowedOrigin(as_b().get(), ao, &origin).error_code() == kNotFound);
  v1::RemoveAllowedOriginRequest ro;
  ro.set_pipe_id(pipe.id());
  ro.set_origin_id(before.allowed_origins(0).id());
  CHECK(f.stub().RemoveAllowedOrigin(as_b().get(), ro, &e).error_code() == kNotFound);
  v1::RevokeApiKeyRequest rk;
  rk.set_api_key_id(a_keys.api_keys(0).id());
  v1::ApiKey k;
  CHECK(f.stub().RevokeApiKey(as_b().get(), rk, &k).error_code() == kNotFound);
  v1::ListRunsRequest lr;
  lr.set_pipe_id(pipe.id());
  v1::ListRunsResponse runs;
  CHECK(f.stub().ListRuns(as_b().get(), lr, &runs).error_code() == kNotFound);

  // B sees none of A's things in its lists.
  v1::ListPipesResponse b_pipes;
  REQUIRE(f.stub().ListPipes(as_b().get(), {}, &b_pipes).ok());
  CHECK(b_pipes.pipes_size() == 0);
  v1::ListApiKeysResponse b_keys;
  REQUIRE(f.stub().ListApiKeys(as_b().get(), {}, &b_keys).ok());
  CHECK(b_keys.api_keys_size() == 1);

  // And A's pipe is exactly as it was.
  v1::Pipe after;
  REQUIRE(f.stub().GetPipe(f.as(a.api_key).get(), get, &after).ok());
  after.clear_usage();
  before.clear_usage();
  CHECK(after.SerializeAsString() == before.SerializeAsString());
  v1::ListApiKeysResponse a_keys_after;
  REQUIRE(f.stub().ListApiKeys(f.as(a.api_key).get(), {}, &a_keys_after).ok());
  CHECK(a_keys_after.api_keys(0).revoked_at().empty());
}

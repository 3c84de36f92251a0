// Routing: every route of seed 000, path parameters, 404 and 405 with Allow.
#include <catch2/catch.hpp>

#include "bp/gateway/router.h"

using namespace bp::gateway;
using boost::beast::http::verb;

TEST_CASE("every documented route is matched with its parameters") {
  struct Case {
    verb method;
    const char* target;
    RouteId id;
    const char* pipe;
    const char* child;
  };
  for (const auto& c : std::initializer_list<Case>{
           {verb::get, "/v1/health", RouteId::kHealth, "", ""},
           {verb::post, "/v1/ingest/abc", RouteId::kIngestPost, "abc", ""},
           {verb::get, "/v1/ingest/abc", RouteId::kIngestGet, "abc", ""},
           {verb::options, "/v1/ingest/abc", RouteId::kIngestOptions, "abc", ""},
           {verb::get, "/v1/pipes", RouteId::kListPipes, "", ""},
           {verb::post, "/v1/pipes", RouteId::kCreatePipe, "", ""},
           {verb::get, "/v1/pipes/p1", RouteId::kGetPipe, "p1", ""},
           {verb::patch, "/v1/pipes/p1", RouteId::kUpdatePipe, "p1", ""},
           {verb::delete_, "/v1/pipes/p1", RouteId::kDeletePipe, "p1", ""},
           {verb::post, "/v1/pipes/p1/destinations", RouteId::kCreateDestination, "p1", ""},
           {verb::patch, "/v1/pipes/p1/destinations/d1", RouteId::kUpdateDestination, "p1", "d1"},
           {verb::patch, "/v1/pipes/p1/destinations/d1/status", RouteId::kSetDestinationStatus, "p1", "d1"},
           {verb::delete_, "/v1/pipes/p1/destinations/d1", RouteId::kDeleteDestination, "p1", "d1"},
           {verb::put, "/v1/pipes/p1/limits", RouteId::kPutLimits, "p1", ""},
           {verb::post, "/v1/pipes/p1/allowed-origins", RouteId::kAddOrigin, "p1", ""},
           {verb::delete_, "/v1/pipes/p1/allowed-origins/o1", RouteId::kRemoveOrigin, "p1", "o1"},
           {verb::get, "/v1/pipes/p1/runs", RouteId::kListRuns, "p1", ""},
           {verb::get, "/v1/pipes/p1/runs/r1", RouteId::kGetRun, "p1", "r1"},
           {verb::get, "/v1/pipes/p1/destinations/d1/dead-letters", RouteId::kListDeadLetters, "p1", "d1"},
           {verb::post, "/v1/pipes/p1/destinations/d1/dead-letters/replay", RouteId::kReplayDeadLetters, "p1", "d1"},
           {verb::get, "/v1/api-keys", RouteId::kListApiKeys, "", ""},
           {verb::post, "/v1/api-keys", RouteId::kCreateApiKey, "", ""},
           {verb::delete_, "/v1/api-keys/k1", RouteId::kRevokeApiKey, "", "k1"},
       }) {
    INFO(c.target);
    Route r = match_route(c.method, c.target);
    CHECK(r.id == c.id);
    CHECK(r.pipe_id == c.pipe);
    CHECK(r.child_id == c.child);
  }
}

TEST_CASE("unknown paths are 404, known paths with another method are 405 with Allow") {
  CHECK(match_route(verb::get, "/v2/pipes").id == RouteId::kNotFound);
  CHECK(match_route(verb::get, "/v1/pipes/p1/destinations/d1/status/x").id == RouteId::kNotFound);
  CHECK(match_route(verb::get, "/v1//pipes").id == RouteId::kNotFound);
  CHECK(match_route(verb::get, "").id == RouteId::kNotFound);
  CHECK(match_route(verb::get, "*").id == RouteId::kNotFound);
  // Longer than any route: not matched, however many segments.
  CHECK(match_route(verb::get, "/v1/pipes/p1/destinations/d1/dead-letters/replay/a/b").id == RouteId::kNotFound);
  CHECK(match_route(verb::post, "/v1/ingest/p1" + std::string(5000, '/')).id == RouteId::kNotFound);
  CHECK(match_route(verb::post, "/v1/ingest/p1/").id == RouteId::kIngestPost);  // one trailing slash is dropped
  Route r = match_route(verb::put, "/v1/pipes");
  CHECK(r.id == RouteId::kMethodNotAllowed);
  CHECK(r.allow == "GET, POST");
  Route ingest = match_route(verb::delete_, "/v1/ingest/x");
  CHECK(ingest.id == RouteId::kMethodNotAllowed);
  CHECK(ingest.allow == "POST, GET, OPTIONS");
}

TEST_CASE("query strings are split off and decoded") {
  Route r = match_route(verb::get, "/v1/pipes?limit=2&cursor=abc%3D%3D");
  CHECK(r.id == RouteId::kListPipes);
  CHECK(query_param(r.query, "limit") == "2");
  CHECK(query_param(r.query, "cursor") == "abc==");
  CHECK(query_param(r.query, "missing").empty());
  CHECK(query_param("a=%zz", "a") == "%zz");
  CHECK(query_param("a=%4", "a") == "%4");
}

// Seed 000's ingest rules: origins, CORS-only pipes, body shapes, limits, enrichment.
#include <catch2/catch.hpp>

#include <sstream>
#include <vector>

#include "bp/gateway/http.h"
#include "bp/gateway/ingest_rules.h"
#include "bp/json.h"

using namespace bp::gateway;

namespace {

::batchpipe::v1::Pipe pipe_with(std::initializer_list<const char*> origins, bool any = false, bool key = true) {
  ::batchpipe::v1::Pipe p;
  p.set_require_api_key(key);
  p.set_allow_any_browser_origin(any);
  for (const char* o : origins) p.add_allowed_origins()->set_origin_domain(o);
  return p;
}

PreparedRecords ok(const std::variant<PreparedRecords, Rejection>& v) {
  REQUIRE(std::holds_alternative<PreparedRecords>(v));
  return std::get<PreparedRecords>(v);
}

Rejection refused(const std::variant<PreparedRecords, Rejection>& v) {
  REQUIRE(std::holds_alternative<Rejection>(v));
  return std::get<Rejection>(v);
}

}  // namespace

TEST_CASE("origins: allowlist matches after normalisation and echoes the request's Origin") {
  auto p = pipe_with({"https://app.example.com"});
  auto v = check_origin(p, std::string_view("HTTPS://APP.example.com:443"));
  CHECK(v.allowed);
  CHECK(v.echo == "HTTPS://APP.example.com:443");
  CHECK_FALSE(check_origin(p, std::string_view("https://evil.example.com")).allowed);
  CHECK_FALSE(check_origin(p, std::string_view("null")).allowed);
  CHECK(check_origin(p, std::nullopt).allowed);
  CHECK(check_origin(p, std::nullopt).echo.empty());
}

TEST_CASE("origins: any browser origin takes standard http(s) origins only") {
  auto p = pipe_with({}, true);
  CHECK(check_origin(p, std::string_view("http://localhost:5173")).echo == "http://localhost:5173");
  CHECK_FALSE(check_origin(p, std::string_view("null")).allowed);
  CHECK_FALSE(check_origin(p, std::string_view("chrome-extension://abc")).allowed);
  CHECK_FALSE(check_origin(p, std::string_view("file://")).allowed);
}

TEST_CASE("origins: an API-key pipe without origin settings checks nothing and echoes nothing") {
  auto v = check_origin(pipe_with({}), std::string_view("https://anything.example"));
  CHECK(v.allowed);
  CHECK(v.echo.empty());
}

TEST_CASE("CORS-only pipes: misconfiguration is 500, a missing Origin is 401") {
  auto bare = pipe_with({}, false, false);
  auto r = check_cors_only(bare, std::string_view("https://a.com"));
  REQUIRE(r.has_value());
  CHECK(r->status == 500);
  CHECK(r->code == "configuration_error");
  auto listed = pipe_with({"https://a.com"}, false, false);
  auto missing = check_cors_only(listed, std::nullopt);
  REQUIRE(missing.has_value());
  CHECK(missing->status == 401);
  CHECK(missing->code == "unauthorized");
  CHECK_FALSE(check_cors_only(listed, std::string_view("https://a.com")).has_value());
}

TEST_CASE("bodies: one object or a non-empty array of objects") {
  Enrichment none;
  CHECK(ok(prepare_records(R"({"event":"signup"})", none, std::nullopt, 64)).json == R"([{"event":"signup"}])");
  CHECK(ok(prepare_records(R"({})", none, std::nullopt, 64)).count == 1);
  auto many = ok(prepare_records(R"([{"a":1},{"b":[1,2]}])", none, std::nullopt, 64));
  CHECK(many.count == 2);
  CHECK(many.json == R"([{"a":1},{"b":[1,2]}])");
  CHECK(refused(prepare_records("", none, std::nullopt, 64)).code == "empty_payload");
  CHECK(refused(prepare_records("  \n", none, std::nullopt, 64)).code == "empty_payload");
  CHECK(refused(prepare_records("[]", none, std::nullopt, 64)).code == "empty_payload");
  for (const char* bad : {"1", "\"x\"", "null", "[1]", "[{},2]", "[[]]", "{", "{} {}", "true"}) {
    INFO(bad);
    auto r = refused(prepare_records(bad, none, std::nullopt, 64));
    CHECK(r.status == 400);
    CHECK(r.code == "invalid_payload");
  }
  std::string deep = std::string(100, '[') + std::string(100, ']');
  CHECK(refused(prepare_records(deep, none, std::nullopt, 64)).code == "invalid_payload");
}

TEST_CASE("bodies without enrichment keep the client's bytes, and are checked as strictly as with") {
  Enrichment none;
  Enrichment with{"received_at", "2026-01-01T00:00:00.000Z", "", ""};
  // Whitespace inside is kept, around is dropped; nested arrays and objects are not records.
  CHECK(ok(prepare_records(" \n{ \"a\" : [1, {\"b\": 2}] }\n", none, std::nullopt, 64)).json ==
        "[{ \"a\" : [1, {\"b\": 2}] }]");
  auto nested = ok(prepare_records(R"( [ {"x":[{},{}]} , {"y":{"z":[]}} ] )", none, std::nullopt, 64));
  CHECK(nested.count == 2);
  CHECK(nested.json == R"([ {"x":[{},{}]} , {"y":{"z":[]}} ])");
  // Whatever the DOM path refuses, the fast path refuses with the same status and code.
  for (const std::string& bad : std::vector<std::string>{"1", "\"x\"", "null", "[1]", "[{},2]", "[[]]", "{", "{} {}", "true", "[{}] x",
                          "{\"a\":\"\xff\"}", "{\"a\":1,}", "[{}]]", "{\"a\"}", std::string(70, '[') + std::string(70, ']'),
                          "[" + std::string(70, '{') }) {
    INFO(bad);
    auto fast = refused(prepare_records(bad, none, std::nullopt, 64));
    auto slow = refused(prepare_records(bad, with, std::nullopt, 64));
    CHECK(fast.status == slow.status);
    CHECK(fast.code == slow.code);
    CHECK(fast.message == slow.message);
  }
  CHECK(refused(prepare_records("{}", none, 0, 64)).code == "batch_too_large");
}

TEST_CASE("bodies: the record cap answers 413 batch_too_large") {
  Enrichment none;
  CHECK(ok(prepare_records("[{},{}]", none, 2, 64)).count == 2);
  auto r = refused(prepare_records("[{},{},{}]", none, 2, 64));
  CHECK(r.status == 413);
  CHECK(r.code == "batch_too_large");
}

TEST_CASE("a body given up leaves in its own buffer when the records go as they came, and stays otherwise") {
  Enrichment none;
  std::string records = "[";
  for (int i = 0; i < 100; ++i) records += std::string(i ? "," : "") + R"({"event":"signup","n":)" + std::to_string(i) + "}";
  records += "]";
  std::string body = records;
  const char* buffer = body.data();
  auto prepared = prepare_owned_records(std::move(body), none, std::nullopt, 64);
  REQUIRE(std::holds_alternative<PreparedRecords>(prepared));
  const auto& out = std::get<PreparedRecords>(prepared);  // not ok(), which copies
  CHECK(out.count == 100);
  CHECK(out.json == records);
  CHECK(out.json.data() == buffer);  // moved, not copied

  // Whitespace around the array: the records are copied without it, and the body is kept.
  std::string spaced = " " + records + "\n";
  auto trimmed = ok(prepare_owned_records(std::move(spaced), none, std::nullopt, 64));
  CHECK(trimmed.json == records);
  CHECK(spaced == " " + records + "\n");
  // An object is wrapped; with enrichment the records are written anew: the body stays.
  std::string object = R"({"event":"signup"})";
  CHECK(ok(prepare_owned_records(std::move(object), none, std::nullopt, 64)).json == R"([{"event":"signup"}])");
  CHECK(object == R"({"event":"signup"})");
  std::string enriched = records;
  Enrichment e{"received_at", "2026-01-01T00:00:00.000Z", "", ""};
  CHECK(ok(prepare_owned_records(std::move(enriched), e, std::nullopt, 64)).count == 100);
  CHECK(enriched == records);
  // A rejected body is left as it was, and gets the answer prepare_records gives.
  std::string capped = records;
  CHECK(refused(prepare_owned_records(std::move(capped), none, 10, 64)).code == "batch_too_large");
  CHECK(capped == records);
  for (const char* bad : {"[1]", "[{},2]", "{", "[{}] x", "", "[]"}) {
    INFO(bad);
    std::string kept = bad;
    auto r = refused(prepare_owned_records(std::move(kept), none, std::nullopt, 64));
    CHECK(r.code == refused(prepare_records(bad, none, std::nullopt, 64)).code);
    CHECK(r.message == refused(prepare_records(bad, none, std::nullopt, 64)).message);
    CHECK(kept == bad);
  }
}

TEST_CASE("the gateway's body reader gives the body Beast's string_body gives, in any pieces") {
  std::string body = R"([{"event":"signup","pad":")" + std::string(40000, 'x') + R"("}])";
  std::string wire = "POST /v1/ingest/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t piece : {size_t{1}, size_t{7}, size_t{512}, size_t{4096}, wire.size()}) {
    INFO(piece);
    RequestParser parser;
    parser.body_limit(1 << 20);
    parser.eager(true);
    boost::beast::error_code ec;
    std::string pending;
    for (size_t at = 0; at < wire.size() && !parser.is_done(); at += piece) {
      pending.append(wire, at, piece);
      size_t used = parser.put(boost::asio::buffer(pending), ec);
      if (ec == http::error::need_more) ec = {};
      REQUIRE_FALSE(ec);
      pending.erase(0, used);
    }
    REQUIRE(parser.is_done());
    CHECK(parser.get().body() == body);
  }
  // Over the body limit: Beast's own error, before the reader is asked for room.
  RequestParser small;
  small.body_limit(1000);
  boost::beast::error_code ec;
  small.eager(true);
  small.put(boost::asio::buffer(wire), ec);
  CHECK(ec == http::error::body_limit);
}

TEST_CASE("enrichment adds the configured fields to every record, overriding client values") {
  Enrichment e{"received_at", "2026-01-01T00:00:00.000Z", "ip", "203.0.113.9"};
  auto out = ok(prepare_records(R"([{"a":1},{"ip":"forged"}])", e, std::nullopt, 64));
  auto doc = bp::json::parse(out.json);
  REQUIRE(doc.ok());
  for (const auto& record : doc->GetArray()) {
    CHECK(bp::json::get_string(record, "received_at") == "2026-01-01T00:00:00.000Z");
    CHECK(bp::json::get_string(record, "ip") == "203.0.113.9");
  }
}

TEST_CASE("write_response writes the bytes Beast's serializer writes") {
  auto beast_bytes = [](const Response& res) {
    std::ostringstream os;
    os << res;
    return os.str();
  };
  std::vector<Response> cases;
  cases.push_back(json_response(http::status::accepted, R"({"accepted":true})"));
  cases.push_back(error_response(http::status::too_many_requests, "rate_limited", "slow down"));
  cases.back().set(http::field::retry_after, "3");
  cases.push_back(empty_response(http::status::no_content));
  cases.back().set(http::field::access_control_allow_origin, "https://app.example.com");
  cases.push_back(json_response(http::status::service_unavailable, std::string(5000, 'x')));
  cases.back().keep_alive(false);
  cases.push_back(json_response(http::status::ok, "{}"));
  cases.back().set("X-Request-ID", "abc-123");
  cases.back().version(10);
  cases.push_back(json_response(static_cast<http::status>(299), "{}"));  // no reason phrase
  std::string out = "left over from the last response";
  for (auto& res : cases) {
    res.prepare_payload();
    write_response(res, out);
    CHECK(out == beast_bytes(res));
  }
}

TEST_CASE("header helpers: bearer tokens, JSON content types, idempotency keys, request ids") {
  Request req;
  req.set(http::field::authorization, "Bearer  bp_v1_abc ");
  CHECK(bearer_token(req) == "bp_v1_abc");
  req.set(http::field::authorization, "bearer x");
  CHECK(bearer_token(req) == "x");
  req.set(http::field::authorization, "Basic x");
  CHECK(bearer_token(req).empty());
  CHECK(is_json_content_type("application/json"));
  CHECK(is_json_content_type("Application/JSON; charset=utf-8"));
  CHECK_FALSE(is_json_content_type("application/jsonx"));
  CHECK_FALSE(is_json_content_type("text/plain"));
  CHECK(valid_idempotency_key("order-123"));
  CHECK_FALSE(valid_idempotency_key(""));
  CHECK_FALSE(valid_idempotency_key("has space"));
  CHECK_FALSE(valid_idempotency_key(std::string(256, 'a')));
  CHECK(valid_request_id("req_123.abc-1:2"));
  CHECK_FALSE(valid_request_id("bad id"));
  CHECK_FALSE(valid_request_id(std::string(129, 'a')));
}

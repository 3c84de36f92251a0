// Destination config schemas: the generic checks and each type's own rules.
#include <catch2/catch.hpp>

#include "bp/destinations/registry.h"

using namespace bp::destinations;

namespace {

bp::Result<rapidjson::Document> check(const std::string& type, const std::string& config) {
  auto doc = bp::json::parse(config);
  REQUIRE(doc.ok());
  const Schema* schema = find_schema(type);
  REQUIRE(schema != nullptr);
  return validate(*schema, *doc);
}

std::map<std::string, std::string> errors_of(const bp::Result<rapidjson::Document>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error().field_errors;
}

}  // namespace

TEST_CASE("the registry knows the four destination types") {
  CHECK(known_types() == std::vector<std::string>{"postgres", "webhook", "file", "s3"});
  CHECK(find_schema("kafka") == nullptr);
  CHECK(find_schema("postgres")->secret_fields() == std::vector<std::string>{"password"});
  CHECK(find_schema("s3")->secret_fields() == std::vector<std::string>{"secret_access_key"});
}

TEST_CASE("postgres: defaults filled, required fields, identifiers, ranges, unknown fields") {
  auto ok = check("postgres", R"({"host":"db","database":"d","user":"u","table":"events"})");
  REQUIRE(ok.ok());
  CHECK(bp::json::get_int(*ok, "port") == 5432);
  CHECK(bp::json::get_string(*ok, "schema") == "public");
  CHECK(bp::json::get_string(*ok, "sslmode") == "prefer");
  CHECK(bp::json::get_string(*ok, "mode") == "jsonb");

  auto e = errors_of(check("postgres", R"({"host":"","port":0,"user":5,"table":"drop table x;","mode":"rows","x":1})"));
  CHECK(e.at("config.host") == "must not be empty");
  CHECK(e.count("config.port") == 1);
  CHECK(e.at("config.database") == "is required");
  CHECK(e.at("config.user") == "must be a string");
  CHECK(e.count("config.mode") == 1);
  CHECK(e.count("config.x") == 1);

  auto ident = errors_of(check("postgres", R"({"host":"db","database":"d","user":"u","table":"a-b"})"));
  CHECK(ident.count("config.table") == 1);
}

TEST_CASE("webhook: URL scheme and reserved headers") {
  CHECK(check("webhook", R"({"url":"https://hooks.example.com/x","headers":{"X-Team":"a"}})").ok());
  CHECK(errors_of(check("webhook", R"j({"url":"javascript:alert(1)"})j")).count("config.url") == 1);
  CHECK(errors_of(check("webhook", R"({"url":"https://user:pw@example.com"})")).count("config.url") == 1);
  CHECK(errors_of(check("webhook", R"({"url":"https://e.com","headers":{"Content-Length":"1"}})"))
            .count("config.headers.Content-Length") == 1);
  CHECK(errors_of(check("webhook", R"({"url":"https://e.com","headers":{"X":1}})")).count("config.headers.X") == 1);
  CHECK(errors_of(check("webhook", R"({"url":"https://e.com","timeout_ms":5})")).count("config.timeout_ms") == 1);
}

TEST_CASE("file: the path must stay inside the sink root") {
  CHECK(check("file", R"({"path":"exports/2026"})").ok());
  CHECK(check("file", R"({"path":"a/../b"})").ok());
  for (const char* bad : {"/etc", "..", "../x", "a/../../x", ".", ""}) {
    INFO(bad);
    CHECK(errors_of(check("file", std::string(R"({"path":")") + bad + "\"}")).count("config.path") == 1);
  }
}

TEST_CASE("s3: bucket names and endpoint") {
  CHECK(check("s3", R"({"endpoint":"http://127.0.0.1:9000","bucket":"my-bucket","access_key_id":"a","secret_access_key":"s"})")
            .ok());
  auto e = errors_of(check("s3", R"({"endpoint":"s3","bucket":"My_Bucket","access_key_id":"a","secret_access_key":""})"));
  CHECK(e.count("config.endpoint") == 1);
  CHECK(e.count("config.bucket") == 1);
  CHECK(e.count("config.secret_access_key") == 1);
}

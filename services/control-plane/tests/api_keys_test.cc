// API keys: shown once, stored hashed, revocable (never the one in use), expiring.
#include <catch2/catch.hpp>

#include "bp/api_key.h"
#include "bp/crypto.h"
#include "fixture.h"

using namespace bp::control_plane::testing;

TEST_CASE("api keys: created once with the full secret, listed without it, usable", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  CHECK(bp::crypto::api_key_well_formed(ws.api_key));
  v1::CreateApiKeyRequest req;
  req.set_name("ci");
  v1::CreateApiKeyResponse created;
  REQUIRE(f.stub().CreateApiKey(f.as(ws.api_key).get(), req, &created).ok());
  CHECK(bp::crypto::api_key_well_formed(created.secret()));
  CHECK(created.secret().rfind(created.api_key().prefix(), 0) == 0);
  CHECK(created.api_key().expires_at().empty());

  // Only the hash is stored.
  auto rows = f.db().exec("SELECT key_sha256 FROM api_key WHERE id = $1", {created.api_key().id()});
  REQUIRE(rows.ok());
  CHECK(rows->text(0, "key_sha256") == bp::crypto::sha256_hex(created.secret()));
  auto leaked = f.db().exec("SELECT count(*) AS n FROM api_key WHERE name = $1 OR prefix = $1 OR key_sha256 = $1",
                            {created.secret()});
  CHECK(leaked->integer(0, "n") == 0);

  v1::ListApiKeysResponse list;
  REQUIRE(f.stub().ListApiKeys(f.as(created.secret()).get(), {}, &list).ok());
  CHECK(list.api_keys_size() == 2);
  CHECK(list.DebugString().find(created.secret()) == std::string::npos);

  req.set_name("");
  CHECK(f.stub().CreateApiKey(f.as(ws.api_key).get(), req, &created).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("api keys: revoking works at once, the key in use cannot revoke itself", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  v1::CreateApiKeyRequest req;
  req.set_name("temp");
  v1::CreateApiKeyResponse other;
  REQUIRE(f.stub().CreateApiKey(f.as(ws.api_key).get(), req, &other).ok());

  v1::RevokeApiKeyRequest self;
  self.set_api_key_id(other.api_key().id());
  v1::ApiKey out;
  auto status = f.stub().RevokeApiKey(f.as(other.secret()).get(), self, &out);
  CHECK(status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);

  REQUIRE(f.stub().RevokeApiKey(f.as(ws.api_key).get(), self, &out).ok());
  CHECK_FALSE(out.revoked_at().empty());
  v1::ListPipesResponse list;
  CHECK(f.stub().ListPipes(f.as(other.secret()).get(), {}, &list).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  v1::ResolveApiKeyRequest resolve;
  resolve.set_key_sha256(bp::crypto::sha256_hex(other.secret()));
  v1::ResolveApiKeyResponse resolved;
  CHECK(f.stub().ResolveApiKey(f.internal().get(), resolve, &resolved).error_code() == grpc::StatusCode::NOT_FOUND);
  // Revoking again is harmless.
  CHECK(f.stub().RevokeApiKey(f.as(ws.api_key).get(), self, &out).ok());
}

TEST_CASE("api keys: an expired key is refused", "[integration]") {
  Fixture f;
  auto ws = f.new_workspace();
  v1::CreateApiKeyRequest req;
  req.set_name("short-lived");
  req.set_expires_in_days(1);
  v1::CreateApiKeyResponse created;
  REQUIRE(f.stub().CreateApiKey(f.as(ws.api_key).get(), req, &created).ok());
  CHECK_FALSE(created.api_key().expires_at().empty());
  v1::ListPipesResponse list;
  CHECK(f.stub().ListPipes(f.as(created.secret()).get(), {}, &list).ok());
  REQUIRE(f.db().exec("UPDATE api_key SET expires_at = now() - interval '1 second' WHERE id = $1",
                      {created.api_key().id()}).ok());
  CHECK(f.stub().ListPipes(f.as(created.secret()).get(), {}, &list).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
}

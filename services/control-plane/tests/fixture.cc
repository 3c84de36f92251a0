// The control-plane test fixture, wired exactly as the binary wires it.
#include "fixture.h"

#include <catch2/catch.hpp>

#include "bp/control_plane/migrations.h"
#include "bp/crypto.h"
#include "bp/uuid.h"

namespace bp::control_plane::testing {

Fixture::Fixture() : Fixture(bp::testing::nats_url(), TopologyOptions{}) {}

Fixture::Fixture(const std::string& nats_url, TopologyOptions options) {
  auto conn = pg::Connection::connect(database_.url());
  if (!conn) throw std::runtime_error(conn.error().message);
  db_ = std::make_unique<pg::Connection>(std::move(conn).value());
  if (auto m = migrate(*db_); !m) throw std::runtime_error(m.error().message);

  auto nats = nats::Client::connect(nats_url, "control-plane-test");
  if (!nats) throw std::runtime_error(nats.error().message);
  nats_ = *nats;
  auto topology = std::make_shared<Topology>(nats_, options);
  if (auto s = topology->ensure_streams(); !s) throw std::runtime_error(s.error().message);

  auto key = crypto::Keyring::parse_key_text(bp::testing::random_master_key_hex());
  auto keyring = crypto::Keyring::from_keys(*key);
  service_ = std::make_shared<Management>(std::make_shared<pg::Pool>(database_.url(), 4),
                                       std::make_shared<crypto::Keyring>(std::move(keyring).value()), topology);
  grpc_service_ = std::make_unique<GrpcService>(service_);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(grpc_service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) throw std::runtime_error("cannot start the gRPC server");
  stub_ = v1::ControlPlane::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

Fixture::~Fixture() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

Workspace Fixture::new_workspace() {
  auto created = service_->bootstrap("ws-" + uuid::v4());
  REQUIRE(created.ok());
  REQUIRE(created->has_value());
  return {(*created)->workspace_id, (*created)->api_key};
}

std::unique_ptr<grpc::ClientContext> Fixture::as(const std::string& api_key) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata(kApiKeyMetadata, crypto::sha256_hex(api_key));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

std::unique_ptr<grpc::ClientContext> Fixture::internal() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

v1::Pipe Fixture::create_pipe(const Workspace& ws, const std::string& name) {
  v1::CreatePipeRequest req;
  req.set_name(name);
  v1::Pipe pipe;
  auto status = stub_->CreatePipe(as(ws.api_key).get(), req, &pipe);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return pipe;
}

std::map<std::string, std::string> field_errors(const grpc::Status& status) {
  v1::FieldErrors details;
  details.ParseFromString(status.error_details());
  return {details.errors().begin(), details.errors().end()};
}

}  // namespace bp::control_plane::testing

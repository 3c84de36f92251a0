// A real control-plane for one test: scratch database, the test NATS server, an in-process gRPC
// server on a free loopback port, and a real gRPC client.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "batchpipe/v1/control_plane.grpc.pb.h"
#include "bp/control_plane/grpc_service.h"
#include "bp/control_plane/management.h"
#include "bp/testing/environment.h"

namespace bp::control_plane::testing {

namespace v1 = ::batchpipe::v1;

struct Workspace {
  std::string id;
  std::string api_key;  // full secret
};

class Fixture {
 public:
  Fixture();
  // On a NATS server of the test's own, with these topology options.
  Fixture(const std::string& nats_url, TopologyOptions options);
  ~Fixture();

  // A new workspace with its first key.
  Workspace new_workspace();
  // A client context that presents `api_key` the way the gateway does.
  std::unique_ptr<grpc::ClientContext> as(const std::string& api_key) const;
  std::unique_ptr<grpc::ClientContext> internal() const;

  v1::ControlPlane::Stub& stub() { return *stub_; }
  std::shared_ptr<v1::ControlPlane::StubInterface> stub_shared() { return stub_; }
  Management& service() { return *service_; }
  std::shared_ptr<Management> service_shared() { return service_; }
  nats::Client& nats() { return *nats_; }
  pg::Connection& db() { return *db_; }
  const std::string& database_url() const { return database_.url(); }

  // Creates a pipe and returns it (REQUIREs success).
  v1::Pipe create_pipe(const Workspace& ws, const std::string& name);

 private:
  bp::testing::ScratchDatabase database_;
  std::unique_ptr<pg::Connection> db_;
  std::shared_ptr<nats::Client> nats_;
  std::shared_ptr<Management> service_;
  std::unique_ptr<GrpcService> grpc_service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<v1::ControlPlane::Stub> stub_;
};

// The field errors a validation failure carries.
std::map<std::string, std::string> field_errors(const grpc::Status& status);

}  // namespace bp::control_plane::testing

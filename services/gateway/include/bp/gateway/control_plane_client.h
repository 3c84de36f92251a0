// The gateway's side of the control-plane gRPC API, awaited from coroutines without blocking an
// I/O thread (gRPC's callback API).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "batchpipe/v1/control_plane.grpc.pb.h"
#include "bp/gateway/await_callback.h"

namespace bp::gateway {

namespace v1 = ::batchpipe::v1;

template <class Resp>
struct RpcResult {
  grpc::Status status;
  Resp response;
};

class ControlPlaneClient {
 public:
  ControlPlaneClient(const std::string& address, std::chrono::milliseconds timeout);

  // Calls one RPC (pass BP_RPC(Name)) with the caller's key hash as metadata when non-empty.
  template <class Resp, class Req, class Method>
  boost::asio::awaitable<RpcResult<Resp>> call(Method method, Req request, const std::string& key_sha256 = "") {
    struct State {
      grpc::ClientContext context;
      Req request;
      Resp response;
    };
    auto state = std::make_shared<State>();
    state->request = std::move(request);
    state->context.set_deadline(std::chrono::system_clock::now() + timeout_);
    if (!key_sha256.empty()) state->context.AddMetadata("bp-api-key-sha256", key_sha256);
    auto* async = stub_->async();
    // Not a coroutine on purpose: GCC 12 destroys lambda temporaries inside co_await twice.
    return await_callback<RpcResult<Resp>>([state, async, method](Completion<RpcResult<Resp>> done) {
      method(async, &state->context, &state->request, &state->response,
             std::function<void(grpc::Status)>(
                 [state, done](grpc::Status status) { done({status, std::move(state->response)}); }));
    });
  }

  bool reachable();

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ControlPlane::Stub> stub_;
  std::chrono::milliseconds timeout_;
};

// Names one method of the callback stub, e.g. BP_RPC(GetPipe).
#define BP_RPC(name) [](auto* stub, auto&&... args) { stub->name(std::forward<decltype(args)>(args)...); }

}  // namespace bp::gateway

// gRPC calls by method and status code, with their latency: a server interceptor feeds them,
// /metrics renders them.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "bp/ops/prometheus.h"

namespace bp::control_plane {

class RpcMetrics {
 public:
  void record(const std::string& method, grpc::StatusCode code, double seconds);
  void write(std::string& out) const;

 private:
  ops::prom::LabelledCounters calls_;
  ops::prom::LabelledHistograms seconds_;
};

// Registers with ServerBuilder::experimental().SetInterceptorCreators.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> rpc_metrics_interceptor(
    std::shared_ptr<RpcMetrics> metrics);

// "/batchpipe.v1.ControlPlane/ListPipes" -> "ListPipes"; gRPC's code as its canonical name.
std::string rpc_method_name(const char* full);
const char* rpc_code_name(grpc::StatusCode code);

}  // namespace bp::control_plane

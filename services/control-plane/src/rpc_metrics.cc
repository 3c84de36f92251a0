#include "bp/control_plane/rpc_metrics.h"

#include <chrono>
#include <cstring>

namespace bp::control_plane {
namespace {

using grpc::experimental::InterceptionHookPoints;

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info, std::shared_ptr<RpcMetrics> metrics)
      : method_(rpc_method_name(info->method())), metrics_(std::move(metrics)),
        started_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->record(method_, methods->GetSendStatus().error_code(),
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  std::shared_ptr<RpcMetrics> metrics_;
  std::chrono::steady_clock::time_point started_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(std::shared_ptr<RpcMetrics> metrics) : metrics_(std::move(metrics)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info, metrics_);
  }

 private:
  std::shared_ptr<RpcMetrics> metrics_;
};

}  // namespace

std::string rpc_method_name(const char* full) {
  if (!full) return "unknown";
  const char* slash = std::strrchr(full, '/');
  return slash ? slash + 1 : full;
}

const char* rpc_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

void RpcMetrics::record(const std::string& method, grpc::StatusCode code, double seconds) {
  std::string m = "method=\"" + ops::prom::escape(method) + "\"";
  calls_.add(m + ",code=\"" + rpc_code_name(code) + "\"");
  seconds_.observe(m, seconds);
}

void RpcMetrics::write(std::string& out) const {
  ops::prom::header(out, "bp_control_plane_grpc_requests_total", "counter", "gRPC calls answered, by method and status code");
  calls_.write(out, "bp_control_plane_grpc_requests_total");
  ops::prom::header(out, "bp_control_plane_grpc_seconds", "histogram", "time to answer a gRPC call, by method");
  seconds_.write(out, "bp_control_plane_grpc_seconds");
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> rpc_metrics_interceptor(
    std::shared_ptr<RpcMetrics> metrics) {
  return std::make_unique<Factory>(std::move(metrics));
}

}  // namespace bp::control_plane

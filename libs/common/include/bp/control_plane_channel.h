// The one way clients (gateway, delivery-worker) connect to the control-plane. Header-only on
// purpose: bp_common does not link gRPC; only translation units that already use gRPC include it.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace bp {

// A channel to `target`: "host:port", "dns:///name:port" (Kubernetes: a headless Service gives
// every replica's address) or "ipv4:a:p,b:q" (several local replicas). Calls are spread
// round-robin over every address that answers, so one control-plane replica going away only
// fails the calls that were in flight on it.
inline std::shared_ptr<grpc::Channel> control_plane_channel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace bp

// One channel to the control-plane, shared by all I/O threads.
#include "bp/gateway/control_plane_client.h"

#include "bp/control_plane_channel.h"

namespace bp::gateway {

ControlPlaneClient::ControlPlaneClient(const std::string& address, std::chrono::milliseconds timeout)
    : channel_(control_plane_channel(address)),
      stub_(v1::ControlPlane::NewStub(channel_)),
      timeout_(timeout) {}

bool ControlPlaneClient::reachable() {
  auto state = channel_->GetState(true);
  return state != GRPC_CHANNEL_TRANSIENT_FAILURE && state != GRPC_CHANNEL_SHUTDOWN;
}

}  // namespace bp::gateway

// Usage counters per pipe, added up in memory on the hot path and flushed to the control-plane
// every few seconds (one RPC per pipe, not one per request).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "batchpipe/v1/control_plane.pb.h"
#include "bp/gateway/control_plane_client.h"

namespace bp::gateway {

class UsageRecorder {
 public:
  explicit UsageRecorder(std::shared_ptr<ControlPlaneClient> control_plane) : control_plane_(std::move(control_plane)) {}

  void record(const std::string& pipe_id, int64_t records, int64_t bytes);
  // Sends what has accumulated; counts that fail to send are added back for the next flush.
  boost::asio::awaitable<void> flush();

 private:
  std::shared_ptr<ControlPlaneClient> control_plane_;
  std::mutex mutex_;
  std::map<std::string, ::batchpipe::v1::UsageWindow> pending_;
};

}  // namespace bp::gateway

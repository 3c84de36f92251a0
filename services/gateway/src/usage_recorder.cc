// Accumulate on the hot path, report in the background.
#include "bp/gateway/usage_recorder.h"

namespace bp::gateway {

void UsageRecorder::record(const std::string& pipe_id, int64_t records, int64_t bytes) {
  std::lock_guard lock(mutex_);
  auto& w = pending_[pipe_id];
  w.set_requests_accepted(w.requests_accepted() + 1);
  w.set_records_accepted(w.records_accepted() + records);
  w.set_bytes_accepted(w.bytes_accepted() + bytes);
}

boost::asio::awaitable<void> UsageRecorder::flush() {
  std::map<std::string, ::batchpipe::v1::UsageWindow> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(pending_);
  }
  for (auto& [pipe_id, window] : batch) {
    ::batchpipe::v1::ReportUsageRequest req;
    req.set_pipe_id(pipe_id);
    *req.mutable_delta() = window;
    auto result = co_await control_plane_->call<::batchpipe::v1::Empty>(BP_RPC(ReportUsage), req);
    if (!result.status.ok() && result.status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      std::lock_guard lock(mutex_);
      auto& w = pending_[pipe_id];
      w.set_requests_accepted(w.requests_accepted() + window.requests_accepted());
      w.set_records_accepted(w.records_accepted() + window.records_accepted());
      w.set_bytes_accepted(w.bytes_accepted() + window.bytes_accepted());
    }
  }
}

}  // namespace bp::gateway

#include "bp/delivery_worker/async_reporter.h"

#include <vector>

#include "bp/log.h"

namespace bp::delivery_worker {

AsyncReporter::AsyncReporter(std::shared_ptr<RunReporter> inner, size_t max_queued)
    : inner_(std::move(inner)), max_queued_(max_queued), thread_([this] { loop(); }) {}

AsyncReporter::~AsyncReporter() {
  {
    std::lock_guard lock(mutex_);
    stop_deadline_ = std::chrono::steady_clock::now() + kShutdownGrace;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void AsyncReporter::report_run(const ::batchpipe::v1::DeliveryRun& run) {
  {
    std::lock_guard lock(mutex_);
    if (runs_.size() >= max_queued_) {
      if (dropped_++ % 1000 == 0) {
        log::warn("delivery runs not reported: too many waiting", {{"dropped", std::to_string(dropped_)}});
      }
      runs_.pop_front();
    }
    runs_.push_back(run);
  }
  wake_.notify_one();
}

void AsyncReporter::report_delivered(const std::string& pipe_id, int64_t delivered, int64_t failed) {
  {
    std::lock_guard lock(mutex_);
    auto& u = usage_[pipe_id];
    u.first += delivered;
    u.second += failed;
  }
  wake_.notify_one();
}

void AsyncReporter::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return runs_.empty() && usage_.empty() && !sending_; });
}

bool AsyncReporter::shutdown_overdue() const {
  return stopping_ && std::chrono::steady_clock::now() > stop_deadline_;
}

uint64_t AsyncReporter::dropped_runs() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void AsyncReporter::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !runs_.empty() || !usage_.empty(); });
    if (runs_.empty() && usage_.empty()) return;  // stopping with nothing left
    // Everything waiting goes out in one pass; new reports queue up meanwhile.
    std::vector<::batchpipe::v1::DeliveryRun> runs(std::make_move_iterator(runs_.begin()),
                                                   std::make_move_iterator(runs_.end()));
    runs_.clear();
    auto usage = std::move(usage_);
    usage_.clear();
    sending_ = true;
    lock.unlock();
    // When stopping, what the control-plane does not take within a few seconds is dropped: a
    // worker must not hang on shutdown because the control-plane is away.
    size_t sent = 0;
    for (const auto& run : runs) {
      if (shutdown_overdue()) break;
      inner_->report_run(run);
      ++sent;
    }
    for (const auto& [pipe_id, u] : usage) {
      if (shutdown_overdue()) break;
      inner_->report_delivered(pipe_id, u.first, u.second);
    }
    if (sent < runs.size()) {
      log::warn("delivery runs not reported before stopping", {{"dropped", std::to_string(runs.size() - sent)}});
    }
    lock.lock();
    if (shutdown_overdue()) {  // nothing more is sent
      runs_.clear();
      usage_.clear();
    }
    sending_ = false;
    if (runs_.empty() && usage_.empty()) idle_.notify_all();
  }
}

}  // namespace bp::delivery_worker

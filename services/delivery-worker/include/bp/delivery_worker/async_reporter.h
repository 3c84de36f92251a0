// Reports delivery runs and usage from a background thread, so that a runner's next write does
// not wait for two control-plane round trips (each a Postgres transaction) after every batch.
// Runs are sent in the order they were reported (a run's "retrying" before its "success");
// usage deltas of one pipe are added up while they wait. What cannot be sent is logged and
// dropped, as the synchronous reporter did: runs and usage are records of delivery, not the
// records themselves.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "bp/delivery_worker/destination_runner.h"

namespace bp::delivery_worker {

class AsyncReporter final : public RunReporter {
 public:
  // max_queued: runs waiting beyond this (a control-plane away for long) are dropped, oldest
  // first, and counted.
  explicit AsyncReporter(std::shared_ptr<RunReporter> inner, size_t max_queued = 10000);
  ~AsyncReporter() override;  // sends what is queued, then stops

  void report_run(const ::batchpipe::v1::DeliveryRun& run) override;
  void report_delivered(const std::string& pipe_id, int64_t delivered, int64_t failed) override;

  // Waits until everything reported so far has been handed to the inner reporter.
  void flush();
  uint64_t dropped_runs() const;

 private:
  void loop();
  bool shutdown_overdue() const;

  static constexpr std::chrono::seconds kShutdownGrace{5};

  std::shared_ptr<RunReporter> inner_;
  size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<::batchpipe::v1::DeliveryRun> runs_;
  std::map<std::string, std::pair<int64_t, int64_t>> usage_;  // pipe id -> delivered, failed
  bool sending_ = false;
  std::atomic<bool> stopping_{false};  // set (under mutex_) when the destructor runs
  std::chrono::steady_clock::time_point stop_deadline_;  // written before stopping_ is set
  uint64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace bp::delivery_worker

// One destination's delivery loop, on its own thread: hold the lease, pull from the durable
// consumer, close batches on records/bytes/interval, write through the sink, ack only after the
// sink took everything, retry with backoff, report every flush as a delivery run.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "batchpipe/v1/control_plane.pb.h"
#include "bp/delivery_worker/leases.h"
#include "bp/delivery_worker/metrics.h"
#include "bp/delivery_worker/sink.h"
#include "bp/nats/client.h"
#include "bp/nats/ingest_message.h"

namespace bp::delivery_worker {

// How a runner reports runs and delivered counts (the control-plane client in production).
class RunReporter {
 public:
  virtual ~RunReporter() = default;
  virtual void report_run(const ::batchpipe::v1::DeliveryRun& run) = 0;
  virtual void report_delivered(const std::string& pipe_id, int64_t delivered, int64_t failed) = 0;
};

struct BatchLimits {
  int64_t max_records = nats::ingest::kDefaultBatchMaxRecords;
  int64_t max_bytes = nats::ingest::kDefaultBatchMaxBytes;
  std::chrono::milliseconds max_interval{1000};
  int64_t max_attempts = 15;  // with the backoff cap, about 7 minutes of a failing sink

  static BatchLimits from(const ::batchpipe::v1::PipeLimits& limits);
};

class DestinationRunner {
 public:
  DestinationRunner(::batchpipe::v1::DeliveryDestination destination, std::shared_ptr<nats::Client> nats,
                    std::shared_ptr<Leases> leases, std::shared_ptr<RunReporter> reporter, SinkEnvironment env,
                    std::shared_ptr<WorkerMetrics> metrics);
  ~DestinationRunner();  // stops and joins

  void start();
  // Asks the loop to stop; unacked messages come back to the consumer after AckWait.
  void stop();
  const ::batchpipe::v1::DeliveryDestination& destination() const { return destination_; }
  // The loop ended although nobody asked it to stop (lease lost, NATS away, sink unusable).
  bool ended_by_itself() const { return finished_ && !stop_; }
  bool deliverable() const;

 private:
  void run();
  void loop();

  ::batchpipe::v1::DeliveryDestination destination_;
  std::shared_ptr<nats::Client> nats_;
  std::shared_ptr<Leases> leases_;
  std::shared_ptr<RunReporter> reporter_;
  SinkEnvironment env_;
  std::shared_ptr<WorkerMetrics> metrics_;
  BatchLimits limits_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::mutex sink_mutex_;
  std::vector<Sink*> active_sinks_;  // so that stop() can cancel the writes in progress
  std::thread thread_;
};

}  // namespace bp::delivery_worker

// The worker: keeps one runner per destination the control-plane lists, restarts a runner
// when its destination changes, stops it when the destination goes away.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "batchpipe/v1/control_plane.grpc.pb.h"
#include "bp/delivery_worker/destination_runner.h"

namespace bp::delivery_worker {

// Reports runs and delivered counts to the control-plane (best effort, logged on failure).
class ControlPlaneReporter final : public RunReporter {
 public:
  explicit ControlPlaneReporter(std::shared_ptr<::batchpipe::v1::ControlPlane::StubInterface> stub)
      : stub_(std::move(stub)) {}
  void report_run(const ::batchpipe::v1::DeliveryRun& run) override;
  void report_delivered(const std::string& pipe_id, int64_t delivered, int64_t failed) override;

 private:
  std::shared_ptr<::batchpipe::v1::ControlPlane::StubInterface> stub_;
};

struct WorkerOptions {
  std::chrono::milliseconds refresh{5000};  // how often the destination list is re-read
  SinkEnvironment sink_env;
};

class Worker {
 public:
  Worker(WorkerOptions options, std::shared_ptr<::batchpipe::v1::ControlPlane::StubInterface> stub,
         std::shared_ptr<nats::Client> nats, std::shared_ptr<Leases> leases);
  ~Worker();

  void start();
  // Stops every runner (releasing their leases) and the refresh loop.
  void stop();
  // Asks for a refresh now (a change event arrived).
  void poke();
  size_t runners() const;
  // Destinations whose lease this worker holds: id, type and consumer name.
  struct Held {
    std::string destination_id, type, consumer;
  };
  std::vector<Held> held_destinations() const;
  const WorkerMetrics& metrics() const { return *metrics_; }
  bool last_refresh_ok() const { return last_refresh_ok_; }

 private:
  void loop();
  void refresh();

  WorkerOptions options_;
  std::shared_ptr<::batchpipe::v1::ControlPlane::StubInterface> stub_;
  std::shared_ptr<nats::Client> nats_;
  std::shared_ptr<Leases> leases_;
  std::shared_ptr<RunReporter> reporter_;
  std::shared_ptr<WorkerMetrics> metrics_ = std::make_shared<WorkerMetrics>();
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stop_ = false;
  std::atomic<bool> last_refresh_ok_{false};
  std::map<std::string, std::unique_ptr<DestinationRunner>> runners_;
  std::thread thread_;
};

}  // namespace bp::delivery_worker

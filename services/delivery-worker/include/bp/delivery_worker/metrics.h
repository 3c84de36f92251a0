// The worker's Prometheus metrics: counters, sink latency and batch sizes per sink type; leases;
// the backlog of the destinations this worker delivers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "bp/ops/prometheus.h"

namespace bp::delivery_worker {

// A destination's consumer backlog, sampled by the caller when /metrics is read.
struct ConsumerBacklog {
  std::string destination_id;
  std::string type;
  int64_t pending = 0;  // messages not delivered yet (num_pending + num_ack_pending); -1: unknown
};

class WorkerMetrics {
 public:
  void batch_written(const std::string& type, int64_t records, std::chrono::duration<double> took);
  void sink_error(const std::string& type);
  void dead_lettered(const std::string& type, int64_t records);
  // Prometheus text exposition; leases and backlogs are sampled by the caller.
  std::string render(size_t leases_held, size_t runners, const std::vector<ConsumerBacklog>& backlogs = {}) const;

 private:
  static std::string type_label(const std::string& type) { return "type=\"" + ops::prom::escape(type) + "\""; }
  ops::prom::LabelledCounters batches_, records_, errors_, dead_;
  ops::prom::LabelledHistograms sink_seconds_{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}};
  ops::prom::LabelledHistograms batch_records_{{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000}};
};

}  // namespace bp::delivery_worker

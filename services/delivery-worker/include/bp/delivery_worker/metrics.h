// The worker's Prometheus metrics: counters per sink type, a sink latency histogram, leases.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace bp::delivery_worker {

class WorkerMetrics {
 public:
  void batch_written(const std::string& type, int64_t records, std::chrono::duration<double> took);
  void sink_error(const std::string& type);
  void dead_lettered(const std::string& type, int64_t records);
  // Prometheus text exposition; leases_held is sampled by the caller.
  std::string render(size_t leases_held, size_t runners) const;

 private:
  static constexpr std::array<double, 10> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  struct PerType {
    uint64_t batches = 0, records = 0, errors = 0, dead = 0;
    std::array<uint64_t, kBuckets.size()> latency{};  // cumulative counts per bucket
    uint64_t latency_count = 0;
    double latency_sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, PerType> by_type_;
};

}  // namespace bp::delivery_worker

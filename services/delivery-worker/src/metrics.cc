// Worker metrics, rendered in the Prometheus text format.
#include "bp/delivery_worker/metrics.h"

namespace bp::delivery_worker {

void WorkerMetrics::batch_written(const std::string& type, int64_t records, std::chrono::duration<double> took) {
  std::lock_guard lock(mutex_);
  auto& t = by_type_[type];
  ++t.batches;
  t.records += static_cast<uint64_t>(records);
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (took.count() <= kBuckets[i]) ++t.latency[i];
  }
  ++t.latency_count;
  t.latency_sum += took.count();
}

void WorkerMetrics::sink_error(const std::string& type) {
  std::lock_guard lock(mutex_);
  ++by_type_[type].errors;
}

void WorkerMetrics::dead_lettered(const std::string& type, int64_t records) {
  std::lock_guard lock(mutex_);
  by_type_[type].dead += static_cast<uint64_t>(records);
}

std::string WorkerMetrics::render(size_t leases_held, size_t runners) const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto per_type = [&](const char* name, const char* help, uint64_t PerType::*field) {
    family(name, "counter", help);
    for (const auto& [type, t] : by_type_) {
      out += std::string(name) + "{type=\"" + type + "\"} " + std::to_string(t.*field) + "\n";
    }
  };
  per_type("bp_worker_batches_total", "batches written by sinks", &PerType::batches);
  per_type("bp_worker_records_delivered_total", "records written by sinks", &PerType::records);
  per_type("bp_worker_sink_errors_total", "failed sink writes (each retry counts)", &PerType::errors);
  per_type("bp_worker_records_dead_lettered_total", "records sent to BP_DLQ", &PerType::dead);
  family("bp_worker_sink_seconds", "histogram", "time of successful sink writes");
  for (const auto& [type, t] : by_type_) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out += "bp_worker_sink_seconds_bucket{type=\"" + type + "\",le=\"" + std::to_string(kBuckets[i]) + "\"} " +
             std::to_string(t.latency[i]) + "\n";
    }
    out += "bp_worker_sink_seconds_bucket{type=\"" + type + "\",le=\"+Inf\"} " + std::to_string(t.latency_count) + "\n";
    out += "bp_worker_sink_seconds_sum{type=\"" + type + "\"} " + std::to_string(t.latency_sum) + "\n";
    out += "bp_worker_sink_seconds_count{type=\"" + type + "\"} " + std::to_string(t.latency_count) + "\n";
  }
  family("bp_worker_leases_held", "gauge", "destinations this worker delivers now");
  out += "bp_worker_leases_held " + std::to_string(leases_held) + "\n";
  family("bp_worker_destinations", "gauge", "destinations this worker knows (holding or waiting for a lease)");
  out += "bp_worker_destinations " + std::to_string(runners) + "\n";
  return out;
}

}  // namespace bp::delivery_worker

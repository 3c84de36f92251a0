// Worker metrics, rendered in the Prometheus text format.
#include "bp/delivery_worker/metrics.h"

namespace bp::delivery_worker {

namespace prom = ops::prom;

void WorkerMetrics::batch_written(const std::string& type, int64_t records, std::chrono::duration<double> took) {
  std::string label = type_label(type);
  batches_.add(label);
  records_.add(label, static_cast<uint64_t>(records));
  sink_seconds_.observe(label, took.count());
  batch_records_.observe(label, static_cast<double>(records));
}

void WorkerMetrics::sink_error(const std::string& type) { errors_.add(type_label(type)); }

void WorkerMetrics::dead_lettered(const std::string& type, int64_t records) {
  dead_.add(type_label(type), static_cast<uint64_t>(records));
}

std::string WorkerMetrics::render(size_t leases_held, size_t runners, const std::vector<ConsumerBacklog>& backlogs) const {
  std::string out;
  auto counters = [&](const char* name, const char* help, const prom::LabelledCounters& c) {
    prom::header(out, name, "counter", help);
    c.write(out, name);
  };
  counters("bp_worker_batches_total", "batches written by sinks", batches_);
  counters("bp_worker_records_delivered_total", "records written by sinks", records_);
  counters("bp_worker_sink_errors_total", "failed sink writes (each retry counts)", errors_);
  counters("bp_worker_records_dead_lettered_total", "records sent to BP_DLQ", dead_);
  prom::header(out, "bp_worker_sink_seconds", "histogram", "time of successful sink writes");
  sink_seconds_.write(out, "bp_worker_sink_seconds");
  prom::header(out, "bp_worker_batch_records", "histogram", "records per batch written");
  batch_records_.write(out, "bp_worker_batch_records");
  prom::header(out, "bp_worker_leases_held", "gauge", "destinations this worker delivers now");
  prom::sample(out, "bp_worker_leases_held", "", static_cast<uint64_t>(leases_held));
  prom::header(out, "bp_worker_destinations", "gauge", "destinations this worker knows (holding or waiting for a lease)");
  prom::sample(out, "bp_worker_destinations", "", static_cast<uint64_t>(runners));
  prom::header(out, "bp_worker_consumer_pending", "gauge",
               "messages of a destination this worker holds that are not delivered yet (JetStream consumer lag)");
  for (const auto& b : backlogs) {
    if (b.pending < 0) continue;
    prom::sample(out, "bp_worker_consumer_pending",
                 "destination_id=\"" + prom::escape(b.destination_id) + "\"," + type_label(b.type),
                 static_cast<uint64_t>(b.pending));
  }
  return out;
}

}  // namespace bp::delivery_worker

// Worker metrics in the Prometheus text format.
#include <catch2/catch.hpp>

#include "bp/delivery_worker/metrics.h"

using bp::delivery_worker::WorkerMetrics;

TEST_CASE("worker metrics count batches, records, errors and latency per sink type") {
  WorkerMetrics m;
  m.batch_written("postgres", 10, std::chrono::milliseconds(20));
  m.batch_written("postgres", 5, std::chrono::seconds(3));
  m.sink_error("webhook");
  m.dead_lettered("webhook", 2);
  std::string text = m.render(3, 4);
  CHECK(text.find("bp_worker_batches_total{type=\"postgres\"} 2\n") != std::string::npos);
  CHECK(text.find("bp_worker_records_delivered_total{type=\"postgres\"} 15\n") != std::string::npos);
  CHECK(text.find("bp_worker_sink_errors_total{type=\"webhook\"} 1\n") != std::string::npos);
  CHECK(text.find("bp_worker_records_dead_lettered_total{type=\"webhook\"} 2\n") != std::string::npos);
  CHECK(text.find("bp_worker_sink_seconds_bucket{type=\"postgres\",le=\"0.025\"} 1\n") != std::string::npos);
  CHECK(text.find("bp_worker_sink_seconds_bucket{type=\"postgres\",le=\"+Inf\"} 2\n") != std::string::npos);
  CHECK(text.find("bp_worker_leases_held 3\n") != std::string::npos);
  CHECK(text.find("# TYPE bp_worker_sink_seconds histogram\n") != std::string::npos);
  // Batch sizes: 10 records fall in le="10", 5 in le="10" too (cumulative), none below 5.
  CHECK(text.find("bp_worker_batch_records_bucket{type=\"postgres\",le=\"1\"} 0\n") != std::string::npos);
  CHECK(text.find("bp_worker_batch_records_bucket{type=\"postgres\",le=\"10\"} 2\n") != std::string::npos);
  CHECK(text.find("bp_worker_batch_records_sum{type=\"postgres\"} 15\n") != std::string::npos);
}

TEST_CASE("worker metrics show the backlog of the destinations given, skipping unknown ones") {
  WorkerMetrics m;
  std::string text = m.render(1, 1, {{"d-1", "webhook", 42}, {"d-2", "s3", -1}});
  CHECK(text.find("bp_worker_consumer_pending{destination_id=\"d-1\",type=\"webhook\"} 42\n") != std::string::npos);
  CHECK(text.find("d-2") == std::string::npos);
}

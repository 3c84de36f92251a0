// Start-up order: Postgres and migrations, NATS and streams, consumers, then gRPC and probes.
#include "bp/control_plane/app.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "bp/control_plane/consumer_drain.h"
#include "bp/control_plane/grpc_service.h"
#include "bp/control_plane/rpc_metrics.h"
#include "bp/control_plane/migrations.h"
#include "bp/ops/prometheus.h"
#include "bp/log.h"
#include "bp/periodic.h"
#include "bp/ops/ops_server.h"
#include "bp/ops/stop_signals.h"

namespace bp::control_plane {

const std::vector<config::Setting>& settings() {
  static const std::vector<config::Setting> kSettings = {
      {"BP_PG_URL", "", "libpq connection URL of the control-plane database", true},
      {"BP_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated"},
      {"BP_GRPC_LISTEN", "127.0.0.1:7070", "gRPC API address (host:port)"},
      {"BP_HTTP_LISTEN", "127.0.0.1:7071", "probes and metrics address (host:port)"},
      {"BP_PG_POOL_SIZE", "8", "Postgres connections; also caps gRPC worker threads"},
      {"BP_STREAM_MAX_BYTES", "10737418240", "BP_INGEST size cap; a full buffer answers 503"},
      {"BP_STREAM_REPLICAS", "1", "JetStream replicas of BP_INGEST and BP_DLQ (3 in production)"},
      {"BP_DUPLICATE_WINDOW_SECONDS", "600", "how long an Idempotency-Key deduplicates"},
      {"BP_DLQ_MAX_AGE_DAYS", "14", "how long dead letters are kept"},
      {"BP_ACK_WAIT_SECONDS", "30", "redelivery delay of unacked messages (per-destination consumers)"},
      {"BP_RECONCILE_INTERVAL_SECONDS", "60", "how often consumers are matched to destinations again"},
      {"BP_CONSUMER_DRAIN_ABOVE", "1000",
       "a deleted destination's consumer holding more messages is drained before it is deleted"},
      {"BP_CONSUMER_DRAIN_RATE", "8000", "messages a second a drain acks (one control-plane drains at a time)"},
      {"BP_CONSUMER_DRAIN_BYTES_RATE", "67108864", "bytes of messages a second a drain acks"},
      {"BP_CONSUMER_DRAIN_SLOW_MS", "50", "a drain's pull answered slower than this makes the drain pause"},
      {"BP_WORKSPACE_NAME", "default", "workspace created by the bootstrap command"},
      {"BP_LOG_LEVEL", "info", "debug, info, warn or error"},
  };
  return kSettings;
}

namespace {

int fail(const Error& e) {
  log::error("control-plane cannot start", {{"error", e.message}});
  return 1;
}

Result<std::shared_ptr<pg::Pool>> open_database(const config::Source& cfg) {
  auto size = cfg.get_int("BP_PG_POOL_SIZE", 1, 256);
  if (!size) return size.take_error();
  auto conn = pg::Connection::connect(cfg.get("BP_PG_URL"));
  if (!conn) return conn.take_error();
  auto applied = migrate(*conn);
  if (!applied) return applied.take_error();
  return std::make_shared<pg::Pool>(cfg.get("BP_PG_URL"), static_cast<size_t>(*size));
}

Result<TopologyOptions> topology_options(const config::Source& cfg) {
  TopologyOptions o;
  auto max_bytes = cfg.get_int("BP_STREAM_MAX_BYTES", 1 << 20, int64_t{1} << 50);
  auto replicas = cfg.get_int("BP_STREAM_REPLICAS", 1, 5);
  auto window = cfg.get_int("BP_DUPLICATE_WINDOW_SECONDS", 1, 7 * 86400);
  auto dlq_days = cfg.get_int("BP_DLQ_MAX_AGE_DAYS", 1, 3650);
  auto ack_wait = cfg.get_int("BP_ACK_WAIT_SECONDS", 1, 3600);
  auto drain_above = cfg.get_int("BP_CONSUMER_DRAIN_ABOVE", 0, int64_t{1} << 40);
  auto drain_rate = cfg.get_int("BP_CONSUMER_DRAIN_RATE", 1, 10000000);
  auto drain_bytes_rate = cfg.get_int("BP_CONSUMER_DRAIN_BYTES_RATE", 1 << 20, int64_t{1} << 40);
  auto drain_slow_ms = cfg.get_int("BP_CONSUMER_DRAIN_SLOW_MS", 1, 3600000);
  for (auto* r : {&max_bytes, &replicas, &window, &dlq_days, &ack_wait, &drain_above, &drain_rate, &drain_bytes_rate,
                  &drain_slow_ms}) {
    if (!*r) return r->take_error();
  }
  o.ingest_max_bytes = *max_bytes;
  o.replicas = static_cast<int>(*replicas);
  o.duplicate_window = std::chrono::seconds(*window);
  o.dead_letter_max_age = std::chrono::hours(24 * *dlq_days);
  o.ack_wait = std::chrono::seconds(*ack_wait);
  o.consumer_drain_above = *drain_above;
  o.consumer_drain_rate = *drain_rate;
  o.consumer_drain_bytes_rate = *drain_bytes_rate;
  o.consumer_drain_slow_answer = std::chrono::milliseconds(*drain_slow_ms);
  return o;
}

int bootstrap(const config::Source& cfg) {
  auto pool = open_database(cfg);
  if (!pool) return fail(pool.error());
  auto keyring = crypto::Keyring::from_env();
  if (!keyring) return fail(keyring.error());
  Management service(*pool, std::make_shared<crypto::Keyring>(std::move(keyring).value()), nullptr);
  auto created = service.bootstrap(cfg.get("BP_WORKSPACE_NAME"));
  if (!created) return fail(created.error());
  if (!*created) {
    log::info("workspace exists; nothing to bootstrap", {{"workspace", cfg.get("BP_WORKSPACE_NAME")}});
    return 0;
  }
  std::printf("workspace_id=%s\napi_key=%s\n", (*created)->workspace_id.c_str(), (*created)->api_key.c_str());
  return 0;
}

int serve(const config::Source& cfg) {
  ops::StopSignals stop_signals;  // before any thread starts

  auto keyring = crypto::Keyring::from_env();
  if (!keyring) return fail(keyring.error());
  auto pool = open_database(cfg);
  if (!pool) return fail(pool.error());
  auto options = topology_options(cfg);
  if (!options) return fail(options.error());
  auto reconcile_interval = cfg.get_int("BP_RECONCILE_INTERVAL_SECONDS", 1, 86400);
  if (!reconcile_interval) return fail(reconcile_interval.error());
  auto nats = nats::Client::connect(cfg.get("BP_NATS_URL"), "batchpipe-control-plane");
  if (!nats) return fail(nats.error());
  auto topology = std::make_shared<Topology>(*nats, *options);
  if (auto s = topology->ensure_streams(); !s) return fail(s.error());
  auto service =
      std::make_shared<Management>(*pool, std::make_shared<crypto::Keyring>(std::move(keyring).value()), topology);
  if (auto r = service->reconcile_consumers(); !r) return fail(r.error());
  // Then again and again: a failed pass is logged, and the next one tries again.
  Periodic reconcile(std::chrono::seconds(*reconcile_interval), [service] {
    if (auto r = service->reconcile_consumers(); !r) log::warn("consumer reconcile failed", {{"error", r.error().message}});
    return true;
  });
  // Deep consumers of deleted destinations, every second (decision 0021).
  auto drain = std::make_shared<ConsumerDrain>(cfg.get("BP_PG_URL"), service);
  Periodic draining(std::chrono::seconds(1), [drain, failures = 0]() mutable {
    auto r = drain->run_once();
    // While Postgres is away every pass fails: the first failure is logged, then every 60th.
    if (!r && failures++ % 60 == 0) log::warn("consumer drain failed", {{"error", r.error().message}});
    if (r) failures = 0;
    return true;
  });

  GrpcService grpc_service(service);
  grpc::ResourceQuota quota("control-plane");
  quota.SetMaxThreads(static_cast<int>((*pool)->size()) + 2);
  grpc::ServerBuilder builder;
  builder.SetResourceQuota(quota);
  builder.AddListeningPort(cfg.get("BP_GRPC_LISTEN"), grpc::InsecureServerCredentials());
  builder.RegisterService(&grpc_service);
  auto rpc_metrics = std::make_shared<RpcMetrics>();
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(rpc_metrics_interceptor(rpc_metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  auto server = builder.BuildAndStart();
  if (!server) return fail(Error::unavailable("cannot listen for gRPC on " + cfg.get("BP_GRPC_LISTEN")));

  ops::Probes probes;
  probes.ready = [service]() -> Status {
    if (!service->nats_healthy()) return Error::unavailable("NATS is not connected");
    auto conn = service->pool().acquire(std::chrono::seconds(1));
    if (!conn) return conn.take_error();
    if (auto r = (*conn)->exec("SELECT 1"); !r) return r.take_error();
    return ok_status();
  };
  probes.metrics = [service, rpc_metrics, drain]() {
    std::string out;
    rpc_metrics->write(out);
    ops::prom::header(out, "bp_control_plane_pg_connections_in_use", "gauge", "Postgres connections on loan");
    ops::prom::sample(out, "bp_control_plane_pg_connections_in_use", "", static_cast<uint64_t>(service->pool().in_use()));
    ops::prom::header(out, "bp_control_plane_pg_pool_size", "gauge", "Postgres connections the pool may open (BP_PG_POOL_SIZE)");
    ops::prom::sample(out, "bp_control_plane_pg_pool_size", "", static_cast<uint64_t>(service->pool().size()));
    ops::prom::header(out, "bp_control_plane_nats_connected", "gauge", "1 while the NATS connection is up");
    ops::prom::sample(out, "bp_control_plane_nats_connected", "", static_cast<uint64_t>(service->nats_healthy() ? 1 : 0));
    ops::prom::header(out, "bp_control_plane_drained_messages_total", "counter",
                      "messages of deleted destinations' consumers acked by this process's drain");
    ops::prom::sample(out, "bp_control_plane_drained_messages_total", "", static_cast<uint64_t>(drain->acked_total()));
    ops::prom::header(out, "bp_control_plane_consumers_to_delete", "gauge",
                      "consumers of deleted destinations not deleted yet, at this process's last drain pass");
    ops::prom::sample(out, "bp_control_plane_consumers_to_delete", "", static_cast<uint64_t>(drain->left()));
    return out;
  };
  auto ops = ops::OpsServer::start(cfg.get("BP_HTTP_LISTEN"), probes);
  if (!ops) return fail(ops.error());
  log::info("control-plane serving", {{"grpc", cfg.get("BP_GRPC_LISTEN")}, {"http", cfg.get("BP_HTTP_LISTEN")}});

  int signal = stop_signals.wait();
  log::info("stopping", {{"signal", std::to_string(signal)}});
  drain->stop();  // a drain in progress ends after its batch; the next start resumes it
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  server->Wait();
  log::info("stopped");
  return 0;
}

}  // namespace

int run(int argc, const char* const* argv) {
  log::set_service("control-plane");
  auto cfg = config::Source::load(settings(), argc, argv);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  log::set_min_level(cfg->get("BP_LOG_LEVEL"));
  std::string command = cfg->positional().empty() ? "serve" : cfg->positional().front();
  if (command == "serve") return serve(*cfg);
  if (command == "bootstrap") return bootstrap(*cfg);
  if (command == "migrate") {
    auto pool = open_database(*cfg);
    return pool ? 0 : fail(pool.error());
  }
  std::cerr << "usage: batchpipe-control-plane [serve|migrate|bootstrap] [--flags]\n"
            << config::Source::usage(settings());
  return 2;
}

}  // namespace bp::control_plane

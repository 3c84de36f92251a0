// Delivery worker process: settings, leases, the runner set, change events and clean shutdown.
#include "bp/delivery_worker/app.h"

#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "batchpipe/v1/control_plane.grpc.pb.h"
#include "bp/control_plane_channel.h"
#include "bp/log.h"
#include "bp/nats/client.h"
#include "bp/nats/subjects.h"
#include "bp/delivery_worker/worker.h"
#include "bp/ops/ops_server.h"
#include "bp/ops/stop_signals.h"
#include "bp/uuid.h"

namespace bp::delivery_worker {

const std::vector<config::Setting>& settings() {
  static const std::vector<config::Setting> kSettings = {
      {"BP_CONTROL_PLANE_ADDR", "127.0.0.1:7070", "control-plane gRPC address"},
      {"BP_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s)"},
      {"BP_HTTP_LISTEN", "127.0.0.1:7072", "probes and metrics address (host:port)"},
      {"BP_WEBHOOK_ALLOW_PRIVATE", "0", "allow webhook targets on private or loopback addresses"},
      {"BP_WEBHOOK_CA_FILE", "", "PEM file of extra CAs trusted for https webhooks (private PKI)"},
      {"BP_FILE_SINK_ROOT", "/var/lib/batchpipe/files", "root directory of file destinations"},
      {"BP_LEASE_TTL_MS", "10000", "how long a dead worker keeps its destinations"},
      {"BP_WRITES_IN_FLIGHT", "2", "batches of one destination written at once (postgres, webhook, s3; 1..8)"},
      {"BP_REFRESH_MS", "5000", "how often the destination list is re-read (change events refresh sooner)"},
      {"BP_WORKER_ID", "", "this worker's name in the lease bucket (default: hostname-pid-random)"},
      {"BP_LOG_LEVEL", "info", "debug, info, warn or error"},
  };
  return kSettings;
}

int run(int argc, const char* const* argv) {
  log::set_service("delivery-worker");
  // Batches are built on one thread and written on others; with glibc's default of up to 8
  // arenas per core, each keeps what it freed, and the worker's RSS with batches of 10,000
  // records was 180 MB instead of 88 MB (docs/BENCHMARKS.md#memory). MALLOC_ARENA_MAX, when
  // set, wins.
  if (getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  auto cfg = config::Source::load(settings(), argc, argv);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  log::set_min_level(cfg->get("BP_LOG_LEVEL"));
  ops::StopSignals stop_signals;  // before any thread starts

  auto nats = nats::Client::connect(cfg->get("BP_NATS_URL"), "batchpipe-delivery-worker");
  if (!nats) {
    log::error("delivery-worker cannot start", {{"error", nats.error().message}});
    return 1;
  }
  auto lease_ttl = cfg->get_int("BP_LEASE_TTL_MS", 1000, 600000);
  auto refresh = cfg->get_int("BP_REFRESH_MS", 100, 600000);
  auto in_flight = cfg->get_int("BP_WRITES_IN_FLIGHT", 1, 8);
  if (!lease_ttl || !refresh || !in_flight) {
    log::error("delivery-worker cannot start",
               {{"error", (!lease_ttl ? lease_ttl : !refresh ? refresh : in_flight).error().message}});
    return 1;
  }
  std::string worker_id = cfg->get("BP_WORKER_ID");
  if (worker_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    worker_id = std::string(host) + "-" + std::to_string(getpid()) + "-" + uuid::v4().substr(0, 8);
  }
  auto leases = Leases::open(*nats, worker_id, std::chrono::milliseconds(*lease_ttl));
  if (!leases) {
    log::error("delivery-worker cannot start", {{"error", leases.error().message}});
    return 1;
  }
  auto channel = control_plane_channel(cfg->get("BP_CONTROL_PLANE_ADDR"));
  std::shared_ptr<::batchpipe::v1::ControlPlane::StubInterface> stub = ::batchpipe::v1::ControlPlane::NewStub(channel);
  WorkerOptions options;
  options.refresh = std::chrono::milliseconds(*refresh);
  options.sink_env.writes_in_flight = static_cast<int>(*in_flight);
  options.sink_env.file_root = cfg->get("BP_FILE_SINK_ROOT");
  options.sink_env.webhook_allow_private = cfg->get_bool("BP_WEBHOOK_ALLOW_PRIVATE");
  options.sink_env.webhook_ca_file = cfg->get("BP_WEBHOOK_CA_FILE");
  if (!options.sink_env.webhook_ca_file.empty() && access(options.sink_env.webhook_ca_file.c_str(), R_OK) != 0) {
    log::error("delivery-worker cannot start", {{"error", "BP_WEBHOOK_CA_FILE is not a readable file"}});
    return 1;
  }
  std::shared_ptr<Leases> worker_leases = std::move(leases).value();
  Worker worker(options, stub, *nats, worker_leases);

  natsSubscription* changes = nullptr;
  auto on_change = [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    static_cast<Worker*>(closure)->poke();
    natsMsg_Destroy(msg);
  };
  if (natsConnection_Subscribe(&changes, (*nats)->connection(), bp::nats::kChangeSubject, on_change, &worker) != NATS_OK) {
    log::error("delivery-worker cannot start", {{"error", "cannot subscribe to bp.ctl.changed"}});
    return 1;
  }
  ops::Probes probes;
  probes.metrics = [&worker, leases = worker_leases, nats = *nats] {
    std::vector<ConsumerBacklog> backlogs;
    for (const auto& h : worker.held_destinations()) {
      auto pending = nats->consumer_backlog("BP_INGEST", h.consumer);
      backlogs.push_back({h.destination_id, h.type, pending ? *pending : -1});
    }
    return worker.metrics().render(leases->held(), worker.runners(), backlogs);
  };
  probes.ready = [nats = *nats, &worker]() -> Status {
    if (!nats->connected()) return Error::unavailable("NATS is not connected");
    if (!worker.last_refresh_ok()) return Error::unavailable("cannot list destinations from the control-plane");
    return ok_status();
  };
  auto ops = ops::OpsServer::start(cfg->get("BP_HTTP_LISTEN"), probes);
  if (!ops) {
    log::error("delivery-worker cannot start", {{"error", ops.error().message}});
    return 1;
  }
  worker.start();
  log::info("delivery-worker running", {{"http", cfg->get("BP_HTTP_LISTEN")}});
  int signal = stop_signals.wait();
  log::info("stopping", {{"signal", std::to_string(signal)}});
  nats::retire(changes);
  worker.stop();  // in-flight batches finish or are abandoned unacked; leases are released
  log::info("stopped");
  return 0;
}

}  // namespace bp::delivery_worker

// Delivery worker process. Delivery itself (leases, batching, sinks) is the subject of the
// "Delivery workers and sinks" issue; this process already connects, probes its dependencies and
// stops cleanly so that the local stack and Kubernetes manifests can run it.
#include "bp/delivery_worker/app.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <iostream>

#include "batchpipe/v1/control_plane.grpc.pb.h"
#include "bp/log.h"
#include "bp/nats/client.h"
#include "bp/ops/ops_server.h"

namespace bp::delivery_worker {

const std::vector<config::Setting>& settings() {
  static const std::vector<config::Setting> kSettings = {
      {"BP_CONTROL_PLANE_ADDR", "127.0.0.1:7070", "control-plane gRPC address"},
      {"BP_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s)"},
      {"BP_HTTP_LISTEN", "127.0.0.1:7072", "probes and metrics address (host:port)"},
      {"BP_WEBHOOK_ALLOW_PRIVATE", "0", "allow webhook targets on private or loopback addresses"},
      {"BP_FILE_SINK_ROOT", "/var/lib/batchpipe/files", "root directory of file destinations"},
      {"BP_LOG_LEVEL", "info", "debug, info, warn or error"},
  };
  return kSettings;
}

int run(int argc, const char* const* argv) {
  log::set_service("delivery-worker");
  auto cfg = config::Source::load(settings(), argc, argv);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  log::set_min_level(cfg->get("BP_LOG_LEVEL"));
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto nats = nats::Client::connect(cfg->get("BP_NATS_URL"), "batchpipe-delivery-worker");
  if (!nats) {
    log::error("delivery-worker cannot start", {{"error", nats.error().message}});
    return 1;
  }
  auto channel = grpc::CreateChannel(cfg->get("BP_CONTROL_PLANE_ADDR"), grpc::InsecureChannelCredentials());
  ops::Probes probes;
  probes.ready = [nats = *nats, channel]() -> Status {
    if (!nats->connected()) return Error::unavailable("NATS is not connected");
    auto state = channel->GetState(true);
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) return Error::unavailable("control-plane unreachable");
    return ok_status();
  };
  auto ops = ops::OpsServer::start(cfg->get("BP_HTTP_LISTEN"), probes);
  if (!ops) {
    log::error("delivery-worker cannot start", {{"error", ops.error().message}});
    return 1;
  }
  log::info("delivery-worker running", {{"http", cfg->get("BP_HTTP_LISTEN")}});
  int signal = 0;
  sigwait(&stop_signals, &signal);
  log::info("stopped", {{"signal", std::to_string(signal)}});
  return 0;
}

}  // namespace bp::delivery_worker

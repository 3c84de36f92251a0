// Gateway process: settings, wiring, I/O threads, change events, usage flushes and the drain.
#include "bp/gateway/app.h"

#include <signal.h>

#include <future>
#include <iostream>
#include <thread>
#include <vector>

#include "bp/gateway/server.h"
#include "bp/ops/stop_signals.h"
#include "bp/log.h"
#include "bp/nats/subjects.h"

namespace bp::gateway {

const std::vector<config::Setting>& settings() {
  static const std::vector<config::Setting> kSettings = {
      {"BP_HTTP_LISTEN", "127.0.0.1:8080", "public HTTP address (host:port)"},
      {"BP_CONTROL_PLANE_ADDR", "127.0.0.1:7070", "control-plane gRPC address"},
      {"BP_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s)"},
      {"BP_NATS_PUBLISHER", "wire",
       "wire: one NATS connection per I/O thread, spoken to directly; natsc: nats.c (needed for tls:// URLs)"},
      {"BP_THREADS", "0", "I/O threads; 0 = one per core"},
      {"BP_THREAD_SPREAD", "load",
       "load: connections gather on as few I/O threads as keep up with the load; all: spread over every thread"},
      {"BP_MAX_BODY_BYTES", "33554432", "largest request body; larger answers 413 payload_too_large"},
      {"BP_MAX_HEADER_BYTES", "16384", "largest request header block; larger answers 431"},
      {"BP_READ_TIMEOUT_MS", "30000", "time allowed to send one request"},
      {"BP_IDLE_TIMEOUT_MS", "60000", "keep-alive wait for the next request"},
      {"BP_MAX_CONNECTIONS", "10000", "open connections; more are refused"},
      {"BP_CACHE_TTL_MS", "10000", "how long pipe and key lookups are reused (change events evict sooner)"},
      {"BP_CONTROL_PLANE_TIMEOUT_MS", "5000", "deadline of control-plane calls"},
      {"BP_PUBLISH_TIMEOUT_MS", "5000", "wait for a JetStream ack before answering 503"},
      {"BP_PUBLISH_MAX_PENDING", "65536", "JetStream messages awaiting their ack; more answer 503"},
      {"BP_PUBLISH_COALESCE", "64",
       "most requests to one pipe sent as one JetStream message (wire publisher; 1: a message per request)"},
      {"BP_PUBLISH_LINGER_US", "500",
       "under load (a message sent less than this ago), how long the next JetStream message waits for more requests (0: none)"},
      {"BP_TRUST_FORWARDED_FOR", "0", "take the client IP from X-Forwarded-For (set behind a proxy)"},
      {"BP_AUTH_FAILURE_LIMIT", "20", "failed authentications from one client address, per window, before 429 (0: off)"},
      {"BP_AUTH_FAILURE_WINDOW_MS", "60000", "window of BP_AUTH_FAILURE_LIMIT; a blocked address waits for its end"},
      {"BP_USAGE_FLUSH_MS", "2000", "how often usage counters are sent to the control-plane"},
      {"BP_DRAIN_TIMEOUT_MS", "10000", "on SIGTERM, how long in-flight requests may take"},
      {"BP_LOG_LEVEL", "info", "debug, info, warn or error"},
  };
  return kSettings;
}

namespace {

int fail(const Error& e) {
  log::error("gateway cannot start", {{"error", e.message}});
  return 1;
}

void on_change(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Gateway*>(closure)->on_change_event(std::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
}

struct Settings {
  ServerOptions server;
  GatewayOptions gateway;
  std::string publisher;
  int64_t threads, publish_timeout_ms, publish_max_pending, publish_coalesce, publish_linger_us, control_plane_timeout_ms,
      usage_flush_ms, drain_ms;
};

Result<Settings> read_settings(const config::Source& cfg) {
  Settings s;
  s.server.listen = cfg.get("BP_HTTP_LISTEN");
  s.publisher = cfg.get("BP_NATS_PUBLISHER");
  if (s.publisher != "wire" && s.publisher != "natsc") {
    return Error::invalid("BP_NATS_PUBLISHER must be wire or natsc, not \"" + s.publisher + "\"");
  }
  auto spread = cfg.get("BP_THREAD_SPREAD");
  if (spread != "load" && spread != "all") {
    return Error::invalid("BP_THREAD_SPREAD must be load or all, not \"" + spread + "\"");
  }
  s.server.spread.by_load = spread == "load";
  struct IntSetting {
    const char* env;
    int64_t min, max;
    int64_t* out;
  };
  int64_t body = 0, header = 0, read_ms = 0, idle_ms = 0, conns = 0, ttl = 0, auth_limit = 0, auth_window = 0;
  for (const auto& i : std::initializer_list<IntSetting>{
           {"BP_THREADS", 0, 256, &s.threads},
           {"BP_MAX_BODY_BYTES", 1024, int64_t{1} << 32, &body},
           {"BP_MAX_HEADER_BYTES", 1024, 1 << 20, &header},
           {"BP_READ_TIMEOUT_MS", 100, 3600000, &read_ms},
           {"BP_IDLE_TIMEOUT_MS", 100, 3600000, &idle_ms},
           {"BP_MAX_CONNECTIONS", 1, 1000000, &conns},
           {"BP_CACHE_TTL_MS", 0, 3600000, &ttl},
           {"BP_AUTH_FAILURE_LIMIT", 0, 1000000, &auth_limit},
           {"BP_AUTH_FAILURE_WINDOW_MS", 1000, 86400000, &auth_window},
           {"BP_CONTROL_PLANE_TIMEOUT_MS", 100, 60000, &s.control_plane_timeout_ms},
           {"BP_PUBLISH_TIMEOUT_MS", 100, 60000, &s.publish_timeout_ms},
           {"BP_PUBLISH_MAX_PENDING", 1, 10000000, &s.publish_max_pending},
           {"BP_PUBLISH_COALESCE", 1, 1024, &s.publish_coalesce},
           {"BP_PUBLISH_LINGER_US", 0, 100000, &s.publish_linger_us},
           {"BP_USAGE_FLUSH_MS", 100, 3600000, &s.usage_flush_ms},
           {"BP_DRAIN_TIMEOUT_MS", 0, 600000, &s.drain_ms}}) {
    auto v = cfg.get_int(i.env, i.min, i.max);
    if (!v) return v.take_error();
    *i.out = *v;
  }
  s.server.max_body_bytes = static_cast<uint64_t>(body);
  s.server.max_header_bytes = static_cast<uint32_t>(header);
  s.server.read_timeout = std::chrono::milliseconds(read_ms);
  s.server.idle_timeout = std::chrono::milliseconds(idle_ms);
  s.server.max_connections = static_cast<size_t>(conns);
  s.gateway.cache_ttl = std::chrono::milliseconds(ttl);
  s.gateway.trust_forwarded_for = cfg.get_bool("BP_TRUST_FORWARDED_FOR");
  s.gateway.auth_failure_limit = static_cast<int>(auth_limit);
  s.gateway.auth_failure_window = std::chrono::milliseconds(auth_window);
  if (s.threads == 0) s.threads = std::max(1u, std::thread::hardware_concurrency());
  return s;
}

boost::asio::awaitable<void> flush_usage(std::shared_ptr<UsageRecorder> usage, std::chrono::milliseconds every,
                                         std::shared_ptr<std::atomic<bool>> stop) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  while (!*stop) {
    timer.expires_after(every);
    boost::system::error_code ec;
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    co_await usage->flush();
  }
}

}  // namespace

int run(int argc, const char* const* argv) {
  log::set_service("gateway");
  auto cfg = config::Source::load(settings(), argc, argv);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 2;
  }
  log::set_min_level(cfg->get("BP_LOG_LEVEL"));
  auto s = read_settings(*cfg);
  if (!s) return fail(s.error());
  ops::StopSignals stop_signals;  // before any thread starts
  signal(SIGPIPE, SIG_IGN);

  auto nats = nats::Client::connect(cfg->get("BP_NATS_URL"), "batchpipe-gateway");
  if (!nats) return fail(nats.error());
  // One io_context per I/O thread (see HttpServer); the first also runs the usage flushes.
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts;
  std::vector<boost::asio::io_context*> context_ptrs;
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<WorkGuard> keep_running;  // a context with no connection yet must not return from run()
  for (int64_t i = 0; i < s->threads; ++i) {
    contexts.push_back(std::make_unique<boost::asio::io_context>(1));
    context_ptrs.push_back(contexts.back().get());
    keep_running.push_back(boost::asio::make_work_guard(*contexts.back()));
  }
  std::shared_ptr<Publisher> shared_publisher;
  if (s->publisher == "wire") {
    auto wire = WirePublisher::create(context_ptrs, cfg->get("BP_NATS_URL"), s->publish_max_pending,
                                      std::chrono::milliseconds(s->publish_timeout_ms),
                                      static_cast<size_t>(s->publish_coalesce),
                                      std::chrono::microseconds(s->publish_linger_us));
    if (!wire) return fail(wire.error());
    shared_publisher = std::move(wire).value();
  } else {
    auto natsc = NatsCPublisher::create(*nats, s->publish_max_pending, std::chrono::milliseconds(s->publish_timeout_ms));
    if (!natsc) return fail(natsc.error());
    shared_publisher = std::move(natsc).value();
  }
  auto control_plane = std::make_shared<ControlPlaneClient>(cfg->get("BP_CONTROL_PLANE_ADDR"),
                                                            std::chrono::milliseconds(s->control_plane_timeout_ms));
  auto usage = std::make_shared<UsageRecorder>(control_plane);
  auto gateway = std::make_shared<Gateway>(s->gateway, control_plane, shared_publisher, usage);

  natsSubscription* changes = nullptr;
  if (natsConnection_Subscribe(&changes, (*nats)->connection(), bp::nats::kChangeSubject, on_change, gateway.get()) != NATS_OK) {
    return fail(Error::unavailable("cannot subscribe to bp.ctl.changed"));
  }

  boost::asio::io_context& io = *contexts.front();
  HttpServer server(context_ptrs, s->server, gateway);
  gateway->set_server_metrics([&server](std::string& out) { server.write_metrics(out); });
  if (auto st = server.listen(); !st) return fail(st.error());
  server.start();
  auto stop_flush = std::make_shared<std::atomic<bool>>(false);
  boost::asio::co_spawn(io, flush_usage(usage, std::chrono::milliseconds(s->usage_flush_ms), stop_flush),
                        boost::asio::detached);
  std::vector<std::thread> threads;
  for (auto* context : context_ptrs) threads.emplace_back([context] { context->run(); });
  log::info("gateway serving", {{"http", s->server.listen}, {"threads", std::to_string(s->threads)}});

  int sig = stop_signals.wait();
  log::info("draining", {{"signal", std::to_string(sig)}});
  server.stop_accepting();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(s->drain_ms);
  while (server.requests_in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *stop_flush = true;
  // One last usage flush, on the I/O threads, before they stop.
  std::promise<void> flushed;
  boost::asio::co_spawn(io, usage->flush(), [&flushed](std::exception_ptr) { flushed.set_value(); });
  flushed.get_future().wait_for(std::chrono::seconds(3));
  shared_publisher->drain(std::chrono::seconds(2));  // acks of the wire publisher arrive on the I/O threads
  for (auto* context : context_ptrs) context->stop();
  for (auto& t : threads) t.join();
  nats::retire(changes);
  log::info("stopped", {{"requests_in_flight", std::to_string(server.requests_in_flight())}});
  return 0;
}

}  // namespace bp::gateway

// Request entry point: request ids, routing, health, metrics and cache invalidation.
#include "bp/gateway/gateway.h"

#include "bp/clock.h"
#include "bp/json.h"
#include "bp/log.h"
#include "bp/uuid.h"
#include "bp/gateway/ingest_rules.h"

namespace bp::gateway {
namespace {

// Maps a resolution RPC's status onto the cache's result.
template <class V>
Result<std::shared_ptr<const V>> from_rpc(const grpc::Status& status, V value) {
  if (status.ok()) return std::make_shared<const V>(std::move(value));
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return Error::not_found(status.error_message());
  return Error::unavailable("control-plane: " + status.error_message());
}

}  // namespace

Gateway::Gateway(GatewayOptions options, std::shared_ptr<ControlPlaneClient> control_plane,
                 std::shared_ptr<Publisher> publisher, std::shared_ptr<UsageRecorder> usage)
    : options_(options),
      control_plane_(std::move(control_plane)),
      publisher_(std::move(publisher)),
      usage_(std::move(usage)),
      pipes_(
          [cp = control_plane_](const std::string& id) -> boost::asio::awaitable<Result<std::shared_ptr<const v1::Pipe>>> {
            v1::ResolvePipeRequest req;
            req.set_pipe_id(id);
            auto r = co_await cp->call<v1::Pipe>(BP_RPC(ResolvePipe), req);
            co_return from_rpc(r.status, std::move(r.response));
          },
          options.cache_ttl),
      keys_(
          [cp = control_plane_](const std::string& hash) -> boost::asio::awaitable<Result<std::shared_ptr<const ApiKeyInfo>>> {
            v1::ResolveApiKeyRequest req;
            req.set_key_sha256(hash);
            auto r = co_await cp->call<v1::ResolveApiKeyResponse>(BP_RPC(ResolveApiKey), req);
            co_return from_rpc(r.status, ApiKeyInfo{r.response.api_key_id(), r.response.workspace_id()});
          },
          options.cache_ttl),
      auth_failures_(options.auth_failure_limit, options.auth_failure_window),
      instance_([] {
        static std::atomic<uint64_t> instances{0};
        return ++instances;
      }()) {}

boost::asio::awaitable<Response> Gateway::handle(Request req, Peer peer) {
  ++requests_;
  auto started = std::chrono::steady_clock::now();
  std::string request_id = uuid::v4();
  std::string echo_id;
  if (auto sent = find_header(req, "X-Request-ID")) {
    if (valid_request_id(*sent)) echo_id = std::string(*sent);
  }
  Route r = match_route(req.method(), std::string_view(req.target().data(), req.target().size()));
  // Routes that check an API key: an address with too many failures is refused before any lookup.
  bool checks_key = r.id == RouteId::kIngestPost || r.id >= RouteId::kListPipes;
  std::string client = checks_key && auth_failures_.enabled() ? client_address(req, peer) : std::string();
  Response res;
  if (auto wait = client.empty() ? std::nullopt : auth_failures_.blocked(client, ThrottleClock::now())) {
    res = error_response(http::status::too_many_requests, "rate_limited",
                         "Too many failed authentications from this address; retry later");
    res.set(http::field::retry_after, std::to_string(wait->count()));
  } else {
    try {
      res = co_await route(req, r, peer, request_id);
    } catch (const std::exception& e) {
      log::error("request failed", {{"request_id", request_id}, {"error", e.what()}});
      res = error_response(http::status::internal_server_error, "server_error", "Unexpected server error");
    }
    if (!client.empty() && res.result() == http::status::unauthorized) {
      auth_failures_.failed(client, ThrottleClock::now());
      log::warn("authentication failed", {{"request_id", request_id}, {"client", client}});
    }
  }
  res.set("X-Request-ID", echo_id.empty() ? request_id : echo_id);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  count_request(req.method(), r.pattern, res.result_int(), started);
  co_return res;
}

// Not a coroutine: the cache is thread-local, and a coroutine may resume on another thread.
void Gateway::count_request(http::verb method, const char* pattern, unsigned status,
                            std::chrono::steady_clock::time_point started) {
  // Every request counts, and finding a series by its labels takes the family's lock and
  // compares label strings. So each thread keeps the series it has found, by method, route
  // pattern (the table's own pointer, or "unmatched") and status: a handful in practice, and
  // never more than kKept.
  struct Kept {
    uint64_t gateway;
    http::verb method;
    const char* pattern;
    unsigned status;
    ops::prom::Histogram* seconds;
    std::atomic<uint64_t>* requests;
  };
  constexpr size_t kKept = 64;
  thread_local std::vector<Kept> kept;
  const Kept* found = nullptr;
  for (const auto& k : kept) {
    if (k.gateway == instance_ && k.method == method && k.pattern == pattern && k.status == status) {
      found = &k;
      break;
    }
  }
  if (!found) {
    if (kept.size() >= kKept) kept.clear();
    // Route patterns, never raw paths, so that ids cannot multiply the series.
    auto name = http::to_string(method);
    std::string labels = "method=\"";
    labels.append(name.data(), name.size()).append("\",route=\"").append(pattern).append("\"");
    auto& seconds = request_seconds_.series(labels);
    labels.append(",status=\"").append(std::to_string(status)).append("\"");
    kept.push_back({instance_, method, pattern, status, &seconds, &http_requests_.series(labels)});
    found = &kept.back();
  }
  found->seconds->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  found->requests->fetch_add(1, std::memory_order_relaxed);
}

namespace {
boost::asio::awaitable<Response> ready_response(Response res) { co_return res; }
}  // namespace

boost::asio::awaitable<Response> Gateway::route(Request& req, const Route& r, const Peer& peer,
                                                const std::string& request_id) {
  switch (r.id) {
    case RouteId::kNotFound:
      return ready_response(error_response(http::status::not_found, "not_found", "No such route"));
    case RouteId::kMethodNotAllowed: {
      auto res = error_response(http::status::method_not_allowed, "method_not_allowed",
                                "This route accepts " + r.allow);
      res.set(http::field::allow, r.allow);
      return ready_response(std::move(res));
    }
    case RouteId::kHealth:
      return ready_response(json_response(
          http::status::ok, "{\"status\":\"ok\",\"timestamp\":" + json::quote(clock::now_rfc3339()) + "}"));
    case RouteId::kHealthz:
      return ready_response(json_response(http::status::ok, R"({"status":"ok"})"));
    case RouteId::kReadyz:
      if (ready()) return ready_response(json_response(http::status::ok, R"({"status":"ready"})"));
      return ready_response(json_response(
          http::status::service_unavailable, R"({"status":"not_ready","message":"NATS or the control-plane is unreachable"})"));
    case RouteId::kMetrics: {
      auto res = json_response(http::status::ok, metrics());
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      return ready_response(std::move(res));
    }
    case RouteId::kIngestPost:
      return ingest_post(req, r.pipe_id, peer, request_id);
    case RouteId::kIngestGet:
      return ingest_get(r.pipe_id);
    case RouteId::kIngestOptions:
      return ingest_options(req, r.pipe_id);
    default:
      return management(req, r);
  }
}

bool Gateway::ready() { return publisher_ && publisher_->ready() && control_plane_->reachable(); }

void Gateway::on_change_event(std::string_view event_json) {
  auto doc = json::parse(event_json);
  if (!doc || !doc->IsObject()) return;
  if (auto pipe_id = json::get_string(*doc, "pipe_id")) pipes_.evict(*pipe_id);
  if (auto key_id = json::get_string(*doc, "api_key_id")) {
    keys_.evict_if([&](const ApiKeyInfo& k) { return k.id == *key_id; });
  }
}

std::string Gateway::metrics() const {
  namespace prom = ops::prom;
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t value) {
    prom::header(out, name, "counter", help);
    prom::sample(out, name, "", value);
  };
  counter("bp_gateway_requests_total", "HTTP requests received", requests_);
  prom::header(out, "bp_gateway_http_requests_total", "counter", "HTTP requests answered, by method, route pattern and status");
  http_requests_.write(out, "bp_gateway_http_requests_total");
  prom::header(out, "bp_gateway_request_seconds", "histogram", "time from a parsed request to its response, by method and route pattern");
  request_seconds_.write(out, "bp_gateway_request_seconds");
  counter("bp_gateway_ingest_accepted_total", "ingest requests answered 202", accepted_);
  counter("bp_gateway_records_accepted_total", "records accepted", records_);
  counter("bp_gateway_bytes_accepted_total", "bytes of records accepted (as published to JetStream)", bytes_);
  counter("bp_gateway_ingest_rejected_total", "ingest requests answered 4xx", rejected_);
  counter("bp_gateway_publish_failures_total", "ingest requests answered 503", publish_failures_);
  counter("bp_gateway_pipe_cache_hits_total", "pipe lookups served from memory", pipes_.hits());
  counter("bp_gateway_pipe_cache_misses_total", "pipe lookups that asked the control-plane", pipes_.misses());
  counter("bp_gateway_key_cache_hits_total", "API key lookups served from memory", keys_.hits());
  counter("bp_gateway_key_cache_misses_total", "API key lookups that asked the control-plane", keys_.misses());
  prom::header(out, "bp_gateway_publish_in_flight", "gauge", "Ingest requests gathered for a JetStream message or awaiting its ack");
  prom::sample(out, "bp_gateway_publish_in_flight", "", static_cast<uint64_t>(publisher_ ? publisher_->in_flight() : 0));
  if (publisher_) {
    prom::header(out, "bp_gateway_publish_seconds", "histogram", "time from a JetStream publish to its ack");
    publisher_->publish_seconds().write(out, "bp_gateway_publish_seconds", "");
  }
  if (server_metrics_) server_metrics_(out);
  return out;
}

}  // namespace bp::gateway

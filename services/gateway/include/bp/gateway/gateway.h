// The gateway's request handling: one coroutine from a parsed request to its response. It owns
// the caches, the control-plane client and the publisher; the server only moves bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "batchpipe/v1/control_plane.pb.h"
#include "bp/gateway/control_plane_client.h"
#include "bp/gateway/http.h"
#include "bp/gateway/lookup_cache.h"
#include "bp/gateway/publisher.h"
#include "bp/gateway/router.h"
#include "bp/gateway/throttle.h"
#include "bp/ops/prometheus.h"
#include "bp/gateway/usage_recorder.h"

namespace bp::gateway {

struct GatewayOptions {
  std::chrono::milliseconds cache_ttl{10000};
  int max_json_depth = 64;
  bool trust_forwarded_for = false;  // take the client IP from X-Forwarded-For (behind a proxy)
  int auth_failure_limit = 20;       // failed authentications per address and window before 429; 0: off
  std::chrono::milliseconds auth_failure_window{60000};
};

struct ApiKeyInfo {
  std::string id;
  std::string workspace_id;
};

// Facts about the connection a request came on.
struct Peer {
  std::string address;  // client IP as seen on the socket
};

class Gateway {
 public:
  Gateway(GatewayOptions options, std::shared_ptr<ControlPlaneClient> control_plane,
          std::shared_ptr<Publisher> publisher, std::shared_ptr<UsageRecorder> usage);

  boost::asio::awaitable<Response> handle(Request req, Peer peer);
  // Requests handled so far (bp_gateway_requests_total): what the thread spread's trials count.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  // Bytes of records accepted so far (bp_gateway_bytes_accepted_total): the thread spread's
  // measure of how large the requests are.
  uint64_t bytes_accepted() const { return bytes_.load(std::memory_order_relaxed); }

  // Applies a change event from the control-plane (bp.ctl.changed).
  void on_change_event(std::string_view event_json);
  // Prometheus text for /metrics.
  std::string metrics() const;
  // Adds the server's own figures to /metrics. Set before the server starts.
  void set_server_metrics(std::function<void(std::string&)> write) { server_metrics_ = std::move(write); }
  bool ready();

 private:
  // Adds a request to the metrics by method, route pattern and status.
  void count_request(http::verb method, const char* pattern, unsigned status, std::chrono::steady_clock::time_point started);
  // Not a coroutine: it returns the route's handler's awaitable, so a request pays for no frame
  // besides its handler's. The caller awaits it at once (it refers to the arguments).
  boost::asio::awaitable<Response> route(Request& req, const Route& route, const Peer& peer,
                                         const std::string& request_id);
  boost::asio::awaitable<Response> ingest_post(Request& req, const std::string& pipe_id, const Peer& peer,
                                               const std::string& request_id);
  // The parts of ingest_post that await nothing are plain functions: a coroutine keeps every
  // local in its frame (allocated for every request), a plain function on the stack; and a frame
  // under 1 KiB is one glibc serves from its per-thread cache.
  //
  // What ingest_post has looked up so far: each empty until a cache or the control-plane answered.
  struct IngestLookups {
    std::optional<Result<std::shared_ptr<const v1::Pipe>>> pipe;
    std::optional<Result<std::shared_ptr<const ApiKeyInfo>>> key;
  };
  // A request that passed every check, with what its answer needs.
  struct Admitted {
    PublishRequest publish;
    std::shared_ptr<const v1::Pipe> pipe;
    std::string echo;  // the Origin to allow in the answer; empty: none
    bool cross_origin = false;
  };
  // A lookup the caches could not answer from memory: ingest_post awaits it and checks again.
  struct NeedPipe {
    std::string id;
  };
  struct NeedKey {
    std::string hash;
    Result<std::shared_ptr<const v1::Pipe>> pipe;  // already found: not looked up again
  };
  using IngestStep = std::variant<Response, Admitted, NeedPipe, NeedKey>;
  static bool needs_lookup(const IngestStep& step) {
    return std::holds_alternative<NeedPipe>(step) || std::holds_alternative<NeedKey>(step);
  }
  // Every check of seed 000's order (id, pipe, auth, origin, then admit()), with what `looked`
  // holds and what the caches answer from memory.
  IngestStep ingest_checks(Request& req, const std::string& pipe_id, const Peer& peer,
                           const std::string& request_id, IngestLookups& looked);
  boost::asio::awaitable<void> ingest_lookups(Request& req, const std::string& pipe_id, const Peer& peer,
                                              const std::string& request_id, IngestStep& step);
  std::variant<Response, PublishRequest> admit(Request& req, const v1::Pipe& pipe, const Peer& peer,
                                               const std::string& request_id, const std::string& echo,
                                               bool cross_origin);
  Response published(const v1::Pipe& pipe, const PublishOutcome& outcome, int64_t records, int64_t bytes,
                     const std::string& request_id, const std::string& echo, bool cross_origin);
  Response reject(unsigned status, const char* code, std::string message, bool cross_origin,
                  const std::string& echo = {});
  boost::asio::awaitable<Response> ingest_get(const std::string& pipe_id);
  boost::asio::awaitable<Response> ingest_options(const Request& req, const std::string& pipe_id);
  boost::asio::awaitable<Response> management(const Request& req, const Route& route);

  // The pipe for ingest: kNotFound for unknown or inactive pipes.
  boost::asio::awaitable<Result<std::shared_ptr<const v1::Pipe>>> ingest_pipe(const std::string& pipe_id);
  // The client's address: the socket's peer, or the first X-Forwarded-For entry when trusted.
  std::string client_address(const Request& req, const Peer& peer) const;

  GatewayOptions options_;
  std::shared_ptr<ControlPlaneClient> control_plane_;
  std::shared_ptr<Publisher> publisher_;
  std::shared_ptr<UsageRecorder> usage_;
  LookupCache<v1::Pipe> pipes_;
  LookupCache<ApiKeyInfo> keys_;
  std::atomic<uint64_t> requests_{0}, accepted_{0}, records_{0}, rejected_{0}, publish_failures_{0}, bytes_{0};
  std::function<void(std::string&)> server_metrics_;
  ops::prom::LabelledCounters http_requests_;     // by method, route pattern and status
  RateLimiter ingest_rate_;                        // per pipe: pl_ingest_max_requests_per_second
  FailureThrottle auth_failures_;                  // per client address
  ops::prom::LabelledHistograms request_seconds_;  // by method and route pattern
  // Tells this gateway's entries in count_request's per-thread cache from those of a gateway
  // that lived at the same address before (tests make many).
  const uint64_t instance_;
};

}  // namespace bp::gateway

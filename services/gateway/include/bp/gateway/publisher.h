// Asynchronous JetStream publishing for the ingest path: many messages in flight, each request
// awaiting only its own ack. Never blocks an I/O thread: a full pipeline is an immediate error.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bp/gateway/await_callback.h"
#include "bp/nats/client.h"
#include "bp/ops/prometheus.h"
#include "bp/result.h"

namespace bp::gateway {

struct PublishRequest {
  std::string subject;
  std::string payload;
  std::string msg_id;      // Nats-Msg-Id (deduplication)
  std::string request_id;  // Bp-Request-Id, unique per request
  std::string received_at;
  int64_t record_count = 0;
};

struct PublishOutcome {
  bool stored = false;     // JetStream acked: the message is in the stream
  bool duplicate = false;  // the stream already had this Nats-Msg-Id
  std::string error;       // why not, when !stored
};

class Publisher {
 public:
  static Result<std::unique_ptr<Publisher>> create(std::shared_ptr<nats::Client> client, int64_t max_pending,
                                                   std::chrono::milliseconds ack_timeout);
  ~Publisher();

  boost::asio::awaitable<PublishOutcome> publish(PublishRequest request);
  // Waits (blocking) up to `timeout` for every in-flight publish to be acked; for shutdown.
  void drain(std::chrono::milliseconds timeout);
  size_t in_flight() const;
  // The largest message the NATS server accepts (its max_payload), less room for headers.
  int64_t max_payload() const;
  // Time from publish to ack (or to the failure), in seconds.
  const ops::prom::Histogram& publish_seconds() const { return publish_seconds_; }

 private:
  struct Pending {
    Completion<PublishOutcome> done;
    std::chrono::steady_clock::time_point started;
  };

  Publisher() = default;
  static void on_ack(jsCtx* js, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure);
  void start(const PublishRequest& request, Completion<PublishOutcome> done);

  std::shared_ptr<nats::Client> client_;
  jsCtx* js_ = nullptr;
  std::chrono::milliseconds ack_timeout_{5000};
  mutable std::mutex mutex_;
  // max_payload() is asked on every ingest; the NATS connection's answer takes its lock, so it
  // is cached for a second (it changes only when a reconnect lands on another server).
  mutable std::atomic<int64_t> max_payload_{0};
  mutable std::atomic<int64_t> max_payload_checked_ns_{0};
  std::map<std::string, Pending> pending_;  // by request id
  ops::prom::Histogram publish_seconds_;
};

}  // namespace bp::gateway

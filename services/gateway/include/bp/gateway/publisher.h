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
#include <vector>

#include "bp/gateway/await_callback.h"
#include "bp/nats/client.h"
#include "bp/nats/ingest_message.h"
#include "bp/nats/wire.h"
#include "bp/ops/prometheus.h"
#include "bp/result.h"

namespace bp::gateway {

struct PublishRequest {
  std::string subject;
  std::string payload;
  std::string msg_id;      // Nats-Msg-Id (deduplication); empty: none
  std::string request_id;  // Bp-Request-Id, unique per request
  std::string received_at;
  int64_t record_count = 0;
  // The pipe's delivery batch limits (pl_delivery_max_records, pl_delivery_max_bytes): a
  // message that carries several requests stays within them (decision 0014).
  int64_t batch_max_records = nats::ingest::kDefaultBatchMaxRecords;
  int64_t batch_max_bytes = nats::ingest::kDefaultBatchMaxBytes;
};

struct PublishOutcome {
  bool stored = false;     // JetStream acked: the message is in the stream
  bool duplicate = false;  // the stream already had this Nats-Msg-Id
  std::string error;       // why not, when !stored
};

// Publishes one ingest request's records and awaits the stream's ack.
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual boost::asio::awaitable<PublishOutcome> publish(PublishRequest request) = 0;
  // Waits (blocking) up to `timeout` for every in-flight publish to be acked; for shutdown.
  virtual void drain(std::chrono::milliseconds timeout) = 0;
  virtual size_t in_flight() const = 0;
  // The largest message the NATS server accepts (its max_payload), less room for headers.
  virtual int64_t max_payload() const = 0;
  // Whether it has connected to NATS (for readiness; a later outage answers 503 instead).
  virtual bool ready() const { return true; }
  // Time from publish to ack (or to the failure), in seconds.
  const ops::prom::Histogram& publish_seconds() const { return publish_seconds_; }

 protected:
  ops::prom::Histogram publish_seconds_;
};

// nats.c's asynchronous JetStream publish (BP_NATS_PUBLISHER=natsc): acks arrive on nats.c's
// threads and are handed back to the I/O thread of the request.
class NatsCPublisher : public Publisher {
 public:
  static Result<std::unique_ptr<NatsCPublisher>> create(std::shared_ptr<nats::Client> client, int64_t max_pending,
                                                        std::chrono::milliseconds ack_timeout);
  ~NatsCPublisher() override;

  boost::asio::awaitable<PublishOutcome> publish(PublishRequest request) override;
  void drain(std::chrono::milliseconds timeout) override;
  size_t in_flight() const override;
  int64_t max_payload() const override;

 private:
  struct Pending {
    Completion<PublishOutcome> done;
    std::chrono::steady_clock::time_point started;
  };

  NatsCPublisher() = default;
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
};

// The default (BP_NATS_PUBLISHER=wire): one NATS connection per I/O thread, spoken to directly
// (bp/nats/wire.h), so that a request is parsed, published, acked and answered on one thread.
// Requests to the same pipe published in one turn of a thread's event loop go out as one
// message of up to `coalesce` requests (decision 0014), each answered by that message's ack.
// When the thread's connection sent a message less than `linger` ago, a new message waits that
// long for the requests of the next turns (decision 0016); 0 sends every turn's at its end.
class WirePublisher : public Publisher {
 public:
  static constexpr size_t kDefaultCoalesce = 64;
  static constexpr std::chrono::microseconds kDefaultLinger{500};
  // Connects one publisher per context; waits up to the connect timeout for them to connect
  // (they keep trying after that, and requests meanwhile are answered 503).
  static Result<std::unique_ptr<WirePublisher>> create(const std::vector<boost::asio::io_context*>& contexts,
                                                       const std::string& urls, int64_t max_pending,
                                                       std::chrono::milliseconds ack_timeout,
                                                       size_t coalesce = kDefaultCoalesce,
                                                       std::chrono::microseconds linger = kDefaultLinger);
  ~WirePublisher() override;

  boost::asio::awaitable<PublishOutcome> publish(PublishRequest request) override;
  void drain(std::chrono::milliseconds timeout) override;
  size_t in_flight() const override;
  int64_t max_payload() const override;
  bool ready() const override;

 private:
  class Connection;  // one per I/O thread: the wire publisher and the requests gathered for it

  WirePublisher() = default;
  // Publishes on the calling I/O thread's connection, or hands the request to one (tests).
  void start(PublishRequest request, Completion<PublishOutcome> done);

  std::vector<std::shared_ptr<Connection>> connections_;
  std::atomic<size_t> next_{0};  // for a publish from a thread that runs none of the contexts
};

}  // namespace bp::gateway

// JetStream publishing for ingest: nats.c async publish (acks correlated by the Bp-Request-Id
// header), or the wire publisher, one connection per I/O thread.
#include "bp/gateway/publisher.h"

#include <algorithm>
#include <thread>

namespace bp::gateway {

Result<std::unique_ptr<NatsCPublisher>> NatsCPublisher::create(std::shared_ptr<nats::Client> client, int64_t max_pending,
                                                     std::chrono::milliseconds ack_timeout) {
  std::unique_ptr<NatsCPublisher> publisher(new NatsCPublisher());
  publisher->client_ = std::move(client);
  publisher->ack_timeout_ = ack_timeout;
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.PublishAsync.MaxPending = max_pending;
  opts.PublishAsync.AckHandler = &NatsCPublisher::on_ack;
  opts.PublishAsync.AckHandlerClosure = publisher.get();
  opts.PublishAsync.StallWait = 1;  // at the cap, fail at once (503) instead of stalling an I/O thread
  natsStatus s = natsConnection_JetStream(&publisher->js_, publisher->client_->connection(), &opts);
  if (s != NATS_OK) return nats::error_from(s, static_cast<jsErrCode>(0), "cannot open JetStream publish context");
  return publisher;
}

NatsCPublisher::~NatsCPublisher() {
  if (js_) jsCtx_Destroy(js_);
}

// Not a coroutine on purpose: GCC 12 destroys lambda temporaries inside co_await expressions twice.
boost::asio::awaitable<PublishOutcome> NatsCPublisher::publish(PublishRequest request) {
  auto shared = std::make_shared<PublishRequest>(std::move(request));
  return await_callback<PublishOutcome>([this, shared](Completion<PublishOutcome> done) { start(*shared, std::move(done)); });
}

void NatsCPublisher::start(const PublishRequest& r, Completion<PublishOutcome> done) {
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, r.subject.c_str(), nullptr, r.payload.data(), static_cast<int>(r.payload.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Request-Id", r.request_id.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Received-At", r.received_at.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Record-Count", std::to_string(r.record_count).c_str());
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    done({false, false, std::string("cannot build message: ") + natsStatus_GetText(s)});
    return;
  }
  {
    std::lock_guard lock(mutex_);
    pending_[r.request_id] = Pending{done, std::chrono::steady_clock::now()};
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = r.msg_id.c_str();  // nats.c sends no Nats-Msg-Id when it is empty
  po.MaxWait = ack_timeout_.count();
  s = js_PublishMsgAsync(js_, &msg, &po);
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);  // still ours when the call failed
    std::lock_guard lock(mutex_);
    auto it = pending_.find(r.request_id);
    if (it == pending_.end()) return;  // the ack handler already answered
    pending_.erase(it);
    done({false, false, std::string("publish refused: ") + natsStatus_GetText(s)});
  }
}

void NatsCPublisher::on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
  auto* self = static_cast<NatsCPublisher*>(closure);
  const char* request_id = nullptr;
  natsMsgHeader_Get(msg, "Bp-Request-Id", &request_id);
  Completion<PublishOutcome> done;
  if (request_id) {
    std::lock_guard lock(self->mutex_);
    auto it = self->pending_.find(request_id);
    if (it != self->pending_.end()) {
      done = std::move(it->second.done);
      self->publish_seconds_.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.started).count());
      self->pending_.erase(it);
    }
  }
  if (done) {
    if (ack && !error) {
      done({true, ack->Duplicate, ""});
    } else {
      std::string why = error ? (error->ErrText ? error->ErrText : natsStatus_GetText(error->Err)) : "no ack";
      done({false, false, why});
    }
  }
  natsMsg_Destroy(msg);
}

void NatsCPublisher::drain(std::chrono::milliseconds timeout) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = timeout.count();
  js_PublishAsyncComplete(js_, &po);
}

int64_t NatsCPublisher::max_payload() const {
  int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  int64_t checked = max_payload_checked_ns_.load(std::memory_order_relaxed);
  if (checked == 0 || now - checked > std::chrono::nanoseconds(std::chrono::seconds(1)).count()) {
    // Headers (ids, timestamps, count) take well under 1 KiB.
    max_payload_.store(natsConnection_GetMaxPayload(client_->connection()) - 1024, std::memory_order_relaxed);
    max_payload_checked_ns_.store(now, std::memory_order_relaxed);
  }
  return max_payload_.load(std::memory_order_relaxed);
}

size_t NatsCPublisher::in_flight() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

// ---- WirePublisher -------------------------------------------------------------------------

Result<std::unique_ptr<WirePublisher>> WirePublisher::create(const std::vector<boost::asio::io_context*>& contexts,
                                                             const std::string& urls, int64_t max_pending,
                                                             std::chrono::milliseconds ack_timeout) {
  auto servers = nats::wire::parse_urls(urls);
  if (!servers) return servers.take_error();
  for (const auto& server : *servers) {
    if (server.tls) return Error::invalid("BP_NATS_URL uses tls://, which needs BP_NATS_PUBLISHER=natsc");
  }
  std::unique_ptr<WirePublisher> publisher(new WirePublisher());
  nats::wire::Options options;
  options.servers = *servers;
  options.name = "batchpipe-gateway";
  // The cap is for the whole gateway, as with nats.c; each connection takes its share.
  options.max_pending = static_cast<size_t>(std::max<int64_t>(1, max_pending / static_cast<int64_t>(contexts.size())));
  options.max_buffered_bytes = std::max<size_t>(4 << 20, options.max_buffered_bytes / contexts.size());
  options.ack_timeout = ack_timeout;
  for (auto* context : contexts) {
    publisher->connections_.push_back(nats::wire::Publisher::create(*context, options));
    publisher->connections_.back()->start();
  }
  return publisher;
}

WirePublisher::~WirePublisher() {
  for (auto& connection : connections_) connection->stop();
}

bool WirePublisher::ready() const {
  return std::all_of(connections_.begin(), connections_.end(), [](const auto& c) { return c->connects() > 0; });
}

boost::asio::awaitable<PublishOutcome> WirePublisher::publish(PublishRequest request) {
  return await_callback<PublishOutcome>([this, request = std::move(request)](Completion<PublishOutcome> done) mutable {
    start(std::move(request), std::move(done));
  });
}

namespace {

// Publishes `r` on `connection` (on its I/O thread) with the headers the worker reads.
void publish_on(nats::wire::Publisher& connection, const PublishRequest& r, nats::wire::PublishCallback done) {
  std::string count = std::to_string(r.record_count);
  const nats::wire::Header headers[] = {{"Nats-Msg-Id", r.msg_id},
                                        {"Bp-Request-Id", r.request_id},
                                        {"Bp-Received-At", r.received_at},
                                        {"Bp-Record-Count", count}};
  std::span<const nats::wire::Header> sent(headers);
  if (r.msg_id.empty()) sent = sent.subspan(1);  // no message id: nothing to deduplicate
  connection.publish(r.subject, sent, r.payload, std::move(done));
}

}  // namespace

void WirePublisher::start(PublishRequest request, Completion<PublishOutcome> done) {
  auto started = std::chrono::steady_clock::now();
  auto finish = [this, started, done = std::move(done)](nats::wire::PublishResult result) {
    publish_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    done({result.stored, result.duplicate, std::move(result.error)});
  };
  // The connection of the I/O thread we are on; a caller on another thread (tests) is handed
  // to one of them.
  for (auto& connection : connections_) {
    if (connection->io().get_executor().running_in_this_thread()) return publish_on(*connection, request, std::move(finish));
  }
  auto connection = connections_[next_++ % connections_.size()];
  boost::asio::post(connection->io(), [connection, request = std::move(request), finish = std::move(finish)]() mutable {
    publish_on(*connection, request, std::move(finish));
  });
}

void WirePublisher::drain(std::chrono::milliseconds timeout) {
  // Acks arrive on the I/O threads; when those still run, wait for them.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

size_t WirePublisher::in_flight() const {
  size_t n = 0;
  for (const auto& connection : connections_) n += connection->in_flight();
  return n;
}

int64_t WirePublisher::max_payload() const {
  int64_t smallest = connections_.front()->max_payload();
  for (const auto& connection : connections_) smallest = std::min(smallest, connection->max_payload());
  // Headers (ids, timestamps, count) take well under 1 KiB.
  return smallest - 1024;
}

}  // namespace bp::gateway

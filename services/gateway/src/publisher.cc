// JetStream async publish with per-request completion, correlated by the Bp-Request-Id header.
#include "bp/gateway/publisher.h"

namespace bp::gateway {

Result<std::unique_ptr<Publisher>> Publisher::create(std::shared_ptr<nats::Client> client, int64_t max_pending,
                                                     std::chrono::milliseconds ack_timeout) {
  std::unique_ptr<Publisher> publisher(new Publisher());
  publisher->client_ = std::move(client);
  publisher->ack_timeout_ = ack_timeout;
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.PublishAsync.MaxPending = max_pending;
  opts.PublishAsync.AckHandler = &Publisher::on_ack;
  opts.PublishAsync.AckHandlerClosure = publisher.get();
  opts.PublishAsync.StallWait = 1;  // at the cap, fail at once (503) instead of stalling an I/O thread
  natsStatus s = natsConnection_JetStream(&publisher->js_, publisher->client_->connection(), &opts);
  if (s != NATS_OK) return nats::error_from(s, static_cast<jsErrCode>(0), "cannot open JetStream publish context");
  return publisher;
}

Publisher::~Publisher() {
  if (js_) jsCtx_Destroy(js_);
}

// Not a coroutine on purpose: GCC 12 destroys lambda temporaries inside co_await expressions twice.
boost::asio::awaitable<PublishOutcome> Publisher::publish(PublishRequest request) {
  auto shared = std::make_shared<PublishRequest>(std::move(request));
  return await_callback<PublishOutcome>([this, shared](Completion<PublishOutcome> done) { start(*shared, std::move(done)); });
}

void Publisher::start(const PublishRequest& r, Completion<PublishOutcome> done) {
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
  po.MsgId = r.msg_id.c_str();
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

void Publisher::on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
  auto* self = static_cast<Publisher*>(closure);
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

void Publisher::drain(std::chrono::milliseconds timeout) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = timeout.count();
  js_PublishAsyncComplete(js_, &po);
}

int64_t Publisher::max_payload() const {
  int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  int64_t checked = max_payload_checked_ns_.load(std::memory_order_relaxed);
  if (checked == 0 || now - checked > std::chrono::nanoseconds(std::chrono::seconds(1)).count()) {
    // Headers (ids, timestamps, count) take well under 1 KiB.
    max_payload_.store(natsConnection_GetMaxPayload(client_->connection()) - 1024, std::memory_order_relaxed);
    max_payload_checked_ns_.store(now, std::memory_order_relaxed);
  }
  return max_payload_.load(std::memory_order_relaxed);
}

size_t Publisher::in_flight() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

}  // namespace bp::gateway

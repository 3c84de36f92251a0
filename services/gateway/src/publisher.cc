// JetStream publishing for ingest: nats.c async publish (acks correlated by the Bp-Request-Id
// header), or the wire publisher, one connection per I/O thread.
#include "bp/gateway/publisher.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
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
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, nats::ingest::kRequestIdHeader, r.request_id.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, nats::ingest::kReceivedAtHeader, r.received_at.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, nats::ingest::kRecordCountHeader, std::to_string(r.record_count).c_str());
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
  natsMsgHeader_Get(msg, nats::ingest::kRequestIdHeader, &request_id);
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

// One I/O thread's NATS connection, and the requests that wait to go out together: those of the
// current turn of its event loop, and under load (a message sent less than the linger ago) those
// of the turns that follow for up to the linger (decision 0016). Everything but the counters is used on
// that thread only. The wire publisher asks for them right before it writes (its gather hook), so
// they and its other publishes go out in one write.
class WirePublisher::Connection : public std::enable_shared_from_this<WirePublisher::Connection> {
 public:
  static std::shared_ptr<Connection> create(std::shared_ptr<nats::wire::Publisher> wire, size_t coalesce,
                                            std::chrono::microseconds linger) {
    auto connection = std::shared_ptr<Connection>(new Connection(std::move(wire), coalesce, linger));
    connection->wire_->set_gather([weak = std::weak_ptr<Connection>(connection)] {
      if (auto self = weak.lock()) self->flush();
    });
    return connection;
  }

  nats::wire::Publisher& wire() { return *wire_; }
  // Requests gathered, or published and awaiting their ack (the wire publisher counts messages).
  size_t in_flight() const {
    return wire_->in_flight() + gathered_.load(std::memory_order_relaxed) + joined_.load(std::memory_order_relaxed);
  }

  // On the connection's thread.
  void publish(PublishRequest r, nats::wire::PublishCallback done) {
    // An idempotency key is a message id of its own; a payload that is not the array the
    // gateway writes cannot be joined to another.
    bool joinable = coalesce_ > 1 && r.msg_id.empty() && r.record_count > 0 && r.payload.size() >= 2 &&
                    r.payload.front() == '[' && r.payload.back() == ']';
    if (!joinable) return publish_alone(r, std::move(done));
    // Room for Bp-Requests with every request of a full group, besides the other headers.
    int64_t room = wire_->max_payload() - 1024 - static_cast<int64_t>(coalesce_) * 96;
    auto group = std::find_if(open_.begin(), open_.end(), [&](const Group& g) { return g.subject == r.subject; });
    if (group != open_.end()) {
      bool fits = group->members.size() < coalesce_ &&
                  group->records + r.record_count <= std::min(group->max_records, tenth(r.batch_max_records)) &&
                  static_cast<int64_t>(group->payload.size() + r.payload.size()) <=
                      std::min({group->max_bytes, tenth(r.batch_max_bytes), room});
      if (fits) {
        // "[a,b]" + "[c]" -> "[a,b,c]"
        group->payload.back() = ',';
        group->payload.append(r.payload, 1, std::string::npos);
        join(*group, r, std::move(done));
        return;
      }
      Group full = std::move(*group);
      open_.erase(group);
      send(full);
    }
    Group& g = open_.emplace_back();
    g.subject = std::move(r.subject);
    g.payload = std::move(r.payload);
    g.max_records = tenth(r.batch_max_records);
    g.max_bytes = tenth(r.batch_max_bytes);
    join(g, r, std::move(done));
    // The connection's last message left longer than the linger ago: this one goes at the end of
    // this turn, so a light load waits for nothing. Otherwise it lingers for the requests of the
    // next turns.
    if (linger_.count() == 0 || std::chrono::steady_clock::now() - last_sent_ >= linger_) {
      return wire_->request_flush();
    }
    linger();
  }

 private:
  // A joined message holds at most a tenth of the pipe's batch limits. The worker never splits a
  // message across batches, so a batch then closes at least 90% full. (Joined up to the whole
  // limit, messages of 600-1000 records left batches of 1000 part-full, and the Postgres sink
  // fell from 60-73% of COPY to 43%.) A request over it on its own still goes, alone.
  static int64_t tenth(int64_t limit) { return std::max<int64_t>(1, limit / 10); }

  Connection(std::shared_ptr<nats::wire::Publisher> wire, size_t coalesce, std::chrono::microseconds linger)
      : wire_(std::move(wire)), coalesce_(coalesce), linger_(linger), linger_timer_(wire_->io()) {}

  // The open messages go out `linger_` from now, or sooner with any write of the connection
  // (the gather hook sends them all), or when one fills.
  void linger() {
    if (lingering_) return;
    lingering_ = true;
    linger_timer_.expires_after(linger_);
    linger_timer_.async_wait([weak = weak_from_this()](boost::system::error_code) {
      auto self = weak.lock();
      if (!self) return;
      self->lingering_ = false;
      if (!self->open_.empty()) self->wire_->request_flush();
    });
  }

  struct Member {
    std::string request_id;
    std::string received_at;
    int64_t count = 0;
    nats::wire::PublishCallback done;
  };
  struct Group {
    std::string subject;
    std::string payload;  // one JSON array: the records of every member, in order
    int64_t records = 0;
    int64_t max_records = 0;
    int64_t max_bytes = 0;
    std::vector<Member> members;
  };

  void join(Group& g, PublishRequest& r, nats::wire::PublishCallback done) {
    g.records += r.record_count;
    g.members.push_back({std::move(r.request_id), std::move(r.received_at), r.record_count, std::move(done)});
    gathered_.fetch_add(1, std::memory_order_relaxed);
  }

  // The end of the turn in which the first of them arrived (the wire publisher is about to
  // write): everything gathered goes out.
  void flush() {
    if (!open_.empty() && linger_.count() > 0) last_sent_ = std::chrono::steady_clock::now();
    while (!open_.empty()) {
      std::vector<Group> groups = std::move(open_);
      open_.clear();
      for (auto& g : groups) send(g);
    }
  }

  // One message with the headers the worker reads; Bp-Requests only for several requests.
  void send(Group& g) {
    gathered_.fetch_sub(g.members.size(), std::memory_order_relaxed);
    std::string count = std::to_string(g.records);
    if (g.members.size() == 1) {  // a message of one request, as before (no allocation to share)
      Member& only = g.members.front();
      return publish_one(g.subject, "", only.request_id, only.received_at, count, g.payload, std::move(only.done));
    }
    auto members = std::make_shared<std::vector<Member>>(std::move(g.members));
    const Member& first = members->front();
    std::string requests;
    requests.reserve(members->size() * 72);
    for (const auto& m : *members) nats::ingest::append_request(requests, m.request_id, m.count, m.received_at);
    const nats::wire::Header headers[] = {{nats::ingest::kRequestIdHeader, first.request_id},
                                          {nats::ingest::kReceivedAtHeader, first.received_at},
                                          {nats::ingest::kRecordCountHeader, count},
                                          {nats::ingest::kRequestsHeader, requests}};
    size_t extra = members->size() - 1;  // requests beyond the one message the wire publisher counts
    joined_.fetch_add(extra, std::memory_order_relaxed);
    wire_->publish(g.subject, headers, g.payload, [self = shared_from_this(), members, extra](nats::wire::PublishResult result) {
      self->joined_.fetch_sub(extra, std::memory_order_relaxed);
      for (auto& m : *members) m.done(result);
    });
  }

  // A request that is a message of its own, as before decision 0014.
  void publish_alone(const PublishRequest& r, nats::wire::PublishCallback done) {
    publish_one(r.subject, r.msg_id, r.request_id, r.received_at, std::to_string(r.record_count), r.payload,
                std::move(done));
  }

  // One request's message: its headers, and Nats-Msg-Id when it has one.
  void publish_one(std::string_view subject, std::string_view msg_id, std::string_view request_id,
                   std::string_view received_at, std::string_view count, std::string_view payload,
                   nats::wire::PublishCallback done) {
    const nats::wire::Header headers[] = {{"Nats-Msg-Id", msg_id},
                                          {nats::ingest::kRequestIdHeader, request_id},
                                          {nats::ingest::kReceivedAtHeader, received_at},
                                          {nats::ingest::kRecordCountHeader, count}};
    std::span<const nats::wire::Header> sent(headers);
    if (msg_id.empty()) sent = sent.subspan(1);  // no message id: nothing to deduplicate
    wire_->publish(subject, sent, payload, std::move(done));
  }

  std::shared_ptr<nats::wire::Publisher> wire_;
  size_t coalesce_;
  std::vector<Group> open_;  // usually one: a gateway's load is mostly one pipe at a time
  std::atomic<size_t> gathered_{0};
  std::atomic<size_t> joined_{0};  // requests in flight beyond one per joined message
  std::chrono::microseconds linger_;
  boost::asio::steady_timer linger_timer_;
  bool lingering_ = false;
  std::chrono::steady_clock::time_point last_sent_{};  // when gathered messages last went out
};

Result<std::unique_ptr<WirePublisher>> WirePublisher::create(const std::vector<boost::asio::io_context*>& contexts,
                                                             const std::string& urls, int64_t max_pending,
                                                             std::chrono::milliseconds ack_timeout, size_t coalesce,
                                                             std::chrono::microseconds linger) {
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
    auto wire = nats::wire::Publisher::create(*context, options);
    publisher->connections_.push_back(Connection::create(wire, std::max<size_t>(1, coalesce), linger));
    wire->start();  // after the gather hook is set
  }
  return publisher;
}

WirePublisher::~WirePublisher() {
  for (auto& connection : connections_) connection->wire().stop();
}

bool WirePublisher::ready() const {
  return std::all_of(connections_.begin(), connections_.end(), [](const auto& c) { return c->wire().connects() > 0; });
}

boost::asio::awaitable<PublishOutcome> WirePublisher::publish(PublishRequest request) {
  return await_callback<PublishOutcome>([this, request = std::move(request)](Completion<PublishOutcome> done) mutable {
    start(std::move(request), std::move(done));
  });
}

void WirePublisher::start(PublishRequest request, Completion<PublishOutcome> done) {
  auto started = std::chrono::steady_clock::now();
  auto finish = [this, started, done = std::move(done)](nats::wire::PublishResult result) {
    publish_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    done({result.stored, result.duplicate, std::move(result.error)});
  };
  // The connection of the I/O thread we are on; a caller on another thread (tests) is handed
  // to one of them.
  for (auto& connection : connections_) {
    if (connection->wire().io().get_executor().running_in_this_thread()) {
      return connection->publish(std::move(request), std::move(finish));
    }
  }
  auto connection = connections_[next_++ % connections_.size()];
  boost::asio::post(connection->wire().io(), [connection, request = std::move(request), finish = std::move(finish)]() mutable {
    connection->publish(std::move(request), std::move(finish));
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
  int64_t smallest = connections_.front()->wire().max_payload();
  for (const auto& connection : connections_) smallest = std::min(smallest, connection->wire().max_payload());
  // Headers (ids, timestamps, count) take well under 1 KiB.
  return smallest - 1024;
}

}  // namespace bp::gateway

// The consumer's pull protocol by hand: a pull request per fetch, answers on an inbox of our own.
#include "bp/nats/puller.h"

#include <cstring>

#include "bp/nats/client.h"

namespace bp::nats {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kAckPrefix[] = "$JS.ACK.";

// A message of the stream carries the consumer's ack subject as its reply; status messages
// (100 heartbeat, 404 no messages, 408 request expired, 409 ...) carry none.
bool is_record(natsMsg* m) {
  const char* reply = natsMsg_GetReply(m);
  return reply != nullptr && std::strncmp(reply, kAckPrefix, sizeof kAckPrefix - 1) == 0;
}

}  // namespace

natsStatus Puller::open(natsConnection* nc, const std::string& stream, const std::string& consumer,
                        std::unique_ptr<Puller>& out) {
  natsInbox* inbox = nullptr;
  natsStatus s = natsInbox_Create(&inbox);
  if (s != NATS_OK) return s;
  std::string prefix(inbox);
  natsInbox_Destroy(inbox);
  natsSubscription* sub = nullptr;
  s = natsConnection_SubscribeSync(&sub, nc, (prefix + ".*").c_str());
  if (s != NATS_OK) return s;
  // A batch is bounded by the pull request; what the client may queue must not be (messages it
  // dropped as a slow consumer would come back only after AckWait).
  s = natsSubscription_SetPendingLimits(sub, -1, -1);
  if (s != NATS_OK) {
    retire(sub);
    return s;
  }
  out.reset(new Puller(nc, "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer, prefix, sub));
  return NATS_OK;
}

// Answers may still be on their way to the inbox (a pull request not yet expired, its 408):
// nats.c 3.4 must not see the subscription freed under a message it is reading.
Puller::~Puller() { retire(sub_); }

int Puller::queued() const {
  int msgs = 0, bytes = 0;
  return natsSubscription_GetPending(sub_, &msgs, &bytes) == NATS_OK ? msgs : -1;
}

natsStatus Puller::reply(natsConnection* nc, natsMsg* m, const char* what) {
  if (!is_record(m)) return NATS_INVALID_ARG;
  return natsConnection_PublishString(nc, natsMsg_GetReply(m), what);
}

natsStatus Puller::take(int64_t timeout_ms, const std::string& current, std::vector<MsgPtr>& out, bool& ended,
                        bool& too_big) {
  natsMsg* raw = nullptr;
  natsStatus s = natsSubscription_NextMsg(&raw, sub_, timeout_ms);
  if (s == NATS_SLOW_CONSUMER) return NATS_OK;  // reported once; the next call reads on
  if (s != NATS_OK) return s;
  MsgPtr m(raw);
  if (is_record(m.get())) {
    out.push_back(std::move(m));
    return NATS_OK;
  }
  const char* status = nullptr;
  bool heartbeat = natsMsgHeader_Get(m.get(), "Status", &status) == NATS_OK && status != nullptr &&
                   std::strncmp(status, "100", 3) == 0;
  // The end of an earlier request (it expired after its fetch gave up) says nothing of this one.
  if (!heartbeat && !current.empty() && current == natsMsg_GetSubject(m.get())) {
    ended = true;
    const char* description = nullptr;
    too_big = status != nullptr && std::strncmp(status, "409", 3) == 0 &&
              natsMsgHeader_Get(m.get(), "Description", &description) == NATS_OK && description != nullptr &&
              std::strcmp(description, "Message Size Exceeds MaxBytes") == 0;
  }
  return NATS_OK;
}

natsStatus Puller::fetch(int batch, std::chrono::milliseconds wait, std::vector<MsgPtr>& out, int64_t max_bytes) {
  const size_t start = out.size();
  const auto taken = [&] { return static_cast<int>(out.size() - start); };
  bool ended = false, too_big = false;
  // What is queued first, without waiting and without a pull request.
  while (taken() < batch) {
    natsStatus s = take(0, "", out, ended, too_big);
    if (s == NATS_TIMEOUT) break;
    if (s == NATS_NO_RESPONDERS) continue;  // an earlier request's answer
    if (s != NATS_OK) return taken() > 0 ? NATS_OK : s;
  }
  if (taken() > 0) return NATS_OK;

  std::string reply = inbox_ + "." + std::to_string(++pulls_);
  const auto wait_ms = std::max<int64_t>(1, wait.count());
  // As nats.c's fetch asks: with no_wait and expires together, nats-server (2.9 and later) waits
  // up to `expires` for the first message, then sends what the consumer has (up to the batch)
  // and ends the request with a 404 instead of waiting for the batch to fill. The runner's own
  // clock (pl_delivery_max_interval_ms) decides how long a batch stays open.
  std::string request = "{\"batch\":" + std::to_string(batch) + ",\"expires\":" + std::to_string(wait_ms * 1000000) +
                        (max_bytes > 0 ? ",\"max_bytes\":" + std::to_string(max_bytes) : "") +
                        (batch > 1 ? ",\"no_wait\":true}" : "}");
  natsStatus s = natsConnection_PublishRequestString(nc_, next_subject_.c_str(), reply.c_str(), request.c_str());
  if (s != NATS_OK) return s;
  const auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
  while (taken() < batch && !ended) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    s = take(left, reply, out, ended, too_big);
    if (s == NATS_TIMEOUT) break;
    if (s != NATS_OK) return taken() > 0 ? NATS_OK : s;
  }
  // The next message alone is over the cap (the server sent nothing): it comes by itself, in a
  // second request with an uncapped size and a `wait` of its own (this call may take twice `wait`).
  if (taken() == 0 && too_big) return fetch(1, wait, out, 0);
  return taken() > 0 ? NATS_OK : NATS_TIMEOUT;
}

}  // namespace bp::nats

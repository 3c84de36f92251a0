// Pulling from a JetStream consumer over a plain NATS subscription.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bp::nats {

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// Pulls messages of one durable pull consumer: it sends the consumer's pull requests itself
// (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`, reply to an inbox of its own) and reads the
// answers from a plain synchronous subscription, instead of through nats.c's pull subscription.
// nats.c 3.4 (Debian bookworm) has a heap overflow in natsSubscription_Fetch (fixed upstream in
// 3.9, nats.c #749): a fetch that starts with more than half its batch already queued (messages
// of an earlier pull that arrived after it timed out) writes past its array. It took the worker
// down with `double free or corruption` while draining a backlog (docs/RELIABILITY.md). Here
// every message lands in a vector, so none is ever written out of bounds, and messages need no
// subscription to be acknowledged.
//
// One thread fetches; ack(), nak() and in_progress() may be called from any thread, also after
// the Puller is gone (they publish on the connection, which must outlive them).
class Puller {
 public:
  // Subscribes to a fresh inbox. NATS_OK, or the subscription's error.
  static natsStatus open(natsConnection* nc, const std::string& stream, const std::string& consumer,
                         std::unique_ptr<Puller>& out);
  ~Puller();
  Puller(const Puller&) = delete;
  Puller& operator=(const Puller&) = delete;

  // Takes up to `batch` messages into `out`. Messages already queued (late answers to earlier
  // pull requests) are taken first, and when there are any no pull request is sent. Otherwise
  // one pull request for `batch` messages that expires on the server after `wait`, and the
  // answers until the batch is full, the server ends the request (408, 404, 409) or `wait` is
  // over. NATS_OK with messages, NATS_TIMEOUT without, or the error (NATS_NO_RESPONDERS when
  // JetStream does not answer, NATS_CONNECTION_CLOSED, ...).
  //
  // With `max_bytes` > 0 the request asks for at most that many bytes (the server ends it with a
  // 409 before the message that would go over). nats-server queues a whole answer for the
  // connection at once and closes a connection with more than its max_pending (64 MB by
  // default) queued, as a slow consumer: 256 messages of up to a megabyte each did that, and
  // every message of the dropped fetches waited for AckWait. A message over the cap on its own
  // still comes: it is then fetched alone, without one, in a second request (so the call may
  // take up to twice `wait`).
  natsStatus fetch(int batch, std::chrono::milliseconds wait, std::vector<MsgPtr>& out, int64_t max_bytes = 0);

  // The consumer's acknowledgements, sent to the message's reply subject.
  static natsStatus ack(natsConnection* nc, natsMsg* m) { return reply(nc, m, "+ACK"); }
  static natsStatus nak(natsConnection* nc, natsMsg* m) { return reply(nc, m, "-NAK"); }
  static natsStatus in_progress(natsConnection* nc, natsMsg* m) { return reply(nc, m, "+WPI"); }

  // For tests: pull requests sent so far, the inbox they answer to, messages queued.
  uint64_t pulls() const { return pulls_; }
  const std::string& inbox() const { return inbox_; }
  int queued() const;

 private:
  Puller(natsConnection* nc, std::string next_subject, std::string inbox, natsSubscription* sub)
      : nc_(nc), next_subject_(std::move(next_subject)), inbox_(std::move(inbox)), sub_(sub) {}
  static natsStatus reply(natsConnection* nc, natsMsg* m, const char* what);
  // One message from the subscription: a record message into `out`; a status message ending
  // the pull request whose reply subject is `current` sets `ended`; anything else is dropped.
  natsStatus take(int64_t timeout_ms, const std::string& current, std::vector<MsgPtr>& out, bool& ended,
                  bool& too_big);

  natsConnection* nc_;
  std::string next_subject_;  // $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
  std::string inbox_;         // pull request n answers to <inbox>.<n>
  natsSubscription* sub_;     // <inbox>.*
  uint64_t pulls_ = 0;
};

}  // namespace bp::nats

// RAII owner of a nats.c connection and its JetStream context, with the stream and consumer
// operations BatchPipe uses. The rest of the code never sees a raw natsConnection or jsCtx.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <map>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bp/result.h"

namespace bp::nats {

struct StreamSpec {
  std::string name;
  std::vector<std::string> subjects;
  bool interest_retention = false;  // false: limits retention
  bool discard_new = false;
  int64_t max_bytes = -1;
  std::chrono::seconds max_age{0};
  std::chrono::seconds duplicate_window{120};
  int replicas = 1;
  bool allow_direct = false;  // direct get by subject (used to page through dead letters)
};

// A message as stored in a stream.
struct StoredMessage {
  uint64_t sequence = 0;
  std::string data;
  std::map<std::string, std::string> headers;
};

struct ConsumerSpec {
  std::string durable;
  std::string filter_subject;
  std::chrono::seconds ack_wait{30};
  int64_t max_ack_pending = 20000;
};

class Client {
 public:
  // Connects with endless reconnects (the server may restart); fails only if the first connect fails.
  static Result<std::shared_ptr<Client>> connect(const std::string& url, const std::string& name);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const;

  // Creates the stream, or updates it to match the spec when it exists.
  Status ensure_stream(const StreamSpec& spec);
  // Creates the durable consumer; an existing consumer with that name is left as it is.
  Status ensure_consumer(const std::string& stream, const ConsumerSpec& spec);
  // Deletes the consumer; one that does not exist counts as deleted. `wait` bounds the wait for
  // the server's answer: one with a deep backlog can take the server longer than the library's
  // default 5 s, and a timeout here does not stop the server from finishing.
  Status delete_consumer(const std::string& stream, const std::string& durable,
                         std::chrono::milliseconds wait = std::chrono::seconds(5));
  Result<std::vector<std::string>> consumer_names(const std::string& stream);
  Result<bool> consumer_exists(const std::string& stream, const std::string& durable);
  // Messages the consumer has not had acked yet: pending delivery plus delivered and unacked.
  // kNotFound when there is no such consumer.
  Result<int64_t> consumer_backlog(const std::string& stream, const std::string& durable);

  // Stored messages on `subject` with sequence >= from, at most max (needs allow_direct).
  Result<std::vector<StoredMessage>> stored_messages(const std::string& stream, const std::string& subject,
                                                     uint64_t from, size_t max);
  Status delete_message(const std::string& stream, uint64_t sequence);
  // Synchronous JetStream publish with headers; msg_id deduplicates when non-empty.
  Status publish_stored(const std::string& subject, std::string_view data,
                        const std::map<std::string, std::string>& headers, const std::string& msg_id);

  // Core NATS publish (fire and forget, flushed by the library).
  Status publish(const std::string& subject, std::string_view data);

  natsConnection* connection() { return nc_; }
  jsCtx* jetstream() { return js_; }

 private:
  Client() = default;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

// Formats a nats.c failure, with the JetStream error code when there is one.
Error error_from(natsStatus status, jsErrCode js_code, const std::string& what);

// Ends a subscription: unsubscribes it at once and destroys it `grace` later (on a later call,
// from any thread). Use it instead of natsSubscription_Destroy for every subscription of a
// connection that stays open. nats.c 3.4 (Debian bookworm) looks up the subscription of an
// incoming message and locks it without holding a reference (fixed in nats.c 3.6.1, "Crash
// processing inbound message for destroyed subscription"): a subscription destroyed while a
// message for it was being read crashed the delivery worker on SIGTERM (docs/RELIABILITY.md).
// Once unsubscribed no new message finds it; the delay covers a read already past the lookup.
// The last few are left to the end of the process.
void retire(natsSubscription* sub, std::chrono::milliseconds grace = std::chrono::seconds(5));

}  // namespace bp::nats

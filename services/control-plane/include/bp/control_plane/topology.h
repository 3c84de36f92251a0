// The JetStream side of the control-plane: the streams, one durable consumer per destination,
// and the change events that keep caches elsewhere fresh.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bp/nats/client.h"
#include "bp/nats/subjects.h"
#include "bp/result.h"

namespace bp::control_plane {

inline constexpr const char* kIngestStream = "BP_INGEST";
inline constexpr const char* kDeadLetterStream = "BP_DLQ";
using nats::kChangeSubject;
using nats::ingest_subject;  // "bp.in.<uuid>"

struct TopologyOptions {
  int64_t ingest_max_bytes = int64_t{10} << 30;  // 10 GiB
  std::chrono::seconds duplicate_window{std::chrono::minutes(10)};
  std::chrono::seconds dead_letter_max_age{std::chrono::hours(24 * 14)};
  std::chrono::seconds ack_wait{30};
  int replicas = 1;
  // How long a management call waits for nats-server to delete a destination's consumers (all
  // of a pipe's together). The row is gone by then; a consumer still there is the reconcile's
  // to remove. Below the gateway's BP_CONTROL_PLANE_TIMEOUT_MS (5 s).
  std::chrono::milliseconds consumer_delete_wait{2000};
  // A deleted destination's consumer holding more messages than this is drained before it is
  // deleted, never deleted at once (decision 0021): nats-server 2.9 removes a deleted consumer's
  // messages under the lock of BP_INGEST, which every pipe's ingest waits for meanwhile.
  int64_t consumer_drain_above = 1000;
  // How fast a drain acks those messages, so that its removals leave the stream's lock to ingest
  // in between: at most this many messages a second, and this many bytes of them.
  int64_t consumer_drain_rate = 8000;
  int64_t consumer_drain_bytes_rate = int64_t{64} << 20;
  // A drain's pull that nats-server answers slower than this makes the drain pause (DrainPace).
  std::chrono::milliseconds consumer_drain_slow_answer{50};
};

// What one drain of a consumer did.
struct DrainedConsumer {
  int64_t acked = 0;
  int slow_answers = 0;                 // pulls answered slower than consumer_drain_slow_answer
  std::chrono::milliseconds paused{0};  // waited after them
};

std::string consumer_name(const std::string& destination_id);  // "dest-<uuid>"

// What changed, for the change event. Empty ids are left out.
struct Change {
  std::string kind;  // pipe.created, pipe.updated, pipe.deleted, destination.*, api_key.revoked, ...
  std::string workspace_id;
  std::string pipe_id;
  std::string destination_id;
  std::string api_key_id;
};

class Topology {
 public:
  Topology(std::shared_ptr<nats::Client> nats, TopologyOptions options)
      : nats_(std::move(nats)), options_(options) {}

  Status ensure_streams();
  Status create_consumer(const std::string& destination_id, const std::string& pipe_id);
  // Waits at most `wait` for the server's answer (see TopologyOptions::consumer_delete_wait).
  Status delete_consumer(const std::string& destination_id, std::chrono::milliseconds wait);
  Result<bool> consumer_exists(const std::string& destination_id);
  // Messages the destination's consumer holds (kNotFound when it has none).
  Result<int64_t> consumer_backlog(const std::string& destination_id);
  // For a deleted destination only: acks what its consumer holds, at consumer_drain_rate and
  // consumer_drain_bytes_rate at most, pausing after slow answers (DrainPace), until nothing is
  // left to take or `stop` is set.
  // Messages a worker still holds unacked are not taken; they come back after AckWait.
  Result<DrainedConsumer> drain_consumer(const std::string& destination_id, const std::atomic<bool>& stop);
  const TopologyOptions& options() const { return options_; }
  // Dead letters of one destination from sequence `from` on.
  Result<std::vector<nats::StoredMessage>> dead_letters(const std::string& pipe_id, const std::string& destination_id,
                                                        uint64_t from, size_t max);
  // Publishes a dead letter back onto the pipe's subject for that destination only, then removes it.
  Status replay(const std::string& pipe_id, const std::string& destination_id, const nats::StoredMessage& dead);
  // Best effort: a lost event only delays a cache refresh until its TTL.
  void publish_change(const Change& change);
  bool healthy() const { return nats_->connected(); }

 private:
  std::shared_ptr<nats::Client> nats_;
  TopologyOptions options_;
};

}  // namespace bp::control_plane

// Streams, consumers and change events on JetStream.
#include "bp/control_plane/topology.h"

#include <algorithm>
#include <thread>

#include "bp/control_plane/drain_pace.h"
#include "bp/json.h"
#include "bp/log.h"
#include "bp/nats/puller.h"

namespace bp::control_plane {

std::string consumer_name(const std::string& destination_id) { return "dest-" + destination_id; }

Status Topology::ensure_streams() {
  nats::StreamSpec ingest;
  ingest.name = kIngestStream;
  ingest.subjects = {ingest_subject(">")};
  ingest.interest_retention = true;  // freed once every destination of the pipe has acked
  ingest.discard_new = true;         // a full buffer is back-pressure (503), never silent loss
  ingest.max_bytes = options_.ingest_max_bytes;
  ingest.duplicate_window = options_.duplicate_window;
  ingest.replicas = options_.replicas;
  if (auto s = nats_->ensure_stream(ingest); !s) return s;

  nats::StreamSpec dlq;
  dlq.name = kDeadLetterStream;
  dlq.subjects = {"bp.dlq.>"};
  dlq.max_age = options_.dead_letter_max_age;
  dlq.duplicate_window = std::chrono::minutes(10);
  dlq.allow_direct = true;
  dlq.replicas = options_.replicas;
  return nats_->ensure_stream(dlq);
}

Status Topology::create_consumer(const std::string& destination_id, const std::string& pipe_id) {
  nats::ConsumerSpec spec;
  spec.durable = consumer_name(destination_id);
  spec.filter_subject = ingest_subject(pipe_id);
  spec.ack_wait = options_.ack_wait;
  return nats_->ensure_consumer(kIngestStream, spec);
}

Status Topology::delete_consumer(const std::string& destination_id, std::chrono::milliseconds wait) {
  return nats_->delete_consumer(kIngestStream, consumer_name(destination_id), wait);
}

Result<bool> Topology::consumer_exists(const std::string& destination_id) {
  return nats_->consumer_exists(kIngestStream, consumer_name(destination_id));
}

Result<int64_t> Topology::consumer_backlog(const std::string& destination_id) {
  return nats_->consumer_backlog(kIngestStream, consumer_name(destination_id));
}

Result<DrainedConsumer> Topology::drain_consumer(const std::string& destination_id, const std::atomic<bool>& stop) {
  using Clock = DrainPace::Clock;
  // A hundred messages at a time; at most 8 MiB, far below what makes nats-server drop the
  // connection as a slow consumer (see nats::Puller::fetch).
  constexpr int kBatch = 100;
  constexpr int64_t kMaxBytes = int64_t{8} << 20;
  natsConnection* nc = nats_->connection();
  std::unique_ptr<nats::Puller> puller;
  const std::string consumer = consumer_name(destination_id);
  auto failed = [&consumer](natsStatus s, const char* what) {
    return nats::error_from(s, static_cast<jsErrCode>(0), std::string(what) + " consumer " + consumer);
  };
  if (natsStatus s = nats::Puller::open(nc, kIngestStream, consumer, puller); s != NATS_OK) {
    return failed(s, "cannot pull from");
  }
  DrainPace pace(Clock::now(), options_.consumer_drain_rate, options_.consumer_drain_bytes_rate,
                 options_.consumer_drain_slow_answer);
  DrainedConsumer drained;
  std::vector<nats::MsgPtr> batch;
  while (!stop.load()) {
    batch.clear();
    const auto pulled = Clock::now();
    // With nothing to take the server answers once the wait is over: the end costs one wait.
    natsStatus s = puller->fetch(kBatch, std::chrono::milliseconds(250), batch, kMaxBytes);
    if (s == NATS_TIMEOUT) break;  // nothing left to take now
    if (s != NATS_OK) return failed(s, "cannot pull from");
    const auto answered = Clock::now();
    int64_t bytes = 0;
    for (auto& m : batch) {
      if (natsStatus a = nats::Puller::ack(nc, m.get()); a != NATS_OK) {
        return failed(a, "cannot ack for");
      }
      bytes += natsMsg_GetDataLength(m.get());
    }
    drained.acked += static_cast<int64_t>(batch.size());
    // The acks reach the server before the next batch is taken, so the pace holds there too.
    if (natsStatus f = natsConnection_FlushTimeout(nc, 5000); f != NATS_OK) {
      return failed(f, "cannot flush acks for");
    }
    // A short batch means the consumer ran (nearly) dry, and its pull may have waited for its first
    // message, not for the server: its time is not judged. Full is by count, or by the byte cap.
    const bool judged = batch.size() == static_cast<size_t>(kBatch) || bytes >= kMaxBytes / 2;
    const auto next =
        pace.after_batch(Clock::now(), static_cast<int64_t>(batch.size()), bytes, answered - pulled, judged);
    // In steps, so that a stop does not wait out a pause.
    while (!stop.load() && Clock::now() < next) {
      std::this_thread::sleep_until(std::min(next, Clock::now() + std::chrono::milliseconds(100)));
    }
  }
  drained.slow_answers = pace.slow_answers();
  drained.paused = std::chrono::duration_cast<std::chrono::milliseconds>(pace.paused());
  return drained;
}

Result<std::vector<nats::StoredMessage>> Topology::dead_letters(const std::string& pipe_id,
                                                                 const std::string& destination_id, uint64_t from,
                                                                 size_t max) {
  return nats_->stored_messages(kDeadLetterStream, "bp.dlq." + pipe_id + "." + destination_id, from, max);
}

Status Topology::replay(const std::string& pipe_id, const std::string& destination_id, const nats::StoredMessage& dead) {
  std::map<std::string, std::string> headers;
  for (const char* h : {"Bp-Record-Id", "Bp-Received-At"}) {
    auto it = dead.headers.find(h);
    if (it != dead.headers.end()) headers[h] = it->second;
  }
  headers["Bp-Only-Destination"] = destination_id;
  std::string msg_id = "replay:" + destination_id + ":" + std::to_string(dead.sequence);
  if (auto s = nats_->publish_stored(ingest_subject(pipe_id), dead.data, headers, msg_id); !s) return s;
  return nats_->delete_message(kDeadLetterStream, dead.sequence);
}

void Topology::publish_change(const Change& change) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  w.Key("kind");
  w.String(change.kind);
  for (const auto& [key, value] : {std::pair{"workspace_id", &change.workspace_id},
                                   {"pipe_id", &change.pipe_id},
                                   {"destination_id", &change.destination_id},
                                   {"api_key_id", &change.api_key_id}}) {
    if (value->empty()) continue;
    w.Key(key);
    w.String(*value);
  }
  w.EndObject();
  if (auto s = nats_->publish(kChangeSubject, std::string_view(buffer.GetString(), buffer.GetSize())); !s) {
    log::warn("change event not published", {{"kind", change.kind}, {"error", s.error().message}});
  }
}

}  // namespace bp::control_plane

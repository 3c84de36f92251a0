// Streams, consumers and change events on JetStream.
#include "bp/control_plane/topology.h"

#include "bp/json.h"
#include "bp/log.h"

namespace bp::control_plane {

std::string consumer_name(const std::string& destination_id) { return "dest-" + destination_id; }
std::string ingest_subject(const std::string& pipe_id) { return "bp.in." + pipe_id; }

Status Topology::ensure_streams() {
  nats::StreamSpec ingest;
  ingest.name = kIngestStream;
  ingest.subjects = {"bp.in.>"};
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

Status Topology::delete_consumer(const std::string& destination_id) {
  return nats_->delete_consumer(kIngestStream, consumer_name(destination_id));
}

Result<bool> Topology::consumer_exists(const std::string& destination_id) {
  return nats_->consumer_exists(kIngestStream, consumer_name(destination_id));
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

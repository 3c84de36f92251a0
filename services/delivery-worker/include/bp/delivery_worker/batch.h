// What a sink writes: records with their stable ids, gathered from JetStream messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bp::delivery_worker {

struct Record {
  std::string id;           // <request_id>:<index>, stable across redeliveries
  std::string received_at;  // RFC 3339, when the gateway accepted it
  std::string json;         // the record object, serialized
  uint64_t source_sequence = 0;  // BP_INGEST sequence of the message it came in (0 = unknown)
};

struct DeliveryBatch {
  std::string id;  // stable for the batch's attempts (webhook-id, run id)
  std::vector<Record> records;
  size_t bytes = 0;

  void add(Record r) {
    bytes += r.json.size();
    records.push_back(std::move(r));
  }
};

}  // namespace bp::delivery_worker

// The one interface every sink implements, and the table that maps a destination type to its
// factory. Batching, retries and dead-lettering live in the worker core, never in a sink.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "bp/delivery_worker/batch.h"
#include "bp/json.h"
#include "bp/result.h"

namespace bp::delivery_worker {

struct SinkFailure {
  bool permanent = false;  // the sink rejects this batch for good (a type error, a 4xx)
  std::string message;
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Writes every record durably, or fails as a whole. Safe to call again with the same batch.
  virtual std::optional<SinkFailure> write(const DeliveryBatch& batch) = 0;
  // Called from another thread on shutdown: makes a write in progress return soon (as a
  // transient failure). Sinks whose writes are short need not do anything.
  virtual void cancel() {}
  // True when two instances of this sink, for one destination, may write different batches at
  // the same time: nothing the destination sees depends on the order of batches (a table keyed
  // by record id, signed webhook calls, objects named by batch). A file sink appends to one
  // file, so it writes one batch at a time.
  virtual bool parallel_writes() const { return false; }
};

// What sinks may need from the worker's settings.
struct SinkEnvironment {
  std::string destination_id;
  std::string file_root;         // BP_FILE_SINK_ROOT
  bool webhook_allow_private = false;
  std::string webhook_ca_file;  // extra trusted CA certificates (PEM) for https webhooks
  int writes_in_flight = 2;     // BP_WRITES_IN_FLIGHT: batches written at once, for sinks that allow it
};

using SinkFactory =
    std::function<Result<std::unique_ptr<Sink>>(const rapidjson::Value& config, const SinkEnvironment& env)>;

// nullptr for an unknown type.
const SinkFactory* find_sink_factory(const std::string& type);

}  // namespace bp::delivery_worker

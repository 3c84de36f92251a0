// Delivering one batch through a sink: transient failures are retried with backoff up to
// pl_delivery_max_attempts; a batch the sink rejects for good is split to isolate the records it
// refuses, which go to the dead-letter stream with the error. Shared by every sink.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "bp/delivery_worker/sink.h"
#include "bp/nats/client.h"

namespace bp::delivery_worker {

// BP_DLQ: one message per dead record, on bp.dlq.<pipe_id>.<destination_id>.
class DeadLetterQueue {
 public:
  DeadLetterQueue(std::shared_ptr<nats::Client> nats, std::string pipe_id, std::string destination_id)
      : nats_(std::move(nats)), pipe_id_(std::move(pipe_id)), destination_id_(std::move(destination_id)) {}
  virtual ~DeadLetterQueue() = default;
  virtual Status put(const Record& record, const std::string& error, int attempts);

 private:
  std::shared_ptr<nats::Client> nats_;
  std::string pipe_id_;
  std::string destination_id_;
};

struct DeliveryOutcome {
  int64_t delivered = 0;
  int64_t dead_lettered = 0;
  int attempts = 0;
  bool abandoned = false;  // stopped (shutdown, lost lease, DLQ unreachable): do not ack
  std::string last_error;
};

class BatchDelivery {
 public:
  // keep_waiting() is called while backing off; false abandons the batch.
  // on_retry(attempt, error) is told about every failed attempt (for "retrying" runs).
  BatchDelivery(Sink& sink, DeadLetterQueue& dlq, int64_t max_attempts, std::function<bool()> keep_waiting,
                std::function<void(int, const std::string&)> on_retry)
      : sink_(sink), dlq_(dlq), max_attempts_(max_attempts), keep_waiting_(std::move(keep_waiting)),
        on_retry_(std::move(on_retry)) {}

  DeliveryOutcome deliver(const DeliveryBatch& batch);

 private:
  void deliver_into(const DeliveryBatch& batch, DeliveryOutcome& out);
  void dead_letter(const DeliveryBatch& batch, const std::string& error, int attempts, DeliveryOutcome& out);
  bool wait(int attempt);

  Sink& sink_;
  DeadLetterQueue& dlq_;
  int64_t max_attempts_;
  std::function<bool()> keep_waiting_;
  std::function<void(int, const std::string&)> on_retry_;
};

}  // namespace bp::delivery_worker

// Retry, split, dead-letter: the one place sinks' failures are handled.
#include "bp/delivery_worker/batch_delivery.h"

#include <thread>

#include "bp/clock.h"
#include "bp/delivery_worker/backoff.h"

namespace bp::delivery_worker {

Status DeadLetterQueue::put(const Record& record, const std::string& error, int attempts) {
  std::string subject = "bp.dlq." + pipe_id_ + "." + destination_id_;
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, record.json.data(), static_cast<int>(record.json.size()));
  std::string failed_at = clock::now_rfc3339();
  std::string attempts_text = std::to_string(attempts);
  std::string reason = error.substr(0, 1024);
  for (auto& c : reason) {
    if (c == '\r' || c == '\n') c = ' ';  // header values are single lines
  }
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Record-Id", record.id.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Received-At", record.received_at.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Failed-At", failed_at.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Attempts", attempts_text.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Bp-Error", reason.c_str());
  jsPubOptions po;
  jsPubOptions_Init(&po);
  // A redelivery of the same ingest message dead-letters its record once; a replayed record comes
  // in a new message (a new sequence), so failing again makes it a dead letter again.
  std::string msg_id = "dlq:" + destination_id_ + ":" + record.id + ":" + std::to_string(record.source_sequence);
  po.MsgId = msg_id.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (s == NATS_OK) s = js_PublishMsg(&ack, nats_->jetstream(), msg, &po, &jerr);
  if (ack) jsPubAck_Destroy(ack);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) return nats::error_from(s, jerr, "cannot dead-letter record " + record.id);
  return ok_status();
}

DeliveryOutcome BatchDelivery::deliver(const DeliveryBatch& batch) {
  DeliveryOutcome out;
  deliver_into(batch, out);
  return out;
}

bool BatchDelivery::wait(int attempt) {
  auto until = std::chrono::steady_clock::now() + backoff_delay(attempt);
  while (std::chrono::steady_clock::now() < until) {
    if (!keep_waiting_()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void BatchDelivery::dead_letter(const DeliveryBatch& batch, const std::string& error, int attempts,
                                DeliveryOutcome& out) {
  for (const auto& r : batch.records) {
    if (auto s = dlq_.put(r, error, attempts); !s) {
      out.abandoned = true;  // never ack what is neither delivered nor dead-lettered
      out.last_error = s.error().message;
      return;
    }
    ++out.dead_lettered;
  }
}

void BatchDelivery::deliver_into(const DeliveryBatch& batch, DeliveryOutcome& out) {
  for (int attempt = 1; !out.abandoned; ++attempt) {
    out.attempts = std::max(out.attempts, attempt);
    auto failure = sink_.write(batch);
    if (!failure) {
      out.delivered += static_cast<int64_t>(batch.records.size());
      return;
    }
    out.last_error = failure->message;
    if (failure->permanent) {
      if (batch.records.size() == 1) {
        dead_letter(batch, failure->message, attempt, out);
        return;
      }
      // Halve until the records the sink refuses stand alone; the rest is written.
      size_t half = batch.records.size() / 2;
      DeliveryBatch left, right;
      left.id = batch.id + "-a";
      right.id = batch.id + "-b";
      for (size_t i = 0; i < batch.records.size(); ++i) (i < half ? left : right).add(batch.records[i]);
      deliver_into(left, out);
      if (!out.abandoned) deliver_into(right, out);
      return;
    }
    if (attempt >= max_attempts_) {
      // A write cut short by a stop or a lost lease is not the records' fault: they go back.
      if (!keep_waiting_()) {
        out.abandoned = true;
        return;
      }
      dead_letter(batch, failure->message, attempt, out);
      return;
    }
    on_retry_(attempt, failure->message);
    if (!wait(attempt)) out.abandoned = true;
  }
}

}  // namespace bp::delivery_worker

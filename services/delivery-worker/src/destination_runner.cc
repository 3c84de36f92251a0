// The delivery loop of one destination.
#include "bp/delivery_worker/destination_runner.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "bp/clock.h"
#include "bp/delivery_worker/backoff.h"
#include "bp/delivery_worker/batch_delivery.h"
#include "bp/log.h"
#include "bp/nats/ingest_message.h"
#include "bp/nats/puller.h"
#include "bp/periodic.h"
#include "bp/uuid.h"

namespace bp::delivery_worker {
namespace {

using Clock = std::chrono::steady_clock;
using nats::MsgPtr;
using nats::Puller;

// Messages of the open batch, acked together once the sink has written them.
struct PendingBatch {
  DeliveryBatch batch;
  std::vector<MsgPtr> messages;
  Clock::time_point opened;
};

std::string header(natsMsg* m, const char* name) {
  const char* v = nullptr;
  return natsMsgHeader_Get(m, name, &v) == NATS_OK && v ? v : "";
}

// The records of one message: its JSON array, with ids derived from the request id. A replayed
// dead letter names the one destination it is for; the others skip it.
std::vector<Record> records_of(natsMsg* m, const std::string& destination_id) {
  std::vector<Record> out;
  uint64_t sequence = 0;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
    sequence = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
  }
  std::string only = header(m, "Bp-Only-Destination");
  if (!only.empty() && only != destination_id) return out;
  if (std::string record_id = header(m, "Bp-Record-Id"); !record_id.empty()) {
    // A replayed dead letter: one record, keeping its original id.
    out.push_back({record_id, header(m, "Bp-Received-At"), std::string(natsMsg_GetData(m), natsMsg_GetDataLength(m)),
                   sequence});
    return out;
  }
  std::string request_id = header(m, nats::ingest::kRequestIdHeader);
  std::string received_at = header(m, nats::ingest::kReceivedAtHeader);
  // One SAX pass writes each element out compactly (a DOM and a serialization of each record
  // took most of the worker's time per record).
  auto elements = json::split_array(std::string_view(natsMsg_GetData(m), natsMsg_GetDataLength(m)), 256);
  if (!elements) return out;
  out.reserve(elements->size());
  // Several requests in one message (decision 0014): each record takes its own request's id,
  // index and time.
  if (std::string listed = header(m, nats::ingest::kRequestsHeader); !listed.empty()) {
    auto spans = nats::ingest::parse_requests(listed);
    // Counts are positive; the sum stops once past the records (no overflow on a forged one).
    int64_t total = 0, records = static_cast<int64_t>(elements->size());
    if (spans) {
      for (const auto& span : *spans) {
        total += std::min(span.count, records + 1);
        if (total > records) break;
      }
    }
    if (spans && total == records) {
      auto record = elements->begin();
      for (const auto& span : *spans) {
        for (int64_t index = 0; index < span.count; ++index, ++record) {
          out.push_back({span.request_id + ":" + std::to_string(index), span.received_at, std::move(*record), sequence});
        }
      }
      return out;
    }
    // Only a gateway writes these, so this is a bug somewhere: the records are still delivered,
    // with ids from the first request (stable across redeliveries), rather than held back.
    log::error("an ingest message's Bp-Requests does not match its records",
               {{"destination_id", destination_id}, {"request_id", request_id},
                {"records", std::to_string(elements->size())}, {"listed", std::to_string(total)}});
  }
  int index = 0;
  for (auto& record : *elements) {
    out.push_back({request_id + ":" + std::to_string(index++), received_at, std::move(record), sequence});
  }
  return out;
}

// Times and counts every write of the sink it wraps.
class MeasuredSink final : public Sink {
 public:
  void cancel() override { inner_->cancel(); }
  bool parallel_writes() const override { return inner_->parallel_writes(); }
  MeasuredSink(std::unique_ptr<Sink> inner, std::string type, std::shared_ptr<WorkerMetrics> metrics)
      : inner_(std::move(inner)), type_(std::move(type)), metrics_(std::move(metrics)) {}
  std::optional<SinkFailure> write(const DeliveryBatch& batch) override {
    auto started = Clock::now();
    auto failure = inner_->write(batch);
    if (failure) {
      metrics_->sink_error(type_);
    } else {
      metrics_->batch_written(type_, static_cast<int64_t>(batch.records.size()), Clock::now() - started);
    }
    return failure;
  }

 private:
  std::unique_ptr<Sink> inner_;
  std::string type_;
  std::shared_ptr<WorkerMetrics> metrics_;
};

}  // namespace

BatchLimits BatchLimits::from(const ::batchpipe::v1::PipeLimits& l) {
  BatchLimits b;
  if (l.has_pl_delivery_max_records()) b.max_records = l.pl_delivery_max_records();
  if (l.has_pl_delivery_max_bytes()) b.max_bytes = l.pl_delivery_max_bytes();
  if (l.has_pl_delivery_max_interval_ms()) b.max_interval = std::chrono::milliseconds(l.pl_delivery_max_interval_ms());
  if (l.has_pl_delivery_max_attempts()) b.max_attempts = l.pl_delivery_max_attempts();
  return b;
}

DestinationRunner::DestinationRunner(::batchpipe::v1::DeliveryDestination destination,
                                     std::shared_ptr<nats::Client> nats, std::shared_ptr<Leases> leases,
                                     std::shared_ptr<RunReporter> reporter, SinkEnvironment env,
                                     std::shared_ptr<WorkerMetrics> metrics)
    : destination_(std::move(destination)),
      nats_(std::move(nats)),
      leases_(std::move(leases)),
      reporter_(std::move(reporter)),
      env_(std::move(env)),
      metrics_(std::move(metrics)),
      limits_(BatchLimits::from(destination_.limits())) {
  env_.destination_id = destination_.destination().id();
}

DestinationRunner::~DestinationRunner() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void DestinationRunner::start() { thread_ = std::thread([this] { run(); }); }

void DestinationRunner::stop() {
  stop_ = true;
  std::lock_guard lock(sink_mutex_);
  for (Sink* sink : active_sinks_) sink->cancel();
}

bool DestinationRunner::deliverable() const {
  return destination_.destination().destination_status() == "active" && destination_.pipe_status() != "paused";
}

namespace {

// Messages this runner fetched but will not deliver: negatively acknowledged, so that the
// consumer hands them out again now rather than after AckWait (30 s by default).
void give_back(natsConnection* nc, PendingBatch& pending) {
  for (auto& m : pending.messages) Puller::nak(nc, m.get());
  pending.messages.clear();
}

// Renews one destination's lease every `every` on a thread of its own until destroyed, so that
// a slow KV round trip never holds up fetching or writing: they only read `lost`, which turns
// true when a renewal fails (another worker may own the destination now).
class LeaseKeeper {
 public:
  LeaseKeeper(Leases& leases, std::string id, std::chrono::milliseconds every, std::atomic<bool>& lost)
      : periodic_(every, [&leases, id = std::move(id), every, &lost] {
          auto started = Clock::now();
          bool kept = leases.renew(id);
          auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
          if (took > every / 4) {
            log::warn("lease renewal was slow", {{"destination_id", id}, {"ms", std::to_string(took.count())}});
          }
          if (!kept) lost = true;
          return kept;
        }) {}

 private:
  Periodic periodic_;
};

}  // namespace

void DestinationRunner::run() {
  loop();
  finished_ = true;
}

void DestinationRunner::loop() {
  const auto& d = destination_.destination();
  const std::string& id = d.id();
  if (!deliverable()) return;  // blocked or paused: records wait in the stream

  auto config = json::parse(d.config_json());
  const SinkFactory* factory = find_sink_factory(d.type());
  if (!config || !factory) {
    log::error("destination cannot be delivered", {{"destination_id", id}, {"type", d.type()}});
    return;
  }
  // One sink per write in flight (each with its own connection), when the sink allows
  // parallel writes; otherwise one.
  std::vector<std::unique_ptr<Sink>> sinks;
  for (int i = 0; i < std::max(1, env_.writes_in_flight); ++i) {
    auto made = (*factory)(*config, env_);
    if (!made) {
      log::error("destination cannot be delivered", {{"destination_id", id}, {"error", made.error().message}});
      return;
    }
    sinks.push_back(std::make_unique<MeasuredSink>(std::move(made).value(), d.type(), metrics_));
    if (!sinks.front()->parallel_writes()) break;
  }
  struct ActiveSinks {  // registered for stop() while this loop may write
    DestinationRunner* runner;
    ActiveSinks(DestinationRunner* r, const std::vector<std::unique_ptr<Sink>>& sinks) : runner(r) {
      std::lock_guard lock(r->sink_mutex_);
      for (const auto& s : sinks) {
        r->active_sinks_.push_back(s.get());
        if (r->stop_) s->cancel();
      }
    }
    ~ActiveSinks() {
      std::lock_guard lock(runner->sink_mutex_);
      runner->active_sinks_.clear();
    }
  } active{this, sinks};

  auto sleep_for = [&](std::chrono::milliseconds d) {
    auto until = Clock::now() + d;
    while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  while (!stop_ && !leases_->acquire(id)) sleep_for(std::chrono::milliseconds(1000) + backoff_delay(0));
  if (stop_) return;

  // The consumer is the control-plane's (one per destination); a destination whose consumer is
  // gone cannot be delivered until the control-plane's reconcile makes it again.
  natsConnection* nc = nats_->connection();
  auto exists = nats_->consumer_exists("BP_INGEST", destination_.consumer_name());
  std::string unbound = !exists ? exists.error().message : !*exists ? "no such consumer" : "";
  std::unique_ptr<Puller> puller;
  natsStatus s = NATS_OK;
  if (unbound.empty() && (s = Puller::open(nc, "BP_INGEST", destination_.consumer_name(), puller)) != NATS_OK) {
    unbound = natsStatus_GetText(s);
  }
  if (!unbound.empty()) {
    log::error("cannot bind to the consumer", {{"destination_id", id}, {"error", unbound}});
    leases_->release(id);
    return;
  }

  DeadLetterQueue dlq(nats_, d.pipe_id(), id);
  std::atomic<bool> lease_lost{false};  // the loop and the writers stop; unacked messages go back
  // Declared before the writes (whose futures wait for their threads), so that it outlives them;
  // it stops renewing just before the lease is released.
  std::optional<LeaseKeeper> keeper(std::in_place, *leases_, id, leases_->ttl() / 3, lease_lost);
  // Writes one sealed batch (on a writer thread) through one of the sinks. True: the sink took
  // it, its messages are to be acked; false: the runner stops or lost its lease first, and they
  // are to be given back. Only the loop thread touches the batch's messages.
  auto write = [&](Sink& sink, PendingBatch& batch) -> bool {
    ::batchpipe::v1::DeliveryRun run;
    run.set_id(batch.batch.id);
    run.set_pipe_id(d.pipe_id());
    run.set_destination_id(id);
    run.set_records(static_cast<int64_t>(batch.batch.records.size()));
    run.set_bytes(static_cast<int64_t>(batch.batch.bytes));
    run.set_started_at(clock::now_rfc3339());
    auto keep_waiting = [&]() { return !stop_ && !lease_lost; };
    auto on_retry = [&](int attempt, const std::string& error) {
      run.set_attempts(attempt);
      run.set_status("retrying");
      run.set_error(error);
      reporter_->report_run(run);
      log::warn("delivery failed", {{"destination_id", id}, {"attempt", std::to_string(attempt)}, {"error", error}});
    };
    BatchDelivery delivery(sink, dlq, limits_.max_attempts, keep_waiting, on_retry);
    DeliveryOutcome outcome = batch.batch.records.empty() ? DeliveryOutcome{} : delivery.deliver(batch.batch);
    if (outcome.abandoned) return false;
    run.set_attempts(std::max(outcome.attempts, 1));
    run.set_status(outcome.dead_lettered == 0 ? "success" : "failed");
    run.set_error(outcome.dead_lettered == 0
                      ? ""
                      : std::to_string(outcome.dead_lettered) + " records dead-lettered: " + outcome.last_error);
    run.set_finished_at(clock::now_rfc3339());
    if (outcome.dead_lettered > 0) metrics_->dead_lettered(d.type(), outcome.dead_lettered);
    if (!batch.batch.records.empty()) {
      reporter_->report_run(run);
      reporter_->report_delivered(d.pipe_id(), outcome.delivered, outcome.dead_lettered);
    }
    return true;
  };

  // Batches are written while the next one fills from the consumer (fetching and parsing
  // overlap the writes), and a written batch is acked while others are written. Up to one
  // write per sink is in flight; batches may finish out of order (each message is acked on
  // its own). The loop is told when any write ends, whichever was started first: a sink that
  // is done takes the next batch at once, even while an older write goes on (declared before
  // the writes, whose futures wait for their threads, so that it outlives them).
  std::mutex ended_mutex;
  std::condition_variable write_ended;
  struct Write {
    std::future<bool> done;  // write()'s answer
    std::shared_ptr<std::atomic<bool>> ended;  // set (under ended_mutex) as write() returns
    Sink* sink;
    std::shared_ptr<PendingBatch> batch;
    Clock::time_point beat;  // its messages were last marked in progress
  };
  std::deque<Write> in_flight;  // oldest first
  std::vector<Sink*> idle;
  for (auto it = sinks.rbegin(); it != sinks.rend(); ++it) idle.push_back(it->get());
  PendingBatch pending;
  std::vector<MsgPtr> fetched;  // the last fetch; taken one by one into the pending batch
  std::vector<MsgPtr> given_back;  // fetched after the loop was told to stop: NAKed at the end
  auto last_pull_expires = Clock::now();  // when the server drops this loop's last pull request
  // What one pull may bring: about a batch (1-8 MiB). A pull of 256 joined messages of up to a
  // tenth of an 8-MiB batch each was 200 MB, and nats-server dropped the worker's connection as
  // a slow consumer (Puller::fetch); the worker's runners share that connection.
  const int64_t fetch_bytes = std::clamp<int64_t>(limits_.max_bytes, int64_t{1} << 20, int64_t{8} << 20);
  // Messages held longer than a second (behind or inside a slow write) are marked in
  // progress each second, so that AckWait does not hand them out again, to this loop's next
  // fetch or to anyone else, however long the sink takes or retries.
  auto in_progress = [nc](const std::vector<MsgPtr>& messages) {
    for (const auto& m : messages) {
      if (m) Puller::in_progress(nc, m.get());
    }
  };
  auto waiting_beat = Clock::now();
  auto heartbeat = [&](bool waiting) {
    auto now = Clock::now();
    for (auto& w : in_flight) {
      if (now - w.beat < std::chrono::seconds(1)) continue;
      in_progress(w.batch->messages);
      w.beat = now;
    }
    if (!waiting) return;
    if (now - waiting_beat < std::chrono::seconds(1)) return;
    in_progress(pending.messages);
    in_progress(fetched);
    waiting_beat = now;
  };
  auto settle = [&](std::deque<Write>::iterator it) {
    idle.push_back(it->sink);
    bool written = it->done.get();
    if (written) {
      for (auto& m : it->batch->messages) Puller::ack(nc, m.get());
    } else {
      give_back(nc, *it->batch);
    }
    return in_flight.erase(it);
  };
  // Acks (or gives back) every write that has ended.
  auto settle_finished = [&]() {
    for (auto it = in_flight.begin(); it != in_flight.end();) {
      it = it->ended->load() ? settle(it) : std::next(it);
    }
    heartbeat(false);
  };
  // Waits until a sink is free (or, with all = true, until every write has ended).
  auto wait_for_writes = [&](bool all) {
    waiting_beat = Clock::now();
    for (;;) {
      settle_finished();
      if (all ? in_flight.empty() : !idle.empty()) return;
      {
        std::unique_lock lock(ended_mutex);
        write_ended.wait_for(lock, std::chrono::milliseconds(100), [&] {
          return std::any_of(in_flight.begin(), in_flight.end(), [](const Write& w) { return w.ended->load(); });
        });
      }
      heartbeat(true);
    }
  };
  auto flush = [&]() {
    if (pending.messages.empty()) return;
    settle_finished();
    if (idle.empty()) wait_for_writes(false);
    if (stop_ || lease_lost) return;  // the loop ends and gives the pending batch back
    Sink* sink = idle.back();
    idle.pop_back();
    auto batch = std::make_shared<PendingBatch>(std::move(pending));
    pending = PendingBatch{};
    auto ended = std::make_shared<std::atomic<bool>>(false);
    auto done = std::async(std::launch::async, [&write, &ended_mutex, &write_ended, sink, batch, ended] {
      bool written = false;
      try {
        written = write(*sink, *batch);
      } catch (const std::exception& e) {  // the batch goes back; the loop carries on
        log::error("batch write failed", {{"error", e.what()}});
      } catch (...) {
        log::error("batch write failed", {{"error", "unknown exception"}});
      }
      {
        std::lock_guard lock(ended_mutex);
        ended->store(true);
      }
      write_ended.notify_one();
      return written;
    });
    in_flight.push_back({std::move(done), ended, sink, batch, Clock::now()});
  };

  while (!stop_ && !lease_lost) {
    // A written batch is acked as soon as its write ends, even when no next batch follows.
    settle_finished();
    bool writing = !in_flight.empty();
    // While a write runs, fetches are short so that its end is noticed soon.
    auto wait = writing ? std::min(limits_.max_interval, std::chrono::milliseconds(50)) : limits_.max_interval;
    if (!pending.messages.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(pending.opened + limits_.max_interval - Clock::now());
      if (left <= std::chrono::milliseconds(0)) {
        flush();
        continue;
      }
      wait = std::min(wait, left);
    }
    auto timeout = std::min<std::chrono::milliseconds>(std::max(wait, std::chrono::milliseconds(10)), std::chrono::milliseconds(1000));
    fetched.clear();
    s = puller->fetch(static_cast<int>(std::min<int64_t>(limits_.max_records, 256)), timeout, fetched, fetch_bytes);
    // Its last pull request was sent before now, so it is gone from the server by then (a fetch
    // may send two: see Puller::fetch).
    last_pull_expires = Clock::now() + timeout;
    if (s != NATS_OK && s != NATS_TIMEOUT) {
      log::warn("fetch failed", {{"destination_id", id}, {"error", natsStatus_GetText(s)}});
      sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    // A message stays in `fetched` until it is in the pending batch (or given back), so that
    // waiting for a writer keeps it marked in progress.
    for (auto& next : fetched) {
      if (stop_ || lease_lost) {
        given_back.push_back(std::move(next));
        continue;
      }
      auto records = records_of(next.get(), id);
      size_t bytes = 0;
      for (const auto& r : records) bytes += r.json.size();
      bool full = !pending.messages.empty() &&
                  (static_cast<int64_t>(pending.batch.records.size() + records.size()) > limits_.max_records ||
                   static_cast<int64_t>(pending.batch.bytes + bytes) > limits_.max_bytes);
      if (full) flush();
      MsgPtr m = std::move(next);
      if (stop_ || lease_lost) {
        given_back.push_back(std::move(m));
        continue;
      }
      if (pending.messages.empty()) {
        pending.batch.id = uuid::v4();
        pending.opened = Clock::now();
      }
      for (auto& r : records) pending.batch.add(std::move(r));
      pending.messages.push_back(std::move(m));
      if (static_cast<int64_t>(pending.batch.records.size()) >= limits_.max_records ||
          static_cast<int64_t>(pending.batch.bytes) >= limits_.max_bytes) {
        flush();
      }
    }
  }
  // Unflushed messages go back to the consumer at once (a successor runner, after a settings
  // change or on another worker, fetches them again) instead of after AckWait. But not while a
  // pull request of this loop may still be open on the server: nats-server 2.9 (fixed upstream
  // later) rewinds the consumer's stream position when a redelivery finds its pull request gone
  // (expired, or its subscriber gone), so the message given back waits for AckWait and the next
  // message already delivered is delivered again as new: the next runner got one record twice
  // and another 5 s late (docs/RELIABILITY.md). Fetches are short (50 ms while a write runs, at
  // most 1 s), so this costs a stop that much at most, and nothing when there is nothing to give
  // back (a write still in flight may fail and give its batch back).
  if (!given_back.empty() || !pending.messages.empty() || !in_flight.empty()) {
    std::this_thread::sleep_until(last_pull_expires + std::chrono::milliseconds(100));
  }
  if (!in_flight.empty()) wait_for_writes(true);
  for (auto& m : given_back) Puller::nak(nc, m.get());
  given_back.clear();
  give_back(nc, pending);
  pending = PendingBatch{};
  puller.reset();
  keeper.reset();
  leases_->release(id);
}

}  // namespace bp::delivery_worker

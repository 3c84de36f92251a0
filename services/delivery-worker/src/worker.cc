// Reconciles runners with the control-plane's destination list.
#include "bp/delivery_worker/worker.h"

#include "bp/delivery_worker/async_reporter.h"
#include "bp/log.h"

namespace bp::delivery_worker {

namespace v1 = ::batchpipe::v1;

namespace {

std::unique_ptr<grpc::ClientContext> context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return ctx;
}

}  // namespace

void ControlPlaneReporter::report_run(const v1::DeliveryRun& run) {
  v1::ReportDeliveryRunRequest req;
  *req.mutable_run() = run;
  v1::DeliveryRun out;
  auto status = stub_->ReportDeliveryRun(context().get(), req, &out);
  if (!status.ok()) log::warn("run not reported", {{"run_id", run.id()}, {"error", status.error_message()}});
}

void ControlPlaneReporter::report_delivered(const std::string& pipe_id, int64_t delivered, int64_t failed) {
  v1::ReportUsageRequest req;
  req.set_pipe_id(pipe_id);
  req.mutable_delta()->set_records_delivered(delivered);
  req.mutable_delta()->set_records_failed(failed);
  v1::Empty out;
  auto status = stub_->ReportUsage(context().get(), req, &out);
  if (!status.ok()) log::warn("usage not reported", {{"pipe_id", pipe_id}, {"error", status.error_message()}});
}

Worker::Worker(WorkerOptions options, std::shared_ptr<v1::ControlPlane::StubInterface> stub,
               std::shared_ptr<nats::Client> nats, std::shared_ptr<Leases> leases)
    : options_(std::move(options)),
      stub_(stub),
      nats_(std::move(nats)),
      leases_(std::move(leases)),
      reporter_(std::make_shared<AsyncReporter>(std::make_shared<ControlPlaneReporter>(stub))) {}

Worker::~Worker() { stop(); }

void Worker::start() { thread_ = std::thread([this] { loop(); }); }

void Worker::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::unique_ptr<DestinationRunner>> runners;
  {
    std::lock_guard lock(mutex_);
    runners.swap(runners_);
  }
  for (auto& [id, r] : runners) r->stop();
  runners.clear();  // joins each runner; each releases its lease
}

void Worker::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  cv_.notify_all();
}

size_t Worker::runners() const {
  std::lock_guard lock(mutex_);
  return runners_.size();
}

std::vector<Worker::Held> Worker::held_destinations() const {
  std::vector<Held> held;
  std::lock_guard lock(mutex_);
  for (const auto& [id, runner] : runners_) {
    if (!leases_->holds(id)) continue;
    const auto& d = runner->destination();
    held.push_back({id, d.destination().type(), d.consumer_name()});
  }
  return held;
}

void Worker::loop() {
  for (;;) {
    refresh();
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, options_.refresh, [this] { return stop_ || poked_; });
    if (stop_) return;
    poked_ = false;
  }
}

void Worker::refresh() {
  v1::ListDeliveryDestinationsResponse list;
  auto status = stub_->ListDeliveryDestinations(context().get(), {}, &list);
  last_refresh_ok_ = status.ok();
  if (!status.ok()) {
    log::warn("cannot list destinations", {{"error", status.error_message()}});
    return;  // keep delivering what we have
  }
  std::map<std::string, v1::DeliveryDestination> wanted;
  for (const auto& d : list.destinations()) wanted[d.destination().id()] = d;

  std::vector<std::unique_ptr<DestinationRunner>> retired;
  std::lock_guard lock(mutex_);
  if (stop_) return;
  for (auto it = runners_.begin(); it != runners_.end();) {
    auto w = wanted.find(it->first);
    bool unchanged = w != wanted.end() && w->second.SerializeAsString() == it->second->destination().SerializeAsString();
    // A runner that gave up (lost its lease while NATS was away, say) gets a fresh start.
    if (unchanged && it->second->ended_by_itself() && it->second->deliverable()) unchanged = false;
    if (unchanged) {
      wanted.erase(w);
      ++it;
    } else {
      it->second->stop();
      retired.push_back(std::move(it->second));
      it = runners_.erase(it);
    }
  }
  // Changed runners are fully stopped (lease released) before their successor starts.
  retired.clear();
  for (auto& [id, d] : wanted) {
    auto runner = std::make_unique<DestinationRunner>(d, nats_, leases_, reporter_, options_.sink_env, metrics_);
    runner->start();
    runners_[id] = std::move(runner);
  }
}

}  // namespace bp::delivery_worker

// AsyncReporter: order of runs, usage added up while the control-plane is slow, nothing lost on
// a normal stop, a bounded queue.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "bp/delivery_worker/async_reporter.h"

namespace dw = bp::delivery_worker;

namespace {

// Records what reaches the control-plane; can hold every call until released (a slow server).
struct Recorder final : dw::RunReporter {
  std::mutex mutex;
  std::condition_variable cv;
  bool held = false;
  int entered = 0;
  std::vector<std::string> runs;  // "<id>:<status>"
  std::vector<std::tuple<std::string, int64_t, int64_t>> usage;

  void gate() {
    std::unique_lock lock(mutex);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [this] { return !held; });
  }
  void report_run(const ::batchpipe::v1::DeliveryRun& run) override {
    gate();
    std::lock_guard lock(mutex);
    runs.push_back(run.id() + ":" + run.status());
  }
  void report_delivered(const std::string& pipe_id, int64_t delivered, int64_t failed) override {
    gate();
    std::lock_guard lock(mutex);
    usage.emplace_back(pipe_id, delivered, failed);
  }
  void hold() {
    std::lock_guard lock(mutex);
    held = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex);
      held = false;
    }
    cv.notify_all();
  }
  void wait_entered(int n) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return entered >= n; });
  }
};

::batchpipe::v1::DeliveryRun run(const std::string& id, const std::string& status) {
  ::batchpipe::v1::DeliveryRun r;
  r.set_id(id);
  r.set_status(status);
  return r;
}

}  // namespace

TEST_CASE("runs reach the control-plane in the order they were reported") {
  auto inner = std::make_shared<Recorder>();
  dw::AsyncReporter reporter(inner);
  reporter.report_run(run("a", "retrying"));
  reporter.report_run(run("a", "success"));
  reporter.report_run(run("b", "success"));
  reporter.flush();
  CHECK(inner->runs == std::vector<std::string>{"a:retrying", "a:success", "b:success"});
}

TEST_CASE("usage of one pipe is added up while the control-plane is slow, runs are not merged") {
  auto inner = std::make_shared<Recorder>();
  dw::AsyncReporter reporter(inner);
  inner->hold();
  reporter.report_run(run("first", "success"));
  inner->wait_entered(1);  // the reporter is stuck in its first call
  for (int i = 0; i < 5; ++i) {
    reporter.report_run(run("r" + std::to_string(i), "success"));
    reporter.report_delivered("pipe-1", 100, 1);
  }
  reporter.report_delivered("pipe-2", 7, 0);
  inner->release();
  reporter.flush();
  CHECK(inner->runs.size() == 6);
  CHECK(inner->runs.back() == "r4:success");
  REQUIRE(inner->usage.size() == 2);
  CHECK(inner->usage[0] == std::make_tuple(std::string("pipe-1"), int64_t{500}, int64_t{5}));
  CHECK(inner->usage[1] == std::make_tuple(std::string("pipe-2"), int64_t{7}, int64_t{0}));
}

TEST_CASE("what is queued when the reporter stops is still sent") {
  auto inner = std::make_shared<Recorder>();
  {
    dw::AsyncReporter reporter(inner);
    inner->hold();
    reporter.report_run(run("x", "success"));
    inner->wait_entered(1);
    reporter.report_run(run("y", "success"));
    reporter.report_delivered("pipe", 3, 0);
    inner->release();
  }  // the destructor stops the reporter
  CHECK(inner->runs == std::vector<std::string>{"x:success", "y:success"});
  REQUIRE(inner->usage.size() == 1);
  CHECK(std::get<1>(inner->usage[0]) == 3);
}

TEST_CASE("beyond the queue's bound the oldest runs are dropped and counted") {
  auto inner = std::make_shared<Recorder>();
  dw::AsyncReporter reporter(inner, 3);
  inner->hold();
  reporter.report_run(run("in-flight", "success"));
  inner->wait_entered(1);
  for (int i = 0; i < 5; ++i) reporter.report_run(run("q" + std::to_string(i), "success"));
  CHECK(reporter.dropped_runs() == 2);
  inner->release();
  reporter.flush();
  CHECK(inner->runs == std::vector<std::string>{"in-flight:success", "q2:success", "q3:success", "q4:success"});
}

// Retry, split and dead-letter rules, with a scripted sink (our own interface) and a recording
// dead-letter queue.
#include <catch2/catch.hpp>

#include <set>

#include "bp/delivery_worker/batch_delivery.h"

using namespace bp::delivery_worker;

namespace {

// Refuses for good any batch containing a "poison" record; fails transiently `transient` times.
class ScriptedSink final : public Sink {
 public:
  int transient = 0;
  std::set<std::string> written;
  int calls = 0;
  std::optional<SinkFailure> write(const DeliveryBatch& batch) override {
    ++calls;
    if (transient > 0) {
      --transient;
      return SinkFailure{false, "connection refused"};
    }
    for (const auto& r : batch.records) {
      if (r.json.find("poison") != std::string::npos) return SinkFailure{true, "invalid input syntax"};
    }
    for (const auto& r : batch.records) written.insert(r.id);
    return std::nullopt;
  }
};

class RecordingDlq final : public DeadLetterQueue {
 public:
  RecordingDlq() : DeadLetterQueue(nullptr, "p", "d") {}
  std::vector<std::pair<std::string, std::string>> dead;  // id, error
  bool broken = false;
  bp::Status put(const Record& r, const std::string& error, int) override {
    if (broken) return bp::Error::unavailable("NATS down");
    dead.emplace_back(r.id, error);
    return bp::ok_status();
  }
};

DeliveryBatch batch(int n, std::set<int> poison = {}) {
  DeliveryBatch b;
  b.id = "batch";
  for (int i = 0; i < n; ++i) b.add({"r" + std::to_string(i), "", poison.count(i) ? R"({"x":"poison"})" : R"({"x":1})"});
  return b;
}

}  // namespace

TEST_CASE("a clean batch is written once") {
  ScriptedSink sink;
  RecordingDlq dlq;
  BatchDelivery d(sink, dlq, 5, [] { return true; }, [](int, const std::string&) {});
  auto out = d.deliver(batch(10));
  CHECK(out.delivered == 10);
  CHECK(out.dead_lettered == 0);
  CHECK_FALSE(out.abandoned);
  CHECK(sink.calls == 1);
}

TEST_CASE("permanent rejections are isolated by splitting, only the bad records are dead-lettered") {
  ScriptedSink sink;
  RecordingDlq dlq;
  BatchDelivery d(sink, dlq, 5, [] { return true; }, [](int, const std::string&) {});
  auto out = d.deliver(batch(16, {3, 11}));
  CHECK(out.delivered == 14);
  CHECK(out.dead_lettered == 2);
  REQUIRE(dlq.dead.size() == 2);
  CHECK(dlq.dead[0].first == "r3");
  CHECK(dlq.dead[1].first == "r11");
  CHECK(dlq.dead[0].second == "invalid input syntax");
  CHECK(sink.written.size() == 14);
  CHECK_FALSE(sink.written.count("r3"));
}

TEST_CASE("transient failures are retried and never dead-letter before max_attempts") {
  ScriptedSink sink;
  sink.transient = 3;
  RecordingDlq dlq;
  std::vector<int> retries;
  BatchDelivery d(sink, dlq, 5, [] { return true; }, [&](int attempt, const std::string&) { retries.push_back(attempt); });
  auto out = d.deliver(batch(4));
  CHECK(out.delivered == 4);
  CHECK(dlq.dead.empty());
  CHECK(retries == std::vector<int>{1, 2, 3});
  CHECK(out.attempts == 4);
}

TEST_CASE("a sink failing past max_attempts dead-letters the batch") {
  ScriptedSink sink;
  sink.transient = 100;
  RecordingDlq dlq;
  BatchDelivery d(sink, dlq, 3, [] { return true; }, [](int, const std::string&) {});
  auto out = d.deliver(batch(2));
  CHECK(out.delivered == 0);
  CHECK(out.dead_lettered == 2);
  CHECK(sink.calls == 3);
  CHECK(dlq.dead[0].second == "connection refused");
}

TEST_CASE("stopping while backing off abandons the batch (nothing acked, nothing dead-lettered)") {
  ScriptedSink sink;
  sink.transient = 100;
  RecordingDlq dlq;
  BatchDelivery d(sink, dlq, 50, [] { return false; }, [](int, const std::string&) {});
  auto out = d.deliver(batch(2));
  CHECK(out.abandoned);
  CHECK(dlq.dead.empty());
}

TEST_CASE("an unreachable dead-letter stream abandons the batch instead of losing records") {
  ScriptedSink sink;
  RecordingDlq dlq;
  dlq.broken = true;
  BatchDelivery d(sink, dlq, 5, [] { return true; }, [](int, const std::string&) {});
  auto out = d.deliver(batch(1, {0}));
  CHECK(out.abandoned);
  CHECK(out.dead_lettered == 0);
}

TEST_CASE("a last attempt that fails while the runner stops gives the batch back, not to the dead letters") {
  ScriptedSink sink;
  sink.transient = 1;  // the write cancelled by the stop
  RecordingDlq dlq;
  BatchDelivery d(sink, dlq, 1, [] { return false; }, [](int, const std::string&) {});
  auto out = d.deliver(batch(4));
  CHECK(out.abandoned);
  CHECK(out.dead_lettered == 0);
  CHECK(dlq.dead.empty());
}

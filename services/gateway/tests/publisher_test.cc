// The gateway's wire publisher against a real nats-server: requests to one pipe published in
// one turn of an I/O thread's event loop go out as one message (decision 0014), each answered by
// its ack; what cannot be joined goes alone; a message never outgrows the pipe's batch limits;
// soon after a message, the next lingers for the requests of later turns (decision 0016).
#include <catch2/catch.hpp>

#include <functional>
#include <future>
#include <set>
#include <thread>

#include "bp/gateway/publisher.h"
#include "bp/nats/client.h"
#include "bp/nats/ingest_message.h"
#include "bp/testing/environment.h"
#include "bp/uuid.h"

using bp::gateway::PublishOutcome;
using bp::gateway::PublishRequest;
using bp::gateway::WirePublisher;
using namespace std::chrono_literals;

namespace {

// One I/O thread with the gateway's wire publisher on it, and a stream of its own.
struct Harness {
  std::string url = bp::testing::nats_url();
  std::string stream = "PUBTEST_" + bp::uuid::v4().substr(0, 8);
  std::string prefix = "pubtest." + bp::uuid::v4().substr(0, 8);
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard = boost::asio::make_work_guard(io);
  std::unique_ptr<WirePublisher> publisher;
  std::shared_ptr<bp::nats::Client> client;
  std::thread thread;

  explicit Harness(size_t coalesce = WirePublisher::kDefaultCoalesce,
                   std::chrono::microseconds linger = WirePublisher::kDefaultLinger) {
    auto c = bp::nats::Client::connect(url, "gateway-publisher-test");
    REQUIRE(c);
    client = *c;
    bp::nats::StreamSpec spec;
    spec.name = stream;
    spec.subjects = {prefix + ".>"};
    spec.allow_direct = true;
    REQUIRE((client->ensure_stream(spec)));
    auto p = WirePublisher::create({&io}, url, 1000, 5000ms, coalesce, linger);
    REQUIRE(p);
    publisher = std::move(p).value();
    thread = std::thread([this] { io.run(); });
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!publisher->ready() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    REQUIRE(publisher->ready());
  }
  ~Harness() {
    publisher.reset();
    guard.reset();
    io.stop();
    thread.join();
  }

  // A request of `records` records {"r":"<id>","n":i} to pipe subject `<prefix>.<pipe>`.
  PublishRequest request(const std::string& pipe, int records, std::string msg_id = "") {
    PublishRequest r;
    r.subject = prefix + "." + pipe;
    r.request_id = bp::uuid::v4();
    r.received_at = "2026-12-06T04:00:00.000Z";
    r.record_count = records;
    r.msg_id = std::move(msg_id);
    r.payload = "[";
    for (int i = 0; i < records; ++i) {
      if (i) r.payload += ',';
      r.payload += R"({"r":")" + r.request_id + R"(","n":)" + std::to_string(i) + "}";
    }
    r.payload += "]";
    return r;
  }

  // Publishes all of `requests` from one handler of the I/O thread (one turn of its loop); the
  // futures hold their outcomes.
  std::vector<std::future<PublishOutcome>> post_publishes(std::vector<PublishRequest> requests) {
    std::vector<std::future<PublishOutcome>> futures;
    auto promises = std::make_shared<std::vector<std::promise<PublishOutcome>>>(requests.size());
    for (auto& p : *promises) futures.push_back(p.get_future());
    boost::asio::post(io, [this, promises, requests = std::move(requests)]() mutable {
      for (size_t i = 0; i < requests.size(); ++i) {
        boost::asio::co_spawn(io, publisher->publish(std::move(requests[i])),
                              [promises, i](std::exception_ptr, PublishOutcome o) { (*promises)[i].set_value(std::move(o)); });
      }
    });
    return futures;
  }

  // The same, waiting for every outcome.
  std::vector<PublishOutcome> publish_together(std::vector<PublishRequest> requests) {
    std::vector<PublishOutcome> out;
    for (auto& f : post_publishes(std::move(requests))) {
      REQUIRE(f.wait_for(10s) == std::future_status::ready);
      out.push_back(f.get());
    }
    return out;
  }

  // One request, alone in its turn.
  std::future<PublishOutcome> publish_later(PublishRequest request) {
    auto futures = post_publishes({std::move(request)});
    return std::move(futures.front());
  }

  // `n` requests of `records` records each to `pipe`, each then given `shape` (a pipe's limits).
  std::vector<PublishRequest> alike(const std::string& pipe, int n, int records,
                                    const std::function<void(PublishRequest&)>& shape = {}) {
    std::vector<PublishRequest> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(request(pipe, records));
      if (shape) shape(out.back());
    }
    return out;
  }

  // Publishes `requests` in one turn, checks that each was stored, and returns `pipe`'s messages.
  std::vector<bp::nats::StoredMessage> store_together(const std::vector<PublishRequest>& requests,
                                                      const std::string& pipe) {
    for (const auto& o : publish_together(requests)) CHECK(o.stored);
    return stored(pipe);
  }

  std::vector<bp::nats::StoredMessage> stored(const std::string& pipe) {
    auto m = client->stored_messages(stream, prefix + "." + pipe, 1, 1000);
    REQUIRE(m);
    return *m;
  }
};

std::string inner(const std::string& array) { return array.substr(1, array.size() - 2); }

}  // namespace

TEST_CASE("requests to one pipe in one turn go out as one message that names each of them", "[integration]") {
  Harness h;
  std::vector<PublishRequest> requests;
  for (int records : {1, 3, 2, 1}) requests.push_back(h.request("a", records));
  auto sent = requests;
  auto outcomes = h.publish_together(std::move(requests));
  for (const auto& o : outcomes) {
    CHECK(o.stored);
    CHECK_FALSE(o.duplicate);
    CHECK(o.error == "");
  }
  auto messages = h.stored("a");
  REQUIRE(messages.size() == 1);
  const auto& m = messages[0];
  CHECK(m.data == "[" + inner(sent[0].payload) + "," + inner(sent[1].payload) + "," + inner(sent[2].payload) + "," +
                      inner(sent[3].payload) + "]");
  CHECK(m.headers.at("Bp-Record-Count") == "7");
  CHECK(m.headers.at("Bp-Request-Id") == sent[0].request_id);
  CHECK(m.headers.count("Nats-Msg-Id") == 0);
  auto spans = bp::nats::ingest::parse_requests(m.headers.at("Bp-Requests"));
  REQUIRE(spans);
  REQUIRE(spans->size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK((*spans)[i].request_id == sent[i].request_id);
    CHECK((*spans)[i].count == sent[i].record_count);
    CHECK((*spans)[i].received_at == sent[i].received_at);
  }
  CHECK(h.publisher->in_flight() == 0);
}

TEST_CASE("a lone request, an idempotency key and another pipe each make a message as before", "[integration]") {
  Harness h;
  auto lone = h.publish_together({h.request("solo", 2)});
  REQUIRE(lone.size() == 1);
  CHECK(lone[0].stored);
  auto solo = h.stored("solo");
  REQUIRE(solo.size() == 1);
  CHECK(solo[0].headers.count("Bp-Requests") == 0);
  CHECK(solo[0].headers.at("Bp-Record-Count") == "2");

  std::vector<PublishRequest> requests = {h.request("a", 1), h.request("a", 1, "key-1"), h.request("b", 1),
                                          h.request("a", 1), h.request("b", 2)};
  auto outcomes = h.publish_together(requests);
  for (const auto& o : outcomes) CHECK(o.stored);
  auto a = h.stored("a");
  REQUIRE(a.size() == 2);  // the two plain requests together, the keyed one alone
  int keyed = 0, joined = 0;
  for (const auto& m : a) {
    if (m.headers.count("Nats-Msg-Id")) {
      ++keyed;
      CHECK(m.headers.at("Nats-Msg-Id") == "key-1");
      CHECK(m.headers.at("Bp-Request-Id") == requests[1].request_id);
      CHECK(m.headers.count("Bp-Requests") == 0);
    } else {
      ++joined;
      CHECK(m.headers.at("Bp-Record-Count") == "2");
      CHECK(m.data == "[" + inner(requests[0].payload) + "," + inner(requests[3].payload) + "]");
    }
  }
  CHECK(keyed == 1);
  CHECK(joined == 1);
  auto b = h.stored("b");
  REQUIRE(b.size() == 1);
  CHECK(b[0].headers.at("Bp-Record-Count") == "3");

  // The key repeated: a duplicate, answered as one, whatever else goes with it.
  auto again = h.publish_together({h.request("a", 1), h.request("a", 1, "key-1")});
  CHECK(again[0].stored);
  CHECK_FALSE(again[0].duplicate);
  CHECK(again[1].stored);
  CHECK(again[1].duplicate);
}

TEST_CASE("a message stays within the pipe's batch limits and the coalescing cap", "[integration]") {
  Harness h(3);
  // A message holds at most a tenth of the pipe's batch limits, so that batches close nearly
  // full. pl_delivery_max_records 50: requests of 2 records go two to a message.
  auto by_records = h.store_together(h.alike("records", 6, 2, [](PublishRequest& r) { r.batch_max_records = 50; }),
                                     "records");
  REQUIRE(by_records.size() == 3);
  for (const auto& m : by_records) CHECK(m.headers.at("Bp-Record-Count") == "4");

  // pl_delivery_max_bytes: no more than a tenth of it.
  auto by_bytes = h.store_together(h.alike("bytes", 4, 1,
                                           [](PublishRequest& r) {
                                             r.batch_max_bytes = static_cast<int64_t>(r.payload.size() * 2 + 1) * 10;
                                           }),
                                   "bytes");
  REQUIRE(by_bytes.size() == 2);
  for (const auto& m : by_bytes) CHECK(m.headers.at("Bp-Record-Count") == "2");

  // A request over a tenth of the limit on its own still goes, alone.
  auto big = h.store_together(h.alike("big", 3, 4, [](PublishRequest& r) { r.batch_max_records = 30; }), "big");
  REQUIRE(big.size() == 3);
  for (const auto& m : big) CHECK(m.headers.count("Bp-Requests") == 0);

  // The cap of 3 requests a message.
  auto requests = h.alike("cap", 7, 1);
  auto capped = h.store_together(requests, "cap");
  REQUIRE(capped.size() == 3);
  CHECK(capped[0].headers.at("Bp-Record-Count") == "3");
  CHECK(capped[1].headers.at("Bp-Record-Count") == "3");
  CHECK(capped[2].headers.at("Bp-Record-Count") == "1");
  // In order: the records of the seven requests, one after the other.
  std::string all;
  for (const auto& m : capped) all += (all.empty() ? "" : ",") + inner(m.data);
  std::string expected;
  for (const auto& r : requests) expected += (expected.empty() ? "" : ",") + inner(r.payload);
  CHECK(all == expected);
}

TEST_CASE("with BP_PUBLISH_COALESCE=1 every request is a message", "[integration]") {
  Harness h(1);
  std::vector<PublishRequest> requests;
  for (int i = 0; i < 5; ++i) requests.push_back(h.request("a", 1));
  for (const auto& o : h.publish_together(requests)) CHECK(o.stored);
  auto messages = h.stored("a");
  REQUIRE(messages.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(messages[i].headers.at("Bp-Request-Id") == requests[i].request_id);
    CHECK(messages[i].headers.count("Bp-Requests") == 0);
  }
}

TEST_CASE("a message no stream takes fails every request in it", "[integration]") {
  Harness h;
  std::string nowhere = "nostream." + bp::uuid::v4().substr(0, 8);
  std::vector<PublishRequest> requests;
  for (int i = 0; i < 3; ++i) {
    requests.push_back(h.request("a", 1));
    requests.back().subject = nowhere;
  }
  for (const auto& o : h.publish_together(requests)) {
    CHECK_FALSE(o.stored);
    CHECK(o.error == "no stream takes this subject (no responders)");
  }
  CHECK(h.publisher->in_flight() == 0);
}

namespace {

// Writes of the connection other than the one a test looks for would take a lingering message
// along: nats-server pings a new client after 2 s (our PONG), and the publisher pings 10 s after
// connecting. Such a test starts past the first and waits for its outcome no longer than 5 s.
void past_first_ping() { std::this_thread::sleep_for(2500ms); }
constexpr auto kBeforeOurPing = 5s;

}  // namespace

TEST_CASE("after a quiet spell of the linger a request goes at the end of its turn, without waiting",
          "[integration]") {
  // A linger far longer than the test waits for an outcome: a request held for it would fail
  // the wait.
  Harness h(WirePublisher::kDefaultCoalesce, std::chrono::minutes(1));
  past_first_ping();
  auto first = h.request("a", 1);
  auto quiet = h.publish_later(first);
  REQUIRE(quiet.wait_for(kBeforeOurPing) == std::future_status::ready);
  CHECK(quiet.get().stored);
  auto messages = h.stored("a");
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].headers.at("Bp-Request-Id") == first.request_id);
  CHECK(h.publisher->in_flight() == 0);
}

TEST_CASE("requests of later turns join a lingering message and each is answered by its ack", "[integration]") {
  Harness h(WirePublisher::kDefaultCoalesce, 1s);
  auto first = h.request("a", 1);
  auto f0 = h.publish_later(first);
  REQUIRE(f0.wait_for(10s) == std::future_status::ready);
  CHECK(f0.get().stored);
  // Well within a second of the first message: these two, in turns 20 ms apart, share one.
  auto second = h.request("a", 2), third = h.request("a", 1);
  auto f1 = h.publish_later(second);
  std::this_thread::sleep_for(20ms);
  auto f2 = h.publish_later(third);
  std::this_thread::sleep_for(20ms);
  CHECK(h.publisher->in_flight() == 2);  // gathered, not yet sent
  REQUIRE(f1.wait_for(10s) == std::future_status::ready);
  REQUIRE(f2.wait_for(10s) == std::future_status::ready);
  CHECK(f1.get().stored);
  CHECK(f2.get().stored);
  auto messages = h.stored("a");
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].headers.at("Bp-Request-Id") == first.request_id);
  CHECK(messages[1].data == "[" + inner(second.payload) + "," + inner(third.payload) + "]");
  auto spans = bp::nats::ingest::parse_requests(messages[1].headers.at("Bp-Requests"));
  REQUIRE(spans);
  REQUIRE(spans->size() == 2);
  CHECK((*spans)[0].request_id == second.request_id);
  CHECK((*spans)[1].request_id == third.request_id);
  CHECK(h.publisher->in_flight() == 0);
}

TEST_CASE("a write of the connection takes a lingering message along", "[integration]") {
  Harness h(WirePublisher::kDefaultCoalesce, std::chrono::minutes(1));
  past_first_ping();
  auto f0 = h.publish_later(h.request("a", 1));
  REQUIRE(f0.wait_for(10s) == std::future_status::ready);
  // Lingers (a minute) until the keyed request, which goes alone at once, takes it along.
  auto lingering = h.request("a", 1);
  auto f1 = h.publish_later(lingering);
  std::this_thread::sleep_for(20ms);
  auto keyed = h.request("a", 1, "key-linger");
  auto f2 = h.publish_later(keyed);
  REQUIRE(f2.wait_for(kBeforeOurPing) == std::future_status::ready);
  REQUIRE(f1.wait_for(1s) == std::future_status::ready);
  CHECK(f1.get().stored);
  CHECK(f2.get().stored);
  auto messages = h.stored("a");
  REQUIRE(messages.size() == 3);  // the first, then the keyed one and the lingering one in one write
  std::set<std::string> later = {messages[1].headers.at("Bp-Request-Id"), messages[2].headers.at("Bp-Request-Id")};
  CHECK(later == std::set<std::string>{lingering.request_id, keyed.request_id});
}

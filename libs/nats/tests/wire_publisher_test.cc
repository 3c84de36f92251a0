// The wire publisher against real nats-servers: acks, duplicates, refusals, timeouts, a server
// killed and restarted, credentials.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "bp/nats/client.h"
#include "bp/nats/wire.h"
#include "bp/testing/environment.h"
#include "bp/uuid.h"

namespace wire = bp::nats::wire;
using namespace std::chrono_literals;

namespace {

// An io_context on a thread of its own, with one wire publisher on it.
struct Harness {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard = boost::asio::make_work_guard(io);
  std::shared_ptr<wire::Publisher> publisher;
  std::thread thread;

  explicit Harness(const std::string& url, wire::Options options = {}) {
    auto servers = wire::parse_urls(url);
    REQUIRE(servers);
    options.servers = *servers;
    publisher = wire::Publisher::create(io, options);
    publisher->start();
    thread = std::thread([this] { io.run(); });
  }
  ~Harness() {
    publisher->stop();
    guard.reset();
    std::promise<void> stopped;
    boost::asio::post(io, [&] { stopped.set_value(); });
    stopped.get_future().wait_for(2s);
    io.stop();
    thread.join();
  }

  bool wait_connected(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!publisher->connected()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  // Publishes on the publisher's thread and returns the future of its result.
  std::future<wire::PublishResult> publish(std::string subject, std::string payload, std::string msg_id = "",
                                           std::string extra_header = "x") {
    auto promise = std::make_shared<std::promise<wire::PublishResult>>();
    auto future = promise->get_future();
    boost::asio::post(io, [this, promise, subject, payload, msg_id, extra_header] {
      std::vector<wire::Header> headers = {{"Bp-Test", extra_header}};
      if (!msg_id.empty()) headers.push_back({"Nats-Msg-Id", msg_id});
      publisher->publish(subject, headers, payload, [promise](wire::PublishResult r) { promise->set_value(std::move(r)); });
    });
    return future;
  }

  wire::PublishResult publish_and_wait(std::string subject, std::string payload, std::string msg_id = "") {
    auto future = publish(std::move(subject), std::move(payload), std::move(msg_id));
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    return future.get();
  }
};

std::string unique(const std::string& prefix) { return prefix + bp::uuid::v4().substr(0, 8); }

// A stream of its own on `url` for subject `subject` (direct get on, to read messages back).
void make_stream(const std::string& url, const std::string& name, const std::string& subject) {
  auto client = bp::nats::Client::connect(url, "wire-test");
  REQUIRE(client);
  bp::nats::StreamSpec spec;
  spec.name = name;
  spec.subjects = {subject};
  spec.allow_direct = true;
  auto st = (*client)->ensure_stream(spec);
  REQUIRE(st);
}

// A plain subscriber on `subject` that never replies: the server has a responder, so no
// "no responders" status comes back, and only the ack timeout (or a stop) ends a publish.
struct SilentSubscriber {
  std::shared_ptr<bp::nats::Client> client;
  natsSubscription* sub = nullptr;
  SilentSubscriber(const std::string& url, const std::string& subject) {
    auto connected = bp::nats::Client::connect(url, "wire-test");
    REQUIRE(connected);
    client = *connected;
    REQUIRE(natsConnection_SubscribeSync(&sub, client->connection(), subject.c_str()) == NATS_OK);
    REQUIRE(natsConnection_Flush(client->connection()) == NATS_OK);
  }
  ~SilentSubscriber() { natsSubscription_Destroy(sub); }
};

}  // namespace

TEST_CASE("a publish is acked once the stream has it, with its headers and payload") {
  std::string url = bp::testing::nats_url();
  std::string stream = unique("WIRE_"), subject = unique("wire.");
  make_stream(url, stream, subject);
  Harness h(url);
  REQUIRE(h.wait_connected());
  CHECK(h.publisher->max_payload() > 0);

  auto r = h.publish_and_wait(subject, R"({"event":"a"})", "id-1");
  CHECK(r.error == "");
  CHECK(r.stored);
  CHECK_FALSE(r.duplicate);

  auto client = bp::nats::Client::connect(url, "wire-test");
  REQUIRE(client);
  auto stored = (*client)->stored_messages(stream, subject, 1, 10);
  REQUIRE(stored);
  REQUIRE(stored->size() == 1);
  CHECK((*stored)[0].data == R"({"event":"a"})");
  CHECK((*stored)[0].headers.at("Bp-Test") == "x");
  CHECK((*stored)[0].headers.at("Nats-Msg-Id") == "id-1");
  CHECK(h.publisher->in_flight() == 0);
}

TEST_CASE("many publishes in flight are each acked once, and a repeated Nats-Msg-Id is a duplicate") {
  std::string url = bp::testing::nats_url();
  std::string stream = unique("WIRE_"), subject = unique("wire.");
  make_stream(url, stream, subject);
  Harness h(url);
  REQUIRE(h.wait_connected());
  std::vector<std::future<wire::PublishResult>> futures;
  for (int i = 0; i < 2000; ++i) futures.push_back(h.publish(subject, "m" + std::to_string(i), "id-" + std::to_string(i)));
  int stored = 0;
  for (auto& f : futures) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    auto r = f.get();
    if (r.stored && !r.duplicate) ++stored;
  }
  CHECK(stored == 2000);

  auto again = h.publish_and_wait(subject, "m7", "id-7");
  CHECK(again.stored);
  CHECK(again.duplicate);
  auto client = bp::nats::Client::connect(url, "wire-test");
  REQUIRE(client);
  auto messages = (*client)->stored_messages(stream, subject, 1, 3000);
  REQUIRE(messages);
  CHECK(messages->size() == 2000);
}

TEST_CASE("a subject no stream takes fails at once with no responders") {
  Harness h(bp::testing::nats_url());
  REQUIRE(h.wait_connected());
  auto started = std::chrono::steady_clock::now();
  auto r = h.publish_and_wait(unique("nostream."), "x");
  CHECK_FALSE(r.stored);
  CHECK(r.error == "no stream takes this subject (no responders)");
  CHECK(std::chrono::steady_clock::now() - started < 2s);  // not the 5 s ack timeout
}

TEST_CASE("a publish nobody acks times out, and the pending cap refuses more at once") {
  std::string url = bp::testing::nats_url();
  std::string subject = unique("silent.");
  SilentSubscriber silent(url, subject);

  wire::Options options;
  options.ack_timeout = 300ms;
  options.max_pending = 1;
  Harness h(url, options);
  REQUIRE(h.wait_connected());
  auto first = h.publish(subject, "a");
  auto second = h.publish_and_wait(subject, "b");
  CHECK_FALSE(second.stored);
  CHECK(second.error == "too many publishes awaiting an ack (1)");
  REQUIRE(first.wait_for(5s) == std::future_status::ready);
  auto r = first.get();
  CHECK_FALSE(r.stored);
  CHECK(r.error == "no ack from JetStream within 300 ms");
  CHECK(h.publisher->in_flight() == 0);
}

TEST_CASE("headers that cannot be sent and payloads over max_payload are refused without a write") {
  std::string url = bp::testing::nats_url();
  std::string stream = unique("WIRE_"), subject = unique("wire.");
  make_stream(url, stream, subject);
  Harness h(url);
  REQUIRE(h.wait_connected());
  auto bad = h.publish(subject, "x", "", "a\r\nPUB evil 1\r\n");
  REQUIRE(bad.wait_for(5s) == std::future_status::ready);
  CHECK(bad.get().error == "header \"Bp-Test\" cannot be sent");
  auto big = h.publish_and_wait(subject, std::string(static_cast<size_t>(h.publisher->max_payload()) + 1, 'x'));
  CHECK_FALSE(big.stored);
  CHECK(big.error.find("over the server's max_payload") != std::string::npos);
  // The server counts the headers too: a payload just under the limit with headers is over it.
  auto with_headers = h.publish_and_wait(subject, std::string(static_cast<size_t>(h.publisher->max_payload()) - 10, 'x'));
  CHECK_FALSE(with_headers.stored);
  CHECK(with_headers.error.find("(headers included) is over the server's max_payload") != std::string::npos);
  for (const std::string& subject_bad : std::vector<std::string>{"", "a b", "a\r\nPUB x 1", std::string(2000, 'a')}) {
    auto r = h.publish_and_wait(subject_bad, "x");
    CHECK_FALSE(r.stored);
    CHECK(r.error.find("cannot be sent") != std::string::npos);
  }
  // The connection is still good.
  CHECK(h.publish_and_wait(subject, "ok").stored);
  auto client = bp::nats::Client::connect(url, "wire-test");
  REQUIRE(client);
  auto messages = (*client)->stored_messages(stream, subject, 1, 10);
  REQUIRE(messages);
  CHECK(messages->size() == 1);
}

TEST_CASE("a killed server fails what was pending, refuses while down, and is reconnected to") {
  bp::testing::NatsServerProcess server;
  std::string stream = unique("WIRE_"), subject = unique("wire.");
  make_stream(server.url(), stream, subject);
  wire::Options options;
  options.reconnect_wait = 50ms;
  Harness h(server.url(), options);
  REQUIRE(h.wait_connected());
  CHECK(h.publish_and_wait(subject, "before").stored);

  server.stop();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (h.publisher->connected() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  REQUIRE_FALSE(h.publisher->connected());
  auto down = h.publish_and_wait(subject, "while down");
  CHECK_FALSE(down.stored);
  CHECK(down.error == "not connected to NATS");

  server.start();
  REQUIRE(h.wait_connected(10s));
  auto after = h.publish_and_wait(subject, "after");
  CHECK(after.error == "");
  CHECK(after.stored);
  CHECK(h.publisher->connects() == 2);
}

TEST_CASE("credentials in the URL are sent, wrong ones never connect") {
  bp::testing::NatsServerProcess server({"--user", "gw", "--pass", "p@ss:word"});
  std::string host = "127.0.0.1:" + std::to_string(server.port());
  {
    Harness h("nats://gw:p@ss:word@" + host);
    CHECK(h.wait_connected());
  }
  {
    wire::Options options;
    options.reconnect_wait = 50ms;
    Harness h("nats://gw:wrong@" + host, options);
    CHECK_FALSE(h.wait_connected(1s));
    CHECK(h.publisher->connects() == 0);
    auto r = h.publish_and_wait("any", "x");
    CHECK(r.error == "not connected to NATS");
  }
}

TEST_CASE("a JetStream error reply fails the publish with the server's description") {
  std::string url = bp::testing::nats_url();
  std::string stream = unique("WIRE_"), subject = unique("wire.");
  make_stream(url, stream, subject);
  Harness h(url);
  REQUIRE(h.wait_connected());
  auto promise = std::make_shared<std::promise<wire::PublishResult>>();
  auto future = promise->get_future();
  boost::asio::post(h.io, [&h, promise, subject] {
    std::vector<wire::Header> headers = {{"Nats-Expected-Stream", "NOT_THIS_ONE"}};
    h.publisher->publish(subject, headers, "x", [promise](wire::PublishResult r) { promise->set_value(std::move(r)); });
  });
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  auto r = future.get();
  CHECK_FALSE(r.stored);
  CHECK(r.error == "expected stream does not match (10060)");
}

TEST_CASE("stop fails what is pending once, and refuses what comes after") {
  std::string url = bp::testing::nats_url();
  std::string subject = unique("silent.");
  SilentSubscriber silent(url, subject);
  Harness h(url);
  REQUIRE(h.wait_connected());
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto promise = std::make_shared<std::promise<wire::PublishResult>>();
  auto future = promise->get_future();
  boost::asio::post(h.io, [&h, promise, calls, subject] {
    h.publisher->publish(subject, {}, "x", [promise, calls](wire::PublishResult r) {
      if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
    });
  });
  std::this_thread::sleep_for(100ms);
  CHECK(h.publisher->in_flight() == 1);
  h.publisher->stop();
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  CHECK(future.get().error == "the publisher is stopping");
  CHECK(h.publish_and_wait(subject, "later").error == "not connected to NATS");
  std::this_thread::sleep_for(100ms);
  CHECK(calls->load() == 1);
}

TEST_CASE("a server that refuses the ack subscription is not counted as connected") {
  char dir[] = "/tmp/bp-wire-perm-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  std::string conf = std::string(dir) + "/nats.conf";
  {
    std::FILE* f = std::fopen(conf.c_str(), "w");
    REQUIRE(f);
    std::fputs("authorization { users = [ { user: gw, password: pw, permissions: { publish: \">\", "
               "subscribe: { deny: \"_INBOX.>\" } } } ] }\n", f);
    std::fclose(f);
  }
  bp::testing::NatsServerProcess server({"-c", conf});
  wire::Options options;
  options.reconnect_wait = 50ms;
  Harness h("nats://gw:pw@127.0.0.1:" + std::to_string(server.port()), options);
  CHECK_FALSE(h.wait_connected(1s));
  CHECK(h.publisher->connects() == 0);
  std::filesystem::remove_all(dir);
}

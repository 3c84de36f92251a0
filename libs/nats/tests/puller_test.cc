// Puller against a real nats-server: messages queued by earlier pull requests, with more still
// arriving (the case that overflows nats.c 3.4's natsSubscription_Fetch), come out once each and
// never more than a batch at a time, nor more bytes than asked for; an earlier request's end does
// not end the current one; with nothing stored a fetch times out empty; acks, naks and
// in-progress marks reach the consumer, also after the Puller is gone.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <thread>

#include "bp/nats/puller.h"
#include "bp/nats/client.h"
#include "bp/testing/environment.h"
#include "bp/uuid.h"

using namespace bp::nats;
using namespace std::chrono_literals;

namespace {

jsMsgMetaData meta_of(natsMsg* m) {
  jsMsgMetaData* meta = nullptr;
  REQUIRE(natsMsg_GetMetaData(&meta, m) == NATS_OK);
  jsMsgMetaData copy = *meta;
  copy.Stream = copy.Consumer = copy.Domain = nullptr;
  jsMsgMetaData_Destroy(meta);
  return copy;
}

// A stream and durable pull consumer of the test's own (the shared test server serves other
// tests at the same time).
struct Fixture {
  std::shared_ptr<bp::nats::Client> client;
  std::string stream = "FETCH_" + bp::uuid::v4().substr(0, 8);
  std::string subject = "fetch." + stream + ".x";

  explicit Fixture(std::chrono::seconds ack_wait = 30s) {
    auto c = bp::nats::Client::connect(bp::testing::nats_url(), "fetch-test");
    REQUIRE(c);
    client = *c;
    bp::nats::StreamSpec spec;
    spec.name = stream;
    spec.subjects = {subject};
    REQUIRE(client->ensure_stream(spec).ok());
    bp::nats::ConsumerSpec consumer;
    consumer.durable = "c";
    consumer.filter_subject = subject;
    consumer.ack_wait = ack_wait;
    REQUIRE(client->ensure_consumer(stream, consumer).ok());
  }
  ~Fixture() { js_DeleteStream(client->jetstream(), stream.c_str(), nullptr, nullptr); }
  natsConnection* nc() { return client->connection(); }
  void store(int from, int to) {
    for (int i = from; i <= to; ++i) REQUIRE(client->publish_stored(subject, std::to_string(i), {}, "").ok());
  }
  std::unique_ptr<Puller> puller() {
    std::unique_ptr<Puller> p;
    REQUIRE(Puller::open(nc(), stream, "c", p) == NATS_OK);
    return p;
  }
  // A pull request of the test's own, answered to the puller's inbox as if an earlier fetch had
  // sent it and given up.
  natsStatus pull(Puller& p, const std::string& tag, const std::string& request) {
    std::string next = "$JS.API.CONSUMER.MSG.NEXT." + stream + ".c";
    return natsConnection_PublishRequestString(nc(), next.c_str(), (p.inbox() + "." + tag).c_str(), request.c_str());
  }
  int64_t backlog() {
    auto b = client->consumer_backlog(stream, "c");
    REQUIRE(b);
    return *b;
  }
};

// Acks `messages` and returns their stream sequences.
std::vector<uint64_t> ack_all(natsConnection* nc, std::vector<MsgPtr>& messages) {
  std::vector<uint64_t> seqs;
  for (auto& m : messages) {
    seqs.push_back(meta_of(m.get()).Sequence.Stream);
    REQUIRE(Puller::ack(nc, m.get()) == NATS_OK);
  }
  messages.clear();
  return seqs;
}

}  // namespace

TEST_CASE("Puller takes queued messages once each, a batch at most, then fetches in batches") {
  Fixture f;
  auto puller = f.puller();
  // What earlier fetches leave behind when they time out before their answers arrive: 200
  // messages queued with nobody fetching, and a request of 100 answered while the next fetches
  // run. nats.c 3.4's fetch of 256 took the 200, asked for 56 more, waited for 56 on top of the
  // 200 and wrote past its array of 256 when more came.
  constexpr int kQueued = 200, kBatch = 256, kTotal = 300;
  f.store(1, kQueued);
  REQUIRE(f.pull(*puller, "a", R"({"batch":200,"no_wait":true})") == NATS_OK);
  for (auto until = std::chrono::steady_clock::now() + 10s;
       puller->queued() < kQueued && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(puller->queued() == kQueued);
  f.store(kQueued + 1, kTotal);
  natsStatus late_pulled = NATS_ERR;
  std::thread late([&] {
    std::this_thread::sleep_for(100ms);
    late_pulled = f.pull(*puller, "b", R"({"batch":100,"expires":2000000000})");
  });

  std::vector<uint64_t> all;
  std::vector<MsgPtr> out;
  size_t largest = 0;
  for (auto until = std::chrono::steady_clock::now() + 20s; all.size() < kTotal && std::chrono::steady_clock::now() < until;) {
    natsStatus s = puller->fetch(kBatch, 1s, out);
    CHECK((s == NATS_OK || s == NATS_TIMEOUT));
    CHECK(out.size() <= static_cast<size_t>(kBatch));
    largest = std::max(largest, out.size());
    for (auto seq : ack_all(f.nc(), out)) all.push_back(seq);
  }
  late.join();
  REQUIRE(late_pulled == NATS_OK);
  CHECK(largest == static_cast<size_t>(kQueued));  // the queued ones came in one call, without a pull
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> expected(kTotal);
  for (int i = 0; i < kTotal; ++i) expected[i] = static_cast<uint64_t>(i + 1);
  CHECK(all == expected);  // each once
  // Acked: nothing left for the consumer.
  for (auto until = std::chrono::steady_clock::now() + 5s; f.backlog() != 0 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(f.backlog() == 0);

  // Nothing stored: the fetch sends its request, waits and comes back empty.
  auto pulls = puller->pulls();
  CHECK(puller->fetch(kBatch, 200ms, out) == NATS_TIMEOUT);
  CHECK(out.empty());
  CHECK(puller->pulls() == pulls + 1);
}

TEST_CASE("Puller: an earlier request's end does not end the current fetch") {
  Fixture f;
  auto puller = f.puller();
  // An earlier request that expires (the server answers "408 Request Timeout") while the
  // current fetch waits, before anything is stored.
  REQUIRE(f.pull(*puller, "old", R"({"batch":10,"expires":300000000})") == NATS_OK);
  std::thread later([&] {
    std::this_thread::sleep_for(800ms);
    f.store(1, 10);
  });
  std::vector<MsgPtr> out;
  CHECK(puller->fetch(10, 3s, out) == NATS_OK);  // not NATS_TIMEOUT at the old request's 408
  CHECK(!out.empty());
  CHECK(puller->pulls() == 1);
  later.join();
  for (auto until = std::chrono::steady_clock::now() + 5s; out.size() < 10 && std::chrono::steady_clock::now() < until;) {
    REQUIRE((puller->fetch(10 - static_cast<int>(out.size()), 500ms, out) == NATS_OK || out.size() == 10));
  }
  CHECK(out.size() == 10);
  ack_all(f.nc(), out);
}

TEST_CASE("Puller: a fetch with a byte cap asks for no more, a message over the cap alone still comes") {
  Fixture f;
  const std::string big(200 * 1024, 'x');
  for (int i = 0; i < 6; ++i) REQUIRE(f.client->publish_stored(f.subject, big, {}, "").ok());
  auto puller = f.puller();
  std::vector<MsgPtr> out;
  // 500 KB: two messages of 200 KB, and the server ends the request before the third.
  REQUIRE(puller->fetch(10, 2s, out, 500 * 1024) == NATS_OK);
  CHECK(out.size() == 2);
  CHECK(puller->pulls() == 1);
  // 100 KB: the next message alone is over it; it comes by itself, in a second request.
  REQUIRE(puller->fetch(10, 2s, out, 100 * 1024) == NATS_OK);
  CHECK(out.size() == 3);
  CHECK(puller->pulls() == 3);
  // No cap: the rest.
  for (auto until = std::chrono::steady_clock::now() + 5s; out.size() < 6 && std::chrono::steady_clock::now() < until;) {
    REQUIRE((puller->fetch(10, 500ms, out) == NATS_OK || out.size() == 6));
  }
  for (auto& m : out) CHECK(natsMsg_GetDataLength(m.get()) == static_cast<int>(big.size()));
  auto seqs = ack_all(f.nc(), out);
  CHECK(seqs == std::vector<uint64_t>{1, 2, 3, 4, 5, 6});  // each once, in order
}

TEST_CASE("Puller: a NAK hands a message out again at once, acks work after the Puller is gone") {
  Fixture f(5s);
  f.store(1, 3);
  std::vector<MsgPtr> out;
  {
    auto puller = f.puller();
    for (auto until = std::chrono::steady_clock::now() + 5s; out.size() < 3 && std::chrono::steady_clock::now() < until;) {
      REQUIRE((puller->fetch(3, 500ms, out) == NATS_OK || out.size() == 3));
    }
    REQUIRE(out.size() == 3);
    CHECK(meta_of(out[0].get()).NumDelivered == 1);
    REQUIRE(Puller::nak(f.nc(), out[0].get()) == NATS_OK);
    std::vector<MsgPtr> again;
    REQUIRE(puller->fetch(3, 1s, again) == NATS_OK);
    REQUIRE(again.size() == 1);
    CHECK(meta_of(again[0].get()).Sequence.Stream == meta_of(out[0].get()).Sequence.Stream);
    CHECK(meta_of(again[0].get()).NumDelivered == 2);
    out[0] = std::move(again[0]);
  }
  // The Puller (and its subscription) is gone; its messages are still acknowledged, and a
  // message marked in progress past its AckWait is not handed out again.
  REQUIRE(Puller::ack(f.nc(), out[0].get()) == NATS_OK);
  REQUIRE(Puller::ack(f.nc(), out[1].get()) == NATS_OK);
  for (int i = 0; i < 7; ++i) {
    REQUIRE(Puller::in_progress(f.nc(), out[2].get()) == NATS_OK);
    std::this_thread::sleep_for(1s);
  }
  auto puller = f.puller();
  std::vector<MsgPtr> none;
  CHECK(puller->fetch(3, 300ms, none) == NATS_TIMEOUT);
  CHECK(f.backlog() == 1);
  REQUIRE(Puller::ack(f.nc(), out[2].get()) == NATS_OK);
  for (auto until = std::chrono::steady_clock::now() + 5s; f.backlog() != 0 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(f.backlog() == 0);
}

TEST_CASE("Puller::ack refuses a message that is not from a consumer") {
  Fixture f;
  natsMsg* m = nullptr;
  REQUIRE(natsMsg_Create(&m, "x", "reply.elsewhere", "data", 4) == NATS_OK);
  MsgPtr owned(m);
  CHECK(Puller::ack(f.nc(), m) == NATS_INVALID_ARG);
}

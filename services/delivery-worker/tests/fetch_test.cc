// fetch_messages against a real nats-server: messages queued in the subscription by earlier
// fetches, with more still arriving (the case that overflows nats.c 3.4's
// natsSubscription_Fetch), come out once each and never more than a batch at a time; with
// nothing queued it fetches in batches and times out empty.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <thread>

#include "bp/delivery_worker/fetch.h"
#include "bp/nats/client.h"
#include "bp/testing/environment.h"
#include "bp/uuid.h"

using namespace bp::delivery_worker;
using namespace std::chrono_literals;

namespace {

uint64_t stream_sequence(natsMsg* m) {
  jsMsgMetaData* meta = nullptr;
  REQUIRE(natsMsg_GetMetaData(&meta, m) == NATS_OK);
  uint64_t seq = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  return seq;
}

// Acks `messages` (synchronously, so the consumer has them before the next step) and returns
// their stream sequences.
std::vector<uint64_t> ack_all(std::vector<MsgPtr>& messages) {
  std::vector<uint64_t> seqs;
  for (auto& m : messages) {
    seqs.push_back(stream_sequence(m.get()));
    REQUIRE(natsMsg_AckSync(m.get(), nullptr, nullptr) == NATS_OK);
  }
  messages.clear();
  return seqs;
}

}  // namespace

TEST_CASE("fetch_messages takes queued messages once each, a batch at most, then fetches in batches") {
  auto client = bp::nats::Client::connect(bp::testing::nats_url(), "fetch-test");
  REQUIRE(client);
  auto& nats = **client;
  // A stream of this test's own: the shared test server serves other tests at the same time.
  std::string stream = "FETCH_" + bp::uuid::v4().substr(0, 8);
  std::string subject = "fetch." + stream + ".x";
  bp::nats::StreamSpec spec;
  spec.name = stream;
  spec.subjects = {subject};
  REQUIRE(nats.ensure_stream(spec).ok());
  bp::nats::ConsumerSpec consumer;
  consumer.durable = "c";
  consumer.filter_subject = subject;
  REQUIRE(nats.ensure_consumer(stream, consumer).ok());

  natsSubscription* sub = nullptr;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Consumer = "c";
  jsErrCode jerr = static_cast<jsErrCode>(0);
  REQUIRE(js_PullSubscribe(&sub, nats.jetstream(), subject.c_str(), "c", nullptr, &so, &jerr) == NATS_OK);
  std::unique_ptr<natsSubscription, decltype(&natsSubscription_Destroy)> owned(sub, natsSubscription_Destroy);

  // What earlier fetches leave behind when they time out before their messages arrive: 200
  // messages queued in the subscription with nobody fetching. A fetch of 256 takes them and asks
  // the server for 56 more; nats.c 3.4 then waits for 56 messages on top of the 200, and
  // writes past its array of 256 when more come (from a pull request of an earlier fetch still
  // being answered). An ASan build reports it without the workaround.
  constexpr int kQueued = 200, kBatch = 256, kTotal = 300;
  for (int i = 1; i <= kQueued; ++i) REQUIRE(nats.publish_stored(subject, std::to_string(i), {}, "").ok());
  std::string next = "$JS.API.CONSUMER.MSG.NEXT." + stream + ".c";
  auto pull = [&](int batch) {
    std::string request = R"({"batch":)" + std::to_string(batch) + R"(,"no_wait":true})";
    return natsConnection_PublishRequestString(nats.connection(), next.c_str(), natsSubscription_GetSubject(sub),
                                               request.c_str());
  };
  REQUIRE(pull(kQueued) == NATS_OK);
  int queued = 0, bytes = 0;
  for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
    REQUIRE(natsSubscription_GetPending(sub, &queued, &bytes) == NATS_OK);
    if (queued >= kQueued) break;
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(queued == kQueued);
  for (int i = kQueued + 1; i <= kTotal; ++i) REQUIRE(nats.publish_stored(subject, std::to_string(i), {}, "").ok());
  // The late answer, while the first fetch waits.
  natsStatus late_pulled = NATS_ERR;
  std::thread late([&] {
    std::this_thread::sleep_for(100ms);
    late_pulled = pull(kTotal - kBatch);
  });

  std::vector<uint64_t> all;
  std::vector<MsgPtr> out;
  size_t largest = 0;
  for (auto until = std::chrono::steady_clock::now() + 20s; all.size() < kTotal && std::chrono::steady_clock::now() < until;) {
    natsStatus s = fetch_messages(sub, kBatch, 1s, out);
    CHECK((s == NATS_OK || s == NATS_TIMEOUT));
    largest = std::max(largest, out.size());
    for (auto seq : ack_all(out)) all.push_back(seq);
  }
  late.join();
  REQUIRE(late_pulled == NATS_OK);
  CHECK(largest <= static_cast<size_t>(kBatch));
  CHECK(largest >= static_cast<size_t>(kQueued));  // the queued ones came in one call
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> expected(kTotal);
  for (int i = 0; i < kTotal; ++i) expected[i] = static_cast<uint64_t>(i + 1);
  CHECK(all == expected);  // each once

  // Nothing stored (the late pull's "no messages" answer may still be queued): the fetch waits
  // and comes back empty.
  CHECK(fetch_messages(sub, kBatch, 200ms, out) == NATS_TIMEOUT);
  CHECK(out.empty());

  // Nothing queued, ten stored: one batch fetch brings them.
  for (int i = kTotal + 1; i <= kTotal + 10; ++i) REQUIRE(nats.publish_stored(subject, std::to_string(i), {}, "").ok());
  std::set<uint64_t> later;
  for (auto until = std::chrono::steady_clock::now() + 10s; later.size() < 10 && std::chrono::steady_clock::now() < until;) {
    natsStatus s = fetch_messages(sub, kBatch, 1s, out);
    REQUIRE((s == NATS_OK || s == NATS_TIMEOUT));
    for (auto seq : ack_all(out)) CHECK(later.insert(seq).second);
  }
  CHECK(later.size() == 10);
  CHECK(*later.begin() == kTotal + 1);
  CHECK(*later.rbegin() == kTotal + 10);
}

// nats::retire against a real nats-server: subscriptions ended while messages for them are
// being read. nats.c 3.4 locks the subscription of an incoming message after letting go of the
// lock that found it; a subscription destroyed in that moment crashed the delivery worker on
// SIGTERM. Retired ones are unsubscribed at once and destroyed later, so this loop must neither
// crash nor deliver anything to a subscription after it was retired.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "bp/nats/client.h"
#include "bp/testing/environment.h"
#include "bp/uuid.h"

TEST_CASE("subscriptions retired while messages for them arrive") {
  auto client = bp::nats::Client::connect(bp::testing::nats_url(), "retire-test");
  REQUIRE(client);
  natsConnection* nc = (*client)->connection();
  std::string subject = "retire." + bp::uuid::v4().substr(0, 8);
  std::atomic<bool> done{false};
  std::atomic<int64_t> published{0};
  // A second connection floods the subject, as a pull request's answers flood an inbox.
  auto sender = bp::nats::Client::connect(bp::testing::nats_url(), "retire-test-sender");
  REQUIRE(sender);
  std::thread flood([&] {
    natsConnection* out = (*sender)->connection();
    while (!done) {
      for (int i = 0; i < 100; ++i) natsConnection_PublishString(out, subject.c_str(), "x");
      natsConnection_Flush(out);
      published += 100;
    }
  });
  int64_t received = 0;
  for (int i = 0; i < 400; ++i) {
    natsSubscription* sub = nullptr;
    REQUIRE(natsConnection_SubscribeSync(&sub, nc, subject.c_str()) == NATS_OK);
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub, 1000) == NATS_OK) {
      ++received;
      natsMsg_Destroy(m);
    }
    // A short grace, so that the retired ones are destroyed while the flood goes on.
    bp::nats::retire(sub, std::chrono::milliseconds(20));
    // Retired: nothing more is handed out from it.
    CHECK(natsSubscription_NextMsg(&m, sub, 0) != NATS_OK);
  }
  done = true;
  flood.join();
  CHECK(received == 400);
  CHECK(published > 0);
}

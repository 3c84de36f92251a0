// ThreadSpread: how many I/O threads take connections under a given load, and which connections
// move. The samples are the shares of a core measured on the benchmark machine (decision 0013).
#include <catch2/catch.hpp>

#include <vector>

#include "bp/gateway/thread_spread.h"

using bp::gateway::SpreadPolicy;
using bp::gateway::ThreadSpread;

namespace {

size_t feed(ThreadSpread& spread, std::vector<double> busy, int times) {
  size_t active = spread.active();
  for (int i = 0; i < times; ++i) active = spread.sample(busy);
  return active;
}

}  // namespace

TEST_CASE("connections gather on one thread while it keeps up") {
  ThreadSpread spread(2);
  CHECK(spread.active() == 1);
  for (int i = 0; i < 10; ++i) {
    CHECK(spread.choose() == 0);
    spread.opened(0);
  }
  // One-record requests at full speed: one thread at 0.64 of a core, asleep the rest of the time.
  CHECK(feed(spread, {0.64, 0.0}, 100) == 1);
  CHECK(feed(spread, {0.89, 0.0}, 100) == 1);
  CHECK(spread.move_from(0) == std::nullopt);
  CHECK(spread.connections_on(0) == 10);
  CHECK(spread.moves() == 0);
}

TEST_CASE("a saturated thread brings in the next one, and the next") {
  ThreadSpread spread(3);
  // 100-record requests: the one thread never sleeps.
  CHECK(feed(spread, {1.0, 0, 0}, 2) == 1);  // two samples are not enough
  CHECK(feed(spread, {0.5, 0, 0}, 1) == 1);  // and a quiet one starts the count again
  CHECK(feed(spread, {1.0, 0, 0}, 2) == 1);
  CHECK(feed(spread, {1.0, 0, 0}, 1) == 2);
  // Two threads at 0.65 each carry it: no third, and no going back to one (1.3 > 0.9).
  CHECK(feed(spread, {0.65, 0.64, 0}, 100) == 2);
  CHECK(feed(spread, {0.95, 0.9, 0}, 3) == 3);
  CHECK(feed(spread, {1.0, 1.0, 1.0}, 100) == 3);  // never more than there are
}

TEST_CASE("threads are let go one at a time once the rest would not be saturated") {
  ThreadSpread spread(3);
  spread.set_active(3);
  // 1.95 of a core would saturate two threads: all three stay.
  CHECK(feed(spread, {0.65, 0.65, 0.65}, 100) == 3);
  // 1.5 would not: after a second of it, one goes; then 1.2 does not fit one.
  CHECK(feed(spread, {0.5, 0.5, 0.5}, 9) == 3);
  CHECK(feed(spread, {0.5, 0.5, 0.5}, 1) == 2);
  CHECK(feed(spread, {0.6, 0.6, 0.0}, 100) == 2);
  // What an inactive thread still serves counts: its connections come to the others.
  CHECK(feed(spread, {0.35, 0.35, 0.35}, 100) == 2);
  // Idle: back to one, never to none.
  CHECK(feed(spread, {0, 0, 0}, 100) == 1);
}

TEST_CASE("a thread let go too early is kept twice as long the next time") {
  // Two threads cost more per request than one: two at 0.45 and 0.40 can be one thread's full
  // load. Each shrink that is undone within 3 s doubles the wait before the next one.
  SpreadPolicy policy;
  policy.shrink_after_max = 40;
  ThreadSpread spread(2, policy);
  REQUIRE(feed(spread, {1.0, 0}, 3) == 2);
  for (int wait : {10, 20, 40, 40}) {
    CHECK(feed(spread, {0.45, 0.40}, wait - 1) == 2);
    CHECK(feed(spread, {0.45, 0.40}, 1) == 1);
    CHECK(feed(spread, {1.0, 0}, 3) == 2);
  }
  // A shrink that holds for 3 s brings the wait back to 1 s.
  CHECK(feed(spread, {0.45, 0.40}, 40) == 1);
  CHECK(feed(spread, {0.5, 0}, 31) == 1);
  CHECK(feed(spread, {1.0, 0}, 3) == 2);
  CHECK(feed(spread, {0.45, 0.40}, 9) == 2);
  CHECK(feed(spread, {0.45, 0.40}, 1) == 1);
}

TEST_CASE("with BP_THREAD_SPREAD=all every thread takes connections whatever the load, and none moves") {
  ThreadSpread spread(2, SpreadPolicy{.by_load = false});
  CHECK(spread.active() == 2);
  CHECK(feed(spread, {0, 0}, 100) == 2);
  CHECK(feed(spread, {1, 1}, 100) == 2);
  for (size_t expected : {0, 1, 0, 1}) {
    size_t to = spread.choose();
    CHECK(to == expected);
    spread.opened(to);
  }
  // Uneven counts (connections closed on one thread) stay uneven.
  spread.closed(0);
  spread.closed(0);
  CHECK(spread.move_from(1) == std::nullopt);
  CHECK(spread.moves() == 0);
}

TEST_CASE("connections leave an inactive thread and even out over the active ones") {
  ThreadSpread spread(2);
  for (int i = 0; i < 4; ++i) spread.opened(spread.choose());
  REQUIRE(spread.connections_on(0) == 4);

  // A second thread: thread 0 holds 4 against a share of 2, so two move and two stay.
  spread.set_active(2);
  CHECK(spread.move_from(0) == 1);
  CHECK(spread.move_from(0) == 1);
  CHECK(spread.move_from(0) == std::nullopt);
  CHECK(spread.move_from(1) == std::nullopt);
  CHECK(spread.connections_on(0) == 2);
  CHECK(spread.connections_on(1) == 2);
  // 3 against 2 is as even as 2 against 3: no move back and forth.
  spread.opened(spread.choose());
  CHECK(spread.connections_on(0) + spread.connections_on(1) == 5);
  CHECK(spread.move_from(0) == std::nullopt);
  CHECK(spread.move_from(1) == std::nullopt);

  // Back to one thread: thread 1's connections all go to thread 0, one request at a time.
  spread.set_active(1);
  size_t on1 = spread.connections_on(1);
  for (size_t i = 0; i < on1; ++i) CHECK(spread.move_from(1) == 0);
  CHECK(spread.connections_on(1) == 0);
  CHECK(spread.connections_on(0) == 5);
  CHECK(spread.moves() == 2 + on1);

  spread.closed(0);
  CHECK(spread.connections_on(0) == 4);
}

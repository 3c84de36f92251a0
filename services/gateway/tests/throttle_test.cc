// The gateway's rate limiters, on a clock the test moves.
#include <catch2/catch.hpp>

#include "bp/gateway/throttle.h"

using namespace bp::gateway;
using namespace std::chrono_literals;

TEST_CASE("rate limiter: a burst of one second's worth, then the rate, per key") {
  RateLimiter r;
  auto t = ThrottleClock::time_point{} + 1000s;
  for (int i = 0; i < 5; ++i) CHECK_FALSE(r.take("pipe-a", 5, t).has_value());
  auto wait = r.take("pipe-a", 5, t);
  REQUIRE(wait.has_value());
  CHECK(*wait == 1s);
  CHECK_FALSE(r.take("pipe-b", 5, t).has_value());  // another key has its own bucket
  CHECK_FALSE(r.take("pipe-a", 5, t + 200ms).has_value());  // one token back after 1/5 s
  CHECK(r.take("pipe-a", 5, t + 200ms).has_value());
  // A slow rate: the wait is rounded up to whole seconds.
  CHECK_FALSE(r.take("slow", 0.25, t).has_value());
  auto slow = r.take("slow", 0.25, t);
  REQUIRE(slow.has_value());
  CHECK(*slow == 4s);
}

TEST_CASE("rate limiter: memory stays bounded with many keys") {
  RateLimiter r(100);
  auto t = ThrottleClock::time_point{} + 1000s;
  for (int i = 0; i < 1000; ++i) r.take("k" + std::to_string(i), 10, t + std::chrono::milliseconds(i * 10));
  // Still answers, and a fresh key gets its full burst.
  for (int i = 0; i < 3; ++i) CHECK_FALSE(r.take("fresh", 3, t + 20s).has_value());
}

TEST_CASE("failure throttle: the limit's worth of failures in a window blocks until it ends") {
  FailureThrottle f(3, 60s);
  auto t = ThrottleClock::time_point{} + 1000s;
  for (int i = 0; i < 3; ++i) {
    CHECK_FALSE(f.blocked("203.0.113.9", t).has_value());
    f.failed("203.0.113.9", t + std::chrono::seconds(i));
  }
  auto wait = f.blocked("203.0.113.9", t + 10s);
  REQUIRE(wait.has_value());
  CHECK(*wait == 50s);
  CHECK_FALSE(f.blocked("198.51.100.7", t + 10s).has_value());  // other addresses are not affected
  CHECK_FALSE(f.blocked("203.0.113.9", t + 60s).has_value());  // the window is over
  f.failed("203.0.113.9", t + 61s);
  CHECK_FALSE(f.blocked("203.0.113.9", t + 61s).has_value());  // a new window starts from one
}

TEST_CASE("failure throttle: disabled with limit 0, bounded memory") {
  FailureThrottle off(0, 60s);
  auto t = ThrottleClock::time_point{} + 1000s;
  for (int i = 0; i < 10; ++i) off.failed("x", t);
  CHECK_FALSE(off.blocked("x", t).has_value());
  FailureThrottle small(1, 60s, 10);
  for (int i = 0; i < 100; ++i) small.failed("a" + std::to_string(i), t + std::chrono::milliseconds(i));
  CHECK(small.blocked("a99", t + 1s).has_value());  // the newest are kept
}

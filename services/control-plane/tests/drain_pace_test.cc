// When a drain takes its next batch: its rates, and its pauses after slow answers.
#include <catch2/catch.hpp>

#include "bp/control_plane/drain_pace.h"

using bp::control_plane::DrainPace;
using namespace std::chrono_literals;

namespace {

const DrainPace::Clock::time_point t0{};

}  // namespace

TEST_CASE("a drain answered promptly keeps to its message and byte rates") {
  DrainPace pace(t0, 1000, 1 << 20, 50ms);
  // 100 small messages at 1,000 a second: the next batch 100 ms after the start, then 200 ms.
  CHECK(pace.after_batch(t0 + 5ms, 100, 100 * 300, 5ms, true) == t0 + 100ms);
  CHECK(pace.after_batch(t0 + 105ms, 100, 100 * 300, 5ms, true) == t0 + 200ms);
  // 2 MiB more at 1 MiB a second: the bytes set the pace (2.06 s of bytes in all).
  CHECK(pace.after_batch(t0 + 205ms, 100, 2 << 20, 5ms, true) > t0 + 2000ms);
  CHECK(pace.slow_answers() == 0);
  CHECK(pace.paused() == 0ms);
}

TEST_CASE("a slow answer pauses the drain, longer after each further one, and a calm spell starts over") {
  DrainPace pace(t0, 1000, 1 << 30, 50ms);
  auto now = t0 + 60ms;
  // The first slow answer: 1 s, counted from when its batch was acked.
  auto next = pace.after_batch(now, 100, 30000, 60ms, true);
  CHECK(next == now + 1s);
  // The rates count from the pause's end: no burst to catch up on the second paused.
  CHECK(pace.after_batch(next + 5ms, 100, 30000, 5ms, true) == next + 100ms);
  // Further slow answers within 10 s of pulling: 2 s, 4 s, 8 s, 16 s, and 16 s at most.
  now = next + 200ms;
  for (auto expected : {2s, 4s, 8s, 16s, 16s}) {
    next = pace.after_batch(now, 100, 30000, 51ms, true);
    CHECK(next - now == expected);
    now = next + 1s;
  }
  CHECK(pace.slow_answers() == 6);
  CHECK(pace.paused() == 47s);
  // An answer at the threshold itself is not slow.
  CHECK(pace.after_batch(now, 100, 30000, 50ms, true) == now - 1s + 100ms);
  // More than 10 s of prompt answers after a pause: the next slow answer pauses 1 s again.
  now = next + 10500ms;
  CHECK(pace.after_batch(now, 100, 30000, 200ms, true) - now == 1s);
}

TEST_CASE("a short batch's time is not judged: its pull may have waited for messages to come") {
  DrainPace pace(t0, 1000, 1 << 30, 50ms);
  // 40 messages, the first of them 250 ms into the pull: paced by the rate only.
  CHECK(pace.after_batch(t0 + 255ms, 40, 40 * 300, 255ms, false) == t0 + 40ms);
  CHECK(pace.slow_answers() == 0);
}

// Periodic: runs again and again, stops when its task says so, and when destroyed.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "bp/periodic.h"

using namespace std::chrono_literals;

namespace {

// Waits up to 10 s for `done`; true if it came.
template <class Pred>
bool eventually(Pred done) {
  for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}

}  // namespace

TEST_CASE("periodic: the task runs again and again until destroyed, not after", "[unit]") {
  std::atomic<int> runs{0};
  {
    bp::Periodic p(1ms, [&] {
      ++runs;
      return true;
    });
    CHECK(eventually([&] { return runs >= 3; }));
  }
  int at_end = runs;
  std::this_thread::sleep_for(20ms);
  CHECK(runs == at_end);
}

TEST_CASE("periodic: a task that returns false is not run again", "[unit]") {
  std::atomic<int> runs{0};
  bp::Periodic p(1ms, [&] {
    ++runs;
    return false;
  });
  CHECK(eventually([&] { return runs >= 1; }));
  std::this_thread::sleep_for(20ms);
  CHECK(runs == 1);
}

TEST_CASE("periodic: destroyed long before its first run, it never runs it", "[unit]") {
  std::atomic<int> runs{0};
  { bp::Periodic p(std::chrono::hours(1), [&] { return ++runs > 0; }); }
  CHECK(runs == 0);
}

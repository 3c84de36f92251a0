// RFC 3339 timestamps: the hand-written digits against gmtime_r and strftime.
#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>

#include "bp/clock.h"

namespace {

std::string reference(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

}  // namespace

TEST_CASE("rfc3339_millis writes UTC with milliseconds, as gmtime_r and printf would") {
  using namespace std::chrono;
  using bp::clock::rfc3339_millis;
  CHECK(rfc3339_millis(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  CHECK(rfc3339_millis(system_clock::time_point{milliseconds(1776000000123)}) == "2026-04-12T13:20:00.123Z");
  CHECK(rfc3339_millis(system_clock::time_point{milliseconds(-1)}) == "1969-12-31T23:59:59.999Z");
  CHECK(rfc3339_millis(system_clock::time_point{milliseconds(951782400000)}) == "2000-02-29T00:00:00.000Z");
  uint64_t state = 42;  // fixed pseudo-random times from 1870 to 2220 (system_clock counts ns in 64 bits)
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t ms = static_cast<int64_t>(state >> 20) % (350LL * 365 * 86400 * 1000) - 100LL * 365 * 86400 * 1000;
    system_clock::time_point t{milliseconds(ms)};
    INFO("ms " << ms);
    REQUIRE(rfc3339_millis(t) == reference(t));
  }
  CHECK(bp::clock::now_rfc3339().size() == 24);
}

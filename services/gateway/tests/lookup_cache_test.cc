// The gateway's lookup cache: single flight, TTL with stale-while-refresh, negative entries,
// eviction, and serving stale values while the control-plane is away.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "bp/gateway/lookup_cache.h"

using namespace bp::gateway;
namespace asio = boost::asio;
using Cache = LookupCache<std::string>;

namespace {

struct Backend {
  std::atomic<int> calls{0};
  std::string value = "v1";
  bool unavailable = false;
  bool missing = false;

  Cache::Fetch fetch() {
    return [this](const std::string&) -> asio::awaitable<bp::Result<Cache::Value>> {
      ++calls;
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(20));
      co_await t.async_wait(asio::use_awaitable);  // a round trip, so that callers overlap
      if (unavailable) co_return bp::Error::unavailable("control-plane down");
      if (missing) co_return bp::Error::not_found("no such pipe");
      co_return std::make_shared<const std::string>(value);
    };
  }
};

// Runs `n` concurrent gets of `key` and returns their results.
std::vector<bp::Result<Cache::Value>> get_all(Cache& cache, int n, const std::string& key = "k") {
  asio::io_context io;
  std::vector<bp::Result<Cache::Value>> out;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { out.push_back(co_await cache.get(key)); }, asio::detached);
  }
  io.run();
  return out;
}

}  // namespace

TEST_CASE("concurrent misses for one key share one fetch") {
  Backend b;
  Cache cache(b.fetch(), std::chrono::seconds(10));
  auto results = get_all(cache, 20);
  CHECK(b.calls == 1);
  REQUIRE(results.size() == 20);
  for (auto& r : results) CHECK(*r.value() == "v1");
  get_all(cache, 5);
  CHECK(b.calls == 1);  // hits
}

TEST_CASE("past the TTL the old value is served at once and refreshed in the background") {
  Backend b;
  Cache cache(b.fetch(), std::chrono::milliseconds(0));
  CHECK(*get_all(cache, 1)[0].value() == "v1");
  b.value = "v2";
  auto stale = get_all(cache, 3);  // the io_context also runs the background refresh
  for (auto& r : stale) CHECK(*r.value() == "v1");
  CHECK(b.calls == 2);
  CHECK(*get_all(cache, 1)[0].value() == "v2");
}

TEST_CASE("not found is remembered until evicted") {
  Backend b;
  b.missing = true;
  Cache cache(b.fetch(), std::chrono::seconds(10));
  CHECK(get_all(cache, 1)[0].error().code == bp::ErrorCode::kNotFound);
  CHECK(get_all(cache, 1)[0].error().code == bp::ErrorCode::kNotFound);
  CHECK(b.calls == 1);
  b.missing = false;
  cache.evict("k");
  CHECK(*get_all(cache, 1)[0].value() == "v1");
}

TEST_CASE("while the control-plane is unavailable, the last good value keeps serving") {
  Backend b;
  Cache cache(b.fetch(), std::chrono::milliseconds(0));
  CHECK(get_all(cache, 1)[0].ok());
  b.unavailable = true;
  for (int i = 0; i < 3; ++i) CHECK(*get_all(cache, 1)[0].value() == "v1");
  Cache empty(b.fetch(), std::chrono::seconds(10));
  CHECK(get_all(empty, 1)[0].error().code == bp::ErrorCode::kUnavailable);  // nothing to fall back on
}

TEST_CASE("evict_if drops matching values") {
  Backend b;
  Cache cache(b.fetch(), std::chrono::seconds(10));
  get_all(cache, 1, "a");
  get_all(cache, 1, "b");
  CHECK(b.calls == 2);
  cache.evict_if([](const std::string& v) { return v == "v1"; });
  get_all(cache, 1, "a");
  CHECK(b.calls == 3);
}

TEST_CASE("an answer fetched before an eviction is not kept") {
  Backend b;
  Cache cache(b.fetch(), std::chrono::seconds(10));
  asio::io_context io;
  bp::Result<Cache::Value> first = bp::Error::internal("unset");
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { first = co_await cache.get("k"); }, asio::detached);
  io.run_one();          // the fetch has started and waits for its round trip
  cache.evict("k");      // a change event arrives meanwhile
  io.run();
  CHECK(first.ok());     // the waiting request still gets an answer
  get_all(cache, 1);
  CHECK(b.calls == 2);   // but it was not kept: the next request asks again
}

TEST_CASE("fresh answers only what get would answer from memory without a fetch") {
  Backend b;
  Cache cache(b.fetch(), std::chrono::milliseconds(200));
  CHECK_FALSE(cache.fresh("k").has_value());  // never fetched
  CHECK(cache.misses() == 0);                 // and not counted: get() counts the miss
  get_all(cache, 1);
  auto hit = cache.fresh("k");
  REQUIRE(hit.has_value());
  CHECK(*hit->value() == "v1");
  CHECK(cache.hits() == 1);
  cache.evict("k");
  CHECK_FALSE(cache.fresh("k").has_value());  // a change event empties it at once
  get_all(cache, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CHECK_FALSE(cache.fresh("k").has_value());  // past the TTL: get() serves it and refreshes
  CHECK(b.calls == 2);

  b.missing = true;
  Cache negative(b.fetch(), std::chrono::seconds(10));
  get_all(negative, 1);
  auto remembered = negative.fresh("k");
  REQUIRE(remembered.has_value());
  CHECK(remembered->error().code == bp::ErrorCode::kNotFound);
}

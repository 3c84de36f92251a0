// The hot path's memory: pipes by id and API keys by hash, filled from the control-plane.
// Misses for the same key share one call; entries expire after a short TTL and are dropped at
// once by change events; when the control-plane is unreachable, expired entries keep serving.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bp/gateway/await_callback.h"
#include "bp/result.h"

namespace bp::gateway {

template <class V>
class LookupCache {
 public:
  using Value = std::shared_ptr<const V>;
  using Fetch = std::function<boost::asio::awaitable<Result<Value>>(const std::string& key)>;

  LookupCache(Fetch fetch, std::chrono::milliseconds ttl) : fetch_(std::move(fetch)), ttl_(ttl) {}

  // kNotFound is cached like a value (so unknown ids cannot hammer the control-plane). A found
  // value past its TTL is served at once while one background call refreshes it, so no request
  // waits for the control-plane on a hot key.
  boost::asio::awaitable<Result<Value>> get(const std::string& key) {
    std::unique_lock lock(mutex_);
    if (entries_.size() >= kMaxEntries && !entries_.count(key)) trim();
    auto& entry = entries_[key];
    auto now = std::chrono::steady_clock::now();
    if (entry.result && now - entry.fetched_at < ttl_) {
      ++hits_;
      co_return *entry.result;
    }
    if (entry.result && entry.result->ok()) {
      ++hits_;
      Result<Value> stale = *entry.result;
      if (!entry.in_flight) {
        entry.in_flight = true;
        lock.unlock();
        boost::asio::co_spawn(co_await boost::asio::this_coro::executor, refresh_quietly(key), boost::asio::detached);
      }
      co_return stale;
    }
    ++misses_;
    if (entry.in_flight) {
      // The initiation runs once this coroutine is suspended: register, then let go of the lock.
      co_return co_await await_callback<Result<Value>>([&entry, &lock](Completion<Result<Value>> done) {
        entry.waiters.push_back(std::move(done));
        lock.unlock();
      });
    }
    entry.in_flight = true;
    lock.unlock();
    co_return co_await refresh(key);
  }

  // A value within its TTL, or nothing: the hot path's check, which needs no coroutine (a
  // coroutine frame is an allocation). get() does the rest.
  std::optional<Result<Value>> fresh(std::string_view key) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.result ||
        std::chrono::steady_clock::now() - it->second.fetched_at >= ttl_) {
      return std::nullopt;
    }
    ++hits_;
    return *it->second.result;
  }

  void evict(const std::string& key) {
    std::lock_guard lock(mutex_);
    ++evictions_;
    auto it = entries_.find(key);
    if (it != entries_.end() && !it->second.in_flight) {
      entries_.erase(it);
    } else if (it != entries_.end()) {
      it->second.result.reset();
    }
  }

  // Drops every entry whose value matches.
  void evict_if(const std::function<bool(const V&)>& match) {
    std::lock_guard lock(mutex_);
    ++evictions_;
    for (auto& [key, entry] : entries_) {
      if (entry.result && entry.result->ok() && match(*entry.result->value())) entry.result.reset();
    }
  }

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  static constexpr size_t kMaxEntries = 100000;

  boost::asio::awaitable<void> refresh_quietly(std::string key) { (void)co_await refresh(std::move(key)); }

  // Fetches `key` (marked in flight by the caller), stores the answer and wakes the waiters.
  boost::asio::awaitable<Result<Value>> refresh(std::string key) {
    uint64_t evictions_before = 0;
    {
      std::lock_guard lock(mutex_);
      evictions_before = evictions_;
    }
    Result<Value> fetched = co_await fetch_(key);
    std::unique_lock lock(mutex_);
    auto& e = entries_[key];
    // A change event that arrived meanwhile may have made this answer stale: answer the waiters
    // but do not keep it, so that the next request asks again.
    bool outdated = evictions_ != evictions_before;
    bool keep_stale = !fetched && fetched.error().code != ErrorCode::kNotFound && e.result && e.result->ok();
    if (keep_stale) {
      fetched = *e.result;  // the control-plane is unreachable: serve what we had
    } else if (!outdated) {
      e.result = std::make_unique<Result<Value>>(fetched);
      e.fetched_at = std::chrono::steady_clock::now();
    }
    if (outdated || (!fetched.ok() && fetched.error().code != ErrorCode::kNotFound)) e.result.reset();
    e.in_flight = false;
    auto waiters = std::move(e.waiters);
    e.waiters.clear();
    lock.unlock();
    for (auto& w : waiters) w(fetched);
    co_return fetched;
  }

  // Bounds memory against floods of unknown ids: forget everything not being fetched.
  void trim() {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.in_flight ? std::next(it) : entries_.erase(it);
    }
  }

  struct Entry {
    std::unique_ptr<Result<Value>> result;
    std::chrono::steady_clock::time_point fetched_at;
    bool in_flight = false;
    std::vector<Completion<Result<Value>>> waiters;
  };

  Fetch fetch_;
  std::chrono::milliseconds ttl_;
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;  // transparent: fresh() looks up a string_view
  uint64_t evictions_ = 0;  // guarded by mutex_
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace bp::gateway

// Two small rate limiters of the gateway, Asio-free (unit tests) and thread-safe:
//  - RateLimiter: a token bucket per key (a pipe's pl_ingest_max_requests_per_second);
//  - FailureThrottle: too many failed authentications from one key (a client address) within a
//    window block that key until the window ends.
// Both keep at most `max_keys` entries: past that, the stalest are forgotten (an attacker with
// many addresses cannot grow the gateway's memory, only lose the throttle's memory of itself).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace bp::gateway {

using ThrottleClock = std::chrono::steady_clock;

class RateLimiter {
 public:
  explicit RateLimiter(size_t max_keys = 100000) : max_keys_(max_keys) {}
  // Takes one token from `key`'s bucket (rate per second, burst of one second's worth, at
  // least 1). nullopt: allowed. Otherwise: how long until a token is there (at least 1 s, as
  // Retry-After counts whole seconds).
  std::optional<std::chrono::seconds> take(const std::string& key, double per_second, ThrottleClock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    ThrottleClock::time_point updated;
  };
  size_t max_keys_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

class FailureThrottle {
 public:
  // limit 0 disables the throttle.
  FailureThrottle(int limit, std::chrono::milliseconds window, size_t max_keys = 100000)
      : limit_(limit), window_(window), max_keys_(max_keys) {}
  // nullopt: go ahead. Otherwise `key` is blocked for that much longer.
  std::optional<std::chrono::seconds> blocked(const std::string& key, ThrottleClock::time_point now);
  // One more failure of `key`.
  void failed(const std::string& key, ThrottleClock::time_point now);
  bool enabled() const { return limit_ > 0; }

 private:
  struct Window {
    ThrottleClock::time_point started;
    int failures = 0;
  };
  void trim(ThrottleClock::time_point now);
  int limit_;
  std::chrono::milliseconds window_;
  size_t max_keys_;
  std::mutex mutex_;
  std::map<std::string, Window> windows_;
};

}  // namespace bp::gateway

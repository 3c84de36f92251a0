#include "bp/gateway/throttle.h"

#include <algorithm>
#include <cmath>

namespace bp::gateway {
namespace {

std::chrono::seconds whole_seconds_at_least_one(double seconds) {
  return std::chrono::seconds(std::max<long long>(1, static_cast<long long>(std::ceil(seconds))));
}

}  // namespace

std::optional<std::chrono::seconds> RateLimiter::take(const std::string& key, double per_second,
                                                      ThrottleClock::time_point now) {
  if (per_second <= 0) return whole_seconds_at_least_one(1);
  double burst = std::max(1.0, per_second);
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      // Forget the buckets that are full again (idle for a second or more): nothing is lost.
      std::erase_if(buckets_, [&](const auto& kv) { return now - kv.second.updated >= std::chrono::seconds(1); });
      if (buckets_.size() >= max_keys_) buckets_.erase(buckets_.begin());
    }
    it = buckets_.emplace(key, Bucket{burst, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.updated).count();
  b.tokens = std::min(burst, b.tokens + std::max(0.0, elapsed) * per_second);
  b.updated = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return whole_seconds_at_least_one((1 - b.tokens) / per_second);
}

std::optional<std::chrono::seconds> FailureThrottle::blocked(const std::string& key, ThrottleClock::time_point now) {
  if (limit_ <= 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = windows_.find(key);
  if (it == windows_.end()) return std::nullopt;
  auto ends = it->second.started + window_;
  if (now >= ends) {
    windows_.erase(it);
    return std::nullopt;
  }
  if (it->second.failures < limit_) return std::nullopt;
  return whole_seconds_at_least_one(std::chrono::duration<double>(ends - now).count());
}

void FailureThrottle::failed(const std::string& key, ThrottleClock::time_point now) {
  if (limit_ <= 0) return;
  std::lock_guard lock(mutex_);
  auto it = windows_.find(key);
  if (it != windows_.end() && now >= it->second.started + window_) {
    windows_.erase(it);
    it = windows_.end();
  }
  if (it == windows_.end()) {
    if (windows_.size() >= max_keys_) trim(now);
    it = windows_.emplace(key, Window{now, 0}).first;
  }
  ++it->second.failures;
}

void FailureThrottle::trim(ThrottleClock::time_point now) {
  std::erase_if(windows_, [&](const auto& kv) { return now >= kv.second.started + window_; });
  while (windows_.size() >= max_keys_) {
    // Still full of live windows: drop the oldest.
    auto oldest = std::min_element(windows_.begin(), windows_.end(), [](const auto& a, const auto& b) {
      return a.second.started < b.second.started;
    });
    windows_.erase(oldest);
  }
}

}  // namespace bp::gateway

// Capped exponential backoff with full jitter.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace bp::delivery_worker {

inline std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base = std::chrono::milliseconds(200),
                                               std::chrono::milliseconds cap = std::chrono::seconds(60)) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t ceiling = base.count() << std::min(attempt, 20);
  ceiling = std::min<int64_t>(ceiling, cap.count());
  std::uniform_int_distribution<int64_t> pick(ceiling / 2, ceiling);
  return std::chrono::milliseconds(pick(rng));
}

}  // namespace bp::delivery_worker

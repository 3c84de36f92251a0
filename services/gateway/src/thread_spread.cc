#include "bp/gateway/thread_spread.h"

#include <algorithm>

namespace bp::gateway {

ThreadSpread::ThreadSpread(size_t threads, SpreadPolicy policy)
    : threads_(std::max<size_t>(1, threads)),
      policy_(policy),
      active_(policy.by_load ? 1 : threads_),
      connections_(new std::atomic<size_t>[threads_]) {
  for (size_t i = 0; i < threads_; ++i) connections_[i] = 0;
}

size_t ThreadSpread::sample(std::span<const double> busy) {
  size_t k = active();
  if (!policy_.by_load || busy.size() != threads_) return k;
  double active_sum = 0, all_sum = 0;
  for (size_t i = 0; i < threads_; ++i) {
    all_sum += busy[i];
    if (i < k) active_sum += busy[i];
  }
  // Saturated: the active threads have no idle time left, so requests queue behind each other.
  bool saturated = k < threads_ && active_sum >= policy_.grow_at * static_cast<double>(k);
  saturated_samples_ = saturated ? saturated_samples_ + 1 : 0;
  // Room to spare: one thread fewer would still carry everything (also what the inactive threads
  // still serve) below shrink_at each.
  bool spare = k > 1 && all_sum <= policy_.shrink_at * static_cast<double>(k - 1);
  idle_samples_ = spare ? idle_samples_ + 1 : 0;
  if (saturated_samples_ >= policy_.grow_after) {
    ++k;
    saturated_samples_ = 0;
  } else if (idle_samples_ >= policy_.shrink_after) {
    --k;
    idle_samples_ = 0;
  }
  active_.store(k, std::memory_order_relaxed);
  return k;
}

void ThreadSpread::set_active(size_t n) {
  active_.store(std::clamp<size_t>(n, 1, threads_), std::memory_order_relaxed);
  saturated_samples_ = idle_samples_ = 0;
}

size_t ThreadSpread::choose() const {
  size_t k = active(), best = 0;
  for (size_t i = 1; i < k; ++i) {
    if (connections_on(i) < connections_on(best)) best = i;
  }
  return best;
}

void ThreadSpread::opened(size_t thread) { connections_[thread].fetch_add(1, std::memory_order_relaxed); }

std::optional<size_t> ThreadSpread::move_from(size_t thread) {
  size_t k = active();
  size_t here = connections_on(thread);
  if (thread < k) {
    // An active thread keeps its connections unless it holds more than its share.
    size_t total = 0;
    for (size_t i = 0; i < threads_; ++i) total += connections_on(i);
    size_t share = (total + k - 1) / k;
    if (here <= share) return std::nullopt;
  }
  size_t to = choose();
  // Only a move that evens things out: to a thread with at least two fewer (an inactive thread
  // gives up its connections whatever the counts).
  if (to == thread || (thread < k && connections_on(to) + 1 >= here)) return std::nullopt;
  connections_[thread].fetch_sub(1, std::memory_order_relaxed);
  connections_[to].fetch_add(1, std::memory_order_relaxed);
  moves_.fetch_add(1, std::memory_order_relaxed);
  return to;
}

void ThreadSpread::closed(size_t thread) { connections_[thread].fetch_sub(1, std::memory_order_relaxed); }

}  // namespace bp::gateway

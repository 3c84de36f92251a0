#include "bp/gateway/thread_spread.h"

#include <algorithm>

namespace bp::gateway {

ThreadSpread::ThreadSpread(size_t threads, SpreadPolicy policy)
    : threads_(std::max<size_t>(1, threads)),
      policy_(policy),
      active_(policy.by_load ? 1 : threads_),
      connections_(new std::atomic<size_t>[threads_]),
      shrink_wait_(policy.shrink_after),
      hold_wait_(policy.hold_after) {
  for (size_t i = 0; i < threads_; ++i) connections_[i] = 0;
}

size_t ThreadSpread::sample(std::span<const double> busy, double answered, double request_bytes) {
  verdict_.reset();
  size_t k = active();
  if (!policy_.by_load || busy.size() != threads_) return k;
  double active_sum = 0, all_sum = 0;
  for (size_t i = 0; i < threads_; ++i) {
    all_sum += busy[i];
    if (i < k) active_sum += busy[i];
  }
  // A failed trial further back than this no longer doubles the next hold.
  if (since_failed_ && ++*since_failed_ > policy_.hold_max + hold_wait_) since_failed_.reset();
  // After a shrink, watch for regret_within samples: a grow in that time doubles the wait before
  // the next shrink; none resets it.
  if (since_shrink_ && ++*since_shrink_ > policy_.regret_within) {
    since_shrink_.reset();
    shrink_wait_ = policy_.shrink_after;
  }
  if (trial_) {
    // A thread on trial: nothing else is decided until the verdict.
    if (++trial_->samples > policy_.trial_skip) trial_->answered += std::max(0.0, answered);
    if (trial_->samples < policy_.trial_skip + policy_.trial_samples) return k;
    Trial trial = *trial_;
    trial_.reset();
    double with = trial.answered / policy_.trial_samples;
    verdict_ = Verdict{.before = trial.before, .with = with, .stays = with >= policy_.trial_gain * trial.before};
    if (!verdict_->stays) {
      hold_wait_ = since_failed_ ? std::min(2 * hold_wait_, policy_.hold_max) : policy_.hold_after;
      since_failed_ = 0;
      failed_trials_.fetch_add(1, std::memory_order_relaxed);
      active_.store(--k, std::memory_order_relaxed);
      return k;
    }
    // It answers more: it stays. What decides the next shrink is as if it had joined untried.
    hold_wait_ = policy_.hold_after;
    since_failed_.reset();
    if (trial.regret) shrink_wait_ = std::min(2 * shrink_wait_, policy_.shrink_after_max);
    return k;
  }
  // Saturated: the active threads have no time left, so requests queue behind each other. With
  // large requests, half of it: each is a long stretch of work the others wait behind (decision 0019).
  bool large = request_bytes >= policy_.large_request_bytes;
  double full = large ? policy_.saturated_large : policy_.saturated;
  bool saturated = k < threads_ && active_sum >= full * static_cast<double>(k);
  if (saturated) {
    ++saturated_samples_;
    saturated_answered_ = answered < 0 || saturated_answered_ < 0 ? -1 : saturated_answered_ + answered;
  } else {
    saturated_samples_ = 0;
    saturated_answered_ = 0;
  }
  // Spare: one thread fewer would carry everything (also what inactive threads still serve)
  // without being saturated; with large requests, below `spare_large`, short of the 50% that
  // brings a thread in.
  double spare_below = large ? policy_.spare_large : policy_.saturated;
  bool spare = k > 1 && all_sum < spare_below * static_cast<double>(k - 1);
  spare_samples_ = spare ? spare_samples_ + 1 : 0;
  // Large requests join without a trial, so no failed trial holds them back (decision 0020): with
  // them a second thread answered more in every closed loop measured, and in an open loop, where
  // no more can be answered and the trial would always fail, it cut the tail.
  bool holding = !large && since_failed_ && *since_failed_ < hold_wait_;
  if (saturated_samples_ >= policy_.grow_after && !holding) {
    bool regret = since_shrink_.has_value();
    since_shrink_.reset();
    if (saturated_answered_ >= 0 && !large) {
      trial_ = Trial{.before = saturated_answered_ / saturated_samples_, .regret = regret};
    } else if (regret) {
      shrink_wait_ = std::min(2 * shrink_wait_, policy_.shrink_after_max);
    }
    ++k;
    saturated_samples_ = spare_samples_ = 0;
    saturated_answered_ = 0;
  } else if (spare_samples_ >= shrink_wait_) {
    --k;
    since_shrink_ = 0;
    saturated_samples_ = spare_samples_ = 0;
    saturated_answered_ = 0;
  }
  active_.store(k, std::memory_order_relaxed);
  return k;
}

void ThreadSpread::set_active(size_t n) { active_.store(std::clamp<size_t>(n, 1, threads_), std::memory_order_relaxed); }

size_t ThreadSpread::choose() const {
  size_t k = active(), best = 0;
  for (size_t i = 1; i < k; ++i) {
    if (connections_on(i) < connections_on(best)) best = i;
  }
  return best;
}

void ThreadSpread::opened(size_t thread) { connections_[thread].fetch_add(1, std::memory_order_relaxed); }

std::optional<size_t> ThreadSpread::move_from(size_t thread) {
  if (!policy_.by_load) return std::nullopt;  // BP_THREAD_SPREAD=all: connections stay where they were placed
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

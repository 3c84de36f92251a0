// When a drain of a deleted destination's consumer takes its next batch (decision 0021).
#pragma once

#include <chrono>
#include <cstdint>

namespace bp::control_plane {

// Two rules. The rates: at most `rate` messages and `bytes_rate` bytes a second, counted from
// the drain's start or from the end of its last pause. And the pause: a pull that nats-server
// answers slower than `slow_answer` says its store is waiting for the disk (under the kernel's
// write-back a removal can take hundreds of milliseconds, and every pipe's ingest waits behind
// it). The drain then pauses: 1 s after a slow answer, twice as long after each further one that
// comes within 10 s of pulling after the pause before, at most 16 s.
class DrainPace {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFirstPause{1000};
  static constexpr std::chrono::milliseconds kLongestPause{16000};
  // Pulling this long after a pause without a slow answer: the next pause is kFirstPause again.
  static constexpr std::chrono::milliseconds kCalm{10000};

  DrainPace(Clock::time_point start, int64_t rate, int64_t bytes_rate, std::chrono::milliseconds slow_answer);

  // After a batch of `messages` and `bytes`, acked at `now`, whose pull took `answer`: when the
  // next batch may be pulled. `judged` false keeps the answer's time out of it: a short batch's
  // pull may have waited for messages to come, not for the server.
  Clock::time_point after_batch(Clock::time_point now, int64_t messages, int64_t bytes, Clock::duration answer,
                                bool judged);

  int slow_answers() const { return slow_answers_; }
  Clock::duration paused() const { return paused_; }

 private:
  Clock::time_point from_;  // the rates count from here: the start, or the last pause's end
  int64_t rate_, bytes_rate_;
  std::chrono::milliseconds slow_answer_;
  int64_t messages_ = 0, bytes_ = 0;  // since from_
  std::chrono::milliseconds next_pause_ = kFirstPause;
  int slow_answers_ = 0;
  Clock::duration paused_{};
};

}  // namespace bp::control_plane

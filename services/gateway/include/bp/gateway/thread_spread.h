// How many of the gateway's I/O threads take connections, and which connection goes where.
//
// The gateway starts one I/O thread per core, but a thread with little work costs more per request
// than one with plenty: it runs out of work sooner, sleeps and is woken again, and its NATS
// connection carries smaller batches (decision 0013). So connections gather on as few threads as
// keep up with the load: one to begin with, one more whenever the active ones are saturated and the
// one more answers more requests (with large requests, whenever they are saturated), one fewer once
// the rest could carry the load without being saturated. Connections move between threads between
// two requests, never during one.
//
// The decisions are plain arithmetic on samples the server takes (each thread's share of a core,
// the requests answered), so they are tested without threads or clocks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace bp::gateway {

struct SpreadPolicy {
  bool by_load = true;      // false: every thread is active (BP_THREAD_SPREAD=all)
  double saturated = 0.90;  // a thread's share of a core at which it has no time to spare
  // With large requests (at least `large_request_bytes` accepted per request answered, over a
  // sample) a thread counts as saturated from `saturated_large` of a core (and one fewer waits for
  // `spare_large`, below). A 30-KB body of 100 records is a long stretch of work (reading it,
  // checking it, writing it to NATS) during which the thread's other requests wait, and its NATS
  // connection is idle: on 2026-12-07 one thread carried 100-record requests at 0.61 of a core
  // while the machine had a third of its CPU to spare, and two threads answered 17-39% more (six
  // rounds on one stack). With one-record requests two threads answer fewer (decision 0013), and
  // there is no trial for large requests (below).
  double saturated_large = 0.50;
  double large_request_bytes = 8192;
  // With large requests, one thread fewer once the rest would carry the load below this share of
  // a core, short of `saturated_large`: the same load took less of two threads together than of
  // one (100-record requests at 10,000 a second, 2026-12-07: one thread at 0.50-0.60 of a core,
  // two at 0.46 together), so a shrink at 50% brought back the load that brought the thread in.
  double spare_large = 0.40;
  int grow_after = 3;       // samples in a row of the active threads saturated on average: one more
  // A thread that joins is on trial (when the server gives the requests handled): after
  // `trial_skip` samples (the connections move over), the next `trial_samples` must answer
  // `trial_gain` times the requests a second that the fewer threads answered while saturated. A
  // saturated thread can be waiting for the rest of the machine (nats-server, the clients on the
  // same cores): then one more thread only adds wakeups, and fewer requests are answered. A thread
  // that fails its trial is let go at once, and none joins for `hold_after` samples; twice as long
  // after each failed trial, up to `hold_max`, unless the hold before it ended more than `hold_max`
  // samples earlier. With large requests a thread joins without a trial, hold or not (decision
  // 0020): a second thread answered more of them in every closed loop, and in an open loop, where
  // it cannot answer more, it cut the p99 to a fraction.
  int trial_skip = 2;
  int trial_samples = 8;
  double trial_gain = 1.10;
  int hold_after = 50;
  int hold_max = 600;
  // One fewer when the rest would not be saturated, for this many samples in a row...
  int shrink_after = 10;
  // ...twice as many each time a thread let go is needed again within `regret_within` samples (a
  // load that one thread fewer cannot carry, though the busy shares said it could: two threads
  // cost more per request than one), up to this many. A shrink that holds resets the wait.
  int shrink_after_max = 300;
  int regret_within = 30;
};

class ThreadSpread {
 public:
  ThreadSpread(size_t threads, SpreadPolicy policy = {});

  size_t threads() const { return threads_; }
  size_t active() const { return active_.load(std::memory_order_relaxed); }
  uint64_t moves() const { return moves_.load(std::memory_order_relaxed); }
  size_t connections_on(size_t thread) const { return connections_[thread].load(std::memory_order_relaxed); }

  // One sample: busy[i] is thread i's share of a core since the previous sample (busy.size() ==
  // threads()); `answered` the requests a second the gateway handled since then (negative:
  // unknown, and a thread that joins stays without a trial); `request_bytes` the bytes accepted
  // per request answered meanwhile. Returns the number of active threads after it.
  size_t sample(std::span<const double> busy, double answered = -1, double request_bytes = 0);
  // Sets the active count (tests; clamped to [1, threads()]). Only the count changes, so it may
  // run beside sample().
  void set_active(size_t n);

  // Where the next connection goes: the active thread with the fewest connections. (The server
  // picks it before the accept completes, and counts the connection with opened() after.)
  size_t choose() const;
  // A connection on `thread` has opened.
  void opened(size_t thread);
  // Between two requests of a connection on `thread`: the thread it should move to, if any (its
  // thread is no longer active, or holds more than its share while another active thread holds
  // fewer; never with by_load off). The move is counted at once, so other connections decide on
  // the new counts.
  std::optional<size_t> move_from(size_t thread);
  // A connection on `thread` has closed.
  void closed(size_t thread);
  // Trials failed so far (a thread that joined and answered no more: see SpreadPolicy).
  uint64_t failed_trials() const { return failed_trials_.load(std::memory_order_relaxed); }
  // The verdict of the trial that the last sample() ended, if it ended one: the requests a second
  // before the thread joined and with it, and whether it stays. For the log; read it on the thread
  // that calls sample().
  struct Verdict {
    double before;
    double with;
    bool stays;
  };
  const std::optional<Verdict>& verdict() const { return verdict_; }

 private:
  const size_t threads_;
  const SpreadPolicy policy_;
  std::atomic<size_t> active_;
  std::unique_ptr<std::atomic<size_t>[]> connections_;
  std::atomic<uint64_t> moves_{0};
  std::atomic<uint64_t> failed_trials_{0};
  // sample() runs on one thread only.
  int saturated_samples_ = 0;
  double saturated_answered_ = 0;  // the sum of `answered` over those samples (negative: unknown)
  int spare_samples_ = 0;
  int shrink_wait_;                  // samples of spare capacity before a shrink
  std::optional<int> since_shrink_;  // samples since the last shrink, while watching for regret
  struct Trial {
    double before;        // requests a second with one thread fewer, saturated
    bool regret;          // a thread let go came back soon after (see shrink_after)
    int samples = 0;      // since it joined
    double answered = 0;  // the sum over the samples that count
  };
  std::optional<Trial> trial_;
  std::optional<Verdict> verdict_;
  // No thread joins while since_failed_ < hold_wait_ (the hold after the last failed trial).
  int hold_wait_;
  std::optional<int> since_failed_;  // samples since the last failed trial, while it counts
};

}  // namespace bp::gateway

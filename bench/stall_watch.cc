// bp_stall_watch: how long this machine stopped running anything while a measurement ran.
//
// One thread per CPU, pinned to it, at the highest real-time priority (SCHED_FIFO 99), wakes every
// millisecond and notes how late it woke. No process of this machine outranks it, so only the
// kernel (interrupts, sections that keep its timer from firing) or the host can make it late, and
// the same late wake on every CPU at once is a stop of the whole machine: the host's doing, unless
// a kernel held every CPU that long. Runs until SIGTERM or SIGINT, then prints one JSON object:
//   rt               the real-time priority was granted (it needs root; without it the watchers
//                    are ordinary threads and their lateness includes this machine's own queueing)
//   late_wakes       wakes later than --late-ms (5) on any CPU; longest_late_ms the worst of them
//   late_preempted   of those, wakes where the watcher was switched out in between (the guest's
//                    scheduler ran something else first; a delay inside the kernel does not count)
//   stops            moments when every CPU was late at once by more than --late-ms, as
//                    "<ms from start>:<ms stopped>" (all_stopped_ms: their total)
//   work_us          a fixed piece of work each watcher times every 100 ms (about 50 us of
//                    arithmetic): its fastest, median and slowest time, and the share of samples
//                    that took over twice the fastest. Nothing in the guest can interrupt it for
//                    long, so a slow sample is a CPU slowed (or taken for a moment) by the host.
// Costs 1000 wakes per CPU per second and 50 us of arithmetic every 100 ms: 1.3% of a core each
// (perf stat over 10 s on the bench's 2-core VM, where a wake and its syscalls take about 13 us).
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::atomic<bool> stopping{false};

double ms_between(const timespec& a, const timespec& b) {
  return static_cast<double>(b.tv_sec - a.tv_sec) * 1e3 + static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e6;
}

struct Late {
  double from_ms, to_ms;  // since the start: when the wake was due, when it came
  bool preempted;
};

struct Watcher {
  int cpu = 0;
  bool rt = false;
  std::vector<Late> late;
  std::vector<double> work_us;
};

// The fixed piece of work: a dependent chain of multiply-adds the compiler cannot shorten.
double timed_work() {
  timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  volatile uint64_t seed = 88172645463325252ULL;
  uint64_t x = seed;
  for (int i = 0; i < 40000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  seed = x;
  clock_gettime(CLOCK_MONOTONIC, &b);
  return ms_between(a, b) * 1e3;
}

void watch(Watcher& w, const timespec& start, double late_ms) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(w.cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  sched_param sp{};
  sp.sched_priority = sched_get_priority_max(SCHED_FIFO);
  w.rt = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
  timespec due;
  clock_gettime(CLOCK_MONOTONIC, &due);
  for (uint64_t wake = 0; !stopping; ++wake) {
    if (wake % 100 == 0) w.work_us.push_back(timed_work());
    due.tv_nsec += 1000000;
    if (due.tv_nsec >= 1000000000) {
      due.tv_nsec -= 1000000000;
      ++due.tv_sec;
    }
    rusage before{}, after{};
    getrusage(RUSAGE_THREAD, &before);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, nullptr);
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    getrusage(RUSAGE_THREAD, &after);
    double late = ms_between(due, now);
    if (late > late_ms) {
      // The sleep itself is one voluntary switch; anything more is the guest's scheduler.
      bool preempted = after.ru_nivcsw > before.ru_nivcsw || after.ru_nvcsw > before.ru_nvcsw + 1;
      w.late.push_back({ms_between(start, due), ms_between(start, now), preempted});
    }
    if (late > 0) due = now;  // no burst of wakes to catch up
  }
}

}  // namespace

int main(int argc, char** argv) {
  double late_ms = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--late-ms=", 10) == 0) {
      late_ms = std::strtod(argv[i] + 10, nullptr);
    } else {
      std::fprintf(stderr, "usage: bp_stall_watch [--late-ms=5]   (runs until SIGTERM/SIGINT)\n");
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // the watchers inherit the mask

  cpu_set_t online;
  CPU_ZERO(&online);
  sched_getaffinity(0, sizeof online, &online);
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  std::vector<Watcher> watchers;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &online)) watchers.push_back(Watcher{cpu, false, {}, {}});
  }
  std::vector<std::thread> threads;
  for (auto& w : watchers) threads.emplace_back([&w, &start, late_ms] { watch(w, start, late_ms); });
  int signal = 0;
  sigwait(&signals, &signal);
  stopping = true;
  for (auto& t : threads) t.join();
  timespec end;
  clock_gettime(CLOCK_MONOTONIC, &end);

  size_t late_wakes = 0, preempted = 0;
  double longest = 0;
  bool rt = true;
  for (const auto& w : watchers) {
    rt = rt && w.rt;
    late_wakes += w.late.size();
    for (const auto& l : w.late) {
      longest = std::max(longest, l.to_ms - l.from_ms);
      if (l.preempted) ++preempted;
    }
  }
  // Whole-machine stops: the spans where every CPU was late at once, longer than --late-ms. The
  // late spans of one CPU never overlap (its watcher is one thread), so a sweep over all their
  // ends counts how many CPUs are late at each moment.
  std::vector<std::pair<double, int>> edges;  // (time, +1 a span starts / -1 it ends); ends first
  for (const auto& w : watchers) {
    for (const auto& l : w.late) {
      edges.emplace_back(l.from_ms, +1);
      edges.emplace_back(l.to_ms, -1);
    }
  }
  std::sort(edges.begin(), edges.end());
  std::string stops;
  double all_stopped = 0, since = 0;
  int late_now = 0;
  for (const auto& [at, step] : edges) {
    if (step > 0 && ++late_now == static_cast<int>(watchers.size())) since = at;
    if (step < 0 && late_now-- == static_cast<int>(watchers.size()) && at - since > late_ms) {
      all_stopped += at - since;
      char entry[64];
      std::snprintf(entry, sizeof entry, "%s\"%.0f:%.1f\"", stops.empty() ? "" : ",", since, at - since);
      stops += entry;
    }
  }
  std::vector<double> work;
  for (const auto& w : watchers) work.insert(work.end(), w.work_us.begin(), w.work_us.end());
  std::sort(work.begin(), work.end());
  double fastest = work.empty() ? 0 : work.front();
  size_t slow = static_cast<size_t>(std::count_if(work.begin(), work.end(), [&](double t) { return t > 2 * fastest; }));
  std::printf(
      "{\"seconds\":%.1f,\"cpus\":%zu,\"rt\":%s,\"late_ms\":%.1f,\"late_wakes\":%zu,\"late_preempted\":%zu,"
      "\"longest_late_ms\":%.1f,\"all_stopped_ms\":%.1f,\"stops\":[%s],"
      "\"work_us\":{\"samples\":%zu,\"fastest\":%.1f,\"median\":%.1f,\"slowest\":%.1f,\"over_twice\":%.3f}}\n",
      ms_between(start, end) / 1e3, watchers.size(), rt ? "true" : "false", late_ms, late_wakes, preempted, longest,
      all_stopped, stops.c_str(), work.size(), fastest, work.empty() ? 0 : work[work.size() / 2],
      work.empty() ? 0 : work.back(), work.empty() ? 0 : static_cast<double>(slow) / static_cast<double>(work.size()));
  return 0;
}

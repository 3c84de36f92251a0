// The Prometheus text format, once for every service: family headers, samples, a lock-free
// histogram and a labelled counter family.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bp::ops::prom {

// `# HELP` and `# TYPE` lines of a family.
void header(std::string& out, std::string_view name, std::string_view type, std::string_view help);
// One sample; `labels` is the inside of the braces (`a="x",b="y"`) or empty.
void sample(std::string& out, std::string_view name, std::string_view labels, double value);
void sample(std::string& out, std::string_view name, std::string_view labels, uint64_t value);
// A label value escaped for the text format (backslash, quote, newline).
std::string escape(std::string_view value);

// Upper bounds in seconds from 0.5 ms to 10 s, for request and write latencies.
const std::vector<double>& latency_buckets();

// A histogram with fixed upper bounds; observe() is lock-free.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds = latency_buckets());
  void observe(double value);
  // _bucket (cumulative, +Inf last), _sum and _count samples, with `labels` on each.
  void write(std::string& out, std::string_view name, std::string_view labels) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Counters keyed by their label set (the inside of the braces), e.g. route and status.
class LabelledCounters {
 public:
  // Looks the label set up without copying it; only a new one is stored.
  void add(std::string_view labels, uint64_t n = 1);
  // The counter of a label set, created at 0 when new. It lives as long as this family: a caller
  // on a hot path keeps it instead of looking the labels up on every add.
  std::atomic<uint64_t>& series(std::string_view labels);
  void write(std::string& out, std::string_view name) const;
  uint64_t get(std::string_view labels) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::atomic<uint64_t>, std::less<>> values_;
};

// Histograms keyed by their label set, created on first use.
class LabelledHistograms {
 public:
  explicit LabelledHistograms(std::vector<double> bounds = latency_buckets()) : bounds_(std::move(bounds)) {}
  void observe(std::string_view labels, double value);
  // The histogram of a label set, created when new; it lives as long as this family.
  Histogram& series(std::string_view labels);
  void write(std::string& out, std::string_view name) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Histogram>, std::less<>> values_;
};

}  // namespace bp::ops::prom

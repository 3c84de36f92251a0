#include "bp/ops/prometheus.h"

#include <cstdio>

namespace bp::ops::prom {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
  out.append(type).append("\n");
}

namespace {
void sample_text(std::string& out, std::string_view name, std::string_view labels, const std::string& value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}
}  // namespace

void sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  sample_text(out, name, labels, buf);
}

void sample(std::string& out, std::string_view name, std::string_view labels, uint64_t value) {
  sample_text(out, name, labels, std::to_string(value));
}

std::string escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

void Histogram::write(std::string& out, std::string_view name, std::string_view labels) const {
  std::string bucket = std::string(name) + "_bucket";
  std::string sep = labels.empty() ? "" : std::string(labels) + ",";
  uint64_t cumulative = 0;
  char le[32];
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::snprintf(le, sizeof le, "%g", bounds_[i]);
    sample(out, bucket, sep + "le=\"" + le + "\"", cumulative);
  }
  cumulative += counts_[bounds_.size()].load(std::memory_order_relaxed);
  sample(out, bucket, sep + "le=\"+Inf\"", cumulative);
  sample(out, std::string(name) + "_sum", labels, sum_.load(std::memory_order_relaxed));
  sample(out, std::string(name) + "_count", labels, cumulative);
}

void LabelledCounters::add(std::string_view labels, uint64_t n) { series(labels).fetch_add(n, std::memory_order_relaxed); }

std::atomic<uint64_t>& LabelledCounters::series(std::string_view labels) {
  std::lock_guard lock(mutex_);
  auto it = values_.find(labels);
  if (it == values_.end()) it = values_.try_emplace(std::string(labels), 0).first;
  return it->second;
}

uint64_t LabelledCounters::get(std::string_view labels) const {
  std::lock_guard lock(mutex_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second.load(std::memory_order_relaxed);
}

void LabelledCounters::write(std::string& out, std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [labels, value] : values_) sample(out, name, labels, value.load(std::memory_order_relaxed));
}

void LabelledHistograms::observe(std::string_view labels, double value) { series(labels).observe(value); }

Histogram& LabelledHistograms::series(std::string_view labels) {
  std::lock_guard lock(mutex_);
  auto it = values_.find(labels);
  if (it == values_.end()) it = values_.emplace(std::string(labels), std::make_unique<Histogram>(bounds_)).first;
  return *it->second;
}

void LabelledHistograms::write(std::string& out, std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [labels, h] : values_) h->write(out, name, labels);
}

}  // namespace bp::ops::prom

// What bp_loadgen and bp_js_latency share, so that their open loops and their percentiles are
// the same: the grid sends go out on, and the percentile of sorted latencies.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace bp::bench {

// The first point at or after `t` of the grid of step `grid` that starts at `start`; `t` itself
// without a grid (a step of 0) or before the start.
inline std::chrono::steady_clock::time_point on_grid(std::chrono::steady_clock::time_point start,
                                                     std::chrono::steady_clock::duration grid,
                                                     std::chrono::steady_clock::time_point t) {
  if (grid.count() <= 0 || t <= start) return t;
  return start + grid * ((t - start + grid - std::chrono::steady_clock::duration(1)) / grid);
}

// The p-th percentile (0-100) of `sorted`, the nearest rank; 0 when empty.
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace bp::bench

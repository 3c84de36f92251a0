// The drain of deleted destinations' deep consumers (decision 0021): their messages are acked at
// a bounded rate, then the emptied consumer is deleted. Deleting a consumer that holds millions
// of messages at once stalls every pipe's ingest while nats-server removes them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bp/control_plane/management.h"
#include "bp/pg/connection.h"
#include "bp/result.h"

namespace bp::control_plane {

// What one pass did.
struct DrainReport {
  bool drains = false;  // this process holds the drain lock (one control-plane drains at a time)
  int deleted = 0;      // consumers deleted, drained first or shallow already
  int64_t acked = 0;    // messages acked for consumers of deleted destinations
  int left = 0;         // consumer_cleanup rows left after the pass (any control-plane's to see)
};

class ConsumerDrain {
 public:
  // `database_url` opens a connection of the drain's own: it holds the advisory lock that makes
  // one control-plane of many the one that drains, and the lock goes with the connection when
  // that process stops or dies.
  ConsumerDrain(std::string database_url, std::shared_ptr<Management> service);

  // Takes the lock if it can, then, holding it, goes through the consumer_cleanup rows oldest
  // first: a consumer shallow enough is deleted, a deep one is drained and then deleted. The
  // control-plane runs a pass every second; a pass stops early once stop() is called. Rows
  // survive restarts, so the next pass (of this or another process) resumes.
  Result<DrainReport> run_once();
  void stop() { stopping_ = true; }

  // For /metrics.
  int64_t acked_total() const { return acked_total_.load(); }
  int64_t left() const { return left_.load(); }

 private:
  std::string database_url_;
  std::shared_ptr<Management> service_;
  std::optional<pg::Connection> conn_;
  bool locked_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> acked_total_{0};
  std::atomic<int64_t> left_{0};
};

}  // namespace bp::control_plane

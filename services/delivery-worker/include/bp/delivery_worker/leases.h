// Destination leases in a JetStream KV bucket: one worker delivers a destination at a time. A
// lease lives `ttl` unless renewed, so a worker that dies loses its leases within seconds.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bp/nats/client.h"
#include "bp/result.h"

namespace bp::delivery_worker {

class Leases {
 public:
  static Result<std::unique_ptr<Leases>> open(std::shared_ptr<nats::Client> nats, std::string worker_id,
                                              std::chrono::milliseconds ttl);
  ~Leases();

  // True when this worker holds (or just took) the lease.
  bool acquire(const std::string& destination_id);
  // False when the lease was lost (expired and taken by another worker).
  bool renew(const std::string& destination_id);
  void release(const std::string& destination_id);
  size_t held() const;
  bool holds(const std::string& destination_id) const;
  std::chrono::milliseconds ttl() const { return ttl_; }

 private:
  Leases() = default;
  void align_ttl();
  bool ensure_bucket();
  std::shared_ptr<nats::Client> nats_;
  std::atomic<kvStore*> kv_{nullptr};
  std::string worker_id_;
  std::chrono::milliseconds ttl_{};
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> revisions_;  // destination -> revision of our lease entry
};

}  // namespace bp::delivery_worker

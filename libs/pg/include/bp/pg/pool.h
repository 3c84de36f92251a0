// A fixed-size pool of Postgres connections; broken connections are replaced on their next lease.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bp/pg/connection.h"

namespace bp::pg {

class Pool {
 public:
  Pool(std::string url, size_t size);

  // A connection on loan; returned to the pool when the lease is destroyed.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ && conn_) pool_->give_back(std::move(conn_));
    }
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // Waits up to `wait` for a free connection; connects lazily; Error kUnavailable on failure.
  Result<Lease> acquire(std::chrono::milliseconds wait = std::chrono::seconds(5));
  size_t size() const { return size_; }
  // Connections on loan (or being connected) now.
  size_t in_use() {
    std::lock_guard lock(mutex_);
    return out_;
  }

 private:
  void give_back(std::unique_ptr<Connection> conn);

  std::string url_;
  size_t size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t out_ = 0;  // leased or being connected
};

}  // namespace bp::pg

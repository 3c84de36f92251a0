// Connection pool: bounded, lazy, and self-healing after a lost connection.
#include "bp/pg/pool.h"

namespace bp::pg {

Pool::Pool(std::string url, size_t size) : url_(std::move(url)), size_(size) {}

Result<Pool::Lease> Pool::acquire(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!cv_.wait_for(lock, wait, [&] { return !idle_.empty() || out_ < size_; })) {
    return Error::unavailable("no Postgres connection free within " + std::to_string(wait.count()) + " ms");
  }
  ++out_;
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    if (conn->healthy()) return Lease(this, std::move(conn));
  }
  lock.unlock();
  auto fresh = Connection::connect(url_);
  if (!fresh) {
    std::lock_guard relock(mutex_);
    --out_;
    cv_.notify_one();
    return fresh.take_error();
  }
  return Lease(this, std::make_unique<Connection>(std::move(fresh).value()));
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  std::lock_guard lock(mutex_);
  --out_;
  // A connection left inside a failed transaction or broken is dropped rather than reused.
  if (conn->healthy() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE) idle_.push_back(std::move(conn));
  cv_.notify_one();
}

}  // namespace bp::pg

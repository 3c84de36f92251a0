// One control-plane at a time drains deleted destinations' deep consumers (decision 0021).
#include "bp/control_plane/consumer_drain.h"

#include <chrono>

#include "bp/log.h"

namespace bp::control_plane {
namespace {

constexpr char kDrainLockId[] = "4778307254219604512";  // the drain's advisory lock, cluster-wide
constexpr std::chrono::seconds kDeleteWait{5};

}  // namespace

ConsumerDrain::ConsumerDrain(std::string database_url, std::shared_ptr<Management> service)
    : database_url_(std::move(database_url)), service_(std::move(service)) {}

Result<DrainReport> ConsumerDrain::run_once() {
  DrainReport report;
  if (!conn_) {
    auto c = pg::Connection::connect(database_url_);
    if (!c) return c.take_error();
    conn_.emplace(std::move(c).value());
    locked_ = false;
  }
  // Any failure on the connection drops it, and the lock with it; the next pass starts over.
  auto fail = [this](Error e) -> Result<DrainReport> {
    conn_.reset();
    locked_ = false;
    return e;
  };
  if (!locked_) {
    auto got = conn_->exec(std::string("SELECT pg_try_advisory_lock(") + kDrainLockId + ") AS got");
    if (!got) return fail(got.take_error());
    locked_ = got->text(0, "got") == "t";
  }
  report.drains = locked_;
  if (locked_) {
    auto rows = conn_->exec("SELECT destination_id FROM consumer_cleanup ORDER BY deleted_at");
    if (!rows) return fail(rows.take_error());
    const auto& topology = service_->topology();
    for (int i = 0; i < rows->size() && !stopping_; ++i) {
      std::string id = rows->text(i, "destination_id");
      auto gone = service_->delete_consumer_of_deleted(*conn_, id, kDeleteWait);
      if (gone && !*gone) {
        const auto start = std::chrono::steady_clock::now();
        auto drained = topology->drain_consumer(id, stopping_);
        if (drained) {
          report.acked += drained->acked;
          acked_total_ += drained->acked;
          // None: what is left is with a worker, unacked, until AckWait; passes until then say nothing.
          auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
          if (drained->acked > 0) {
            log::info("drained the consumer of a deleted destination",
                      {{"destination_id", id},
                       {"acked", std::to_string(drained->acked)},
                       {"ms", std::to_string(ms.count())},
                       {"slow_answers", std::to_string(drained->slow_answers)},
                       {"paused_ms", std::to_string(drained->paused.count())}});
          }
        } else {
          log::warn("drain of a consumer interrupted", {{"destination_id", id}, {"error", drained.error().message}});
        }
        if (stopping_) break;
        gone = service_->delete_consumer_of_deleted(*conn_, id, kDeleteWait);
      }
      if (!gone) {
        // nats-server away, or Postgres (then the count below fails and drops the connection).
        log::warn("consumer of a deleted destination not deleted yet",
                  {{"destination_id", id}, {"error", gone.error().message}});
        continue;
      }
      // Still deep: messages a worker held unacked come back after AckWait; a later pass takes them.
      if (!*gone) continue;
      log::info("deleted the consumer of a deleted destination", {{"destination_id", id}});
      ++report.deleted;
    }
  }
  auto left = conn_->exec("SELECT count(*) AS n FROM consumer_cleanup");
  if (!left) return fail(left.take_error());
  report.left = std::stoi(left->text(0, "n"));
  left_ = report.left;
  return report;
}

}  // namespace bp::control_plane

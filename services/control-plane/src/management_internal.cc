// Calls from the other services: ingest lookups, the workers' destination list, runs and usage.
#include <chrono>

#include "bp/control_plane/management.h"
#include "bp/control_plane/validation.h"
#include "bp/log.h"
#include "bp/uuid.h"
#include "records.h"

namespace bp::control_plane {

namespace {

// How long a reconcile pass waits for nats-server to delete a consumer: the library's default,
// since nothing waits on a pass but the next one.
constexpr std::chrono::seconds kReconcileDeleteWait{5};

// Prefixed to the statements that write delivery runs and usage: their (implicit) transaction's
// commit does not wait for the WAL to reach the disk. They are records about delivery, not the
// records (the worker's reporter already drops what it cannot send), and a commit that waited
// would add a WAL flush to every batch the sinks write, behind which the sinks' own commits
// queue (decision 0015). A Postgres crash may lose the last few hundred milliseconds of them;
// nothing else. The statement reads `async` so that the CTE runs (once, before the write).
constexpr const char* kAsyncCommit = "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) ";

}  // namespace

Result<v1::ResolveApiKeyResponse> Management::resolve_api_key(const std::string& key_sha256) {
  if (key_sha256.size() != 64) return Error::not_found("API key not found");
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  // last_used_at is debounced to once a minute so that hot keys do not write on every call.
  auto rows = (*conn)->exec(
      "WITH k AS (SELECT id, workspace_id FROM api_key WHERE key_sha256 = $1 AND revoked_at IS NULL "
      "  AND (expires_at IS NULL OR expires_at > now())), "
      "touched AS (UPDATE api_key SET last_used_at = now() WHERE id IN (SELECT id FROM k) "
      "  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')) "
      "SELECT id, workspace_id FROM k",
      {key_sha256});
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("API key not found");
  v1::ResolveApiKeyResponse out;
  out.set_api_key_id(rows->text(0, "id"));
  out.set_workspace_id(rows->text(0, "workspace_id"));
  return out;
}

Result<v1::Pipe> Management::resolve_pipe(const std::string& pipe_id) {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  return load_pipe(**conn, "", uuid::normalize(pipe_id), false);
}

Result<v1::ListDeliveryDestinationsResponse> Management::list_delivery_destinations() {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  auto rows = (*conn)->exec(std::string("SELECT d.id, d.pipe_id, p.workspace_id, p.status AS pipe_status, ") +
                            records::kLimitColumns +
                            " FROM destination d JOIN pipe p ON p.id = d.pipe_id "
                            "LEFT JOIN pipe_limit l ON l.pipe_id = d.pipe_id ORDER BY d.created_at, d.id");
  if (!rows) return rows.take_error();
  v1::ListDeliveryDestinationsResponse out;
  for (int i = 0; i < rows->size(); ++i) {
    auto d = load_destination(**conn, rows->text(i, "pipe_id"), rows->text(i, "id"), true);
    if (!d) return d.take_error();
    auto* item = out.add_destinations();
    *item->mutable_destination() = std::move(d).value();
    item->set_workspace_id(rows->text(i, "workspace_id"));
    item->set_pipe_status(rows->text(i, "pipe_status"));
    *item->mutable_limits() = records::limits(*rows, i);
    item->set_consumer_name(consumer_name(rows->text(i, "id")));
    item->set_subject(ingest_subject(rows->text(i, "pipe_id")));
  }
  return out;
}

Result<v1::DeliveryRun> Management::report_delivery_run(const v1::DeliveryRun& run) {
  FieldErrors errors;
  if (!uuid::is_valid(run.id())) errors["run.id"] = "must be a UUID";
  if (!uuid::is_valid(run.pipe_id())) errors["run.pipe_id"] = "must be a UUID";
  if (!uuid::is_valid(run.destination_id())) errors["run.destination_id"] = "must be a UUID";
  if (run.status() != "success" && run.status() != "failed" && run.status() != "retrying") {
    errors["run.status"] = "must be one of: success, failed, retrying";
  }
  if (run.started_at().empty()) errors["run.started_at"] = "is required";
  if (auto s = to_status(std::move(errors)); !s) return s.take_error();
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  auto rows = (*conn)->exec(
      std::string(kAsyncCommit) +
          "INSERT INTO delivery_run AS r (id, pipe_id, destination_id, status, records, bytes, attempts, "
          "started_at, finished_at, error) SELECT $1, $2, $3, $4, $5, $6, $7, $8::timestamptz, "
          "NULLIF($9, '')::timestamptz, $10 FROM async ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, "
          "records = EXCLUDED.records, bytes = EXCLUDED.bytes, attempts = EXCLUDED.attempts, "
          "finished_at = EXCLUDED.finished_at, error = EXCLUDED.error RETURNING " +
          records::kRunColumns,
      {run.id(), run.pipe_id(), run.destination_id(), run.status(), std::to_string(run.records()),
       std::to_string(run.bytes()), std::to_string(run.attempts()), run.started_at(), run.finished_at(),
       run.error()});
  if (!rows) return rows.take_error();
  return records::run(*rows, 0);
}

Status Management::report_usage(const v1::ReportUsageRequest& r) {
  if (!uuid::is_valid(r.pipe_id())) return Error::invalid("pipe_id must be a UUID", {{"pipe_id", "must be a UUID"}});
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  const auto& d = r.delta();
  auto rows = (*conn)->exec(
      std::string(kAsyncCommit) +
          "INSERT INTO usage_counter AS u (pipe_id, hour, requests_accepted, records_accepted, bytes_accepted, "
          "records_delivered, records_failed) SELECT id, date_trunc('hour', now()), $2, $3, $4, $5, $6 "
          "FROM pipe, async WHERE id = $1 ON CONFLICT (pipe_id, hour) DO UPDATE SET "
          "requests_accepted = u.requests_accepted + EXCLUDED.requests_accepted, "
          "records_accepted = u.records_accepted + EXCLUDED.records_accepted, "
          "bytes_accepted = u.bytes_accepted + EXCLUDED.bytes_accepted, "
          "records_delivered = u.records_delivered + EXCLUDED.records_delivered, "
          "records_failed = u.records_failed + EXCLUDED.records_failed",
      {r.pipe_id(), std::to_string(d.requests_accepted()), std::to_string(d.records_accepted()),
       std::to_string(d.bytes_accepted()), std::to_string(d.records_delivered()), std::to_string(d.records_failed())});
  if (!rows) return rows.take_error();
  return ok_status();  // usage of a deleted pipe is dropped on purpose
}

Result<bool> Management::delete_consumer_of_deleted(pg::Connection& conn, const std::string& destination_id,
                                                    std::chrono::milliseconds wait) {
  auto backlog = topology_->consumer_backlog(destination_id);
  if (!backlog && backlog.error().code != ErrorCode::kNotFound) return backlog.take_error();
  if (backlog) {
    if (*backlog > topology_->options().consumer_drain_above) return false;
    if (auto s = topology_->delete_consumer(destination_id, wait); !s) return s.take_error();
  }
  auto done = conn.exec("DELETE FROM consumer_cleanup WHERE destination_id = $1", {destination_id});
  if (!done) return done.take_error();
  return true;
}

void Management::delete_consumers_of_deleted(pg::Connection& conn, const std::vector<std::string>& destination_ids) {
  auto deadline = std::chrono::steady_clock::now() + topology_->options().consumer_delete_wait;
  for (const auto& id : destination_ids) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    Result<bool> gone = left.count() > 0 ? delete_consumer_of_deleted(conn, id, left)
                                         : Result<bool>(Error::unavailable("no time left to wait for nats-server"));
    if (!gone) {
      log::warn("consumer of a deleted destination left to the reconcile",
                {{"destination_id", id}, {"error", gone.error().message}});
    } else if (!*gone) {
      log::info("consumer of a deleted destination left to the drain", {{"destination_id", id}});
    }
  }
}

Result<ReconcileReport> Management::reconcile_consumers() {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  ReconcileReport report;
  auto rows = (*conn)->exec("SELECT id, pipe_id FROM destination");
  if (!rows) return rows.take_error();
  for (int i = 0; i < rows->size(); ++i) {
    std::string id = rows->text(i, "id");
    auto exists = topology_->consumer_exists(id);
    if (!exists) return exists.take_error();
    if (*exists) continue;
    if (auto s = topology_->create_consumer(id, rows->text(i, "pipe_id")); !s) return s.take_error();
    // Deleted since it was read? Its deletion may have found no consumer to delete before this
    // one was made; take it away again.
    auto still = (*conn)->exec("SELECT 1 FROM destination WHERE id = $1", {id});
    if (!still) return still.take_error();
    if (still->empty()) {
      if (auto s = topology_->delete_consumer(id, kReconcileDeleteWait); !s) return s.take_error();
      continue;
    }
    log::warn("recreated missing consumer", {{"destination_id", id}});
    ++report.created;
  }
  auto left = (*conn)->exec("SELECT destination_id FROM consumer_cleanup ORDER BY deleted_at");
  if (!left) return left.take_error();
  for (int i = 0; i < left->size(); ++i) {
    std::string id = left->text(i, "destination_id");
    auto gone = delete_consumer_of_deleted(**conn, id, kReconcileDeleteWait);
    if (!gone) {
      log::warn("consumer of a deleted destination not deleted yet",
                {{"destination_id", id}, {"error", gone.error().message}});
      continue;
    }
    if (!*gone) {
      ++report.draining;  // the drain's, not the reconcile's
      continue;
    }
    log::info("deleted the consumer of a deleted destination", {{"destination_id", id}});
    ++report.removed;
  }
  return report;
}

}  // namespace bp::control_plane

// Workspaces, authentication, pipes, limits and allowed origins.
#include <string>

#include "bp/api_key.h"
#include "bp/control_plane/management.h"
#include "bp/control_plane/validation.h"
#include "bp/origin.h"
#include "bp/uuid.h"
#include "pagination.h"
#include "records.h"

namespace bp::control_plane {
namespace {

constexpr const char* kDuplicatePipeName = "a pipe with this name already exists in the workspace";

void fill_usage(v1::UsageWindow* w, const pg::Rows& rows, const std::string& prefix) {
  w->set_requests_accepted(rows.integer(0, prefix + "requests_accepted"));
  w->set_records_accepted(rows.integer(0, prefix + "records_accepted"));
  w->set_bytes_accepted(rows.integer(0, prefix + "bytes_accepted"));
  w->set_records_delivered(rows.integer(0, prefix + "records_delivered"));
  w->set_records_failed(rows.integer(0, prefix + "records_failed"));
}

std::string usage_sql() {
  std::string sql = "SELECT ";
  for (const char* c : {"requests_accepted", "records_accepted", "bytes_accepted", "records_delivered",
                        "records_failed"}) {
    sql += std::string("coalesce(sum(") + c + "), 0) AS t_" + c + ", coalesce(sum(" + c +
           ") FILTER (WHERE hour > now() - interval '24 hours'), 0) AS d_" + c + ", ";
  }
  sql.resize(sql.size() - 2);
  return sql + " FROM usage_counter WHERE pipe_id = $1";
}

}  // namespace

Result<std::optional<BootstrapResult>> Management::bootstrap(const std::string& workspace_name) {
  FieldErrors errors;
  check_name("workspace_name", workspace_name, errors);
  if (auto s = to_status(errors); !s) return s.take_error();
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  return pg::in_transaction(**conn, [&](pg::Connection& c) -> Result<std::optional<BootstrapResult>> {
    std::string workspace_id = uuid::v4();
    auto inserted = c.exec("INSERT INTO workspace (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                           {workspace_id, workspace_name});
    if (!inserted) return inserted.take_error();
    if (inserted->affected() == 0) return std::optional<BootstrapResult>();
    auto key = crypto::generate_api_key();
    auto stored = c.exec("INSERT INTO api_key (id, workspace_id, name, prefix, key_sha256) VALUES ($1, $2, $3, $4, $5)",
                         {uuid::v4(), workspace_id, "bootstrap", key.prefix, key.sha256_hex});
    if (!stored) return stored.take_error();
    return std::optional<BootstrapResult>(BootstrapResult{workspace_id, key.secret});
  });
}

Result<Caller> Management::authenticate(const std::string& key_sha256) {
  auto resolved = resolve_api_key(key_sha256);
  if (!resolved) {
    if (resolved.error().code == ErrorCode::kNotFound) return Error::unauthenticated("Invalid or missing API key");
    return resolved.take_error();
  }
  return Caller{resolved->workspace_id(), resolved->api_key_id()};
}

Status Management::require_pipe(pg::Connection& conn, const Caller& c, const std::string& pipe_id, bool lock) {
  if (auto s = check_id("pipe", pipe_id); !s) return s;
  auto rows = conn.exec(lock ? "SELECT 1 FROM pipe WHERE id = $1 AND workspace_id = $2 FOR UPDATE"
                             : "SELECT 1 FROM pipe WHERE id = $1 AND workspace_id = $2",
                        {pipe_id, c.workspace_id});
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("pipe not found");
  return ok_status();
}

Result<v1::Pipe> Management::load_pipe(pg::Connection& conn, const std::string& workspace_id, const std::string& pipe_id,
                                    bool with_usage) {
  if (auto s = check_id("pipe", pipe_id); !s) return s.take_error();
  std::string sql = std::string("SELECT ") + records::kPipeColumns + " FROM pipe p WHERE p.id = $1";
  pg::Params params{pipe_id};
  if (!workspace_id.empty()) {
    sql += " AND p.workspace_id = $2";
    params.push_back(workspace_id);
  }
  auto rows = conn.exec(sql, params);
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("pipe not found");
  v1::Pipe pipe = records::pipe(*rows, 0);

  auto limits = conn.exec(std::string("SELECT ") + records::kLimitColumns + " FROM pipe_limit WHERE pipe_id = $1",
                          {pipe_id});
  if (!limits) return limits.take_error();
  if (!limits->empty()) *pipe.mutable_limits() = records::limits(*limits, 0);

  auto origins = conn.exec(
      "SELECT id, origin_domain, bp_ts(created_at) AS created_at FROM allowed_origin WHERE pipe_id = $1 "
      "ORDER BY created_at, id",
      {pipe_id});
  if (!origins) return origins.take_error();
  for (int i = 0; i < origins->size(); ++i) *pipe.add_allowed_origins() = records::allowed_origin(*origins, i);

  if (!with_usage) return pipe;
  auto dests = conn.exec("SELECT id FROM destination WHERE pipe_id = $1 ORDER BY created_at, id", {pipe_id});
  if (!dests) return dests.take_error();
  for (int i = 0; i < dests->size(); ++i) {
    auto d = load_destination(conn, pipe_id, dests->text(i, "id"), false);
    if (!d) return d.take_error();
    *pipe.add_destinations() = std::move(d).value();
  }
  auto usage = conn.exec(usage_sql(), {pipe_id});
  if (!usage) return usage.take_error();
  fill_usage(pipe.mutable_usage()->mutable_total(), *usage, "t_");
  fill_usage(pipe.mutable_usage()->mutable_last_24h(), *usage, "d_");
  return pipe;
}

Result<v1::ListPipesResponse> Management::list_pipes(const Caller& c, const v1::ListPipesRequest& r) {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  auto page = fetch_page(**conn, std::string("SELECT ") + records::kPipeColumns + " FROM pipe p WHERE p.workspace_id = $1",
                         {c.workspace_id}, "p.created_at", "p.id", r.limit(), r.cursor());
  if (!page) return page.take_error();
  v1::ListPipesResponse out;
  for (int i = 0; i < page->count; ++i) {
    auto pipe = load_pipe(**conn, c.workspace_id, page->rows.text(i, "id"), true);
    if (!pipe) return pipe.take_error();
    *out.add_pipes() = std::move(pipe).value();
  }
  out.set_next_cursor(page->next_cursor);
  return out;
}

Result<v1::Pipe> Management::get_pipe(const Caller& c, const std::string& pipe_id) {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  return load_pipe(**conn, c.workspace_id, pipe_id, true);
}

Result<v1::Pipe> Management::create_pipe(const Caller& c, const v1::CreatePipeRequest& r) {
  FieldErrors errors;
  check_name("name", r.name(), errors);
  if (r.has_description()) check_description(r.description(), errors);
  if (r.has_status()) check_pipe_status(r.status(), errors);
  check_enrich_field("enrich_ingest_timestamp_field", r.enrich_ingest_timestamp_field(), errors);
  check_enrich_field("enrich_client_ip_field", r.enrich_client_ip_field(), errors);
  if (auto s = to_status(std::move(errors)); !s) return s.take_error();

  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  std::string id = uuid::v4();
  auto inserted = (*conn)->exec(
      "INSERT INTO pipe (id, workspace_id, name, description, status, require_api_key, allow_any_browser_origin, "
      "enrich_ingest_timestamp_field, enrich_client_ip_field) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), NULLIF($9, ''))",
      {id, c.workspace_id, r.name(), r.description(), r.has_status() ? r.status() : "active",
       r.has_require_api_key() && !r.require_api_key() ? "false" : "true",
       r.allow_any_browser_origin() ? "true" : "false", r.enrich_ingest_timestamp_field(),
       r.enrich_client_ip_field()});
  if (!inserted) {
    if (inserted.error().code == ErrorCode::kConflict) return to_status({{"name", kDuplicatePipeName}}).take_error();
    return inserted.take_error();
  }
  topology_->publish_change({"pipe.created", c.workspace_id, id, "", ""});
  return load_pipe(**conn, c.workspace_id, id, true);
}

Result<v1::Pipe> Management::update_pipe(const Caller& c, const v1::UpdatePipeRequest& r) {
  FieldErrors errors;
  if (r.has_name()) check_name("name", r.name(), errors);
  if (r.has_description()) check_description(r.description(), errors);
  if (r.has_status()) check_pipe_status(r.status(), errors);
  check_enrich_field("enrich_ingest_timestamp_field", r.enrich_ingest_timestamp_field(), errors);
  check_enrich_field("enrich_client_ip_field", r.enrich_client_ip_field(), errors);
  if (auto s = check_id("pipe", r.pipe_id()); !s) return s.take_error();
  if (auto s = to_status(std::move(errors)); !s) return s.take_error();

  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  auto opt = [](bool has, const std::string& v) { return has ? pg::Param(v) : pg::Param(); };
  auto opt_bool = [](bool has, bool v) { return has ? pg::Param(v ? "true" : "false") : pg::Param(); };
  auto updated = (*conn)->exec(
      "UPDATE pipe SET name = coalesce($3, name), description = coalesce($4, description), "
      "status = coalesce($5, status), require_api_key = coalesce($6::boolean, require_api_key), "
      "allow_any_browser_origin = coalesce($7::boolean, allow_any_browser_origin), "
      "enrich_ingest_timestamp_field = CASE WHEN $8::text IS NULL THEN enrich_ingest_timestamp_field "
      "  ELSE NULLIF($8, '') END, "
      "enrich_client_ip_field = CASE WHEN $9::text IS NULL THEN enrich_client_ip_field ELSE NULLIF($9, '') END, "
      "updated_at = now() WHERE id = $1 AND workspace_id = $2",
      {r.pipe_id(), c.workspace_id, opt(r.has_name(), r.name()), opt(r.has_description(), r.description()),
       opt(r.has_status(), r.status()), opt_bool(r.has_require_api_key(), r.require_api_key()),
       opt_bool(r.has_allow_any_browser_origin(), r.allow_any_browser_origin()),
       opt(r.has_enrich_ingest_timestamp_field(), r.enrich_ingest_timestamp_field()),
       opt(r.has_enrich_client_ip_field(), r.enrich_client_ip_field())});
  if (!updated) {
    if (updated.error().code == ErrorCode::kConflict) return to_status({{"name", kDuplicatePipeName}}).take_error();
    return updated.take_error();
  }
  if (updated->affected() == 0) return Error::not_found("pipe not found");
  topology_->publish_change({"pipe.updated", c.workspace_id, r.pipe_id(), "", ""});
  return load_pipe(**conn, c.workspace_id, r.pipe_id(), true);
}

Status Management::delete_pipe(const Caller& c, const std::string& pipe_id) {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  std::vector<std::string> destination_ids;
  auto deleted = pg::in_transaction(**conn, [&](pg::Connection& tx) -> Status {
    // Locked: a destination being created on the pipe commits before the statement below reads
    // the destinations, or fails its foreign key after.
    if (auto s = require_pipe(tx, c, pipe_id, /*lock=*/true); !s) return s;
    // As for one destination (decision 0017): the rows go, cleanup rows remember the consumers.
    auto dests = tx.exec(
        "INSERT INTO consumer_cleanup (destination_id) SELECT id FROM destination WHERE pipe_id = $1 "
        "ON CONFLICT DO NOTHING RETURNING destination_id",
        {pipe_id});
    if (!dests) return dests.take_error();
    auto gone = tx.exec("DELETE FROM pipe WHERE id = $1 AND workspace_id = $2", {pipe_id, c.workspace_id});
    if (!gone) return gone.take_error();
    for (int i = 0; i < dests->size(); ++i) destination_ids.push_back(dests->text(i, "destination_id"));
    return ok_status();
  });
  if (!deleted) return deleted;
  topology_->publish_change({"pipe.deleted", c.workspace_id, pipe_id, "", ""});
  delete_consumers_of_deleted(**conn, destination_ids);
  return ok_status();
}

Result<v1::PipeLimits> Management::put_pipe_limits(const Caller& c, const v1::PutPipeLimitsRequest& r) {
  FieldErrors errors;
  check_limits(r.limits(), errors);
  if (auto s = check_id("pipe", r.pipe_id()); !s) return s.take_error();
  if (auto s = to_status(std::move(errors)); !s) return s.take_error();
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, r.pipe_id()); !s) return s.take_error();
  pg::Params params = records::limit_params(r.limits());
  params.insert(params.begin(), r.pipe_id());
  auto upserted = (*conn)->exec(
      std::string("INSERT INTO pipe_limit (pipe_id, ") + records::kLimitColumns +
          ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (pipe_id) DO UPDATE SET "
          "pl_ingest_max_records_per_request = $2, pl_ingest_max_bytes_per_request = $3, "
          "pl_ingest_max_requests_per_second = $4, pl_delivery_max_records = $5, pl_delivery_max_bytes = $6, "
          "pl_delivery_max_interval_ms = $7, pl_delivery_max_attempts = $8, updated_at = now() RETURNING " +
          records::kLimitColumns,
      params);
  if (!upserted) return upserted.take_error();
  topology_->publish_change({"pipe.limits_updated", c.workspace_id, r.pipe_id(), "", ""});
  return records::limits(*upserted, 0);
}

Result<v1::AllowedOrigin> Management::add_allowed_origin(const Caller& c, const v1::AddAllowedOriginRequest& r) {
  if (auto s = check_id("pipe", r.pipe_id()); !s) return s.take_error();
  auto normalized = origin::normalize(r.origin_domain());
  if (!normalized) {
    return to_status({{"origin_domain", "must be an origin like https://app.example.com (http or https, "
                                        "host, optional port; no path)"}})
        .take_error();
  }
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, r.pipe_id()); !s) return s.take_error();
  auto rows = (*conn)->exec(
      "INSERT INTO allowed_origin (id, pipe_id, origin_domain) VALUES ($1, $2, $3) "
      "ON CONFLICT (pipe_id, origin_domain) DO UPDATE SET origin_domain = EXCLUDED.origin_domain "
      "RETURNING id, origin_domain, bp_ts(created_at) AS created_at",
      {uuid::v4(), r.pipe_id(), *normalized});
  if (!rows) return rows.take_error();
  topology_->publish_change({"pipe.origins_updated", c.workspace_id, r.pipe_id(), "", ""});
  return records::allowed_origin(*rows, 0);
}

Status Management::remove_allowed_origin(const Caller& c, const std::string& pipe_id, const std::string& origin_id) {
  if (auto s = check_id("allowed origin", origin_id); !s) return s;
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, pipe_id); !s) return s;
  auto rows = (*conn)->exec("DELETE FROM allowed_origin WHERE id = $1 AND pipe_id = $2", {origin_id, pipe_id});
  if (!rows) return rows.take_error();
  if (rows->affected() == 0) return Error::not_found("allowed origin not found");
  topology_->publish_change({"pipe.origins_updated", c.workspace_id, pipe_id, "", ""});
  return ok_status();
}

}  // namespace bp::control_plane

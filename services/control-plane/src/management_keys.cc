// API keys and delivery runs as the management API shows them.
#include <algorithm>

#include "bp/api_key.h"
#include "bp/control_plane/management.h"
#include "bp/control_plane/validation.h"
#include "bp/uuid.h"
#include "pagination.h"
#include "records.h"

namespace bp::control_plane {

Result<v1::ListApiKeysResponse> Management::list_api_keys(const Caller& c, const v1::ListApiKeysRequest& r) {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  auto page = fetch_page(**conn, std::string("SELECT ") + records::kApiKeyColumns + " FROM api_key k WHERE k.workspace_id = $1",
                         {c.workspace_id}, "k.created_at", "k.id", r.limit(), r.cursor());
  if (!page) return page.take_error();
  v1::ListApiKeysResponse out;
  for (int i = 0; i < page->count; ++i) *out.add_api_keys() = records::api_key(page->rows, i);
  out.set_next_cursor(page->next_cursor);
  return out;
}

Result<v1::CreateApiKeyResponse> Management::create_api_key(const Caller& c, const v1::CreateApiKeyRequest& r) {
  FieldErrors errors;
  check_name("name", r.name(), errors);
  if (r.has_expires_in_days() && (r.expires_in_days() < 1 || r.expires_in_days() > 3650)) {
    errors["expires_in_days"] = "must be an integer between 1 and 3650";
  }
  if (auto s = to_status(std::move(errors)); !s) return s.take_error();
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  auto key = crypto::generate_api_key();
  auto rows = (*conn)->exec(
      std::string("INSERT INTO api_key AS k (id, workspace_id, name, prefix, key_sha256, expires_at) "
                  "VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6::int)) RETURNING ") +
          records::kApiKeyColumns,
      {uuid::v4(), c.workspace_id, r.name(), key.prefix, key.sha256_hex,
       r.has_expires_in_days() ? pg::Param(std::to_string(r.expires_in_days())) : pg::Param()});
  if (!rows) return rows.take_error();
  v1::CreateApiKeyResponse out;
  *out.mutable_api_key() = records::api_key(*rows, 0);
  out.set_secret(key.secret);
  return out;
}

Result<v1::ApiKey> Management::revoke_api_key(const Caller& c, const std::string& api_key_id) {
  if (auto s = check_id("API key", api_key_id); !s) return s.take_error();
  if (uuid::normalize(api_key_id) == c.api_key_id) {
    return Error::conflict("The API key used for this request cannot revoke itself; use another key");
  }
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  auto rows = (*conn)->exec(std::string("UPDATE api_key AS k SET revoked_at = coalesce(revoked_at, now()) "
                                        "WHERE id = $1 AND workspace_id = $2 RETURNING ") +
                                records::kApiKeyColumns,
                            {api_key_id, c.workspace_id});
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("API key not found");
  topology_->publish_change({"api_key.revoked", c.workspace_id, "", "", rows->text(0, "id")});
  return records::api_key(*rows, 0);
}

Result<v1::ListRunsResponse> Management::list_runs(const Caller& c, const v1::ListRunsRequest& r) {
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, r.pipe_id()); !s) return s.take_error();
  auto page = fetch_page(**conn, std::string("SELECT ") + records::kRunColumns + " FROM delivery_run r WHERE r.pipe_id = $1",
                         {r.pipe_id()}, "r.started_at", "r.id", r.limit(), r.cursor());
  if (!page) return page.take_error();
  v1::ListRunsResponse out;
  for (int i = 0; i < page->count; ++i) *out.add_runs() = records::run(page->rows, i);
  out.set_next_cursor(page->next_cursor);
  return out;
}

Result<v1::DeliveryRun> Management::get_run(const Caller& c, const std::string& pipe_id, const std::string& run_id) {
  if (auto s = check_id("run", run_id); !s) return s.take_error();
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, pipe_id); !s) return s.take_error();
  auto rows = (*conn)->exec(
      std::string("SELECT ") + records::kRunColumns + " FROM delivery_run r WHERE r.id = $1 AND r.pipe_id = $2",
      {run_id, pipe_id});
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("run not found");
  return records::run(*rows, 0);
}

}  // namespace bp::control_plane

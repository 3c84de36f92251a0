// Row <-> message mapping shared by the service's files: one SELECT list and one mapper per table.
#pragma once

#include <string>

#include "batchpipe/v1/control_plane.pb.h"
#include "bp/pg/connection.h"

namespace bp::control_plane::records {

namespace v1 = ::batchpipe::v1;

inline constexpr const char* kPipeColumns =
    "p.id, p.workspace_id, p.name, p.description, p.status, p.require_api_key, p.allow_any_browser_origin, "
    "p.enrich_ingest_timestamp_field, p.enrich_client_ip_field, bp_ts(p.created_at) AS created_at, "
    "bp_ts(p.updated_at) AS updated_at, (extract(epoch from p.created_at) * 1000000)::bigint AS cursor_us";

inline constexpr const char* kDestinationColumns =
    "d.id, d.pipe_id, d.type, d.name, d.destination_status, d.config::text AS config, d.secrets_ciphertext, "
    "d.secrets_key_id, bp_ts(d.created_at) AS created_at, bp_ts(d.updated_at) AS updated_at";

inline constexpr const char* kApiKeyColumns =
    "k.id, k.name, k.prefix, bp_ts(k.created_at) AS created_at, bp_ts(k.last_used_at) AS last_used_at, "
    "bp_ts(k.expires_at) AS expires_at, bp_ts(k.revoked_at) AS revoked_at, "
    "(extract(epoch from k.created_at) * 1000000)::bigint AS cursor_us";

inline constexpr const char* kRunColumns =
    "r.id, r.pipe_id, r.destination_id, r.status, r.records, r.bytes, r.attempts, bp_ts(r.started_at) AS started_at, "
    "bp_ts(r.finished_at) AS finished_at, r.error, (extract(epoch from r.started_at) * 1000000)::bigint AS cursor_us";

inline constexpr const char* kLimitColumns =
    "pl_ingest_max_records_per_request, pl_ingest_max_bytes_per_request, pl_ingest_max_requests_per_second, "
    "pl_delivery_max_records, pl_delivery_max_bytes, pl_delivery_max_interval_ms, pl_delivery_max_attempts";

v1::Pipe pipe(const pg::Rows& rows, int i);
v1::ApiKey api_key(const pg::Rows& rows, int i);
v1::DeliveryRun run(const pg::Rows& rows, int i);
v1::AllowedOrigin allowed_origin(const pg::Rows& rows, int i);
v1::PipeLimits limits(const pg::Rows& rows, int i);
// The limit fields as statement parameters, in kLimitColumns order.
pg::Params limit_params(const v1::PipeLimits& limits);
// Destination without its config (the caller decides how secrets are shown).
v1::Destination destination(const pg::Rows& rows, int i);

}  // namespace bp::control_plane::records

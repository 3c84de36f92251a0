// Row mappers for the control-plane's tables.
#include "records.h"

namespace bp::control_plane::records {

v1::Pipe pipe(const pg::Rows& rows, int i) {
  v1::Pipe p;
  p.set_id(rows.text(i, "id"));
  p.set_workspace_id(rows.text(i, "workspace_id"));
  p.set_name(rows.text(i, "name"));
  p.set_description(rows.text(i, "description"));
  p.set_status(rows.text(i, "status"));
  p.set_require_api_key(rows.boolean(i, "require_api_key"));
  p.set_allow_any_browser_origin(rows.boolean(i, "allow_any_browser_origin"));
  if (auto f = rows.optional_text(i, "enrich_ingest_timestamp_field")) p.set_enrich_ingest_timestamp_field(*f);
  if (auto f = rows.optional_text(i, "enrich_client_ip_field")) p.set_enrich_client_ip_field(*f);
  p.set_created_at(rows.text(i, "created_at"));
  p.set_updated_at(rows.text(i, "updated_at"));
  return p;
}

v1::ApiKey api_key(const pg::Rows& rows, int i) {
  v1::ApiKey k;
  k.set_id(rows.text(i, "id"));
  k.set_name(rows.text(i, "name"));
  k.set_prefix(rows.text(i, "prefix"));
  k.set_created_at(rows.text(i, "created_at"));
  k.set_last_used_at(rows.text(i, "last_used_at"));
  k.set_expires_at(rows.text(i, "expires_at"));
  k.set_revoked_at(rows.text(i, "revoked_at"));
  return k;
}

v1::DeliveryRun run(const pg::Rows& rows, int i) {
  v1::DeliveryRun r;
  r.set_id(rows.text(i, "id"));
  r.set_pipe_id(rows.text(i, "pipe_id"));
  r.set_destination_id(rows.text(i, "destination_id"));
  r.set_status(rows.text(i, "status"));
  r.set_records(rows.integer(i, "records"));
  r.set_bytes(rows.integer(i, "bytes"));
  r.set_attempts(rows.integer(i, "attempts"));
  r.set_started_at(rows.text(i, "started_at"));
  r.set_finished_at(rows.text(i, "finished_at"));
  r.set_error(rows.text(i, "error"));
  return r;
}

v1::AllowedOrigin allowed_origin(const pg::Rows& rows, int i) {
  v1::AllowedOrigin o;
  o.set_id(rows.text(i, "id"));
  o.set_origin_domain(rows.text(i, "origin_domain"));
  o.set_created_at(rows.text(i, "created_at"));
  return o;
}

v1::PipeLimits limits(const pg::Rows& rows, int i) {
  v1::PipeLimits l;
  if (auto v = rows.optional_integer(i, "pl_ingest_max_records_per_request")) l.set_pl_ingest_max_records_per_request(*v);
  if (auto v = rows.optional_integer(i, "pl_ingest_max_bytes_per_request")) l.set_pl_ingest_max_bytes_per_request(*v);
  if (auto v = rows.optional_integer(i, "pl_ingest_max_requests_per_second")) {
    l.set_pl_ingest_max_requests_per_second(*v);
  }
  if (auto v = rows.optional_integer(i, "pl_delivery_max_records")) l.set_pl_delivery_max_records(*v);
  if (auto v = rows.optional_integer(i, "pl_delivery_max_bytes")) l.set_pl_delivery_max_bytes(*v);
  if (auto v = rows.optional_integer(i, "pl_delivery_max_interval_ms")) l.set_pl_delivery_max_interval_ms(*v);
  if (auto v = rows.optional_integer(i, "pl_delivery_max_attempts")) l.set_pl_delivery_max_attempts(*v);
  return l;
}

pg::Params limit_params(const v1::PipeLimits& l) {
  auto opt = [](bool has, int64_t v) { return has ? pg::Param(std::to_string(v)) : pg::Param(); };
  return {opt(l.has_pl_ingest_max_records_per_request(), l.pl_ingest_max_records_per_request()),
          opt(l.has_pl_ingest_max_bytes_per_request(), l.pl_ingest_max_bytes_per_request()),
          opt(l.has_pl_ingest_max_requests_per_second(), l.pl_ingest_max_requests_per_second()),
          opt(l.has_pl_delivery_max_records(), l.pl_delivery_max_records()),
          opt(l.has_pl_delivery_max_bytes(), l.pl_delivery_max_bytes()),
          opt(l.has_pl_delivery_max_interval_ms(), l.pl_delivery_max_interval_ms()),
          opt(l.has_pl_delivery_max_attempts(), l.pl_delivery_max_attempts())};
}

v1::Destination destination(const pg::Rows& rows, int i) {
  v1::Destination d;
  d.set_id(rows.text(i, "id"));
  d.set_pipe_id(rows.text(i, "pipe_id"));
  d.set_type(rows.text(i, "type"));
  d.set_name(rows.text(i, "name"));
  d.set_destination_status(rows.text(i, "destination_status"));
  d.set_created_at(rows.text(i, "created_at"));
  d.set_updated_at(rows.text(i, "updated_at"));
  return d;
}

}  // namespace bp::control_plane::records

// Destinations: per-type config validation, secrets sealed at rest, one consumer per destination.
#include <string>

#include "bp/control_plane/management.h"
#include "bp/control_plane/validation.h"
#include "bp/destinations/registry.h"
#include "bp/json.h"
#include "bp/log.h"
#include "bp/uuid.h"
#include "records.h"

namespace bp::control_plane {
namespace {

constexpr const char* kRedacted = "[redacted]";
constexpr const char* kDuplicateName = "a destination with this name already exists on the pipe";

// A config split for storage: the plain part goes to jsonb, the secrets are sealed.
struct SplitConfig {
  std::string plain_json;
  std::string secrets_json;  // JSON object of the non-empty secret fields
};

SplitConfig split(const destinations::Schema& schema, rapidjson::Document config) {
  rapidjson::Document secrets(rapidjson::kObjectType);
  for (const auto& name : schema.secret_fields()) {
    auto it = config.FindMember(name);
    if (it == config.MemberEnd()) continue;
    if (it->value.IsString() && it->value.GetStringLength() > 0) {
      secrets.AddMember(rapidjson::Value(name, secrets.GetAllocator()),
                        rapidjson::Value(it->value, secrets.GetAllocator()), secrets.GetAllocator());
    }
    config.RemoveMember(it);
  }
  return {json::to_string(config), json::to_string(secrets)};
}

Result<rapidjson::Document> parse_config_object(const std::string& text) {
  if (text.empty()) return to_status({{"config", "is required"}}).take_error();
  auto doc = json::parse(text);
  if (!doc || !doc->IsObject()) return to_status({{"config", "must be a JSON object"}}).take_error();
  return doc;
}

}  // namespace

Result<std::string> Management::full_config(pg::Connection& conn, const std::string& destination_id) {
  auto rows = conn.exec(std::string("SELECT ") + records::kDestinationColumns + " FROM destination d WHERE d.id = $1",
                        {destination_id});
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("destination not found");
  auto config = json::parse(rows->text(0, "config"));
  if (!config) return Error::internal("stored destination config is not JSON");
  if (!rows->is_null(0, "secrets_ciphertext")) {
    auto opened = keyring_->open({rows->text(0, "secrets_key_id"), rows->bytea(0, "secrets_ciphertext")}, destination_id);
    if (!opened) return opened.take_error();
    auto secrets = json::parse(*opened);
    if (!secrets || !secrets->IsObject()) return Error::internal("sealed destination secrets are not a JSON object");
    for (auto& m : secrets->GetObject()) {
      config->RemoveMember(m.name);
      config->AddMember(rapidjson::Value(m.name, config->GetAllocator()), rapidjson::Value(m.value, config->GetAllocator()),
                        config->GetAllocator());
    }
  }
  return json::to_string(*config);
}

Result<v1::Destination> Management::load_destination(pg::Connection& conn, const std::string& pipe_id,
                                                  const std::string& destination_id, bool reveal_secrets) {
  if (auto s = check_id("destination", destination_id); !s) return s.take_error();
  auto rows = conn.exec(std::string("SELECT ") + records::kDestinationColumns +
                            " FROM destination d WHERE d.id = $1 AND d.pipe_id = $2",
                        {destination_id, pipe_id});
  if (!rows) return rows.take_error();
  if (rows->empty()) return Error::not_found("destination not found");
  v1::Destination d = records::destination(*rows, 0);
  auto config = full_config(conn, destination_id);
  if (!config) return config.take_error();
  if (reveal_secrets) {
    d.set_config_json(*config);
    return d;
  }
  auto doc = json::parse(*config);
  const auto* schema = destinations::find_schema(d.type());
  if (schema) {
    for (const auto& name : schema->secret_fields()) {
      auto it = doc->FindMember(name);
      bool set = it != doc->MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0;
      if (it != doc->MemberEnd()) doc->RemoveMember(it);
      doc->AddMember(rapidjson::Value(name, doc->GetAllocator()), rapidjson::Value(rapidjson::StringRef(set ? kRedacted : "")),
                     doc->GetAllocator());
    }
  }
  d.set_config_json(json::to_string(*doc));
  return d;
}

Result<v1::Destination> Management::create_destination(const Caller& c, const v1::CreateDestinationRequest& r) {
  if (auto s = check_id("pipe", r.pipe_id()); !s) return s.take_error();
  FieldErrors errors;
  const auto* schema = destinations::find_schema(r.type());
  if (!schema) {
    std::string types;
    for (const auto& t : destinations::known_types()) types += (types.empty() ? "" : ", ") + t;
    errors["type"] = "must be one of: " + types;
  }
  check_name("name", r.name(), errors);
  if (r.has_destination_status()) check_destination_status("destination_status", r.destination_status(), errors);
  auto config = parse_config_object(r.config_json());
  if (!config) errors.insert(config.error().field_errors.begin(), config.error().field_errors.end());
  Result<rapidjson::Document> validated = Error::invalid("");
  if (schema && config) {
    validated = destinations::validate(*schema, *config);
    if (!validated) errors.insert(validated.error().field_errors.begin(), validated.error().field_errors.end());
  }
  if (auto s = to_status(std::move(errors)); !s) return s.take_error();

  std::string id = uuid::v4();
  SplitConfig parts = split(*schema, std::move(validated).value());
  auto sealed = keyring_->seal(parts.secrets_json, id);
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  bool consumer_requested = false;
  auto created = pg::in_transaction(**conn, [&](pg::Connection& tx) -> Status {
    if (auto s = require_pipe(tx, c, r.pipe_id()); !s) return s;
    auto inserted = tx.exec(
        "INSERT INTO destination (id, pipe_id, type, name, destination_status, config, secrets_ciphertext, "
        "secrets_key_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::bytea, $8)",
        {id, r.pipe_id(), r.type(), r.name(), r.has_destination_status() ? r.destination_status() : "active",
         parts.plain_json, pg::bytea_param(sealed.ciphertext), sealed.key_id});
    if (!inserted) {
      if (inserted.error().code == ErrorCode::kConflict) return to_status({{"name", kDuplicateName}});
      return inserted.take_error();
    }
    // The consumer exists before the row is visible: records ingested from now on reach it.
    consumer_requested = true;
    return topology_->create_consumer(id, r.pipe_id());
  });
  if (!created) {
    // A request nats-server did not answer in time may still make the consumer (it answers late
    // while busy, e.g. deleting another consumer with a deep backlog), and one made before a
    // failed commit stays: either would keep the pipe's records with no destination to take
    // them. A cleanup row hands it to the reconcile (decision 0017); none is harmless.
    if (consumer_requested) {
      auto noted = (*conn)->exec("INSERT INTO consumer_cleanup (destination_id) VALUES ($1) ON CONFLICT DO NOTHING", {id});
      if (!noted) log::error("cannot note a consumer to clean up", {{"destination_id", id}, {"error", noted.error().message}});
    }
    return created.take_error();
  }
  topology_->publish_change({"destination.created", c.workspace_id, r.pipe_id(), id, ""});
  return load_destination(**conn, r.pipe_id(), id, false);
}

Result<v1::Destination> Management::update_destination(const Caller& c, const v1::UpdateDestinationRequest& r) {
  if (auto s = check_id("pipe", r.pipe_id()); !s) return s.take_error();
  if (auto s = check_id("destination", r.destination_id()); !s) return s.take_error();
  FieldErrors errors;
  if (r.has_name()) check_name("name", r.name(), errors);
  Result<rapidjson::Document> patch = rapidjson::Document(rapidjson::kObjectType);
  if (r.has_config_json()) {
    patch = parse_config_object(r.config_json());
    if (!patch) errors.insert(patch.error().field_errors.begin(), patch.error().field_errors.end());
  }
  if (auto s = to_status(errors); !s) return s.take_error();

  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, r.pipe_id()); !s) return s.take_error();
  auto current = load_destination(**conn, r.pipe_id(), r.destination_id(), true);
  if (!current) return current.take_error();
  const auto* schema = destinations::find_schema(current->type());
  if (!schema) return Error::internal("stored destination has an unknown type");
  auto merged = json::parse(current->config_json());
  if (!merged) return Error::internal("stored destination config is not JSON");
  auto secret_names = schema->secret_fields();
  for (auto& m : patch->GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    bool secret = std::find(secret_names.begin(), secret_names.end(), name) != secret_names.end();
    // An empty (or round-tripped "[redacted]") secret keeps the stored one.
    if (secret && m.value.IsString() && (m.value.GetStringLength() == 0 || m.value.GetString() == std::string(kRedacted))) {
      continue;
    }
    merged->RemoveMember(m.name);
    merged->AddMember(rapidjson::Value(m.name, merged->GetAllocator()), rapidjson::Value(m.value, merged->GetAllocator()),
                      merged->GetAllocator());
  }
  auto validated = destinations::validate(*schema, *merged);
  if (!validated) return validated.take_error();
  SplitConfig parts = split(*schema, std::move(validated).value());
  auto sealed = keyring_->seal(parts.secrets_json, r.destination_id());
  auto updated = (*conn)->exec(
      "UPDATE destination SET name = coalesce($3, name), config = $4::jsonb, secrets_ciphertext = $5::bytea, "
      "secrets_key_id = $6, updated_at = now() WHERE id = $1 AND pipe_id = $2",
      {r.destination_id(), r.pipe_id(), r.has_name() ? pg::Param(r.name()) : pg::Param(), parts.plain_json,
       pg::bytea_param(sealed.ciphertext), sealed.key_id});
  if (!updated) {
    if (updated.error().code == ErrorCode::kConflict) return to_status({{"name", kDuplicateName}}).take_error();
    return updated.take_error();
  }
  topology_->publish_change({"destination.updated", c.workspace_id, r.pipe_id(), r.destination_id(), ""});
  return load_destination(**conn, r.pipe_id(), r.destination_id(), false);
}

Result<v1::Destination> Management::set_destination_status(const Caller& c, const v1::SetDestinationStatusRequest& r) {
  if (auto s = check_id("pipe", r.pipe_id()); !s) return s.take_error();
  if (auto s = check_id("destination", r.destination_id()); !s) return s.take_error();
  FieldErrors errors;
  check_destination_status("destination_status", r.destination_status(), errors);
  if (auto s = to_status(std::move(errors)); !s) return s.take_error();
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  if (auto s = require_pipe(**conn, c, r.pipe_id()); !s) return s.take_error();
  auto updated = (*conn)->exec(
      "UPDATE destination SET destination_status = $3, updated_at = now() WHERE id = $1 AND pipe_id = $2",
      {r.destination_id(), r.pipe_id(), r.destination_status()});
  if (!updated) return updated.take_error();
  if (updated->affected() == 0) return Error::not_found("destination not found");
  topology_->publish_change({"destination.status_updated", c.workspace_id, r.pipe_id(), r.destination_id(), ""});
  return load_destination(**conn, r.pipe_id(), r.destination_id(), false);
}

Status Management::delete_destination(const Caller& c, const std::string& pipe_id, const std::string& destination_id) {
  if (auto s = check_id("destination", destination_id); !s) return s;
  auto conn = pool_->acquire();
  if (!conn) return conn.take_error();
  std::vector<std::string> deleted_ids;
  auto deleted = pg::in_transaction(**conn, [&](pg::Connection& tx) -> Status {
    if (auto s = require_pipe(tx, c, pipe_id); !s) return s;
    // The row goes before the consumer (decision 0017): nats-server may take longer to delete a
    // consumer with a deep backlog than the caller waits. The cleanup row remembers the consumer.
    auto rows = tx.exec(
        "WITH gone AS (DELETE FROM destination WHERE id = $1 AND pipe_id = $2 RETURNING id) "
        "INSERT INTO consumer_cleanup (destination_id) SELECT id FROM gone ON CONFLICT DO NOTHING "
        "RETURNING destination_id",
        {destination_id, pipe_id});
    if (!rows) return rows.take_error();
    if (rows->empty()) return Error::not_found("destination not found");
    deleted_ids.push_back(rows->text(0, "destination_id"));
    return ok_status();
  });
  if (!deleted) return deleted;
  topology_->publish_change({"destination.deleted", c.workspace_id, pipe_id, destination_id, ""});
  delete_consumers_of_deleted(**conn, deleted_ids);
  return ok_status();
}

}  // namespace bp::control_plane

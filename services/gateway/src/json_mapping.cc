// Resource writers and the body reader.
#include "bp/gateway/json_mapping.h"

namespace bp::gateway {
namespace {

using json::Writer;

void str(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value);
}

// "" is written as null (unset timestamps, unset optional fields).
void nullable(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  if (value.empty()) {
    w.Null();
  } else {
    w.String(value);
  }
}

void integer(Writer& w, const char* key, int64_t value) {
  w.Key(key);
  w.Int64(value);
}

template <class Fn>
std::string write(Fn&& fn) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  fn(w);
  return std::string(buffer.GetString(), buffer.GetSize());
}

void write_limits(Writer& w, const v1::PipeLimits& l) {
  auto field = [&](const char* key, bool has, int64_t value) {
    w.Key(key);
    if (has) {
      w.Int64(value);
    } else {
      w.Null();
    }
  };
  w.StartObject();
  field("pl_ingest_max_records_per_request", l.has_pl_ingest_max_records_per_request(),
        l.pl_ingest_max_records_per_request());
  field("pl_ingest_max_bytes_per_request", l.has_pl_ingest_max_bytes_per_request(), l.pl_ingest_max_bytes_per_request());
  field("pl_ingest_max_requests_per_second", l.has_pl_ingest_max_requests_per_second(),
        l.pl_ingest_max_requests_per_second());
  field("pl_delivery_max_records", l.has_pl_delivery_max_records(), l.pl_delivery_max_records());
  field("pl_delivery_max_bytes", l.has_pl_delivery_max_bytes(), l.pl_delivery_max_bytes());
  field("pl_delivery_max_interval_ms", l.has_pl_delivery_max_interval_ms(), l.pl_delivery_max_interval_ms());
  field("pl_delivery_max_attempts", l.has_pl_delivery_max_attempts(), l.pl_delivery_max_attempts());
  w.EndObject();
}

void write_origin(Writer& w, const v1::AllowedOrigin& o) {
  w.StartObject();
  str(w, "id", o.id());
  str(w, "origin_domain", o.origin_domain());
  str(w, "created_at", o.created_at());
  w.EndObject();
}

void write_destination(Writer& w, const v1::Destination& d) {
  w.StartObject();
  str(w, "id", d.id());
  str(w, "pipe_id", d.pipe_id());
  str(w, "type", d.type());
  str(w, "name", d.name());
  str(w, "destination_status", d.destination_status());
  w.Key("config");
  const std::string& config = d.config_json().empty() ? std::string("{}") : d.config_json();
  w.RawValue(config.data(), config.size(), rapidjson::kObjectType);
  str(w, "created_at", d.created_at());
  str(w, "updated_at", d.updated_at());
  w.EndObject();
}

void write_usage(Writer& w, const v1::UsageWindow& u) {
  w.StartObject();
  integer(w, "requests_accepted", u.requests_accepted());
  integer(w, "records_accepted", u.records_accepted());
  integer(w, "bytes_accepted", u.bytes_accepted());
  integer(w, "records_delivered", u.records_delivered());
  integer(w, "records_failed", u.records_failed());
  w.EndObject();
}

}  // namespace

std::string pipe_json(const v1::Pipe& p) {
  return write([&](Writer& w) {
    w.StartObject();
    str(w, "id", p.id());
    str(w, "name", p.name());
    str(w, "description", p.description());
    str(w, "status", p.status());
    w.Key("require_api_key");
    w.Bool(p.require_api_key());
    w.Key("allow_any_browser_origin");
    w.Bool(p.allow_any_browser_origin());
    nullable(w, "enrich_ingest_timestamp_field", p.enrich_ingest_timestamp_field());
    nullable(w, "enrich_client_ip_field", p.enrich_client_ip_field());
    str(w, "created_at", p.created_at());
    str(w, "updated_at", p.updated_at());
    w.Key("limits");
    if (p.has_limits()) {
      write_limits(w, p.limits());
    } else {
      w.Null();
    }
    w.Key("allowed_origins");
    w.StartArray();
    for (const auto& o : p.allowed_origins()) write_origin(w, o);
    w.EndArray();
    w.Key("destinations");
    w.StartArray();
    for (const auto& d : p.destinations()) write_destination(w, d);
    w.EndArray();
    w.Key("usage");
    w.StartObject();
    w.Key("last_24h");
    write_usage(w, p.usage().last_24h());
    w.Key("total");
    write_usage(w, p.usage().total());
    w.EndObject();
    w.EndObject();
  });
}

std::string destination_json(const v1::Destination& d) {
  return write([&](Writer& w) { write_destination(w, d); });
}

std::string limits_json(const v1::PipeLimits& l) {
  return write([&](Writer& w) { write_limits(w, l); });
}

std::string origin_json(const v1::AllowedOrigin& o) {
  return write([&](Writer& w) { write_origin(w, o); });
}

std::string api_key_json(const v1::ApiKey& k, const std::string& secret) {
  return write([&](Writer& w) {
    w.StartObject();
    str(w, "id", k.id());
    str(w, "name", k.name());
    str(w, "prefix", k.prefix());
    str(w, "created_at", k.created_at());
    nullable(w, "last_used_at", k.last_used_at());
    nullable(w, "expires_at", k.expires_at());
    nullable(w, "revoked_at", k.revoked_at());
    if (!secret.empty()) str(w, "secret", secret);
    w.EndObject();
  });
}

std::string run_json(const v1::DeliveryRun& r) {
  return write([&](Writer& w) {
    w.StartObject();
    str(w, "id", r.id());
    str(w, "pipe_id", r.pipe_id());
    str(w, "destination_id", r.destination_id());
    str(w, "status", r.status());
    integer(w, "records", r.records());
    integer(w, "bytes", r.bytes());
    integer(w, "attempts", r.attempts());
    str(w, "started_at", r.started_at());
    nullable(w, "finished_at", r.finished_at());
    str(w, "error", r.error());
    w.EndObject();
  });
}

std::string dead_letter_json(const v1::DeadLetter& d) {
  return write([&](Writer& w) {
    w.StartObject();
    integer(w, "sequence", d.sequence());
    str(w, "record_id", d.record_id());
    nullable(w, "received_at", d.received_at());
    str(w, "failed_at", d.failed_at());
    integer(w, "attempts", d.attempts());
    str(w, "error", d.error());
    w.Key("record");
    // The record was a JSON object when it was ingested; keep it verbatim.
    const std::string& record = d.record_json().empty() ? std::string("{}") : d.record_json();
    w.RawValue(record.data(), record.size(), rapidjson::kObjectType);
    w.EndObject();
  });
}

std::string page_json(const std::string& name, const std::vector<std::string>& items, const std::string& next_cursor) {
  std::string out = "{";
  out += json::quote(name);
  out += ":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += items[i];
  }
  out += "],\"next_cursor\":";
  out += next_cursor.empty() ? std::string("null") : json::quote(next_cursor);
  out += '}';
  return out;
}

std::string validation_error_json(const std::string& message, const std::map<std::string, std::string>& errors) {
  return write([&](Writer& w) {
    w.StartObject();
    str(w, "error", "validation_error");
    str(w, "message", message);
    w.Key("errors");
    w.StartObject();
    for (const auto& [k, v] : errors) str(w, k.c_str(), v);
    w.EndObject();
    w.EndObject();
  });
}

BodyReader::BodyReader(const rapidjson::Value& body, std::vector<std::string> known_fields) : body_(body) {
  for (const auto& m : body_.GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    bool known = false;
    for (const auto& k : known_fields) known = known || k == name;
    if (!known) errors_[name] = "is not a known field";
  }
}

const rapidjson::Value* BodyReader::field(const char* name, bool required) {
  const auto* v = json::find(body_, name);
  if (!v && required) errors_[name] = "is required";
  return v;
}

std::optional<std::string> BodyReader::string(const char* name, bool required) {
  const auto* v = field(name, required);
  if (!v) return std::nullopt;
  if (!v->IsString()) {
    errors_[name] = "must be a string";
    return std::nullopt;
  }
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<bool> BodyReader::boolean(const char* name) {
  const auto* v = field(name, false);
  if (!v) return std::nullopt;
  if (!v->IsBool()) {
    errors_[name] = "must be true or false";
    return std::nullopt;
  }
  return v->GetBool();
}

std::optional<int64_t> BodyReader::integer(const char* name) {
  const auto* v = field(name, false);
  if (!v) return std::nullopt;
  if (!v->IsInt64()) {
    errors_[name] = "must be an integer";
    return std::nullopt;
  }
  return v->GetInt64();
}

std::optional<std::string> BodyReader::nullable_string(const char* name) {
  const auto* v = field(name, false);
  if (v && v->IsNull()) return std::string();
  return string(name);
}

std::optional<int64_t> BodyReader::nullable_integer(const char* name) {
  const auto* v = field(name, false);
  if (!v || v->IsNull()) return std::nullopt;
  return integer(name);
}

std::optional<std::string> BodyReader::object(const char* name, bool required) {
  const auto* v = field(name, required);
  if (!v) return std::nullopt;
  if (!v->IsObject()) {
    errors_[name] = "must be an object";
    return std::nullopt;
  }
  return json::to_string(*v);
}

}  // namespace bp::gateway

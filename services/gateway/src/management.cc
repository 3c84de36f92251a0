// The management REST routes of seed 000, each translated to one control-plane RPC.
#include "bp/crypto.h"
#include "bp/gateway/gateway.h"
#include "bp/gateway/json_mapping.h"
#include "bp/log.h"

namespace bp::gateway {
namespace {

Response from_status(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: {
      v1::FieldErrors details;
      details.ParseFromString(status.error_details());
      std::map<std::string, std::string> errors(details.errors().begin(), details.errors().end());
      return json_response(http::status::bad_request, validation_error_json(status.error_message(), errors));
    }
    case grpc::StatusCode::NOT_FOUND:
      return error_response(http::status::not_found, "not_found", status.error_message());
    case grpc::StatusCode::UNAUTHENTICATED:
      return error_response(http::status::unauthorized, "unauthorized", "Invalid or missing API key");
    case grpc::StatusCode::FAILED_PRECONDITION:
      return error_response(http::status::conflict, "conflict", status.error_message());
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return error_response(http::status::service_unavailable, "service_unavailable",
                            "The control-plane is unavailable; retry shortly");
    default:
      log::error("control-plane call failed", {{"error", status.error_message()}});
      return error_response(http::status::internal_server_error, "server_error", "Unexpected server error");
  }
}

// Parses a JSON object body, or explains why not.
std::variant<rapidjson::Document, Response> object_body(const Request& req) {
  auto content_type = find_header(req, http::field::content_type);
  if (!content_type || !is_json_content_type(*content_type)) {
    return error_response(http::status::unsupported_media_type, "unsupported_media_type",
                          "Content-Type must be application/json");
  }
  auto doc = json::parse(req.body());
  if (!doc || !doc->IsObject()) {
    return json_response(http::status::bad_request,
                         validation_error_json("Request body must be a JSON object", {{"body", "must be a JSON object"}}));
  }
  return std::move(doc).value();
}

Response invalid(const BodyReader& reader) {
  std::string message = "Invalid request body:";
  for (const auto& [k, v] : reader.errors()) message += " " + k + " " + v + ";";
  message.pop_back();
  return json_response(http::status::bad_request, validation_error_json(message, reader.errors()));
}

// limit/cursor query parameters; the control-plane checks their values.
template <class Req>
std::optional<Response> page_params(const Route& route, Req& req) {
  std::string limit = query_param(route.query, "limit");
  if (!limit.empty()) {
    char* end = nullptr;
    long value = std::strtol(limit.c_str(), &end, 10);
    if (*end != '\0' || value < 1 || value > 200) {
      return json_response(http::status::bad_request,
                           validation_error_json("Invalid limit", {{"limit", "must be an integer between 1 and 200"}}));
    }
    req.set_limit(static_cast<int>(value));
  }
  req.set_cursor(query_param(route.query, "cursor"));
  return std::nullopt;
}

const std::vector<std::string> kPipeFields = {"name", "description", "status", "require_api_key",
                                              "allow_any_browser_origin", "enrich_ingest_timestamp_field",
                                              "enrich_client_ip_field"};

template <class Req>
void read_pipe_fields(BodyReader& r, Req& req) {
  if (auto v = r.string("description")) req.set_description(*v);
  if (auto v = r.string("status")) req.set_status(*v);
  if (auto v = r.boolean("require_api_key")) req.set_require_api_key(*v);
  if (auto v = r.boolean("allow_any_browser_origin")) req.set_allow_any_browser_origin(*v);
  if (auto v = r.nullable_string("enrich_ingest_timestamp_field")) req.set_enrich_ingest_timestamp_field(*v);
  if (auto v = r.nullable_string("enrich_client_ip_field")) req.set_enrich_client_ip_field(*v);
}

}  // namespace

boost::asio::awaitable<Response> Gateway::management(const Request& req, const Route& route) {
  auto token = bearer_token(req);
  if (token.empty()) {
    co_return error_response(http::status::unauthorized, "unauthorized",
                             "Missing API key: send Authorization: Bearer <api_key>");
  }
  const std::string key = crypto::sha256_hex(token);
  auto& cp = *control_plane_;
  // Routes with a body parse it first; errors answer before any RPC.
  rapidjson::Document body;
  bool needs_body = route.id == RouteId::kCreatePipe || route.id == RouteId::kUpdatePipe ||
                    route.id == RouteId::kCreateDestination || route.id == RouteId::kUpdateDestination ||
                    route.id == RouteId::kSetDestinationStatus || route.id == RouteId::kPutLimits ||
                    route.id == RouteId::kAddOrigin || route.id == RouteId::kCreateApiKey;
  if (needs_body) {
    auto parsed = object_body(req);
    if (auto* res = std::get_if<Response>(&parsed)) co_return std::move(*res);
    body = std::move(std::get<rapidjson::Document>(parsed));
  }

  switch (route.id) {
    case RouteId::kListPipes: {
      v1::ListPipesRequest r;
      if (auto bad = page_params(route, r)) co_return std::move(*bad);
      auto out = co_await cp.call<v1::ListPipesResponse>(BP_RPC(ListPipes), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      std::vector<std::string> items;
      for (const auto& p : out.response.pipes()) items.push_back(pipe_json(p));
      co_return json_response(http::status::ok, page_json("pipes", items, out.response.next_cursor()));
    }
    case RouteId::kCreatePipe: {
      BodyReader reader(body, kPipeFields);
      v1::CreatePipeRequest r;
      if (auto v = reader.string("name", true)) r.set_name(*v);
      read_pipe_fields(reader, r);
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::Pipe>(BP_RPC(CreatePipe), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::created, pipe_json(out.response));
    }
    case RouteId::kGetPipe: {
      v1::GetPipeRequest r;
      r.set_pipe_id(route.pipe_id);
      auto out = co_await cp.call<v1::Pipe>(BP_RPC(GetPipe), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::ok, pipe_json(out.response));
    }
    case RouteId::kUpdatePipe: {
      BodyReader reader(body, kPipeFields);
      v1::UpdatePipeRequest r;
      r.set_pipe_id(route.pipe_id);
      if (auto v = reader.string("name")) r.set_name(*v);
      read_pipe_fields(reader, r);
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::Pipe>(BP_RPC(UpdatePipe), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::ok, pipe_json(out.response));
    }
    case RouteId::kDeletePipe: {
      v1::DeletePipeRequest r;
      r.set_pipe_id(route.pipe_id);
      auto out = co_await cp.call<v1::Empty>(BP_RPC(DeletePipe), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return empty_response(http::status::no_content);
    }
    case RouteId::kCreateDestination: {
      BodyReader reader(body, {"type", "name", "destination_status", "config"});
      v1::CreateDestinationRequest r;
      r.set_pipe_id(route.pipe_id);
      if (auto v = reader.string("type", true)) r.set_type(*v);
      if (auto v = reader.string("name", true)) r.set_name(*v);
      if (auto v = reader.string("destination_status")) r.set_destination_status(*v);
      if (auto v = reader.object("config", true)) r.set_config_json(*v);
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::Destination>(BP_RPC(CreateDestination), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::created, destination_json(out.response));
    }
    case RouteId::kUpdateDestination: {
      BodyReader reader(body, {"name", "config"});
      v1::UpdateDestinationRequest r;
      r.set_pipe_id(route.pipe_id);
      r.set_destination_id(route.child_id);
      if (auto v = reader.string("name")) r.set_name(*v);
      if (auto v = reader.object("config")) r.set_config_json(*v);
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::Destination>(BP_RPC(UpdateDestination), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::ok, destination_json(out.response));
    }
    case RouteId::kSetDestinationStatus: {
      BodyReader reader(body, {"destination_status"});
      v1::SetDestinationStatusRequest r;
      r.set_pipe_id(route.pipe_id);
      r.set_destination_id(route.child_id);
      if (auto v = reader.string("destination_status", true)) r.set_destination_status(*v);
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::Destination>(BP_RPC(SetDestinationStatus), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::ok, destination_json(out.response));
    }
    case RouteId::kDeleteDestination: {
      v1::DeleteDestinationRequest r;
      r.set_pipe_id(route.pipe_id);
      r.set_destination_id(route.child_id);
      auto out = co_await cp.call<v1::Empty>(BP_RPC(DeleteDestination), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return empty_response(http::status::no_content);
    }
    case RouteId::kPutLimits: {
      static const std::vector<std::string> kLimitFields = {
          "pl_ingest_max_records_per_request", "pl_ingest_max_bytes_per_request", "pl_ingest_max_requests_per_second",
          "pl_delivery_max_records", "pl_delivery_max_bytes", "pl_delivery_max_interval_ms",
          "pl_delivery_max_attempts"};
      BodyReader reader(body, kLimitFields);
      v1::PutPipeLimitsRequest r;
      r.set_pipe_id(route.pipe_id);
      auto* l = r.mutable_limits();
      const auto* descriptor = l->GetDescriptor();
      const auto* reflection = l->GetReflection();
      for (const auto& name : kLimitFields) {
        if (auto v = reader.nullable_integer(name.c_str())) reflection->SetInt64(l, descriptor->FindFieldByName(name), *v);
      }
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::PipeLimits>(BP_RPC(PutPipeLimits), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::ok, limits_json(out.response));
    }
    case RouteId::kAddOrigin: {
      BodyReader reader(body, {"origin_domain"});
      v1::AddAllowedOriginRequest r;
      r.set_pipe_id(route.pipe_id);
      if (auto v = reader.string("origin_domain", true)) r.set_origin_domain(*v);
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::AllowedOrigin>(BP_RPC(AddAllowedOrigin), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::created, origin_json(out.response));
    }
    case RouteId::kRemoveOrigin: {
      v1::RemoveAllowedOriginRequest r;
      r.set_pipe_id(route.pipe_id);
      r.set_origin_id(route.child_id);
      auto out = co_await cp.call<v1::Empty>(BP_RPC(RemoveAllowedOrigin), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return empty_response(http::status::no_content);
    }
    case RouteId::kListRuns: {
      v1::ListRunsRequest r;
      r.set_pipe_id(route.pipe_id);
      if (auto bad = page_params(route, r)) co_return std::move(*bad);
      auto out = co_await cp.call<v1::ListRunsResponse>(BP_RPC(ListRuns), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      std::vector<std::string> items;
      for (const auto& run : out.response.runs()) items.push_back(run_json(run));
      co_return json_response(http::status::ok, page_json("runs", items, out.response.next_cursor()));
    }
    case RouteId::kGetRun: {
      v1::GetRunRequest r;
      r.set_pipe_id(route.pipe_id);
      r.set_run_id(route.child_id);
      auto out = co_await cp.call<v1::DeliveryRun>(BP_RPC(GetRun), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::ok, run_json(out.response));
    }
    case RouteId::kListDeadLetters: {
      v1::ListDeadLettersRequest r;
      r.set_pipe_id(route.pipe_id);
      r.set_destination_id(route.child_id);
      if (auto bad = page_params(route, r)) co_return std::move(*bad);
      auto out = co_await cp.call<v1::ListDeadLettersResponse>(BP_RPC(ListDeadLetters), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      std::vector<std::string> items;
      for (const auto& d : out.response.dead_letters()) items.push_back(dead_letter_json(d));
      co_return json_response(http::status::ok, page_json("dead_letters", items, out.response.next_cursor()));
    }
    case RouteId::kReplayDeadLetters: {
      v1::ReplayDeadLettersRequest r;
      r.set_pipe_id(route.pipe_id);
      r.set_destination_id(route.child_id);
      auto out = co_await cp.call<v1::ReplayDeadLettersResponse>(BP_RPC(ReplayDeadLetters), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::ok, "{\"replayed\":" + std::to_string(out.response.replayed()) + "}");
    }
    case RouteId::kListApiKeys: {
      v1::ListApiKeysRequest r;
      if (auto bad = page_params(route, r)) co_return std::move(*bad);
      auto out = co_await cp.call<v1::ListApiKeysResponse>(BP_RPC(ListApiKeys), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      std::vector<std::string> items;
      for (const auto& k : out.response.api_keys()) items.push_back(api_key_json(k));
      co_return json_response(http::status::ok, page_json("api_keys", items, out.response.next_cursor()));
    }
    case RouteId::kCreateApiKey: {
      BodyReader reader(body, {"name", "expires_in_days"});
      v1::CreateApiKeyRequest r;
      if (auto v = reader.string("name", true)) r.set_name(*v);
      if (auto v = reader.nullable_integer("expires_in_days")) r.set_expires_in_days(*v);
      if (!reader.errors().empty()) co_return invalid(reader);
      auto out = co_await cp.call<v1::CreateApiKeyResponse>(BP_RPC(CreateApiKey), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return json_response(http::status::created, api_key_json(out.response.api_key(), out.response.secret()));
    }
    case RouteId::kRevokeApiKey: {
      v1::RevokeApiKeyRequest r;
      r.set_api_key_id(route.child_id);
      auto out = co_await cp.call<v1::ApiKey>(BP_RPC(RevokeApiKey), r, key);
      if (!out.status.ok()) co_return from_status(out.status);
      co_return empty_response(http::status::no_content);
    }
    default:
      co_return error_response(http::status::not_found, "not_found", "No such route");
  }
}

}  // namespace bp::gateway

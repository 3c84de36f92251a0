// Each RPC: authenticate the caller (management only), call Management, map the result.
#include "bp/control_plane/grpc_service.h"

#include "bp/log.h"

namespace bp::control_plane {
namespace {

// Copies a successful result into the response, or maps the error.
template <class T, class Out>
grpc::Status reply(Result<T> result, Out* out) {
  if (!result) return to_grpc(result.error());
  *out = std::move(result).value();
  return grpc::Status::OK;
}

grpc::Status reply_empty(Status result) { return result ? grpc::Status::OK : to_grpc(result.error()); }

}  // namespace

grpc::Status to_grpc(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidArgument: {
      v1::FieldErrors details;
      details.set_message(error.message);
      for (const auto& [k, v] : error.field_errors) (*details.mutable_errors())[k] = v;
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, error.message, details.SerializeAsString());
    }
    case ErrorCode::kNotFound: return grpc::Status(grpc::StatusCode::NOT_FOUND, error.message);
    case ErrorCode::kConflict: return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, error.message);
    case ErrorCode::kUnauthenticated: return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, error.message);
    case ErrorCode::kUnavailable:
      log::warn("dependency unavailable", {{"error", error.message}});
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, error.message);
    case ErrorCode::kInternal:
      log::error("internal error", {{"error", error.message}});
      return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
  }
  return grpc::Status(grpc::StatusCode::UNKNOWN, error.message);
}

Result<Caller> GrpcService::caller(grpc::ServerContext* context) {
  const auto& md = context->client_metadata();
  auto it = md.find(kApiKeyMetadata);
  if (it == md.end()) return Error::unauthenticated("Invalid or missing API key");
  return service_->authenticate(std::string(it->second.data(), it->second.size()));
}

#define BP_WITH_CALLER(ctx)              \
  auto caller_result = caller(ctx);      \
  if (!caller_result) return to_grpc(caller_result.error()); \
  const Caller& c = *caller_result

grpc::Status GrpcService::ListPipes(grpc::ServerContext* ctx, const v1::ListPipesRequest* r,
                                    v1::ListPipesResponse* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->list_pipes(c, *r), out);
}
grpc::Status GrpcService::GetPipe(grpc::ServerContext* ctx, const v1::GetPipeRequest* r, v1::Pipe* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->get_pipe(c, r->pipe_id()), out);
}
grpc::Status GrpcService::CreatePipe(grpc::ServerContext* ctx, const v1::CreatePipeRequest* r, v1::Pipe* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->create_pipe(c, *r), out);
}
grpc::Status GrpcService::UpdatePipe(grpc::ServerContext* ctx, const v1::UpdatePipeRequest* r, v1::Pipe* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->update_pipe(c, *r), out);
}
grpc::Status GrpcService::DeletePipe(grpc::ServerContext* ctx, const v1::DeletePipeRequest* r, v1::Empty*) {
  BP_WITH_CALLER(ctx);
  return reply_empty(service_->delete_pipe(c, r->pipe_id()));
}
grpc::Status GrpcService::CreateDestination(grpc::ServerContext* ctx, const v1::CreateDestinationRequest* r,
                                            v1::Destination* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->create_destination(c, *r), out);
}
grpc::Status GrpcService::UpdateDestination(grpc::ServerContext* ctx, const v1::UpdateDestinationRequest* r,
                                            v1::Destination* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->update_destination(c, *r), out);
}
grpc::Status GrpcService::SetDestinationStatus(grpc::ServerContext* ctx, const v1::SetDestinationStatusRequest* r,
                                               v1::Destination* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->set_destination_status(c, *r), out);
}
grpc::Status GrpcService::DeleteDestination(grpc::ServerContext* ctx, const v1::DeleteDestinationRequest* r,
                                            v1::Empty*) {
  BP_WITH_CALLER(ctx);
  return reply_empty(service_->delete_destination(c, r->pipe_id(), r->destination_id()));
}
grpc::Status GrpcService::PutPipeLimits(grpc::ServerContext* ctx, const v1::PutPipeLimitsRequest* r,
                                        v1::PipeLimits* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->put_pipe_limits(c, *r), out);
}
grpc::Status GrpcService::AddAllowedOrigin(grpc::ServerContext* ctx, const v1::AddAllowedOriginRequest* r,
                                           v1::AllowedOrigin* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->add_allowed_origin(c, *r), out);
}
grpc::Status GrpcService::RemoveAllowedOrigin(grpc::ServerContext* ctx, const v1::RemoveAllowedOriginRequest* r,
                                              v1::Empty*) {
  BP_WITH_CALLER(ctx);
  return reply_empty(service_->remove_allowed_origin(c, r->pipe_id(), r->origin_id()));
}
grpc::Status GrpcService::ListApiKeys(grpc::ServerContext* ctx, const v1::ListApiKeysRequest* r,
                                      v1::ListApiKeysResponse* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->list_api_keys(c, *r), out);
}
grpc::Status GrpcService::CreateApiKey(grpc::ServerContext* ctx, const v1::CreateApiKeyRequest* r,
                                       v1::CreateApiKeyResponse* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->create_api_key(c, *r), out);
}
grpc::Status GrpcService::RevokeApiKey(grpc::ServerContext* ctx, const v1::RevokeApiKeyRequest* r, v1::ApiKey* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->revoke_api_key(c, r->api_key_id()), out);
}
grpc::Status GrpcService::ListRuns(grpc::ServerContext* ctx, const v1::ListRunsRequest* r,
                                   v1::ListRunsResponse* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->list_runs(c, *r), out);
}
grpc::Status GrpcService::GetRun(grpc::ServerContext* ctx, const v1::GetRunRequest* r, v1::DeliveryRun* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->get_run(c, r->pipe_id(), r->run_id()), out);
}

grpc::Status GrpcService::ListDeadLetters(grpc::ServerContext* ctx, const v1::ListDeadLettersRequest* r,
                                          v1::ListDeadLettersResponse* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->list_dead_letters(c, *r), out);
}
grpc::Status GrpcService::ReplayDeadLetters(grpc::ServerContext* ctx, const v1::ReplayDeadLettersRequest* r,
                                            v1::ReplayDeadLettersResponse* out) {
  BP_WITH_CALLER(ctx);
  return reply(service_->replay_dead_letters(c, *r), out);
}

#undef BP_WITH_CALLER

grpc::Status GrpcService::ResolveApiKey(grpc::ServerContext*, const v1::ResolveApiKeyRequest* r,
                                        v1::ResolveApiKeyResponse* out) {
  return reply(service_->resolve_api_key(r->key_sha256()), out);
}
grpc::Status GrpcService::ResolvePipe(grpc::ServerContext*, const v1::ResolvePipeRequest* r, v1::Pipe* out) {
  return reply(service_->resolve_pipe(r->pipe_id()), out);
}
grpc::Status GrpcService::ListDeliveryDestinations(grpc::ServerContext*, const v1::ListDeliveryDestinationsRequest*,
                                                   v1::ListDeliveryDestinationsResponse* out) {
  return reply(service_->list_delivery_destinations(), out);
}
grpc::Status GrpcService::ReportDeliveryRun(grpc::ServerContext*, const v1::ReportDeliveryRunRequest* r,
                                            v1::DeliveryRun* out) {
  return reply(service_->report_delivery_run(r->run()), out);
}
grpc::Status GrpcService::ReportUsage(grpc::ServerContext*, const v1::ReportUsageRequest* r, v1::Empty*) {
  return reply_empty(service_->report_usage(*r));
}

}  // namespace bp::control_plane

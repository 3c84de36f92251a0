// gRPC adapter: proto in, Management call, grpc::Status out. No logic of its own.
#pragma once

#include <memory>

#include "batchpipe/v1/control_plane.grpc.pb.h"
#include "bp/control_plane/management.h"

namespace bp::control_plane {

inline constexpr const char* kApiKeyMetadata = "bp-api-key-sha256";

// Maps an Error onto a gRPC status; validation errors carry a FieldErrors message as details.
grpc::Status to_grpc(const Error& error);

class GrpcService final : public v1::ControlPlane::Service {
 public:
  explicit GrpcService(std::shared_ptr<Management> service) : service_(std::move(service)) {}

  grpc::Status ListPipes(grpc::ServerContext*, const v1::ListPipesRequest*, v1::ListPipesResponse*) override;
  grpc::Status GetPipe(grpc::ServerContext*, const v1::GetPipeRequest*, v1::Pipe*) override;
  grpc::Status CreatePipe(grpc::ServerContext*, const v1::CreatePipeRequest*, v1::Pipe*) override;
  grpc::Status UpdatePipe(grpc::ServerContext*, const v1::UpdatePipeRequest*, v1::Pipe*) override;
  grpc::Status DeletePipe(grpc::ServerContext*, const v1::DeletePipeRequest*, v1::Empty*) override;
  grpc::Status CreateDestination(grpc::ServerContext*, const v1::CreateDestinationRequest*,
                                 v1::Destination*) override;
  grpc::Status UpdateDestination(grpc::ServerContext*, const v1::UpdateDestinationRequest*,
                                 v1::Destination*) override;
  grpc::Status SetDestinationStatus(grpc::ServerContext*, const v1::SetDestinationStatusRequest*,
                                    v1::Destination*) override;
  grpc::Status DeleteDestination(grpc::ServerContext*, const v1::DeleteDestinationRequest*, v1::Empty*) override;
  grpc::Status PutPipeLimits(grpc::ServerContext*, const v1::PutPipeLimitsRequest*, v1::PipeLimits*) override;
  grpc::Status AddAllowedOrigin(grpc::ServerContext*, const v1::AddAllowedOriginRequest*,
                                v1::AllowedOrigin*) override;
  grpc::Status RemoveAllowedOrigin(grpc::ServerContext*, const v1::RemoveAllowedOriginRequest*,
                                   v1::Empty*) override;
  grpc::Status ListApiKeys(grpc::ServerContext*, const v1::ListApiKeysRequest*, v1::ListApiKeysResponse*) override;
  grpc::Status CreateApiKey(grpc::ServerContext*, const v1::CreateApiKeyRequest*,
                            v1::CreateApiKeyResponse*) override;
  grpc::Status RevokeApiKey(grpc::ServerContext*, const v1::RevokeApiKeyRequest*, v1::ApiKey*) override;
  grpc::Status ListRuns(grpc::ServerContext*, const v1::ListRunsRequest*, v1::ListRunsResponse*) override;
  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest*, v1::DeliveryRun*) override;
  grpc::Status ListDeadLetters(grpc::ServerContext*, const v1::ListDeadLettersRequest*,
                               v1::ListDeadLettersResponse*) override;
  grpc::Status ReplayDeadLetters(grpc::ServerContext*, const v1::ReplayDeadLettersRequest*,
                                 v1::ReplayDeadLettersResponse*) override;
  grpc::Status ResolveApiKey(grpc::ServerContext*, const v1::ResolveApiKeyRequest*,
                             v1::ResolveApiKeyResponse*) override;
  grpc::Status ResolvePipe(grpc::ServerContext*, const v1::ResolvePipeRequest*, v1::Pipe*) override;
  grpc::Status ListDeliveryDestinations(grpc::ServerContext*, const v1::ListDeliveryDestinationsRequest*,
                                        v1::ListDeliveryDestinationsResponse*) override;
  grpc::Status ReportDeliveryRun(grpc::ServerContext*, const v1::ReportDeliveryRunRequest*,
                                 v1::DeliveryRun*) override;
  grpc::Status ReportUsage(grpc::ServerContext*, const v1::ReportUsageRequest*, v1::Empty*) override;

 private:
  Result<Caller> caller(grpc::ServerContext* context);
  std::shared_ptr<Management> service_;
};

}  // namespace bp::control_plane

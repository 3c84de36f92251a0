// The management logic over Postgres and JetStream. The gRPC service is a thin
// adapter over this class; tests call it directly too.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batchpipe/v1/control_plane.pb.h"
#include "bp/control_plane/topology.h"
#include "bp/keyring.h"
#include "bp/pg/pool.h"
#include "bp/result.h"

namespace bp::control_plane {

namespace v1 = ::batchpipe::v1;

// Who is calling: resolved from the API key presented with the request.
struct Caller {
  std::string workspace_id;
  std::string api_key_id;
};

// What one pass of the consumer reconcile changed.
struct ReconcileReport {
  int created = 0;   // consumers made for destinations that had none
  int removed = 0;   // consumers of deleted destinations deleted (or found gone)
  int draining = 0;  // consumers of deleted destinations too deep to delete: the drain's (decision 0021)
};

struct BootstrapResult {
  std::string workspace_id;
  std::string api_key;  // full secret, shown once
};

class Management {
 public:
  Management(std::shared_ptr<pg::Pool> pool, std::shared_ptr<crypto::Keyring> keyring, std::shared_ptr<Topology> topology)
      : pool_(std::move(pool)), keyring_(std::move(keyring)), topology_(std::move(topology)) {}

  // Creates the workspace and its first key; nullopt when a workspace of that name exists.
  Result<std::optional<BootstrapResult>> bootstrap(const std::string& workspace_name);
  // kUnauthenticated for unknown, revoked or expired keys.
  Result<Caller> authenticate(const std::string& key_sha256);

  Result<v1::ListPipesResponse> list_pipes(const Caller& c, const v1::ListPipesRequest& r);
  Result<v1::Pipe> get_pipe(const Caller& c, const std::string& pipe_id);
  Result<v1::Pipe> create_pipe(const Caller& c, const v1::CreatePipeRequest& r);
  Result<v1::Pipe> update_pipe(const Caller& c, const v1::UpdatePipeRequest& r);
  Status delete_pipe(const Caller& c, const std::string& pipe_id);

  Result<v1::Destination> create_destination(const Caller& c, const v1::CreateDestinationRequest& r);
  Result<v1::Destination> update_destination(const Caller& c, const v1::UpdateDestinationRequest& r);
  Result<v1::Destination> set_destination_status(const Caller& c, const v1::SetDestinationStatusRequest& r);
  Status delete_destination(const Caller& c, const std::string& pipe_id, const std::string& destination_id);

  Result<v1::PipeLimits> put_pipe_limits(const Caller& c, const v1::PutPipeLimitsRequest& r);
  Result<v1::AllowedOrigin> add_allowed_origin(const Caller& c, const v1::AddAllowedOriginRequest& r);
  Status remove_allowed_origin(const Caller& c, const std::string& pipe_id, const std::string& origin_id);

  Result<v1::ListApiKeysResponse> list_api_keys(const Caller& c, const v1::ListApiKeysRequest& r);
  Result<v1::CreateApiKeyResponse> create_api_key(const Caller& c, const v1::CreateApiKeyRequest& r);
  Result<v1::ApiKey> revoke_api_key(const Caller& c, const std::string& api_key_id);

  Result<v1::ListRunsResponse> list_runs(const Caller& c, const v1::ListRunsRequest& r);
  Result<v1::DeliveryRun> get_run(const Caller& c, const std::string& pipe_id, const std::string& run_id);

  Result<v1::ListDeadLettersResponse> list_dead_letters(const Caller& c, const v1::ListDeadLettersRequest& r);
  Result<v1::ReplayDeadLettersResponse> replay_dead_letters(const Caller& c, const v1::ReplayDeadLettersRequest& r);

  // Internal calls (gateway and workers).
  Result<v1::ResolveApiKeyResponse> resolve_api_key(const std::string& key_sha256);
  Result<v1::Pipe> resolve_pipe(const std::string& pipe_id);
  Result<v1::ListDeliveryDestinationsResponse> list_delivery_destinations();
  Result<v1::DeliveryRun> report_delivery_run(const v1::DeliveryRun& run);
  Status report_usage(const v1::ReportUsageRequest& r);

  // Creates missing consumers for existing destinations (e.g. after a JetStream data loss) and
  // deletes the consumers that deleted destinations left behind (nats-server slow or away when
  // they were deleted: the consumer_cleanup rows). The control-plane runs it at start-up and
  // then every BP_RECONCILE_INTERVAL_SECONDS; passes are idempotent, so replicas may overlap.
  Result<ReconcileReport> reconcile_consumers();
  bool nats_healthy() const { return topology_->healthy(); }
  pg::Pool& pool() { return *pool_; }
  const std::shared_ptr<Topology>& topology() const { return topology_; }

  // Deletes the consumer of a deleted destination, then its consumer_cleanup row: true. False
  // when the consumer holds more than consumer_drain_above messages; it is then left to the
  // drain (ConsumerDrain), and so is the row. A consumer already gone counts as deleted.
  Result<bool> delete_consumer_of_deleted(pg::Connection& conn, const std::string& destination_id,
                                          std::chrono::milliseconds wait);

 private:
  // Pipe of the caller's workspace, read with its limits, origins and destinations (and usage).
  Result<v1::Pipe> load_pipe(pg::Connection& conn, const std::string& workspace_id, const std::string& pipe_id,
                             bool with_usage);
  Result<v1::Destination> load_destination(pg::Connection& conn, const std::string& pipe_id,
                                           const std::string& destination_id, bool reveal_secrets);
  // The full config (non-secret fields plus decrypted secrets) of a stored destination row.
  Result<std::string> full_config(pg::Connection& conn, const std::string& destination_id);
  // Checks the destination exists on a pipe of the caller's workspace (kNotFound otherwise).
  Status require_destination(const Caller& c, const std::string& pipe_id, const std::string& destination_id);
  // Checks the pipe exists in the workspace (kNotFound otherwise); `lock` takes its row FOR UPDATE.
  Status require_pipe(pg::Connection& conn, const Caller& c, const std::string& pipe_id, bool lock = false);
  // After the destinations' rows and cleanup rows are committed: deletes their consumers,
  // waiting at most consumer_delete_wait for all of them, and the cleanup rows of those that
  // went. What is left is logged and left to the drain (deep ones) or the reconcile.
  void delete_consumers_of_deleted(pg::Connection& conn, const std::vector<std::string>& destination_ids);

  std::shared_ptr<pg::Pool> pool_;
  std::shared_ptr<crypto::Keyring> keyring_;
  std::shared_ptr<Topology> topology_;
};

}  // namespace bp::control_plane

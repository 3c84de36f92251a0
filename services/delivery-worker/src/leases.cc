// Leases: create to take, update-with-revision to renew, delete to release.
#include "bp/delivery_worker/leases.h"

#include "bp/log.h"

namespace bp::delivery_worker {

Result<std::unique_ptr<Leases>> Leases::open(std::shared_ptr<nats::Client> nats, std::string worker_id,
                                             std::chrono::milliseconds ttl) {
  std::unique_ptr<Leases> leases(new Leases());
  leases->nats_ = std::move(nats);
  leases->worker_id_ = std::move(worker_id);
  leases->ttl_ = ttl;
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = "bp_leases";
  cfg.History = 1;
  cfg.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
  cfg.StorageType = js_MemoryStorage;
  natsStatus s = js_CreateKeyValue(&leases->kv_, leases->nats_->jetstream(), &cfg);
  if (s != NATS_OK) s = js_KeyValue(&leases->kv_, leases->nats_->jetstream(), "bp_leases");
  if (s != NATS_OK) return nats::error_from(s, static_cast<jsErrCode>(0), "cannot open the lease bucket");
  return leases;
}

Leases::~Leases() {
  if (kv_) kvStore_Destroy(kv_);
}

bool Leases::acquire(const std::string& destination_id) {
  {
    std::lock_guard lock(mutex_);
    if (revisions_.count(destination_id)) return true;
  }
  uint64_t revision = 0;
  natsStatus s = kvStore_Create(&revision, kv_, destination_id.c_str(), worker_id_.data(),
                                static_cast<int>(worker_id_.size()));
  if (s != NATS_OK) return false;  // held by another worker (or NATS is away): try later
  std::lock_guard lock(mutex_);
  revisions_[destination_id] = revision;
  log::info("lease taken", {{"destination_id", destination_id}});
  return true;
}

bool Leases::renew(const std::string& destination_id) {
  uint64_t last = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = revisions_.find(destination_id);
    if (it == revisions_.end()) return false;
    last = it->second;
  }
  uint64_t revision = 0;
  natsStatus s = kvStore_Update(&revision, kv_, destination_id.c_str(), worker_id_.data(),
                                static_cast<int>(worker_id_.size()), last);
  std::lock_guard lock(mutex_);
  if (s == NATS_OK) {
    revisions_[destination_id] = revision;
    return true;
  }
  revisions_.erase(destination_id);
  log::warn("lease lost", {{"destination_id", destination_id}, {"error", natsStatus_GetText(s)}});
  return false;
}

void Leases::release(const std::string& destination_id) {
  {
    std::lock_guard lock(mutex_);
    if (!revisions_.erase(destination_id)) return;
  }
  kvStore_Delete(kv_, destination_id.c_str());
  log::info("lease released", {{"destination_id", destination_id}});
}

size_t Leases::held() const {
  std::lock_guard lock(mutex_);
  return revisions_.size();
}

}  // namespace bp::delivery_worker

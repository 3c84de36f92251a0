// Leases: create to take, update-with-revision to renew, delete to release.
#include "bp/delivery_worker/leases.h"

#include <algorithm>

#include "bp/log.h"

namespace bp::delivery_worker {

namespace {

kvConfig lease_bucket_config(std::chrono::milliseconds ttl) {
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = "bp_leases";
  cfg.History = 1;
  cfg.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
  // On disk: a nats-server restart keeps the bucket and the leases in it (a memory bucket would
  // vanish with the process, and every lease operation would fail until it is made again).
  cfg.StorageType = js_FileStorage;
  return cfg;
}

}  // namespace

Result<std::unique_ptr<Leases>> Leases::open(std::shared_ptr<nats::Client> nats, std::string worker_id,
                                             std::chrono::milliseconds ttl) {
  std::unique_ptr<Leases> leases(new Leases());
  leases->nats_ = std::move(nats);
  leases->worker_id_ = std::move(worker_id);
  leases->ttl_ = ttl;
  kvConfig cfg = lease_bucket_config(ttl);
  kvStore* kv = nullptr;
  natsStatus s = js_CreateKeyValue(&kv, leases->nats_->jetstream(), &cfg);
  if (s != NATS_OK) {
    s = js_KeyValue(&kv, leases->nats_->jetstream(), "bp_leases");
    if (s == NATS_OK) leases->align_ttl();
  }
  if (s != NATS_OK) return nats::error_from(s, static_cast<jsErrCode>(0), "cannot open the lease bucket");
  leases->kv_ = kv;
  return leases;
}

// After a failed lease operation: if the bucket is gone (a nats-server that lost its store, or
// an older memory-storage bucket after a restart), makes it again. True when it did.
bool Leases::ensure_bucket() {
  jsStreamInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, nats_->jetstream(), "KV_bp_leases", nullptr, &jerr);
  if (info) jsStreamInfo_Destroy(info);
  if (s == NATS_OK || (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)) return false;
  kvConfig cfg = lease_bucket_config(ttl_);
  kvStore* kv = nullptr;
  s = js_CreateKeyValue(&kv, nats_->jetstream(), &cfg);
  if (s != NATS_OK) s = js_KeyValue(&kv, nats_->jetstream(), "bp_leases");  // another worker was first
  if (s != NATS_OK) return false;
  // The old handle may be in use on another thread right now: it is kept (a few bytes, once per
  // lost bucket) rather than destroyed under it.
  kv_.store(kv);
  log::warn("the lease bucket was missing (nats-server lost its store?); made it again");
  return true;
}

// The bucket exists already: its TTL (the stream's MaxAge) is what expires leases, whatever this
// worker was configured with. Make it this worker's, so that renewals every ttl/3 keep them alive.
void Leases::align_ttl() {
  jsStreamInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&info, nats_->jetstream(), "KV_bp_leases", nullptr, &jerr) != NATS_OK || !info) return;
  int64_t want = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl_).count();
  if (info->Config->MaxAge != want) {
    log::warn("lease bucket TTL differs from BP_LEASE_TTL_MS; setting it",
              {{"bucket_ttl_ms", std::to_string(info->Config->MaxAge / 1000000)}, {"ttl_ms", std::to_string(ttl_.count())}});
    info->Config->MaxAge = want;
    info->Config->Duplicates = std::min(info->Config->Duplicates, want);  // may not exceed MaxAge
    jsStreamInfo* updated = nullptr;
    natsStatus s = js_UpdateStream(&updated, nats_->jetstream(), info->Config, nullptr, &jerr);
    if (updated) jsStreamInfo_Destroy(updated);
    if (s != NATS_OK) {
      log::error("cannot set the lease bucket TTL", {{"error", nats::error_from(s, jerr, "update KV_bp_leases").message}});
    }
  }
  jsStreamInfo_Destroy(info);
}

Leases::~Leases() {
  if (kvStore* kv = kv_.load()) kvStore_Destroy(kv);
}

bool Leases::acquire(const std::string& destination_id) {
  {
    std::lock_guard lock(mutex_);
    if (revisions_.count(destination_id)) return true;
  }
  uint64_t revision = 0;
  natsStatus s = kvStore_Create(&revision, kv_.load(), destination_id.c_str(), worker_id_.data(),
                                static_cast<int>(worker_id_.size()));
  if (s != NATS_OK && ensure_bucket()) {
    s = kvStore_Create(&revision, kv_.load(), destination_id.c_str(), worker_id_.data(),
                       static_cast<int>(worker_id_.size()));
  }
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
  natsStatus s = kvStore_Update(&revision, kv_.load(), destination_id.c_str(), worker_id_.data(),
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
  kvStore_Delete(kv_.load(), destination_id.c_str());
  log::info("lease released", {{"destination_id", destination_id}});
}

size_t Leases::held() const {
  std::lock_guard lock(mutex_);
  return revisions_.size();
}

bool Leases::holds(const std::string& destination_id) const {
  std::lock_guard lock(mutex_);
  return revisions_.count(destination_id) > 0;
}

}  // namespace bp::delivery_worker

// nats.c calls, each status checked at once, resources destroyed in reverse order.
#include "bp/nats/client.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace bp::nats {
namespace {

int64_t nanos(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

Error error_from(natsStatus status, jsErrCode js_code, const std::string& what) {
  std::string message = what + ": " + natsStatus_GetText(status);
  if (js_code != 0) message += " (JetStream error " + std::to_string(static_cast<int>(js_code)) + ")";
  if (status == NATS_TIMEOUT || status == NATS_NO_SERVER || status == NATS_CONNECTION_CLOSED ||
      status == NATS_NO_RESPONDERS || status == NATS_CONNECTION_DISCONNECTED) {
    return Error::unavailable(message);
  }
  return Error::internal(message);
}

void retire(natsSubscription* sub, std::chrono::milliseconds grace) {
  if (sub == nullptr) return;
  using Clock = std::chrono::steady_clock;
  struct Retired {
    Clock::time_point due;
    natsSubscription* sub;
  };
  static std::mutex mutex;
  static auto* retired = new std::vector<Retired>();  // never freed: reachable until exit
  natsSubscription_Unsubscribe(sub);
  std::vector<natsSubscription*> due;
  {
    std::lock_guard lock(mutex);
    auto now = Clock::now();
    auto keep = std::partition(retired->begin(), retired->end(), [&](const Retired& r) { return r.due > now; });
    for (auto it = keep; it != retired->end(); ++it) due.push_back(it->sub);
    retired->erase(keep, retired->end());
    retired->push_back({now + grace, sub});
  }
  for (auto* s : due) natsSubscription_Destroy(s);
}

Result<std::shared_ptr<Client>> Client::connect(const std::string& url, const std::string& name) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 5000);
  std::shared_ptr<Client> client(new Client());
  if (s == NATS_OK) s = natsConnection_Connect(&client->nc_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return error_from(s, static_cast<jsErrCode>(0), "cannot connect to NATS at " + url);
  s = natsConnection_JetStream(&client->js_, client->nc_, nullptr);
  if (s != NATS_OK) return error_from(s, static_cast<jsErrCode>(0), "cannot open JetStream context");
  return client;
}

Client::~Client() {
  if (js_) jsCtx_Destroy(js_);
  if (nc_) {
    natsConnection_Drain(nc_);
    natsConnection_Destroy(nc_);
  }
}

bool Client::connected() const { return nc_ && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

Status Client::ensure_stream(const StreamSpec& spec) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  std::vector<const char*> subjects;
  for (const auto& s : spec.subjects) subjects.push_back(s.c_str());
  cfg.Name = spec.name.c_str();
  cfg.Subjects = subjects.data();
  cfg.SubjectsLen = static_cast<int>(subjects.size());
  cfg.Retention = spec.interest_retention ? js_InterestPolicy : js_LimitsPolicy;
  cfg.Discard = spec.discard_new ? js_DiscardNew : js_DiscardOld;
  cfg.Storage = js_FileStorage;
  cfg.MaxBytes = spec.max_bytes;
  cfg.MaxAge = nanos(spec.max_age);
  cfg.Duplicates = nanos(spec.duplicate_window);
  cfg.Replicas = spec.replicas;
  cfg.AllowDirect = spec.allow_direct;

  jsStreamInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&info, js_, &cfg, nullptr, &jerr);
  if (s != NATS_OK && jerr == JSStreamNameExistErr) {
    jerr = static_cast<jsErrCode>(0);
    s = js_UpdateStream(&info, js_, &cfg, nullptr, &jerr);
  }
  if (info) jsStreamInfo_Destroy(info);
  if (s != NATS_OK) return error_from(s, jerr, "cannot create or update stream " + spec.name);
  return ok_status();
}

Status Client::ensure_consumer(const std::string& stream, const ConsumerSpec& spec) {
  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.Durable = spec.durable.c_str();
  cfg.FilterSubject = spec.filter_subject.c_str();
  cfg.AckPolicy = js_AckExplicit;
  cfg.AckWait = nanos(spec.ack_wait);
  cfg.DeliverPolicy = js_DeliverNew;
  cfg.MaxDeliver = -1;  // the worker counts attempts and dead-letters itself
  cfg.MaxAckPending = spec.max_ack_pending;

  auto exists = consumer_exists(stream, spec.durable);
  if (!exists) return exists.take_error();
  if (*exists) return ok_status();

  jsConsumerInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddConsumer(&info, js_, stream.c_str(), &cfg, nullptr, &jerr);
  if (info) jsConsumerInfo_Destroy(info);
  if (s != NATS_OK && jerr != JSConsumerNameExistErr) {
    return error_from(s, jerr, "cannot create consumer " + spec.durable);
  }
  return ok_status();
}

Result<bool> Client::consumer_exists(const std::string& stream, const std::string& durable) {
  jsConsumerInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&info, js_, stream.c_str(), durable.c_str(), nullptr, &jerr);
  if (info) jsConsumerInfo_Destroy(info);
  if (s == NATS_OK) return true;
  if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) return false;
  return error_from(s, jerr, "cannot look up consumer " + durable);
}

Result<int64_t> Client::consumer_backlog(const std::string& stream, const std::string& durable) {
  jsConsumerInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = 1000;  // a /metrics scrape must not hang on a slow server
  natsStatus s = js_GetConsumerInfo(&info, js_, stream.c_str(), durable.c_str(), &o, &jerr);
  if (s != NATS_OK) {
    if (info) jsConsumerInfo_Destroy(info);
    if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) return Error::not_found("no consumer " + durable);
    return error_from(s, jerr, "cannot look up consumer " + durable);
  }
  int64_t backlog = static_cast<int64_t>(info->NumPending) + static_cast<int64_t>(info->NumAckPending);
  jsConsumerInfo_Destroy(info);
  return backlog;
}

Status Client::delete_consumer(const std::string& stream, const std::string& durable, std::chrono::milliseconds wait) {
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = std::max<int64_t>(1, wait.count());
  natsStatus s = js_DeleteConsumer(js_, stream.c_str(), durable.c_str(), &o, &jerr);
  if (s == NATS_OK || s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) return ok_status();
  return error_from(s, jerr, "cannot delete consumer " + durable);
}

Result<std::vector<std::string>> Client::consumer_names(const std::string& stream) {
  jsConsumerNamesList* list = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_ConsumerNames(&list, js_, stream.c_str(), nullptr, &jerr);
  std::vector<std::string> names;
  if (s == NATS_NOT_FOUND) return names;  // no consumers
  if (s != NATS_OK) return error_from(s, jerr, "cannot list consumers of " + stream);
  for (int i = 0; i < list->Count; ++i) names.emplace_back(list->List[i]);
  jsConsumerNamesList_Destroy(list);
  return names;
}

Result<std::vector<StoredMessage>> Client::stored_messages(const std::string& stream, const std::string& subject,
                                                           uint64_t from, size_t max) {
  std::vector<StoredMessage> out;
  uint64_t next = std::max<uint64_t>(from, 1);
  while (out.size() < max) {
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = next;
    o.NextBySubject = subject.c_str();
    natsMsg* msg = nullptr;
    natsStatus s = js_DirectGetMsg(&msg, js_, stream.c_str(), nullptr, &o);
    if (s == NATS_NOT_FOUND) break;
    if (s != NATS_OK) return error_from(s, static_cast<jsErrCode>(0), "cannot read stream " + stream);
    StoredMessage m;
    m.data.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        const char* value = nullptr;
        if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK && value) m.headers[keys[i]] = value;
      }
      free(keys);
    }
    natsMsg_Destroy(msg);
    m.sequence = std::strtoull(m.headers["Nats-Sequence"].c_str(), nullptr, 10);
    if (m.sequence < next) break;  // defensive: never loop on the same message
    next = m.sequence + 1;
    out.push_back(std::move(m));
  }
  return out;
}

Status Client::delete_message(const std::string& stream, uint64_t sequence) {
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_DeleteMsg(js_, stream.c_str(), sequence, nullptr, &jerr);
  if (s != NATS_OK && s != NATS_NOT_FOUND) return error_from(s, jerr, "cannot delete message");
  return ok_status();
}

Status Client::publish_stored(const std::string& subject, std::string_view data,
                              const std::map<std::string, std::string>& headers, const std::string& msg_id) {
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  for (const auto& [k, v] : headers) {
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, k.c_str(), v.c_str());
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  if (!msg_id.empty()) po.MsgId = msg_id.c_str();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (s == NATS_OK) s = js_PublishMsg(&ack, js_, msg, &po, &jerr);
  if (ack) jsPubAck_Destroy(ack);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) return error_from(s, jerr, "cannot publish on " + subject);
  return ok_status();
}

Status Client::publish(const std::string& subject, std::string_view data) {
  natsStatus s = natsConnection_Publish(nc_, subject.c_str(), data.data(), static_cast<int>(data.size()));
  if (s != NATS_OK) return error_from(s, static_cast<jsErrCode>(0), "cannot publish on " + subject);
  return ok_status();
}

}  // namespace bp::nats

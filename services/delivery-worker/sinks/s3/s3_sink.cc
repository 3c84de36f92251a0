#include "s3_sink.h"

#include <chrono>
#include <ctime>
#include <map>
#include <mutex>

#include "bp/crypto.h"
#include "file/file_sink.h"  // gzip_member
#include "http/http_client.h"
#include "sigv4.h"

namespace bp::delivery_worker {
namespace {

namespace http = boost::beast::http;

std::string utc(std::time_t t, const char* format) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

class S3Sink final : public Sink {
 public:
  bool parallel_writes() const override { return true; }
  S3Sink(const rapidjson::Value& c, const SinkEnvironment& env)
      : endpoint_(parse_http_url(json::get_string(c, "endpoint").value_or(""))),
        bucket_(json::get_string(c, "bucket").value_or("")),
        prefix_(json::get_string(c, "prefix").value_or("")),
        credentials_{json::get_string(c, "access_key_id").value_or(""),
                     json::get_string(c, "secret_access_key").value_or(""),
                     json::get_string(c, "region").value_or("us-east-1")},
        client_("s3", std::chrono::seconds(30), env.webhook_allow_private, env.webhook_ca_file) {
    // An endpoint with a path ("https://host/base") puts the buckets under that path.
    base_path_ = endpoint_.target == "/" ? "" : endpoint_.target;
    while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  }

  std::optional<SinkFailure> write(const DeliveryBatch& batch) override {
    std::string ndjson;
    ndjson.reserve(batch.bytes + batch.records.size());
    for (const auto& r : batch.records) {
      ndjson += r.json;
      ndjson += '\n';
    }
    std::string body = gzip_member(ndjson);
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::string key = prefix_ + object_time(batch.id, now) + "-" + batch.id + ".ndjson.gz";
    std::string path = base_path_ + "/" + s3_uri_encode(bucket_, true) + "/" + s3_uri_encode(key, false);
    std::string amz_date = utc(now, "%Y%m%dT%H%M%SZ");
    std::string payload_hash = crypto::sha256_hex(body);
    std::string host = endpoint_.host;
    bool default_port = endpoint_.port == (endpoint_.tls ? "443" : "80");
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    if (!default_port) host += ":" + endpoint_.port;

    http::request<http::string_body> req{http::verb::put, path, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "BatchPipe-S3/1");
    req.set(http::field::content_type, "application/x-ndjson");
    req.set(http::field::content_encoding, "gzip");
    req.set("x-amz-content-sha256", payload_hash);
    req.set("x-amz-date", amz_date);
    SigV4Request sig{"PUT", path, "", {}, payload_hash};
    sig.headers = {{"content-encoding", "gzip"},
                   {"content-type", "application/x-ndjson"},
                   {"host", host},
                   {"x-amz-content-sha256", payload_hash},
                   {"x-amz-date", amz_date}};
    req.set(http::field::authorization, sigv4_authorization(sig, credentials_, amz_date));
    req.body() = std::move(body);
    req.prepare_payload();

    auto answer = client_.send(endpoint_, req);
    if (auto* failed = std::get_if<SinkFailure>(&answer)) return *failed;
    const auto& res = std::get<HttpClient::Response>(answer);
    unsigned status = res.result_int();
    if (status >= 200 && status < 300) {
      forget(batch.id);
      return std::nullopt;
    }
    // An object store refuses the request (credentials, bucket, quota), never a record: the
    // records wait and are retried, and dead-lettered only after pl_delivery_max_attempts.
    return SinkFailure{false, "s3 answered " + std::to_string(status) + " for " + key + ": " + res.body().substr(0, 300)};
  }

  void cancel() override { client_.cancel(); }

 private:
  // The time part of a batch's key, fixed at its first attempt so that retries write the same key.
  std::string object_time(const std::string& batch_id, std::time_t now) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = first_attempt_.emplace(batch_id, now);
    if (first_attempt_.size() > 1024) first_attempt_.clear();  // only batches still being retried matter
    return utc(it->second, "%Y/%m/%d/%H%M%S");
  }
  void forget(const std::string& batch_id) {
    std::lock_guard lock(mutex_);
    first_attempt_.erase(batch_id);
  }

  HttpTarget endpoint_;
  std::string base_path_;
  std::string bucket_;
  std::string prefix_;
  SigV4Credentials credentials_;
  HttpClient client_;
  std::mutex mutex_;
  std::map<std::string, std::time_t> first_attempt_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_s3_sink(const rapidjson::Value& config, const SinkEnvironment& env) {
  return std::unique_ptr<Sink>(new S3Sink(config, env));
}

}  // namespace bp::delivery_worker

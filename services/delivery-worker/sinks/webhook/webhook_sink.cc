// Webhook delivery: one POST per batch through the sinks' HttpClient (plain or TLS, one
// connection per batch, a total timeout).
#include "webhook_sink.h"

#include <chrono>

#include "bp/crypto.h"

namespace bp::delivery_worker {

namespace http = boost::beast::http;

std::string webhook_signature(const std::string& secret, const std::string& id, const std::string& timestamp,
                              const std::string& body) {
  std::string key = secret;
  if (secret.rfind("whsec_", 0) == 0) {
    if (auto decoded = crypto::base64_decode(secret.substr(6))) key = *decoded;
  }
  return "v1," + crypto::base64_encode(crypto::hmac_sha256(key, id + "." + timestamp + "." + body));
}

namespace {

class WebhookSink final : public Sink {
 public:
  bool parallel_writes() const override { return true; }
  WebhookSink(const rapidjson::Value& c, const SinkEnvironment& env)
      : url_(parse_http_url(json::get_string(c, "url").value_or(""))),
        secret_(json::get_string(c, "signing_secret").value_or("")),
        ndjson_(json::get_string(c, "format").value_or("json") == "ndjson"),
        client_("webhook", std::chrono::milliseconds(json::get_int(c, "timeout_ms").value_or(10000)),
                env.webhook_allow_private, env.webhook_ca_file) {
    if (const auto* headers = json::find(c, "headers"); headers && headers->IsObject()) {
      for (const auto& h : headers->GetObject()) {
        if (h.value.IsString()) headers_.emplace_back(h.name.GetString(), h.value.GetString());
      }
    }
  }

  std::optional<SinkFailure> write(const DeliveryBatch& batch) override {
    std::string body;
    body.reserve(batch.bytes + batch.records.size() + 2);
    if (!ndjson_) body += '[';
    for (size_t i = 0; i < batch.records.size(); ++i) {
      if (i && !ndjson_) body += ',';
      body += batch.records[i].json;
      if (ndjson_) body += '\n';
    }
    if (!ndjson_) body += ']';

    http::request<http::string_body> req{http::verb::post, url_.target, 11};
    req.set(http::field::host, url_.host);
    req.set(http::field::user_agent, "BatchPipe-Webhook/1");
    req.set(http::field::content_type, ndjson_ ? "application/x-ndjson" : "application/json");
    for (const auto& [name, value] : headers_) req.set(name, value);
    std::string timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    req.set("webhook-id", batch.id);
    req.set("webhook-timestamp", timestamp);
    if (!secret_.empty()) req.set("webhook-signature", webhook_signature(secret_, batch.id, timestamp, body));
    req.body() = std::move(body);
    req.prepare_payload();

    auto answer = client_.send(url_, req);
    if (auto* failed = std::get_if<SinkFailure>(&answer)) return *failed;
    const auto& res = std::get<HttpClient::Response>(answer);
    unsigned status = res.result_int();
    if (status >= 200 && status < 300) return std::nullopt;
    bool transient = status == 408 || status == 429 || status >= 500;
    std::string snippet = res.body().substr(0, 200);
    return SinkFailure{!transient, "webhook answered " + std::to_string(status) + ": " + snippet};
  }

  void cancel() override { client_.cancel(); }

 private:
  HttpTarget url_;
  std::string secret_;
  bool ndjson_;
  HttpClient client_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_webhook_sink(const rapidjson::Value& config, const SinkEnvironment& env) {
  return std::unique_ptr<Sink>(new WebhookSink(config, env));
}

}  // namespace bp::delivery_worker

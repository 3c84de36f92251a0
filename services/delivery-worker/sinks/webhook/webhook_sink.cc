// Webhook delivery over Beast (plain or TLS), one connection per batch, with a total timeout.
#include "webhook_sink.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <mutex>

#include "bp/asio.h"
#include "bp/crypto.h"

namespace bp::delivery_worker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string webhook_signature(const std::string& secret, const std::string& id, const std::string& timestamp,
                              const std::string& body) {
  std::string key = secret;
  if (secret.rfind("whsec_", 0) == 0) {
    if (auto decoded = crypto::base64_decode(secret.substr(6))) key = *decoded;
  }
  return "v1," + crypto::base64_encode(crypto::hmac_sha256(key, id + "." + timestamp + "." + body));
}

bool is_private_address(const std::string& ip) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(ip, ec);
  if (ec) return true;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  if (address.is_loopback() || address.is_unspecified() || address.is_multicast()) return true;
  if (address.is_v4()) {
    auto b = address.to_v4().to_bytes();
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 169 && b[1] == 254) || (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] == 0;
  }
  auto v6 = address.to_v6();
  return v6.is_link_local() || (v6.to_bytes()[0] & 0xfe) == 0xfc;
}

namespace {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

Url parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    rest = url.substr(7);
  }
  auto slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target.front() == '?') u.target = "/" + u.target;
  auto colon = authority.rfind(':');
  bool v6 = !authority.empty() && authority.front() == '[';
  if (colon != std::string::npos && (!v6 || authority.find(']') < colon)) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (v6) u.host = u.host.substr(1, u.host.size() - 2);
  return u;
}

class WebhookSink final : public Sink {
 public:
  WebhookSink(const rapidjson::Value& c, const SinkEnvironment& env)
      : url_(parse_url(json::get_string(c, "url").value_or(""))),
        secret_(json::get_string(c, "signing_secret").value_or("")),
        ndjson_(json::get_string(c, "format").value_or("json") == "ndjson"),
        timeout_(std::chrono::milliseconds(json::get_int(c, "timeout_ms").value_or(10000))),
        allow_private_(env.webhook_allow_private),
        tls_(asio::ssl::context::tls_client) {
    if (const auto* headers = json::find(c, "headers"); headers && headers->IsObject()) {
      for (const auto& h : headers->GetObject()) {
        if (h.value.IsString()) headers_.emplace_back(h.name.GetString(), h.value.GetString());
      }
    }
    tls_.set_default_verify_paths();
    if (!env.webhook_ca_file.empty()) {
      boost::system::error_code ec;
      tls_.load_verify_file(env.webhook_ca_file, ec);  // a bad file leaves only the system CAs
    }
    tls_.set_verify_mode(asio::ssl::verify_peer);
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

    try {
      return send(req);
    } catch (const std::exception& e) {
      return SinkFailure{false, std::string("webhook request failed: ") + e.what()};
    }
  }

 private:
  void cancel() override {
    std::lock_guard lock(io_mutex_);
    cancelled_ = true;
    if (io_) io_->stop();
  }

  std::optional<SinkFailure> send(http::request<http::string_body>& req) {
    asio::io_context io;
    {
      std::lock_guard lock(io_mutex_);
      if (cancelled_) return SinkFailure{false, "cancelled: the worker is stopping"};
      io_ = &io;
    }
    struct Detach {
      WebhookSink* self;
      ~Detach() {
        std::lock_guard lock(self->io_mutex_);
        self->io_ = nullptr;
      }
    } detach{this};
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(url_.host, url_.port);
    std::vector<tcp::endpoint> allowed;
    for (const auto& e : endpoints) {
      if (allow_private_ || !is_private_address(e.endpoint().address().to_string())) allowed.push_back(e.endpoint());
    }
    if (allowed.empty()) {
      return SinkFailure{true, "webhook host " + url_.host + " resolves only to private or loopback addresses "
                               "(set BP_WEBHOOK_ALLOW_PRIVATE=1 to allow them)"};
    }
    // Async operations, run to completion here: only they honour the stream's timeout.
    http::response<http::string_body> res;
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(io, exchange(io, allowed, req, res), [&failure, &done](std::exception_ptr e) {
      failure = e;
      done = true;
    });
    io.run();
    if (!done) return SinkFailure{false, "cancelled: the worker is stopping"};
    if (failure) std::rethrow_exception(failure);
    unsigned status = res.result_int();
    if (status >= 200 && status < 300) return std::nullopt;
    bool transient = status == 408 || status == 429 || status >= 500;
    std::string snippet = res.body().substr(0, 200);
    return SinkFailure{!transient, "webhook answered " + std::to_string(status) + ": " + snippet};
  }

  asio::awaitable<void> exchange(asio::io_context& io, const std::vector<tcp::endpoint>& endpoints,
                                 http::request<http::string_body>& req, http::response<http::string_body>& res) {
    beast::flat_buffer buffer;
    if (url_.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(io, tls_);
      SSL_set_tlsext_host_name(stream.native_handle(), url_.host.c_str());
      stream.set_verify_callback(asio::ssl::host_name_verification(url_.host));
      beast::get_lowest_layer(stream).expires_after(timeout_);
      co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
      co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      co_await http::async_write(stream, req, asio::use_awaitable);
      co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    } else {
      beast::tcp_stream stream(io);
      stream.expires_after(timeout_);
      co_await stream.async_connect(endpoints, asio::use_awaitable);
      co_await http::async_write(stream, req, asio::use_awaitable);
      co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    }
  }

  std::mutex io_mutex_;
  asio::io_context* io_ = nullptr;  // of the write in progress, for cancel()
  bool cancelled_ = false;
  Url url_;
  std::string secret_;
  bool ndjson_;
  std::chrono::milliseconds timeout_;
  bool allow_private_;
  asio::ssl::context tls_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_webhook_sink(const rapidjson::Value& config, const SinkEnvironment& env) {
  return std::unique_ptr<Sink>(new WebhookSink(config, env));
}

}  // namespace bp::delivery_worker

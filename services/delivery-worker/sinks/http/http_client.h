// The sinks' HTTP client (webhook, s3): one request per call over Beast, plain or TLS, a total
// timeout, private and loopback addresses refused unless allowed, cancel() from another thread.
#pragma once

#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "bp/asio.h"
#include "bp/delivery_worker/sink.h"

namespace bp::delivery_worker {

struct HttpTarget {
  bool tls = false;
  std::string host;    // without brackets for IPv6
  std::string port;    // "80"/"443" when the URL has none
  std::string target;  // path and query, at least "/"
};

// Parses an http:// or https:// URL (validated beforehand by the destination schema).
HttpTarget parse_http_url(const std::string& url);

// True for loopback, private, link-local, CGNAT, unspecified and multicast addresses.
bool is_private_address(const std::string& ip);

class HttpClient {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  // `label` names the sink in messages ("webhook", "s3").
  HttpClient(std::string label, std::chrono::milliseconds timeout, bool allow_private, const std::string& ca_file);

  // Sends `req` to `to` and reads the answer. Refusals (private address), cancellation and
  // network errors come back as a SinkFailure (permanent only for the refusal).
  std::variant<Response, SinkFailure> send(const HttpTarget& to, Request& req);

  // Makes a send() in progress on another thread return soon, and every later one at once.
  void cancel();

 private:
  boost::asio::awaitable<void> exchange(boost::asio::io_context& io, const HttpTarget& to,
                                        const std::vector<boost::asio::ip::tcp::endpoint>& endpoints, Request& req,
                                        Response& res);

  std::string label_;
  std::chrono::milliseconds timeout_;
  bool allow_private_;
  boost::asio::ssl::context tls_;
  std::mutex io_mutex_;
  boost::asio::io_context* io_ = nullptr;  // of the send in progress, for cancel()
  bool cancelled_ = false;
};

}  // namespace bp::delivery_worker

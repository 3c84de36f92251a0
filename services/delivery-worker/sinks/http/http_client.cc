#include "http_client.h"

#include <boost/beast/ssl.hpp>

namespace bp::delivery_worker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpTarget parse_http_url(const std::string& url) {
  HttpTarget u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    rest = url.rfind("http://", 0) == 0 ? url.substr(7) : url;
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
  if (v6 && u.host.size() >= 2) u.host = u.host.substr(1, u.host.size() - 2);
  return u;
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

HttpClient::HttpClient(std::string label, std::chrono::milliseconds timeout, bool allow_private,
                       const std::string& ca_file)
    : label_(std::move(label)), timeout_(timeout), allow_private_(allow_private), tls_(asio::ssl::context::tls_client) {
  tls_.set_default_verify_paths();
  if (!ca_file.empty()) {
    boost::system::error_code ec;
    tls_.load_verify_file(ca_file, ec);  // a bad file leaves only the system CAs
  }
  tls_.set_verify_mode(asio::ssl::verify_peer);
}

void HttpClient::cancel() {
  std::lock_guard lock(io_mutex_);
  cancelled_ = true;
  if (io_) io_->stop();
}

std::variant<HttpClient::Response, SinkFailure> HttpClient::send(const HttpTarget& to, Request& req) {
  asio::io_context io;
  {
    std::lock_guard lock(io_mutex_);
    if (cancelled_) return SinkFailure{false, "cancelled: the worker is stopping"};
    io_ = &io;
  }
  struct Detach {
    HttpClient* self;
    ~Detach() {
      std::lock_guard lock(self->io_mutex_);
      self->io_ = nullptr;
    }
  } detach{this};
  try {
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(to.host, to.port);
    std::vector<tcp::endpoint> allowed;
    for (const auto& e : endpoints) {
      if (allow_private_ || !is_private_address(e.endpoint().address().to_string())) allowed.push_back(e.endpoint());
    }
    if (allowed.empty()) {
      return SinkFailure{true, label_ + " host " + to.host + " resolves only to private or loopback addresses "
                                                             "(set BP_WEBHOOK_ALLOW_PRIVATE=1 to allow them)"};
    }
    // Async operations, run to completion here: only they honour the stream's timeout.
    Response res;
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(io, exchange(io, to, allowed, req, res), [&failure, &done](std::exception_ptr e) {
      failure = e;
      done = true;
    });
    io.run();
    if (!done) return SinkFailure{false, "cancelled: the worker is stopping"};
    if (failure) std::rethrow_exception(failure);
    return res;
  } catch (const std::exception& e) {
    return SinkFailure{false, label_ + " request failed: " + e.what()};
  }
}

asio::awaitable<void> HttpClient::exchange(asio::io_context& io, const HttpTarget& to,
                                           const std::vector<tcp::endpoint>& endpoints, Request& req, Response& res) {
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);  // receivers' answers are small; never buffer an unbounded one
  if (to.tls) {
    beast::ssl_stream<beast::tcp_stream> stream(io, tls_);
    SSL_set_tlsext_host_name(stream.native_handle(), to.host.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(to.host));
    beast::get_lowest_layer(stream).expires_after(timeout_);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    co_await http::async_write(stream, req, asio::use_awaitable);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  } else {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout_);
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    co_await http::async_write(stream, req, asio::use_awaitable);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  }
  res = parser.release();
}

}  // namespace bp::delivery_worker

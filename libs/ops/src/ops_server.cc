// /healthz, /readyz and /metrics over Beast, one coroutine per connection, on a private thread.
#include "bp/ops/ops_server.h"

#include <charconv>

#include "bp/asio.h"
#include "bp/json.h"

namespace bp::ops {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct OpsServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  Probes probes;
  std::thread thread;
};

namespace {

http::response<http::string_body> handle(const http::request<http::string_body>& req, const Probes& probes) {
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  std::string target(req.target());
  if (req.method() != http::verb::get) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET");
    res.body() = R"({"error":"method_not_allowed","message":"Use GET"})";
  } else if (target == "/healthz") {
    res.body() = R"({"status":"ok"})";
  } else if (target == "/readyz") {
    Status ready = probes.ready ? probes.ready() : ok_status();
    if (ready) {
      res.body() = R"({"status":"ready"})";
    } else {
      res.result(http::status::service_unavailable);
      res.body() = R"({"status":"not_ready","message":)" + json::quote(ready.error().message) + "}";
    }
  } else if (target == "/metrics" && probes.metrics) {
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = probes.metrics();
  } else {
    res.result(http::status::not_found);
    res.body() = R"({"error":"not_found","message":"No such route"})";
  }
  res.prepare_payload();
  return res;
}

asio::awaitable<void> session(tcp::socket socket, const Probes& probes) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(std::chrono::seconds(10));
    http::request<http::string_body> req;
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    auto res = handle(req, probes);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> accept_loop(OpsServer::Impl* impl);

}  // namespace

Result<std::pair<std::string, unsigned short>> split_host_port(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return Error::invalid("expected host:port, got \"" + listen + "\"");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto p = listen.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || ptr != p.data() + p.size() || port > 65535) {
    return Error::invalid("bad port in \"" + listen + "\"");
  }
  return std::pair{host, static_cast<unsigned short>(port)};
}

namespace {
asio::awaitable<void> accept_loop(OpsServer::Impl* impl) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await impl->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    asio::co_spawn(impl->io, session(std::move(socket), impl->probes), asio::detached);
  }
}
}  // namespace

Result<std::unique_ptr<OpsServer>> OpsServer::start(const std::string& listen, Probes probes) {
  auto hp = split_host_port(listen);
  if (!hp) return hp.take_error();
  auto impl = std::make_unique<Impl>();
  impl->probes = std::move(probes);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(hp->first, ec);
  if (ec) return Error::invalid("bad listen address \"" + listen + "\": " + ec.message());
  tcp::endpoint endpoint(address, hp->second);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error::unavailable("cannot listen on " + listen + ": " + ec.message());
  asio::co_spawn(impl->io, accept_loop(impl.get()), asio::detached);
  impl->thread = std::thread([io = &impl->io] { io->run(); });
  return std::unique_ptr<OpsServer>(new OpsServer(std::move(impl)));
}

OpsServer::OpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OpsServer::~OpsServer() {
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->io.stop();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

unsigned short OpsServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace bp::ops

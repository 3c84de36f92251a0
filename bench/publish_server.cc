// bp_publish_server: the floor of ingest on this machine. A Beast server that does only what
// ingest cannot skip: it reads each request whole, publishes the body with the gateway's own
// publisher (bp::gateway::WirePublisher: the same headers, one NATS connection per I/O thread),
// waits for the stream's ack and answers 202. No authentication, no body check, no request
// metrics, no rate limits. The gateway's throughput over this server's is how close it comes to
// the cost of HTTP plus a durable publish. Its HTTP is the gateway's too: a body that came with
// its header is parsed at once, and each response goes out from one buffer (write_response).
// Usage: bp_publish_server PORT NATS_URL SUBJECT [THREADS=cores]
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bp/asio.h"
#include "bp/gateway/http.h"
#include "bp/gateway/publisher.h"
#include "bp/uuid.h"
#include "http_session.h"  // accepted()

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Publishes the body as the gateway does and answers 202 once it is stored (503 if not).
asio::awaitable<http::response<http::string_body>> answer(bp::gateway::Publisher& publisher, const std::string& subject,
                                                          http::request<http::string_body>& request) {
  bp::gateway::PublishRequest publish;
  publish.subject = subject;
  publish.payload = std::move(request.body());
  publish.request_id = bp::uuid::v4();  // and no message id, as the gateway without an Idempotency-Key
  publish.received_at = "2026-11-25T10:00:00.000Z";
  publish.record_count = 1;
  auto outcome = co_await publisher.publish(std::move(publish));
  if (outcome.stored) co_return bp::bench::accepted();
  static thread_local bool told = false;  // the first failure of each thread
  if (!told) std::cerr << "publish failed: " << outcome.error << "\n";
  told = true;
  http::response<http::string_body> res{http::status::service_unavailable, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = R"({"error":"buffer_unavailable"})";
  co_return res;
}

// The gateway's keep-alive loop (services/gateway/src/server.cc) without its timeouts, limits and
// error answers: read a request, publish, answer, until the client closes.
asio::awaitable<void> serve(tcp::socket socket, bp::gateway::Publisher& publisher, const std::string& subject) {
  beast::flat_buffer buffer;
  std::string wire;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    co_await http::async_read_header(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !parser.is_done() && buffer.size() > 0) {
      parser.eager(true);
      buffer.consume(parser.put(buffer.data(), ec));
      if (ec == http::error::need_more) ec = {};
    }
    if (!ec && !parser.is_done()) {
      co_await http::async_read(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) break;
    auto res = co_await answer(publisher, subject, parser.get());
    res.keep_alive(parser.get().keep_alive());
    res.prepare_payload();
    bp::gateway::write_response(res, wire);
    co_await asio::async_write(socket, asio::buffer(wire), asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bp_publish_server PORT NATS_URL SUBJECT [THREADS]\n";
    return 2;
  }
  auto port = static_cast<unsigned short>(std::stoi(argv[1]));
  std::string subject = argv[3];
  int threads = argc > 4 ? std::stoi(argv[4]) : static_cast<int>(std::thread::hardware_concurrency());
  // One io_context per thread and the gateway's publisher over them (one NATS connection each),
  // with the gateway's default caps.
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::io_context*> context_ptrs;
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    context_ptrs.push_back(contexts.back().get());
  }
  auto publisher = bp::gateway::WirePublisher::create(context_ptrs, argv[2], 65536, std::chrono::milliseconds(5000));
  if (!publisher) {
    std::cerr << publisher.error().message << "\n";
    return 2;
  }
  std::shared_ptr<bp::gateway::Publisher> shared = std::move(publisher).value();
  tcp::acceptor acceptor(*contexts[0], {asio::ip::make_address("127.0.0.1"), port});
  asio::co_spawn(
      *contexts[0],
      [&]() -> asio::awaitable<void> {
        for (size_t next = 0;; ++next) {
          size_t home = next % contexts.size();
          auto socket = co_await acceptor.async_accept(*contexts[home], asio::use_awaitable);
          asio::co_spawn(*contexts[home], serve(std::move(socket), *shared, subject), asio::detached);
        }
      },
      asio::detached);
  std::vector<std::thread> pool;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& c : contexts) guards.push_back(asio::make_work_guard(*c));
  for (auto& c : contexts) pool.emplace_back([&io = *c] { io.run(); });
  for (auto& t : pool) t.join();
}

// bp_publish_server: the floor of ingest on this machine. A Beast server that does only what
// ingest cannot skip: it reads each request whole, publishes the body to JetStream with the
// gateway's four headers over the gateway's own NATS publisher (one connection per I/O thread,
// bp/nats/wire.h), waits for the stream's ack and answers 202. No authentication, no body
// check, no metrics, no rate limits. The gateway's throughput over this server's is how close
// it comes to the cost of HTTP plus a durable publish.
// Usage: bp_publish_server PORT NATS_URL SUBJECT [THREADS=cores]
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bp/asio.h"
#include "bp/nats/wire.h"
#include "bp/uuid.h"
#include "http_session.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace wire = bp::nats::wire;
using tcp = asio::ip::tcp;

namespace {

// Publishes on the calling I/O thread's connection and resumes the coroutine with the result
// (posted, as the gateway does, so a publish that fails at once does not resume it inside
// its own initiation).
asio::awaitable<wire::PublishResult> publish(wire::Publisher& publisher, const std::string& subject,
                                             const std::string& body) {
  std::string id = bp::uuid::v4();
  const wire::Header headers[] = {{"Nats-Msg-Id", id},
                                  {"Bp-Request-Id", id},
                                  {"Bp-Received-At", "2026-11-25T10:00:00.000Z"},
                                  {"Bp-Record-Count", "1"}};
  // A coroutine, so that the headers live until the initiation (which runs at the co_await).
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(wire::PublishResult)>(
      [&](auto handler) {
        auto executor = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        publisher.publish(subject, headers, body, [shared, executor](wire::PublishResult result) {
          asio::post(executor, [shared, result = std::move(result)]() mutable { (*shared)(std::move(result)); });
        });
      },
      asio::use_awaitable);
}

// Publishes the body and answers 202 once it is stored (503 if not).
asio::awaitable<http::response<http::string_body>> answer(wire::Publisher& publisher, const std::string& subject,
                                                          const http::request<http::string_body>& request) {
  auto result = co_await publish(publisher, subject, request.body());
  if (result.stored) co_return bp::bench::accepted();
  static thread_local bool told = false;  // the first failure of each thread
  if (!told) std::cerr << "publish failed: " << result.error << "\n";
  told = true;
  http::response<http::string_body> res{http::status::service_unavailable, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = R"({"error":"buffer_unavailable"})";
  co_return res;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bp_publish_server PORT NATS_URL SUBJECT [THREADS]\n";
    return 2;
  }
  auto port = static_cast<unsigned short>(std::stoi(argv[1]));
  auto servers = wire::parse_urls(argv[2]);
  if (!servers) {
    std::cerr << servers.error().message << "\n";
    return 2;
  }
  std::string subject = argv[3];
  int threads = argc > 4 ? std::stoi(argv[4]) : static_cast<int>(std::thread::hardware_concurrency());
  // One io_context and one NATS connection per thread, as in the gateway.
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::shared_ptr<wire::Publisher>> publishers;
  wire::Options options;
  options.servers = *servers;
  options.name = "bp-publish-server";
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    publishers.push_back(wire::Publisher::create(*contexts.back(), options));
    publishers.back()->start();
  }
  tcp::acceptor acceptor(*contexts[0], {asio::ip::make_address("127.0.0.1"), port});
  asio::co_spawn(
      *contexts[0],
      [&]() -> asio::awaitable<void> {
        for (size_t next = 0;; ++next) {
          size_t home = next % contexts.size();
          auto socket = co_await acceptor.async_accept(*contexts[home], asio::use_awaitable);
          auto answer_here = [publisher = publishers[home], &subject](const http::request<http::string_body>& request) {
            return answer(*publisher, subject, request);
          };
          asio::co_spawn(*contexts[home], bp::bench::serve(std::move(socket), answer_here), asio::detached);
        }
      },
      asio::detached);
  std::vector<std::thread> pool;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& c : contexts) guards.push_back(asio::make_work_guard(*c));
  for (auto& c : contexts) pool.emplace_back([&io = *c] { io.run(); });
  for (auto& t : pool) t.join();
}

// bp_publish_server: the floor of ingest on this machine. A Beast server that does only what
// ingest cannot skip: it reads each request whole, publishes the body (as the JSON array of
// records the gateway publishes) with the gateway's own publisher (bp::gateway::WirePublisher:
// the same headers, one NATS connection per I/O thread), waits for the stream's ack and answers
// 202. No authentication, no body check, no request metrics, no rate limits. The gateway's
// throughput over this server's is how close it comes to the cost of HTTP plus a durable publish.
// Its HTTP is the gateway's too (serve<true>): a body that came with its header is parsed at
// once, and each response goes out from one buffer.
// Usage: bp_publish_server PORT NATS_URL SUBJECT [THREADS=cores]
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bp/asio.h"
#include "bp/gateway/publisher.h"
#include "bp/uuid.h"
#include "http_session.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Publishes the body as the gateway does and answers 202 once it is stored (503 if not).
asio::awaitable<http::response<http::string_body>> answer(bp::gateway::Publisher& publisher, const std::string& subject,
                                                          bp::gateway::Request& request) {
  bp::gateway::PublishRequest publish;
  publish.subject = subject;
  // The gateway always publishes a JSON array of the records; a body of one record is an object.
  // As an array it can share a message with others (decision 0014), as the gateway's does.
  auto& body = request.body();
  if (!body.empty() && body.front() == '{') {
    publish.payload.reserve(body.size() + 2);
    publish.payload.append(1, '[').append(body).append(1, ']');
  } else {
    publish.payload = std::move(body);
  }
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
          auto answer_here = [&shared, &subject](bp::gateway::Request& request) {
            return answer(*shared, subject, request);
          };
          asio::co_spawn(*contexts[home], bp::bench::serve<true>(std::move(socket), answer_here), asio::detached);
        }
      },
      asio::detached);
  std::vector<std::thread> pool;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& c : contexts) guards.push_back(asio::make_work_guard(*c));
  for (auto& c : contexts) pool.emplace_back([&io = *c] { io.run(); });
  for (auto& t : pool) t.join();
}

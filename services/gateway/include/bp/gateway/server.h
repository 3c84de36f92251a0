// The HTTP listener: one coroutine per connection (read, handle, write, loop while keep-alive),
// bounded headers, bodies, time and connection count, and a drain on shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>
#include <string>

#include "bp/asio.h"
#include "bp/gateway/gateway.h"
#include "bp/result.h"

namespace bp::gateway {

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";
  uint64_t max_body_bytes = 32 * 1024 * 1024;
  uint32_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds read_timeout{30000};  // whole request, from its first byte
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive wait for the next request
  size_t max_connections = 10000;
};

// Connections are spread round-robin over `contexts`, each run by exactly one thread: a
// connection's handlers never run concurrently, so they need no strand, and the I/O threads share
// no scheduler lock. contexts[0] also hosts the acceptor.
class HttpServer {
 public:
  HttpServer(std::vector<boost::asio::io_context*> contexts, ServerOptions options, std::shared_ptr<Gateway> gateway);

  Status listen();
  void start();
  // Stops accepting; responses from now on close their connection.
  void stop_accepting();
  size_t requests_in_flight() const { return in_flight_; }
  size_t connections() const { return connections_; }
  unsigned short port() const;

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);

  std::vector<boost::asio::io_context*> contexts_;
  size_t next_context_ = 0;  // used by the accept loop only
  ServerOptions options_;
  std::shared_ptr<Gateway> gateway_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> draining_{false};
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> in_flight_{0};
};

}  // namespace bp::gateway

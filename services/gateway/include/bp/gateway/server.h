// The HTTP listener: one coroutine per connection (read, handle, write, loop while keep-alive),
// bounded headers, bodies, time and connection count, and a drain on shutdown.
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>
#include <string>

#include "bp/asio.h"
#include "bp/gateway/gateway.h"
#include "bp/gateway/thread_spread.h"
#include "bp/result.h"

namespace bp::gateway {

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";
  uint64_t max_body_bytes = 32 * 1024 * 1024;
  uint32_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds read_timeout{30000};  // whole request, from its first byte
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive wait for the next request
  size_t max_connections = 10000;
  SpreadPolicy spread;  // how many I/O threads take connections (ThreadSpread)
};

// Each of `contexts` is run by exactly one thread: a connection's handlers never run concurrently,
// so they need no strand, and the I/O threads share no scheduler lock. Which threads take
// connections follows their load (ThreadSpread): every 100 ms contexts[0] reads each thread's CPU
// clock, and a connection moves to another thread between two requests (its socket's descriptor
// and any bytes already read go with it). contexts[0] also hosts the acceptor.
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
  // Prometheus text of the I/O threads: started, active, connections moved.
  void write_metrics(std::string& out) const;
  ThreadSpread& spread() { return spread_; }
  const ThreadSpread& spread() const { return spread_; }

 private:
  boost::asio::awaitable<void> accept_loop();
  // One connection on contexts_[thread]; `buffer` holds what was read before it moved here.
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, size_t thread, Peer peer,
                                       boost::beast::flat_buffer buffer);
  // Reads each I/O thread's CPU clock every 100 ms and feeds spread_.
  boost::asio::awaitable<void> sample_threads();

  std::vector<boost::asio::io_context*> contexts_;
  ServerOptions options_;
  ThreadSpread spread_;
  std::vector<clockid_t> clocks_;             // each I/O thread's CPU clock, written by that thread
  std::atomic<size_t> clocks_known_{0};
  std::shared_ptr<Gateway> gateway_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> draining_{false};
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> in_flight_{0};
};

}  // namespace bp::gateway

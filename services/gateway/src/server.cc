// Connection handling over Beast, after the Beast awaitable server example.
#include "bp/gateway/server.h"

#include <pthread.h>
#include <unistd.h>

#include "bp/log.h"
#include "bp/uuid.h"
#include "bp/ops/ops_server.h"
#include "bp/ops/prometheus.h"

namespace bp::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

HttpServer::HttpServer(std::vector<asio::io_context*> contexts, ServerOptions options, std::shared_ptr<Gateway> gateway)
    : contexts_(std::move(contexts)),
      options_(std::move(options)),
      spread_(contexts_.size(), options_.spread),
      clocks_(contexts_.size()),
      gateway_(std::move(gateway)),
      acceptor_(*contexts_.at(0)) {}

Status HttpServer::listen() {
  auto hp = ops::split_host_port(options_.listen);
  if (!hp) return hp.take_error();
  boost::system::error_code ec;
  auto address = asio::ip::make_address(hp->first, ec);
  if (ec) return Error::invalid("bad listen address \"" + options_.listen + "\"");
  tcp::endpoint endpoint(address, hp->second);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error::unavailable("cannot listen on " + options_.listen + ": " + ec.message());
  return ok_status();
}

unsigned short HttpServer::port() const { return acceptor_.local_endpoint().port(); }

void HttpServer::write_metrics(std::string& out) const {
  namespace prom = ops::prom;
  prom::header(out, "bp_gateway_io_threads", "gauge", "I/O threads started");
  prom::sample(out, "bp_gateway_io_threads", "", static_cast<uint64_t>(spread_.threads()));
  prom::header(out, "bp_gateway_io_threads_active", "gauge", "I/O threads that take connections now (BP_THREAD_SPREAD)");
  prom::sample(out, "bp_gateway_io_threads_active", "", static_cast<uint64_t>(spread_.active()));
  prom::header(out, "bp_gateway_connection_moves_total", "counter", "connections moved to another I/O thread between two requests");
  prom::sample(out, "bp_gateway_connection_moves_total", "", spread_.moves());
  prom::header(out, "bp_gateway_io_thread_trials_failed_total", "counter",
               "I/O threads that joined under load and were let go because they answered no more requests");
  prom::sample(out, "bp_gateway_io_thread_trials_failed_total", "", spread_.failed_trials());
}

void HttpServer::start() {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
  if (!options_.spread.by_load || contexts_.size() < 2) return;
  for (size_t i = 0; i < contexts_.size(); ++i) {
    asio::post(*contexts_[i], [this, i] {
      if (pthread_getcpuclockid(pthread_self(), &clocks_[i]) == 0) {
        clocks_known_.fetch_add(1, std::memory_order_release);
      } else {
        log::warn("cannot read an I/O thread's CPU clock: connections stay on the first thread",
                  {{"thread", std::to_string(i)}});
      }
    });
  }
  asio::co_spawn(*contexts_[0], sample_threads(), asio::detached);
}

asio::awaitable<void> HttpServer::sample_threads() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const size_t n = contexts_.size();
  std::vector<int64_t> last_cpu(n, -1), cpu(n);
  std::vector<double> busy(n);
  uint64_t last_answered = gateway_->requests();
  uint64_t last_bytes = gateway_->bytes_accepted();
  auto last = std::chrono::steady_clock::now();
  auto read = [&] {
    for (size_t i = 0; i < n; ++i) {
      timespec ts{};
      cpu[i] = clock_gettime(clocks_[i], &ts) == 0 ? int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec : -1;
    }
  };
  while (!draining_) {
    timer.expires_after(std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (clocks_known_.load(std::memory_order_acquire) < n) continue;  // a thread has not started yet
    auto now = std::chrono::steady_clock::now();
    read();
    uint64_t answered = gateway_->requests();
    uint64_t bytes = gateway_->bytes_accepted();
    double wall = std::chrono::duration<double, std::nano>(now - last).count();
    bool complete = wall > 0;
    for (size_t i = 0; i < n; ++i) {
      if (cpu[i] < 0 || last_cpu[i] < 0) complete = false;
      else busy[i] = static_cast<double>(cpu[i] - last_cpu[i]) / wall;
    }
    if (complete) {
      size_t before = spread_.active();
      double rate = static_cast<double>(answered - last_answered) * 1e9 / wall;
      double request_bytes =
          answered > last_answered ? static_cast<double>(bytes - last_bytes) / static_cast<double>(answered - last_answered) : 0;
      size_t after = spread_.sample(busy, rate, request_bytes);
      if (const auto& verdict = spread_.verdict()) {
        // Either way the trial's figures go to the log: they are what tells a trial failed on a
        // slow second from one failed because the thread does not help.
        log::info(
            verdict->stays
                ? "I/O threads taking connections: the thread that joined stays, more requests were answered with it"
                : "I/O threads taking connections: the thread that joined is let go, no more requests were answered "
                  "with it",
            {{"active", std::to_string(after)},
             {"requests_per_s_before", std::to_string(static_cast<uint64_t>(verdict->before))},
             {"requests_per_s_with", std::to_string(static_cast<uint64_t>(verdict->with))},
             {"bytes_per_request", std::to_string(static_cast<uint64_t>(request_bytes))}});
      } else if (after != before) {
        std::string shares;
        for (double b : busy) shares += (shares.empty() ? "" : " ") + std::to_string(b).substr(0, 4);
        log::info("I/O threads taking connections",
                  {{"active", std::to_string(after)}, {"busy", shares}, {"requests_per_s", std::to_string(static_cast<uint64_t>(rate))},
                   {"bytes_per_request", std::to_string(static_cast<uint64_t>(request_bytes))}});
      }
    }
    last = now;
    last_cpu = cpu;
    last_answered = answered;
    last_bytes = bytes;
  }
}

void HttpServer::stop_accepting() {
  draining_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
}

asio::awaitable<void> HttpServer::accept_loop() {
  while (!draining_) {
    boost::system::error_code ec;
    size_t home = spread_.choose();
    tcp::socket socket = co_await acceptor_.async_accept(*contexts_[home], asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) continue;  // e.g. too many open files: keep serving the connections we have
    if (connections_ >= options_.max_connections) {
      socket.close(ec);  // over the cap: refuse rather than degrade everyone
      continue;
    }
    ++connections_;
    spread_.opened(home);
    Peer peer;
    auto remote = socket.remote_endpoint(ec);
    if (!ec) peer.address = remote.address().to_string();
    auto executor = socket.get_executor();
    asio::co_spawn(executor, session(std::move(socket), home, std::move(peer), beast::flat_buffer()), asio::detached);
  }
}

namespace {

constexpr size_t kKeptWireBytes = 64 * 1024;
// Before a body is read the read buffer gets room for it, up to kBodyReadBytes
// (make_room_for_body); after the request a buffer larger than kKeptReadBytes is given back, so
// an idle connection holds little.
constexpr size_t kBodyReadBytes = 64 * 1024;
constexpr size_t kKeptReadBytes = 16 * 1024;

Response parse_error_response(const boost::system::error_code& ec, uint64_t max_body) {
  if (ec == http::error::body_limit) {
    return error_response(http::status::payload_too_large, "payload_too_large",
                          "Body is larger than " + std::to_string(max_body) + " bytes");
  }
  if (ec == http::error::header_limit) {
    return error_response(http::status::request_header_fields_too_large, "headers_too_large",
                          "Request headers are too large");
  }
  return error_response(http::status::bad_request, "bad_request", "Malformed HTTP request: " + ec.message());
}

// A connection's socket and its deadline. One timer per connection wakes every `tick` and closes
// the socket once the deadline has passed; each read and write only moves the deadline. Beast's
// tcp_stream instead arms a timer around every read and every write and cancels it when the
// operation completes: two timer operations, two cancelled handlers and their allocations on
// every request. The price is precision: a connection is dropped up to one tick after its
// deadline.
struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer timer;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool done = false;       // the session has ended: the watchdog stops
  bool timed_out = false;  // the watchdog closed the socket
  void expires_after(std::chrono::steady_clock::duration d) { deadline = std::chrono::steady_clock::now() + d; }
};

asio::awaitable<void> watchdog(std::shared_ptr<Connection> c, std::chrono::milliseconds tick) {
  boost::system::error_code ec;
  while (!c->done) {
    c->timer.expires_after(tick);
    co_await c->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (c->done) break;
    if (std::chrono::steady_clock::now() >= c->deadline) {
      c->timed_out = true;
      c->socket.close(ec);  // the pending read or write completes with operation_aborted
      break;
    }
  }
}

}  // namespace

asio::awaitable<void> HttpServer::session(tcp::socket socket, size_t thread, Peer peer, beast::flat_buffer buffer) {
  boost::system::error_code ec;
  auto conn = std::make_shared<Connection>(std::move(socket));
  auto tick = std::max(std::chrono::milliseconds(10), std::min(options_.read_timeout, options_.idle_timeout) / 4);
  asio::co_spawn(conn->socket.get_executor(), watchdog(conn, tick), asio::detached);
  tcp::socket& stream = conn->socket;
  std::string wire;  // each response's bytes, written at once
  auto on_error = asio::redirect_error(asio::use_awaitable, ec);
  for (;;) {
    RequestParser parser;
    parser.body_limit(options_.max_body_bytes);
    parser.header_limit(options_.max_header_bytes);
    conn->expires_after(buffer.size() > 0 ? options_.read_timeout : options_.idle_timeout);
    co_await http::async_read_header(stream, buffer, parser, on_error);
    if (!ec && find_header(parser.get(), http::field::expect) == "100-continue") {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      co_await http::async_write(stream, cont, on_error);
    }
    // A body that came with its header costs no second asynchronous read (a handler, a pass of
    // the scheduler and a resumption per request).
    if (!ec) parse_buffered_body(parser, buffer, ec);
    if (!ec && !parser.is_done()) {
      make_room_for_body(parser, buffer, kBodyReadBytes);
      conn->expires_after(options_.read_timeout);
      co_await http::async_read(stream, buffer, parser, on_error);
    }
    if (conn->timed_out || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      break;
    }
    if (ec) {
      // Answer what we can explain, then close: the stream position is unknown now.
      auto res = parse_error_response(ec, options_.max_body_bytes);
      res.set("X-Request-ID", uuid::v4());
      res.keep_alive(false);
      res.prepare_payload();
      conn->expires_after(std::chrono::seconds(5));
      co_await http::async_write(stream, res, on_error);
      break;
    }
    ++in_flight_;
    conn->deadline = std::chrono::steady_clock::time_point::max();  // handling has its own time limits
    Response res = co_await gateway_->handle(parser.release(), peer);
    --in_flight_;
    if (draining_) res.keep_alive(false);
    conn->expires_after(options_.read_timeout);
    write_response(res, wire);
    co_await asio::async_write(stream, asio::buffer(wire), on_error);
    if (wire.capacity() > kKeptWireBytes) std::string().swap(wire);  // e.g. after a /metrics page
    if (buffer.capacity() > kKeptReadBytes && buffer.size() <= kKeptReadBytes) buffer.shrink_to_fit();
    if (ec || !res.keep_alive()) break;
    // Between two requests: move to another I/O thread if ThreadSpread says so. The descriptor
    // leaves this thread's reactor and joins the other's, with the bytes already read.
    if (auto to = draining_ ? std::nullopt : spread_.move_from(thread)) {
      thread = *to;  // counted there from now on, also if the move fails and the connection closes
      auto protocol = stream.local_endpoint(ec).protocol();
      int fd = ec ? -1 : stream.release(ec);
      if (ec) break;
      // Registering with the other thread's reactor is thread-safe; from here the descriptor is
      // owned by a socket again, which closes it should the other thread never run the session.
      tcp::socket moved(*contexts_[thread]);
      moved.assign(protocol, fd, ec);
      if (ec) {
        ::close(fd);
        break;
      }
      conn->done = true;
      conn->timer.cancel();
      asio::co_spawn(*contexts_[thread], session(std::move(moved), thread, std::move(peer), std::move(buffer)),
                     asio::detached);
      co_return;
    }
  }
  conn->done = true;
  conn->timer.cancel();
  if (!conn->timed_out) stream.shutdown(tcp::socket::shutdown_send, ec);
  spread_.closed(thread);
  --connections_;
}

}  // namespace bp::gateway

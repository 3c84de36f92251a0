// A JetStream publisher that speaks the NATS client protocol itself, on one Asio io_context.
//
// The gateway's hot path with nats.c crossed four threads per request: the I/O thread queued
// the message and woke nats.c's flusher, nats.c's reader received the ack and woke the
// subscription's dispatcher, which handed the ack back to the I/O thread. Here the I/O thread
// that parsed the HTTP request also writes the message (coalesced with the others of the same
// turn of its event loop), reads the ack and answers, with no thread in between
// (docs/decisions/0007-wire-publisher.md). Only publishing is done here; everything else
// (streams, consumers, subscriptions) stays with nats.c (bp/nats/client.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bp/asio.h"
#include "bp/result.h"

namespace bp::nats::wire {

// One server to dial: host, port and the credentials in its URL.
struct ServerUrl {
  std::string host;
  uint16_t port = 4222;
  std::string user, password, token;
  bool tls = false;
};

// "nats://[user:pass@|token@]host[:port]", comma-separated for several; "tls://" is reported as
// such (this client speaks plain TCP only: its callers refuse those URLs).
Result<std::vector<ServerUrl>> parse_urls(std::string_view urls);

// One operation sent by a NATS server. Views point into the parser's buffer and stay valid
// until the next feed() or compact().
struct ServerOp {
  enum class Kind { kInfo, kMsg, kPing, kPong, kOk, kErr };
  Kind kind = Kind::kPing;
  std::string_view subject, reply, headers, payload;
  std::string_view text;  // INFO's JSON, -ERR's message
  uint64_t sid = 0;
};

// Incremental parser of the server side of the protocol: bytes may arrive cut anywhere.
class Parser {
 public:
  explicit Parser(size_t max_control_line = 64 * 1024) : max_control_(max_control_line) {}
  // Room for at least `n` more bytes; write into it, then commit() what was written.
  std::span<char> prepare(size_t n);
  void commit(size_t n);
  void feed(std::string_view bytes);
  // The next complete operation; nullopt when more bytes are needed. An error is a protocol
  // violation: the connection cannot go on.
  Result<std::optional<ServerOp>> next();
  // Drops the bytes of the operations already returned.
  void compact();

 private:
  std::string buf_;
  size_t begin_ = 0;  // first unparsed byte
  size_t end_ = 0;    // one past the last received byte
  size_t max_control_;
};

// A JetStream publish ack of a stored message, in the shapes nats-server writes:
// {"stream":"S", "seq":N}, with "domain":"D" and "duplicate": true when they apply. Only those
// members, each once, with spaces between tokens, strings without escapes, seq an unsigned
// integer. Returns whether it was a duplicate; nullopt for anything else (an error, another
// member or value, a line break), which the full JSON parse then decides.
std::optional<bool> plain_pub_ack(std::string_view payload);

struct Options {
  std::vector<ServerUrl> servers;
  std::string name = "batchpipe";
  size_t max_pending = 65536;                  // publishes awaiting their ack; more fail at once
  size_t max_buffered_bytes = 64 * 1024 * 1024;  // bytes not yet written out; more fail at once
  std::chrono::milliseconds ack_timeout{5000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds reconnect_wait{250};
  std::chrono::milliseconds ping_interval{10000};
  int max_pings_out = 2;  // unanswered pings before the connection counts as dead
};

struct PublishResult {
  bool stored = false;     // JetStream acknowledged: the message is in a stream
  bool duplicate = false;  // the stream already had this Nats-Msg-Id
  std::string error;       // why not, when !stored
};
using PublishCallback = std::function<void(PublishResult)>;
using Header = std::pair<std::string_view, std::string_view>;

// A connection to one NATS server at a time (it reconnects, going round the servers), owned by
// one io_context. publish() must be called on that io_context's thread; the callback runs
// there too, exactly once. connected(), in_flight() and max_payload() may be read anywhere.
class Publisher : public std::enable_shared_from_this<Publisher> {
 public:
  static std::shared_ptr<Publisher> create(boost::asio::io_context& io, Options options);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Starts connecting (and reconnecting whenever the connection drops). From any thread.
  void start();
  // Closes the connection and fails what is still pending. From any thread.
  void stop();

  // Publishes `payload` to `subject` with `headers` and waits for the stream's ack. A publish
  // while disconnected, past max_pending or max_buffered_bytes, or with a header that cannot be
  // sent fails at once (the callback then runs before publish returns).
  void publish(std::string_view subject, std::span<const Header> headers, std::string_view payload,
               PublishCallback done);

  // A caller that gathers several publishes into one message (the gateway, decision 0014) sets
  // `gather` before start(). It runs on the io_context's thread right before each write of the
  // pending bytes, and may publish. request_flush() asks for it at the end of the current turn
  // of the event loop: with the write then, or, while a write is under way, alone (its
  // publishes go with the next write).
  void set_gather(std::function<void()> gather) { gather_ = std::move(gather); }
  void request_flush();

  boost::asio::io_context& io() { return io_; }
  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  size_t in_flight() const { return live_.load(std::memory_order_relaxed); }
  // The server's max_payload (NATS's default, 1 MiB, before the first INFO).
  int64_t max_payload() const { return max_payload_.load(std::memory_order_relaxed); }
  // Connections made so far (the first one and every reconnect).
  uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    PublishCallback done;
    std::chrono::steady_clock::time_point deadline;
  };

  Publisher(boost::asio::io_context& io, Options options);
  boost::asio::awaitable<void> run(std::shared_ptr<Publisher> self);
  boost::asio::awaitable<Status> handshake(boost::beast::tcp_stream& stream, const ServerUrl& server);
  boost::asio::awaitable<Status> await_pong(boost::beast::tcp_stream& stream, const char* refused);
  void spawn_run();
  void spawn_sweep();
  void on_loop_exception(std::exception_ptr e, const char* loop);
  boost::asio::awaitable<void> ping_loop(std::shared_ptr<Publisher> self, uint64_t generation);
  boost::asio::awaitable<void> sweep_loop(std::shared_ptr<Publisher> self);
  struct Info {
    bool valid = false, tls_required = false, headers = false;
  };
  Info apply_info(std::string_view text);
  void handle(const ServerOp& op);
  void on_ack(std::string_view reply, std::string_view headers, std::string_view payload);
  void complete(uint64_t seq, PublishResult result);
  void pop_settled();
  void fail_all(const std::string& why);
  void schedule_flush();
  void gather();
  void flush();
  void close_socket();

  boost::asio::io_context& io_;
  Options options_;
  std::string inbox_;  // "_INBOX.<random>." : acks come to inbox_ + sequence
  std::optional<boost::asio::ip::tcp::socket> socket_;
  boost::asio::steady_timer wake_;  // reconnect wait, cut short by stop()
  Parser parser_;

  std::string out_;      // bytes waiting for the socket
  std::string writing_;  // bytes being written
  bool write_busy_ = false;
  bool flush_posted_ = false;
  std::function<void()> gather_;
  bool gathering_ = false;  // publishes made by gather_ go out in the flush that runs it
  bool gather_posted_ = false;
  int pings_out_ = 0;
  uint64_t generation_ = 0;  // bumps at each connect, so stale loops end

  std::deque<Pending> pending_;  // pending_[i] is sequence base_seq_ + i; settled ones have no callback
  uint64_t base_seq_ = 1;
  uint64_t next_seq_ = 1;

  bool stopped_ = false;
  std::atomic<bool> connected_{false};
  std::atomic<size_t> live_{0};
  std::atomic<int64_t> max_payload_{1024 * 1024};  // NATS's default until INFO says
  std::atomic<uint64_t> connects_{0};
};

}  // namespace bp::nats::wire

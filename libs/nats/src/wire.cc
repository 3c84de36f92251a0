// The NATS client protocol, publish side only: https://docs.nats.io/reference/reference-protocols/nats-protocol
#include "bp/nats/wire.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <random>

#include "bp/log.h"
#include "bp/uuid.h"

namespace bp::nats::wire {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// ---- URLs ----------------------------------------------------------------------------------

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Result<ServerUrl> parse_url(std::string_view url) {
  ServerUrl out;
  std::string_view rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    std::string_view name = rest.substr(0, scheme);
    if (name == "tls") {
      out.tls = true;
    } else if (name != "nats") {
      return Error::invalid("NATS URL \"" + std::string(url) + "\": scheme must be nats:// or tls://");
    }
    rest.remove_prefix(scheme + 3);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      out.user = userinfo.substr(0, colon);
      out.password = userinfo.substr(colon + 1);
    } else {
      out.token = userinfo;
    }
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) return Error::invalid("NATS URL \"" + std::string(url) + "\": unclosed [");
    out.host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Error::invalid("NATS URL \"" + std::string(url) + "\": bad port");
      port = after.substr(1);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    out.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    out.host = rest;
  }
  if (out.host.empty()) return Error::invalid("NATS URL \"" + std::string(url) + "\": no host");
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return Error::invalid("NATS URL \"" + std::string(url) + "\": bad port");
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

}  // namespace

Result<std::vector<ServerUrl>> parse_urls(std::string_view urls) {
  std::vector<ServerUrl> out;
  while (!urls.empty()) {
    auto comma = urls.find(',');
    std::string_view one = trim(urls.substr(0, comma));
    urls = comma == std::string_view::npos ? std::string_view() : urls.substr(comma + 1);
    if (one.empty()) continue;
    auto url = parse_url(one);
    if (!url) return url.take_error();
    out.push_back(std::move(url).value());
  }
  if (out.empty()) return Error::invalid("no NATS URL");
  return out;
}

// ---- Parser --------------------------------------------------------------------------------

std::span<char> Parser::prepare(size_t n) {
  if (buf_.size() - end_ < n) {
    compact();
    if (buf_.size() - end_ < n) buf_.resize(end_ + std::max(n, buf_.size()));
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void Parser::commit(size_t n) { end_ += std::min(n, buf_.size() - end_); }

void Parser::feed(std::string_view bytes) {
  auto room = prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

void Parser::compact() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
}

namespace {

bool parse_size(std::string_view s, size_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

bool op_is(std::string_view token, std::string_view name) {
  if (token.size() != name.size()) return false;
  for (size_t i = 0; i < token.size(); ++i) {
    char c = token[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != name[i]) return false;
  }
  return true;
}

// Splits a control line's arguments on spaces and tabs; at most 6.
size_t split_args(std::string_view line, std::string_view* args, size_t max) {
  size_t n = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (n == max) return max + 1;
    args[n++] = line.substr(start, i - start);
  }
  return n;
}

constexpr size_t kMaxMessage = 64 * 1024 * 1024;

}  // namespace

Result<std::optional<ServerOp>> Parser::next() {
  if (begin_ == end_) return std::optional<ServerOp>();
  std::string_view avail(buf_.data() + begin_, end_ - begin_);
  auto crlf = avail.find("\r\n");
  if (crlf == std::string_view::npos) {
    if (avail.size() > max_control_) return Error::invalid("NATS protocol: control line longer than " + std::to_string(max_control_));
    return std::optional<ServerOp>();
  }
  std::string_view line = avail.substr(0, crlf);
  size_t after_line = crlf + 2;
  auto space = line.find_first_of(" \t");
  std::string_view token = line.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? std::string_view() : trim(line.substr(space + 1));
  ServerOp op;
  if (op_is(token, "PING")) {
    op.kind = ServerOp::Kind::kPing;
  } else if (op_is(token, "PONG")) {
    op.kind = ServerOp::Kind::kPong;
  } else if (op_is(token, "+OK")) {
    op.kind = ServerOp::Kind::kOk;
  } else if (op_is(token, "-ERR")) {
    op.kind = ServerOp::Kind::kErr;
    if (rest.size() >= 2 && rest.front() == '\'' && rest.back() == '\'') rest = rest.substr(1, rest.size() - 2);
    op.text = rest;
  } else if (op_is(token, "INFO")) {
    op.kind = ServerOp::Kind::kInfo;
    op.text = rest;
  } else if (op_is(token, "MSG") || op_is(token, "HMSG")) {
    bool with_headers = token.size() == 4;
    std::string_view args[6];
    size_t n = split_args(rest, args, 6);
    size_t header_bytes = 0, total = 0;
    size_t sizes = with_headers ? 2 : 1;
    if (n != 2 + sizes && n != 3 + sizes) return Error::invalid("NATS protocol: bad " + std::string(token) + " line");
    op.kind = ServerOp::Kind::kMsg;
    op.subject = args[0];
    if (!parse_size(args[1], op.sid)) return Error::invalid("NATS protocol: bad sid");
    if (n == 3 + sizes) op.reply = args[2];
    if (with_headers) {
      if (!parse_size(args[n - 2], header_bytes) || !parse_size(args[n - 1], total) || header_bytes > total) {
        return Error::invalid("NATS protocol: bad HMSG sizes");
      }
    } else if (!parse_size(args[n - 1], total)) {
      return Error::invalid("NATS protocol: bad MSG size");
    }
    if (total > kMaxMessage) return Error::invalid("NATS protocol: message of " + std::to_string(total) + " bytes");
    if (avail.size() < after_line + total + 2) return std::optional<ServerOp>();  // the rest is on its way
    if (avail.substr(after_line + total, 2) != "\r\n") return Error::invalid("NATS protocol: message not followed by CRLF");
    op.headers = avail.substr(after_line, header_bytes);
    op.payload = avail.substr(after_line + header_bytes, total - header_bytes);
    after_line += total + 2;
  } else {
    return Error::invalid("NATS protocol: unknown operation \"" + std::string(token.substr(0, 16)) + "\"");
  }
  begin_ += after_line;
  return std::optional<ServerOp>(op);
}

// ---- Publisher -----------------------------------------------------------------------------

namespace {

bool header_name_ok(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c <= ' ' || c == ':' || c == 127) return false;
  }
  return true;
}

// A loop, not find_first_of: that calls memchr once per byte, and every publish checks its headers.
bool header_value_ok(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n') return false;
  }
  return true;
}

// A subject is one token of the protocol line: no spaces, no control bytes, and short enough
// for the server's control line limit (4096 bytes by default) with the rest of the HPUB line.
bool subject_ok(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 127) return false;
  }
  return true;
}

void append_number(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

}  // namespace

std::shared_ptr<Publisher> Publisher::create(asio::io_context& io, Options options) {
  return std::shared_ptr<Publisher>(new Publisher(io, std::move(options)));
}

Publisher::Publisher(asio::io_context& io, Options options)
    : io_(io), options_(std::move(options)), wake_(io) {
  // Acks are matched by this inbox alone: a v4 UUID (122 random bits, from a generator seeded
  // with 256 bits from the OS), so that no two publishers, in any process, share one.
  std::string random = uuid::v4();
  random.erase(std::remove(random.begin(), random.end(), '-'), random.end());
  inbox_ = "_INBOX." + random + ".";
}

Publisher::~Publisher() = default;

void Publisher::start() {
  asio::post(io_, [self = shared_from_this()] {
    self->spawn_run();
    self->spawn_sweep();
  });
}

// The loops catch nothing themselves: should one throw (an allocation failing), the connection
// is dropped, whatever waits fails, and the loop starts again, rather than leaving publishes
// that nobody will ever ack or time out.
void Publisher::spawn_run() {
  asio::co_spawn(io_, run(shared_from_this()), [self = shared_from_this()](std::exception_ptr e) {
    if (!e) return;
    self->on_loop_exception(e, "connection loop");
    if (!self->stopped_) self->spawn_run();
  });
}

void Publisher::spawn_sweep() {
  asio::co_spawn(io_, sweep_loop(shared_from_this()), [self = shared_from_this()](std::exception_ptr e) {
    if (!e) return;
    self->on_loop_exception(e, "timeout sweep");
    if (!self->stopped_) self->spawn_sweep();
  });
}

void Publisher::on_loop_exception(std::exception_ptr e, const char* loop) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  log::error("NATS publisher loop failed; starting it again", {{"loop", loop}, {"error", what}});
  connected_ = false;
  close_socket();
  fail_all("NATS publisher failed: " + what);
}

void Publisher::stop() {
  asio::post(io_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->connected_ = false;
    self->close_socket();
    self->wake_.cancel();
    self->fail_all("the publisher is stopping");
  });
}

void Publisher::publish(std::string_view subject, std::span<const Header> headers, std::string_view payload,
                        PublishCallback done) {
  auto refuse = [&](std::string why) { done(PublishResult{false, false, std::move(why)}); };
  if (!connected_.load(std::memory_order_relaxed)) return refuse("not connected to NATS");
  if (live_.load(std::memory_order_relaxed) >= options_.max_pending) {
    return refuse("too many publishes awaiting an ack (" + std::to_string(options_.max_pending) + ")");
  }
  if (out_.size() + writing_.size() > options_.max_buffered_bytes) return refuse("NATS is not reading as fast as we write");
  if (!subject_ok(subject)) return refuse("subject \"" + std::string(subject.substr(0, 64)) + "\" cannot be sent");
  size_t header_bytes = 10 + 2;  // "NATS/1.0\r\n" ... "\r\n"
  for (const auto& [name, value] : headers) {
    if (!header_name_ok(name) || !header_value_ok(value)) return refuse("header \"" + std::string(name) + "\" cannot be sent");
    header_bytes += name.size() + 2 + value.size() + 2;
  }
  // The server counts headers and payload together; over its limit it drops the connection.
  if (static_cast<int64_t>(header_bytes + payload.size()) > max_payload()) {
    return refuse("message of " + std::to_string(header_bytes + payload.size()) +
                  " bytes (headers included) is over the server's max_payload");
  }
  uint64_t seq = next_seq_++;
  out_.reserve(out_.size() + subject.size() + inbox_.size() + 64 + header_bytes + payload.size());
  // String views, not C strings: append(const char*) measures its argument on every call.
  using namespace std::string_view_literals;
  out_.append("HPUB "sv).append(subject).append(" "sv).append(inbox_);
  append_number(out_, seq);
  out_.push_back(' ');
  append_number(out_, header_bytes);
  out_.push_back(' ');
  append_number(out_, header_bytes + payload.size());
  out_.append("\r\nNATS/1.0\r\n"sv);
  for (const auto& [name, value] : headers) out_.append(name).append(": "sv).append(value).append("\r\n"sv);
  out_.append("\r\n"sv).append(payload).append("\r\n"sv);
  pending_.push_back(Pending{std::move(done), std::chrono::steady_clock::now() + options_.ack_timeout});
  live_.fetch_add(1, std::memory_order_relaxed);
  schedule_flush();
}

// Publishes made in one turn of the event loop go out in one write: the flush runs after the
// handlers already queued, and while a write is under way new bytes wait for it to finish.
void Publisher::schedule_flush() {
  if (flush_posted_ || write_busy_ || gathering_) return;
  flush_posted_ = true;
  asio::post(io_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void Publisher::request_flush() {
  if (!write_busy_) return schedule_flush();
  // A write is under way: gather at the end of this turn anyway, so that what was gathered
  // queues in out_ with its ack deadline and counts against max_buffered_bytes (a stalled
  // write must not hold it past the ack timeout); the write's end sends it.
  if (gather_posted_ || gathering_) return;
  gather_posted_ = true;
  asio::post(io_, [self = shared_from_this()] {
    self->gather_posted_ = false;
    self->gather();
  });
}

void Publisher::gather() {
  if (!gather_ || gathering_) return;
  gathering_ = true;
  gather_();
  gathering_ = false;
}

void Publisher::flush() {
  gather();
  if (write_busy_ || out_.empty() || !socket_ || !connected_) return;
  write_busy_ = true;
  std::swap(out_, writing_);
  asio::async_write(*socket_, asio::buffer(writing_),
                    [self = shared_from_this(), generation = generation_](boost::system::error_code ec, size_t) {
                      self->write_busy_ = false;
                      self->writing_.clear();
                      if (ec) {
                        if (generation == self->generation_) self->close_socket();  // the reader sees it and reconnects
                        // What was gathered meanwhile is published now: refused, or failed with
                        // the rest when the reader sees the connection gone.
                        if (self->gather_) self->schedule_flush();
                        return;
                      }
                      self->flush();
                    });
}

void Publisher::close_socket() {
  if (!socket_) return;
  boost::system::error_code ignored;
  socket_->shutdown(tcp::socket::shutdown_both, ignored);
  socket_->close(ignored);
}

void Publisher::pop_settled() {
  while (!pending_.empty() && !pending_.front().done) {
    pending_.pop_front();
    ++base_seq_;
  }
}

void Publisher::complete(uint64_t seq, PublishResult result) {
  if (seq < base_seq_ || seq - base_seq_ >= pending_.size()) return;  // already settled (timed out, or a stale ack)
  auto& entry = pending_[seq - base_seq_];
  if (!entry.done) return;
  PublishCallback done = std::move(entry.done);
  entry.done = nullptr;
  live_.fetch_sub(1, std::memory_order_relaxed);
  pop_settled();
  done(std::move(result));
}

void Publisher::fail_all(const std::string& why) {
  std::vector<PublishCallback> failed;
  for (auto& entry : pending_) {
    if (entry.done) failed.push_back(std::move(entry.done));
  }
  pending_.clear();
  base_seq_ = next_seq_;
  live_.store(0, std::memory_order_relaxed);
  for (auto& done : failed) done(PublishResult{false, false, why});
}

std::optional<bool> plain_pub_ack(std::string_view payload) {
  std::string_view rest = payload;
  auto skip_spaces = [&rest] {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  };
  auto take = [&rest](char c) {
    if (rest.empty() || rest.front() != c) return false;
    rest.remove_prefix(1);
    return true;
  };
  // A string without escapes or control bytes, quotes included; empty on anything else.
  auto plain_string = [&rest]() -> std::string_view {
    if (rest.size() < 2 || rest.front() != '"') return {};
    size_t n = 1;
    while (n < rest.size() && rest[n] != '"' && rest[n] != '\\' && static_cast<unsigned char>(rest[n]) >= 0x20) ++n;
    if (n == rest.size() || rest[n] != '"' || n == 1) return {};
    std::string_view s = rest.substr(1, n - 1);
    rest.remove_prefix(n + 1);
    return s;
  };
  bool stream = false, seq = false, domain = false, duplicate = false;
  if (!take('{')) return std::nullopt;
  do {
    skip_spaces();
    std::string_view key = plain_string();
    skip_spaces();
    if (key.empty() || !take(':')) return std::nullopt;
    skip_spaces();
    if (key == "stream" && !stream) {
      stream = !plain_string().empty();
      if (!stream) return std::nullopt;
    } else if (key == "domain" && !domain) {
      domain = !plain_string().empty();
      if (!domain) return std::nullopt;
    } else if (key == "seq" && !seq) {
      size_t digits = 0;
      while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
      if (digits == 0 || digits > 20 || (digits > 1 && rest.front() == '0')) return std::nullopt;
      rest.remove_prefix(digits);
      seq = true;
    } else if (key == "duplicate" && !duplicate && rest.starts_with("true")) {
      rest.remove_prefix(4);
      duplicate = true;
    } else {
      return std::nullopt;  // an error, another member, a repeated one, another kind of value
    }
    skip_spaces();
  } while (take(','));
  if (!take('}') || !rest.empty() || !stream || !seq) return std::nullopt;
  return duplicate;
}

void Publisher::on_ack(std::string_view subject, std::string_view headers, std::string_view payload) {
  uint64_t seq = 0;
  std::string_view digits = subject.substr(inbox_.size());
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return;
  // A status reply: "NATS/1.0 503" is "no responders" (no stream takes the subject).
  if (headers.size() > 9 && headers.substr(0, 9) == "NATS/1.0 ") {
    std::string_view status = headers.substr(9, headers.find("\r\n") - 9);
    if (status.substr(0, 3) == "503") return complete(seq, {false, false, "no stream takes this subject (no responders)"});
    return complete(seq, {false, false, "NATS status " + std::string(trim(status))});
  }
  // The common case, a stored message, without a JSON parse (a third of the instructions of
  // receiving an ack).
  if (auto duplicate = plain_pub_ack(payload)) return complete(seq, {true, *duplicate, ""});
  // Anything else is parsed, on the I/O thread: into stack buffers (an ack is well under
  // them) rather than the default allocator's 64 KiB chunk per document. The parse stack starts
  // at a quarter of its buffer (the buffer also holds the pool's chunk header); a reply larger
  // than the buffers takes 1 KiB chunks from the heap.
  char values[1024], stack[1024];
  using PoolAllocator = rapidjson::MemoryPoolAllocator<>;
  constexpr size_t kChunk = 1024;
  PoolAllocator value_allocator(values, sizeof values, kChunk);
  PoolAllocator stack_allocator(stack, sizeof stack, kChunk);
  rapidjson::GenericDocument<rapidjson::UTF8<>, PoolAllocator, PoolAllocator> doc(&value_allocator, sizeof stack / 4,
                                                                                   &stack_allocator);
  doc.Parse(payload.data(), payload.size());
  if (doc.HasParseError() || !doc.IsObject()) return complete(seq, {false, false, "unexpected reply to a JetStream publish"});
  if (auto error = doc.FindMember("error"); error != doc.MemberEnd()) {
    std::string why = "JetStream error";
    if (error->value.IsObject()) {
      auto description = error->value.FindMember("description");
      if (description != error->value.MemberEnd() && description->value.IsString()) why = description->value.GetString();
      auto code = error->value.FindMember("err_code");
      if (code != error->value.MemberEnd() && code->value.IsInt()) why += " (" + std::to_string(code->value.GetInt()) + ")";
    }
    return complete(seq, {false, false, why});
  }
  auto stream = doc.FindMember("stream");
  if (stream == doc.MemberEnd()) return complete(seq, {false, false, "unexpected reply to a JetStream publish"});
  auto duplicate = doc.FindMember("duplicate");
  bool dup = duplicate != doc.MemberEnd() && duplicate->value.IsBool() && duplicate->value.GetBool();
  complete(seq, {true, dup, ""});
}

// What this publisher reads from an INFO (the first, and any the server sends later).
Publisher::Info Publisher::apply_info(std::string_view text) {
  Info info;
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return info;
  info.valid = true;
  auto flag = [&doc](const char* name) {
    auto it = doc.FindMember(name);
    return it != doc.MemberEnd() && it->value.IsBool() && it->value.GetBool();
  };
  info.tls_required = flag("tls_required");
  info.headers = flag("headers");
  auto max = doc.FindMember("max_payload");
  if (max != doc.MemberEnd() && max->value.IsInt64()) max_payload_.store(max->value.GetInt64(), std::memory_order_relaxed);
  if (flag("ldm")) log::warn("NATS server entering lame duck mode: reconnecting elsewhere when it closes");
  return info;
}

void Publisher::handle(const ServerOp& op) {
  switch (op.kind) {
    case ServerOp::Kind::kMsg:
      if (op.subject.size() > inbox_.size() && op.subject.substr(0, inbox_.size()) == inbox_) {
        on_ack(op.subject, op.headers, op.payload);
      }
      break;
    case ServerOp::Kind::kPing:
      out_.append("PONG\r\n");
      schedule_flush();
      break;
    case ServerOp::Kind::kPong:
      pings_out_ = 0;
      break;
    case ServerOp::Kind::kOk:
      break;
    case ServerOp::Kind::kErr:
      // Most errors are followed by the server closing the connection; the read loop sees that.
      log::warn("NATS server error", {{"error", std::string(op.text)}});
      break;
    case ServerOp::Kind::kInfo:
      apply_info(op.text);
      break;
  }
}

namespace {

// Reads until the parser has one whole operation.
asio::awaitable<Result<ServerOp>> read_op(beast::tcp_stream& stream, Parser& parser) {
  for (;;) {
    auto op = parser.next();
    if (!op) co_return op.take_error();
    if (*op) co_return **op;
    auto room = parser.prepare(4096);
    boost::system::error_code ec;
    size_t n = co_await stream.async_read_some(asio::buffer(room.data(), room.size()),
                                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Error::unavailable("reading from NATS: " + ec.message());
    parser.commit(n);
  }
}

}  // namespace

// Reads until the PONG that answers our PING; a -ERR before it fails the connection attempt.
asio::awaitable<Status> Publisher::await_pong(beast::tcp_stream& stream, const char* refused) {
  for (;;) {
    auto op = co_await read_op(stream, parser_);
    if (!op) co_return op.take_error();
    if (op->kind == ServerOp::Kind::kPong) co_return ok_status();
    if (op->kind == ServerOp::Kind::kErr) co_return Error::unavailable(refused + std::string(op->text));
    if (op->kind == ServerOp::Kind::kPing) {
      boost::system::error_code ec;
      co_await asio::async_write(stream, asio::buffer("PONG\r\n", 6), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return Error::unavailable("writing to NATS: " + ec.message());
    } else {
      handle(*op);
    }
  }
}

asio::awaitable<Status> Publisher::handshake(beast::tcp_stream& stream, const ServerUrl& server) {
  auto info = co_await read_op(stream, parser_);
  if (!info) co_return info.take_error();
  if (info->kind != ServerOp::Kind::kInfo) co_return Error::unavailable("NATS server did not start with INFO");
  Info server_info = apply_info(info->text);
  if (!server_info.valid) co_return Error::unavailable("NATS server sent a malformed INFO");
  if (server_info.tls_required) co_return Error::unavailable("NATS server requires TLS, which the wire publisher does not speak");
  if (!server_info.headers) co_return Error::unavailable("NATS server does not support headers (it is older than 2.2)");

  rapidjson::StringBuffer json;
  rapidjson::Writer<rapidjson::StringBuffer> w(json);
  w.StartObject();
  w.Key("verbose"), w.Bool(false);
  w.Key("pedantic"), w.Bool(false);
  w.Key("tls_required"), w.Bool(false);
  w.Key("name"), w.String(options_.name.c_str());
  w.Key("lang"), w.String("cpp-batchpipe");
  w.Key("version"), w.String("1.0.0");
  w.Key("protocol"), w.Int(1);
  w.Key("headers"), w.Bool(true);
  w.Key("no_responders"), w.Bool(true);
  if (!server.user.empty()) {
    w.Key("user"), w.String(server.user.c_str());
    w.Key("pass"), w.String(server.password.c_str());
  } else if (!server.token.empty()) {
    w.Key("auth_token"), w.String(server.token.c_str());
  }
  w.EndObject();
  std::string hello = "CONNECT " + std::string(json.GetString(), json.GetSize()) + "\r\nPING\r\n";
  boost::system::error_code ec;
  co_await asio::async_write(stream, asio::buffer(hello), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error::unavailable("writing to NATS: " + ec.message());
  if (auto st = co_await await_pong(stream, "NATS refused the connection: "); !st) co_return st;
  // The inbox subscription, confirmed by a PONG: a server that refuses it (permissions) says
  // so with -ERR but keeps the connection, and every ack would then be lost.
  std::string sub = "SUB " + inbox_ + "* 1\r\nPING\r\n";
  co_await asio::async_write(stream, asio::buffer(sub), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error::unavailable("writing to NATS: " + ec.message());
  co_return co_await await_pong(stream, "NATS refused the ack subscription: ");
}

asio::awaitable<void> Publisher::run(std::shared_ptr<Publisher> self) {
  size_t attempt = 0, failures = 0;
  bool reported = false;  // a connection failure is logged once until the next success
  std::minstd_rand rng(std::random_device{}());
  while (!stopped_) {
    const ServerUrl& server = options_.servers[attempt++ % options_.servers.size()];
    std::string where = server.host + ":" + std::to_string(server.port);
    Status connected = ok_status();
    beast::tcp_stream stream(io_);
    parser_ = Parser();
    tcp::resolver resolver(io_);
    boost::system::error_code ec;
    auto endpoints = co_await resolver.async_resolve(server.host, std::to_string(server.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      stream.expires_after(options_.connect_timeout);
      co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      connected = Error::unavailable("cannot connect to NATS at " + where + ": " + ec.message());
    } else {
      connected = co_await handshake(stream, server);
    }
    if (stopped_) break;
    if (!connected) {
      if (!reported) log::warn("NATS publisher cannot connect; retrying", {{"error", connected.error().message}});
      reported = true;
      // Once round the servers at the base wait, then longer (to 8 times), with jitter, so that
      // many publishers do not all knock at once when NATS comes back.
      ++failures;
      auto wait = options_.reconnect_wait * std::min<size_t>(8, 1 + failures / options_.servers.size());
      std::uniform_int_distribution<int64_t> jitter(0, wait.count() / 2);
      wake_.expires_after(wait + std::chrono::milliseconds(jitter(rng)));
      boost::system::error_code ignored;
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      continue;
    }
    stream.expires_never();
    socket_.emplace(stream.release_socket());
    boost::system::error_code no_delay_error;
    socket_->set_option(tcp::no_delay(true), no_delay_error);  // best effort; a dead socket shows in the read
    ++generation_;
    pings_out_ = 0;
    connected_ = true;
    failures = 0;
    if (connects_.fetch_add(1) > 0 || reported) log::info("NATS publisher connected", {{"server", where}});
    reported = false;
    asio::co_spawn(io_, ping_loop(self, generation_), asio::detached);

    std::string why;
    for (;;) {
      auto room = parser_.prepare(64 * 1024);
      boost::system::error_code ec;
      size_t n = co_await socket_->async_read_some(asio::buffer(room.data(), room.size()),
                                                   asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        why = ec == asio::error::eof ? "the server closed the connection" : ec.message();
        break;
      }
      parser_.commit(n);
      for (;;) {
        auto op = parser_.next();
        if (!op) {
          why = op.error().message;
          break;
        }
        if (!*op) break;
        handle(**op);
      }
      if (!why.empty()) break;
      parser_.compact();
    }
    connected_ = false;
    close_socket();
    out_.clear();
    if (!stopped_) {
      log::warn("NATS publisher lost its connection; reconnecting", {{"server", where}, {"error", why}});
      reported = true;
    }
    fail_all("connection to NATS lost: " + why);
    if (stopped_) break;
    wake_.expires_after(options_.reconnect_wait);
    boost::system::error_code ignored;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

asio::awaitable<void> Publisher::ping_loop(std::shared_ptr<Publisher> self, uint64_t generation) {
  (void)self;  // held by the coroutine: the publisher lives while the loop waits
  asio::steady_timer timer(io_);
  while (!stopped_ && generation == generation_ && connected_) {
    timer.expires_after(options_.ping_interval);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (stopped_ || generation != generation_ || !connected_) break;
    if (pings_out_ >= options_.max_pings_out) {
      log::warn("NATS server stopped answering pings; reconnecting");
      close_socket();
      break;
    }
    ++pings_out_;
    out_.append("PING\r\n");
    schedule_flush();
  }
}

asio::awaitable<void> Publisher::sweep_loop(std::shared_ptr<Publisher> self) {
  (void)self;  // held by the coroutine: the publisher lives while the loop waits
  asio::steady_timer timer(io_);
  auto every = std::clamp(options_.ack_timeout / 5, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  std::string why = "no ack from JetStream within " + std::to_string(options_.ack_timeout.count()) + " ms";
  while (!stopped_) {
    timer.expires_after(every);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    auto now = std::chrono::steady_clock::now();
    while (!pending_.empty() && pending_.front().deadline <= now) {
      PublishCallback done = std::move(pending_.front().done);
      pending_.pop_front();
      ++base_seq_;
      if (done) {
        live_.fetch_sub(1, std::memory_order_relaxed);
        done(PublishResult{false, false, why});
      }
    }
    pop_settled();
  }
}

}  // namespace bp::nats::wire

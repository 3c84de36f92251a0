// The wire publisher's protocol parser and URL parsing: what a NATS server sends, cut anywhere.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "bp/nats/wire.h"

using bp::nats::wire::Parser;
using bp::nats::wire::ServerOp;
using Kind = bp::nats::wire::ServerOp::Kind;

namespace {

// What the parser returns for `bytes` fed `step` bytes at a time, as comparable strings.
std::vector<std::string> parse_all(const std::string& bytes, size_t step) {
  Parser parser(1024);
  std::vector<std::string> out;
  for (size_t i = 0; i < bytes.size(); i += step) {
    parser.feed(std::string_view(bytes).substr(i, step));
    for (;;) {
      auto op = parser.next();
      if (!op) {
        out.push_back("error: " + op.error().message);
        return out;
      }
      if (!*op) break;
      const ServerOp& o = **op;
      std::string s;
      switch (o.kind) {
        case Kind::kInfo: s = "INFO " + std::string(o.text); break;
        case Kind::kPing: s = "PING"; break;
        case Kind::kPong: s = "PONG"; break;
        case Kind::kOk: s = "+OK"; break;
        case Kind::kErr: s = "-ERR " + std::string(o.text); break;
        case Kind::kMsg:
          s = "MSG " + std::string(o.subject) + " " + std::to_string(o.sid) + " [" + std::string(o.reply) + "] [" +
              std::string(o.headers) + "] [" + std::string(o.payload) + "]";
          break;
      }
      out.push_back(s);
    }
    parser.compact();
  }
  return out;
}

const std::string kStream =
    "INFO {\"server_id\":\"x\",\"max_payload\":1048576,\"headers\":true}\r\n"
    "PING\r\n"
    "+OK\r\n"
    "MSG a.b 1 5\r\nhello\r\n"
    "MSG a.b 12 _INBOX.r.7 4\r\n\r\n\r\n\r\n"
    "HMSG _INBOX.r.8 1 24 46\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\n{\"stream\":\"S\",\"seq\":1}\r\n"
    "HMSG _INBOX.r.9 1 _r 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    "msg lower 3 0\r\n\r\n"
    "PONG\r\n"
    "-ERR 'Stale Connection'\r\n";

const std::vector<std::string> kExpected = {
    "INFO {\"server_id\":\"x\",\"max_payload\":1048576,\"headers\":true}",
    "PING",
    "+OK",
    "MSG a.b 1 [] [] [hello]",
    "MSG a.b 12 [_INBOX.r.7] [] [\r\n\r\n]",
    "MSG _INBOX.r.8 1 [] [NATS/1.0\r\nA: b\r\nC: d\r\n\r\n] [{\"stream\":\"S\",\"seq\":1}]",
    "MSG _INBOX.r.9 1 [_r] [NATS/1.0 503\r\n\r\n] []",
    "MSG lower 3 [] [] []",
    "PONG",
    "-ERR Stale Connection",
};

}  // namespace

TEST_CASE("the parser returns every operation whole, however the bytes are cut") {
  for (size_t step : {kStream.size(), size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}}) {
    INFO("fed " << step << " bytes at a time");
    CHECK(parse_all(kStream, step) == kExpected);
  }
}

TEST_CASE("the parser waits for a message's payload before returning it") {
  Parser parser;
  parser.feed("MSG s 1 10\r\n01234");
  auto op = parser.next();
  REQUIRE(op);
  CHECK_FALSE(*op);
  parser.feed("56789\r\n");
  op = parser.next();
  REQUIRE(op);
  REQUIRE(*op);
  CHECK((*op)->payload == "0123456789");
}

TEST_CASE("the parser refuses what is not the NATS protocol") {
  auto error_of = [](const std::string& bytes) {
    auto out = parse_all(bytes, bytes.size());
    return out.empty() ? std::string() : out.back();
  };
  CHECK(error_of("HELLO\r\n") == "error: NATS protocol: unknown operation \"HELLO\"");
  CHECK(error_of("MSG a 1 x\r\n") == "error: NATS protocol: bad MSG size");
  CHECK(error_of("MSG a b 1\r\nx\r\n") == "error: NATS protocol: bad sid");
  CHECK(error_of("MSG a\r\n") == "error: NATS protocol: bad MSG line");
  CHECK(error_of("HMSG a 1 10 5\r\n") == "error: NATS protocol: bad HMSG sizes");
  CHECK(error_of("MSG a 1 3\r\nabcXY") == "error: NATS protocol: message not followed by CRLF");
  CHECK(error_of("MSG a 1 99999999999\r\n") == "error: NATS protocol: message of 99999999999 bytes");
  CHECK(error_of(std::string(2000, 'I')) == "error: NATS protocol: control line longer than 1024");
}

TEST_CASE("NATS URLs: lists, credentials, ports") {
  auto urls = bp::nats::wire::parse_urls("nats://alice:s3cret@10.0.0.1:4333, nats://tok@nats, [::1]:5000,tls://h");
  REQUIRE(urls);
  REQUIRE(urls->size() == 4);
  CHECK((*urls)[0].host == "10.0.0.1");
  CHECK((*urls)[0].port == 4333);
  CHECK((*urls)[0].user == "alice");
  CHECK((*urls)[0].password == "s3cret");
  CHECK((*urls)[1].host == "nats");
  CHECK((*urls)[1].port == 4222);
  CHECK((*urls)[1].token == "tok");
  CHECK((*urls)[2].host == "::1");
  CHECK((*urls)[2].port == 5000);
  CHECK((*urls)[3].tls);

  CHECK_FALSE(bp::nats::wire::parse_urls(""));
  CHECK_FALSE(bp::nats::wire::parse_urls("http://h:1"));
  CHECK_FALSE(bp::nats::wire::parse_urls("nats://h:0"));
  CHECK_FALSE(bp::nats::wire::parse_urls("nats://h:99999"));
  CHECK_FALSE(bp::nats::wire::parse_urls("nats://:4222"));
  CHECK(bp::nats::wire::parse_urls("nats://h:x").error().message == "NATS URL \"nats://h:x\": bad port");
}

TEST_CASE("a stored message's ack is read without a JSON parse, anything else is left to the parse") {
  using bp::nats::wire::plain_pub_ack;
  // As nats-server 2.9.10 writes them (captured from the one these tests run against).
  CHECK(plain_pub_ack(R"({"stream":"BP_INGEST", "seq":1})") == std::optional<bool>(false));
  CHECK(plain_pub_ack(R"({"stream":"BP_INGEST", "seq":2,"duplicate": true})") == std::optional<bool>(true));
  CHECK(plain_pub_ack(R"({"stream":"BP_INGEST", "domain":"hub", "seq":3})") == std::optional<bool>(false));
  // The same members without the spaces, and the largest sequence.
  CHECK(plain_pub_ack(R"({"stream":"BP_INGEST","seq":18446744073709551615})") == std::optional<bool>(false));
  CHECK(plain_pub_ack(R"({"stream":"BP_INGEST","seq":0,"domain":"hub","duplicate":true})") == std::optional<bool>(true));
  // Everything else: errors, other members or values, escapes, truncation, trailing bytes.
  for (std::string_view other : {
           R"({"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"BP_INGEST","seq":0})",
           R"({"stream":"BP_INGEST", "seq":7,"error":{"code":400}})",
           R"({"stream":"BP_INGEST", "seq":7,"duplicate": false})",
           R"({"stream":"BP_INGEST", "seq":7,"duplicate": 1})",
           R"({"stream":"BP_INGEST", "seq":7,"duplicate": trueish})",
           R"({"stream":"BP_INGEST", "seq":7, "seq":8})",
           R"({"stream":"BP_INGEST", "stream":"BP_INGEST", "seq":7})",
           R"({"stream":"BP_INGEST"})",
           R"({"seq":7})",
           R"({"stream":"BP"INGEST", "seq":7})",
           R"({"stream":"BP\u0041", "seq":7})",
           R"({"stre\u0061m":"BP_INGEST", "seq":7})",
           R"({"stream":"", "seq":7})",
           R"({"stream":7, "seq":7})",
           R"({"stream":"BP_INGEST", "seq":})",
           R"({"stream":"BP_INGEST", "seq":-1})",
           R"({"stream":"BP_INGEST", "seq":007})",
           R"({"stream":"BP_INGEST", "seq":"7"})",
           R"({"stream":"BP_INGEST", "seq":123456789012345678901})",
           R"({"stream":"BP_INGEST", "seq":7.5})",
           R"({"stream":"BP_INGEST", "seq":7e3})",
           R"({"stream":"BP_INGEST", "domain":"", "seq":7})",
           R"({"stream":"BP_INGEST", "seq":7,})",
           R"({"stream":"BP_INGEST", "seq":7} )",
           R"({"stream":"BP_INGEST", "seq":7}})",
           R"({"stream":"BP_INGEST", "seq":7)",
           R"({"stream":"BP_INGEST")",
           R"({"stream":"BP_INGEST)",
           "{\"stream\":\"BP_INGEST\",\n\"seq\":7}",
           "",
           "{}",
           "+OK",
       }) {
    INFO(other);
    CHECK_FALSE(plain_pub_ack(other).has_value());
  }
  std::string control = R"({"stream":"BP)";
  control += '\x01';
  control += R"(", "seq":7})";
  CHECK_FALSE(plain_pub_ack(control).has_value());
}

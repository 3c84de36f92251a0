// The keep-alive loop the benchmark's servers share: read each request whole, let `answer`
// make the response, write it, until the client closes. `answer` returns the response, or an
// awaitable of it when it has to wait (a publish); the no-op server's answer costs no coroutine.
// With kGatewayHttp the loop reads and writes as the gateway does (a body that came with its
// header parsed at once, each response from one buffer): the floor uses it; the no-op server,
// the HTTP bound, stays a plain Beast server. Both read and write the socket itself.
#pragma once

#include <string>
#include <type_traits>

#include "bp/asio.h"
#include "bp/gateway/http.h"

namespace bp::bench {

// A 202 with the body the gateway answers one accepted request with.
inline boost::beast::http::response<boost::beast::http::string_body> accepted() {
  namespace http = boost::beast::http;
  http::response<http::string_body> res{http::status::accepted, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = R"({"accepted":true,"records_count":1,"message":"Records accepted for processing"})";
  return res;
}

template <bool kGatewayHttp = false, class Answer>
boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, Answer answer) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  // The socket itself, as the gateway reads and writes it (its deadlines are kept apart from the
  // reads and writes, server.cc): Beast's tcp_stream wraps every operation even with no timeout.
  asio::ip::tcp::socket& stream = socket;
  beast::flat_buffer buffer;
  // A plain Beast server reads header and body in one async_read: it gets room for a 100-record
  // body from the start, as the gateway makes room once it knows the body's length (a bound must
  // not read in 512-byte pieces where the gateway does not).
  constexpr size_t kBodyRoom = 64 * 1024;  // as the gateway's kBodyReadBytes
  if constexpr (!kGatewayHttp) buffer.reserve(kBodyRoom);
  std::string wire;
  // The gateway's body reader with kGatewayHttp; Beast's string_body otherwise.
  using Parser = std::conditional_t<kGatewayHttp, bp::gateway::RequestParser, http::request_parser<http::string_body>>;
  for (;;) {
    Parser parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    auto on_error = asio::redirect_error(asio::use_awaitable, ec);
    if constexpr (kGatewayHttp) {
      co_await http::async_read_header(stream, buffer, parser, on_error);
      if (!ec) bp::gateway::parse_buffered_body(parser, buffer, ec);
      if (!ec && !parser.is_done()) bp::gateway::make_room_for_body(parser, buffer, kBodyRoom);
    }
    if (!ec && !parser.is_done()) co_await http::async_read(stream, buffer, parser, on_error);
    if (ec) break;
    http::response<http::string_body> res;
    if constexpr (std::is_same_v<decltype(answer(parser.get())), http::response<http::string_body>>) {
      res = answer(parser.get());
    } else {
      res = co_await answer(parser.get());
    }
    res.keep_alive(parser.get().keep_alive());
    res.prepare_payload();
    if constexpr (kGatewayHttp) {
      bp::gateway::write_response(res, wire);
      co_await asio::async_write(stream, asio::buffer(wire), on_error);
    } else {
      co_await http::async_write(stream, res, on_error);
    }
    if (ec || !res.keep_alive()) break;
  }
}

}  // namespace bp::bench

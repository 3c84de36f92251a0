// The keep-alive loop the benchmark's servers share: read each request whole, let `answer`
// make the response, write it, until the client closes. `answer` returns the response, or an
// awaitable of it when it has to wait (a publish); the no-op server's answer costs no coroutine.
#pragma once

#include <type_traits>

#include "bp/asio.h"

namespace bp::bench {

// A 202 with the body the gateway answers one accepted request with.
inline boost::beast::http::response<boost::beast::http::string_body> accepted() {
  namespace http = boost::beast::http;
  http::response<http::string_body> res{http::status::accepted, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = R"({"accepted":true,"records_count":1,"message":"Records accepted for processing"})";
  return res;
}

template <class Answer>
boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, Answer answer) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    http::response<http::string_body> res;
    if constexpr (std::is_same_v<decltype(answer(parser.get())), http::response<http::string_body>>) {
      res = answer(parser.get());
    } else {
      res = co_await answer(parser.get());
    }
    res.keep_alive(parser.get().keep_alive());
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
}

}  // namespace bp::bench

// bp_null_server: the HTTP bound. Beast, one coroutine per connection, reads each request whole
// and answers 202 with a small JSON body, doing no other work.
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bp/asio.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

asio::awaitable<void> session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    http::response<http::string_body> res{http::status::accepted, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = R"({"accepted":true,"records_count":1,"message":"Records accepted for processing"})";
    res.keep_alive(parser.get().keep_alive());
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), asio::use_awaitable);
    auto ex = socket.get_executor();
    asio::co_spawn(ex, session(std::move(socket)), asio::detached);
  }
}

int main(int argc, char** argv) {
  unsigned short port = argc > 1 ? static_cast<unsigned short>(std::stoi(argv[1])) : 18181;
  int threads = argc > 2 ? std::stoi(argv[2]) : static_cast<int>(std::thread::hardware_concurrency());
  asio::io_context io(threads);
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), port});
  asio::co_spawn(io, listen(acceptor), asio::detached);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  for (auto& t : pool) t.join();
}

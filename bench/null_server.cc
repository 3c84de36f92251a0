// bp_null_server: the HTTP bound. Beast, one coroutine per connection, reads each request whole
// and answers 202 with a small JSON body, doing no other work.
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bp/asio.h"
#include "http_session.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Nothing to do: the answer is ready at once.
http::response<http::string_body> answer(const http::request<http::string_body>&) { return bp::bench::accepted(); }

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    auto socket = co_await acceptor.async_accept(asio::make_strand(acceptor.get_executor()), asio::use_awaitable);
    auto ex = socket.get_executor();
    asio::co_spawn(ex, bp::bench::serve(std::move(socket), answer), asio::detached);
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
